#include "master/file_system_master.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"
#include "security/permission.h"
#include "spdlog/spdlog.h"
#include "ufs/uri.h"

namespace cistern::master {

FileSystemMaster::FileSystemMaster(NamespaceStore* store, journal::Journal* journal, MountTable* mounts,
                                   BlockMaster* blocks, Clock* clock, FileSystemMasterOptions options)
    : store_(store), journal_(journal), mounts_(mounts), blocks_(blocks), clock_(clock), options_(std::move(options)),
      permissions_(store, options_.permissions),
      syncer_(store, journal, mounts, blocks, clock, &locks_,
              MetadataSyncOptions{options_.default_sync_interval_ms, options_.sync_batch_size,
                                  options_.default_block_size_bytes, options_.owner, options_.group}) {}

absl::StatusOr<std::optional<proto::OperationRecord>> FileSystemMaster::EarlierOutcome(
    const std::string& operation_id) const {
  if (operation_id.empty()) return std::optional<proto::OperationRecord>();
  return store_->GetOperation(operation_id);
}

absl::Status FileSystemMaster::CheckWritable(const std::string& path) const {
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(path));
  if (resolved.mount.read_only()) {
    return absl::PermissionDeniedError(
        absl::StrCat("'", path, "' is under the read-only mount '", resolved.mount.path(), "'"));
  }
  return absl::OkStatus();
}

absl::Status FileSystemMaster::LoadIfMissing(const std::string& path) {
  absl::StatusOr<NamespaceCache::InodePtr> inode = syncer_.SyncPath(path, std::nullopt, nullptr);
  // A file in the middle of the path is reported by the operation itself, with its own wording.
  if (absl::IsFailedPrecondition(inode.status())) return absl::OkStatus();
  return inode.status();
}

absl::StatusOr<proto::JournalResult> FileSystemMaster::SubmitAndRelease(const proto::JournalEntry& entry,
                                                                        PathLocks::Held* locks,
                                                                        std::optional<proto::Inode>* result_inode) {
  absl::StatusOr<journal::Appended> appended = journal_->Append(entry);
  if (result_inode != nullptr && appended.ok() && appended->outcome.status.ok()) {
    // Read while the locks still keep others from changing it.
    CISTERN_ASSIGN_OR_RETURN(*result_inode, store_->GetInode(appended->outcome.result.inode_id()));
  }
  // The entry is applied: later mutations see it. Waiting for it to be durable happens without
  // the locks, so concurrent mutations share one sync (group commit).
  if (locks != nullptr) locks->Release();
  if (!appended.ok()) return appended.status();
  CISTERN_RETURN_IF_ERROR(journal_->WaitDurable(appended->index));
  if (!appended->outcome.status.ok()) return appended->outcome.status;
  return appended->outcome.result;
}

absl::Status FileSystemMaster::WaitReadDurable(ReadOptions options) const {
  // What a read saw must not be lost by a crash (nor, replicated, be answered by a deposed
  // leader): confirm up to the last entry it may have seen.
  const uint64_t index = store_->commit_index();
  if (!options.may_block && !journal_->IsDurable(index)) return WouldBlockError();
  return journal_->ConfirmRead(index);
}

namespace {

// The sync interval a read request asks for, if any (else the mount's or the master's default).
template <typename Request>
std::optional<int64_t> RequestedSyncInterval(const Request& request) {
  if (!request.has_sync_interval_ms()) return std::nullopt;
  return request.sync_interval_ms();
}

absl::Status RecordedStatus(const proto::OperationRecord& record) {
  return absl::Status(static_cast<absl::StatusCode>(record.status_code()), record.status_message());
}

}  // namespace

absl::Status FileSystemMaster::InitializeRootMount(const std::string& root_ufs_uri) {
  CISTERN_ASSIGN_OR_RETURN(ufs::Uri uri, ufs::ParseUri(root_ufs_uri));
  const std::string canonical = uri.ToString();
  CISTERN_RETURN_IF_ERROR(mounts_->Reload());
  if (mounts_->empty()) {
    CISTERN_ASSIGN_OR_RETURN(auto adapter, ufs::CreateUnderFileSystem(canonical));
    CISTERN_RETURN_IF_ERROR_CONTEXT(adapter->Mkdirs(canonical, 0755),
                                    absl::StrCat("cannot create the root under-store directory '", canonical, "'"));
    proto::JournalEntry entry;
    proto::MountInfo* mount = entry.mutable_add_mount()->mutable_mount();
    mount->set_path("/");
    mount->set_ufs_uri(canonical);
    entry.mutable_add_mount()->set_time_ms(clock_->NowMs());
    entry.mutable_add_mount()->set_owner(options_.owner);
    entry.mutable_add_mount()->set_group(options_.group);
    CISTERN_RETURN_IF_ERROR(journal_->Submit(entry).status());
    CISTERN_RETURN_IF_ERROR(mounts_->Reload());
    spdlog::info("mounted '{}' at /", canonical);
    return absl::OkStatus();
  }
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath root, mounts_->Resolve("/"));
  if (root.mount.ufs_uri() != canonical) {
    spdlog::warn("master.mount.root.ufs is '{}' but the namespace root is mounted on '{}' (kept)", canonical,
                 root.mount.ufs_uri());
  }
  absl::Status mkdirs = root.ufs->Mkdirs(root.ufs_uri, 0755);
  if (!mkdirs.ok()) spdlog::warn("root under-store '{}' is not usable: {}", root.ufs_uri, mkdirs.ToString());
  return absl::OkStatus();
}

bool FileSystemMaster::FileExists(uint64_t file_id) const {
  auto inode = store_->GetInode(file_id);
  return inode.ok() && inode->has_value() && (*inode)->kind() == proto::FILE;
}

absl::StatusOr<proto::FileInfo> FileSystemMaster::ToFileInfo(const proto::Inode& inode, const std::string& path,
                                                             bool include_blocks) const {
  proto::FileInfo info;
  CISTERN_RETURN_IF_ERROR(FillFileInfo(inode, path, include_blocks, &info));
  return info;
}

absl::Status FileSystemMaster::FillFileInfo(const proto::Inode& inode, std::string path, bool include_blocks,
                                            proto::FileInfo* out) const {
  proto::FileInfo& info = *out;
  info.set_file_id(inode.id());
  info.set_name(inode.name());
  info.set_kind(inode.kind());
  info.set_length(inode.length());
  info.set_block_size_bytes(inode.block_size_bytes());
  info.set_mode(inode.mode());
  info.set_owner(inode.owner());
  info.set_group(inode.group());
  info.set_creation_time_ms(inode.creation_time_ms());
  info.set_modification_time_ms(inode.modification_time_ms());
  info.set_completed(inode.completed());
  info.set_persistence_state(inode.persistence_state());
  info.set_pinned(inode.pinned());
  info.set_write_type(inode.write_type());
  info.set_ttl_ms(inode.ttl_ms());
  info.set_ttl_action(inode.ttl_action());
  info.set_replication_min(inode.replication_min());
  info.set_replication_max(inode.replication_max());
  info.set_last_sync_ms(inode.last_sync_ms());
  // Only files from (or persisted to) an under-store have one; an absent one reads as empty.
  if (inode.has_ufs_fingerprint()) *info.mutable_ufs_fingerprint() = inode.ufs_fingerprint();
  if (inode.persistence_state() == proto::TO_BE_PERSISTED) {
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::PersistJob> job, store_->GetPersistJob(inode.id()));
    if (job.has_value()) *info.mutable_persist_job() = *std::move(job);
  }
  uint64_t mount_id = 0;
  if (mounts_->Locate(path, info.mutable_ufs_path(), info.mutable_mount_point(), &mount_id)) info.set_mount_id(mount_id);
  info.set_path(std::move(path));
  if (inode.kind() == proto::FILE) {
    const int64_t block_size = std::max<int64_t>(inode.block_size_bytes(), 1);
    const int64_t count = inode.completed() ? (inode.length() + block_size - 1) / block_size : 0;
    int64_t cached_bytes = 0;
    for (int64_t i = 0; i < count; ++i) {
      const uint64_t block_id = MakeBlockId(inode.id(), static_cast<uint64_t>(i));
      const int64_t offset = i * block_size;
      const int64_t length = std::min(block_size, inode.length() - offset);
      info.add_block_ids(block_id);
      std::vector<proto::BlockLocation> locations = blocks_->GetLocations(block_id);
      if (!locations.empty()) cached_bytes += length;
      if (include_blocks) {
        proto::BlockInfo* block = info.add_blocks();
        block->set_block_id(block_id);
        block->set_offset(offset);
        block->set_length(length);
        for (auto& location : locations) *block->add_locations() = std::move(location);
      }
    }
    info.set_in_cache_percentage(inode.length() == 0 ? 100 : static_cast<int32_t>(cached_bytes * 100 / inode.length()));
    info.set_cached_bytes(cached_bytes);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileSystemMaster::PathOf(const proto::Inode& inode) const {
  std::vector<std::string> names;
  proto::Inode current = inode;
  for (int depth = 0; current.id() != kRootInodeId; ++depth) {
    if (depth > static_cast<int>(kMaxPathLength)) return absl::DataLossError("metastore: parent cycle");
    names.push_back(current.name());
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent, store_->GetInode(current.parent_id()));
    if (!parent.has_value()) return absl::NotFoundError(absl::StrCat("inode ", inode.id(), " is detached"));
    current = *std::move(parent);
  }
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) absl::StrAppend(&path, "/", *it);
  return path.empty() ? "/" : path;
}

namespace {

proto::BlockCapability CapabilityFields(const proto::Inode& inode, const proto::FileInfo& info, const std::string& user,
                                        proto::BlockAccess access) {
  proto::BlockCapability fields;
  fields.set_file_id(inode.id());
  fields.set_access(access);
  fields.set_user(user);
  fields.set_ufs_path(info.ufs_path());
  fields.set_mount_id(info.mount_id());
  fields.set_block_size_bytes(inode.block_size_bytes());
  if (access == proto::BLOCK_READ) fields.set_file_length(inode.length());
  return fields;
}

}  // namespace

absl::Status FileSystemMaster::AttachReadCapability(const security::Caller& caller, const proto::Inode& inode,
                                                    const std::string& path, proto::FileInfo* info) const {
  if (options_.capabilities == nullptr || inode.kind() != proto::FILE || !inode.completed()) return absl::OkStatus();
  // Without read permission the status is still answered, only without a capability: the
  // worker then refuses the blocks, naming why.
  if (!permissions_.Exempt(caller) &&
      !permissions_.checker().Check(caller, OwnershipOf(inode), security::kRead, path).ok()) {
    return absl::OkStatus();
  }
  *info->mutable_capability() = options_.capabilities->Issue(
      CapabilityFields(inode, *info, caller.user, proto::BLOCK_READ), clock_->NowMs());
  return absl::OkStatus();
}

void FileSystemMaster::AttachWriteCapability(const security::Caller& caller, const proto::Inode& inode,
                                             proto::FileInfo* info) const {
  if (options_.capabilities == nullptr) return;
  *info->mutable_capability() = options_.capabilities->Issue(
      CapabilityFields(inode, *info, caller.user, proto::BLOCK_WRITE), clock_->NowMs());
}

absl::StatusOr<proto::FileInfo> FileSystemMaster::GetStatus(const proto::GetStatusRequest& request,
                                                            ReadOptions options, const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  const std::optional<int64_t> interval = RequestedSyncInterval(request);
  // The walk that found the inode is the one the permission checks read (no second walk).
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, syncer_.SyncPathWalk(path, interval, nullptr, options.may_block));
  CISTERN_RETURN_IF_ERROR(permissions_.CheckTraverse(caller, path, walk));
  if (!walk.found()) return absl::NotFoundError(absl::StrCat("path '", path, "' does not exist"));
  const NamespaceCache::InodePtr& inode = walk.inodes.back();
  if (request.for_read() && inode->kind() == proto::FILE && !permissions_.Exempt(caller)) {
    CISTERN_RETURN_IF_ERROR(permissions_.checker().Check(caller, OwnershipOf(*inode), security::kRead, path));
  }
  if (request.for_write()) {
    if (!permissions_.Exempt(caller)) {
      CISTERN_RETURN_IF_ERROR(permissions_.checker().Check(caller, OwnershipOf(*inode), security::kWrite, path));
    }
    if (inode->kind() != proto::FILE || inode->completed()) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path, "' is not a file being written: no write capability for it"));
    }
  }
  CISTERN_ASSIGN_OR_RETURN(proto::FileInfo info, ToFileInfo(*inode, path, request.include_block_locations()));
  if (request.for_write()) {
    AttachWriteCapability(caller, *inode, &info);  // renewal for the writer of an incomplete file
  } else if (request.include_block_locations()) {
    CISTERN_RETURN_IF_ERROR(AttachReadCapability(caller, *inode, path, &info));
  }
  CISTERN_RETURN_IF_ERROR(WaitReadDurable(options));
  return info;
}

absl::StatusOr<ListingCursor> FileSystemMaster::StartListing(const proto::ListStatusRequest& request,
                                                             ReadOptions options, const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  ListingCursor cursor;
  cursor.caller_ = caller;
  cursor.recursive_ = request.recursive();
  cursor.sync_interval_ = RequestedSyncInterval(request);
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, syncer_.SyncPathWalk(path, cursor.sync_interval_, nullptr, options.may_block));
  CISTERN_RETURN_IF_ERROR(permissions_.CheckTraverse(caller, path, walk));
  if (!walk.found()) return absl::NotFoundError(absl::StrCat("path '", path, "' does not exist"));
  const NamespaceCache::InodePtr& found = walk.inodes.back();
  if (found->kind() != proto::DIRECTORY) {
    CISTERN_ASSIGN_OR_RETURN(cursor.single_, ToFileInfo(*found, path, false));
    return cursor;
  }
  if (!permissions_.Exempt(caller)) {
    CISTERN_RETURN_IF_ERROR(permissions_.checker().Check(caller, OwnershipOf(*found),
                                                         security::kRead | security::kExecute, path));
  }
  CISTERN_RETURN_IF_ERROR(
      syncer_.SyncChildren(path, cursor.sync_interval_, false, nullptr, options.may_block, found.get()));
  cursor.stack_.push_back(ListingCursor::Frame{found->id(), path, ""});
  return cursor;
}

absl::Status FileSystemMaster::NextPage(ListingCursor* cursor, proto::ListStatusResponse* page, ReadOptions options) {
  page->Clear();
  ListingCursor before = *cursor;
  absl::Status status = FillPage(cursor, page, options);
  if (status.ok()) status = WaitReadDurable(options);
  if (!status.ok()) {
    *cursor = std::move(before);  // so the same page can be asked for again
    page->Clear();
  }
  return status;
}

absl::Status FileSystemMaster::FillPage(ListingCursor* cursor, proto::ListStatusResponse* page, ReadOptions options) {
  if (cursor->single_.has_value()) {
    *page->add_infos() = *std::move(cursor->single_);
    cursor->single_.reset();
    return absl::OkStatus();
  }
  const size_t page_size = static_cast<size_t>(std::max(1, options_.listing_page_size));
  while (!cursor->stack_.empty() && static_cast<size_t>(page->infos_size()) < page_size) {
    ListingCursor::Frame& frame = cursor->stack_.back();
    const size_t room = page_size - static_cast<size_t>(page->infos_size());
    // With a recursive listing, a directory's contents come right after it, before the rest
    // of its parent: the page part ends at the first directory.
    CISTERN_ASSIGN_OR_RETURN(std::vector<NamespaceCache::InodePtr> children,
                             store_->ListChildrenPage(frame.dir_id, frame.after, room, cursor->recursive_));
    for (const NamespaceCache::InodePtr& child : children) {
      CISTERN_RETURN_IF_ERROR(FillFileInfo(*child, JoinPath(frame.path, child->name()), false, page->add_infos()));
    }
    if (!children.empty()) frame.after = children.back()->name();
    const bool descend = cursor->recursive_ && !children.empty() && children.back()->kind() == proto::DIRECTORY;
    if (!descend) {
      if (children.size() < room) cursor->stack_.pop_back();  // this directory is listed to the end
      continue;
    }
    const std::string child_path = JoinPath(frame.path, children.back()->name());
    const uint64_t child_id = children.back()->id();
    if (!permissions_.Exempt(cursor->caller_)) {
      CISTERN_RETURN_IF_ERROR(permissions_.checker().Check(cursor->caller_, OwnershipOf(*children.back()),
                                                           security::kRead | security::kExecute, child_path));
    }
    CISTERN_RETURN_IF_ERROR(syncer_.SyncChildren(child_path, cursor->sync_interval_, false, nullptr, options.may_block,
                                                 children.back().get()));
    cursor->stack_.push_back(ListingCursor::Frame{child_id, child_path, ""});
  }
  return absl::OkStatus();
}

absl::Status FileSystemMaster::ListStatus(
    const proto::ListStatusRequest& request,
    const std::function<absl::Status(const proto::ListStatusResponse&)>& page, const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(ListingCursor cursor, StartListing(request, ReadOptions{}, caller));
  proto::ListStatusResponse response;
  while (!cursor.done()) {
    CISTERN_RETURN_IF_ERROR(NextPage(&cursor, &response));
    if (response.infos_size() > 0) CISTERN_RETURN_IF_ERROR(page(response));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FileSystemMaster::Exists(const proto::ExistsRequest& request, ReadOptions options,
                                              const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  const std::optional<int64_t> interval = RequestedSyncInterval(request);
  absl::StatusOr<PathWalk> walk = syncer_.SyncPathWalk(path, interval, nullptr, options.may_block);
  if (absl::IsFailedPrecondition(walk.status())) return false;  // a prefix is a file
  if (!walk.ok()) return walk.status();
  CISTERN_RETURN_IF_ERROR(permissions_.CheckTraverse(caller, path, *walk));
  CISTERN_RETURN_IF_ERROR(WaitReadDurable(options));
  return walk->found();
}

absl::StatusOr<proto::FileInfo> FileSystemMaster::CreateDirectory(const proto::CreateDirectoryRequest& request,
                                                                  const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (earlier.has_value()) {
    CISTERN_RETURN_IF_ERROR(RecordedStatus(*earlier));
    CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(path));
    return ToFileInfo(inode, path, false);
  }
  CISTERN_RETURN_IF_ERROR(CheckWritable(path));
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(path));
  PathLocks::Held lock = locks_.Lock({path});
  // Checked before touching the under-store, so a refused request changes nothing there.
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path));
  CISTERN_RETURN_IF_ERROR(permissions_.CheckTraverse(caller, path));
  if (existing.has_value() && !(request.allow_exists() && existing->kind() == proto::DIRECTORY)) {
    return absl::AlreadyExistsError(absl::StrCat("path '", path, "' already exists"));
  }
  if (!existing.has_value()) CISTERN_RETURN_IF_ERROR(permissions_.CheckCreate(caller, path, request.recursive()));
  if (!existing.has_value() && !request.recursive()) {
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent, store_->Lookup(ParentPath(path)));
    if (!parent.has_value()) {
      return absl::NotFoundError(absl::StrCat("parent directory '", ParentPath(path), "' of '", path,
                                              "' does not exist (use -p / recursive)"));
    }
  }
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(path));
  CISTERN_RETURN_IF_ERROR_CONTEXT(resolved.ufs->Mkdirs(resolved.ufs_uri, request.mode() != 0 ? request.mode() : 0755),
                                  absl::StrCat("mkdir '", path, "' in under-store '", resolved.ufs_uri, "'"));
  proto::JournalEntry entry;
  proto::MkdirEntry* mkdir = entry.mutable_mkdir();
  mkdir->set_path(path);
  mkdir->set_recursive(request.recursive());
  mkdir->set_allow_exists(request.allow_exists());
  mkdir->set_mode(request.mode());
  const auto [mkdir_owner, mkdir_group] = permissions_.NewOwnership(caller, path, options_.owner, options_.group);
  mkdir->set_owner(mkdir_owner);
  mkdir->set_group(mkdir_group);
  mkdir->set_time_ms(clock_->NowMs());
  mkdir->set_persistence_state(proto::PERSISTED);
  entry.set_operation_id(request.operation_id());
  std::optional<proto::Inode> inode;
  CISTERN_RETURN_IF_ERROR(SubmitAndRelease(entry, &lock, &inode).status());
  if (!inode.has_value()) return absl::InternalError(absl::StrCat("created directory '", path, "' is missing"));
  return ToFileInfo(*inode, path, false);
}

absl::StatusOr<proto::FileInfo> FileSystemMaster::CreateFile(const proto::CreateFileRequest& request,
                                                             const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  if (request.block_size_bytes() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block size ", request.block_size_bytes(), " is negative"));
  }
  proto::WriteType write_type = request.write_type();
  if (write_type == proto::WRITE_TYPE_UNSPECIFIED) write_type = options_.default_write_type;
  if (!proto::WriteType_IsValid(write_type)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown write type ", static_cast<int>(write_type)));
  }
  const int64_t block_size = request.block_size_bytes() > 0 ? request.block_size_bytes() : options_.default_block_size_bytes;
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (earlier.has_value()) {
    CISTERN_RETURN_IF_ERROR(RecordedStatus(*earlier));
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(earlier->result().inode_id()));
    if (!inode.has_value()) return absl::NotFoundError(absl::StrCat("file '", path, "' was removed since it was created"));
    CISTERN_ASSIGN_OR_RETURN(proto::FileInfo info, ToFileInfo(*inode, path, false));
    AttachWriteCapability(caller, *inode, &info);
    return info;
  }
  CISTERN_RETURN_IF_ERROR(CheckWritable(path));
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(path));
  PathLocks::Held lock = locks_.Lock({path});
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path));
  if (existing.has_value() && existing->kind() == proto::FILE && request.overwrite()) {
    CISTERN_RETURN_IF_ERROR(permissions_.CheckAccess(caller, path, security::kWrite));
  } else {
    CISTERN_RETURN_IF_ERROR(permissions_.CheckCreate(caller, path, request.recursive()));
  }
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(path));
  if (existing.has_value() && existing->kind() == proto::FILE && request.overwrite() &&
      existing->persistence_state() == proto::PERSISTED &&
      (write_type == proto::MUST_CACHE || write_type == proto::ASYNC_THROUGH)) {
    // The new content does not reach the under-store now (or ever), so the old copy there
    // would be stale.
    absl::Status deleted = resolved.ufs->Delete(resolved.ufs_uri, false);
    if (!deleted.ok() && !absl::IsNotFound(deleted)) return Annotate(deleted, absl::StrCat("overwrite '", path, "'"));
  }
  if (request.recursive()) {  // directories always exist in the under-store
    // A parent directory the namespace has is in the under-store already (made there when it
    // was created, or loaded from there), and the lock above keeps it: asking the store again
    // would cost every create a store call (a HEAD and a PUT on an object store).
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent_dir, store_->Lookup(ParentPath(path)));
    if (!parent_dir.has_value() || parent_dir->kind() != proto::DIRECTORY) {
      CISTERN_ASSIGN_OR_RETURN(ResolvedPath parent, mounts_->Resolve(ParentPath(path)));
      CISTERN_RETURN_IF_ERROR_CONTEXT(parent.ufs->Mkdirs(parent.ufs_uri, 0755),
                                      absl::StrCat("create parents of '", path, "' in the under-store"));
    }
  }
  proto::JournalEntry entry;
  proto::CreateFileEntry* create = entry.mutable_create_file();
  create->set_path(path);
  create->set_recursive(request.recursive());
  create->set_overwrite(request.overwrite());
  create->set_block_size_bytes(block_size);
  create->set_write_type(write_type);
  create->set_mode(request.mode());
  const auto [file_owner, file_group] = permissions_.NewOwnership(caller, path, options_.owner, options_.group);
  create->set_owner(file_owner);
  create->set_group(file_group);
  create->set_time_ms(clock_->NowMs());
  entry.set_operation_id(request.operation_id());
  std::optional<proto::Inode> inode;
  CISTERN_ASSIGN_OR_RETURN(proto::JournalResult result, SubmitAndRelease(entry, &lock, &inode));
  if (result.removed_file_ids_size() > 0) {
    blocks_->RemoveFiles({result.removed_file_ids().begin(), result.removed_file_ids().end()});
  }
  if (!inode.has_value()) return absl::InternalError(absl::StrCat("created file '", path, "' is missing"));
  CISTERN_ASSIGN_OR_RETURN(proto::FileInfo info, ToFileInfo(*inode, path, false));
  AttachWriteCapability(caller, *inode, &info);
  return info;
}

absl::StatusOr<proto::FileInfo> FileSystemMaster::CompleteFile(const proto::CompleteFileRequest& request,
                                                               const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  // No path lock: the entry only changes the inode it names, and applying it re-checks that.
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(request.file_id()));
  if (!inode.has_value() || inode->kind() != proto::FILE) {
    return absl::NotFoundError(absl::StrCat("file id ", request.file_id(), " does not exist"));
  }
  // Only whoever created the file (or the superuser) completes it.
  CISTERN_RETURN_IF_ERROR(permissions_.checker().CheckOwner(caller, OwnershipOf(*inode),
                                                            absl::StrCat("file id ", request.file_id()), "complete"));
  const bool through = inode->write_type() == proto::CACHE_THROUGH || inode->write_type() == proto::THROUGH;
  if (through && !request.has_ufs_fingerprint()) {
    return absl::InvalidArgumentError(absl::StrCat("file id ", request.file_id(), " was written ",
                                                   proto::WriteType_Name(inode->write_type()),
                                                   " but completion carries no under-store fingerprint"));
  }
  if (through && request.ufs_fingerprint().length() != request.length()) {
    return absl::InvalidArgumentError(absl::StrCat("file id ", request.file_id(), ": length ", request.length(),
                                                   " differs from the under-store copy's ",
                                                   request.ufs_fingerprint().length()));
  }
  proto::JournalEntry entry;
  proto::CompleteFileEntry* complete = entry.mutable_complete_file();
  complete->set_file_id(request.file_id());
  complete->set_length(request.length());
  complete->set_time_ms(clock_->NowMs());
  complete->set_persistence_state(through                                        ? proto::PERSISTED
                                  : inode->write_type() == proto::ASYNC_THROUGH ? proto::TO_BE_PERSISTED
                                                                                : proto::NOT_PERSISTED);
  if (through) *complete->mutable_ufs_fingerprint() = request.ufs_fingerprint();
  entry.set_operation_id(request.operation_id());
  if (earlier.has_value()) {
    CISTERN_RETURN_IF_ERROR(RecordedStatus(*earlier));
  } else {
    CISTERN_RETURN_IF_ERROR(SubmitAndRelease(entry, nullptr).status());
  }
  CISTERN_ASSIGN_OR_RETURN(inode, store_->GetInode(request.file_id()));
  if (!inode.has_value()) return absl::NotFoundError(absl::StrCat("file id ", request.file_id(), " was deleted"));
  CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(*inode));
  return ToFileInfo(*inode, path, false);
}

absl::Status FileSystemMaster::Delete(const proto::DeleteRequest& request, const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  if (path == "/") return absl::InvalidArgumentError("the root directory '/' cannot be deleted");
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (earlier.has_value()) return RecordedStatus(*earlier);
  CISTERN_RETURN_IF_ERROR(CheckWritable(path));
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(path));
  PathLocks::Held lock = locks_.Lock({path});
  CISTERN_RETURN_IF_ERROR(permissions_.CheckRemove(caller, path, request.recursive()));
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(path));
  if (inode.kind() == proto::DIRECTORY && !request.recursive()) {
    CISTERN_ASSIGN_OR_RETURN(bool has_children, store_->HasChildren(inode.id()));
    if (has_children) {
      return absl::FailedPreconditionError(absl::StrCat("directory '", path, "' is not empty (use -R / recursive)"));
    }
  }
  if (inode.persistence_state() == proto::PERSISTED) {
    CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(path));
    if (resolved.mount.path() == path) {
      return absl::FailedPreconditionError(absl::StrCat("'", path, "' is a mount point; unmount it instead"));
    }
    absl::Status deleted = resolved.ufs->Delete(resolved.ufs_uri, request.recursive());
    if (!deleted.ok() && !absl::IsNotFound(deleted)) {
      return Annotate(deleted, absl::StrCat("delete '", path, "' from under-store"));
    }
  }
  proto::JournalEntry entry;
  entry.mutable_delete_()->set_path(path);
  entry.mutable_delete_()->set_recursive(request.recursive());
  entry.mutable_delete_()->set_time_ms(clock_->NowMs());
  entry.set_operation_id(request.operation_id());
  CISTERN_ASSIGN_OR_RETURN(proto::JournalResult result, SubmitAndRelease(entry, &lock));
  blocks_->RemoveFiles({result.removed_file_ids().begin(), result.removed_file_ids().end()});
  return absl::OkStatus();
}

absl::Status FileSystemMaster::Rename(const proto::RenameRequest& request, const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string src, NormalizePath(request.src_path()));
  CISTERN_ASSIGN_OR_RETURN(std::string dst, NormalizePath(request.dst_path()));
  if (src == "/" || dst == "/") return absl::InvalidArgumentError("the root directory '/' cannot be renamed");
  if (IsSameOrDescendant(dst, src)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot rename '", src, "' to '", dst, "', inside itself"));
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (earlier.has_value()) return RecordedStatus(*earlier);
  CISTERN_RETURN_IF_ERROR(CheckWritable(src));
  CISTERN_RETURN_IF_ERROR(CheckWritable(dst));
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(src));
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(dst));
  PathLocks::Held lock = locks_.Lock({src, dst});
  CISTERN_RETURN_IF_ERROR(permissions_.CheckRemove(caller, src, /*recursive=*/false));
  CISTERN_RETURN_IF_ERROR(permissions_.CheckTraverse(caller, dst));
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(src));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(dst));
  if (existing.has_value()) return absl::AlreadyExistsError(absl::StrCat("rename destination '", dst, "' already exists"));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> dst_parent, store_->Lookup(ParentPath(dst)));
  if (!dst_parent.has_value()) {
    return absl::NotFoundError(absl::StrCat("parent directory '", ParentPath(dst), "' of '", dst, "' does not exist"));
  }
  CISTERN_RETURN_IF_ERROR(permissions_.CheckCreate(caller, dst, /*recursive=*/false));
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath from, mounts_->Resolve(src));
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath to, mounts_->Resolve(dst));
  if (from.mount.path() == src) return absl::FailedPreconditionError(absl::StrCat("'", src, "' is a mount point"));
  if (from.mount.mount_id() != to.mount.mount_id()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot rename '", src, "' to '", dst, "' across mounts"));
  }
  // Directories are always in the under-store (mkdir creates them there); a MUST_CACHE file is not.
  const bool in_ufs = inode.kind() == proto::DIRECTORY || inode.persistence_state() == proto::PERSISTED;
  if (in_ufs) {
    CISTERN_RETURN_IF_ERROR_CONTEXT(from.ufs->Rename(from.ufs_uri, to.ufs_uri),
                                    absl::StrCat("rename '", src, "' to '", dst, "' in the under-store"));
  }
  proto::JournalEntry entry;
  entry.mutable_rename()->set_src_path(src);
  entry.mutable_rename()->set_dst_path(dst);
  entry.mutable_rename()->set_time_ms(clock_->NowMs());
  entry.set_operation_id(request.operation_id());
  absl::Status status = SubmitAndRelease(entry, &lock).status();
  if (!status.ok() && in_ufs) {
    // Put the under-store back as it was, so namespace and under-store agree.
    absl::Status undo = from.ufs->Rename(to.ufs_uri, from.ufs_uri);
    if (!undo.ok()) spdlog::error("rename of '{}' failed and could not be undone in the under-store: {}", src, undo.ToString());
  }
  return status;
}

std::vector<proto::MountInfo> FileSystemMaster::GetMountTable() const { return mounts_->List(); }

absl::StatusOr<proto::FileInfo> FileSystemMaster::SetAttribute(const proto::SetAttributeRequest& request,
                                                               const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (!earlier.has_value()) {
    CISTERN_RETURN_IF_ERROR(LoadIfMissing(path));
    proto::JournalEntry entry;
    proto::SetAttributeEntry* set = entry.mutable_set_attribute();
    set->set_path(path);
    set->set_recursive(request.recursive());
    if (request.has_mode()) set->set_mode(request.mode());
    if (request.has_owner()) set->set_owner(request.owner());
    if (request.has_group()) set->set_group(request.group());
    if (request.has_pinned()) set->set_pinned(request.pinned());
    if (request.has_ttl_ms()) set->set_ttl_ms(request.ttl_ms());
    set->set_ttl_action(request.ttl_action());
    if (request.has_replication_min()) set->set_replication_min(request.replication_min());
    if (request.has_replication_max()) set->set_replication_max(request.replication_max());
    set->set_time_ms(clock_->NowMs());
    entry.set_operation_id(request.operation_id());
    PathLocks::Held lock = locks_.Lock({path});
    CISTERN_RETURN_IF_ERROR(permissions_.CheckSetAttribute(caller, request, path));
    std::optional<proto::Inode> inode;
    CISTERN_RETURN_IF_ERROR(SubmitAndRelease(entry, &lock, &inode).status());
    if (!inode.has_value()) return absl::InternalError(absl::StrCat("'", path, "' is missing after setAttribute"));
    return ToFileInfo(*inode, path, false);
  }
  CISTERN_RETURN_IF_ERROR(RecordedStatus(*earlier));
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(path));
  return ToFileInfo(inode, path, false);
}

absl::StatusOr<proto::Inode> FileSystemMaster::ResolveSubtreeRoot(const std::string& path, bool recursive,
                                                                 absl::string_view verb,
                                                                 const security::Caller& caller, uint32_t access) {
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(path));
  CISTERN_RETURN_IF_ERROR(permissions_.CheckAccess(caller, path, access));
  CISTERN_ASSIGN_OR_RETURN(proto::Inode root, store_->Resolve(path));
  if (root.kind() == proto::DIRECTORY && !recursive) {
    CISTERN_ASSIGN_OR_RETURN(bool has_children, store_->HasChildren(root.id()));
    if (has_children) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path, "' is a non-empty directory (", verb, " it recursively)"));
    }
  }
  return root;
}

absl::StatusOr<proto::FreeResponse> FileSystemMaster::Free(const proto::FreeRequest& request,
                                                           const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  CISTERN_ASSIGN_OR_RETURN(proto::Inode root,
                           ResolveSubtreeRoot(path, request.recursive(), "free", caller, security::kRead));
  // Checked for every file first, so a refused free frees nothing.
  std::vector<uint64_t> files;
  std::function<absl::Status(const proto::Inode&, const std::string&)> collect =
      [&](const proto::Inode& inode, const std::string& inode_path) -> absl::Status {
    if (inode.kind() == proto::FILE) {
      if (!request.forced() && inode.persistence_state() != proto::PERSISTED) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot free '", inode_path, "': it is not persisted, so its cached blocks are its only copy (force to drop them)"));
      }
      if (!request.forced() && inode.pinned()) {
        return absl::FailedPreconditionError(absl::StrCat("cannot free '", inode_path, "': it is pinned"));
      }
      files.push_back(inode.id());
      return absl::OkStatus();
    }
    return store_->ListChildren(inode.id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      CISTERN_RETURN_IF_ERROR(collect(child, JoinPath(inode_path, child.name())));
      return true;
    });
  };
  CISTERN_RETURN_IF_ERROR(collect(root, path));
  proto::FreeResponse response;
  response.set_freed_files(static_cast<int64_t>(files.size()));
  response.set_freed_blocks(blocks_->RemoveFiles(files));
  return response;
}

absl::Status FileSystemMaster::Mount(const proto::MountRequest& request, const security::Caller& caller) {
  // The RPC edge admits only the superuser (rpc/transport_security.h); checked again here so the
  // rule holds for every caller of this class.
  CISTERN_RETURN_IF_ERROR(permissions_.checker().CheckSuperuser(caller, absl::StrCat("mount '", request.path(), "'")));
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  if (path == "/") return absl::InvalidArgumentError("'/' is the root mount; it cannot be mounted again");
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (earlier.has_value()) return RecordedStatus(*earlier);
  CISTERN_ASSIGN_OR_RETURN(ufs::Uri uri, ufs::ParseUri(request.ufs_uri()));
  const std::string canonical = uri.ToString();
  if (auto it = request.options().find("sync_interval"); it != request.options().end()) {
    CISTERN_RETURN_IF_ERROR_CONTEXT(ParseDurationMs(it->second).status(), "mount option sync_interval");
  }
  for (const proto::MountInfo& m : mounts_->List()) {
    if (m.path() == path) return absl::AlreadyExistsError(absl::StrCat("'", path, "' is already a mount point"));
    CISTERN_ASSIGN_OR_RETURN(ufs::Uri other, ufs::ParseUri(m.ufs_uri()));
    if (other.Root() == uri.Root() &&
        (IsSameOrDescendant(uri.path, other.path) || IsSameOrDescendant(other.path, uri.path))) {
      return absl::InvalidArgumentError(absl::StrCat("cannot mount '", canonical, "' at '", path,
                                                     "': it overlaps the under-store '", m.ufs_uri(),
                                                     "' already mounted at '", m.path(), "'"));
    }
  }
  std::map<std::string, std::string> options(request.options().begin(), request.options().end());
  CISTERN_ASSIGN_OR_RETURN(auto adapter, ufs::CreateUnderFileSystem(canonical, options));
  absl::StatusOr<ufs::UfsStatus> status = adapter->GetStatus(canonical);
  if (!status.ok()) return Annotate(status.status(), absl::StrCat("cannot mount '", canonical, "' at '", path, "'"));
  if (!status->is_directory) {
    return absl::InvalidArgumentError(absl::StrCat("cannot mount '", canonical, "': it is not a directory"));
  }
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(ParentPath(path)));
  CISTERN_RETURN_IF_ERROR(LoadIfMissing(path));
  PathLocks::Held lock = locks_.Lock({path});
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path));
  if (existing.has_value()) {
    if (existing->kind() != proto::DIRECTORY) {
      return absl::AlreadyExistsError(absl::StrCat("cannot mount at '", path, "': a file exists there"));
    }
    CISTERN_ASSIGN_OR_RETURN(bool has_children, store_->HasChildren(existing->id()));
    if (has_children) {
      return absl::FailedPreconditionError(absl::StrCat("cannot mount at '", path, "': it is a non-empty directory"));
    }
  }
  proto::JournalEntry entry;
  proto::AddMountEntry* add = entry.mutable_add_mount();
  proto::MountInfo* mount = add->mutable_mount();
  mount->set_path(path);
  mount->set_ufs_uri(canonical);
  mount->set_read_only(request.read_only());
  mount->set_shared(request.shared());
  *mount->mutable_options() = request.options();
  add->set_time_ms(clock_->NowMs());
  add->set_owner(options_.owner);
  add->set_group(options_.group);
  entry.set_operation_id(request.operation_id());
  CISTERN_RETURN_IF_ERROR(SubmitAndRelease(entry, &lock).status());
  spdlog::info("mounted '{}' at {}{}", canonical, path, request.read_only() ? " (read-only)" : "");
  return absl::OkStatus();
}

absl::Status FileSystemMaster::Unmount(const proto::UnmountRequest& request, const security::Caller& caller) {
  CISTERN_RETURN_IF_ERROR(permissions_.checker().CheckSuperuser(caller, absl::StrCat("unmount '", request.path(), "'")));
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::OperationRecord> earlier, EarlierOutcome(request.operation_id()));
  if (earlier.has_value()) return RecordedStatus(*earlier);
  proto::JournalEntry entry;
  entry.mutable_remove_mount()->set_path(path);
  entry.mutable_remove_mount()->set_time_ms(clock_->NowMs());
  entry.set_operation_id(request.operation_id());
  PathLocks::Held lock = locks_.Lock({path});
  CISTERN_ASSIGN_OR_RETURN(proto::JournalResult result, SubmitAndRelease(entry, &lock));
  blocks_->RemoveFiles({result.removed_file_ids().begin(), result.removed_file_ids().end()});
  spdlog::info("unmounted {}", path);
  return absl::OkStatus();
}

absl::StatusOr<proto::SyncMetadataResponse> FileSystemMaster::SyncMetadata(const proto::SyncMetadataRequest& request,
                                                                           const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  CISTERN_RETURN_IF_ERROR(permissions_.CheckTraverse(caller, path));
  SyncStats stats;
  CISTERN_RETURN_IF_ERROR(syncer_.SyncPath(path, 0, &stats).status());
  CISTERN_RETURN_IF_ERROR(permissions_.CheckAccess(caller, path, security::kRead));
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(path));
  if (inode.kind() == proto::DIRECTORY) CISTERN_RETURN_IF_ERROR(syncer_.SyncChildren(path, 0, request.recursive(), &stats));
  proto::SyncMetadataResponse response;
  response.set_created(stats.created);
  response.set_updated(stats.updated);
  response.set_removed(stats.removed);
  return response;
}

absl::Status FileSystemMaster::CheckTtls() {
  std::vector<uint64_t> expired;
  CISTERN_RETURN_IF_ERROR(store_->ForEachExpired(clock_->NowMs(), [&](int64_t, uint64_t id) -> absl::StatusOr<bool> {
    expired.push_back(id);
    return expired.size() < 1000;  // bounded per round
  }));
  for (uint64_t id : expired) {
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(id));
    if (!inode.has_value() || inode->ttl_ms() <= 0) continue;
    absl::StatusOr<std::string> path = PathOf(*inode);
    if (!path.ok()) continue;
    absl::Status status;
    if (inode->ttl_action() == proto::TTL_FREE) {
      proto::FreeRequest free;
      free.set_path(*path);
      free.set_recursive(true);
      status = Free(free).status();
      // Freed once; clear the TTL so it does not fire again.
      proto::SetAttributeRequest clear;
      clear.set_path(*path);
      clear.set_ttl_ms(0);
      absl::Status cleared = SetAttribute(clear).status();
      if (status.ok()) status = cleared;
    } else {
      proto::DeleteRequest del;
      del.set_path(*path);
      del.set_recursive(true);
      status = Delete(del);
    }
    if (status.ok()) {
      spdlog::info("TTL expired: {} {}", inode->ttl_action() == proto::TTL_FREE ? "freed" : "deleted", *path);
    } else {
      spdlog::warn("TTL action on {} failed: {}", *path, status.ToString());
      if (inode->ttl_action() != proto::TTL_FREE) {
        // Do not retry a failing delete forever every round: clear the TTL and say so.
        proto::SetAttributeRequest clear;
        clear.set_path(*path);
        clear.set_ttl_ms(0);
        (void)SetAttribute(clear);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace cistern::master
