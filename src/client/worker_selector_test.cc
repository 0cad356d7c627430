#include "client/worker_selector.h"

#include <map>

#include "gtest/gtest.h"

namespace cistern::client {
namespace {

WorkerSummary Worker(uint64_t id, WorkerState state = WorkerState::kLive) {
  WorkerSummary w;
  w.worker_id = id;
  w.host = "host" + std::to_string(id);
  w.address = w.host + ":7710";
  w.state = state;
  return w;
}

TEST(WorkerSelectorTest, OnlyLiveWorkersSortedById) {
  WorkerSelector selector({Worker(3), Worker(1, WorkerState::kLost), Worker(2), Worker(5, WorkerState::kUnknown)});
  ASSERT_EQ(selector.live_workers().size(), 2u);
  EXPECT_EQ(selector.live_workers()[0].worker_id, 2u);
  EXPECT_EQ(selector.live_workers()[1].worker_id, 3u);
  for (uint64_t key = 0; key < 1000; ++key) {
    auto w = selector.ForKey(key);
    ASSERT_TRUE(w.ok());
    EXPECT_TRUE(w->worker_id == 2 || w->worker_id == 3) << w->worker_id;
  }
}

TEST(WorkerSelectorTest, NoLiveWorkerIsUnavailable) {
  WorkerSelector selector({Worker(1, WorkerState::kLost)});
  auto w = selector.ForKey(42);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(WorkerSelector({}).ForBlock(1, {}).ok());
}

TEST(WorkerSelectorTest, StableAcrossInstancesAndInputOrder) {
  WorkerSelector a({Worker(1), Worker(2), Worker(3)});
  WorkerSelector b({Worker(3), Worker(1), Worker(2)});
  for (uint64_t key = 0; key < 2000; ++key) EXPECT_EQ(a.ForKey(key)->worker_id, b.ForKey(key)->worker_id);
}

TEST(WorkerSelectorTest, SpreadsKeysOverWorkers) {
  WorkerSelector selector({Worker(1), Worker(2), Worker(3), Worker(4)});
  std::map<uint64_t, int> count;
  const int kKeys = 20000;
  for (uint64_t key = 0; key < kKeys; ++key) count[selector.ForKey(key << 24)->worker_id]++;
  ASSERT_EQ(count.size(), 4u);
  for (const auto& [id, n] : count) {
    EXPECT_GT(n, kKeys / 4 / 2) << "worker " << id;
    EXPECT_LT(n, kKeys / 4 * 2) << "worker " << id;
  }
}

TEST(WorkerSelectorTest, RemovingAWorkerMovesOnlyItsKeys) {
  WorkerSelector before({Worker(1), Worker(2), Worker(3), Worker(4)});
  WorkerSelector after({Worker(1), Worker(2), Worker(4)});
  int moved = 0;
  for (uint64_t key = 0; key < 5000; ++key) {
    uint64_t b = before.ForKey(key)->worker_id;
    uint64_t a = after.ForKey(key)->worker_id;
    if (b != 3) {
      EXPECT_EQ(a, b) << "key " << key << " moved without its worker leaving";
    } else {
      ++moved;
      EXPECT_NE(a, 3u);
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(WorkerSelectorTest, ExcludeSkipsWorker) {
  WorkerSelector selector({Worker(1), Worker(2)});
  for (uint64_t key = 0; key < 200; ++key) {
    uint64_t first = selector.ForKey(key)->worker_id;
    auto other = selector.ForKey(key, {first});
    ASSERT_TRUE(other.ok());
    EXPECT_NE(other->worker_id, first);
  }
  EXPECT_FALSE(selector.ForKey(7, {1, 2}).ok());
}

TEST(WorkerSelectorTest, PrefersBlockLocations) {
  WorkerSelector selector({Worker(1), Worker(2), Worker(3)});
  std::vector<BlockLocation> locations = {{9, "cacher:7710", "MEM"}, {2, "host2:7710", "MEM"}};
  auto w = selector.ForBlock(123, locations);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->worker_id, 9u);
  EXPECT_EQ(w->address, "cacher:7710");
  w = selector.ForBlock(123, locations, {9});
  EXPECT_EQ(w->worker_id, 2u);
  // Every location excluded: fall back to the ring.
  w = selector.ForBlock(123, locations, {9, 2});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->worker_id, selector.ForKey(123, {9, 2})->worker_id);
  EXPECT_EQ(selector.ForBlock(55, {})->worker_id, selector.ForKey(55)->worker_id);
}

TEST(WorkerSelectorTest, PrefersWorkersOnThisHost) {
  const std::vector<WorkerSummary> workers = {Worker(1), Worker(2), Worker(3), Worker(4)};
  WorkerSelector selector(workers, {"localhost", "host2"});
  for (uint64_t block = 0; block < 200; ++block) {
    auto w = selector.ForBlock(block, {});
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->worker_id, 2u) << "an uncached block goes to the local worker";
    EXPECT_TRUE(w->local);
  }
  // A local cached copy beats a remote one listed first; a remote cached copy beats an uncached
  // local worker.
  const std::vector<BlockLocation> both = {{3, "host3:7710", "MEM"}, {2, "host2:7710", "MEM"}};
  EXPECT_EQ(selector.ForBlock(7, both)->worker_id, 2u);
  EXPECT_EQ(selector.ForBlock(7, {{3, "host3:7710", "MEM"}})->worker_id, 3u);
  // Without the local worker, the ring of all workers decides, as for any client.
  WorkerSelector remote_only(workers);
  for (uint64_t block = 0; block < 50; ++block) {
    EXPECT_EQ(selector.ForBlock(block, {}, {2})->worker_id, remote_only.ForKey(block, {2})->worker_id);
  }
  // Several local workers share the uncached blocks by their own ring.
  WorkerSelector two_local(workers, {"host1", "host4"});
  std::map<uint64_t, int> count;
  for (uint64_t block = 0; block < 1000; ++block) ++count[two_local.ForBlock(block, {})->worker_id];
  EXPECT_EQ(count.size(), 2u);
  EXPECT_GT(count[1], 300);
  EXPECT_GT(count[4], 300);
}

}  // namespace
}  // namespace cistern::client
