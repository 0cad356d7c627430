// The pure Raft core in the etcd-raft design: a deterministic state machine with no threads,
// clocks, sockets or disks. The driver (src/journal, issue 6) feeds it ticks, messages from peers
// and proposals, then repeatedly takes a Ready, and must:
//   1. persist Ready::hard_state and Ready::entries (durably),
//   2. send Ready::messages,
//   3. apply Ready::committed_entries to the state machine,
//   4. call Advance(ready).
// Implemented: leader election with pre-vote and check-quorum, log replication with pipelining
// and batching, commitment (only entries of the leader's term commit directly, Raft §5.4.2).
// Not yet: snapshots and log compaction, membership changes, leadership transfer, ReadIndex.
//
// Thread safety: none; one thread drives a RawNode.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/quorum.h"

namespace cistern::raft {

using Term = uint64_t;
inline constexpr NodeId kNoNode = 0;

struct Entry {
  Term term = 0;
  Index index = 0;
  std::string data;  // empty for the no-op a new leader appends
  bool operator==(const Entry&) const = default;
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
};
const char* MessageTypeName(MessageType type);

struct Message {
  MessageType type = MessageType::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  // kAppend: index and term of the entry preceding `entries`. kVote/kPreVote: the candidate's
  // last entry. kAppendResponse: the last index the follower now matches (or the rejected index).
  Index index = 0;
  Term log_term = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;  // kAppendResponse with reject: the follower's last index
};

struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

struct Config {
  NodeId id = kNoNode;
  std::vector<NodeId> voters;  // including id
  int election_ticks = 10;     // a follower campaigns after [election, 2*election) ticks of silence
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  size_t max_entries_per_message = 64;
  size_t max_inflight_messages = 16;  // appends in flight per follower (pipelining)
  uint64_t seed = 1;                  // for the randomized election timeout
  Index applied = 0;                  // the state machine's applied index at start
};

struct Ready {
  std::optional<HardState> hard_state;  // set when it changed
  std::vector<Entry> entries;           // to persist before sending messages
  std::vector<Message> messages;
  std::vector<Entry> committed_entries;  // to apply, in order
  bool empty() const {
    return !hard_state.has_value() && entries.empty() && messages.empty() && committed_entries.empty();
  }
};

class RawNode {
 public:
  // `hard_state` and `log` are what the driver persisted before (empty on first start).
  RawNode(Config config, HardState hard_state, std::vector<Entry> log);

  void Tick();
  void Step(const Message& message);
  // FAILED_PRECONDITION (naming the leader if known) unless this node is the leader.
  absl::Status Propose(std::string data);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& ready);

  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId leader() const { return leader_; }
  Index commit() const { return commit_; }
  Index last_index() const { return log_.back().index; }
  Index applied() const { return applied_; }
  const std::vector<Entry>& log() const { return log_; }  // log_[0] is a sentinel (index 0)

 private:
  struct Progress {
    Index match = 0;
    Index next = 1;
    size_t inflight = 0;
    bool recent_active = false;
  };

  Term TermAt(Index index) const;
  bool LogUpToDate(Index last_index, Term last_term) const;
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Campaign(bool pre_vote);
  void ResetElectionTimer();
  void Send(Message message);
  void SendAppend(NodeId to);
  void BroadcastAppend();
  void BroadcastHeartbeat();
  void MaybeCommit();
  void HandleVoteRequest(const Message& m);
  void HandleVoteResponse(const Message& m);
  void HandleAppend(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  VoteResult TallyVotes() const;

  const Config config_;
  MajorityConfig voters_;
  std::mt19937_64 rng_;

  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::kFollower;
  std::vector<Entry> log_;
  Index commit_ = 0;
  Index applied_ = 0;
  Index stable_ = 0;  // entries up to here are persisted by the driver
  HardState last_hard_state_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;
  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;
  std::vector<Message> outbox_;
};

}  // namespace cistern::raft
