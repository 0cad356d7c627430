// The journal: the only way the namespace changes. A caller submits a JournalEntry; the journal
// makes it durable and ordered, hands it to the StateMachine with its index, and returns what
// applying it produced. The single-node LocalJournal applies at once; RaftJournal (raft_journal.h)
// replicates first and applies on commit, behind the same interface.
//
// Thread safety: Submit may be called from many threads; entries are applied one at a time in
// index order.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "cistern/proto/journal.pb.h"

namespace cistern::journal {

// What applying one entry produced. A failed precondition (path exists, directory not empty...)
// is a normal outcome: the entry is still consumed and its index still applied, so replicas
// stay identical; `status` carries the error to the proposer.
struct ApplyOutcome {
  absl::Status status;
  proto::JournalResult result;
};

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies `entry` as the entry at `index`, atomically with recording `index` as applied.
  // Deterministic: the same entries in the same order give the same state on every replica.
  // Returns a non-OK Status only when the state could not be written (disk failure): the
  // journal then stops (fail-stop), since continuing would diverge.
  // REQUIRES: index == last_applied_index() + 1.
  virtual absl::StatusOr<ApplyOutcome> Apply(uint64_t index, const proto::JournalEntry& entry) = 0;
  // Applies consecutive entries starting at `first_index`, with the same result as applying
  // them one by one (each sees the ones before), returning one outcome per entry. A state
  // machine may make this cheaper than one Apply each (one write for all); a crash leaves a
  // prefix of whole entries applied (this default) or all or none of them.
  virtual absl::StatusOr<std::vector<ApplyOutcome>> ApplyBatch(uint64_t first_index,
                                                              absl::Span<const proto::JournalEntry* const> entries) {
    std::vector<ApplyOutcome> outcomes;
    outcomes.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      absl::StatusOr<ApplyOutcome> outcome = Apply(first_index + i, *entries[i]);
      if (!outcome.ok()) return outcome.status();
      outcomes.push_back(*std::move(outcome));
    }
    return outcomes;
  }
  // Apply effects (docs/ha.md): ApplyBatch that also returns, in `effects`, an encoding of
  // everything the batch wrote, which another replica at the same state (last_applied_index() ==
  // first_index - 1) installs with InstallEffects instead of applying the same entries. Lets a
  // Raft leader spare its followers the work of applying. Leaves `effects` empty where the state
  // machine has none (this default), and then the entries must be applied.
  virtual absl::StatusOr<std::vector<ApplyOutcome>> ApplyBatchWithEffects(
      uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries, std::string* effects) {
    effects->clear();
    return ApplyBatch(first_index, entries);
  }
  // Installs the effects of consecutive batches, the first starting at first_index (==
  // last_applied_index() + 1) and the last ending at last_index, with the same resulting state as
  // applying their entries. Effects come from another replica: DATA_LOSS if they do not decode
  // (nothing is then written, and the caller applies the entries instead; UNIMPLEMENTED, this
  // default, likewise); another error only when the state could not be written (fail-stop, as
  // for Apply).
  virtual absl::Status InstallEffects(uint64_t first_index, uint64_t last_index,
                                      absl::Span<const std::string* const> effects) {
    return absl::UnimplementedError("this state machine installs no apply effects");
  }
  virtual uint64_t last_applied_index() const = 0;
  // Makes every applied entry durable. Apply may leave its writes unsynced, so that one sync can
  // cover many entries (group commit).
  virtual absl::Status MakeDurable() = 0;
  // Called a while before a snapshot is due, so that the state machine can get ahead of the
  // work CreateSnapshot would otherwise do while the journal waits (e.g. flushing memtables).
  virtual void PrepareSnapshot() {}

  // Snapshots: for log compaction, for followers too far behind, and for backups. A state
  // machine without them answers UNIMPLEMENTED (its journal then keeps the whole log).
  //
  // Writes a consistent, durable copy of the state at last_applied_index() into `dir` (which
  // must not exist), with `raft_meta` (opaque here) stored inside, and returns the index it
  // covers. Not concurrent with Apply.
  virtual absl::StatusOr<uint64_t> CreateSnapshot(const std::string& dir, const std::string& raft_meta) {
    return absl::UnimplementedError("this state machine takes no snapshots");
  }
  // Replaces the whole state with the snapshot in `dir` (made by CreateSnapshot on any replica;
  // consumed). Durable on return; last_applied_index() is then the snapshot's index.
  virtual absl::Status InstallSnapshot(const std::string& dir) {
    return absl::UnimplementedError("this state machine installs no snapshots");
  }
  // The raft_meta stored in the snapshot the current state came from ("" if it came from none).
  virtual absl::StatusOr<std::string> InstalledSnapshotMeta() const { return std::string(); }
};

// Status payload marking an error after which an appended entry may or may not be applied later
// (e.g. the Raft leader lost its leadership while the entry was being replicated): a caller
// must not undo side effects on it; retrying with the same operation id is safe.
inline constexpr char kOutcomeUnknownPayload[] = "cistern.journal/outcome-unknown";
absl::Status OutcomeUnknownError(absl::StatusCode code, const std::string& message);
bool IsOutcomeUnknown(const absl::Status& status);

// An entry that has been applied (its effects are visible to readers) but is not necessarily
// durable yet.
struct Appended {
  uint64_t index = 0;
  ApplyOutcome outcome;
};

class Journal {
 public:
  virtual ~Journal() = default;
  // Appends `entry` and waits until it is applied; its effects are then visible, but may not be
  // durable: call WaitDurable(index) before acknowledging anything that depends on it.
  // UNAVAILABLE if the journal cannot accept entries.
  virtual absl::StatusOr<Appended> Append(const proto::JournalEntry& entry) = 0;
  // Waits until entries up to `index` are durable. Concurrent waiters share one sync.
  virtual absl::Status WaitDurable(uint64_t index) = 0;
  virtual uint64_t applied_index() const = 0;
  // Called by a read after it read state that includes everything applied up to `index`, before
  // it answers: returns OK once answering is linearizable and durable. LocalJournal: waits until
  // `index` is durable. RaftJournal: confirms this node was still the leader after the read
  // (UNAVAILABLE otherwise, naming the leader if known).
  virtual absl::Status ConfirmRead(uint64_t index) { return WaitDurable(index); }
  // True if entries up to `index` are durable already, so WaitDurable(index) would return at
  // once. Lets a read on a thread that must not block answer without waiting. Never blocks.
  // Only for LocalJournal is this also ConfirmRead(index): a replicated journal must keep
  // answering false here (the default) so that reads go through ConfirmRead.
  virtual bool IsDurable(uint64_t index) const { return false; }

  // Append + WaitDurable. Returns the apply result, or the apply outcome's error status.
  absl::StatusOr<proto::JournalResult> Submit(const proto::JournalEntry& entry);
};

// A single-node journal: the state machine's own durable write (entry and applied index in one
// synced batch) is the log, so there is nothing else to store.
class LocalJournal : public Journal {
 public:
  // `state_machine` must outlive the journal.
  explicit LocalJournal(StateMachine* state_machine);

  absl::StatusOr<Appended> Append(const proto::JournalEntry& entry) override;
  absl::Status WaitDurable(uint64_t index) override;
  uint64_t applied_index() const override;
  bool IsDurable(uint64_t index) const override;

 private:
  StateMachine* const state_machine_;
  mutable absl::Mutex mu_;
  // Set after a failed write or sync: every later call fails (fail-stop).
  absl::Status broken_ ABSL_GUARDED_BY(mu_);

  // Lock order: mu_ is never taken while holding sync_mu_ for longer than a read of the index.
  absl::Mutex sync_mu_;
  // Written under sync_mu_; read without it by IsDurable.
  std::atomic<uint64_t> durable_index_{0};
  bool syncing_ ABSL_GUARDED_BY(sync_mu_) = false;
  absl::Status sync_error_ ABSL_GUARDED_BY(sync_mu_);
};

}  // namespace cistern::journal
