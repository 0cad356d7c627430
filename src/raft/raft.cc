#include "raft/raft.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

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

RawNode::RawNode(Config config, HardState hard_state, std::vector<Entry> log)
    : config_(std::move(config)),
      voters_(std::set<NodeId>(config_.voters.begin(), config_.voters.end())),
      rng_(config_.seed ^ (config_.id * 0x9E3779B97F4A7C15ull)) {
  log_.push_back(Entry{0, 0, {}});
  for (Entry& e : log) log_.push_back(std::move(e));
  term_ = hard_state.term;
  vote_ = hard_state.vote;
  commit_ = std::min(hard_state.commit, last_index());
  applied_ = std::min(config_.applied, commit_);
  stable_ = last_index();
  last_hard_state_ = hard_state;
  ResetElectionTimer();
}

Term RawNode::TermAt(Index index) const { return index <= last_index() ? log_[index].term : 0; }

bool RawNode::LogUpToDate(Index last_index, Term last_term) const {
  const Term my_last_term = log_.back().term;
  return last_term > my_last_term || (last_term == my_last_term && last_index >= this->last_index());
}

void RawNode::ResetElectionTimer() {
  election_elapsed_ = 0;
  randomized_election_ticks_ =
      config_.election_ticks + static_cast<int>(rng_() % static_cast<uint64_t>(std::max(config_.election_ticks, 1)));
}

void RawNode::BecomeFollower(Term term, NodeId leader) {
  if (term > term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  role_ = Role::kFollower;
  leader_ = leader;
  votes_.clear();
  progress_.clear();
  ResetElectionTimer();
}

void RawNode::BecomePreCandidate() {
  // A pre-vote changes neither term nor vote, so a node cut off from the cluster cannot inflate
  // its term and disrupt a healthy leader when it comes back.
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  votes_ = {{config_.id, true}};
  ResetElectionTimer();
}

void RawNode::BecomeCandidate() {
  ++term_;
  vote_ = config_.id;
  role_ = Role::kCandidate;
  leader_ = kNoNode;
  votes_ = {{config_.id, true}};
  ResetElectionTimer();
}

void RawNode::BecomeLeader() {
  role_ = Role::kLeader;
  leader_ = config_.id;
  votes_.clear();
  progress_.clear();
  for (NodeId id : voters_.voters()) progress_[id] = Progress{0, last_index() + 1, 0, id == config_.id};
  heartbeat_elapsed_ = 0;
  election_elapsed_ = 0;
  // An entry of the new term: committing it commits everything before it (Raft §5.4.2).
  log_.push_back(Entry{term_, last_index() + 1, {}});
  progress_[config_.id].match = last_index();
  progress_[config_.id].next = last_index() + 1;
  MaybeCommit();
  BroadcastAppend();
}

VoteResult RawNode::TallyVotes() const {
  return voters_.Vote([&](NodeId id) -> std::optional<bool> {
    auto it = votes_.find(id);
    return it == votes_.end() ? std::nullopt : std::optional<bool>(it->second);
  });
}

void RawNode::Campaign(bool pre_vote) {
  if (pre_vote) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
  }
  if (TallyVotes() == VoteResult::kWon) {  // a single-voter cluster
    if (pre_vote) {
      Campaign(false);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId id : voters_.voters()) {
    if (id == config_.id) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.to = id;
    m.term = pre_vote ? term_ + 1 : term_;
    m.index = last_index();
    m.log_term = log_.back().term;
    Send(std::move(m));
  }
}

void RawNode::Send(Message message) {
  message.from = config_.id;
  if (message.term == 0) message.term = term_;
  outbox_.push_back(std::move(message));
}

void RawNode::Tick() {
  if (role_ == Role::kLeader) {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (config_.check_quorum && election_elapsed_ >= config_.election_ticks) {
      election_elapsed_ = 0;
      VoteResult active = voters_.Vote([&](NodeId id) -> std::optional<bool> {
        auto it = progress_.find(id);
        return it != progress_.end() && it->second.recent_active;
      });
      for (auto& [id, pr] : progress_) pr.recent_active = id == config_.id;
      if (active != VoteResult::kWon) {
        // Without contact to a quorum for an election timeout, another leader may exist: step
        // down rather than serve stale reads or accept proposals that cannot commit.
        BecomeFollower(term_, kNoNode);
        return;
      }
    }
    if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      BroadcastHeartbeat();
    }
    return;
  }
  if (++election_elapsed_ >= randomized_election_ticks_) Campaign(config_.pre_vote);
}

absl::Status RawNode::Propose(std::string data) {
  if (role_ != Role::kLeader) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", config_.id, " is not the leader (leader: ", leader_, ")"));
  }
  log_.push_back(Entry{term_, last_index() + 1, std::move(data)});
  progress_[config_.id].match = last_index();
  progress_[config_.id].next = last_index() + 1;
  MaybeCommit();
  BroadcastAppend();
  return absl::OkStatus();
}

void RawNode::SendAppend(NodeId to) {
  Progress& pr = progress_[to];
  if (pr.inflight >= config_.max_inflight_messages) return;
  const Index prev = pr.next - 1;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = TermAt(prev);
  m.commit = commit_;
  const Index last = std::min<Index>(last_index(), prev + config_.max_entries_per_message);
  for (Index i = pr.next; i <= last; ++i) m.entries.push_back(log_[i]);
  if (!m.entries.empty()) {
    pr.next = last + 1;  // optimistic: pipeline the next batch without waiting for the ack
    ++pr.inflight;
  }
  Send(std::move(m));
}

void RawNode::BroadcastAppend() {
  for (auto& [id, pr] : progress_) {
    if (id != config_.id) SendAppend(id);
  }
}

void RawNode::BroadcastHeartbeat() {
  for (auto& [id, pr] : progress_) {
    if (id == config_.id) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    // Only what the follower is known to hold may be committed on its side.
    m.commit = std::min(pr.match, commit_);
    Send(std::move(m));
  }
}

void RawNode::MaybeCommit() {
  const Index index = voters_.CommittedIndex([&](NodeId id) -> std::optional<Index> {
    auto it = progress_.find(id);
    return it == progress_.end() ? std::nullopt : std::optional<Index>(it->second.match);
  });
  if (index != kInfiniteIndex && index > commit_ && TermAt(index) == term_) {
    commit_ = index;
    BroadcastAppend();
  }
}

void RawNode::Step(const Message& m) {
  if (m.term > term_) {
    const bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (vote_request && config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_ticks) {
      return;  // we heard from a live leader recently: do not let a partitioned node depose it
    }
    if (m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResponse && !m.reject)) {
      // Pre-votes are about a future term and change no state.
    } else {
      const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat;
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
    return;
  }
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote: HandleVoteRequest(m); break;
    case MessageType::kPreVoteResponse:
    case MessageType::kVoteResponse: HandleVoteResponse(m); break;
    case MessageType::kAppend: HandleAppend(m); break;
    case MessageType::kAppendResponse: HandleAppendResponse(m); break;
    case MessageType::kHeartbeat: HandleHeartbeat(m); break;
    case MessageType::kHeartbeatResponse: HandleHeartbeatResponse(m); break;
  }
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
        Campaign(false);
      } else {
        BecomeLeader();
      }
      break;
    case VoteResult::kLost: BecomeFollower(term_, kNoNode); break;
    case VoteResult::kPending: break;
  }
}

void RawNode::HandleAppend(const Message& m) {
  if (role_ != Role::kFollower) BecomeFollower(term_, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = m.from;
  if (m.index < commit_) {
    reply.index = commit_;  // already committed here; the leader moves on from there
    Send(std::move(reply));
    return;
  }
  if (m.index > last_index() || TermAt(m.index) != m.log_term) {
    reply.reject = true;
    reply.index = m.index;
    reply.reject_hint = last_index();
    Send(std::move(reply));
    return;
  }
  for (const Entry& e : m.entries) {
    if (e.index <= last_index()) {
      if (TermAt(e.index) == e.term) continue;
      // A conflicting suffix from an old term: never part of what is committed.
      log_.resize(e.index);
      stable_ = std::min(stable_, e.index - 1);
    }
    log_.push_back(e);
  }
  const Index last_new = m.index + m.entries.size();
  commit_ = std::max(commit_, std::min(m.commit, last_new));
  reply.index = last_new;
  Send(std::move(reply));
}

void RawNode::HandleAppendResponse(const Message& m) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    if (m.index <= pr.match) return;  // stale
    pr.next = std::max(pr.match + 1, std::min(m.index, m.reject_hint + 1));
    pr.inflight = 0;
    SendAppend(m.from);
    return;
  }
  pr.match = std::max(pr.match, m.index);
  pr.next = std::max(pr.next, m.index + 1);
  if (pr.inflight > 0) --pr.inflight;
  MaybeCommit();
  if (pr.next <= last_index()) SendAppend(m.from);
}

void RawNode::HandleHeartbeat(const Message& m) {
  if (role_ != Role::kFollower) BecomeFollower(term_, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  commit_ = std::max(commit_, std::min(m.commit, last_index()));
  Message reply;
  reply.type = MessageType::kHeartbeatResponse;
  reply.to = m.from;
  Send(std::move(reply));
}

void RawNode::HandleHeartbeatResponse(const Message& m) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (pr.match < last_index()) {
    // Appends may have been lost: restart from what the follower is known to hold.
    pr.inflight = 0;
    pr.next = pr.match + 1;
    SendAppend(m.from);
  }
}

bool RawNode::HasReady() const {
  return HardState{term_, vote_, commit_} != last_hard_state_ || stable_ < last_index() || !outbox_.empty() ||
         applied_ < std::min(commit_, last_index());
}

Ready RawNode::GetReady() {
  Ready ready;
  HardState hs{term_, vote_, commit_};
  if (hs != last_hard_state_) ready.hard_state = hs;
  for (Index i = stable_ + 1; i <= last_index(); ++i) ready.entries.push_back(log_[i]);
  ready.messages = std::move(outbox_);
  outbox_.clear();
  for (Index i = applied_ + 1; i <= std::min(commit_, last_index()); ++i) ready.committed_entries.push_back(log_[i]);
  return ready;
}

void RawNode::Advance(const Ready& ready) {
  if (ready.hard_state.has_value()) last_hard_state_ = *ready.hard_state;
  if (!ready.entries.empty()) stable_ = std::max(stable_, std::min(ready.entries.back().index, last_index()));
  if (!ready.committed_entries.empty()) applied_ = ready.committed_entries.back().index;
}

}  // namespace cistern::raft
