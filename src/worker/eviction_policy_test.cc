#include "worker/eviction_policy.h"

#include <algorithm>
#include <map>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"

namespace cistern::worker {
namespace {

// Drives a policy over named blocks with a manual clock and reports the eviction order.
class PolicyHarness {
 public:
  explicit PolicyHarness(std::unique_ptr<EvictionPolicy> policy) : policy_(std::move(policy)) {}
  void Access(int block) { policy_->RecordAccess(&stats_[block], ++seq_, clock_.MonotonicMs()); }
  void Advance(int64_t ms) { clock_.AdvanceMs(ms); }
  std::vector<int> EvictionOrder() const {
    std::vector<int> blocks;
    for (const auto& [block, stats] : stats_) blocks.push_back(block);
    const int64_t now = const_cast<ManualClock&>(clock_).MonotonicMs();
    std::sort(blocks.begin(), blocks.end(), [&](int a, int b) {
      const double pa = policy_->Priority(stats_.at(a), now), pb = policy_->Priority(stats_.at(b), now);
      if (pa != pb) return pa < pb;
      return stats_.at(a).last_access_seq < stats_.at(b).last_access_seq;
    });
    return blocks;
  }

 private:
  std::unique_ptr<EvictionPolicy> policy_;
  ManualClock clock_;
  std::map<int, AccessStats> stats_;
  uint64_t seq_ = 0;
};

TEST(EvictionPolicyTest, LruEvictsTheLeastRecentlyUsedWhateverTheFrequency) {
  PolicyHarness h(NewLruPolicy());
  for (int i = 0; i < 10; ++i) h.Access(1);  // frequent but old
  h.Advance(10);
  h.Access(2);
  h.Advance(10);
  h.Access(3);
  EXPECT_EQ(h.EvictionOrder(), (std::vector<int>{1, 2, 3}));
  h.Access(1);
  EXPECT_EQ(h.EvictionOrder(), (std::vector<int>{2, 3, 1}));
  // Time alone changes nothing.
  h.Advance(1'000'000);
  EXPECT_EQ(h.EvictionOrder(), (std::vector<int>{2, 3, 1}));
}

TEST(EvictionPolicyTest, LrfuWeighsFrequencyAgainstRecency) {
  PolicyHarness h(NewLrfuPolicy(/*half_life_ms=*/1000));
  for (int i = 0; i < 4; ++i) h.Access(1);  // crf 4
  h.Advance(100);
  h.Access(2);  // crf 1, more recent
  // Block 1, used four times, outranks the single recent access to 2.
  EXPECT_EQ(h.EvictionOrder(), (std::vector<int>{2, 1}));
  // Both decay alike, so waiting alone keeps the order (1: 4 * 2^-3.1 ≈ 0.47, 2: 2^-3 = 0.125)...
  h.Advance(3000);
  EXPECT_EQ(h.EvictionOrder(), (std::vector<int>{2, 1}));
  h.Access(2);  // ...until a fresh access: 2 is now 0.125 + 1 ≈ 1.13 > 0.47
  EXPECT_EQ(h.EvictionOrder(), (std::vector<int>{1, 2}));
}

TEST(EvictionPolicyTest, LrfuWithAShortHalfLifeActsLikeLruAndALongOneLikeLfu) {
  PolicyHarness short_life(NewLrfuPolicy(1));
  PolicyHarness long_life(NewLrfuPolicy(1'000'000'000));
  for (PolicyHarness* h : {&short_life, &long_life}) {
    for (int i = 0; i < 5; ++i) h->Access(1);
    h->Advance(50);
    h->Access(2);
    h->Advance(50);
    h->Access(3);
    h->Access(3);
  }
  EXPECT_EQ(short_life.EvictionOrder(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(long_life.EvictionOrder(), (std::vector<int>{2, 3, 1}));
}

TEST(EvictionPolicyTest, FactoryAcceptsKnownNamesOnly) {
  auto lru = NewEvictionPolicy("lru", 1000);
  ASSERT_TRUE(lru.ok());
  EXPECT_EQ((*lru)->name(), "LRU");
  auto lrfu = NewEvictionPolicy("LRFU", 1000);
  ASSERT_TRUE(lrfu.ok());
  EXPECT_EQ((*lrfu)->name(), "LRFU");
  auto bad = NewEvictionPolicy("FIFO", 1000);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_NE(bad.status().message().find("FIFO"), std::string::npos);
  EXPECT_FALSE(NewEvictionPolicy("LRFU", 0).ok());
}

}  // namespace
}  // namespace cistern::worker
