// The master's scrape-time metrics (docs/operations.md), computed when /metrics is read:
//
//   cistern_master_workers{state}                    workers by state (LIVE, LOST)
//   cistern_master_capacity_bytes{tier}, cistern_master_used_bytes{tier}   over live workers
//   cistern_master_worker_heartbeat_age_seconds{worker,address}   heartbeat lag per worker
//   cistern_master_cache_hit_ratio                   cluster: bytes served from caches over all
//                                                    bytes workers read (since they started)
//   cistern_master_inodes                            approximate inode count
//   cistern_master_journal_applied_index
//   cistern_master_mounts
//   cistern_master_mount_bytes{mount}, cistern_master_mount_cached_bytes{mount},
//   cistern_master_mount_files{mount}                from the last cache usage scan
//   cistern_master_cache_usage_scan_age_seconds      how old that scan is
#pragma once

#include "common/clock.h"
#include "common/metrics.h"

namespace cistern::journal {
class Journal;
}

namespace cistern::master {

class BlockMaster;
class CacheUsageScanner;
class MountTable;
class NamespaceStore;

// All must outlive the handle.
[[nodiscard]] CollectorHandle RegisterMasterMetrics(const BlockMaster* blocks, const journal::Journal* journal,
                                                    const NamespaceStore* store, const MountTable* mounts,
                                                    const CacheUsageScanner* scanner, Clock* clock);

}  // namespace cistern::master
