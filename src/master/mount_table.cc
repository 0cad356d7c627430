#include "master/mount_table.h"

#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"
#include "ufs/metered_ufs.h"
#include "ufs/uri.h"

namespace cistern::master {

MountTable::MountTable(const NamespaceStore* store) : store_(store) {}

absl::Status MountTable::Reload() {
  CISTERN_ASSIGN_OR_RETURN(std::vector<proto::MountInfo> mounts, store_->LoadMounts());
  std::map<std::string, Entry> by_path;
  {
    absl::MutexLock lock(&mu_);
    by_path = by_path_;
  }
  std::map<std::string, Entry> next;
  for (proto::MountInfo& mount : mounts) {
    auto it = by_path.find(mount.path());
    std::shared_ptr<ufs::UnderFileSystem> adapter;
    if (it != by_path.end() && it->second.info.ufs_uri() == mount.ufs_uri()) {
      adapter = it->second.ufs;
    } else {
      std::map<std::string, std::string> options(mount.options().begin(), mount.options().end());
      auto created = ufs::CreateUnderFileSystem(mount.ufs_uri(), options);
      CISTERN_RETURN_IF_ERROR_CONTEXT(created.status(), absl::StrCat("mount '", mount.path(), "'"));
      adapter = ufs::NewMeteredUnderFileSystem(std::move(*created), mount.path());
    }
    std::optional<int64_t> sync_interval;
    if (auto option = mount.options().find("sync_interval"); option != mount.options().end()) {
      if (absl::StatusOr<int64_t> ms = ParseDurationMs(option->second); ms.ok()) sync_interval = *ms;
    }
    std::string path = mount.path();
    next.emplace(std::move(path), Entry{std::move(mount), std::move(adapter), sync_interval});
  }
  absl::MutexLock lock(&mu_);
  by_path_ = std::move(next);
  return absl::OkStatus();
}

const MountTable::Entry* MountTable::Covering(std::string_view path) const {
  const Entry* best = nullptr;
  for (const auto& [mount_path, entry] : by_path_) {
    if (IsSameOrDescendant(path, mount_path) && (best == nullptr || mount_path.size() > best->info.path().size())) {
      best = &entry;
    }
  }
  return best;
}

bool MountTable::Locate(std::string_view path, std::string* ufs_uri, std::string* mount_path,
                        uint64_t* mount_id) const {
  absl::MutexLock lock(&mu_);
  const Entry* best = Covering(path);
  if (best == nullptr) return false;
  *ufs_uri = ufs::JoinUri(best->info.ufs_uri(), path.substr(best->info.path() == "/" ? 0 : best->info.path().size()));
  *mount_path = best->info.path();
  *mount_id = best->info.mount_id();
  return true;
}

std::optional<int64_t> MountTable::SyncIntervalOption(std::string_view path) const {
  absl::MutexLock lock(&mu_);
  const Entry* best = Covering(path);
  return best == nullptr ? std::nullopt : best->sync_interval_ms;
}

absl::StatusOr<ResolvedPath> MountTable::Resolve(std::string_view path) const {
  absl::MutexLock lock(&mu_);
  const Entry* best = Covering(path);
  if (best == nullptr) return absl::FailedPreconditionError(absl::StrCat("no mount covers '", std::string(path), "'"));
  std::string_view relative = path.substr(best->info.path() == "/" ? 0 : best->info.path().size());
  return ResolvedPath{best->info, ufs::JoinUri(best->info.ufs_uri(), relative), best->ufs};
}

std::vector<proto::MountInfo> MountTable::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::MountInfo> out;
  for (const auto& [path, entry] : by_path_) out.push_back(entry.info);
  return out;
}

bool MountTable::empty() const {
  absl::MutexLock lock(&mu_);
  return by_path_.empty();
}

}  // namespace cistern::master
