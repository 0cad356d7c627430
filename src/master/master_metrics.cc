#include "master/master_metrics.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "journal/journal.h"
#include "master/block_master.h"
#include "master/cache_usage.h"
#include "master/mount_table.h"
#include "master/namespace_store.h"

namespace cistern::master {

CollectorHandle RegisterMasterMetrics(const BlockMaster* blocks, const journal::Journal* journal,
                                      const NamespaceStore* store, const MountTable* mounts,
                                      const CacheUsageScanner* scanner, Clock* clock) {
  return Metrics().AddCollector([=](MetricSink* sink) {
    std::map<std::string, double> by_state = {{"LIVE", 0}, {"LOST", 0}};
    std::map<std::string, std::pair<double, double>> tiers;  // alias -> capacity, used
    double cache_bytes = 0, ufs_bytes = 0;
    const int64_t now_ms = clock->NowMs();
    for (const proto::WorkerInfo& w : blocks->GetWorkers()) {
      const bool live = w.state() == proto::LIVE;
      by_state[live ? "LIVE" : "LOST"]++;
      if (!live) continue;
      for (const proto::TierUsage& t : w.tiers()) {
        tiers[t.alias()].first += static_cast<double>(t.capacity_bytes());
        tiers[t.alias()].second += static_cast<double>(t.used_bytes());
      }
      cache_bytes += static_cast<double>(w.cache_read_bytes());
      ufs_bytes += static_cast<double>(w.ufs_read_bytes());
      sink->AddGauge("cistern_master_worker_heartbeat_age_seconds", "Seconds since a live worker's last heartbeat",
                     {{"worker", absl::StrCat(w.worker_id())},
                      {"address", absl::StrCat(w.address().host(), ":", w.address().rpc_port())}},
                     static_cast<double>(now_ms - w.last_heartbeat_ms()) / 1000.0);
    }
    for (const auto& [state, n] : by_state) sink->AddGauge("cistern_master_workers", "Workers by state", {{"state", state}}, n);
    for (const auto& [alias, usage] : tiers) {
      sink->AddGauge("cistern_master_capacity_bytes", "Cache capacity of live workers by tier", {{"tier", alias}},
                     usage.first);
      sink->AddGauge("cistern_master_used_bytes", "Cached bytes on live workers by tier", {{"tier", alias}},
                     usage.second);
    }
    const double total = cache_bytes + ufs_bytes;
    sink->AddGauge("cistern_master_cache_hit_ratio",
                   "Bytes live workers served from their caches over all bytes they read, since they started", {},
                   total > 0 ? cache_bytes / total : 0);
    sink->AddGauge("cistern_master_inodes", "Approximate number of inodes in the namespace", {},
                   static_cast<double>(store->kv()->ApproximateCount(kInodesCf)));
    sink->AddGauge("cistern_master_journal_applied_index", "Index of the last journal entry applied", {},
                   static_cast<double>(journal->applied_index()));
    sink->AddGauge("cistern_master_mounts", "Mount points, the root included", {},
                   static_cast<double>(mounts->List().size()));
    if (std::optional<CacheUsageReport> report = scanner->Latest(); report.has_value()) {
      for (const MountUsage& m : report->mounts) {
        const LabelPairs labels = {{"mount", m.path}};
        sink->AddGauge("cistern_master_mount_bytes", "Bytes of the files under a mount (last cache usage scan)",
                       labels, static_cast<double>(m.bytes));
        sink->AddGauge("cistern_master_mount_cached_bytes",
                       "Bytes of the files under a mount cached on some worker (last cache usage scan)", labels,
                       static_cast<double>(m.cached_bytes));
        sink->AddGauge("cistern_master_mount_files", "Files under a mount (last cache usage scan)", labels,
                       static_cast<double>(m.files));
      }
      sink->AddGauge("cistern_master_cache_usage_scan_age_seconds", "Seconds since the last cache usage scan ended",
                     {}, static_cast<double>(now_ms - report->finished_ms) / 1000.0);
    }
  });
}

}  // namespace cistern::master
