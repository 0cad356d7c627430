// LocalBlockLeases: the worker's side of short-circuit reads. A client on the worker's host asks
// for a cached block (OpenLocalBlock) and reads the block file itself; the lease it gets is an
// open BlockReader that holds the block's location, so the block is neither evicted nor moved
// between tiers (nor its space reused) until the client releases the lease or it expires. A
// client that dies without releasing therefore pins nothing for longer than one lease.
//
// Leases are bounded in number (each keeps a file descriptor open). Expired leases are dropped
// by a background thread (every quarter lease) and by each Acquire.
//
// Thread safety: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "worker/block_store.h"

namespace cistern::worker {

struct LocalBlockLeasesOptions {
  int64_t lease_ms = 30000;
  int max_leases = 4096;
  Clock* clock = RealClock();    // must outlive the leases
  bool sweeper_thread = true;    // false: tests call ExpireNow themselves
};

struct LocalBlockLease {
  uint64_t lease_id = 0;
  std::string path;
  int64_t length = 0;
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t lease_ms = 0;
};

class LocalBlockLeases {
 public:
  explicit LocalBlockLeases(LocalBlockLeasesOptions options);
  ~LocalBlockLeases();

  // Turns `reader` (opened with hold_location) into a lease. RESOURCE_EXHAUSTED when
  // max_leases are out.
  absl::StatusOr<LocalBlockLease> Acquire(std::unique_ptr<BlockReader> reader);
  // Ends a lease; an unknown or expired id is fine. Returns whether the lease was held.
  bool Release(uint64_t lease_id);
  // Drops the leases past their expiry; returns how many.
  int ExpireNow();
  int size() const;

 private:
  struct Entry {
    std::unique_ptr<BlockReader> reader;
    int64_t expires_mono_ms = 0;
  };
  // Moves the expired leases to `expired`, to be closed once the lock is released.
  void TakeExpiredLocked(int64_t now_ms, std::vector<Entry>* expired) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LocalBlockLeasesOptions options_;
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Entry> leases_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sweeper_;
};

}  // namespace cistern::worker
