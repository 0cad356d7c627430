#include "master/namespace_store.h"

#include <random>

#include "absl/container/inlined_vector.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::master {

std::vector<std::string> NamespaceColumnFamilies() {
  return {"inodes", "edges", "mounts", "meta", "operations", "op_expiry", "ttl", "pinned", "persist"};
}

std::string InodeKey(uint64_t id) { return kv::EncodeUint64(id); }
std::string EdgePrefix(uint64_t parent_id) { return kv::EncodeUint64(parent_id); }
std::string EdgeKey(uint64_t parent_id, std::string_view name) {
  std::string key = kv::EncodeUint64(parent_id);
  key.append(name);
  return key;
}
std::string EdgeValue(uint64_t child_id, std::string_view inode_bytes) {
  std::string value = kv::EncodeUint64(child_id);
  value.append(inode_bytes);
  return value;
}
std::string MountKey(uint64_t mount_id) { return kv::EncodeUint64(mount_id); }
std::string TtlKey(int64_t expiry_ms, uint64_t inode_id) {
  std::string key = kv::EncodeUint64(static_cast<uint64_t>(expiry_ms));
  kv::AppendUint64(&key, inode_id);
  return key;
}
std::string OpExpiryKey(int64_t time_ms, std::string_view operation_id) {
  std::string key = kv::EncodeUint64(static_cast<uint64_t>(time_ms));
  key.append(operation_id);
  return key;
}

int64_t TtlExpiryMs(const proto::Inode& inode) {
  return inode.ttl_ms() > 0 ? inode.creation_time_ms() + inode.ttl_ms() : 0;
}

void AddNamespaceKvOptions(kv::KvStoreOptions* options) {
  options->scan_prefix_lengths[kEdgesCf] = 8;  // a parent id: listings never cross parents
}

NamespaceStore::NamespaceStore(kv::KvStore* kv, size_t cache_entries) : kv_(kv), cache_(cache_entries) {}

absl::Status NamespaceStore::Commit(const kv::KvWriteBatch& batch, uint64_t index) {
  absl::MutexLock lock(&commit_mu_);
  // Raised before the write becomes visible, so it bounds whatever a reader can see.
  if (index > commit_index_.load(std::memory_order_relaxed)) commit_index_.store(index, std::memory_order_release);
  commit_seq_.fetch_add(1, std::memory_order_acq_rel);  // odd: readers that overlap retry
  std::atomic_thread_fence(std::memory_order_release);
  absl::Status status = kv_->Write(batch);
  UpdateCache(batch);  // also after a failed write: dropping or refreshing entries is always safe
  commit_seq_.fetch_add(1, std::memory_order_release);
  return status;
}

absl::Status NamespaceStore::ReplaceWith(const std::string& dir) {
  absl::MutexLock lock(&commit_mu_);
  commit_seq_.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  absl::Status status = kv_->ReplaceWith(dir);
  cache_.Clear();  // also after a failure: the old contents may be back, and dropping is always safe
  commit_seq_.fetch_add(1, std::memory_order_release);
  return status;
}

void NamespaceStore::UpdateCache(const kv::KvWriteBatch& batch) {
  batch.ForEach([&](kv::ColumnFamily cf, bool is_delete, std::string_view key, std::string_view value) {
    if (cf == kInodesCf && key.size() == 8) {
      const uint64_t id = kv::DecodeUint64(key);
      if (is_delete) {
        cache_.inodes().Erase(id);
        return;
      }
      cache_.inodes().Update(id, [&]() -> std::optional<NamespaceCache::InodePtr> {
        auto inode = std::make_shared<proto::Inode>();
        if (!inode->ParseFromArray(value.data(), static_cast<int>(value.size()))) return std::nullopt;
        return inode;
      });
    } else if (cf == kEdgesCf) {
      const absl::string_view edge(key.data(), key.size());
      if (!is_delete && value.size() < 8) {
        cache_.edges().Erase(edge);
      } else {
        // A delete leaves a known miss: the path was just looked up, it may well be again.
        cache_.edges().Update(edge, [&]() -> std::optional<uint64_t> {
          return is_delete ? NamespaceCache::kNoChild : kv::DecodeUint64(value.substr(0, 8));
        });
      }
    }
  });
}

absl::Status NamespaceStore::FormatIfEmpty(int64_t time_ms, uint32_t root_mode, std::string_view owner,
                                           std::string_view group) {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> version, kv_->Get(kMetaCf, kMetaFormatVersion));
  if (version.has_value()) {
    const uint64_t found = version->size() == 8 ? kv::DecodeUint64(*version) : 0;
    if (found == 1) return UpgradeEdges();
    if (found != kFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat("metastore '", kv_->dir(), "' has an unsupported format version ",
                                                        found, " (expected ", kFormatVersion, ")"));
    }
    return absl::OkStatus();
  }
  proto::Inode root;
  root.set_id(kRootInodeId);
  root.set_parent_id(0);
  root.set_kind(proto::DIRECTORY);
  root.set_mode(root_mode);
  root.set_owner(std::string(owner));
  root.set_group(std::string(group));
  root.set_creation_time_ms(time_ms);
  root.set_modification_time_ms(time_ms);
  root.set_completed(true);
  root.set_persistence_state(proto::PERSISTED);
  std::random_device rd;
  std::string cluster_id = absl::StrFormat("%08x-%08x", rd(), rd());
  kv::KvWriteBatch batch;
  batch.Put(kInodesCf, InodeKey(kRootInodeId), root.SerializeAsString());
  batch.Put(kMetaCf, kMetaAppliedIndex, kv::EncodeUint64(0));
  batch.Put(kMetaCf, kMetaNextInodeId, kv::EncodeUint64(kRootInodeId + 1));
  batch.Put(kMetaCf, kMetaNextMountId, kv::EncodeUint64(kRootMountId));
  batch.Put(kMetaCf, kMetaClusterId, cluster_id);
  // Written last in the same batch: its presence means the format is complete.
  batch.Put(kMetaCf, kMetaFormatVersion, kv::EncodeUint64(kFormatVersion));
  return kv_->Write(batch);
}

absl::Status NamespaceStore::UpgradeEdges() {
  // Version 1 -> 2: every edge gets the copy of its child. Bounded batches; the version is
  // raised last, so an upgrade cut short by a crash runs again (rewriting an edge is idempotent).
  // Runs before the store serves anything (from FormatIfEmpty at startup).
  kv::KvWriteBatch batch;
  size_t pending = 0;
  int64_t upgraded = 0;
  CISTERN_RETURN_IF_ERROR(kv_->Scan(kEdgesCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    if (value.size() != 8) return true;  // already carries its copy
    const uint64_t id = kv::DecodeUint64(value);
    CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> inode, kv_->Get(kInodesCf, InodeKey(id)));
    if (!inode.has_value()) {
      return absl::DataLossError(absl::StrCat("metastore: edge under ", key.size() >= 8 ? kv::DecodeUint64(key) : 0,
                                              " points to missing inode ", id));
    }
    batch.Put(kEdgesCf, key, EdgeValue(id, *inode));
    ++upgraded;
    if (++pending == 10000) {
      CISTERN_RETURN_IF_ERROR(kv_->Write(batch));
      batch = kv::KvWriteBatch();
      pending = 0;
    }
    return true;
  }));
  batch.Put(kMetaCf, kMetaFormatVersion, kv::EncodeUint64(kFormatVersion));
  CISTERN_RETURN_IF_ERROR(kv_->Write(batch));
  cache_.Clear();
  return absl::OkStatus();
}

absl::StatusOr<NamespaceCache::InodePtr> NamespaceStore::EdgeChild(const ReadView& view, uint64_t parent_id,
                                                                  std::string_view key, std::string_view value) const {
  if (value.size() < 8) return absl::DataLossError(absl::StrCat("metastore: corrupt edge under ", parent_id));
  const uint64_t id = kv::DecodeUint64(value.substr(0, 8));
  NamespaceCache::InodePtr child;
  if (value.size() == 8) {
    CISTERN_ASSIGN_OR_RETURN(child, GetInodeIn(view, id));  // a version 1 edge (installed from an old snapshot)
  } else {
    auto inode = std::make_shared<proto::Inode>();
    if (!inode->ParseFromArray(value.data() + 8, static_cast<int>(value.size() - 8)) || inode->id() != id) {
      return absl::DataLossError(absl::StrCat("metastore: edge '", std::string(key.substr(8)), "' under ", parent_id,
                                              " has a corrupt copy of inode ", id));
    }
    child = std::move(inode);
  }
  if (child == nullptr) {
    return absl::DataLossError(absl::StrCat("metastore: edge '", std::string(key.substr(8)), "' under ", parent_id,
                                            " points to missing inode ", id));
  }
  return child;
}

namespace {

absl::StatusOr<NamespaceCache::InodePtr> ParseInode(uint64_t id, std::string_view bytes) {
  auto inode = std::make_shared<proto::Inode>();
  if (!inode->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("metastore: inode ", id, " does not parse"));
  }
  return NamespaceCache::InodePtr(std::move(inode));
}

}  // namespace

absl::StatusOr<std::optional<std::string>> NamespaceStore::Get(const ReadView& view, kv::ColumnFamily cf,
                                                               std::string_view key) const {
  if (view.pending != nullptr) return view.pending->Get(*kv_, cf, key, view.snapshot);
  return kv_->Get(cf, key, view.snapshot);
}

absl::Status NamespaceStore::Scan(
    const ReadView& view, kv::ColumnFamily cf, std::string_view prefix, std::string_view start,
    const std::function<absl::StatusOr<bool>(std::string_view, std::string_view)>& visit) const {
  if (view.pending != nullptr) return view.pending->Scan(*kv_, cf, prefix, start, visit, view.snapshot);
  return kv_->Scan(cf, prefix, start, visit, view.snapshot);
}

absl::StatusOr<NamespaceCache::InodePtr> NamespaceStore::GetInodeIn(const ReadView& view, uint64_t id) const {
  const std::string key = InodeKey(id);
  // Pending writes come first: the cache and the store hold only what is committed.
  if (view.pending != nullptr) {
    if (const std::optional<std::string>* written = view.pending->Find(kInodesCf, key); written != nullptr) {
      if (!written->has_value()) return NamespaceCache::InodePtr();
      return ParseInode(id, **written);
    }
  }
  std::optional<NamespaceCache::FillToken> token;
  if (view.snapshot == nullptr) {
    if (std::optional<NamespaceCache::InodePtr> cached = cache_.inodes().Get(id); cached.has_value() && *cached) {
      return *std::move(cached);
    }
    token = cache_.inodes().TokenFor(id);
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(kInodesCf, key, view.snapshot));
  if (!value.has_value()) return NamespaceCache::InodePtr();
  CISTERN_ASSIGN_OR_RETURN(NamespaceCache::InodePtr inode, ParseInode(id, *value));
  if (token.has_value()) cache_.inodes().Fill(id, *token, inode);
  return inode;
}

absl::StatusOr<std::optional<uint64_t>> NamespaceStore::GetChildIdIn(const ReadView& view, uint64_t parent_id,
                                                                     std::string_view name) const {
  const std::string key = EdgeKey(parent_id, name);
  const absl::string_view cache_key(key.data(), key.size());
  auto child_of = [&](std::string_view value) -> absl::StatusOr<std::optional<uint64_t>> {
    if (value.size() < 8) {
      return absl::DataLossError(absl::StrCat("metastore: edge ", parent_id, "/", std::string(name), " is corrupt"));
    }
    return std::optional<uint64_t>(kv::DecodeUint64(value.substr(0, 8)));
  };
  if (view.pending != nullptr) {
    if (const std::optional<std::string>* written = view.pending->Find(kEdgesCf, key); written != nullptr) {
      if (!written->has_value()) return std::optional<uint64_t>();
      return child_of(**written);
    }
  }
  std::optional<NamespaceCache::FillToken> token;
  if (view.snapshot == nullptr) {
    if (std::optional<uint64_t> cached = cache_.edges().Get(cache_key); cached.has_value()) {
      if (*cached == NamespaceCache::kNoChild) return std::optional<uint64_t>();
      return cached;
    }
    token = cache_.edges().TokenFor(cache_key);
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(kEdgesCf, key, view.snapshot));
  if (!value.has_value()) {
    if (token.has_value()) cache_.edges().Fill(cache_key, *token, NamespaceCache::kNoChild);
    return std::optional<uint64_t>();
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<uint64_t> child, child_of(*value));
  if (token.has_value()) cache_.edges().Fill(cache_key, *token, *child);
  return child;
}

absl::StatusOr<std::optional<proto::Inode>> NamespaceStore::GetInode(uint64_t id, const kv::KvOverlay* pending) const {
  CISTERN_ASSIGN_OR_RETURN(NamespaceCache::InodePtr inode, GetInodeIn(ReadView{nullptr, pending}, id));
  if (inode == nullptr) return std::optional<proto::Inode>();
  return std::optional<proto::Inode>(*inode);
}

absl::StatusOr<std::optional<uint64_t>> NamespaceStore::GetChildId(uint64_t parent_id, std::string_view name,
                                                                   const kv::KvOverlay* pending) const {
  return GetChildIdIn(ReadView{nullptr, pending}, parent_id, name);
}

absl::StatusOr<PathWalk> NamespaceStore::Walk(std::string_view path, const kv::KvOverlay* pending) const {
  // Components as views into `path` (a normalized path has no empty components but the root's).
  absl::InlinedVector<std::string_view, 16> parts;
  for (size_t start = 1; start < path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return ConsistentRead(pending, [&](const ReadView& view) -> absl::StatusOr<PathWalk> {
    PathWalk walk;
    walk.components = parts.size();
    walk.inodes.reserve(parts.size() + 1);
    CISTERN_ASSIGN_OR_RETURN(NamespaceCache::InodePtr current, GetInodeIn(view, kRootInodeId));
    if (current == nullptr) return absl::DataLossError("metastore: root inode missing");
    walk.inodes.push_back(current);
    for (std::string_view name : parts) {
      if (current->kind() != proto::DIRECTORY) {
        walk.blocked_by_file = true;
        break;
      }
      CISTERN_ASSIGN_OR_RETURN(std::optional<uint64_t> child, GetChildIdIn(view, current->id(), name));
      if (!child.has_value()) break;
      CISTERN_ASSIGN_OR_RETURN(current, GetInodeIn(view, *child));
      if (current == nullptr) {
        return absl::DataLossError(absl::StrCat("metastore: edge to missing inode ", *child, " at '", std::string(path), "'"));
      }
      walk.inodes.push_back(current);
      if (walk_step_hook_) walk_step_hook_();
    }
    return walk;
  });
}

absl::StatusOr<std::optional<proto::Inode>> NamespaceStore::Lookup(std::string_view path,
                                                                   const kv::KvOverlay* pending) const {
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, Walk(path, pending));
  if (walk.blocked_by_file) {
    std::string walked;
    const std::vector<std::string> parts = SplitPath(path);
    for (size_t i = 0; i + 1 < walk.inodes.size(); ++i) absl::StrAppend(&walked, "/", parts[i]);
    return absl::FailedPreconditionError(
        absl::StrCat("'", walked, "' is not a directory (in path '", std::string(path), "')"));
  }
  if (!walk.found()) return std::optional<proto::Inode>();
  return std::optional<proto::Inode>(walk.last());
}

absl::StatusOr<proto::Inode> NamespaceStore::Resolve(std::string_view path, const kv::KvOverlay* pending) const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, Lookup(path, pending));
  if (!inode.has_value()) return absl::NotFoundError(absl::StrCat("path '", std::string(path), "' does not exist"));
  return *std::move(inode);
}

namespace {

// The key at which a listing after `start_after` starts ("" = the first child).
std::string ListingStart(uint64_t parent_id, std::string_view start_after) {
  if (start_after.empty()) return "";
  std::string start = EdgeKey(parent_id, start_after);
  start.push_back('\0');  // the first key after start_after
  return start;
}

}  // namespace

absl::Status NamespaceStore::ListChildren(
    uint64_t parent_id, std::string_view start_after,
    const std::function<absl::StatusOr<bool>(const proto::Inode&)>& visit, const kv::KvOverlay* pending) const {
  const ReadView view{nullptr, pending};
  return Scan(view, kEdgesCf, EdgePrefix(parent_id), ListingStart(parent_id, start_after),
              [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    CISTERN_ASSIGN_OR_RETURN(NamespaceCache::InodePtr child, EdgeChild(view, parent_id, key, value));
    return visit(*child);
  });
}

absl::StatusOr<std::vector<NamespaceCache::InodePtr>> NamespaceStore::ListChildrenPage(
    uint64_t parent_id, std::string_view start_after, size_t limit, bool stop_after_directory) const {
  const std::string prefix = EdgePrefix(parent_id);
  const std::string start = ListingStart(parent_id, start_after);
  return ConsistentRead(nullptr, [&](const ReadView& view) -> absl::StatusOr<std::vector<NamespaceCache::InodePtr>> {
    std::vector<NamespaceCache::InodePtr> page;
    if (limit == 0) return page;
    CISTERN_RETURN_IF_ERROR(kv_->Scan(kEdgesCf, prefix, start, [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
      CISTERN_ASSIGN_OR_RETURN(NamespaceCache::InodePtr child, EdgeChild(view, parent_id, key, value));
      page.push_back(std::move(child));
      if (stop_after_directory && page.back()->kind() == proto::DIRECTORY) return false;
      return page.size() < limit;
    }, view.snapshot));
    return page;
  });
}

absl::StatusOr<bool> NamespaceStore::HasChildren(uint64_t parent_id, const kv::KvOverlay* pending) const {
  bool any = false;
  CISTERN_RETURN_IF_ERROR(Scan(ReadView{nullptr, pending}, kEdgesCf, EdgePrefix(parent_id), "",
                               [&](std::string_view, std::string_view) -> absl::StatusOr<bool> {
                                 any = true;
                                 return false;
                               }));
  return any;
}

absl::StatusOr<uint64_t> NamespaceStore::GetMetaUint64(std::string_view key, const kv::KvOverlay* pending) const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(ReadView{nullptr, pending}, kMetaCf, key));
  if (!value.has_value() || value->size() != 8) {
    return absl::DataLossError(absl::StrCat("metastore: meta key '", std::string(key), "' missing or corrupt"));
  }
  return kv::DecodeUint64(*value);
}

absl::StatusOr<std::string> NamespaceStore::GetMetaString(std::string_view key) const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(kMetaCf, key));
  if (!value.has_value()) return absl::DataLossError(absl::StrCat("metastore: meta key '", std::string(key), "' missing"));
  return *std::move(value);
}

absl::StatusOr<std::vector<proto::MountInfo>> NamespaceStore::LoadMounts(const kv::KvOverlay* pending) const {
  std::vector<proto::MountInfo> mounts;
  CISTERN_RETURN_IF_ERROR(Scan(ReadView{nullptr, pending}, kMountsCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    proto::MountInfo mount;
    if (!mount.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError("metastore: a mount entry does not parse");
    }
    mounts.push_back(std::move(mount));
    return true;
  }));
  return mounts;
}

absl::StatusOr<std::optional<proto::OperationRecord>> NamespaceStore::GetOperation(std::string_view operation_id,
                                                                                   const kv::KvOverlay* pending) const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(ReadView{nullptr, pending}, kOperationsCf, operation_id));
  if (!value.has_value()) return std::optional<proto::OperationRecord>();
  proto::OperationRecord record;
  if (!record.ParseFromString(*value)) return absl::DataLossError("metastore: an operation record does not parse");
  return std::optional<proto::OperationRecord>(std::move(record));
}

absl::StatusOr<std::optional<proto::PersistJob>> NamespaceStore::GetPersistJob(uint64_t file_id,
                                                                               const kv::KvOverlay* pending) const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(ReadView{nullptr, pending}, kPersistCf, InodeKey(file_id)));
  if (!value.has_value()) return std::optional<proto::PersistJob>();
  proto::PersistJob job;
  if (!job.ParseFromString(*value)) {
    return absl::DataLossError(absl::StrCat("metastore: persistence job of file ", file_id, " does not parse"));
  }
  return std::optional<proto::PersistJob>(std::move(job));
}

absl::Status NamespaceStore::ForEachPersistJob(
    const std::function<absl::StatusOr<bool>(uint64_t, const proto::PersistJob&)>& visit) const {
  return kv_->Scan(kPersistCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    if (key.size() != 8) return absl::DataLossError("metastore: corrupt persist key");
    proto::PersistJob job;
    if (!job.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError(absl::StrCat("metastore: persistence job of file ", kv::DecodeUint64(key), " does not parse"));
    }
    return visit(kv::DecodeUint64(key), job);
  });
}

absl::StatusOr<std::vector<uint64_t>> NamespaceStore::PinnedFiles() const {
  std::vector<uint64_t> ids;
  CISTERN_RETURN_IF_ERROR(kv_->Scan(kPinnedCf, "", "", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
    if (key.size() != 8) return absl::DataLossError("metastore: corrupt pinned key");
    ids.push_back(kv::DecodeUint64(key));
    return true;
  }));
  return ids;
}

absl::Status NamespaceStore::ForEachExpired(
    int64_t now_ms, const std::function<absl::StatusOr<bool>(int64_t, uint64_t)>& visit) const {
  return kv_->Scan(kTtlCf, "", "", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
    if (key.size() != 16) return absl::DataLossError("metastore: corrupt ttl key");
    const int64_t expiry = static_cast<int64_t>(kv::DecodeUint64(key));
    if (expiry > now_ms) return false;
    return visit(expiry, kv::DecodeUint64(key.substr(8)));
  });
}

}  // namespace cistern::master
