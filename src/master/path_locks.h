// PathLocks: hierarchical locks on namespace paths, taken by mutations around the part of their
// work that must not interleave with a conflicting mutation: their precondition checks, their
// under-store call and the journal append. A mutation names the paths it changes; it holds each
// of them exclusively and every proper ancestor shared. So two mutations conflict exactly when
// one changes a path that is the other's path or one of its ancestors (a delete or rename of a
// directory excludes every mutation inside it; creates in one directory run in parallel), and
// unrelated mutations never wait for each other.
//
// All the locks of one acquisition are taken in one global order (byte order of the normalized
// path, so ancestors first), and a holder never acquires more, so there is no deadlock. Reads
// take no path locks (see NamespaceStore).
//
// Thread safety: thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace cistern::master {

class PathLocks {
 public:
  class Held;

  PathLocks() = default;
  PathLocks(const PathLocks&) = delete;
  PathLocks& operator=(const PathLocks&) = delete;

  // Blocks until every path in `paths` (normalized) is held exclusively and all their proper
  // ancestors shared. The locks are released when the returned Held is destroyed or released.
  Held Lock(const std::vector<std::string>& paths);

  // Number of paths with a lock entry (held or waited for); for tests.
  size_t EntriesForTest();

 private:
  struct Entry {
    absl::Mutex mu;
    int users = 0;  // holders and waiters; guarded by the shard's mutex
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, std::unique_ptr<Entry>> entries ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(const std::string& path);
  Entry* Acquire(const std::string& path);  // registers a user of the path's entry
  void Release(const std::string& path);    // unregisters; drops the entry when unused

  Shard shards_[kShards];
};

class PathLocks::Held {
 public:
  Held() = default;
  Held(Held&& other) noexcept : locks_(other.locks_), held_(std::move(other.held_)) { other.locks_ = nullptr; }
  Held& operator=(Held&& other) noexcept;
  ~Held() { Release(); }

  // Releases every lock now (idempotent).
  void Release();

 private:
  friend class PathLocks;
  struct One {
    std::string path;
    PathLocks::Entry* entry;
    bool exclusive;
  };
  PathLocks* locks_ = nullptr;
  std::vector<One> held_;  // in acquisition order
};

}  // namespace cistern::master
