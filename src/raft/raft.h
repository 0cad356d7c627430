// The pure Raft core in the etcd-raft design: a deterministic state machine with no threads,
// clocks, sockets or disks. Time is Tick(); peers' messages come in through Step(); the driver
// (src/journal) takes what the core wants done as a Ready and must, in this order:
//   1. if Ready::snapshot is set: install the snapshot it received (see below), persist its
//      metadata and discard its whole stored log;
//   2. persist Ready::hard_state and Ready::entries (entries replace any stored suffix from the
//      first one's index), durably: a vote or an acknowledged entry must survive a crash before
//      any message about it leaves;
//   3. send Ready::messages (stream the snapshot data for kSnapshot messages);
//   4. apply Ready::committed_entries in order; answer Ready::read_states once applied() has
//      reached their index;
//   5. call Advance(ready), before the next GetReady().
// See docs/raft.md for the whole contract (snapshots, membership changes, reads).
//
// Implemented: leader election with pre-vote and check-quorum; log replication with batching,
// pipelining and flow control; commitment (entries of the leader's term only, Raft §5.4.2);
// snapshots and log compaction (the log is kept in memory only after the last compaction
// point); one-server-at-a-time membership changes with learners, in effect once appended;
// leadership transfer (TimeoutNow, thesis §3.10); linearizable reads by ReadIndex or, opt-in,
// by a leader lease.
//
// Thread safety: none; one thread drives a RawNode.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/membership.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/raft_log.h"

namespace cistern::raft {

// Where a proposal went: it was committed iff the entry applied at `index` has this `term`.
struct EntryId {
  Term term = 0;
  Index index = 0;
  bool operator==(const EntryId&) const = default;
};

// What a snapshot of the state machine covers: everything up to `index` (an entry of `term`),
// with `membership` in effect there. index 0 means no snapshot.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  Membership membership;
  bool operator==(const SnapshotMeta&) const = default;
};

enum class MessageType {
  kPreVote,
  kPreVoteResponse,
  kVote,
  kVoteResponse,
  kAppend,
  kAppendResponse,
  kHeartbeat,
  kHeartbeatResponse,
  kSnapshot,           // leader -> follower: install `snapshot` (the driver carries the data)
  kTimeoutNow,         // leader -> transfer target: campaign now
  kReadIndex,          // follower -> leader: a read request (`context`)
  kReadIndexResponse,  // leader -> follower: the read may be served at `index`
};
const char* MessageTypeName(MessageType type);

struct Message {
  MessageType type = MessageType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  // kAppend: index and term of the entry preceding `entries`. kVote/kPreVote: the candidate's
  // last entry. kAppendResponse: the last index the follower now matches, or with `reject` the
  // index it could not match. kReadIndexResponse: the read index.
  Index index = 0;
  Term log_term = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  bool reject = false;
  // kAppendResponse with `reject`: the follower's guess of where the logs agree (index, with
  // its term in log_term), so the leader skips a conflicting term in one round trip.
  Index reject_hint = 0;
  // kHeartbeat/kHeartbeatResponse: the leader's heartbeat round, echoed back (reads, lease).
  uint64_t seq = 0;
  // kReadIndex/kReadIndexResponse: the driver's request context, echoed back.
  std::string context;
  // kSnapshot: what the snapshot covers.
  std::optional<SnapshotMeta> snapshot;
  // kVote: the campaign follows a kTimeoutNow (a leadership transfer), so voters answer even if
  // they heard from the leader recently.
  bool leader_transfer = false;
};

struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

enum class ReadMode {
  // A heartbeat round confirms leadership for every read (no assumption about clocks).
  kReadIndex,
  // The leader answers at once while a quorum acknowledged a heartbeat sent less than
  // election_ticks - 2 ticks ago; needs check_quorum, and ticks that keep pace with real time
  // on every server (a driver that stalled must deliver the missed ticks before serving).
  kLease,
};

struct Config {
  NodeId id = kNoNode;
  // The membership when the log and the snapshot carry none (the first start of a cluster);
  // a server joining an existing cluster starts with none and learns it from the leader.
  std::vector<NodeId> voters;
  int election_ticks = 10;  // a follower campaigns after [election, 2*election) ticks of silence
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  ReadMode read_mode = ReadMode::kReadIndex;
  size_t max_entries_per_message = 64;
  size_t max_bytes_per_message = 1 << 20;   // entry data per append (at least one entry)
  size_t max_inflight_messages = 16;        // appends in flight per follower (pipelining)
  size_t max_uncommitted_bytes = 64 << 20;  // a leader refuses proposals beyond this; 0 = no limit
  size_t max_apply_bytes_per_ready = 16 << 20;  // committed entry data per Ready (at least one)
  uint64_t seed = 1;                            // for the randomized election timeout
  Index applied = 0;  // the state machine's applied index at start (>= the snapshot's index)
};

// What the driver persisted, to restart from.
struct PersistedState {
  HardState hard_state;
  SnapshotMeta snapshot;       // the latest snapshot the state machine holds (index 0: none)
  std::vector<Entry> entries;  // the stored log; entries up to snapshot.index are skipped
};

// A linearizable read may be served once the state machine has applied `index`.
struct ReadState {
  Index index = 0;
  std::string context;
  bool operator==(const ReadState&) const = default;
};

struct Ready {
  std::optional<SnapshotMeta> snapshot;  // received from the leader: install before anything else
  std::optional<HardState> hard_state;   // set when it changed
  std::vector<Entry> entries;            // to persist before sending messages
  std::vector<Message> messages;
  std::vector<Entry> committed_entries;  // to apply, in order
  std::vector<ReadState> read_states;
  bool empty() const {
    return !snapshot.has_value() && !hard_state.has_value() && entries.empty() && messages.empty() &&
           committed_entries.empty() && read_states.empty();
  }
};

enum class SnapshotStatus { kFinished, kFailed };

class RawNode {
 public:
  // Validates `state` against itself and `config`: INVALID_ARGUMENT for a bad config, DATA_LOSS
  // for a log with gaps, undecodable configuration entries or a commit index beyond the log.
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(Config config, PersistedState state);
  // As Create without a snapshot; aborts on invalid input.
  RawNode(Config config, HardState hard_state, std::vector<Entry> log);

  void Tick();
  // A message from a peer. INVALID_ARGUMENT (and no effect) for a malformed one; messages for
  // another node, stale or unexpected ones are ignored with OK.
  absl::Status Step(const Message& message);

  // Appends `data` to the log. FAILED_PRECONDITION (naming the leader if known) unless this
  // node is the leader; UNAVAILABLE during a leadership transfer or with too many uncommitted
  // bytes. The entry id tells the driver which applied entry is this proposal.
  absl::StatusOr<EntryId> Propose(std::string data);
  // Appends a configuration change; it takes effect on every server as soon as that server
  // appends it. UNAVAILABLE (retry) while another change is uncommitted, before this leader has
  // committed an entry of its term, or during a transfer; FAILED_PRECONDITION when the change is
  // not allowed (ApplyConfChange) or this node is not the leader.
  absl::StatusOr<EntryId> ProposeConfChange(const ConfChange& change);
  // Hands leadership to voter `target`: proposals are refused until it takes over or an
  // election timeout passes. OK if already in progress or if target is this leader.
  absl::Status TransferLeadership(NodeId target);
  // Asks for a linearizable read; a ReadState with `context` appears in a later Ready, unless
  // leadership changes or messages are lost first (the driver retries after a timeout).
  // UNAVAILABLE when no leader is known.
  absl::Status ReadIndex(std::string context);

  // The driver finished (or gave up) streaming the snapshot of a kSnapshot message to `to`.
  void ReportSnapshot(NodeId to, SnapshotStatus status);
  // The driver could not reach `to`: stop pipelining to it until it answers again.
  void ReportUnreachable(NodeId to);

  // The metadata of a snapshot of the state machine at `index`. FAILED_PRECONDITION unless
  // snapshot().index <= index <= applied(), or when this server joined the cluster after index
  // and so does not know the membership there (it can once it applied the change adding it).
  absl::StatusOr<SnapshotMeta> SnapshotMetaAt(Index index) const;
  // The driver holds a durable snapshot described by `meta` (from SnapshotMetaAt): followers
  // that need earlier entries get it, and the log is dropped up to meta.index, keeping the last
  // `keep_entries` of those so slightly lagging followers still catch up from the log.
  absl::Status Compact(const SnapshotMeta& meta, Index keep_entries = 0);

  bool HasReady() const;
  // REQUIRES: the previous Ready was Advance()d (a second one would repeat its committed
  // entries; the core stops the process rather than let them be applied twice).
  Ready GetReady();
  void Advance(const Ready& ready);

  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  Index commit() const { return commit_; }
  Index applied() const { return applied_; }
  Index first_index() const { return log_.first_index(); }
  Index last_index() const { return log_.last_index(); }
  std::optional<Term> TermAt(Index index) const { return log_.term(index); }
  // The entries in memory; log()[0] is a sentinel with the index and term before the first.
  const std::vector<Entry>& log() const { return log_.entries(); }
  size_t log_bytes() const { return log_.bytes(); }
  const Membership& membership() const { return log_.membership(); }
  // The index of the configuration entry that set membership() (it is committed iff <= commit()).
  Index membership_index() const { return log_.membership_index(); }
  const SnapshotMeta& snapshot() const { return snapshot_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  // Leader only: what it knows of each member (nullptr otherwise or for a non-member).
  const Progress* progress(NodeId id) const;

 private:
  RawNode(Config config, const PersistedState& state);

  bool Promotable() const;
  bool LogUpToDate(Index last_index, Term last_term) const;
  bool CommittedInTerm() const { return log_.term(commit_) == term_; }
  bool InLease() const;
  bool LeaseValid() const;
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(Term term);
  void Campaign(bool pre_vote, bool transfer);
  void ResetElectionTimer();
  void Send(Message message);
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  bool SendSnapshot(NodeId to, Progress& pr);
  void SendTimeoutNow(NodeId to);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  EntryId AppendEntry(std::string data, EntryType type);
  bool MaybeCommit();
  void OnMembershipChanged();
  void StepDownIfRemoved();
  void AbortTransfer();
  absl::Status Validate(const Message& m) const;
  void HandleVoteRequest(const Message& m);
  void HandleVoteResponse(const Message& m);
  void HeardFromLeader(NodeId leader);
  absl::Status HandleAppend(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  void HandleSnapshot(const Message& m);
  void HandleReadRequest(NodeId from, std::string context);
  void RespondToRead(NodeId from, Index index, std::string context);
  void MaybeReleaseReads();
  VoteResult TallyVotes() const;

  const Config config_;
  std::mt19937_64 rng_;
  MajorityConfig voters_;  // of log_.membership()

  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::kFollower;
  RaftLog log_;
  SnapshotMeta snapshot_;                        // the latest the driver holds
  std::optional<SnapshotMeta> pending_install_;  // received, not yet handed out in a Ready
  Index commit_ = 0;
  Index applied_ = 0;
  HardState last_hard_state_;

  int64_t ticks_ = 0;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;
  // Just started: refuse votes for an election timeout, as if a leader had been heard (we may
  // have acknowledged one's heartbeat before a crash; the lease depends on it).
  bool starting_ = true;
  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;
  std::vector<Message> outbox_;

  // Leader state.
  NodeId lead_transferee_ = kNoNode;
  int transfer_elapsed_ = 0;
  size_t uncommitted_bytes_ = 0;
  bool append_pending_ = false;  // broadcast appends at the next GetReady (batches proposals)
  uint64_t heartbeat_seq_ = 0;
  std::deque<std::pair<uint64_t, int64_t>> heartbeat_ticks_;  // heartbeat round -> tick sent
  std::optional<int64_t> lease_start_;  // tick of the latest round a quorum acknowledged
  bool lease_revoked_ = false;          // sent a TimeoutNow this term: no more lease reads
  bool read_round_needed_ = false;
  struct PendingRead {
    uint64_t seq;  // the heartbeat round that must be acknowledged by a quorum
    Index index;
    NodeId from;
    std::string context;
  };
  std::deque<PendingRead> pending_reads_;
  std::vector<std::pair<NodeId, std::string>> reads_awaiting_commit_;  // before the first commit in term

  std::vector<ReadState> read_states_;
  bool ready_outstanding_ = false;  // between GetReady and Advance
};

}  // namespace cistern::raft
