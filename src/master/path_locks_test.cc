#include "master/path_locks.h"

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace cistern::master {
namespace {

// True if Lock(paths) completes while `held` is held (probed from another thread).
bool LockableWhileHeld(PathLocks* locks, const std::vector<std::string>& held_paths,
                       const std::vector<std::string>& paths) {
  PathLocks::Held held = locks->Lock(held_paths);
  absl::Notification got;
  std::thread other([&] {
    PathLocks::Held second = locks->Lock(paths);
    got.Notify();
  });
  // A conflicting Lock waits for `held`; a compatible one completes well within this time.
  const bool acquired = got.WaitForNotificationWithTimeout(absl::Milliseconds(500));
  held.Release();
  other.join();
  return acquired;
}

TEST(PathLocksTest, ConflictsAreExactlyAncestorsAndSamePaths) {
  PathLocks locks;
  // Same path, or one is the other's ancestor: exclusive against shared.
  EXPECT_FALSE(LockableWhileHeld(&locks, {"/a/b"}, {"/a/b"}));
  EXPECT_FALSE(LockableWhileHeld(&locks, {"/a"}, {"/a/b/c"}));
  EXPECT_FALSE(LockableWhileHeld(&locks, {"/a/b/c"}, {"/a"}));
  EXPECT_FALSE(LockableWhileHeld(&locks, {"/x", "/a/b"}, {"/a/b/c"}));  // either of a rename's paths
  // Siblings, and children of one directory, do not conflict (shared parent).
  EXPECT_TRUE(LockableWhileHeld(&locks, {"/a/b"}, {"/a/c"}));
  EXPECT_TRUE(LockableWhileHeld(&locks, {"/d/f1"}, {"/d/f2"}));
  EXPECT_TRUE(LockableWhileHeld(&locks, {"/a/b"}, {"/a-b", "/ab/c"}));
  EXPECT_EQ(locks.EntriesForTest(), 0u);  // every entry is dropped once unused
}

// Random overlapping acquisitions from many threads, with renames naming two paths in either
// order, finish (no deadlock) and never let two holders of conflicting paths overlap.
TEST(PathLocksTest, ManyThreadsNeitherDeadlockNorOverlap) {
  PathLocks locks;
  const std::vector<std::string> paths = {"/", "/a", "/a/b", "/a/b/c", "/a/d", "/e", "/e/f", "/e/f/g"};
  std::vector<std::atomic<int>> exclusive(paths.size());
  std::vector<std::atomic<int>> shared(paths.size());
  std::atomic<int> violations{0};
  auto index_of = [&](const std::string& p) { return std::find(paths.begin(), paths.end(), p) - paths.begin(); };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 2000; ++i) {
        std::vector<std::string> want = {paths[1 + rng() % (paths.size() - 1)]};
        if (rng() % 2) want.push_back(paths[1 + rng() % (paths.size() - 1)]);
        PathLocks::Held held = locks.Lock(want);
        std::vector<size_t> mine, ancestors;
        for (const std::string& w : want) mine.push_back(index_of(w));
        for (size_t k = 0; k < paths.size(); ++k) {
          bool is_ancestor = false;
          for (const std::string& w : want) {
            is_ancestor |= paths[k] != w && (paths[k] == "/" || w.rfind(paths[k] + "/", 0) == 0);
          }
          if (is_ancestor && std::find(mine.begin(), mine.end(), k) == mine.end()) ancestors.push_back(k);
        }
        std::sort(mine.begin(), mine.end());
        mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
        for (size_t k : mine) {
          if (exclusive[k].fetch_add(1) != 0 || shared[k].load() != 0) ++violations;
        }
        for (size_t k : ancestors) {
          shared[k].fetch_add(1);
          if (exclusive[k].load() != 0) ++violations;
        }
        std::this_thread::yield();
        for (size_t k : mine) exclusive[k].fetch_sub(1);
        for (size_t k : ancestors) shared[k].fetch_sub(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(locks.EntriesForTest(), 0u);
}

}  // namespace
}  // namespace cistern::master
