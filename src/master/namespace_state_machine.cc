#include "master/namespace_state_machine.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/block_id.h"
#include "common/path.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

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

// The writes of one entry, plus the id counter as it moves within the entry. Its reads go
// through `pending`: the writes of the entries before it in the same batch.
class NamespaceStateMachine::Txn {
 public:
  Txn(uint64_t next_inode_id, const kv::KvOverlay* pending) : pending(pending), next_inode_id(next_inode_id) {}
  // The one way an inode is written: its record and, for every inode but the root, its entry
  // in the parent's edges (which carries a copy, so a listing is one scan; see
  // namespace_store.h). Creating, changing and moving an inode all come through here.
  void PutInode(const proto::Inode& inode) {
    const std::string value = inode.SerializeAsString();
    if (inode.id() != kRootInodeId) batch.Put(kEdgesCf, EdgeKey(inode.parent_id(), inode.name()), EdgeValue(inode.id(), value));
    batch.Put(kInodesCf, InodeKey(inode.id()), value);
  }
  uint64_t AllocateInodeId() { return next_inode_id++; }

  const kv::KvOverlay* const pending;
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

absl::Status NamespaceStateMachine::MakeDurable() { return store_->kv()->SyncWal(); }

void NamespaceStateMachine::PrepareSnapshot() {
  // Only an optimization: a failure here shows again, and counts, in the snapshot itself.
  absl::Status started = store_->kv()->FlushInBackground();
  if (!started.ok()) spdlog::warn("metastore: background flush before a snapshot: {}", started.ToString());
}

absl::StatusOr<uint64_t> NamespaceStateMachine::CreateSnapshot(const std::string& dir, const std::string& raft_meta) {
  absl::MutexLock lock(&mu_);
  CISTERN_RETURN_IF_ERROR(store_->kv()->CreateCheckpoint(dir));
  if (!raft_meta.empty()) {
    CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<kv::KvStore> copy,
                             kv::KvStore::Open(kv::KvStoreOptions{dir, NamespaceColumnFamilies(), /*sync_writes=*/true}));
    kv::KvWriteBatch batch;
    batch.Put(kMetaCf, kMetaRaftSnapshot, raft_meta);
    CISTERN_RETURN_IF_ERROR(copy->Write(batch));
  }
  return applied_index_;
}

absl::Status NamespaceStateMachine::InstallSnapshot(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  CISTERN_RETURN_IF_ERROR(store_->ReplaceWith(dir));
  CISTERN_ASSIGN_OR_RETURN(applied_index_, store_->GetMetaUint64(kMetaAppliedIndex));
  CISTERN_ASSIGN_OR_RETURN(next_inode_id_, store_->GetMetaUint64(kMetaNextInodeId));
  if (mounts_changed_) mounts_changed_();
  return absl::OkStatus();
}

absl::StatusOr<std::string> NamespaceStateMachine::InstalledSnapshotMeta() const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> meta, store_->kv()->Get(kMetaCf, kMetaRaftSnapshot));
  return meta.value_or("");
}

int64_t EntryTimeMs(const proto::JournalEntry& entry) {
  switch (entry.entry_case()) {
    case proto::JournalEntry::kMkdir: return entry.mkdir().time_ms();
    case proto::JournalEntry::kCreateFile: return entry.create_file().time_ms();
    case proto::JournalEntry::kCompleteFile: return entry.complete_file().time_ms();
    case proto::JournalEntry::kDelete: return entry.delete_().time_ms();
    case proto::JournalEntry::kRename: return entry.rename().time_ms();
    case proto::JournalEntry::kAddMount: return entry.add_mount().time_ms();
    case proto::JournalEntry::kSetAttribute: return entry.set_attribute().time_ms();
    case proto::JournalEntry::kRemoveMount: return entry.remove_mount().time_ms();
    case proto::JournalEntry::kUfsSync: return entry.ufs_sync().time_ms();
    case proto::JournalEntry::kPersistJob: return entry.persist_job().time_ms();
    case proto::JournalEntry::kPersistFile: return entry.persist_file().time_ms();
    case proto::JournalEntry::ENTRY_NOT_SET: return 0;
  }
  return 0;
}

absl::Status NamespaceStateMachine::ApplyEntry(const proto::JournalEntry& entry, Txn* txn) {
  switch (entry.entry_case()) {
    case proto::JournalEntry::kMkdir: return ApplyMkdir(entry.mkdir(), txn);
    case proto::JournalEntry::kCreateFile: return ApplyCreateFile(entry.create_file(), txn);
    case proto::JournalEntry::kCompleteFile: return ApplyCompleteFile(entry.complete_file(), txn);
    case proto::JournalEntry::kDelete: return ApplyDelete(entry.delete_(), txn);
    case proto::JournalEntry::kRename: return ApplyRename(entry.rename(), txn);
    case proto::JournalEntry::kAddMount: return ApplyAddMount(entry.add_mount(), txn);
    case proto::JournalEntry::kSetAttribute: return ApplySetAttribute(entry.set_attribute(), txn);
    case proto::JournalEntry::kRemoveMount: return ApplyRemoveMount(entry.remove_mount(), txn);
    case proto::JournalEntry::kUfsSync: return ApplyUfsSync(entry.ufs_sync(), txn);
    case proto::JournalEntry::kPersistJob: return ApplyPersistJob(entry.persist_job(), txn);
    case proto::JournalEntry::kPersistFile: return ApplyPersistFile(entry.persist_file(), txn);
    // A Raft no-op: a new leader's first entry of its term, or a read barrier. It only
    // consumes its index.
    case proto::JournalEntry::ENTRY_NOT_SET: return absl::OkStatus();
  }
  return absl::InvalidArgumentError("journal entry of an unknown kind");
}

absl::Status NamespaceStateMachine::RecordOperation(const proto::JournalEntry& entry,
                                                    const journal::ApplyOutcome& outcome, const kv::KvOverlay& pending,
                                                    kv::KvWriteBatch* batch) {
  const int64_t time_ms = EntryTimeMs(entry);
  proto::OperationRecord record;
  record.set_time_ms(time_ms);
  record.set_status_code(static_cast<int32_t>(outcome.status.code()));
  record.set_status_message(std::string(outcome.status.message()));
  *record.mutable_result() = outcome.result;
  batch->Put(kOperationsCf, entry.operation_id(), record.SerializeAsString());
  const std::string expiry_key = OpExpiryKey(time_ms, entry.operation_id());
  batch->Put(kOpExpiryCf, expiry_key, "");
  // Prune a bounded number of old records per entry, so pruning keeps pace with creation. The
  // scan starts where the last one stopped: everything before is already deleted, and a scan
  // from the start would step over all those deleted keys (until compaction drops them) every
  // time. It is skipped while the oldest record left is known to be too young. Which records
  // go is still decided by the state alone (the oldest ones before the limit), so replicas
  // prune alike.
  const int64_t limit_ms = std::max<int64_t>(time_ms - kOperationRetentionMs, 0);
  if (!oldest_record_ms_.has_value() || *oldest_record_ms_ < limit_ms) {
    int pruned = 0;
    const std::string limit = kv::EncodeUint64(static_cast<uint64_t>(limit_ms));
    std::string next_cursor = prune_cursor_;
    int64_t oldest_left = std::numeric_limits<int64_t>::max();
    CISTERN_RETURN_IF_ERROR(pending.Scan(*store_->kv(), kOpExpiryCf, "", prune_cursor_, [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
      if (key.size() < 8) return absl::DataLossError("metastore: corrupt operation-expiry key");
      if (key.substr(0, 8) >= limit || pruned >= kMaxPrunedPerEntry) {
        oldest_left = static_cast<int64_t>(kv::DecodeUint64(key));
        return false;
      }
      batch->Delete(kOpExpiryCf, key);
      batch->Delete(kOperationsCf, key.substr(8));
      next_cursor.assign(key);
      next_cursor.push_back('\0');  // the first key after this one
      ++pruned;
      return true;
    }));
    prune_cursor_ = std::move(next_cursor);
    oldest_record_ms_ = oldest_left;
  }
  // The record added here (keys before the cursor must stay none, also for a clock that went back).
  if (expiry_key < prune_cursor_) prune_cursor_ = expiry_key;
  oldest_record_ms_ = std::min(*oldest_record_ms_, time_ms);
  return absl::OkStatus();
}

absl::StatusOr<journal::ApplyOutcome> NamespaceStateMachine::Apply(uint64_t index, const proto::JournalEntry& entry) {
  const proto::JournalEntry* one[] = {&entry};
  CISTERN_ASSIGN_OR_RETURN(std::vector<journal::ApplyOutcome> outcomes, ApplyBatch(index, one));
  return std::move(outcomes.front());
}

absl::StatusOr<std::vector<journal::ApplyOutcome>> NamespaceStateMachine::ApplyBatch(
    uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries) {
  return ApplyBatchImpl(first_index, entries, nullptr);
}

absl::StatusOr<std::vector<journal::ApplyOutcome>> NamespaceStateMachine::ApplyBatchWithEffects(
    uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries, std::string* effects) {
  effects->clear();
  return ApplyBatchImpl(first_index, entries, effects);
}

absl::StatusOr<std::vector<journal::ApplyOutcome>> NamespaceStateMachine::ApplyBatchImpl(
    uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries, std::string* effects) {
  absl::MutexLock lock(&mu_);
  if (entries.empty()) return std::vector<journal::ApplyOutcome>();
  if (first_index != applied_index_ + 1) {
    return absl::InternalError(absl::StrCat("journal index ", first_index, " applied after ", applied_index_));
  }
  std::vector<journal::ApplyOutcome> outcomes;
  outcomes.reserve(entries.size());
  // Each entry reads what the ones before it wrote (`pending`), exactly as if each had been
  // committed on its own; all of them are then committed in one write with one applied index.
  kv::KvOverlay pending;
  kv::KvWriteBatch only;  // a batch of one entry is written as it is
  uint64_t next_inode_id = next_inode_id_;
  bool mounts_changed = false;
  for (const proto::JournalEntry* entry : entries) {
    journal::ApplyOutcome outcome;
    kv::KvWriteBatch batch;
    Txn txn(next_inode_id, &pending);
    std::optional<proto::OperationRecord> earlier;
    if (!entry->operation_id().empty()) {
      CISTERN_ASSIGN_OR_RETURN(earlier, store_->GetOperation(entry->operation_id(), &pending));
    }
    if (earlier.has_value()) {
      // A retry of an operation already applied: answer as the first time, change nothing.
      outcome.status = absl::Status(static_cast<absl::StatusCode>(earlier->status_code()), earlier->status_message());
      outcome.result = earlier->result();
    } else {
      absl::Status status = ApplyEntry(*entry, &txn);
      if (!status.ok() && !IsApplyOutcomeError(status)) return status;
      outcome.status = status;
      if (status.ok()) {
        batch = std::move(txn.batch);
        outcome.result = std::move(txn.result);
        next_inode_id = txn.next_inode_id;
        mounts_changed = mounts_changed || txn.mounts_changed;
      }
      if (!entry->operation_id().empty()) CISTERN_RETURN_IF_ERROR(RecordOperation(*entry, outcome, pending, &batch));
    }
    if (entries.size() == 1) {
      only = std::move(batch);
    } else {
      CISTERN_RETURN_IF_ERROR(pending.Add(std::move(batch)));
    }
    outcomes.push_back(std::move(outcome));
  }
  const uint64_t last_index = first_index + entries.size() - 1;
  kv::KvWriteBatch batch = entries.size() == 1 ? std::move(only) : pending.Take();
  batch.Put(kMetaCf, kMetaAppliedIndex, kv::EncodeUint64(last_index));
  if (next_inode_id != next_inode_id_) batch.Put(kMetaCf, kMetaNextInodeId, kv::EncodeUint64(next_inode_id));
  CISTERN_RETURN_IF_ERROR(store_->Commit(batch, last_index));
  applied_index_ = last_index;
  next_inode_id_ = next_inode_id;
  if (effects != nullptr) {
    proto::NamespaceApplyEffects out;
    out.set_write_batch(batch.Encode());
    out.set_next_inode_id(next_inode_id);
    out.set_prune_cursor(prune_cursor_);
    out.set_oldest_record_known(oldest_record_ms_.has_value());
    out.set_oldest_record_ms(oldest_record_ms_.value_or(0));
    out.set_mounts_changed(mounts_changed);
    out.SerializeToString(effects);
  }
  if (mounts_changed && mounts_changed_) mounts_changed_();
  return outcomes;
}

absl::Status NamespaceStateMachine::InstallEffects(uint64_t first_index, uint64_t last_index,
                                                   absl::Span<const std::string* const> effects) {
  absl::MutexLock lock(&mu_);
  if (first_index != applied_index_ + 1 || last_index < first_index || effects.empty()) {
    return absl::InternalError(absl::StrCat("apply effects for journal entries ", first_index, "..", last_index,
                                            " installed after ", applied_index_));
  }
  // Decode everything before writing anything: bad effects leave the state as it was.
  static const int column_families = static_cast<int>(NamespaceColumnFamilies().size());
  kv::KvWriteBatch batch;
  proto::NamespaceApplyEffects last;
  bool mounts_changed = false;
  for (size_t i = 0; i < effects.size(); ++i) {
    proto::NamespaceApplyEffects e;
    if (!e.ParseFromString(*effects[i])) {
      return absl::DataLossError(absl::StrCat("apply effects ", i, " for journal entries ", first_index, "..",
                                              last_index, " do not parse"));
    }
    absl::StatusOr<kv::KvWriteBatch> decoded =
        kv::KvWriteBatch::Decode(e.write_batch(), column_families);
    if (!decoded.ok()) {
      return absl::DataLossError(absl::StrCat("apply effects ", i, " for journal entries ", first_index, "..",
                                              last_index, ": ", decoded.status().message()));
    }
    batch.Append(*std::move(decoded));
    mounts_changed = mounts_changed || e.mounts_changed();
    e.clear_write_batch();
    last = std::move(e);
  }
  // The journal's word on what the batch covers, whatever the effects recorded.
  batch.Put(kMetaCf, kMetaAppliedIndex, kv::EncodeUint64(last_index));
  CISTERN_RETURN_IF_ERROR(store_->Commit(batch, last_index));
  applied_index_ = last_index;
  next_inode_id_ = last.next_inode_id();
  prune_cursor_ = last.prune_cursor();
  oldest_record_ms_ = last.oldest_record_known() ? std::optional<int64_t>(last.oldest_record_ms()) : std::nullopt;
  if (mounts_changed && mounts_changed_) mounts_changed_();
  return absl::OkStatus();
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
  // Created here, so its (empty) contents are known; loaded directories reset this to 0.
  inode.set_last_sync_ms(time_ms);
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
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> current, store->GetInode(kRootInodeId, txn->pending));
  if (!current.has_value()) return absl::DataLossError("metastore: root inode missing");
  bool creating = false;
  std::string walked;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& name = parts[i];
    const std::string child_path = JoinPath(walked.empty() ? "/" : walked, name);
    std::optional<uint64_t> child;
    if (!creating) {
      CISTERN_ASSIGN_OR_RETURN(child, store->GetChildId(current->id(), name, txn->pending));
    }
    if (child.has_value()) {
      CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> next, store->GetInode(*child, txn->pending));
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
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path, txn->pending));
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
  txn->result.set_inode_id(dir.id());
  return absl::OkStatus();
}

// Adds the ids of every file at or below `inode` to `result` and its keys' deletes to `txn`.
static absl::Status RemoveSubtree(NamespaceStore* store, const kv::KvOverlay* pending, const proto::Inode& inode,
                                  kv::KvWriteBatch* batch, proto::JournalResult* result) {
  if (inode.kind() == proto::DIRECTORY) {
    absl::Status status = store->ListChildren(inode.id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      CISTERN_RETURN_IF_ERROR(RemoveSubtree(store, pending, child, batch, result));
      return true;
    }, pending);
    CISTERN_RETURN_IF_ERROR(status);
  } else {
    result->add_removed_file_ids(inode.id());
  }
  if (TtlExpiryMs(inode) > 0) batch->Delete(kTtlCf, TtlKey(TtlExpiryMs(inode), inode.id()));
  if (inode.pinned()) batch->Delete(kPinnedCf, InodeKey(inode.id()));
  if (inode.persistence_state() == proto::TO_BE_PERSISTED) batch->Delete(kPersistCf, InodeKey(inode.id()));
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
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path, txn->pending));
  if (existing.has_value()) {
    if (existing->kind() == proto::DIRECTORY) {
      return absl::AlreadyExistsError(absl::StrCat("'", std::string(path), "' already exists and is a directory"));
    }
    if (!e.overwrite()) return absl::AlreadyExistsError(absl::StrCat("file '", std::string(path), "' already exists"));
    CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, txn->pending, *existing, &txn->batch, &txn->result));
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
  file.set_write_type(e.write_type());
  file.set_last_sync_ms(e.time_ms());
  if (e.write_type() == proto::ASYNC_THROUGH) {
    // Its blocks will be the only copy until persisted: the job exists (and protects them on
    // workers) from the start, and is scheduled when the file is complete.
    file.set_persistence_state(proto::TO_BE_PERSISTED);
    proto::PersistJob job;
    job.set_created_ms(e.time_ms());
    txn->batch.Put(kPersistCf, InodeKey(file.id()), job.SerializeAsString());
  } else {
    file.set_persistence_state(proto::NOT_PERSISTED);
  }
  txn->PutInode(file);
  txn->result.set_inode_id(file.id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyCompleteFile(const proto::CompleteFileEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(e.file_id(), txn->pending));
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
  const bool had_job = inode->persistence_state() == proto::TO_BE_PERSISTED;
  inode->set_persistence_state(e.persistence_state());
  *inode->mutable_ufs_fingerprint() = e.ufs_fingerprint();
  inode->set_last_sync_ms(e.time_ms());
  txn->PutInode(*inode);
  if (e.persistence_state() == proto::TO_BE_PERSISTED) {
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::PersistJob> job, store_->GetPersistJob(inode->id(), txn->pending));
    if (!job.has_value()) {
      job.emplace();
      job->set_created_ms(e.time_ms());
    }
    job->set_next_attempt_ms(e.time_ms());  // due now that the file is complete
    txn->batch.Put(kPersistCf, InodeKey(inode->id()), job->SerializeAsString());
  } else if (had_job) {
    txn->batch.Delete(kPersistCf, InodeKey(inode->id()));
  }
  txn->result.set_inode_id(inode->id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyPersistJob(const proto::PersistJobEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(e.file_id(), txn->pending));
  if (!inode.has_value() || inode->kind() != proto::FILE) {
    return absl::NotFoundError(absl::StrCat("file id ", e.file_id(), " does not exist"));
  }
  switch (inode->persistence_state()) {
    case proto::TO_BE_PERSISTED:
      break;
    case proto::NOT_PERSISTED:
      if (!e.start()) {
        return absl::FailedPreconditionError(absl::StrCat("file '", inode->name(), "' is not being persisted"));
      }
      if (!inode->completed()) {
        return absl::FailedPreconditionError(absl::StrCat("file '", inode->name(), "' is still being written"));
      }
      inode->set_persistence_state(proto::TO_BE_PERSISTED);
      txn->PutInode(*inode);
      break;
    default:
      return absl::FailedPreconditionError(absl::StrCat("file '", inode->name(), "' is already persisted"));
  }
  txn->batch.Put(kPersistCf, InodeKey(inode->id()), e.job().SerializeAsString());
  txn->result.set_inode_id(inode->id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyPersistFile(const proto::PersistFileEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(e.file_id(), txn->pending));
  if (!inode.has_value() || inode->kind() != proto::FILE) {
    return absl::NotFoundError(absl::StrCat("file id ", e.file_id(), " does not exist"));
  }
  if (inode->persistence_state() != proto::TO_BE_PERSISTED || !inode->completed()) {
    return absl::FailedPreconditionError(absl::StrCat("file '", inode->name(), "' is not waiting to be persisted"));
  }
  if (e.ufs_fingerprint().length() != inode->length()) {
    return absl::InvalidArgumentError(absl::StrCat("under-store copy of '", inode->name(), "' has ",
                                                   e.ufs_fingerprint().length(), " bytes, the file ", inode->length()));
  }
  inode->set_persistence_state(proto::PERSISTED);
  *inode->mutable_ufs_fingerprint() = e.ufs_fingerprint();
  inode->set_last_sync_ms(e.time_ms());
  txn->PutInode(*inode);
  txn->batch.Delete(kPersistCf, InodeKey(inode->id()));
  txn->result.set_inode_id(inode->id());
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplyDelete(const proto::DeleteEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  if (path == "/") return absl::InvalidArgumentError("the root directory '/' cannot be deleted");
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(path, txn->pending));
  if (inode.kind() == proto::DIRECTORY && !e.recursive()) {
    CISTERN_ASSIGN_OR_RETURN(bool has_children, store_->HasChildren(inode.id(), txn->pending));
    if (has_children) {
      return absl::FailedPreconditionError(
          absl::StrCat("directory '", std::string(path), "' is not empty (delete it recursively)"));
    }
  }
  CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, txn->pending, inode, &txn->batch, &txn->result));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent, store_->GetInode(inode.parent_id(), txn->pending));
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
  CISTERN_ASSIGN_OR_RETURN(proto::Inode inode, store_->Resolve(src, txn->pending));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(dst, txn->pending));
  if (existing.has_value()) return absl::AlreadyExistsError(absl::StrCat("rename destination '", dst, "' already exists"));
  const std::string dst_parent_path = ParentPath(dst);
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> dst_parent, store_->Lookup(dst_parent_path, txn->pending));
  if (!dst_parent.has_value()) {
    return absl::NotFoundError(absl::StrCat("parent directory '", dst_parent_path, "' of '", dst, "' does not exist"));
  }
  if (dst_parent->kind() != proto::DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("'", dst_parent_path, "' is not a directory"));
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> src_parent, store_->GetInode(inode.parent_id(), txn->pending));
  if (!src_parent.has_value()) return absl::DataLossError(absl::StrCat("metastore: parent of '", src, "' missing"));
  txn->batch.Delete(kEdgesCf, EdgeKey(inode.parent_id(), inode.name()));
  inode.set_parent_id(dst_parent->id());
  inode.set_name(BaseName(dst));
  txn->PutInode(inode);
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
  CISTERN_ASSIGN_OR_RETURN(uint64_t next_mount_id, store_->GetMetaUint64(kMetaNextMountId, txn->pending));
  CISTERN_ASSIGN_OR_RETURN(std::vector<proto::MountInfo> mounts, store_->LoadMounts(txn->pending));
  for (const proto::MountInfo& m : mounts) {
    if (m.path() == path) return absl::AlreadyExistsError(absl::StrCat("'", path, "' is already a mount point"));
  }
  if (path != "/") {
    // The mount point becomes a directory whose children are loaded from the new under-store.
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->Lookup(path, txn->pending));
    if (existing.has_value()) {
      if (existing->kind() != proto::DIRECTORY) {
        return absl::AlreadyExistsError(absl::StrCat("mount point '", path, "' exists and is a file"));
      }
      CISTERN_ASSIGN_OR_RETURN(bool has_children, store_->HasChildren(existing->id(), txn->pending));
      if (has_children) {
        return absl::FailedPreconditionError(absl::StrCat("mount point '", path, "' is a non-empty directory"));
      }
      existing->set_last_sync_ms(0);
      existing->set_persistence_state(proto::PERSISTED);
      txn->PutInode(*existing);
    } else {
      CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent, store_->Lookup(ParentPath(path), txn->pending));
      if (!parent.has_value() || parent->kind() != proto::DIRECTORY) {
        return absl::NotFoundError(absl::StrCat("parent directory '", ParentPath(path), "' of mount point '", path,
                                                "' does not exist"));
      }
      proto::Inode dir = NewDirectory(txn->AllocateInodeId(), parent->id(), BaseName(path), 0755, e.owner(), e.group(),
                                      e.time_ms(), proto::PERSISTED);
      dir.set_last_sync_ms(0);
      txn->PutInode(dir);
    }
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

absl::Status NamespaceStateMachine::ApplyRemoveMount(const proto::RemoveMountEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  if (path == "/") return absl::InvalidArgumentError("the root mount cannot be removed");
  CISTERN_ASSIGN_OR_RETURN(std::vector<proto::MountInfo> mounts, store_->LoadMounts(txn->pending));
  const proto::MountInfo* target = nullptr;
  for (const proto::MountInfo& m : mounts) {
    if (m.path() == path) target = &m;
  }
  if (target == nullptr) return absl::NotFoundError(absl::StrCat("'", path, "' is not a mount point"));
  for (const proto::MountInfo& m : mounts) {
    if (m.path() != path && IsSameOrDescendant(m.path(), path)) {
      return absl::FailedPreconditionError(
          absl::StrCat("'", path, "' has a nested mount at '", m.path(), "'; unmount that first"));
    }
  }
  txn->batch.Delete(kMountsCf, MountKey(target->mount_id()));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> dir, store_->Lookup(path, txn->pending));
  if (dir.has_value()) {
    CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, txn->pending, *dir, &txn->batch, &txn->result));
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> parent, store_->GetInode(dir->parent_id(), txn->pending));
    if (parent.has_value()) {
      parent->set_modification_time_ms(e.time_ms());
      txn->PutInode(*parent);
    }
  }
  txn->mounts_changed = true;
  return absl::OkStatus();
}

absl::Status NamespaceStateMachine::ApplySetAttribute(const proto::SetAttributeEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  if (e.has_mode() && e.mode() > 07777) {
    return absl::InvalidArgumentError(absl::StrCat("mode ", absl::StrFormat("%o", e.mode()), " for '", path, "' is not a valid permission mode"));
  }
  if (e.has_owner() && e.owner().empty()) return absl::InvalidArgumentError(absl::StrCat("empty owner for '", path, "'"));
  if (e.has_group() && e.group().empty()) return absl::InvalidArgumentError(absl::StrCat("empty group for '", path, "'"));
  if (e.has_ttl_ms() && e.ttl_ms() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("TTL ", e.ttl_ms(), " ms for '", path, "' is negative"));
  }
  if ((e.has_replication_min() && e.replication_min() < 0) || (e.has_replication_max() && e.replication_max() < 0)) {
    return absl::InvalidArgumentError(absl::StrCat("negative replication for '", path, "'"));
  }
  CISTERN_ASSIGN_OR_RETURN(proto::Inode root, store_->Resolve(path, txn->pending));
  std::function<absl::Status(proto::Inode)> update = [&](proto::Inode inode) -> absl::Status {
    const int64_t old_expiry = TtlExpiryMs(inode);
    if (e.has_mode()) inode.set_mode(e.mode());
    if (e.has_owner()) inode.set_owner(e.owner());
    if (e.has_group()) inode.set_group(e.group());
    if (e.has_pinned() && inode.pinned() != e.pinned()) {
      inode.set_pinned(e.pinned());
      // Only files are indexed: workers pin blocks, and blocks belong to files.
      if (inode.kind() == proto::FILE) {
        if (e.pinned()) {
          txn->batch.Put(kPinnedCf, InodeKey(inode.id()), "");
        } else {
          txn->batch.Delete(kPinnedCf, InodeKey(inode.id()));
        }
      }
    }
    if (e.has_ttl_ms()) {
      inode.set_ttl_ms(e.ttl_ms());
      inode.set_ttl_action(e.ttl_ms() > 0 ? e.ttl_action() : proto::TTL_ACTION_UNSPECIFIED);
    }
    const int32_t rmin = e.has_replication_min() ? e.replication_min() : inode.replication_min();
    const int32_t rmax = e.has_replication_max() ? e.replication_max() : inode.replication_max();
    if (rmax != 0 && rmin > rmax) {
      return absl::InvalidArgumentError(absl::StrCat("replication min ", rmin, " exceeds max ", rmax, " for '", path, "'"));
    }
    inode.set_replication_min(rmin);
    inode.set_replication_max(rmax);
    const int64_t new_expiry = TtlExpiryMs(inode);
    if (old_expiry != new_expiry) {
      if (old_expiry > 0) txn->batch.Delete(kTtlCf, TtlKey(old_expiry, inode.id()));
      if (new_expiry > 0) txn->batch.Put(kTtlCf, TtlKey(new_expiry, inode.id()), "");
    }
    txn->PutInode(inode);
    if (e.recursive() && inode.kind() == proto::DIRECTORY) {
      return store_->ListChildren(inode.id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
        CISTERN_RETURN_IF_ERROR(update(child));
        return true;
      }, txn->pending);
    }
    return absl::OkStatus();
  };
  CISTERN_RETURN_IF_ERROR(update(root));
  txn->result.set_inode_id(root.id());
  return absl::OkStatus();
}

namespace {

bool SameFingerprint(const proto::Inode& inode, const proto::UfsChild& child) {
  const proto::UfsFingerprint& f = inode.ufs_fingerprint();
  if (f.length() != child.length()) return false;
  if (!f.etag().empty() || !child.etag().empty()) return f.etag() == child.etag();
  return f.mtime_ms() == child.mtime_ms();
}

}  // namespace

absl::Status NamespaceStateMachine::ApplyUfsSync(const proto::UfsSyncEntry& e, Txn* txn) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(e.path()));
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> dir, store_->Lookup(path, txn->pending));
  if (!dir.has_value() || dir->kind() != proto::DIRECTORY) {
    return absl::NotFoundError(absl::StrCat("directory '", path, "' to sync no longer exists"));
  }
  if (e.block_size_bytes() <= 0) return absl::InvalidArgumentError("sync entry without a block size");
  bool changed = false;
  CISTERN_ASSIGN_OR_RETURN(std::vector<proto::MountInfo> mounts, store_->LoadMounts(txn->pending));
  for (const std::string& name : e.removed()) {
    const std::string child_path = JoinPath(path, name);
    if (std::any_of(mounts.begin(), mounts.end(), [&](const proto::MountInfo& m) { return m.path() == child_path; })) {
      continue;  // a mount point is not part of its parent's under-store
    }
    CISTERN_ASSIGN_OR_RETURN(std::optional<uint64_t> id, store_->GetChildId(dir->id(), name, txn->pending));
    if (!id.has_value()) continue;
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> child, store_->GetInode(*id, txn->pending));
    // Only what the under-store holds may disappear with it: not cache-only or unfinished files.
    if (!child.has_value() || child->persistence_state() != proto::PERSISTED || !child->completed()) continue;
    CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, txn->pending, *child, &txn->batch, &txn->result));
    changed = true;
  }
  for (const proto::UfsChild& u : e.upserts()) {
    if (u.name().empty() || u.name().find('/') != std::string::npos || u.name().size() > kMaxNameLength) continue;
    CISTERN_ASSIGN_OR_RETURN(std::optional<uint64_t> id, store_->GetChildId(dir->id(), u.name(), txn->pending));
    if (id.has_value()) {
      CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> existing, store_->GetInode(*id, txn->pending));
      if (!existing.has_value()) continue;
      if (existing->kind() == proto::DIRECTORY && u.is_directory()) continue;
      if (existing->kind() == proto::FILE && !u.is_directory() && SameFingerprint(*existing, u)) continue;
      if (existing->persistence_state() != proto::PERSISTED || !existing->completed()) continue;
      // Changed behind Cistern's back: a new inode (and so new block ids) replaces the old one.
      CISTERN_RETURN_IF_ERROR(RemoveSubtree(store_, txn->pending, *existing, &txn->batch, &txn->result));
    }
    proto::Inode inode;
    if (u.is_directory()) {
      inode = NewDirectory(txn->AllocateInodeId(), dir->id(), u.name(), u.mode() != 0 ? u.mode() & 07777 : 0755,
                           e.owner(), e.group(), u.mtime_ms(), proto::PERSISTED);
      inode.set_last_sync_ms(0);
    } else {
      inode.set_id(txn->AllocateInodeId());
      inode.set_parent_id(dir->id());
      inode.set_name(u.name());
      inode.set_kind(proto::FILE);
      inode.set_length(u.length());
      inode.set_block_size_bytes(e.block_size_bytes());
      inode.set_mode(u.mode() != 0 ? u.mode() & 07777 : 0644);
      inode.set_owner(e.owner());
      inode.set_group(e.group());
      inode.set_creation_time_ms(u.mtime_ms());
      inode.set_modification_time_ms(u.mtime_ms());
      inode.set_completed(true);
      inode.set_persistence_state(proto::PERSISTED);
      inode.set_write_type(proto::THROUGH);
      inode.mutable_ufs_fingerprint()->set_length(u.length());
      inode.mutable_ufs_fingerprint()->set_mtime_ms(u.mtime_ms());
      inode.mutable_ufs_fingerprint()->set_etag(u.etag());
      inode.set_last_sync_ms(e.time_ms());
    }
    txn->PutInode(inode);
    changed = true;
  }
  if (e.complete_listing() || changed) {
    // Re-read: RemoveSubtree/PutInode above never rewrite the directory inode itself.
    if (e.complete_listing()) dir->set_last_sync_ms(e.time_ms());
    if (changed) dir->set_modification_time_ms(std::max(dir->modification_time_ms(), e.time_ms()));
    txn->PutInode(*dir);
  }
  txn->result.set_inode_id(dir->id());
  return absl::OkStatus();
}

}  // namespace cistern::master
