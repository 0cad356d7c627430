// The worker's scrape-time metrics (docs/operations.md), computed from the block store and the
// master sync when /metrics is read:
//
//   cistern_worker_tier_capacity_bytes{tier,dir}, cistern_worker_tier_used_bytes{tier,dir},
//   cistern_worker_tier_reserved_bytes{tier,dir}
//   cistern_worker_cache_hit_ratio      bytes served from the cache / all bytes read, since start
//   cistern_worker_registered           1 once the master assigned an id
//   cistern_worker_heartbeat_age_seconds  time since the master last answered a heartbeat
//
// The counters themselves are kept where the work happens (BlockWorkerService, UfsBlockFetcher,
// BlockStore); the two read-byte counters are named here because MasterSync sends them too.
#pragma once

#include <string_view>

#include "common/metrics.h"

namespace cistern::worker {

class BlockStore;
class MasterSync;

inline constexpr std::string_view kCacheReadBytesTotal = "cistern_worker_cache_read_bytes_total";
inline constexpr std::string_view kUfsReadBytesTotal = "cistern_worker_ufs_read_bytes_total";

// Both must outlive the handle.
[[nodiscard]] CollectorHandle RegisterWorkerMetrics(const BlockStore* store, const MasterSync* sync);

}  // namespace cistern::worker
