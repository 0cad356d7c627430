#include "master/metadata_sync.h"

#include <map>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"

namespace cistern::master {
namespace {

proto::UfsChild ToUfsChild(const ufs::UfsStatus& status, std::string_view name) {
  proto::UfsChild child;
  child.set_name(std::string(name));
  child.set_is_directory(status.is_directory);
  child.set_length(status.is_directory ? 0 : status.length);
  child.set_mtime_ms(status.mtime_ms);
  child.set_etag(status.etag);
  child.set_mode(status.mode);
  return child;
}

bool Differs(const proto::Inode& inode, const ufs::UfsStatus& status) {
  if ((inode.kind() == proto::DIRECTORY) != status.is_directory) return true;
  if (status.is_directory) return false;
  const proto::UfsFingerprint& f = inode.ufs_fingerprint();
  if (f.length() != status.length) return true;
  if (!f.etag().empty() || !status.etag.empty()) return f.etag() != status.etag;
  return f.mtime_ms() != status.mtime_ms;
}

// Only what Cistern knows to be in the under-store may be replaced or removed by a sync.
bool Syncable(const proto::Inode& inode) {
  return inode.persistence_state() == proto::PERSISTED && inode.completed();
}

constexpr char kWouldBlockPayload[] = "cistern.master/would-block";

}  // namespace

absl::Status WouldBlockError() {
  absl::Status status = absl::UnavailableError("the read has to wait; retry where blocking is allowed");
  status.SetPayload(kWouldBlockPayload, absl::Cord("1"));
  return status;
}

bool IsWouldBlock(const absl::Status& status) { return status.GetPayload(kWouldBlockPayload).has_value(); }

MetadataSyncer::MetadataSyncer(NamespaceStore* store, journal::Journal* journal, MountTable* mounts,
                               BlockMaster* blocks, Clock* clock, PathLocks* locks, MetadataSyncOptions options)
    : store_(store), journal_(journal), mounts_(mounts), blocks_(blocks), clock_(clock), locks_(locks),
      options_(std::move(options)) {}

int64_t MetadataSyncer::IntervalFor(std::string_view path, std::optional<int64_t> requested) const {
  if (requested.has_value()) return *requested;
  return mounts_->SyncIntervalOption(path).value_or(options_.default_interval_ms);
}

bool MetadataSyncer::Due(int64_t last_sync_ms, int64_t interval_ms) const {
  if (last_sync_ms == 0) return true;  // never loaded
  if (interval_ms < 0) return false;
  return clock_->NowMs() - last_sync_ms >= interval_ms;
}

proto::JournalEntry MetadataSyncer::NewEntry(const std::string& dir_path) const {
  proto::JournalEntry entry;
  proto::UfsSyncEntry* sync = entry.mutable_ufs_sync();
  sync->set_path(dir_path);
  sync->set_time_ms(clock_->NowMs());
  sync->set_owner(options_.owner);
  sync->set_group(options_.group);
  sync->set_block_size_bytes(options_.block_size_bytes);
  return entry;
}

absl::Status MetadataSyncer::Submit(proto::JournalEntry entry, SyncStats* stats, int64_t created, int64_t updated,
                                    int64_t removed) {
  entry.mutable_ufs_sync()->set_time_ms(clock_->NowMs());
  absl::StatusOr<journal::Appended> appended = journal_->Append(entry);
  absl::StatusOr<proto::JournalResult> result;
  if (!appended.ok()) {
    result = appended.status();
  } else if (absl::Status durable = journal_->WaitDurable(appended->index); !durable.ok()) {
    result = durable;
  } else if (!appended->outcome.status.ok()) {
    result = appended->outcome.status;
  } else {
    result = appended->outcome.result;
  }
  if (!result.ok()) {
    // The directory went away meanwhile: nothing left to sync there.
    if (absl::IsNotFound(result.status())) return absl::OkStatus();
    return result.status();
  }
  if (result->removed_file_ids_size() > 0) {
    blocks_->RemoveFiles({result->removed_file_ids().begin(), result->removed_file_ids().end()});
  }
  if (stats != nullptr) {
    stats->created += created;
    stats->updated += updated;
    stats->removed += removed;
  }
  return absl::OkStatus();
}

absl::StatusOr<PathWalk> MetadataSyncer::CheckedWalk(const std::string& path) const {
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, store_->Walk(path));
  if (walk.blocked_by_file) {
    const std::vector<std::string> parts = SplitPath(path);
    std::string walked;
    for (size_t i = 0; i + 1 < walk.inodes.size(); ++i) absl::StrAppend(&walked, "/", parts[i]);
    return absl::FailedPreconditionError(absl::StrCat("'", walked, "' is not a directory (in path '", path, "')"));
  }
  return walk;
}

absl::StatusOr<NamespaceCache::InodePtr> MetadataSyncer::SyncPath(const std::string& path,
                                                                     std::optional<int64_t> requested_interval,
                                                                     SyncStats* stats, bool may_block) {
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, SyncPathWalk(path, requested_interval, stats, may_block));
  return walk.found() ? walk.inodes.back() : NamespaceCache::InodePtr();
}

absl::StatusOr<PathWalk> MetadataSyncer::SyncPathWalk(const std::string& path,
                                                      std::optional<int64_t> requested_interval, SyncStats* stats,
                                                      bool may_block) {
  const int64_t interval = IntervalFor(path, requested_interval);
  {
    // The common case: one consistent walk, and nothing is due for a check.
    CISTERN_ASSIGN_OR_RETURN(PathWalk walk, CheckedWalk(path));
    const proto::Inode& deepest = walk.last();
    if (walk.found()) {
      const bool check = walk.components > 0 && deepest.kind() == proto::FILE && Syncable(deepest) && interval >= 0 &&
                         Due(deepest.last_sync_ms(), interval);
      if (!check) return walk;
    } else if (!Due(deepest.last_sync_ms(), interval)) {
      return walk;  // missing, and its parent's listing is fresh enough
    }
    if (!may_block) return WouldBlockError();
  }
  const std::vector<std::string> parts = SplitPath(path);
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> current, store_->GetInode(kRootInodeId));
  if (!current.has_value()) return absl::DataLossError("metastore: root inode missing");
  std::string current_path = "/";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (current->kind() != proto::DIRECTORY) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", current_path, "' is not a directory (in path '", path, "')"));
    }
    const std::string& name = parts[i];
    const std::string child_path = JoinPath(current_path, name);
    const bool last = i + 1 == parts.size();
    std::optional<proto::Inode> child;
    auto read_child = [&]() -> absl::Status {
      child.reset();
      CISTERN_ASSIGN_OR_RETURN(std::optional<uint64_t> child_id, store_->GetChildId(current->id(), name));
      if (child_id.has_value()) {
        CISTERN_ASSIGN_OR_RETURN(child, store_->GetInode(*child_id));
      }
      return absl::OkStatus();
    };
    auto check_due = [&] {
      const bool check_existing = child.has_value() && last && child->kind() == proto::FILE && Syncable(*child) &&
                                  interval >= 0 && Due(child->last_sync_ms(), interval);
      // Cistern's own temporary files in the under-store are never loaded.
      const bool check_missing = !child.has_value() && Due(current->last_sync_ms(), interval) &&
                                 name.find(ufs::kTempNameMarker) == std::string::npos;
      return check_existing || check_missing;
    };
    CISTERN_RETURN_IF_ERROR(read_child());
    if (check_due()) {
      if (!may_block) return WouldBlockError();
      // Like a mutation of the child: no client change of it interleaves with the check and the
      // entry it leads to (so a sync cannot bring back a path a client just deleted).
      PathLocks::Held lock = locks_->Lock({child_path});
      CISTERN_RETURN_IF_ERROR(read_child());
      if (check_due()) {
        CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(child_path));
        absl::StatusOr<ufs::UfsStatus> status = resolved.ufs->GetStatus(resolved.ufs_uri);
        if (!status.ok() && !absl::IsNotFound(status.status())) {
          return Annotate(status.status(), absl::StrCat("sync '", child_path, "' with its under-store"));
        }
        proto::JournalEntry entry = NewEntry(current_path);
        if (status.ok() && (!child.has_value() || Differs(*child, *status))) {
          *entry.mutable_ufs_sync()->add_upserts() = ToUfsChild(*status, name);
          CISTERN_RETURN_IF_ERROR(Submit(std::move(entry), stats, child.has_value() ? 0 : 1, child.has_value() ? 1 : 0, 0));
        } else if (!status.ok() && child.has_value()) {
          entry.mutable_ufs_sync()->add_removed(name);
          CISTERN_RETURN_IF_ERROR(Submit(std::move(entry), stats, 0, 0, 1));
        }
        CISTERN_RETURN_IF_ERROR(read_child());
      }
    }
    if (!child.has_value()) break;  // missing here and in the under-store
    current = std::move(child);
    current_path = child_path;
  }
  // What the sync left, as one consistent walk like the common case's.
  return CheckedWalk(path);
}

absl::Status MetadataSyncer::SyncChildren(const std::string& path, std::optional<int64_t> requested_interval,
                                          bool recursive, SyncStats* stats, bool may_block,
                                          const proto::Inode* known_dir) {
  if (known_dir != nullptr && !recursive &&
      (known_dir->kind() != proto::DIRECTORY || !Due(known_dir->last_sync_ms(), IntervalFor(path, requested_interval)))) {
    return absl::OkStatus();
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> dir, store_->Lookup(path));
  if (!dir.has_value() || dir->kind() != proto::DIRECTORY) return absl::OkStatus();
  const int64_t interval = IntervalFor(path, requested_interval);
  if (Due(dir->last_sync_ms(), interval)) {
    if (!may_block) return WouldBlockError();
    // A sync is a mutation of the directory: client changes inside it wait until it is done.
    PathLocks::Held lock = locks_->Lock({path});
    CISTERN_ASSIGN_OR_RETURN(dir, store_->Lookup(path));
    if (!dir.has_value() || dir->kind() != proto::DIRECTORY) return absl::OkStatus();
    CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(path));
    // One directory's listing is held in memory to merge it with the (sorted) namespace side.
    std::map<std::string, ufs::UfsStatus> listed;
    absl::Status listing = resolved.ufs->ListDirectory(resolved.ufs_uri, [&](const ufs::UfsStatus& status) {
      if (status.name.find(ufs::kTempNameMarker) != std::string::npos) return absl::OkStatus();
      listed.emplace(status.name, status);
      return absl::OkStatus();
    });
    if (absl::IsNotFound(listing)) {
      listed.clear();  // the directory itself is gone from the under-store: its synced contents go too
    } else if (!listing.ok()) {
      return Annotate(listing, absl::StrCat("list '", path, "' in its under-store"));
    }
    proto::JournalEntry entry = NewEntry(path);
    int64_t created = 0, updated = 0, removed = 0, pending = 0;
    auto flush = [&](bool complete) -> absl::Status {
      entry.mutable_ufs_sync()->set_complete_listing(complete);
      absl::Status status = Submit(std::move(entry), stats, created, updated, removed);
      entry = NewEntry(path);
      created = updated = removed = pending = 0;
      return status;
    };
    std::vector<proto::MountInfo> mount_list = mounts_->List();
    auto is_mount_point = [&](const std::string& child_path) {
      for (const auto& m : mount_list) {
        if (m.path() == child_path) return true;
      }
      return false;
    };
    CISTERN_RETURN_IF_ERROR(store_->ListChildren(dir->id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      auto it = listed.find(child.name());
      if (it == listed.end()) {
        if (Syncable(child) && !is_mount_point(JoinPath(path, child.name()))) {
          entry.mutable_ufs_sync()->add_removed(child.name());
          ++removed;
          ++pending;
        }
      } else {
        if (Syncable(child) && Differs(child, it->second)) {
          *entry.mutable_ufs_sync()->add_upserts() = ToUfsChild(it->second, child.name());
          ++updated;
          ++pending;
        }
        listed.erase(it);
      }
      if (pending >= options_.batch_size) CISTERN_RETURN_IF_ERROR(flush(false));
      return true;
    }));
    for (const auto& [name, status] : listed) {
      *entry.mutable_ufs_sync()->add_upserts() = ToUfsChild(status, name);
      ++created;
      if (++pending >= options_.batch_size) CISTERN_RETURN_IF_ERROR(flush(false));
    }
    CISTERN_RETURN_IF_ERROR(flush(true));
  }
  if (!recursive) return absl::OkStatus();
  CISTERN_ASSIGN_OR_RETURN(dir, store_->Lookup(path));
  if (!dir.has_value()) return absl::OkStatus();
  std::vector<std::string> subdirs;
  std::string after;
  // Collected in pages so no iterator stays open across the (slow) under-store calls below.
  while (true) {
    size_t before = subdirs.size();
    CISTERN_RETURN_IF_ERROR(store_->ListChildren(dir->id(), after, [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      after = child.name();
      if (child.kind() == proto::DIRECTORY) subdirs.push_back(JoinPath(path, child.name()));
      return subdirs.size() - before < 1000;
    }));
    if (subdirs.size() == before || subdirs.size() - before < 1000) break;
  }
  for (const std::string& sub : subdirs) CISTERN_RETURN_IF_ERROR(SyncChildren(sub, requested_interval, true, stats));
  return absl::OkStatus();
}

}  // namespace cistern::master
