#include "journal/raft_journal.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace cistern::journal {

absl::StatusOr<std::unique_ptr<RaftJournal>> RaftJournal::Open(RaftJournalOptions options, RaftStorage* storage,
                                                               StateMachine* state_machine, RaftTransport* transport,
                                                               Clock* clock) {
  if (options.id == raft::kNoNode) return absl::InvalidArgumentError("raft node id must not be 0");
  if (std::find(options.voters.begin(), options.voters.end(), options.id) == options.voters.end()) {
    return absl::InvalidArgumentError(absl::StrCat("raft node ", options.id, " is not among the voters"));
  }
  if (options.tick_interval_ms <= 0 || options.election_ticks <= options.heartbeat_ticks || options.heartbeat_ticks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("raft timing: tick ", options.tick_interval_ms, " ms, election ",
                                                   options.election_ticks, " ticks, heartbeat ", options.heartbeat_ticks,
                                                   " ticks (need heartbeat < election)"));
  }
  const raft::Index applied = state_machine->last_applied_index();
  const raft::HardState hard_state = storage->hard_state();
  if (applied > storage->last_index() || applied > hard_state.commit) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the state machine has applied index ", applied, " but the Raft log ends at index ", storage->last_index(),
        " (commit ", hard_state.commit, "): the metastore and the Raft log do not belong together"));
  }
  std::unique_ptr<RaftJournal> journal(new RaftJournal(std::move(options), storage, state_machine, transport, clock));
  absl::StatusOr<std::vector<raft::Entry>> log = storage->LoadEntries();
  if (!log.ok()) return log.status();
  raft::Config config;
  config.id = journal->options_.id;
  config.voters = journal->options_.voters;
  config.election_ticks = journal->options_.election_ticks;
  config.heartbeat_ticks = journal->options_.heartbeat_ticks;
  config.seed = journal->options_.seed != 0 ? journal->options_.seed : std::random_device{}();
  config.applied = applied;
  journal->node_ = std::make_unique<raft::RawNode>(config, hard_state, *std::move(log));
  journal->term_ = journal->node_->term();
  journal->PublishStatus();
  return journal;
}

RaftJournal::RaftJournal(RaftJournalOptions options, RaftStorage* storage, StateMachine* state_machine,
                         RaftTransport* transport, Clock* clock)
    : options_(std::move(options)), storage_(storage), state_machine_(state_machine), transport_(transport),
      clock_(clock) {}

RaftJournal::~RaftJournal() { Stop(); }

void RaftJournal::Start() {
  spdlog::info("{}: starting with {} voters, log {}..{}, commit {}, applied {}", Tag(), options_.voters.size(),
               node_->log().size() > 1 ? 1 : 0, node_->last_index(), node_->commit(), node_->applied());
  thread_ = std::thread([this] { Run(); });
}

void RaftJournal::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // The driver has exited; nobody else touches in_flight_ now.
  FailInFlight(absl::UnavailableError(absl::StrCat(NodeName(options_.id), " is shutting down")));
  absl::MutexLock lock(&mu_);
  for (Proposal& p : proposals_) p.waiter->Finish(absl::UnavailableError("journal stopped"));
  proposals_.clear();
  for (auto& r : reads_) r->Finish(absl::UnavailableError("journal stopped"));
  reads_.clear();
}

std::string RaftJournal::NodeName(raft::NodeId id) const {
  if (options_.node_name) return options_.node_name(id);
  return absl::StrCat("node ", id);
}

std::string RaftJournal::Tag() const {
  return absl::StrCat("raft ", NodeName(options_.id), " (", raft::RoleName(role_), ", term ", term_, ")");
}

absl::Status RaftJournal::NotLeaderErrorFor(raft::NodeId leader, raft::Term term) const {
  if (leader == raft::kNoNode) {
    return absl::UnavailableError(
        absl::StrCat(NodeName(options_.id), " is not the leader and knows no leader at term ", term, "; retry"));
  }
  if (leader == options_.id) {
    return absl::UnavailableError(
        absl::StrCat(NodeName(options_.id), " became leader at term ", term, " and is catching up; retry"));
  }
  return absl::UnavailableError(absl::StrCat(NodeName(options_.id), " is not the leader; the leader is ",
                                             NodeName(leader), " (term ", term, ")"));
}

absl::Status RaftJournal::NotLeaderError() const {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return broken_;
  return NotLeaderErrorFor(status_.leader, status_.term);
}

RaftJournalStatus RaftJournal::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

uint64_t RaftJournal::applied_index() const {
  absl::MutexLock lock(&mu_);
  return status_.applied;
}

void RaftJournal::Receive(std::vector<raft::Message> messages) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !broken_.ok()) return;
  for (raft::Message& m : messages) {
    if (m.to != options_.id) continue;  // misrouted (e.g. a peer list that names ports wrongly)
    if (inbox_.size() >= options_.max_queued_messages) break;  // Raft retransmits what is lost
    inbox_.push_back(std::move(m));
  }
}

absl::StatusOr<Appended> RaftJournal::Append(const proto::JournalEntry& entry) {
  auto waiter = std::make_shared<Waiter>();
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    if (stopping_) return absl::UnavailableError("journal stopped");
    if (status_.role != raft::Role::kLeader) return NotLeaderErrorFor(status_.leader, status_.term);
    auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return proposals_.size() < options_.max_queued_proposals || stopping_ || !broken_.ok();
    };
    mu_.Await(absl::Condition(&has_room));
    if (!broken_.ok()) return broken_;
    if (stopping_) return absl::UnavailableError("journal stopped");
    proposals_.push_back(Proposal{entry.SerializeAsString(), waiter});
  }
  if (!waiter->done.WaitForNotificationWithTimeout(absl::Milliseconds(options_.append_timeout_ms))) {
    return OutcomeUnknownError(absl::StatusCode::kDeadlineExceeded,
                               absl::StrCat("journal entry not applied within ", options_.append_timeout_ms,
                                            " ms; its outcome is unknown"));
  }
  return waiter->result;
}

absl::Status RaftJournal::WaitDurable(uint64_t index) {
  // An applied entry is committed: it is on the synced logs of a quorum.
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return status_.applied >= index || stopping_ || !broken_.ok();
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(options_.append_timeout_ms))) {
    return absl::DeadlineExceededError(absl::StrCat("journal index ", index, " not applied in time"));
  }
  if (status_.applied >= index) return absl::OkStatus();
  if (!broken_.ok()) return broken_;
  return absl::UnavailableError("journal stopped");
}

absl::Status RaftJournal::ConfirmRead(uint64_t index) {
  auto waiter = std::make_shared<Waiter>();
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    if (stopping_) return absl::UnavailableError("journal stopped");
    if (!status_.serving) return NotLeaderErrorFor(status_.leader, status_.term);
    if (status_.applied < index) {
      return absl::InternalError(absl::StrCat("read at index ", index, " beyond the applied index ", status_.applied));
    }
    reads_.push_back(waiter);
  }
  if (!waiter->done.WaitForNotificationWithTimeout(absl::Milliseconds(options_.append_timeout_ms))) {
    return absl::UnavailableError("could not confirm leadership in time; retry");
  }
  return waiter->result.status();
}

bool RaftJournal::HasWorkLocked() const {
  return stopping_ || !inbox_.empty() || !proposals_.empty() || !reads_.empty();
}

void RaftJournal::Run() {
  const int64_t tick_ms = options_.tick_interval_ms;
  int64_t next_tick_ms = clock_->MonotonicMs() + tick_ms;
  while (true) {
    std::vector<raft::Message> inbox;
    std::vector<Proposal> proposals;
    std::vector<std::shared_ptr<Waiter>> reads;
    {
      absl::MutexLock lock(&mu_);
      const int64_t wait_ms = std::max<int64_t>(0, next_tick_ms - clock_->MonotonicMs());
      mu_.AwaitWithTimeout(absl::Condition(this, &RaftJournal::HasWorkLocked), absl::Milliseconds(wait_ms));
      if (stopping_) return;
      inbox.swap(inbox_);
      const size_t n = std::min(proposals_.size(), options_.max_proposals_per_round);
      for (size_t i = 0; i < n; ++i) {
        proposals.push_back(std::move(proposals_.front()));
        proposals_.pop_front();
      }
      reads.swap(reads_);
    }
    // Messages first: after a stall (a slow sync), what peers sent meanwhile counts before the
    // stall's ticks do, so a busy follower does not campaign against a live leader.
    for (const raft::Message& m : inbox) node_->Step(m);
    const int64_t now_ms = clock_->MonotonicMs();
    int ticks = 0;
    while (now_ms >= next_tick_ms) {
      next_tick_ms += tick_ms;
      // At most half an election timeout at once, so a long stall never fires an election by
      // itself; time then runs slow until the driver catches up.
      if (ticks < std::max(1, options_.election_ticks / 2)) {
        node_->Tick();
        ++ticks;
      }
    }
    if (next_tick_ms < now_ms) next_tick_ms = now_ms + tick_ms;
    ObserveRole();
    for (Proposal& p : proposals) {
      absl::StatusOr<raft::EntryId> id = node_->Propose(std::move(p.data));
      if (!id.ok()) {
        p.waiter->Finish(NotLeaderErrorFor(node_->leader(), node_->term()));
        continue;
      }
      ++entries_appended_;
      in_flight_[id->index] = InFlight{id->term, std::move(p.waiter), {}};
    }
    if (!reads.empty()) {
      absl::StatusOr<raft::EntryId> id =
          serving_ ? node_->Propose(std::string()) : absl::StatusOr<raft::EntryId>(absl::UnavailableError("not serving"));
      if (id.ok()) {
        in_flight_[id->index] = InFlight{id->term, nullptr, std::move(reads)};
      } else {
        for (auto& r : reads) r->Finish(NotLeaderErrorFor(node_->leader(), node_->term()));
      }
    }
    if (!ProcessReady()) return;
    PublishStatus();
  }
}

bool RaftJournal::ProcessReady() {
  while (node_->HasReady()) {
    raft::Ready ready = node_->GetReady();
    if (ready.hard_state.has_value() || !ready.entries.empty()) {
      absl::Status saved = storage_->Save(ready.hard_state, ready.entries);
      if (!saved.ok()) {
        FailStop(absl::UnavailableError(absl::StrCat("raft log write failed, journal stopped: ", saved.message())));
        return false;
      }
      ++log_syncs_;
    }
    if (!ready.messages.empty()) transport_->Send(std::move(ready.messages));
    if (!ApplyCommitted(ready.committed_entries)) return false;
    node_->Advance(ready);
  }
  ObserveRole();
  return true;
}

bool RaftJournal::ApplyCommitted(const std::vector<raft::Entry>& entries) {
  if (entries.empty()) return true;
  for (const raft::Entry& e : entries) {
    if (e.index <= state_machine_->last_applied_index()) continue;
    proto::JournalEntry entry;
    if (!entry.ParseFromString(e.data)) {
      FailStop(absl::DataLossError(absl::StrCat("raft entry ", e.index, " (term ", e.term,
                                                ") is not a journal entry; journal stopped")));
      return false;
    }
    absl::StatusOr<ApplyOutcome> outcome = state_machine_->Apply(e.index, entry);
    if (!outcome.ok()) {
      FailStop(absl::UnavailableError(absl::StrCat("applying journal entry ", e.index,
                                                   " failed, journal stopped: ", outcome.status().message())));
      return false;
    }
    auto it = in_flight_.find(e.index);
    if (it == in_flight_.end()) continue;
    InFlight done = std::move(it->second);
    in_flight_.erase(it);
    if (done.term != e.term) {
      // Another leader's entry took this index: ours was never committed.
      absl::Status lost = absl::UnavailableError(
          absl::StrCat("journal entry at index ", e.index, " was replaced by a newer leader's; retry"));
      if (done.waiter) done.waiter->Finish(lost);
      for (auto& r : done.readers) r->Finish(lost);
      continue;
    }
    if (done.waiter) done.waiter->Finish(Appended{e.index, *std::move(outcome)});
    for (auto& r : done.readers) r->Finish(Appended{e.index, {}});
  }
  {
    absl::MutexLock lock(&mu_);
    status_.applied = state_machine_->last_applied_index();
  }
  return true;
}

void RaftJournal::ObserveRole() {
  const raft::Role role = node_->role();
  const raft::Term term = node_->term();
  const raft::NodeId leader = node_->leader();
  bool lost_leadership = false;
  if (role != role_ || term != term_ || leader != leader_) {
    const bool was_leader = role_ == raft::Role::kLeader;
    const bool new_term = term != term_;
    const raft::Role old_role = role_;
    role_ = role;
    term_ = term;
    leader_ = leader;
    lost_leadership = was_leader && (role != raft::Role::kLeader || new_term);
    if (role == raft::Role::kLeader && (!was_leader || new_term)) {
      // BecomeLeader appended the no-op of this term just now: once it is applied, this node
      // has applied every entry committed before its term (Raft §5.4.2, §8).
      term_start_index_ = node_->last_index();
      spdlog::info("{}: elected; serving once index {} is applied", Tag(), term_start_index_);
    } else if (role != old_role) {
      spdlog::info("{}: now {} (leader: {})", Tag(), raft::RoleName(role),
                   leader == raft::kNoNode ? std::string("unknown") : NodeName(leader));
    } else if (leader != raft::kNoNode && leader != options_.id) {
      spdlog::info("{}: following {}", Tag(), NodeName(leader));
    }
  }
  const bool serving = role_ == raft::Role::kLeader && state_machine_->last_applied_index() >= term_start_index_;
  const bool serving_changed = serving != serving_;
  serving_ = serving;
  // Callers learn of a lost leadership (status, fast refusal) before any waiter is answered.
  if (serving_changed || lost_leadership) PublishStatus();
  if (lost_leadership) {
    FailInFlight(OutcomeUnknownError(
        absl::StatusCode::kUnavailable,
        absl::StrCat(NodeName(options_.id), " lost the leadership at term ", term_,
                     " before the entry was applied; its outcome is unknown, retry with the same operation id")));
  }
  if (serving_changed) {
    spdlog::info("{}: {}", Tag(), serving ? "serving as leader" : "stopped serving");
    if (serving_callback_) serving_callback_(serving, term_);
  }
}

void RaftJournal::FailInFlight(const absl::Status& status) {
  for (auto& [index, in_flight] : in_flight_) {
    if (in_flight.waiter) in_flight.waiter->Finish(status);
    for (auto& r : in_flight.readers) r->Finish(absl::Status(status.code(), status.message()));
  }
  in_flight_.clear();
}

void RaftJournal::FailStop(const absl::Status& error) {
  spdlog::critical("{}: {}", Tag(), error.ToString());
  const bool was_serving = serving_;
  serving_ = false;
  std::deque<Proposal> proposals;
  std::vector<std::shared_ptr<Waiter>> reads;
  {
    absl::MutexLock lock(&mu_);
    broken_ = error;
    status_.error = error;
    status_.serving = false;
    proposals.swap(proposals_);
    reads.swap(reads_);
    inbox_.clear();
  }
  if (was_serving && serving_callback_) serving_callback_(false, term_);
  if (fatal_error_callback_) fatal_error_callback_(error);
  FailInFlight(error);
  for (Proposal& p : proposals) p.waiter->Finish(error);
  for (auto& r : reads) r->Finish(error);
}

void RaftJournal::PublishStatus() {
  absl::MutexLock lock(&mu_);
  status_.id = options_.id;
  status_.role = node_->role();
  status_.term = node_->term();
  status_.leader = node_->leader();
  status_.commit = node_->commit();
  status_.applied = state_machine_->last_applied_index();
  status_.last_index = node_->last_index();
  status_.serving = serving_;
  status_.voters = options_.voters;
  status_.log_syncs = log_syncs_;
  status_.entries_appended = entries_appended_;
}

}  // namespace cistern::journal
