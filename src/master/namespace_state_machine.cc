#include "master/namespace_state_machine.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::master {

bool IsApplyOutcomeError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return true;
    default:
      return false;
  }
}

// The writes of one entry, plus the id counter as it moves within the entry.
class NamespaceStateMachine::Txn {
 public:
  explicit Txn(uint64_t next_inode_id) : next_inode_id(next_inode_id) {}
  void PutInode(const proto::Inode& inode) { batch.Put(kInodesCf, InodeKey(inode.id()), inode.SerializeAsString()); }
  void PutEdge(uint64_t parent, std::string_view name, uint64_t child) {
    batch.Put(kEdgesCf, EdgeKey(parent, name), kv::EncodeUint64(child));
  }
  uint64_t AllocateInodeId() { return next_inode_id++; }

  kv::KvWriteBatch batch;
  proto::JournalResult result;
  uint64_t next_inode_id;
  bool mounts_changed = false;
};

absl::StatusOr<std::unique_ptr<NamespaceStateMachine>> NamespaceStateMachine::Create(NamespaceStore* store) {
  CISTERN_ASSIGN_OR_RETURN(uint64_t applied, store->GetMetaUint64(kMetaAppliedIndex));
  CISTERN_ASSIGN_OR_RETURN(uint64_t next_id, store->GetMetaUint64(kMetaNextInodeId));
  return std::unique_ptr<NamespaceStateMachine>(new NamespaceStateMachine(store, applied, next_id));
}

NamespaceStateMachine::NamespaceStateMachine(NamespaceStore* store, uint64_t applied_index, uint64_t next_inode_id)
    : store_(store), applied_index_(applied_index), next_inode_id_(next_inode_id) {}

uint64_t NamespaceStateMachine::last_applied_index() const {
  absl::MutexLock lock(&mu_);
  return applied_index_;
}

absl::StatusOr<journal::ApplyOutcome> NamespaceStateMachine::Apply(uint64_t index, const proto::JournalEntry& entry) {
  absl::MutexLock lock(&mu_);
  if (index != applied_index_ + 1) {
    return absl::InternalError(absl::StrCat("journal index ", index, " applied after ", applied_index_));
  }
  Txn txn(next_inode_id_);
  absl::Status status;
  switch (entry.entry_case()) {
    case proto::JournalEntry::kMkdir: status = ApplyMkdir(entry.mkdir(), &txn); break;
    case proto::JournalEntry::kCreateFile: status = ApplyCreateFile(entry.create_file(), &txn); break;
    case proto::JournalEntry::kCompleteFile: status = ApplyCompleteFile(entry.complete_file(), &txn); break;
    case proto::JournalEntry::kDelete: status = ApplyDelete(entry.delete_(), &txn); break;
    case proto::JournalEntry::kRename: status = ApplyRename(entry.rename(), &txn); break;
    case proto::JournalEntry::kAddMount: status = ApplyAddMount(entry.add_mount(), &txn); break;
    case proto::JournalEntry::ENTRY_NOT_SET:
      status = absl::InvalidArgumentError(absl::StrCat("journal entry ", index, " is empty"));
      break;
  }
  if (!status.ok() && !IsApplyOutcomeError(status)) return status;
  journal::ApplyOutcome outcome;
  outcome.status = status;
  kv::KvWriteBatch batch;
  if (status.ok()) {
    batch = std::move(txn.batch);
    outcome.result = std::move(txn.result);
  }
  batch.Put(kMetaCf, kMetaAppliedIndex, kv::EncodeUint64(index));
  if (status.ok() && txn.next_inode_id != next_inode_id_) {
    batch.Put(kMetaCf, kMetaNextInodeId, kv::EncodeUint64(txn.next_inode_id));
  }
  CISTERN_RETURN_IF_ERROR(store_->kv()->Write(batch));
  applied_index_ = index;
  if (status.ok()) next_inode_id_ = txn.next_inode_id;
  if (status.ok() && txn.mounts_changed && mounts_changed_) mounts_changed_();
  return outcome;
}

namespace {

proto::Inode NewDirectory(uint64_t id, uint64_t parent, std::string_view name, uint32_t mode, std::string_view owner,
                          std::string_view group, int64_t time_ms, proto::PersistenceState persistence) {
  proto::Inode inode;
  inode.set_id(id);
  inode.set_parent_id(parent);
  inode.set_name(std::string(name));
  inode.set_kind(proto::DIRECTORY);
  inode.set_mode(mode);
  inode.set_owner(std::string(owner));
  inode.set_group(std::string(group));
  inode.set_creation_time_ms(time_ms);
  inode.set_modification_time_ms(time_ms);
  inode.set_completed(true);
  inode.set_persistence_state(persistence);
  return inode;
}

}  // namespace

// Walks `path`'s parent components, creating missing directories when `recursive`. Returns the
// parent directory inode (as it will be after the entry), updating its mtime in `txn`.
absl::StatusOr<proto::Inode> NamespaceStateMachine::CreateParents(std::string_view path, bool recursive,
                                                                  uint32_t dir_mode, std::string_view owner,
                                                                  std::string_view group, int64_t time_ms,
                                                                  proto::PersistenceState persistence, Txn* txn) {
  NamespaceStore* store = store_;
  std::vector<std::string> parts = SplitPath(path);
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> current, store->GetInode(kRootInodeId));
  if (!current.has_value()) return absl::DataLossError("metastore: root inode missing");
  bool creating = false;
  std::string walked;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& name = parts[i];
    const std::string child_path = JoinPath(walked.empty() ? "/" : walked, name);
    std::optional<uint64_t> child;
    if (!creating) {
      CISTERN_ASSIGN_OR_RETURN(child, store->GetChildId(current->id(), name));
    }
    if (child.has_value()) {
      CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> next, store->GetInode(*child));
      if (!next.has_value()) return absl::DataLossError(absl::StrCat("metastore: missing inode ", *child));
      if (next->kind() != proto::DIRECTORY) {
        return absl::FailedPreconditionError(absl::StrCat("'", child_path, "' is not a directory"));
      }
      current = std::move(next);
    } else {
      if (!recursive) {
        return absl::NotFoundError(absl::StrCat("parent directory '", child_path, "' of '", std::string(path),
                                                "' does not exist (use recursive creation)"));
      }
      if (!creating) {
        proto::Inode parent = *current;
        parent.set_modification_time_ms(time_ms);
        txn->PutInode(parent);
      }
      creating = true;
      proto::Inode dir =
          NewDirectory(txn->AllocateInodeId(), current->id(), name, dir_mode, owner, group, time_ms, persistence);
      txn->PutInode(dir);
      txn->PutEdge(current->id(), name, dir.id());
      current = std::move(dir);
    }
    walked = child_path;
  }
  if (!creating) {
    proto::Inode parent = *current;
    parent.set_modification_time_ms(time_ms);
    txn->PutInode(parent);
  }
  return *current;
}

absl::Status NamespaceStateMachine::ApplyMkdir(const proto::MkdirEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  if (path == "/") {
    if (e.allow_exists()) {
      txn->result.set_inode_id(kRootInodeId);
      return absl::OkStatus();
    }
    return absl::AlreadyExistsError("directory '/' already exists");
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path));
  if (existing.has_value()) {
    if (existing->kind() == proto::DIRECTORY && e.allow_exists()) {
      txn->result.set_inode_id(existing->id());
      return absl::OkStatus();
    }
    return absl::AlreadyExistsError(absl::StrCat("path '", std::string(path), "' already exists"));
  }
  const uint32_t dir_mode = e.mode() != 0 ? e.mode() : 0755;
  CISTERN_ASSIGN_OR_RETURN(
      proto::Inode parent,
      CreateParents(path, e.recursive(), dir_mode, e.owner(), e.group(), e.time_ms(), e.persistence_state(), txn));
  proto::Inode dir = NewDirectory(txn->AllocateInodeId(), parent.id(), BaseName(path), dir_mode, e.owner(),
                                  e.group(), e.time_ms(), e.persistence_state());
  txn->PutInode(dir);
  txn->PutEdge(parent.id(), dir.name(), dir.id());
  txn->result.set_inode_id(dir.id());
  return absl::OkStatus();
}

// Adds the ids of every file at or below `inode` to `result` and its keys' deletes to `txn`.
static absl::Status RemoveSubtree(NamespaceStore* store, const proto::Inode& inode, kv::KvWriteBatch* batch,
                                  proto::JournalResult* result) {
  if (inode.kind() == proto::DIRECTORY) {
    absl::Status status = store->ListChildren(inode.id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      CISTERN_RETURN_IF_ERROR(RemoveSubtree(store, child, batch, result));
      return true;
    });
    CISTERN_RETURN_IF_ERROR(status);
  } else {
    result->add_removed_file_ids(inode.id());
  }
  batch->Delete(kInodesCf, InodeKey(inode.id()));
  batch->Delete(kEdgesCf, EdgeKey(inode.parent_id(), inode.name()));
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyCreateFile(const proto::CreateFileEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  if (path == "/") return absl::AlreadyExistsError("'/' is a directory");
  if (e.block_size_bytes() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("block size ", e.block_size_bytes(), " of '", std::string(path), "' must be positive"));
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path));
  if (existing.has_value()) {
    if (existing->kind() == proto::DIRECTORY) {
      return absl::AlreadyExistsError(absl::StrCat("'", std::string(path), "' already exists and is a directory"));
    }
    if (!e.overwrite()) return absl::AlreadyExistsError(absl::StrCat("file '", std::string(path), "' already exists"));
    CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, *existing, &txn->batch, &txn->result));
  }
  CISTERN_ASSIGN_OR_RETURN(
      proto::Inode parent,
      CreateParents(path, e.recursive(), 0755, e.owner(), e.group(), e.time_ms(), proto::PERSISTED, txn));
  proto::Inode file;
  file.set_id(txn->AllocateInodeId());
  if (file.id() >= (uint64_t{1} << (64 - kBlockIndexBits))) {
    return absl::ResourceExhaustedError("inode ids exhausted");
  }
  file.set_parent_id(parent.id());
  file.set_name(BaseName(path));
  file.set_kind(proto::FILE);
  file.set_block_size_bytes(e.block_size_bytes());
  file.set_mode(e.mode() != 0 ? e.mode() : 0644);
  file.set_owner(e.owner());
  file.set_group(e.group());
  file.set_creation_time_ms(e.time_ms());
  file.set_modification_time_ms(e.time_ms());
  file.set_completed(false);
  file.set_persistence_state(proto::NOT_PERSISTED);
  file.set_write_type(e.write_type());
  txn->PutInode(file);
  txn->PutEdge(parent.id(), file.name(), file.id());
  txn->result.set_inode_id(file.id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyCompleteFile(const proto::CompleteFileEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(e.file_id()));
  if (!inode.has_value()) {
    return absl::NotFoundError(absl::StrCat("file id ", e.file_id(), " does not exist (deleted while being written?)"));
  }
  if (inode->kind() != proto::FILE) return absl::InvalidArgumentError(absl::StrCat("inode ", e.file_id(), " is not a file"));
  if (inode->completed()) return absl::FailedPreconditionError(absl::StrCat("file '", inode->name(), "' is already complete"));
  if (e.length() < 0) return absl::InvalidArgumentError(absl::StrCat("file length ", e.length(), " is negative"));
  const int64_t blocks = (e.length() + inode->block_size_bytes() - 1) / inode->block_size_bytes();
  if (static_cast<uint64_t>(blocks) > kMaxBlocksPerFile) {
    return absl::InvalidArgumentError(absl::StrCat("file length ", e.length(), " needs ", blocks,
                                                   " blocks, over the limit of ", kMaxBlocksPerFile));
  }
  inode->set_length(e.length());
  inode->set_completed(true);
  inode->set_modification_time_ms(e.time_ms());
  inode->set_persistence_state(e.persistence_state());
  *inode->mutable_ufs_fingerprint() = e.ufs_fingerprint();
  txn->PutInode(*inode);
  txn->result.set_inode_id(inode->id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyDelete(const proto::DeleteEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  if (path == "/") return absl::InvalidArgumentError("the root directory '/' cannot be deleted");
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(path));
  if (inode.kind() == proto::DIRECTORY && !e.recursive()) {
    CISTERN_ASSIGN_OR_RETURN(bool has_children, store_->HasChildren(inode.id()));
    if (has_children) {
      return absl::FailedPreconditionError(
          absl::StrCat("directory '", std::string(path), "' is not empty (delete it recursively)"));
    }
  }
  CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, inode, &txn->batch, &txn->result));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent, store_->GetInode(inode.parent_id()));
  if (parent.has_value()) {
    parent->set_modification_time_ms(e.time_ms());
    txn->PutInode(*parent);
  }
  txn->result.set_inode_id(inode.id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyRename(const proto::RenameEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string src, NormalizePath(e.src_path()));
  CISTERN_ASSIGN_OR_RETURN(std::string dst, NormalizePath(e.dst_path()));
  if (src == "/" || dst == "/") return absl::InvalidArgumentError("the root directory '/' cannot be renamed");
  if (IsSameOrDescendant(dst, src)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot rename '", src, "' to '", dst, "', inside itself"));
  }
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(src));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(dst));
  if (existing.has_value()) return absl::AlreadyExistsError(absl::StrCat("rename destination '", dst, "' already exists"));
  const std::string dst_parent_path = ParentPath(dst);
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> dst_parent, store_->Lookup(dst_parent_path));
  if (!dst_parent.has_value()) {
    return absl::NotFoundError(absl::StrCat("parent directory '", dst_parent_path, "' of '", dst, "' does not exist"));
  }
  if (dst_parent->kind() != proto::DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("'", dst_parent_path, "' is not a directory"));
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> src_parent, store_->GetInode(inode.parent_id()));
  if (!src_parent.has_value()) return absl::DataLossError(absl::StrCat("metastore: parent of '", src, "' missing"));
  txn->batch.Delete(kEdgesCf, EdgeKey(inode.parent_id(), inode.name()));
  inode.set_parent_id(dst_parent->id());
  inode.set_name(BaseName(dst));
  txn->PutInode(inode);
  txn->PutEdge(dst_parent->id(), inode.name(), inode.id());
  src_parent->set_modification_time_ms(e.time_ms());
  txn->PutInode(*src_parent);
  if (dst_parent->id() != src_parent->id()) {
    dst_parent->set_modification_time_ms(e.time_ms());
    txn->PutInode(*dst_parent);
  }
  txn->result.set_inode_id(inode.id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyAddMount(const proto::AddMountEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.mount().path()));
  CISTERN_ASSIGN_OR_RETURN(uint64_t next_mount_id, store_->GetMetaUint64(kMetaNextMountId));
  for (const proto::MountInfo& m : store_->LoadMounts().value_or(std::vector<proto::MountInfo>{})) {
    if (m.path() == std::string(path)) return absl::AlreadyExistsError(absl::StrCat("'", std::string(path), "' is already a mount point"));
  }
  proto::MountInfo mount = e.mount();
  mount.set_path(path);
  mount.set_mount_id(next_mount_id);
  txn->batch.Put(kMountsCf, MountKey(next_mount_id), mount.SerializeAsString());
  txn->batch.Put(kMetaCf, kMetaNextMountId, kv::EncodeUint64(next_mount_id + 1));
  txn->result.set_inode_id(next_mount_id);
  txn->mounts_changed = true;
  return absl::OkStatus();
}

}  // namespace cistern::master
