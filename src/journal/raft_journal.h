// RaftJournal: the replicated Journal. One thread (the driver) owns a raft::RawNode and runs the
// loop of docs/raft.md: it ticks the node from a real clock, steps the messages the transport
// delivered, proposes the entries callers appended, and for every Ready
//   1. persists hard state and entries to RaftStorage in one synced write,
//   2. only then hands the messages to the transport,
//   3. applies the committed entries to the StateMachine in index order,
//   4. advances the node.
// Everything appended while one Ready is being persisted goes into the next one, so many
// proposals share one sync (group commit). A leader departs from that order where Raft allows
// it (thesis §10.2.1): it sends its appends and heartbeats before writing the entries to its own
// log, and syncs its log on a second thread (the sync thread) while the driver goes on stepping
// acknowledgements, applying and proposing, so the followers' syncs overlap the leader's own and
// batches are pipelined. Commitment still needs a quorum of synced logs: an acknowledgement of
// an entry beyond the leader's synced log is held back until the sync reaches it (the core
// counts the leader's own copy at once), and nothing is applied beyond the synced log.
//
// Each Append waits for its own entry: its outcome is returned once the entry is committed and
// applied. Only the leader accepts entries; elsewhere Append fails with UNAVAILABLE naming the
// leader. An entry whose leader stepped down before it was applied fails with UNAVAILABLE marked
// IsOutcomeUnknown (it may still commit under the next leader; a retry with the same operation
// id is safe). A failed storage write or apply is fail-stop: the node stops voting, sending and
// applying, every call fails, and the fatal-error callback runs.
//
// Reads: ConfirmRead(index) makes a read linearizable: after the read, one ReadIndex round of the
// core (a heartbeat round a quorum acknowledges) confirms that this node was still the leader;
// every read that arrived during one driver round shares one ReadIndex round.
//
// Thread safety: Append, WaitDurable, ConfirmRead, status() and Receive are thread-safe. Start and
// Stop are called by one thread. Callbacks run on the driver thread without locks held, and must
// not block or wait on the journal.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "journal/journal.h"
#include "journal/raft_log_store.h"
#include "journal/raft_transport.h"
#include "journal/snapshot_store.h"
#include "raft/raft.h"

namespace cistern::journal {

struct RaftJournalOptions {
  raft::NodeId id = raft::kNoNode;
  // The voters of a new group, including id; empty for a node joining an existing group (added
  // with AddVoter), which learns the membership from the leader. Ignored once the log or a
  // snapshot holds a membership.
  std::vector<raft::NodeId> voters;
  int64_t tick_interval_ms = 100;    // one Raft tick; the leader heartbeats every heartbeat_ticks
  int election_ticks = 10;           // a follower campaigns after [election, 2*election) silent ticks
  int heartbeat_ticks = 1;
  size_t max_proposals_per_round = 4096;
  // Committed entries handed to the state machine at once (StateMachine::ApplyBatch), which
  // bounds the memory of one batch and how long its proposers wait for the slowest entry.
  size_t max_entries_per_apply = 1024;
  // A follower applies committed entries once this long after the first of them became
  // applicable (or max_entries_per_apply are waiting, or its role changes), so it writes its
  // metastore in larger, cheaper batches; nobody waits on a follower's state machine. 0: at once.
  int64_t follower_apply_delay_ms = 0;
  // Apply effects (docs/ha.md): the leader sends what its state machine wrote for each batch
  // (StateMachine::ApplyBatchWithEffects) to its followers, which install that instead of
  // applying the same entries, falling back to applying whenever effects are missing. A follower
  // keeps at most max_buffered_effects_bytes of effects it cannot install yet.
  bool ship_apply_effects = false;
  size_t max_buffered_effects_bytes = 64 << 20;
  size_t max_queued_proposals = 16384;   // Append waits while this many are queued
  size_t max_queued_messages = 65536;    // further incoming messages are dropped
  int64_t append_timeout_ms = 60000;     // then DEADLINE_EXCEEDED, outcome unknown
  uint64_t seed = 0;                     // election timer randomization; 0 = from the clock
  // How errors and logs name a node (e.g. "master 2 (host:7700)"); default "node N".
  std::function<std::string(raft::NodeId)> node_name;
  // Snapshots (null: none, the whole log is kept; the state machine must support them). Once
  // `snapshot_entries` entries were applied since the last snapshot (0: only on request), the
  // driver snapshots the state machine and compacts the log, keeping the last
  // `snapshot_keep_entries` entries so slightly lagging followers catch up from the log.
  SnapshotStore* snapshots = nullptr;
  uint64_t snapshot_entries = 0;
  uint64_t snapshot_keep_entries = 0;
};

struct RaftJournalStatus {
  raft::NodeId id = raft::kNoNode;
  raft::Role role = raft::Role::kFollower;
  raft::Term term = 0;
  raft::NodeId leader = raft::kNoNode;
  raft::Index commit = 0;
  raft::Index applied = 0;
  raft::Index last_index = 0;
  raft::Index first_index = 0;     // of the log kept
  raft::Index snapshot_index = 0;  // of the latest snapshot (0: none)
  raft::Membership membership;
  // Leader that has applied the first entry of its term: it knows every committed entry.
  bool serving = false;
  std::vector<raft::NodeId> voters;
  // Leader only: the highest log index known replicated on each other member.
  std::map<raft::NodeId, raft::Index> match;
  uint64_t log_syncs = 0;         // synced storage writes (one per Ready with something to persist)
  uint64_t apply_batches = 0;     // StateMachine::ApplyBatch calls (entries applied per call: applied / this)
  uint64_t effects_installs = 0;   // StateMachine::InstallEffects calls (follower)
  uint64_t entries_from_effects = 0;  // entries those installed instead of applying them
  uint64_t entries_appended = 0;  // entries proposed by this node as leader
  uint64_t leader_changes = 0;    // times this node learned of a new leader (itself included)
  uint64_t snapshots_taken = 0;   // snapshots of its own state machine (automatic or asked for)
  uint64_t snapshots_installed = 0;  // snapshots received from a leader and installed
  absl::Status error;             // set once the journal stopped after a fatal error
};

class RaftJournal final : public Journal, public RaftMessageHandler {
 public:
  using ServingCallback = std::function<void(bool serving, raft::Term term)>;
  using FatalErrorCallback = std::function<void(const absl::Status& error)>;
  // Role, term or known leader changed.
  using RoleCallback = std::function<void(raft::Role role, raft::Term term, raft::NodeId leader)>;
  // The membership in effect changed (on append of a configuration entry, or a snapshot).
  using MembershipCallback = std::function<void(const raft::Membership& membership)>;

  // `storage`, `state_machine`, `transport` and `clock` must outlive the journal. Checks that the
  // state machine's applied index lies within the stored log (FAILED_PRECONDITION otherwise).
  static absl::StatusOr<std::unique_ptr<RaftJournal>> Open(RaftJournalOptions options, RaftStorage* storage,
                                                          StateMachine* state_machine, RaftTransport* transport,
                                                          Clock* clock);
  ~RaftJournal() override;

  // REQUIRES: called before Start.
  void set_serving_callback(ServingCallback callback) { serving_callback_ = std::move(callback); }
  void set_fatal_error_callback(FatalErrorCallback callback) { fatal_error_callback_ = std::move(callback); }
  void set_role_callback(RoleCallback callback) { role_callback_ = std::move(callback); }
  void set_membership_callback(MembershipCallback callback) { membership_callback_ = std::move(callback); }

  void Start();
  // Stops the driver; waiting callers get UNAVAILABLE. Idempotent.
  void Stop();

  absl::StatusOr<Appended> Append(const proto::JournalEntry& entry) override;
  absl::Status WaitDurable(uint64_t index) override;
  uint64_t applied_index() const override;
  absl::Status ConfirmRead(uint64_t index) override;

  void Receive(std::vector<raft::Message> messages) override;
  absl::StatusOr<std::string> NewSnapshotStagingDir() override;
  void ReceiveSnapshot(raft::Message message, std::string dir) override;
  void ReceiveEffects(ApplyEffects effects) override;

  // Snapshots the state machine now and compacts the log; returns the snapshot's index.
  // UNIMPLEMENTED without a snapshot store.
  absl::StatusOr<raft::Index> Checkpoint();

  // Membership changes, one server at a time (leader only; UNAVAILABLE elsewhere, naming the
  // leader, or while another change is uncommitted). `context` is stored with the member (its
  // addresses). AddVoter adds `id` as a learner, waits until it has caught up with the log (or
  // `timeout_ms` passes), then makes it a voter; each step returns once committed.
  absl::Status AddVoter(raft::NodeId id, std::string context, int64_t timeout_ms);
  absl::Status RemoveNode(raft::NodeId id);
  // Hands the leadership to voter `id` and waits until it leads (DEADLINE_EXCEEDED otherwise).
  absl::Status TransferLeadership(raft::NodeId id, int64_t timeout_ms);

  RaftJournalStatus status() const;
  // The error a caller gets from a node that is not the serving leader.
  absl::Status NotLeaderError() const;

 private:
  struct Waiter {
    absl::Notification done;
    absl::StatusOr<Appended> result;
    void Finish(absl::StatusOr<Appended> value) {
      result = std::move(value);
      done.Notify();
    }
  };
  struct Proposal {
    std::string data;
    std::shared_ptr<Waiter> waiter;
  };
  // An entry this node proposed as leader, not applied yet.
  struct InFlight {
    raft::Term term = 0;
    std::shared_ptr<Waiter> waiter;
  };
  // Reads waiting for their ReadIndex round.
  struct PendingRead {
    int64_t deadline_ms = 0;
    std::vector<std::shared_ptr<Waiter>> readers;
  };

  RaftJournal(RaftJournalOptions options, RaftStorage* storage, StateMachine* state_machine, RaftTransport* transport,
              Clock* clock);

  void Run();
  // The sync thread: syncs the log for the leader's unsynced writes (RequestSync).
  void SyncLoop();
  void RequestSync(raft::Index index);
  // Applies the committed entries (unapplied_) that lie within the synced log.
  bool ApplyDurable();
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One round: returns false once the journal must stop.
  bool ProcessReady();
  bool ApplyCommitted(const std::vector<raft::Entry>& entries);
  // Follower: installs the leader's effects for the first of the `n` durable entries of
  // unapplied_ (as many as chain up), sets `installed` to the entries they covered.
  bool InstallEffects(size_t n, size_t* installed);
  // Follower: forgets the buffered effects of batches starting at or before `index`.
  void DropEffectsThrough(raft::Index index);
  // Leader: sends the effects of the batch first..last to the followers that can use them.
  void ShipEffects(raft::Index first, raft::Index last, std::string effects);
  void StartRead(std::vector<std::shared_ptr<Waiter>> readers, int64_t now_ms);
  void ConfirmReads(const raft::ReadState& read_state);
  void ReleaseConfirmedReads();
  void ExpireReads(int64_t now_ms);
  // Snapshots (driver thread).
  absl::StatusOr<raft::Index> TakeSnapshot();
  void MaybeSnapshot(int64_t now_ms);
  void SendSnapshotTo(raft::Message message);
  bool InstallReceivedSnapshot(const raft::SnapshotMeta& meta);
  void DiscardStagedUpTo(raft::Index index);
  // Runs `task` on the driver thread and waits for it (UNAVAILABLE if the journal stops).
  absl::Status RunOnDriver(std::function<void()> task);
  // Proposes a configuration change and waits until it is applied.
  absl::Status ChangeMembership(const raft::ConfChange& change);
  void ObserveRole();
  void FailInFlight(const absl::Status& status);
  void FailStop(const absl::Status& error);
  void PublishStatus();
  std::string NodeName(raft::NodeId id) const;
  std::string Tag() const;  // "raft node 2 (leader, term 5)" for logs
  absl::Status NotLeaderErrorFor(raft::NodeId leader, raft::Term term) const;

  // Constant after construction.
  const RaftJournalOptions options_;
  RaftStorage* const storage_;
  StateMachine* const state_machine_;
  RaftTransport* const transport_;
  Clock* const clock_;
  ServingCallback serving_callback_;
  FatalErrorCallback fatal_error_callback_;
  RoleCallback role_callback_;
  MembershipCallback membership_callback_;

  // Driver thread only.
  std::unique_ptr<raft::RawNode> node_;
  std::map<raft::Index, InFlight> in_flight_;
  raft::Index durable_index_ = 0;        // the own log is synced through here
  std::deque<raft::Entry> unapplied_;    // committed, to apply once within durable_index_
  std::vector<raft::Message> held_acks_;  // followers' acks beyond durable_index_ (leader)
  uint64_t read_seq_ = 0;
  std::map<raft::Index, std::string> staged_snapshots_;  // received, by index, not installed yet
  int64_t snapshot_retry_at_ms_ = 0;
  raft::Index prepared_snapshot_at_ = 0;  // the due index the state machine was last prepared for                       // after a failed snapshot
  std::map<std::string, PendingRead> pending_reads_;  // by ReadIndex context
  // Confirmed at a read index the state machine has not applied yet.
  std::vector<std::pair<raft::Index, std::vector<std::shared_ptr<Waiter>>>> confirmed_reads_;
  raft::Role role_ = raft::Role::kFollower;
  raft::Term term_ = 0;
  raft::NodeId leader_ = raft::kNoNode;
  raft::Index term_start_index_ = 0;  // first entry of this leader's term
  raft::Membership membership_;       // as last reported
  bool serving_ = false;
  uint64_t log_syncs_ = 0;
  uint64_t apply_batches_ = 0;
  // Driver only: when a follower's deferred entries are applied (0: none deferred).
  int64_t apply_deadline_ms_ = 0;
  uint64_t entries_appended_ = 0;
  // Follower: the leader's apply effects received, by first index, and their size.
  std::map<raft::Index, ApplyEffects> effects_;
  size_t effects_bytes_ = 0;
  int64_t last_effects_ms_ = 0;  // when effects were last installed
  uint64_t effects_installs_ = 0;
  uint64_t entries_from_effects_ = 0;
  uint64_t effects_discarded_ = 0;  // installs refused as undecodable
  uint64_t leader_changes_ = 0;
  uint64_t snapshots_taken_ = 0;
  uint64_t snapshots_installed_ = 0;
  absl::Status fatal_;  // set by FailStop: the driver stops
  bool broken() const { return !fatal_.ok(); }
  const absl::Status& broken_status() const { return fatal_; }

  mutable absl::Mutex mu_;
  std::vector<raft::Message> inbox_ ABSL_GUARDED_BY(mu_);
  std::deque<Proposal> proposals_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Waiter>> reads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<raft::Message, std::string>> incoming_snapshots_ ABSL_GUARDED_BY(mu_);
  std::vector<ApplyEffects> incoming_effects_ ABSL_GUARDED_BY(mu_);
  size_t incoming_effects_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<raft::NodeId, bool>> snapshot_reports_ ABSL_GUARDED_BY(mu_);  // peer, finished
  std::vector<std::shared_ptr<Waiter>> checkpoints_ ABSL_GUARDED_BY(mu_);
  // Work for the driver thread (membership changes): run, then `done`; or dropped (not `ran`).
  struct DriverTask {
    std::function<void()> run;
    bool ran = false;
    absl::Notification done;
  };
  std::vector<std::shared_ptr<DriverTask>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Requests to the sync thread (numbered) and its answers.
  uint64_t sync_requested_ ABSL_GUARDED_BY(mu_) = 0;
  raft::Index sync_request_index_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sync_done_ ABSL_GUARDED_BY(mu_) = 0;
  raft::Index synced_index_ ABSL_GUARDED_BY(mu_) = 0;
  bool sync_finished_ ABSL_GUARDED_BY(mu_) = false;  // news for the driver
  absl::Status sync_error_ ABSL_GUARDED_BY(mu_);
  uint64_t async_syncs_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  RaftJournalStatus status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  std::thread sync_thread_;
};

}  // namespace cistern::journal
