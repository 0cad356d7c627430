// Time behind an interface so schedulers (worker timeouts, heartbeats) can be tested with a
// manual clock.
#pragma once

#include <atomic>
#include <cstdint>

namespace cistern {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time in milliseconds since the Unix epoch (recorded in inodes).
  virtual int64_t NowMs() = 0;
  // Monotonic milliseconds, for timeouts and intervals.
  virtual int64_t MonotonicMs() = 0;
};

// The system clock; never deleted.
Clock* RealClock();

// A clock tests move by hand. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'000'000) : now_ms_(start_ms) {}
  int64_t NowMs() override { return now_ms_.load(); }
  int64_t MonotonicMs() override { return now_ms_.load(); }
  void AdvanceMs(int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace cistern
