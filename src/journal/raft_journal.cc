#include "journal/raft_journal.h"

#include <algorithm>
#include <random>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cistern/proto/raft.pb.h"
#include "common/status.h"
#include "journal/raft_wire.h"
#include "spdlog/spdlog.h"

namespace cistern::journal {
namespace {

// Brings the log store, the state machine and the snapshot store in line after a crash in the
// middle of installing or taking a snapshot.
absl::Status RecoverSnapshots(SnapshotStore* snapshots, RaftStorage* storage, StateMachine* state_machine) {
  // The state machine installed a snapshot the log store has not recorded yet: record it, and
  // keep the log only if it agrees with the snapshot at its index (Raft §7).
  CISTERN_ASSIGN_OR_RETURN(std::string installed, state_machine->InstalledSnapshotMeta());
  if (!installed.empty()) {
    proto::RaftSnapshotMeta record;
    if (!record.ParseFromString(installed)) return absl::DataLossError("the metastore's Raft snapshot record does not parse");
    CISTERN_ASSIGN_OR_RETURN(raft::SnapshotMeta meta, FromProto(record));
    if (meta.index > storage->snapshot().index) {
      CISTERN_ASSIGN_OR_RETURN(std::vector<raft::Entry> entries, storage->LoadEntries());
      const bool agrees = std::any_of(entries.begin(), entries.end(),
                                      [&](const raft::Entry& e) { return e.index == meta.index && e.term == meta.term; });
      spdlog::warn("raft: recording the snapshot at index {} the metastore holds ({} the log)", meta.index,
                   agrees ? "keeping" : "discarding");
      CISTERN_RETURN_IF_ERROR(storage->SaveSnapshot(meta, agrees ? meta.index : 0, !agrees));
    }
  }
  // The state machine is behind the log's snapshot (it lost writes): install the stored one.
  if (state_machine->last_applied_index() < storage->snapshot().index) {
    std::optional<StoredSnapshot> latest = snapshots->Latest();
    if (!latest.has_value() || latest->meta.index < storage->snapshot().index) {
      return absl::DataLossError(absl::StrCat("the metastore (applied ", state_machine->last_applied_index(),
                                              ") is behind the Raft log's snapshot at ", storage->snapshot().index,
                                              " and no stored snapshot covers it"));
    }
    CISTERN_ASSIGN_OR_RETURN(std::string staging, snapshots->NewStagingDir());
    std::error_code ec;
    std::filesystem::copy(latest->data_dir(), staging + "/data", std::filesystem::copy_options::recursive, ec);
    if (ec) return absl::InternalError(absl::StrCat("copying snapshot '", latest->dir, "': ", ec.message()));
    spdlog::warn("raft: the metastore is behind the snapshot at {}; installing it", latest->meta.index);
    CISTERN_RETURN_IF_ERROR(state_machine->InstallSnapshot(staging + "/data"));
    snapshots->Discard(staging);
  }
  return absl::OkStatus();
}

std::string EncodeMeta(const raft::SnapshotMeta& meta) {
  proto::RaftSnapshotMeta record;
  ToProto(meta, &record);
  return record.SerializeAsString();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RaftJournal>> RaftJournal::Open(RaftJournalOptions options, RaftStorage* storage,
                                                               StateMachine* state_machine, RaftTransport* transport,
                                                               Clock* clock) {
  if (options.id == raft::kNoNode) return absl::InvalidArgumentError("raft node id must not be 0");
  // No voters: a node joining an existing group, which learns the membership from the leader.
  if (!options.voters.empty() &&
      std::find(options.voters.begin(), options.voters.end(), options.id) == options.voters.end()) {
    return absl::InvalidArgumentError(absl::StrCat("raft node ", options.id, " is not among the voters"));
  }
  if (options.tick_interval_ms <= 0 || options.election_ticks <= options.heartbeat_ticks || options.heartbeat_ticks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("raft timing: tick ", options.tick_interval_ms, " ms, election ",
                                                   options.election_ticks, " ticks, heartbeat ", options.heartbeat_ticks,
                                                   " ticks (need heartbeat < election)"));
  }
  raft::Index applied = state_machine->last_applied_index();
  const raft::HardState hard_state = storage->hard_state();
  if (applied > storage->last_index()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the state machine has applied index ", applied, " but the Raft log ends at index ", storage->last_index(),
        ": the metastore and the Raft log do not belong together"));
  }
  std::unique_ptr<RaftJournal> journal(new RaftJournal(std::move(options), storage, state_machine, transport, clock));
  if (journal->options_.snapshots != nullptr) {
    CISTERN_RETURN_IF_ERROR(RecoverSnapshots(journal->options_.snapshots, storage, state_machine));
    applied = state_machine->last_applied_index();
  }
  absl::StatusOr<std::vector<raft::Entry>> log = storage->LoadEntries();
  if (!log.ok()) return log.status();
  raft::Config config;
  config.id = journal->options_.id;
  config.voters = journal->options_.voters;
  config.election_ticks = journal->options_.election_ticks;
  config.heartbeat_ticks = journal->options_.heartbeat_ticks;
  config.seed = journal->options_.seed != 0 ? journal->options_.seed : std::random_device{}();
  config.applied = applied;
  absl::StatusOr<std::unique_ptr<raft::RawNode>> node =
      raft::RawNode::Create(config, raft::PersistedState{hard_state, storage->snapshot(), *std::move(log)});
  if (!node.ok()) return node.status();
  journal->node_ = *std::move(node);
  journal->term_ = journal->node_->term();
  // What a previous run wrote without a sync may survive only in the page cache: make it
  // durable before this node counts or acknowledges it.
  CISTERN_RETURN_IF_ERROR(storage->Sync());
  journal->durable_index_ = storage->last_index();
  if (journal->options_.snapshots != nullptr && storage->snapshot().index > 0) {
    // A leader must be able to send a snapshot at least as new as its log's start.
    std::optional<StoredSnapshot> latest = journal->options_.snapshots->Latest();
    if (!latest.has_value() || latest->meta.index < storage->snapshot().index) {
      CISTERN_RETURN_IF_ERROR(journal->TakeSnapshot().status());
    }
  }
  journal->PublishStatus();
  return journal;
}

RaftJournal::RaftJournal(RaftJournalOptions options, RaftStorage* storage, StateMachine* state_machine,
                         RaftTransport* transport, Clock* clock)
    : options_(std::move(options)), storage_(storage), state_machine_(state_machine), transport_(transport),
      clock_(clock) {}

RaftJournal::~RaftJournal() { Stop(); }

void RaftJournal::Start() {
  spdlog::info("{}: starting with {}, snapshot at {}, log {}..{}, commit {}, applied {}", Tag(),
               node_->membership().DebugString(), node_->snapshot().index, node_->first_index(), node_->last_index(),
               node_->commit(), node_->applied());
  thread_ = std::thread([this] { Run(); });
  sync_thread_ = std::thread([this] { SyncLoop(); });
}

void RaftJournal::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (sync_thread_.joinable()) sync_thread_.join();
  // The driver has exited; nobody else touches in_flight_ now.
  FailInFlight(absl::UnavailableError(absl::StrCat(NodeName(options_.id), " is shutting down")));
  absl::MutexLock lock(&mu_);
  for (Proposal& p : proposals_) p.waiter->Finish(absl::UnavailableError("journal stopped"));
  proposals_.clear();
  for (auto& r : reads_) r->Finish(absl::UnavailableError("journal stopped"));
  reads_.clear();
  for (auto& c : checkpoints_) c->Finish(absl::UnavailableError("journal stopped"));
  checkpoints_.clear();
  for (auto& t : tasks_) t->done.Notify();  // not run: their callers get UNAVAILABLE
  tasks_.clear();
  if (options_.snapshots != nullptr) {
    for (auto& [message, dir] : incoming_snapshots_) options_.snapshots->Discard(dir);
    for (auto& [index, dir] : staged_snapshots_) options_.snapshots->Discard(dir);
  }
  incoming_snapshots_.clear();
  staged_snapshots_.clear();
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

void RaftJournal::ReceiveEffects(ApplyEffects effects) {
  if (effects.data == nullptr) return;
  absl::MutexLock lock(&mu_);
  if (stopping_ || !broken_.ok() || !options_.ship_apply_effects) return;
  // Over the bound they are dropped: the entries are then applied instead.
  if (incoming_effects_bytes_ + effects.data->size() > options_.max_buffered_effects_bytes) return;
  incoming_effects_bytes_ += effects.data->size();
  incoming_effects_.push_back(std::move(effects));
}

absl::StatusOr<std::string> RaftJournal::NewSnapshotStagingDir() {
  if (options_.snapshots == nullptr) return absl::UnimplementedError("this node keeps no snapshots");
  return options_.snapshots->NewStagingDir();
}

void RaftJournal::ReceiveSnapshot(raft::Message message, std::string dir) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !broken_.ok() || message.to != options_.id) {
    if (options_.snapshots != nullptr) options_.snapshots->Discard(dir);
    return;
  }
  incoming_snapshots_.emplace_back(std::move(message), std::move(dir));
}

absl::StatusOr<raft::Index> RaftJournal::Checkpoint() {
  if (options_.snapshots == nullptr) return absl::UnimplementedError("this journal takes no snapshots");
  auto waiter = std::make_shared<Waiter>();
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    if (stopping_) return absl::UnavailableError("journal stopped");
    checkpoints_.push_back(waiter);
  }
  if (!waiter->done.WaitForNotificationWithTimeout(absl::Milliseconds(options_.append_timeout_ms))) {
    return absl::DeadlineExceededError("the snapshot did not finish in time");
  }
  if (!waiter->result.ok()) return waiter->result.status();
  return waiter->result->index;
}

absl::Status RaftJournal::RunOnDriver(std::function<void()> task) {
  auto queued = std::make_shared<DriverTask>();
  queued->run = std::move(task);
  {
    absl::MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    if (stopping_) return absl::UnavailableError("journal stopped");
    tasks_.push_back(queued);
  }
  // No timeout: the task may reference the caller's stack, so wait until it ran or was dropped
  // (Stop and FailStop drop the queue).
  queued->done.WaitForNotification();
  return queued->ran ? absl::OkStatus() : absl::UnavailableError("the journal stopped before running the request");
}

absl::Status RaftJournal::ChangeMembership(const raft::ConfChange& change) {
  auto waiter = std::make_shared<Waiter>();
  CISTERN_RETURN_IF_ERROR(RunOnDriver([this, change, waiter] {
    absl::StatusOr<raft::EntryId> id = node_->ProposeConfChange(change);
    if (!id.ok()) {
      waiter->Finish(absl::IsFailedPrecondition(id.status()) && role_ != raft::Role::kLeader
                         ? NotLeaderErrorFor(node_->leader(), node_->term())
                         : id.status());
      return;
    }
    spdlog::info("{}: proposed {} of {} at index {}", Tag(), raft::ConfChangeTypeName(change.type),
                 NodeName(change.node), id->index);
    in_flight_[id->index] = InFlight{id->term, waiter};
  }));
  if (!waiter->done.WaitForNotificationWithTimeout(absl::Milliseconds(options_.append_timeout_ms))) {
    return OutcomeUnknownError(absl::StatusCode::kDeadlineExceeded, "the membership change was not applied in time");
  }
  return waiter->result.status();
}

absl::Status RaftJournal::AddVoter(raft::NodeId id, std::string context, int64_t timeout_ms) {
  const int64_t deadline_ms = clock_->MonotonicMs() + timeout_ms;
  bool member = false;
  bool voter = false;
  CISTERN_RETURN_IF_ERROR(RunOnDriver([&] {
    member = node_->membership().Contains(id);
    voter = node_->membership().IsVoter(id);
  }));
  if (voter) return absl::AlreadyExistsError(absl::StrCat(NodeName(id), " is already a voter"));
  if (!member) {
    CISTERN_RETURN_IF_ERROR(ChangeMembership(raft::ConfChange{raft::ConfChangeType::kAddLearner, id, context}));
  }
  // Promote once it holds (nearly) the whole log, so adding a voter never stalls commitment.
  while (true) {
    raft::Index match = 0;
    raft::Index last = 0;
    bool leading = false;
    CISTERN_RETURN_IF_ERROR(RunOnDriver([&] {
      leading = node_->role() == raft::Role::kLeader;
      last = node_->last_index();
      if (const raft::Progress* progress = node_->progress(id); progress != nullptr) match = progress->match();
    }));
    if (!leading) return NotLeaderError();
    if (match + 16 >= last) break;
    if (clock_->MonotonicMs() > deadline_ms) {
      return absl::DeadlineExceededError(absl::StrCat(NodeName(id), " added as a learner but still behind (at ", match,
                                                      " of ", last, "); run the command again to promote it"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ChangeMembership(raft::ConfChange{raft::ConfChangeType::kAddVoter, id, std::move(context)});
}

absl::Status RaftJournal::RemoveNode(raft::NodeId id) {
  return ChangeMembership(raft::ConfChange{raft::ConfChangeType::kRemoveNode, id, {}});
}

absl::Status RaftJournal::TransferLeadership(raft::NodeId id, int64_t timeout_ms) {
  absl::Status asked;
  CISTERN_RETURN_IF_ERROR(RunOnDriver([&] {
    asked = role_ == raft::Role::kLeader ? node_->TransferLeadership(id) : NotLeaderErrorFor(node_->leader(), node_->term());
  }));
  CISTERN_RETURN_IF_ERROR(asked);
  const int64_t deadline_ms = clock_->MonotonicMs() + timeout_ms;
  while (clock_->MonotonicMs() < deadline_ms) {
    const RaftJournalStatus now = status();
    if (now.leader == id && now.role != raft::Role::kLeader) return absl::OkStatus();
    if (id == options_.id && now.serving) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(NodeName(id), " did not take over the leadership in time"));
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
  return stopping_ || sync_finished_ || !inbox_.empty() || !proposals_.empty() || !reads_.empty() || !incoming_snapshots_.empty() ||
         !snapshot_reports_.empty() || !checkpoints_.empty() || !tasks_.empty();
}

void RaftJournal::Run() {
  const int64_t tick_ms = options_.tick_interval_ms;
  int64_t next_tick_ms = clock_->MonotonicMs() + tick_ms;
  while (true) {
    std::vector<raft::Message> inbox;
    std::vector<Proposal> proposals;
    std::vector<std::shared_ptr<Waiter>> reads;
    std::vector<std::pair<raft::Message, std::string>> incoming_snapshots;
    std::vector<std::pair<raft::NodeId, bool>> snapshot_reports;
    std::vector<std::shared_ptr<Waiter>> checkpoints;
    std::vector<std::shared_ptr<DriverTask>> tasks;
    bool synced = false;
    raft::Index synced_index = 0;
    absl::Status sync_error;
    {
      absl::MutexLock lock(&mu_);
      const int64_t wake_ms = apply_deadline_ms_ > 0 ? std::min(next_tick_ms, apply_deadline_ms_) : next_tick_ms;
      const int64_t wait_ms = std::max<int64_t>(0, wake_ms - clock_->MonotonicMs());
      mu_.AwaitWithTimeout(absl::Condition(this, &RaftJournal::HasWorkLocked), absl::Milliseconds(wait_ms));
      if (stopping_) return;
      inbox.swap(inbox_);
      const size_t n = std::min(proposals_.size(), options_.max_proposals_per_round);
      for (size_t i = 0; i < n; ++i) {
        proposals.push_back(std::move(proposals_.front()));
        proposals_.pop_front();
      }
      reads.swap(reads_);
      incoming_snapshots.swap(incoming_snapshots_);
      snapshot_reports.swap(snapshot_reports_);
      checkpoints.swap(checkpoints_);
      tasks.swap(tasks_);
      synced = sync_finished_;
      sync_finished_ = false;
      synced_index = synced_index_;
      sync_error = sync_error_;
    }
    if (!sync_error.ok()) {
      FailStop(absl::UnavailableError(absl::StrCat("raft log sync failed, journal stopped: ", sync_error.message())));
      return;
    }
    // Everything written up to the last index stored is covered by a later synced Save too.
    if (synced) durable_index_ = std::max(durable_index_, std::min(synced_index, storage_->last_index()));
    for (auto& [message, dir] : incoming_snapshots) {
      if (!message.snapshot.has_value()) {
        options_.snapshots->Discard(dir);
        continue;
      }
      const raft::Index index = message.snapshot->index;
      if (auto it = staged_snapshots_.find(index); it != staged_snapshots_.end()) options_.snapshots->Discard(it->second);
      staged_snapshots_[index] = dir;
      absl::Status stepped = node_->Step(message);
      if (!stepped.ok()) spdlog::warn("{}: dropped a malformed snapshot message: {}", Tag(), stepped.ToString());
    }
    for (const auto& [peer, finished] : snapshot_reports) {
      node_->ReportSnapshot(peer, finished ? raft::SnapshotStatus::kFinished : raft::SnapshotStatus::kFailed);
    }
    // Messages first: after a stall (a slow sync), what peers sent meanwhile counts before the
    // stall's ticks do, so a busy follower does not campaign against a live leader.
    std::vector<raft::Message> held;
    held.swap(held_acks_);
    for (raft::Message& m : inbox) held.push_back(std::move(m));
    for (raft::Message& m : held) {
      // A follower's acknowledgement beyond the leader's synced log waits for the sync: the
      // core counts the leader's own unsynced copy, and a commit needs a quorum of synced logs.
      if (m.type == raft::MessageType::kAppendResponse && !m.reject && m.index > durable_index_ &&
          node_->role() == raft::Role::kLeader && m.term == node_->term()) {
        held_acks_.push_back(std::move(m));
        continue;
      }
      absl::Status stepped = node_->Step(m);
      if (!stepped.ok()) {
        spdlog::warn("{}: dropped a malformed {} from {}: {}", Tag(), raft::MessageTypeName(m.type), NodeName(m.from),
                     std::string(stepped.message()));
      }
    }
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
        p.waiter->Finish(absl::IsUnavailable(id.status())
                             ? absl::UnavailableError(absl::StrCat(NodeName(options_.id), ": ", id.status().message()))
                             : NotLeaderErrorFor(node_->leader(), node_->term()));
        continue;
      }
      ++entries_appended_;
      in_flight_[id->index] = InFlight{id->term, std::move(p.waiter)};
    }
    for (auto& task : tasks) {
      task->run();
      task->ran = true;
      task->done.Notify();
    }
    if (!reads.empty()) StartRead(std::move(reads), now_ms);
    ExpireReads(now_ms);
    if (!ApplyDurable()) return;
    if (!ProcessReady()) return;
    for (auto& c : checkpoints) {
      absl::StatusOr<raft::Index> index = TakeSnapshot();
      if (index.ok()) {
        c->Finish(Appended{*index, {}});
      } else {
        c->Finish(index.status());
      }
      if (broken()) return;
    }
    MaybeSnapshot(now_ms);
    if (broken()) return;
    PublishStatus();
  }
}

void RaftJournal::RequestSync(raft::Index index) {
  absl::MutexLock lock(&mu_);
  ++sync_requested_;
  sync_request_index_ = index;
}

void RaftJournal::SyncLoop() {
  while (true) {
    uint64_t request = 0;
    raft::Index index = 0;
    {
      absl::MutexLock lock(&mu_);
      auto requested = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || sync_requested_ > sync_done_;
      };
      mu_.Await(absl::Condition(&requested));
      if (stopping_) return;
      // The latest request: one sync covers every write before it (group commit).
      request = sync_requested_;
      index = sync_request_index_;
    }
    absl::Status synced = storage_->Sync();
    absl::MutexLock lock(&mu_);
    sync_done_ = request;
    sync_finished_ = true;
    if (!synced.ok()) {
      sync_error_ = synced;
      return;
    }
    synced_index_ = index;
    ++async_syncs_;
  }
}

bool RaftJournal::ApplyDurable() {
  size_t n = 0;
  while (n < unapplied_.size() && unapplied_[n].index <= durable_index_) ++n;
  if (n == 0) return true;
  if (role_ == raft::Role::kFollower && options_.follower_apply_delay_ms > 0 && n < options_.max_entries_per_apply) {
    const int64_t now_ms = clock_->MonotonicMs();
    if (apply_deadline_ms_ == 0) apply_deadline_ms_ = now_ms + options_.follower_apply_delay_ms;
    if (now_ms < apply_deadline_ms_) return true;  // the driver wakes up for the deadline
  }
  apply_deadline_ms_ = 0;
  if (role_ == raft::Role::kFollower && options_.ship_apply_effects) {
    size_t installed = 0;
    if (!InstallEffects(n, &installed)) return false;
    n -= installed;
    if (n == 0) return true;
    // While the leader's effects keep coming, the rest waits for theirs (a bounded lag).
    const int64_t now_ms = clock_->MonotonicMs();
    const int64_t patience_ms = 4 * std::max<int64_t>(options_.follower_apply_delay_ms, 50);
    if (last_effects_ms_ > 0 && now_ms - last_effects_ms_ < patience_ms && n < 4 * options_.max_entries_per_apply) {
      apply_deadline_ms_ = now_ms + std::max<int64_t>(options_.follower_apply_delay_ms, 1);
      return true;
    }
  }
  std::vector<raft::Entry> now(std::make_move_iterator(unapplied_.begin()),
                               std::make_move_iterator(unapplied_.begin() + static_cast<std::ptrdiff_t>(n)));
  unapplied_.erase(unapplied_.begin(), unapplied_.begin() + static_cast<std::ptrdiff_t>(n));
  return ApplyCommitted(now);
}

bool RaftJournal::InstallEffects(size_t n, size_t* installed) {
  *installed = 0;
  std::vector<ApplyEffects> incoming;
  {
    absl::MutexLock lock(&mu_);
    incoming.swap(incoming_effects_);
    incoming_effects_bytes_ = 0;
  }
  const raft::Index applied = state_machine_->last_applied_index();
  for (ApplyEffects& e : incoming) {
    // Only the current leader's: any leader's effects of committed entries would do (they are
    // the same everywhere), but a node that is not leading has no business sending any.
    if (e.from != leader_ || e.last_index <= applied || e.first_index > e.last_index) continue;
    const size_t bytes = e.data->size();
    if (effects_bytes_ + bytes > options_.max_buffered_effects_bytes) continue;
    // try_emplace leaves a duplicate unmoved and ignored.
    if (effects_.try_emplace(e.first_index, std::move(e)).second) effects_bytes_ += bytes;
  }
  DropEffectsThrough(applied);
  // Entries this node proposed as leader wait for their outcomes, which only applying gives.
  if (n == 0 || effects_.empty() || !in_flight_.empty()) return true;
  const raft::Index limit = unapplied_[n - 1].index;  // committed and in the synced log
  raft::Index next = applied + 1;
  std::vector<const std::string*> chain;
  for (auto it = effects_.find(next); it != effects_.end() && it->second.last_index <= limit;
       it = effects_.find(next)) {
    chain.push_back(it->second.data.get());
    next = it->second.last_index + 1;
    if (next - applied > 4 * options_.max_entries_per_apply) break;  // bounds one write
  }
  if (chain.empty()) return true;
  const raft::Index last = next - 1;
  absl::Status status = state_machine_->InstallEffects(applied + 1, last, chain);
  if (absl::IsDataLoss(status) || absl::IsUnimplemented(status)) {
    // Effects that do not decode, or a state machine that installs none: apply the entries
    // instead (logged once per 1000, it repeats).
    if (effects_discarded_++ % 1000 == 0) {
      spdlog::warn("{}: discarding apply effects for entries {}..{} ({} discarded so far): {}", Tag(), applied + 1,
                   last, effects_discarded_, status.ToString());
    }
    DropEffectsThrough(last);
    return true;
  }
  if (!status.ok()) {
    FailStop(absl::UnavailableError(absl::StrCat("installing apply effects for journal entries ", applied + 1, "..",
                                                 last, " failed, journal stopped: ", status.message())));
    return false;
  }
  DropEffectsThrough(last);
  size_t done = 0;
  while (done < n && unapplied_[done].index <= last) ++done;
  unapplied_.erase(unapplied_.begin(), unapplied_.begin() + static_cast<std::ptrdiff_t>(done));
  *installed = done;
  ++effects_installs_;
  entries_from_effects_ += last - applied;
  last_effects_ms_ = clock_->MonotonicMs();
  {
    absl::MutexLock lock(&mu_);
    status_.applied = last;
  }
  return true;
}

void RaftJournal::DropEffectsThrough(raft::Index index) {
  while (!effects_.empty() && effects_.begin()->first <= index) {
    effects_bytes_ -= effects_.begin()->second.data->size();
    effects_.erase(effects_.begin());
  }
}

void RaftJournal::ShipEffects(raft::Index first, raft::Index last, std::string effects) {
  auto data = std::make_shared<const std::string>(std::move(effects));
  const raft::Membership& membership = node_->membership();
  for (const std::set<raft::NodeId>* ids : {&membership.voters, &membership.learners}) {
    for (raft::NodeId id : *ids) {
      const raft::Progress* progress = id != options_.id ? node_->progress(id) : nullptr;
      // A follower far behind would only buffer them until they are stale.
      if (progress == nullptr || progress->match() + 4 * options_.max_entries_per_apply < first) continue;
      transport_->SendEffects(ApplyEffects{options_.id, id, first, last, data});
    }
  }
}

bool RaftJournal::ProcessReady() {
  while (node_->HasReady()) {
    raft::Ready ready = node_->GetReady();
    if (ready.snapshot.has_value()) {
      if (!InstallReceivedSnapshot(*ready.snapshot)) return false;
      durable_index_ = std::max(durable_index_, storage_->last_index());
    }
    const raft::HardState stored = storage_->hard_state();
    // A leader sends its appends and heartbeats before its own log write (Raft thesis
    // §10.2.1), so that the followers' syncs run in parallel with its own; anything else
    // (votes, responses) leaves only once the write is synced.
    const bool leading = node_->role() == raft::Role::kLeader &&
                         (!ready.hard_state.has_value() ||
                          (ready.hard_state->term == stored.term && ready.hard_state->vote == stored.vote));
    std::vector<raft::Message> early;
    std::vector<raft::Message> after_save;
    for (raft::Message& m : ready.messages) {
      if (m.type == raft::MessageType::kSnapshot) {
        SendSnapshotTo(std::move(m));
      } else if (leading && (m.type == raft::MessageType::kAppend || m.type == raft::MessageType::kHeartbeat)) {
        early.push_back(std::move(m));
      } else {
        after_save.push_back(std::move(m));
      }
    }
    if (!early.empty()) transport_->Send(std::move(early));
    if (ready.hard_state.has_value() || !ready.entries.empty()) {
      // With nothing waiting on it, a leader's write is synced by the sync thread while this
      // one goes on; otherwise (and always off the leader) it is synced here.
      const bool async = leading && after_save.empty();
      absl::Status saved =
          async ? storage_->SaveUnsynced(ready.hard_state, ready.entries) : storage_->Save(ready.hard_state, ready.entries);
      if (!saved.ok()) {
        FailStop(absl::UnavailableError(absl::StrCat("raft log write failed, journal stopped: ", saved.message())));
        return false;
      }
      if (async) {
        if (!ready.entries.empty()) RequestSync(ready.entries.back().index);
      } else if (!ready.entries.empty() ||
                 (ready.hard_state.has_value() &&
                  (ready.hard_state->term != stored.term || ready.hard_state->vote != stored.vote))) {
        // Synced: so is every write before it.
        ++log_syncs_;
        durable_index_ = storage_->last_index();
      }
    }
    if (!after_save.empty()) transport_->Send(std::move(after_save));
    unapplied_.insert(unapplied_.end(), ready.committed_entries.begin(), ready.committed_entries.end());
    if (!ApplyDurable()) return false;
    for (const raft::ReadState& rs : ready.read_states) ConfirmReads(rs);
    node_->Advance(ready);
  }
  ReleaseConfirmedReads();
  ObserveRole();
  return true;
}

void RaftJournal::StartRead(std::vector<std::shared_ptr<Waiter>> readers, int64_t now_ms) {
  if (!serving_) {
    for (auto& r : readers) r->Finish(NotLeaderErrorFor(node_->leader(), node_->term()));
    return;
  }
  // One ReadIndex round for every read that arrived since the last one; each read already saw
  // the state it answers with, so a round confirmed after it makes it linearizable.
  const std::string context = absl::StrCat(++read_seq_);
  absl::Status asked = node_->ReadIndex(context);
  if (!asked.ok()) {
    for (auto& r : readers) r->Finish(NotLeaderErrorFor(node_->leader(), node_->term()));
    return;
  }
  pending_reads_[context] = PendingRead{now_ms + options_.tick_interval_ms * options_.election_ticks, std::move(readers)};
}

void RaftJournal::ConfirmReads(const raft::ReadState& rs) {
  auto it = pending_reads_.find(rs.context);
  if (it == pending_reads_.end()) return;  // a duplicate, or already expired
  confirmed_reads_.emplace_back(rs.index, std::move(it->second.readers));
  pending_reads_.erase(it);
}

void RaftJournal::ReleaseConfirmedReads() {
  const raft::Index applied = state_machine_->last_applied_index();
  for (auto it = confirmed_reads_.begin(); it != confirmed_reads_.end();) {
    if (it->first > applied) {
      ++it;
      continue;
    }
    for (auto& r : it->second) r->Finish(Appended{it->first, {}});
    it = confirmed_reads_.erase(it);
  }
}

void RaftJournal::ExpireReads(int64_t now_ms) {
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (it->second.deadline_ms > now_ms) {
      ++it;
      continue;
    }
    // Lost messages or a leadership change: the round never completes. The client retries.
    for (auto& r : it->second.readers) {
      r->Finish(absl::UnavailableError(absl::StrCat(NodeName(options_.id),
                                                    " could not confirm its leadership for a read in time; retry")));
    }
    it = pending_reads_.erase(it);
  }
}

bool RaftJournal::ApplyCommitted(const std::vector<raft::Entry>& entries) {
  size_t begin = 0;
  while (begin < entries.size() && entries[begin].index <= state_machine_->last_applied_index()) ++begin;
  // In batches: one state-machine write for many entries (see StateMachine::ApplyBatch).
  while (begin < entries.size()) {
    const size_t end = std::min(entries.size(), begin + options_.max_entries_per_apply);
    std::vector<proto::JournalEntry> parsed(end - begin);
    std::vector<const proto::JournalEntry*> batch;
    batch.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const raft::Entry& e = entries[i];
      // A configuration change is the core's business; the state machine only consumes its index.
      if (e.type == raft::EntryType::kNormal && !parsed[i - begin].ParseFromString(e.data)) {
        FailStop(absl::DataLossError(absl::StrCat("raft entry ", e.index, " (term ", e.term,
                                                  ") is not a journal entry; journal stopped")));
        return false;
      }
      batch.push_back(&parsed[i - begin]);
    }
    // A leader with followers ships what the batch wrote, so they need not apply it.
    const bool ship = options_.ship_apply_effects && role_ == raft::Role::kLeader && node_->membership().voters.size() +
                                                                                         node_->membership().learners.size() > 1;
    std::string effects;
    absl::StatusOr<std::vector<ApplyOutcome>> outcomes =
        ship ? state_machine_->ApplyBatchWithEffects(entries[begin].index, batch, &effects)
             : state_machine_->ApplyBatch(entries[begin].index, batch);
    ++apply_batches_;
    if (outcomes.ok() && !effects.empty()) ShipEffects(entries[begin].index, entries[end - 1].index, std::move(effects));
    if (!outcomes.ok()) {
      FailStop(absl::UnavailableError(absl::StrCat("applying journal entries ", entries[begin].index, "..",
                                                   entries[end - 1].index,
                                                   " failed, journal stopped: ", outcomes.status().message())));
      return false;
    }
    for (size_t i = begin; i < end; ++i) {
      const raft::Entry& e = entries[i];
      auto it = in_flight_.find(e.index);
      if (it == in_flight_.end()) continue;
      InFlight done = std::move(it->second);
      in_flight_.erase(it);
      if (done.term != e.term) {
        // Another leader's entry took this index: ours was never committed.
        done.waiter->Finish(absl::UnavailableError(
            absl::StrCat("journal entry at index ", e.index, " was replaced by a newer leader's; retry")));
        continue;
      }
      done.waiter->Finish(Appended{e.index, std::move((*outcomes)[i - begin])});
    }
    begin = end;
  }
  {
    absl::MutexLock lock(&mu_);
    status_.applied = state_machine_->last_applied_index();
  }
  return true;
}

absl::StatusOr<raft::Index> RaftJournal::TakeSnapshot() {
  if (options_.snapshots == nullptr) return absl::UnimplementedError("this journal takes no snapshots");
  const raft::Index applied = state_machine_->last_applied_index();
  if (applied == node_->snapshot().index) {
    std::optional<StoredSnapshot> latest = options_.snapshots->Latest();
    if (latest.has_value() && latest->meta.index == applied) return applied;  // nothing new
  }
  CISTERN_ASSIGN_OR_RETURN(raft::SnapshotMeta meta, node_->SnapshotMetaAt(applied));
  const int64_t start_ms = clock_->MonotonicMs();
  CISTERN_ASSIGN_OR_RETURN(std::string staging, options_.snapshots->NewStagingDir());
  absl::StatusOr<uint64_t> covered = state_machine_->CreateSnapshot(staging + "/data", EncodeMeta(meta));
  if (covered.ok() && *covered != meta.index) {
    covered = absl::InternalError(absl::StrCat("the state machine snapshot covers ", *covered, ", not ", meta.index));
  }
  if (!covered.ok()) {
    options_.snapshots->Discard(staging);
    return covered.status();
  }
  const int64_t checkpoint_ms = clock_->MonotonicMs() - start_ms;
  absl::StatusOr<StoredSnapshot> stored = options_.snapshots->Commit(staging, meta);
  if (!stored.ok()) {
    options_.snapshots->Discard(staging);
    return stored.status();
  }
  // The log below the snapshot goes away: what it held must be durable in the state machine
  // itself, or a crash would leave it behind its own snapshot.
  absl::Status durable = state_machine_->MakeDurable();
  if (!durable.ok()) {
    FailStop(absl::UnavailableError(absl::StrCat("state machine sync failed, journal stopped: ", durable.message())));
    return broken_status();
  }
  const raft::Index keep = options_.snapshot_keep_entries;
  const raft::Index compact_through = meta.index > keep ? meta.index - keep : 0;
  const int64_t compact_start_ms = clock_->MonotonicMs();
  absl::Status saved = storage_->SaveSnapshot(meta, compact_through, /*discard_log=*/false);
  if (!saved.ok()) {
    FailStop(absl::UnavailableError(absl::StrCat("raft log write failed, journal stopped: ", saved.message())));
    return broken_status();
  }
  CISTERN_RETURN_IF_ERROR(node_->Compact(meta, keep));
  ++snapshots_taken_;
  const int64_t end_ms = clock_->MonotonicMs();
  spdlog::info("{}: snapshot at index {} (term {}) in {} ms (checkpoint {} ms, log compaction {} ms); log compacted "
               "through {}",
               Tag(), meta.index, meta.term, end_ms - start_ms, checkpoint_ms, end_ms - compact_start_ms, compact_through);
  return meta.index;
}

void RaftJournal::MaybeSnapshot(int64_t now_ms) {
  if (options_.snapshots == nullptr || options_.snapshot_entries == 0 || now_ms < snapshot_retry_at_ms_) return;
  const raft::Index due = node_->snapshot().index + options_.snapshot_entries;
  const raft::Index applied = state_machine_->last_applied_index();
  // A tenth of the interval ahead, the state machine starts on the snapshot's slow part (the
  // metastore's flush, measured at 200-260 ms of a stalled driver at 100,000 entries).
  if (applied + options_.snapshot_entries / 10 >= due && prepared_snapshot_at_ != due) {
    prepared_snapshot_at_ = due;
    state_machine_->PrepareSnapshot();
  }
  if (applied < due) return;
  absl::StatusOr<raft::Index> index = TakeSnapshot();
  if (!index.ok() && !broken()) {
    spdlog::error("{}: snapshot failed (retrying in 10 s): {}", Tag(), index.status().ToString());
    snapshot_retry_at_ms_ = now_ms + 10000;
  }
}

void RaftJournal::SendSnapshotTo(raft::Message message) {
  const raft::NodeId to = message.to;
  std::optional<StoredSnapshot> latest =
      options_.snapshots != nullptr ? options_.snapshots->Latest() : std::optional<StoredSnapshot>();
  if (!latest.has_value()) {
    spdlog::error("{}: {} needs a snapshot but none is stored", Tag(), NodeName(to));
    node_->ReportSnapshot(to, raft::SnapshotStatus::kFailed);
    return;
  }
  // The newest snapshot, which may be newer than the one the core named.
  message.snapshot = latest->meta;
  spdlog::info("{}: sending the snapshot at index {} to {}", Tag(), latest->meta.index, NodeName(to));
  transport_->SendSnapshot(std::move(message), latest->dir, [this, to](absl::Status status) {
    if (!status.ok()) spdlog::warn("raft: sending a snapshot to {} failed: {}", NodeName(to), status.ToString());
    absl::MutexLock lock(&mu_);
    snapshot_reports_.emplace_back(to, status.ok());
  });
}

bool RaftJournal::InstallReceivedSnapshot(const raft::SnapshotMeta& meta) {
  auto it = staged_snapshots_.find(meta.index);
  if (it == staged_snapshots_.end()) {
    FailStop(absl::DataLossError(absl::StrCat("asked to install the snapshot at index ", meta.index,
                                              " but its data was not received; journal stopped")));
    return false;
  }
  const std::string dir = it->second;
  staged_snapshots_.erase(it);
  const int64_t start_ms = clock_->MonotonicMs();
  absl::Status installed = state_machine_->InstallSnapshot(dir + "/data");
  if (installed.ok() && state_machine_->last_applied_index() != meta.index) {
    installed = absl::DataLossError(absl::StrCat("the snapshot named index ", meta.index, " but holds index ",
                                                 state_machine_->last_applied_index()));
  }
  options_.snapshots->Discard(dir);
  if (!installed.ok()) {
    FailStop(absl::UnavailableError(absl::StrCat("installing the snapshot at index ", meta.index,
                                                 " failed, journal stopped: ", installed.message())));
    return false;
  }
  // Keep a copy to serve followers from, should this node lead later.
  absl::StatusOr<std::string> staging = options_.snapshots->NewStagingDir();
  absl::Status copied = staging.status();
  if (staging.ok()) {
    copied = state_machine_->CreateSnapshot(*staging + "/data", EncodeMeta(meta)).status();
    if (copied.ok()) copied = options_.snapshots->Commit(*staging, meta).status();
    if (!copied.ok()) options_.snapshots->Discard(*staging);
  }
  if (!copied.ok()) spdlog::error("{}: keeping a copy of the installed snapshot failed: {}", Tag(), copied.ToString());
  absl::Status saved = storage_->SaveSnapshot(meta, meta.index, /*discard_log=*/true);
  if (!saved.ok()) {
    FailStop(absl::UnavailableError(absl::StrCat("raft log write failed, journal stopped: ", saved.message())));
    return false;
  }
  DiscardStagedUpTo(meta.index);
  ++snapshots_installed_;
  spdlog::info("{}: installed the snapshot at index {} (term {}) in {} ms", Tag(), meta.index, meta.term,
               clock_->MonotonicMs() - start_ms);
  return true;
}

void RaftJournal::DiscardStagedUpTo(raft::Index index) {
  for (auto it = staged_snapshots_.begin(); it != staged_snapshots_.end() && it->first <= index;) {
    options_.snapshots->Discard(it->second);
    it = staged_snapshots_.erase(it);
  }
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
    if (leader != leader_ && leader != raft::kNoNode) ++leader_changes_;
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
    if (role_callback_) role_callback_(role, term, leader);
  }
  if (node_->membership() != membership_) {
    membership_ = node_->membership();
    spdlog::info("{}: membership now {}", Tag(), membership_.DebugString());
    if (membership_callback_) membership_callback_(membership_);
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
  for (auto& [index, in_flight] : in_flight_) in_flight.waiter->Finish(status);
  in_flight_.clear();
  const absl::Status read_error(status.code(), status.message());
  for (auto& [context, read] : pending_reads_) {
    for (auto& r : read.readers) r->Finish(read_error);
  }
  pending_reads_.clear();
  for (auto& [index, readers] : confirmed_reads_) {
    for (auto& r : readers) r->Finish(read_error);
  }
  confirmed_reads_.clear();
}

void RaftJournal::FailStop(const absl::Status& error) {
  spdlog::critical("{}: {}", Tag(), error.ToString());
  fatal_ = error;
  const bool was_serving = serving_;
  serving_ = false;
  std::deque<Proposal> proposals;
  std::vector<std::shared_ptr<Waiter>> reads;
  std::vector<std::shared_ptr<DriverTask>> tasks;
  {
    absl::MutexLock lock(&mu_);
    broken_ = error;
    tasks.swap(tasks_);
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
  for (auto& t : tasks) t->done.Notify();
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
  status_.first_index = node_->first_index();
  status_.snapshot_index = node_->snapshot().index;
  status_.membership = node_->membership();
  status_.serving = serving_;
  status_.voters = options_.voters;
  status_.match.clear();
  if (node_->role() == raft::Role::kLeader) {
    for (const std::set<raft::NodeId>* ids : {&status_.membership.voters, &status_.membership.learners}) {
      for (raft::NodeId id : *ids) {
        const raft::Progress* progress = node_->progress(id);
        if (id != options_.id && progress != nullptr) status_.match[id] = progress->match();
      }
    }
  }
  status_.log_syncs = log_syncs_ + async_syncs_;
  status_.apply_batches = apply_batches_;
  status_.effects_installs = effects_installs_;
  status_.entries_from_effects = entries_from_effects_;
  status_.entries_appended = entries_appended_;
  status_.leader_changes = leader_changes_;
  status_.snapshots_taken = snapshots_taken_;
  status_.snapshots_installed = snapshots_installed_;
}

}  // namespace cistern::journal
