#include "worker/worker_metrics.h"

#include "common/clock.h"
#include "worker/block_store.h"
#include "worker/master_sync.h"

namespace cistern::worker {

CollectorHandle RegisterWorkerMetrics(const BlockStore* store, const MasterSync* sync) {
  Counter* cache_bytes = Metrics().GetCounter(kCacheReadBytesTotal, "Bytes served from the cache");
  Counter* ufs_bytes = Metrics().GetCounter(kUfsReadBytesTotal, "Bytes read from under-stores");
  return Metrics().AddCollector([=](MetricSink* sink) {
    for (const DirUsageInfo& dir : store->DirUsages()) {
      const LabelPairs labels = {{"tier", dir.alias}, {"dir", dir.path}};
      sink->AddGauge("cistern_worker_tier_capacity_bytes", "Capacity (quota) of a cache tier directory", labels,
                     static_cast<double>(dir.capacity_bytes));
      sink->AddGauge("cistern_worker_tier_used_bytes", "Bytes of cached blocks in a tier directory", labels,
                     static_cast<double>(dir.used_bytes));
      sink->AddGauge("cistern_worker_tier_reserved_bytes", "Bytes reserved by writes and moves in progress", labels,
                     static_cast<double>(dir.reserved_bytes));
    }
    const double cache = static_cast<double>(cache_bytes->Get());
    const double total = cache + static_cast<double>(ufs_bytes->Get());
    sink->AddGauge("cistern_worker_cache_hit_ratio",
                   "Bytes served from the cache over all bytes read since start (0 before the first read)", {},
                   total > 0 ? cache / total : 0);
    sink->AddGauge("cistern_worker_registered", "1 once registered with the master, else 0", {},
                   sync->worker_id() != 0 ? 1 : 0);
    const int64_t last = sync->last_heartbeat_mono_ms();
    if (last > 0) {
      sink->AddGauge("cistern_worker_heartbeat_age_seconds",
                     "Seconds since the master last answered a heartbeat (heartbeat lag)", {},
                     static_cast<double>(RealClock()->MonotonicMs() - last) / 1000.0);
    }
  });
}

}  // namespace cistern::worker
