#include "master/cache_usage.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"
#include "master/block_master.h"
#include "master/mount_table.h"
#include "master/namespace_store.h"
#include "spdlog/spdlog.h"

namespace cistern::master {
namespace {

// Walks one directory tree depth first (memory bounded by the path depth, like a recursive
// listing), pacing itself to the inode budget.
class Walk {
 public:
  Walk(const NamespaceStore* store, const BlockMaster* blocks, Clock* clock, int64_t max_per_second,
       const absl::Notification* stop, std::map<std::string, MountUsage>* usage)
      : store_(store), blocks_(blocks), clock_(clock), max_per_second_(std::max<int64_t>(max_per_second, 1)),
        stop_(stop), usage_(usage), start_ms_(clock->MonotonicMs()) {}

  absl::Status Directory(uint64_t id, const std::string& path, MountUsage* mount, int depth) {
    if (depth > 4096) return absl::DataLossError(absl::StrCat("namespace deeper than 4096 at ", path));
    if (auto it = usage_->find(path); it != usage_->end()) mount = &it->second;
    mount->directories++;
    return store_->ListChildren(id, "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      CISTERN_RETURN_IF_ERROR(Pace());
      if (child.kind() == proto::DIRECTORY) {
        CISTERN_RETURN_IF_ERROR(Directory(child.id(), JoinPath(path, child.name()), mount, depth + 1));
        return true;
      }
      mount->files++;
      mount->bytes += child.length();
      if (child.completed()) mount->cached_bytes += blocks_->CachedBytes(child.id(), child.length(), child.block_size_bytes());
      return true;
    });
  }

  int64_t scanned() const { return scanned_; }

 private:
  absl::Status Pace() {
    if (++scanned_ % 256 != 0) return absl::OkStatus();
    if (stop_->HasBeenNotified()) return absl::CancelledError("cache usage scan stopped");
    const int64_t due_ms = start_ms_ + scanned_ * 1000 / max_per_second_;
    const int64_t ahead_ms = due_ms - clock_->MonotonicMs();
    if (ahead_ms > 0 && stop_->WaitForNotificationWithTimeout(absl::Milliseconds(ahead_ms))) {
      return absl::CancelledError("cache usage scan stopped");
    }
    return absl::OkStatus();
  }

  const NamespaceStore* const store_;
  const BlockMaster* const blocks_;
  Clock* const clock_;
  const int64_t max_per_second_;
  const absl::Notification* const stop_;
  std::map<std::string, MountUsage>* const usage_;
  const int64_t start_ms_;
  int64_t scanned_ = 0;
};

}  // namespace

CacheUsageScanner::CacheUsageScanner(const NamespaceStore* store, const MountTable* mounts, const BlockMaster* blocks,
                                     Clock* clock, CacheUsageOptions options)
    : store_(store), mounts_(mounts), blocks_(blocks), clock_(clock), options_(options) {}

CacheUsageScanner::~CacheUsageScanner() { Stop(); }

void CacheUsageScanner::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CacheUsageScanner::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::optional<CacheUsageReport> CacheUsageScanner::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

absl::StatusOr<CacheUsageReport> CacheUsageScanner::ScanOnce() {
  std::map<std::string, MountUsage> usage;
  for (const proto::MountInfo& mount : mounts_->List()) usage[mount.path()].path = mount.path();
  if (!usage.contains("/")) usage["/"].path = "/";
  const int64_t start_ms = clock_->MonotonicMs();
  Walk walk(store_, blocks_, clock_, options_.max_inodes_per_second, &stop_, &usage);
  CISTERN_RETURN_IF_ERROR(walk.Directory(kRootInodeId, "/", &usage["/"], 0));
  CacheUsageReport report;
  for (auto& [path, mount] : usage) report.mounts.push_back(std::move(mount));
  report.finished_ms = clock_->NowMs();
  report.duration_ms = clock_->MonotonicMs() - start_ms;
  report.inodes_scanned = walk.scanned();
  absl::MutexLock lock(&mu_);
  latest_ = report;
  return report;
}

void CacheUsageScanner::Run() {
  do {
    absl::StatusOr<CacheUsageReport> report = ScanOnce();
    if (!report.ok() && !absl::IsCancelled(report.status())) {
      spdlog::warn("cache usage scan failed: {}", report.status().ToString());
    }
  } while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(std::max<int64_t>(options_.interval_ms, 100))));
}

}  // namespace cistern::master
