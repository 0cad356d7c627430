#include "worker/eviction_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace cistern::worker {

namespace {

class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "LRU"; }
  void RecordAccess(AccessStats* stats, uint64_t seq, int64_t now_ms) const override {
    stats->last_access_seq = seq;
    stats->last_access_ms = now_ms;
  }
  double Priority(const AccessStats& stats, int64_t) const override {
    return static_cast<double>(stats.last_access_seq);
  }
};

class LrfuPolicy final : public EvictionPolicy {
 public:
  explicit LrfuPolicy(int64_t half_life_ms) : half_life_ms_(static_cast<double>(half_life_ms)) {}
  std::string_view name() const override { return "LRFU"; }
  void RecordAccess(AccessStats* stats, uint64_t seq, int64_t now_ms) const override {
    stats->crf = Decayed(*stats, now_ms) + 1.0;
    stats->last_access_seq = seq;
    stats->last_access_ms = std::max(now_ms, stats->last_access_ms);
  }
  double Priority(const AccessStats& stats, int64_t now_ms) const override { return Decayed(stats, now_ms); }

 private:
  double Decayed(const AccessStats& stats, int64_t now_ms) const {
    // A clock that steps back (or a block loaded "in the future") does not inflate the value.
    const double elapsed = static_cast<double>(std::max<int64_t>(0, now_ms - stats.last_access_ms));
    return stats.crf * std::exp2(-elapsed / half_life_ms_);
  }
  const double half_life_ms_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> NewLruPolicy() { return std::make_unique<LruPolicy>(); }

std::unique_ptr<EvictionPolicy> NewLrfuPolicy(int64_t half_life_ms) { return std::make_unique<LrfuPolicy>(half_life_ms); }

absl::StatusOr<std::unique_ptr<EvictionPolicy>> NewEvictionPolicy(std::string_view name, int64_t lrfu_half_life_ms) {
  const std::string upper = absl::AsciiStrToUpper(absl::string_view(name.data(), name.size()));
  if (upper == "LRU") return NewLruPolicy();
  if (upper == "LRFU") {
    if (lrfu_half_life_ms <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("LRFU half-life must be positive, got ", lrfu_half_life_ms, " ms"));
    }
    return NewLrfuPolicy(lrfu_half_life_ms);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown eviction policy '", std::string(name), "' (LRU or LRFU)"));
}

}  // namespace cistern::worker
