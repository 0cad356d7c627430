// CacheUsageScanner: how much of each mount is cached, for the web UI and /metrics, at bounded
// cost. A background thread walks the whole namespace (RocksDB prefix scans of `edges`, the same
// reads a listing does) at most `max_inodes_per_second` inodes per second, attributes every file
// to the innermost mount containing it, and sums its length and its cached bytes (one range
// lookup in the BlockMaster's location map per file). A pass that completes replaces the
// published report; a new pass starts `interval_ms` after the previous one ended. So the work
// per second is bounded whatever the namespace size, and the figures are at most one pass plus
// one interval old (the report says when it was taken and how long the pass took).
//
// `cistern fs du` / `fs stat` do not use this: they are exact, summing per-file cached bytes
// from paged listings (bounded work per page on the master).
//
// Thread safety: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"

namespace cistern::master {

class BlockMaster;
class MountTable;
class NamespaceStore;

struct MountUsage {
  std::string path;  // the mount's namespace path
  int64_t files = 0;
  int64_t directories = 0;
  int64_t bytes = 0;
  int64_t cached_bytes = 0;
};

struct CacheUsageReport {
  std::vector<MountUsage> mounts;  // sorted by path
  int64_t finished_ms = 0;         // wall time the pass ended
  int64_t duration_ms = 0;
  int64_t inodes_scanned = 0;
};

struct CacheUsageOptions {
  int64_t interval_ms = 5 * 60 * 1000;
  int64_t max_inodes_per_second = 100000;
};

class CacheUsageScanner {
 public:
  // The pointers must outlive the scanner.
  CacheUsageScanner(const NamespaceStore* store, const MountTable* mounts, const BlockMaster* blocks, Clock* clock,
                    CacheUsageOptions options);
  ~CacheUsageScanner();

  // Starts the background passes (the first at once).
  void Start();
  void Stop();

  // The last completed pass, if any.
  std::optional<CacheUsageReport> Latest() const;

  // One pass on the calling thread (also publishes it).
  absl::StatusOr<CacheUsageReport> ScanOnce();

 private:
  void Run();

  const NamespaceStore* const store_;
  const MountTable* const mounts_;
  const BlockMaster* const blocks_;
  Clock* const clock_;
  const CacheUsageOptions options_;
  absl::Notification stop_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::optional<CacheUsageReport> latest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::master
