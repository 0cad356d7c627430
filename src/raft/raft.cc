#include "raft/raft.h"

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "raft/fatal.h"

namespace cistern::raft {

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResponse: return "PreVoteResponse";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResponse: return "VoteResponse";
    case MessageType::kAppend: return "Append";
    case MessageType::kAppendResponse: return "AppendResponse";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResponse: return "HeartbeatResponse";
    case MessageType::kSnapshot: return "Snapshot";
    case MessageType::kTimeoutNow: return "TimeoutNow";
    case MessageType::kReadIndex: return "ReadIndex";
    case MessageType::kReadIndexResponse: return "ReadIndexResponse";
  }
  return "?";
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

namespace {

// Entries following (prev_index, prev_term) as a leader of `term` may send or a driver may have
// stored them: contiguous, terms non-decreasing and not beyond `term`, known types.
absl::Status ValidateEntries(Index prev_index, Term prev_term, Term term, const std::vector<Entry>& entries) {
  Index expect = prev_index + 1;
  Term last_term = prev_term;
  for (const Entry& e : entries) {
    if (e.index != expect) return absl::InvalidArgumentError(absl::StrCat("entry ", e.index, " where ", expect, " was due"));
    if (e.term < last_term || e.term > term) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", e.index, " has term ", e.term, " (previous ", last_term, ", current ", term, ")"));
    }
    if (e.type == EntryType::kConfChange) {
      auto record = DecodeConfChangeEntry(e.data);
      if (!record.ok()) return absl::InvalidArgumentError(absl::StrCat("entry ", e.index, ": ", record.status().message()));
    } else if (e.type != EntryType::kNormal) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", e.index, " has unknown type ", static_cast<int>(e.type)));
    }
    ++expect;
    last_term = e.term;
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const Config& c) {
  if (c.id == kNoNode) return absl::InvalidArgumentError("raft: node id 0 is reserved");
  if (c.heartbeat_ticks < 1 || c.election_ticks <= c.heartbeat_ticks) {
    return absl::InvalidArgumentError(absl::StrCat("raft: need 1 <= heartbeat_ticks (", c.heartbeat_ticks,
                                                   ") < election_ticks (", c.election_ticks, ")"));
  }
  if (c.max_entries_per_message == 0 || c.max_inflight_messages == 0) {
    return absl::InvalidArgumentError("raft: max_entries_per_message and max_inflight_messages must be positive");
  }
  if (c.read_mode == ReadMode::kLease && (!c.check_quorum || c.election_ticks <= 2)) {
    return absl::InvalidArgumentError("raft: lease reads need check_quorum and election_ticks > 2");
  }
  for (NodeId id : c.voters) {
    if (id == kNoNode) return absl::InvalidArgumentError("raft: node id 0 among the voters");
  }
  return absl::OkStatus();
}

absl::Status ValidateState(const Config& config, const PersistedState& state) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  const SnapshotMeta& snap = state.snapshot;
  if (snap.index == 0 ? snap.term != 0 : (snap.term == 0 || snap.membership.voters.empty())) {
    return absl::DataLossError(absl::StrCat("raft: invalid snapshot metadata (index ", snap.index, ", term ", snap.term,
                                            ", ", snap.membership.DebugString(), ")"));
  }
  std::vector<Entry> kept;
  for (size_t i = 0; i < state.entries.size(); ++i) {
    const Entry& e = state.entries[i];
    if (i > 0 && e.index != state.entries[i - 1].index + 1) {
      return absl::DataLossError(absl::StrCat("raft: stored log jumps from ", state.entries[i - 1].index, " to ", e.index));
    }
    if (e.index == snap.index && e.term != snap.term) {
      return absl::DataLossError(absl::StrCat("raft: stored entry ", e.index, " has term ", e.term,
                                              " but the snapshot there has term ", snap.term));
    }
    if (e.index > snap.index) kept.push_back(e);
  }
  if (!kept.empty() && kept.front().index != snap.index + 1) {
    return absl::DataLossError(absl::StrCat("raft: stored log starts at ", kept.front().index, " after a snapshot at ", snap.index));
  }
  if (absl::Status s = ValidateEntries(snap.index, snap.term, std::max(state.hard_state.term, snap.term), kept); !s.ok()) {
    return absl::DataLossError(absl::StrCat("raft: stored log: ", s.message()));
  }
  const Index last = kept.empty() ? snap.index : kept.back().index;
  if (config.applied < snap.index) {
    return absl::FailedPreconditionError(
        absl::StrCat("raft: the state machine (applied ", config.applied, ") is behind its snapshot at ", snap.index));
  }
  const Index commit = std::max({state.hard_state.commit, config.applied, snap.index});
  if (commit > last) {
    return absl::DataLossError(absl::StrCat("raft: commit/applied index ", commit, " beyond the stored log (last ", last, ")"));
  }
  return absl::OkStatus();
}

const PersistedState& ValidOrDie(const Config& config, const PersistedState& state) {
  absl::Status s = ValidateState(config, state);
  RAFT_CHECK(s.ok(), "%s", std::string(s.message()).c_str());
  return state;
}

Membership BootstrapMembership(const Config& config, const SnapshotMeta& snapshot) {
  if (snapshot.index > 0) return snapshot.membership;
  Membership m;
  m.voters.insert(config.voters.begin(), config.voters.end());
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(Config config, PersistedState state) {
  if (absl::Status s = ValidateState(config, state); !s.ok()) return s;
  return std::unique_ptr<RawNode>(new RawNode(std::move(config), state));
}

RawNode::RawNode(Config config, HardState hard_state, std::vector<Entry> log)
    : RawNode(config, ValidOrDie(config, PersistedState{hard_state, SnapshotMeta{}, std::move(log)})) {}

RawNode::RawNode(Config config, const PersistedState& state)
    : config_(std::move(config)),
      rng_(config_.seed ^ (config_.id * 0x9E3779B97F4A7C15ull)),
      log_(state.snapshot.index, state.snapshot.term, BootstrapMembership(config_, state.snapshot)) {
  for (const Entry& e : state.entries) {
    if (e.index > state.snapshot.index) log_.Append(e);
  }
  log_.MarkAllStable();
  voters_ = MajorityConfig(log_.membership().voters);
  snapshot_ = state.snapshot;
  term_ = std::max(state.hard_state.term, state.snapshot.term);
  vote_ = state.hard_state.vote;
  commit_ = std::max({state.hard_state.commit, config_.applied, state.snapshot.index});
  applied_ = std::max(config_.applied, state.snapshot.index);
  last_hard_state_ = state.hard_state;
  ResetElectionTimer();
}

bool RawNode::Promotable() const {
  if (log_.membership().IsVoter(config_.id)) return true;
  // Removed by a change that is not committed yet: it may still be overwritten, and until it
  // commits this server may be the only one with the log a leader needs (it holds the change
  // the others lack). It campaigns and, if elected, leads without counting itself, like a
  // leader that removed itself (thesis §4.2.2).
  const Index change = log_.membership_index();
  return change > commit_ && change >= log_.first_index() && log_.MembershipAt(change - 1).IsVoter(config_.id);
}

bool RawNode::LogUpToDate(Index last_index, Term last_term) const {
  return last_term > log_.last_term() || (last_term == log_.last_term() && last_index >= log_.last_index());
}

bool RawNode::InLease() const {
  return (leader_ != kNoNode || starting_) && election_elapsed_ < config_.election_ticks;
}

bool RawNode::LeaseValid() const {
  // A quorum acknowledged a heartbeat sent at *lease_start_; each of them refuses votes for
  // election_ticks of its own ticks after receiving it. Two ticks of margin cover the rounding
  // of discrete ticks on both sides.
  return config_.read_mode == ReadMode::kLease && lease_start_.has_value() && !lease_revoked_ &&
         lead_transferee_ == kNoNode && ticks_ - *lease_start_ < config_.election_ticks - 2;
}

void RawNode::ResetElectionTimer() {
  election_elapsed_ = 0;
  randomized_election_ticks_ =
      config_.election_ticks + static_cast<int>(rng_() % static_cast<uint64_t>(std::max(config_.election_ticks, 1)));
}

void RawNode::Reset(Term term) {
  if (term != term_) {
    RAFT_CHECK(term > term_, "term going back from %llu to %llu", (unsigned long long)term_, (unsigned long long)term);
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  votes_.clear();
  progress_.clear();
  heartbeat_elapsed_ = 0;
  ResetElectionTimer();
  lead_transferee_ = kNoNode;
  transfer_elapsed_ = 0;
  uncommitted_bytes_ = 0;
  append_pending_ = false;
  heartbeat_ticks_.clear();
  lease_start_.reset();
  lease_revoked_ = false;
  read_round_needed_ = false;
  pending_reads_.clear();
  reads_awaiting_commit_.clear();
}

void RawNode::BecomeFollower(Term term, NodeId leader) {
  Reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void RawNode::BecomePreCandidate() {
  // A pre-vote changes neither term nor vote, so a node cut off from the cluster cannot inflate
  // its term and disrupt a healthy leader when it comes back.
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  starting_ = false;
  votes_ = {{config_.id, true}};
  ResetElectionTimer();
}

void RawNode::BecomeCandidate() {
  Reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
  starting_ = false;
  votes_ = {{config_.id, true}};
}

void RawNode::BecomeLeader() {
  RAFT_CHECK(role_ == Role::kCandidate, "node %llu becoming leader as %s", (unsigned long long)config_.id, RoleName(role_));
  Reset(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  const Membership& m = log_.membership();
  for (NodeId id : m.voters) progress_.emplace(id, Progress(log_.last_index() + 1, false));
  for (NodeId id : m.learners) progress_.emplace(id, Progress(log_.last_index() + 1, true));
  if (auto it = progress_.find(config_.id); it != progress_.end()) {
    it->second.MaybeUpdate(log_.last_index());
    it->second.recent_active = true;
  }
  // An entry of the new term: committing it commits everything before it (Raft §5.4.2).
  AppendEntry({}, EntryType::kNormal);
}

VoteResult RawNode::TallyVotes() const {
  return voters_.Vote([&](NodeId id) -> std::optional<bool> {
    auto it = votes_.find(id);
    return it == votes_.end() ? std::nullopt : std::optional<bool>(it->second);
  });
}

void RawNode::Campaign(bool pre_vote, bool transfer) {
  if (!Promotable()) return;
  if (pre_vote && !transfer) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
  }
  if (TallyVotes() == VoteResult::kWon) {  // a single-voter cluster
    if (role_ == Role::kPreCandidate) {
      Campaign(false, false);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId id : log_.membership().voters) {
    if (id == config_.id) continue;
    Message m;
    m.type = role_ == Role::kPreCandidate ? MessageType::kPreVote : MessageType::kVote;
    m.to = id;
    m.term = role_ == Role::kPreCandidate ? term_ + 1 : term_;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.leader_transfer = transfer;
    Send(std::move(m));
  }
}

void RawNode::Send(Message message) {
  message.from = config_.id;
  if (message.term == 0) message.term = term_;
  outbox_.push_back(std::move(message));
}

void RawNode::Tick() {
  ++ticks_;
  if (role_ != Role::kLeader) {
    if (election_elapsed_ < INT_MAX / 2) ++election_elapsed_;
    if (election_elapsed_ >= config_.election_ticks) starting_ = false;
    if (Promotable() && election_elapsed_ >= randomized_election_ticks_) Campaign(config_.pre_vote, false);
    return;
  }
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (lead_transferee_ != kNoNode && ++transfer_elapsed_ >= config_.election_ticks) AbortTransfer();
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      VoteResult active = voters_.Vote([&](NodeId id) -> std::optional<bool> {
        auto it = progress_.find(id);
        return it != progress_.end() && (id == config_.id || it->second.recent_active);
      });
      for (auto& [id, pr] : progress_) pr.recent_active = id == config_.id;
      if (active != VoteResult::kWon) {
        // Without contact to a quorum for an election timeout, another leader may exist: step
        // down rather than serve stale reads or accept proposals that cannot commit.
        BecomeFollower(term_, kNoNode);
        return;
      }
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat();
  }
}

EntryId RawNode::AppendEntry(std::string data, EntryType type) {
  const EntryId id{term_, log_.last_index() + 1};
  uncommitted_bytes_ += data.size();
  log_.Append(Entry{id.term, id.index, std::move(data), type});
  if (auto it = progress_.find(config_.id); it != progress_.end()) it->second.MaybeUpdate(id.index);
  if (type == EntryType::kConfChange) OnMembershipChanged();
  if (role_ == Role::kLeader) {
    MaybeCommit();
    if (role_ == Role::kLeader) append_pending_ = true;  // sent with all proposals before the next Ready
  }
  return id;
}

absl::StatusOr<EntryId> RawNode::Propose(std::string data) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", config_.id, " is not the leader (leader: ", leader_, ")"));
  }
  if (lead_transferee_ != kNoNode) {
    return absl::UnavailableError(absl::StrCat("node ", config_.id, " is handing leadership to ", lead_transferee_));
  }
  if (config_.max_uncommitted_bytes > 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + data.size() > config_.max_uncommitted_bytes) {
    return absl::UnavailableError(absl::StrCat("node ", config_.id, " has ", uncommitted_bytes_,
                                               " uncommitted bytes (limit ", config_.max_uncommitted_bytes, ")"));
  }
  return AppendEntry(std::move(data), EntryType::kNormal);
}

absl::StatusOr<EntryId> RawNode::ProposeConfChange(const ConfChange& change) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", config_.id, " is not the leader (leader: ", leader_, ")"));
  }
  if (lead_transferee_ != kNoNode) {
    return absl::UnavailableError(absl::StrCat("node ", config_.id, " is handing leadership to ", lead_transferee_));
  }
  // A new leader may hold an uncommitted change of an earlier term that it will commit or that
  // a later leader will overwrite; proposing another before committing in its own term could
  // let two configurations that differ by two servers decide independently.
  if (!CommittedInTerm()) {
    return absl::UnavailableError(absl::StrCat("leader ", config_.id, " has not committed an entry of term ", term_, " yet"));
  }
  if (log_.membership_index() > commit_) {
    return absl::UnavailableError(
        absl::StrCat("the configuration change at index ", log_.membership_index(), " is not committed yet"));
  }
  auto next = ApplyConfChange(log_.membership(), change);
  if (!next.ok()) return next.status();
  return AppendEntry(EncodeConfChangeEntry(ConfChangeRecord{change, *std::move(next)}), EntryType::kConfChange);
}

absl::Status RawNode::TransferLeadership(NodeId target) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(absl::StrCat("node ", config_.id, " is not the leader (leader: ", leader_, ")"));
  }
  if (target == config_.id) return absl::OkStatus();
  if (!log_.membership().IsVoter(target)) {
    return absl::FailedPreconditionError(absl::StrCat("node ", target, " is not a voter"));
  }
  if (lead_transferee_ == target) return absl::OkStatus();
  AbortTransfer();
  lead_transferee_ = target;
  transfer_elapsed_ = 0;
  if (progress_.at(target).match() == log_.last_index()) {
    SendTimeoutNow(target);
  } else {
    MaybeSendAppend(target, true);  // TimeoutNow follows once it has caught up
  }
  return absl::OkStatus();
}

void RawNode::AbortTransfer() {
  lead_transferee_ = kNoNode;
  transfer_elapsed_ = 0;
}

void RawNode::SendTimeoutNow(NodeId to) {
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  Send(std::move(m));
  // The target's voters will ignore their promise not to vote while they hear from us.
  lease_revoked_ = true;
}

absl::Status RawNode::ReadIndex(std::string context) {
  if (role_ == Role::kLeader) {
    HandleReadRequest(config_.id, std::move(context));
    return absl::OkStatus();
  }
  if (leader_ == kNoNode) return absl::UnavailableError(absl::StrCat("node ", config_.id, " knows no leader"));
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = leader_;
  m.context = std::move(context);
  Send(std::move(m));
  return absl::OkStatus();
}

void RawNode::HandleReadRequest(NodeId from, std::string context) {
  if (!CommittedInTerm()) {
    // Until then the commit index may miss entries an earlier leader committed.
    reads_awaiting_commit_.emplace_back(from, std::move(context));
    return;
  }
  if (voters_.voters() == std::set<NodeId>{config_.id} || LeaseValid()) {
    RespondToRead(from, commit_, std::move(context));
    return;
  }
  // Served once a quorum answers a heartbeat sent after this request: then no other leader had
  // been elected when it arrived, so commit_ covered every entry committed before it.
  pending_reads_.push_back(PendingRead{heartbeat_seq_ + 1, commit_, from, std::move(context)});
  read_round_needed_ = true;
}

void RawNode::RespondToRead(NodeId from, Index index, std::string context) {
  if (from == config_.id) {
    read_states_.push_back(ReadState{index, std::move(context)});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResponse;
  m.to = from;
  m.index = index;
  m.context = std::move(context);
  Send(std::move(m));
}

void RawNode::MaybeReleaseReads() {
  const uint64_t confirmed = voters_.CommittedIndex([&](NodeId id) -> std::optional<Index> {
    if (id == config_.id) return heartbeat_seq_;
    auto it = progress_.find(id);
    return it == progress_.end() ? std::nullopt : std::optional<Index>(it->second.acked_seq);
  });
  if (confirmed == 0 || confirmed == kInfiniteIndex) return;
  while (!heartbeat_ticks_.empty() && heartbeat_ticks_.front().first < confirmed) heartbeat_ticks_.pop_front();
  if (!heartbeat_ticks_.empty() && heartbeat_ticks_.front().first == confirmed) {
    lease_start_ = std::max(lease_start_.value_or(heartbeat_ticks_.front().second), heartbeat_ticks_.front().second);
  }
  while (!pending_reads_.empty() && pending_reads_.front().seq <= confirmed) {
    PendingRead& r = pending_reads_.front();
    RespondToRead(r.from, r.index, std::move(r.context));
    pending_reads_.pop_front();
  }
}

bool RawNode::MaybeSendAppend(NodeId to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end() || to == config_.id) return false;
  Progress& pr = it->second;
  if (pr.IsPaused(config_.max_inflight_messages)) return false;
  const Index prev = pr.next() - 1;
  const std::optional<Term> prev_term = log_.term(prev);
  if (!prev_term.has_value()) return SendSnapshot(to, pr);  // compacted away
  std::vector<Entry> entries;
  if (pr.next() <= log_.last_index()) {
    entries = log_.Slice(pr.next(), log_.last_index(), config_.max_entries_per_message, config_.max_bytes_per_message);
  }
  if (entries.empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = commit_;
  pr.SentAppend(entries.empty() ? prev : entries.back().index);
  m.entries = std::move(entries);
  Send(std::move(m));
  return true;
}

bool RawNode::SendSnapshot(NodeId to, Progress& pr) {
  if (!pr.recent_active) return false;  // wait until it answers a heartbeat
  RAFT_CHECK(snapshot_.index + 1 >= log_.first_index(), "no snapshot covers the compacted log (snapshot %llu, first %llu)",
             (unsigned long long)snapshot_.index, (unsigned long long)log_.first_index());
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot = snapshot_;
  pr.BecomeSnapshot(snapshot_.index);
  Send(std::move(m));
  return true;
}

void RawNode::BroadcastAppend() {
  for (auto& [id, pr] : progress_) MaybeSendAppend(id, true);
}

void RawNode::BroadcastHeartbeat() {
  ++heartbeat_seq_;
  heartbeat_ticks_.emplace_back(heartbeat_seq_, ticks_);
  while (heartbeat_ticks_.size() > static_cast<size_t>(2 * config_.election_ticks + 4)) heartbeat_ticks_.pop_front();
  read_round_needed_ = false;
  for (auto& [id, pr] : progress_) {
    if (id == config_.id) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    // Only what the follower is known to hold may be committed on its side.
    m.commit = std::min(pr.match(), commit_);
    m.seq = heartbeat_seq_;
    Send(std::move(m));
  }
  MaybeReleaseReads();  // a single voter confirms itself
}

bool RawNode::MaybeCommit() {
  if (role_ != Role::kLeader) return false;
  const Index index = voters_.CommittedIndex([&](NodeId id) -> std::optional<Index> {
    auto it = progress_.find(id);
    return it == progress_.end() ? std::nullopt : std::optional<Index>(it->second.match());
  });
  if (index == kInfiniteIndex || index <= commit_ || log_.term(index) != term_) return false;
  const bool first_in_term = !CommittedInTerm();
  for (Index i = commit_ + 1; i <= index; ++i) {
    const Entry& e = log_.at(i);
    if (e.term == term_) uncommitted_bytes_ -= std::min(uncommitted_bytes_, e.data.size());
  }
  commit_ = index;
  append_pending_ = true;  // followers learn the new commit index
  if (first_in_term) {
    auto reads = std::move(reads_awaiting_commit_);
    reads_awaiting_commit_.clear();
    for (auto& [from, context] : reads) HandleReadRequest(from, std::move(context));
  }
  StepDownIfRemoved();
  return true;
}

void RawNode::OnMembershipChanged() {
  const Membership& m = log_.membership();
  if (voters_.voters() != m.voters) voters_ = MajorityConfig(m.voters);
  if (role_ != Role::kLeader) return;
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = m.Contains(it->first) ? std::next(it) : progress_.erase(it);
  }
  for (NodeId id : m.voters) {
    auto [it, added] = progress_.emplace(id, Progress(log_.last_index() + 1, false));
    it->second.set_learner(false);
    // A new member has had no chance to answer yet; do not let check-quorum count it absent.
    if (added) it->second.recent_active = true;
  }
  for (NodeId id : m.learners) {
    auto [it, added] = progress_.emplace(id, Progress(log_.last_index() + 1, true));
    it->second.set_learner(true);
    if (added) it->second.recent_active = true;
  }
  if (lead_transferee_ != kNoNode && !m.IsVoter(lead_transferee_)) AbortTransfer();
  MaybeCommit();  // removing a lagging voter can commit at once
}

void RawNode::StepDownIfRemoved() {
  if (role_ != Role::kLeader || log_.membership().IsVoter(config_.id) || commit_ < log_.membership_index()) return;
  // Our removal is committed: tell the followers, hand over to the most caught-up voter, stop.
  BroadcastAppend();
  append_pending_ = false;
  NodeId best = kNoNode;
  for (NodeId id : log_.membership().voters) {
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.match() == log_.last_index()) {
      best = id;
      break;
    }
  }
  if (best != kNoNode) SendTimeoutNow(best);
  BecomeFollower(term_, kNoNode);
}

absl::Status RawNode::Validate(const Message& m) const {
  if (m.from == kNoNode) return absl::InvalidArgumentError(absl::StrCat(MessageTypeName(m.type), " from node 0"));
  switch (m.type) {
    case MessageType::kAppend:
      if (m.log_term > m.term) {
        return absl::InvalidArgumentError(absl::StrCat("append from ", m.from, ": previous term ", m.log_term, " > term ", m.term));
      }
      if (absl::Status s = ValidateEntries(m.index, m.log_term, m.term, m.entries); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("append from ", m.from, ": ", s.message()));
      }
      return absl::OkStatus();
    case MessageType::kSnapshot: {
      if (!m.snapshot.has_value()) return absl::InvalidArgumentError(absl::StrCat("snapshot message from ", m.from, " without metadata"));
      const SnapshotMeta& s = *m.snapshot;
      bool disjoint = true;
      for (NodeId id : s.membership.learners) disjoint &= !s.membership.IsVoter(id);
      if (s.index == 0 || s.term == 0 || s.term > m.term || s.membership.voters.empty() || !disjoint) {
        return absl::InvalidArgumentError(absl::StrCat("snapshot from ", m.from, ": invalid metadata (index ", s.index,
                                                       ", term ", s.term, ", ", s.membership.DebugString(), ")"));
      }
      return absl::OkStatus();
    }
    case MessageType::kPreVote:
    case MessageType::kPreVoteResponse:
    case MessageType::kVote:
    case MessageType::kVoteResponse:
    case MessageType::kAppendResponse:
    case MessageType::kHeartbeat:
    case MessageType::kHeartbeatResponse:
    case MessageType::kTimeoutNow:
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResponse: return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown message type ", static_cast<int>(m.type), " from ", m.from));
}

absl::Status RawNode::Step(const Message& m) {
  if (absl::Status s = Validate(m); !s.ok()) return s;
  if (m.to != config_.id) return absl::OkStatus();
  if (m.term > term_) {
    const bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (vote_request && !m.leader_transfer && config_.check_quorum && InLease()) {
      return absl::OkStatus();  // we heard from a live leader recently: do not let a partitioned node depose it
    }
    if (m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResponse && !m.reject)) {
      // Pre-votes are about a future term and change no state.
    } else {
      const bool from_leader =
          m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat || m.type == MessageType::kSnapshot;
      BecomeFollower(m.term, from_leader ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend)) {
      // A deposed leader: tell it our term so it steps down.
      Message reply;
      reply.type = MessageType::kAppendResponse;
      reply.to = m.from;
      Send(std::move(reply));
    } else if (m.type == MessageType::kPreVote) {
      Message reply;
      reply.type = MessageType::kPreVoteResponse;
      reply.to = m.from;
      reply.reject = true;
      Send(std::move(reply));
    }
    return absl::OkStatus();
  }
  const bool leader = role_ == Role::kLeader;
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote: HandleVoteRequest(m); break;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: HandleVoteResponse(m); break;
    case MessageType::kAppend:
      if (!leader) return HandleAppend(m);
      break;
    case MessageType::kAppendResponse:
      if (leader) HandleAppendResponse(m);
      break;
    case MessageType::kHeartbeat:
      if (!leader) HandleHeartbeat(m);
      break;
    case MessageType::kHeartbeatResponse:
      if (leader) HandleHeartbeatResponse(m);
      break;
    case MessageType::kSnapshot:
      if (!leader) HandleSnapshot(m);
      break;
    case MessageType::kTimeoutNow:
      // Thesis §3.10: campaign at once, skipping pre-vote; voters skip their lease check.
      if (role_ == Role::kFollower && Promotable()) Campaign(false, true);
      break;
    case MessageType::kReadIndex:
      if (leader) HandleReadRequest(m.from, m.context);
      break;
    case MessageType::kReadIndexResponse:
      if (!leader) read_states_.push_back(ReadState{m.index, m.context});
      break;
  }
  return absl::OkStatus();
}

void RawNode::HandleVoteRequest(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  Message reply;
  reply.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  reply.to = m.from;
  if (can_vote && LogUpToDate(m.index, m.log_term)) {
    reply.term = m.term;  // for a pre-vote: the term the candidate will campaign in
    if (!pre) {
      vote_ = m.from;
      election_elapsed_ = 0;
    }
  } else {
    reply.reject = true;
  }
  Send(std::move(reply));
}

void RawNode::HandleVoteResponse(const Message& m) {
  const bool pre = m.type == MessageType::kPreVoteResponse;
  if (pre ? role_ != Role::kPreCandidate : role_ != Role::kCandidate) return;
  if (pre && !m.reject && m.term != term_ + 1) return;  // a response to an older pre-vote
  votes_[m.from] = !m.reject;
  switch (TallyVotes()) {
    case VoteResult::kWon:
      if (pre) {
        Campaign(false, false);
      } else {
        BecomeLeader();
      }
      break;
    case VoteResult::kLost: BecomeFollower(term_, kNoNode); break;
    case VoteResult::kPending: break;
  }
}

void RawNode::HeardFromLeader(NodeId leader) {
  if (role_ != Role::kFollower) BecomeFollower(term_, leader);
  leader_ = leader;
  election_elapsed_ = 0;
  starting_ = false;
}

absl::Status RawNode::HandleAppend(const Message& m) {
  HeardFromLeader(m.from);
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = m.from;
  if (m.index < commit_) {
    reply.index = commit_;  // already committed here; the leader moves on from there
    Send(std::move(reply));
    return absl::OkStatus();
  }
  if (log_.term(m.index) != m.log_term) {
    reply.reject = true;
    reply.index = m.index;
    const auto [hint_index, hint_term] = log_.FindConflictByTerm(m.index, m.log_term);
    reply.reject_hint = std::max(hint_index, commit_);
    reply.log_term = hint_index >= commit_ ? hint_term : *log_.term(commit_);
    Send(std::move(reply));
    return absl::OkStatus();
  }
  // The first entry not already in the log; a conflicting suffix from an old term is replaced.
  size_t first_new = 0;
  while (first_new < m.entries.size() && log_.term(m.entries[first_new].index) == m.entries[first_new].term) ++first_new;
  if (first_new < m.entries.size()) {
    const Index conflict = m.entries[first_new].index;
    if (conflict <= commit_) {
      return absl::InternalError(absl::StrCat("append from ", m.from, " conflicts with committed entry ", conflict));
    }
    if (conflict <= log_.last_index()) log_.TruncateFrom(conflict);
    for (size_t i = first_new; i < m.entries.size(); ++i) log_.Append(m.entries[i]);
    OnMembershipChanged();
  }
  const Index last_new = m.index + m.entries.size();
  commit_ = std::max(commit_, std::min(m.commit, last_new));
  reply.index = last_new;
  Send(std::move(reply));
  return absl::OkStatus();
}

void RawNode::HandleAppendResponse(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    Index hint = m.reject_hint;
    if (m.log_term > 0 && hint + 1 >= log_.first_index()) hint = log_.FindConflictByTerm(hint, m.log_term).first;
    if (pr.MaybeDecrTo(m.index, hint)) {
      if (pr.state() == Progress::State::kReplicate) pr.BecomeProbe();
      MaybeSendAppend(m.from, true);
    }
    return;
  }
  if (m.index > log_.last_index()) return;  // not from this leader's log
  if (pr.MaybeUpdate(m.index)) {
    if (pr.state() == Progress::State::kProbe) {
      pr.BecomeReplicate();
    } else if (pr.state() == Progress::State::kSnapshot && pr.match() + 1 >= log_.first_index()) {
      pr.BecomeProbe();
      pr.BecomeReplicate();
    }
    MaybeCommit();
    if (role_ != Role::kLeader) return;  // stepped down after committing its own removal
    if (m.from == lead_transferee_ && pr.match() == log_.last_index()) SendTimeoutNow(m.from);
  }
  while (MaybeSendAppend(m.from, false)) {
  }
}

void RawNode::HandleHeartbeat(const Message& m) {
  HeardFromLeader(m.from);
  commit_ = std::max(commit_, std::min(m.commit, log_.last_index()));
  Message reply;
  reply.type = MessageType::kHeartbeatResponse;
  reply.to = m.from;
  reply.seq = m.seq;
  Send(std::move(reply));
}

void RawNode::HandleHeartbeatResponse(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.OnHeartbeatResponse(config_.max_inflight_messages);
  if (m.seq > pr.acked_seq && m.seq <= heartbeat_seq_) {
    pr.acked_seq = m.seq;
    MaybeReleaseReads();
  }
  // Appends may have been lost: send what the follower is not known to hold.
  if (pr.match() < log_.last_index()) MaybeSendAppend(m.from, true);
}

void RawNode::HandleSnapshot(const Message& m) {
  HeardFromLeader(m.from);
  const SnapshotMeta& s = *m.snapshot;
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = m.from;
  if (s.index <= commit_) {
    reply.index = commit_;
  } else if (log_.term(s.index) == s.term) {
    commit_ = s.index;  // the log already holds it: no need to install anything
    reply.index = commit_;
  } else {
    log_.Reset(s.index, s.term, s.membership);
    OnMembershipChanged();
    commit_ = s.index;
    snapshot_ = s;
    pending_install_ = s;
    reply.index = s.index;
  }
  Send(std::move(reply));
}

void RawNode::ReportSnapshot(NodeId to, SnapshotStatus status) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(to);
  if (it == progress_.end() || it->second.state() != Progress::State::kSnapshot) return;
  if (status == SnapshotStatus::kFailed) it->second.SnapshotFailed();
  it->second.BecomeProbe();
  // Wait for the follower's answer (or a heartbeat response) before probing.
  it->second.SentAppend(0);
}

void RawNode::ReportUnreachable(NodeId to) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(to);
  if (it != progress_.end() && it->second.state() == Progress::State::kReplicate) it->second.BecomeProbe();
}

absl::StatusOr<SnapshotMeta> RawNode::SnapshotMetaAt(Index index) const {
  if (index > applied_ || index < snapshot_.index || index + 1 < log_.first_index()) {
    return absl::FailedPreconditionError(absl::StrCat("no snapshot possible at index ", index, " (snapshot ", snapshot_.index,
                                                      ", first ", log_.first_index(), ", applied ", applied_, ")"));
  }
  const Membership& membership = log_.MembershipAt(index);
  if (membership.voters.empty()) {
    // A server that joined an existing cluster learns the membership from the change that added
    // it; before that entry it does not know it (the bootstrap membership is not in the log).
    return absl::FailedPreconditionError(
        absl::StrCat("the membership at index ", index, " is not known on node ", config_.id, " (it joined later)"));
  }
  return SnapshotMeta{index, *log_.term(index), membership};
}

absl::Status RawNode::Compact(const SnapshotMeta& meta, Index keep_entries) {
  auto expected = SnapshotMetaAt(meta.index);
  if (!expected.ok()) return expected.status();
  if (!(*expected == meta)) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot metadata at ", meta.index, " (term ", meta.term, ", ",
                                                   meta.membership.DebugString(), ") does not match the log (term ",
                                                   expected->term, ", ", expected->membership.DebugString(), ")"));
  }
  snapshot_ = meta;
  const Index to = meta.index > keep_entries ? meta.index - keep_entries : 0;
  if (to + 1 > log_.first_index()) log_.CompactTo(to);
  return absl::OkStatus();
}

const Progress* RawNode::progress(NodeId id) const {
  auto it = progress_.find(id);
  return role_ == Role::kLeader && it != progress_.end() ? &it->second : nullptr;
}

bool RawNode::HasReady() const {
  const Index applied = std::max(applied_, pending_install_.has_value() ? pending_install_->index : 0);
  return pending_install_.has_value() || HardState{term_, vote_, commit_} != last_hard_state_ ||
         log_.stable_index() < log_.last_index() || !outbox_.empty() || !read_states_.empty() || applied < commit_ ||
         (role_ == Role::kLeader && (append_pending_ || read_round_needed_));
}

Ready RawNode::GetReady() {
  // A second Ready before Advance would hand out the same committed entries again.
  RAFT_CHECK(!ready_outstanding_, "node %llu: GetReady() before Advance() of the previous Ready",
             (unsigned long long)config_.id);
  ready_outstanding_ = true;
  if (role_ == Role::kLeader) {
    if (append_pending_) {
      append_pending_ = false;
      BroadcastAppend();
    }
    if (read_round_needed_) BroadcastHeartbeat();
  }
  Ready ready;
  ready.snapshot = std::move(pending_install_);
  pending_install_.reset();
  HardState hs{term_, vote_, commit_};
  if (hs != last_hard_state_) ready.hard_state = hs;
  if (log_.stable_index() < log_.last_index()) {
    ready.entries = log_.Slice(log_.stable_index() + 1, log_.last_index(), SIZE_MAX, SIZE_MAX);
  }
  ready.messages = std::move(outbox_);
  outbox_.clear();
  const Index applied = std::max(applied_, ready.snapshot.has_value() ? ready.snapshot->index : 0);
  if (applied < commit_) {
    ready.committed_entries = log_.Slice(applied + 1, commit_, SIZE_MAX, config_.max_apply_bytes_per_ready);
  }
  ready.read_states = std::move(read_states_);
  read_states_.clear();
  return ready;
}

void RawNode::Advance(const Ready& ready) {
  ready_outstanding_ = false;
  if (ready.snapshot.has_value()) applied_ = std::max(applied_, ready.snapshot->index);
  if (ready.hard_state.has_value()) last_hard_state_ = *ready.hard_state;
  if (!ready.entries.empty()) log_.StableTo(ready.entries.back().index, ready.entries.back().term);
  if (!ready.committed_entries.empty()) applied_ = std::max(applied_, ready.committed_entries.back().index);
}

}  // namespace cistern::raft
