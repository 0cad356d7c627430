#include "common/clock.h"

#include <chrono>

namespace cistern {
namespace {
class SystemClock : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  }
  int64_t MonotonicMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};
}  // namespace

Clock* RealClock() {
  static auto* clock = new SystemClock();
  return clock;
}

}  // namespace cistern
