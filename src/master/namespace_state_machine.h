// NamespaceStateMachine: applies journal entries to the namespace in the metastore. Each entry,
// or each batch of entries (ApplyBatch: the Raft journal hands over what committed together),
// becomes one KvWriteBatch that also records the last entry's index as applied, so a crash at
// any point leaves either all of them or none, and replay after restart starts at the right
// place. Within a batch each entry reads the writes of the ones before it from a kv::KvOverlay,
// so the outcome is exactly that of applying them one by one.
//
// Applying is deterministic: ids come from the `next_inode_id` counter in the store, times from
// the entry. Preconditions (parent exists, target absent, directory empty...) are checked here,
// at apply time, and a failed one is the entry's outcome (its index is still consumed).
//
// Thread safety: Apply/ApplyBatch are called by the journal one at a time; reads through the
// NamespaceStore may run concurrently (they see a batch all at once, when it is committed).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "journal/journal.h"
#include "master/namespace_store.h"

namespace cistern::master {

class NamespaceStateMachine : public journal::StateMachine {
 public:
  // `store` must outlive this. Reads the applied index from the store.
  static absl::StatusOr<std::unique_ptr<NamespaceStateMachine>> Create(NamespaceStore* store);

  absl::StatusOr<journal::ApplyOutcome> Apply(uint64_t index, const proto::JournalEntry& entry) override;
  // One metastore write for all of `entries` (see StateMachine::ApplyBatch): each entry reads
  // the writes of those before it from an overlay, keys written twice are written once, and
  // the write's keys are sorted.
  absl::StatusOr<std::vector<journal::ApplyOutcome>> ApplyBatch(
      uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries) override;
  // Effects: the batch's KvWriteBatch (encoded) with the counters the batch moved
  // (proto::NamespaceApplyEffects); installing them is one metastore write with no reads.
  absl::StatusOr<std::vector<journal::ApplyOutcome>> ApplyBatchWithEffects(
      uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries, std::string* effects) override;
  absl::Status InstallEffects(uint64_t first_index, uint64_t last_index,
                              absl::Span<const std::string* const> effects) override;
  uint64_t last_applied_index() const override;
  absl::Status MakeDurable() override;
  // Flushes the metastore's memtables in the background: the checkpoint then flushes little.
  void PrepareSnapshot() override;
  // Snapshots are RocksDB checkpoints of the metastore; installing one swaps the metastore's
  // contents (KvStore::ReplaceWith) and reloads what this object caches.
  absl::StatusOr<uint64_t> CreateSnapshot(const std::string& dir, const std::string& raft_meta) override;
  absl::Status InstallSnapshot(const std::string& dir) override;
  absl::StatusOr<std::string> InstalledSnapshotMeta() const override;

  // Called after an entry that changed the mount table was applied (under the apply order).
  void set_mounts_changed_callback(std::function<void()> callback) { mounts_changed_ = std::move(callback); }

 private:
  NamespaceStateMachine(NamespaceStore* store, uint64_t applied_index, uint64_t next_inode_id);

  // Each fills `batch` and `result`, or returns the precondition error for the outcome. A
  // DATA_LOSS/INTERNAL error from the store propagates as a failed apply.
  class Txn;
  // `effects`: null, or where the batch's effects go.
  absl::StatusOr<std::vector<journal::ApplyOutcome>> ApplyBatchImpl(
      uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries, std::string* effects);
  absl::Status ApplyMkdir(const proto::MkdirEntry& e, Txn* txn);
  absl::Status ApplyCreateFile(const proto::CreateFileEntry& e, Txn* txn);
  absl::Status ApplyCompleteFile(const proto::CompleteFileEntry& e, Txn* txn);
  absl::Status ApplyDelete(const proto::DeleteEntry& e, Txn* txn);
  absl::Status ApplyRename(const proto::RenameEntry& e, Txn* txn);
  absl::Status ApplyAddMount(const proto::AddMountEntry& e, Txn* txn);
  absl::Status ApplyRemoveMount(const proto::RemoveMountEntry& e, Txn* txn);
  absl::Status ApplySetAttribute(const proto::SetAttributeEntry& e, Txn* txn);
  absl::Status ApplyUfsSync(const proto::UfsSyncEntry& e, Txn* txn);
  absl::Status ApplyPersistJob(const proto::PersistJobEntry& e, Txn* txn);
  absl::Status ApplyPersistFile(const proto::PersistFileEntry& e, Txn* txn);
  absl::Status ApplyEntry(const proto::JournalEntry& entry, Txn* txn);
  // Records the outcome of `entry`'s operation id and prunes records past the retention.
  absl::Status RecordOperation(const proto::JournalEntry& entry, const journal::ApplyOutcome& outcome,
                               const kv::KvOverlay& pending, kv::KvWriteBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<proto::Inode> CreateParents(std::string_view path, bool recursive, uint32_t dir_mode,
                                             std::string_view owner, std::string_view group, int64_t time_ms,
                                             proto::PersistenceState persistence, Txn* txn);

  NamespaceStore* const store_;
  std::function<void()> mounts_changed_;
  mutable absl::Mutex mu_;
  uint64_t applied_index_ ABSL_GUARDED_BY(mu_);
  uint64_t next_inode_id_ ABSL_GUARDED_BY(mu_);
  // Pruning state (see RecordOperation): no operation-expiry key sorts before prune_cursor_,
  // and oldest_record_ms_ is the time of the first one at or after it (max if none), once known.
  std::string prune_cursor_ ABSL_GUARDED_BY(mu_);
  std::optional<int64_t> oldest_record_ms_ ABSL_GUARDED_BY(mu_);
};

// Operation records pruned at most per applied entry.
inline constexpr int kMaxPrunedPerEntry = 16;

// How long the outcome of an operation id is kept for retries.
inline constexpr int64_t kOperationRetentionMs = 3600 * 1000;

// The time an entry carries (used to prune operation records deterministically).
int64_t EntryTimeMs(const proto::JournalEntry& entry);

// True for errors that are an entry's legitimate outcome rather than a storage failure.
bool IsApplyOutcomeError(const absl::Status& status);

}  // namespace cistern::master
