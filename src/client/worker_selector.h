// Which worker serves a block: one that already caches it (one on this host first), else a
// worker on this host, else the worker the block id hashes to on a consistent-hash ring of the
// LIVE workers. Every client builds the same ring from the
// same worker list, so a block missing from every cache is fetched into one worker's cache, and
// a worker joining or leaving moves only about 1/N of the blocks.
//
// Pure: no RPC and no clock. The FileSystem refreshes the worker list and builds a new
// selector. Thread safety: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cistern/file_system.h"

namespace cistern::client {

struct WorkerEndpoint {
  uint64_t worker_id = 0;
  std::string address;  // host:port
  bool local = false;   // on this client's host

  bool operator==(const WorkerEndpoint&) const = default;
};

class WorkerSelector {
 public:
  // Ring points per worker; more points even out the share of each worker.
  static constexpr int kVirtualNodes = 100;

  // Keeps only LIVE workers of `workers`. A worker whose host is one of `local_hostnames` is
  // on this client's host and preferred by ForBlock.
  explicit WorkerSelector(const std::vector<WorkerSummary>& workers,
                          const std::vector<std::string>& local_hostnames = {});

  // The LIVE workers, sorted by worker id.
  const std::vector<WorkerEndpoint>& live_workers() const { return workers_; }

  // The ring's worker for `key` (a block id, or a file id for under-store writes), skipping
  // workers whose id is in `exclude`. UNAVAILABLE if no LIVE worker is left.
  absl::StatusOr<WorkerEndpoint> ForKey(uint64_t key, const std::vector<uint64_t>& exclude = {}) const;

  // The first of `locations` (workers caching the block) not in `exclude`, those on this host
  // before the others; else a LIVE worker on this host (by the ring of the local workers when
  // there are several); else ForKey.
  absl::StatusOr<WorkerEndpoint> ForBlock(uint64_t block_id, const std::vector<BlockLocation>& locations,
                                          const std::vector<uint64_t>& exclude = {}) const;

 private:
  using Ring = std::vector<std::pair<uint64_t, size_t>>;  // (point, index into workers_), sorted

  Ring MakeRing(bool local_only) const;
  absl::StatusOr<WorkerEndpoint> Walk(const Ring& ring, uint64_t key, const std::vector<uint64_t>& exclude) const;

  std::vector<std::string> local_hostnames_;
  std::vector<WorkerEndpoint> workers_;
  Ring ring_;
  Ring local_ring_;  // of the workers on this host only
};

// A 64-bit mix (splitmix64 finalizer): fixed across processes and builds, unlike std::hash.
uint64_t MixHash(uint64_t x);

}  // namespace cistern::client
