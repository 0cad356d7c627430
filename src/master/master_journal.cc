#include "master/master_journal.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/config_keys.h"
#include "common/logging.h"
#include "common/status.h"
#include "master/metastore_backup.h"
#include "journal/grpc_raft_transport.h"
#include "journal/raft_journal.h"
#include "journal/raft_log_store.h"
#include "journal/snapshot_store.h"
#include "spdlog/spdlog.h"

namespace cistern::master {

absl::StatusOr<std::unique_ptr<MasterJournal>> MasterJournal::Open(const Config& config,
                                                                  journal::StateMachine* state_machine,
                                                                  MasterJournalOptions options) {
  std::unique_ptr<MasterJournal> mj(new MasterJournal());
  mj->options_ = std::move(options);
  mj->state_machine_ = state_machine;
  mj->bind_host_ = config.GetString(conf::kMasterBindHost);
  mj->local_rpc_address_ =
      absl::StrCat(config.GetString(conf::kMasterHostname), ":", config.GetInt(conf::kMasterRpcPort));
  CISTERN_ASSIGN_OR_RETURN(std::vector<MasterPeer> peers, MasterPeers(config));
  {
    absl::MutexLock lock(&mj->peers_mu_);
    mj->peers_ = peers;
  }
  if (peers.empty()) {
    mj->local_ = std::make_unique<journal::LocalJournal>(state_machine);
    mj->journal_ = mj->local_.get();
    return mj;
  }
  CISTERN_ASSIGN_OR_RETURN(mj->self_id_, SelfMasterId(config, peers));
  const int64_t heartbeat_ms = config.GetDurationMs(conf::kMasterRaftHeartbeatInterval);
  const int64_t election_ms = config.GetDurationMs(conf::kMasterRaftElectionTimeout);
  if (heartbeat_ms <= 0 || election_ms < 2 * heartbeat_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        "master.raft.election.timeout (", election_ms, " ms) must be at least twice master.raft.heartbeat.interval (",
        heartbeat_ms, " ms), which must be positive"));
  }
  const std::string dir = MasterRaftDir(config);
  CISTERN_ASSIGN_OR_RETURN(mj->log_store_, journal::RaftLogStore::Open(dir + "/log"));
  CISTERN_ASSIGN_OR_RETURN(mj->snapshots_, journal::SnapshotStore::Open(dir + "/snapshots"));
  const int64_t snapshot_entries = config.GetInt(conf::kMasterRaftSnapshotEntries);
  const int64_t keep_entries = config.GetInt(conf::kMasterRaftSnapshotKeepEntries);
  if (snapshot_entries < 0 || keep_entries < 0) {
    return absl::InvalidArgumentError(absl::StrCat("master.raft.snapshot.entries (", snapshot_entries,
                                                   ") and master.raft.snapshot.keep_entries (", keep_entries,
                                                   ") must not be negative"));
  }

  journal::GrpcRaftTransportOptions transport_options;
  transport_options.self = mj->self_id_;
  // A call stuck on a partitioned peer holds that peer's queue for at most this long.
  transport_options.rpc_timeout_ms = std::clamp<int64_t>(5 * heartbeat_ms, 200, election_ms);
  mj->transport_ = std::make_unique<journal::GrpcRaftTransport>(transport_options);

  journal::RaftJournalOptions raft_options;
  raft_options.id = mj->self_id_;
  // A joining master learns the membership from the leader once it is added.
  if (!config.GetBool(conf::kMasterRaftJoin)) {
    for (const MasterPeer& p : peers) raft_options.voters.push_back(p.id);
  }
  raft_options.tick_interval_ms = heartbeat_ms;
  raft_options.heartbeat_ticks = 1;
  raft_options.election_ticks = static_cast<int>(election_ms / heartbeat_ms);
  raft_options.follower_apply_delay_ms = std::max<int64_t>(config.GetDurationMs(conf::kMasterRaftFollowerApplyDelay), 0);
  raft_options.ship_apply_effects = config.GetBool(conf::kMasterRaftShipApplyEffects);
  MasterJournal* self = mj.get();
  raft_options.node_name = [self](raft::NodeId id) { return self->PeerName(id); };
  raft_options.snapshots = mj->snapshots_.get();
  raft_options.snapshot_entries = static_cast<uint64_t>(snapshot_entries);
  raft_options.snapshot_keep_entries = static_cast<uint64_t>(keep_entries);
  absl::StatusOr<std::unique_ptr<journal::RaftJournal>> raft = journal::RaftJournal::Open(
      std::move(raft_options), mj->log_store_.get(), state_machine, mj->transport_.get(), RealClock());
  if (!raft.ok()) return Annotate(raft.status(), absl::StrCat("Raft log '", dir, "'"));
  mj->raft_ = *std::move(raft);
  mj->journal_ = mj->raft_.get();
  return mj;
}

MasterJournal::~MasterJournal() { Stop(); }

std::optional<MasterPeer> MasterJournal::Peer(uint64_t id) const {
  absl::MutexLock lock(&peers_mu_);
  for (const MasterPeer& p : peers_) {
    if (p.id == id) return p;
  }
  return std::nullopt;
}

std::string MasterJournal::PeerName(uint64_t id) const {
  std::optional<MasterPeer> peer = Peer(id);
  if (peer.has_value()) return absl::StrCat("master ", id, " (", peer->rpc_address(), ")");
  return absl::StrCat("master ", id);
}

std::string MasterJournal::name() const { return replicated() ? PeerName(self_id_) : "master"; }

std::string MasterJournal::RpcAddressOf(uint64_t id) const {
  std::optional<MasterPeer> peer = Peer(id);
  return peer.has_value() ? peer->rpc_address() : "";
}

void MasterJournal::OnMembership(const raft::Membership& membership) {
  std::map<raft::NodeId, std::string> raft_addresses;
  {
    absl::MutexLock lock(&peers_mu_);
    for (const auto& [id, context] : membership.contexts) {
      absl::StatusOr<std::vector<MasterPeer>> parsed = ParseMasterPeers(context, 0);
      if (!parsed.ok() || parsed->size() != 1 || (*parsed)[0].id != id) continue;
      const MasterPeer& added = (*parsed)[0];
      auto known = std::find_if(peers_.begin(), peers_.end(), [&](const MasterPeer& p) { return p.id == added.id; });
      if (known == peers_.end()) {
        peers_.push_back(added);
      } else {
        *known = added;
      }
    }
    for (const MasterPeer& p : peers_) {
      if (membership.Contains(p.id) && p.id != self_id_) raft_addresses[p.id] = p.raft_address();
    }
  }
  transport_->SetPeers(raft_addresses);
}

absl::Status MasterJournal::Start(std::function<void(bool, uint64_t)> on_leadership) {
  if (!replicated()) {
    on_leadership(true, 0);
    return absl::OkStatus();
  }
  const std::optional<MasterPeer> self = Peer(self_id_);
  std::map<raft::NodeId, std::string> raft_addresses;
  std::vector<MasterPeer> peers;
  {
    absl::MutexLock lock(&peers_mu_);
    peers = peers_;
  }
  // Until the membership is known (a joining master), everyone configured.
  for (const MasterPeer& p : peers) {
    if (p.id != self_id_) raft_addresses[p.id] = p.raft_address();
  }
  CISTERN_ASSIGN_OR_RETURN(server_,
                           journal::GrpcRaftServer::Start(absl::StrCat(bind_host_, ":", self->raft_port), raft_.get()));
  transport_->SetPeers(raft_addresses);
  raft_->set_membership_callback([this](const raft::Membership& membership) { OnMembership(membership); });
  raft_->set_serving_callback([on_leadership](bool serving, raft::Term term) { on_leadership(serving, term); });
  if (options_.on_fatal_error) raft_->set_fatal_error_callback(options_.on_fatal_error);
  if (options_.update_log_prefix) {
    const std::string address = self->rpc_address();
    const uint64_t id = self_id_;
    auto prefix = [address, id](raft::Role role, raft::Term term) {
      return absl::StrCat("master-", id, "@", address, " ", raft::RoleName(role), " t", term);
    };
    SetLogNodeId(prefix(raft::Role::kFollower, raft_->status().term));
    raft_->set_role_callback(
        [prefix](raft::Role role, raft::Term term, raft::NodeId) { SetLogNodeId(prefix(role, term)); });
  }
  raft_->Start();
  spdlog::info("{}: Raft group {} ({}), Raft port {}", name(), raft_->status().membership.DebugString(),
               FormatMasterPeers(peers), server_->port());
  return absl::OkStatus();
}

void MasterJournal::Stop() {
  // Incoming traffic first (the server calls into the journal), then the driver, then sending.
  if (server_) server_->Shutdown();
  if (raft_) raft_->Stop();
  if (transport_) transport_->Stop();
}

int MasterJournal::raft_port() const { return server_ ? server_->port() : 0; }

absl::Status MasterJournal::AddMaster(const std::string& peer) {
  if (!replicated()) return absl::FailedPreconditionError("this master runs a local journal, not a Raft group");
  CISTERN_ASSIGN_OR_RETURN(std::vector<MasterPeer> parsed, ParseMasterPeers(peer, 0));
  if (parsed.size() != 1 || parsed[0].raft_port == 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", peer, "': name exactly one master as id@host:rpc_port:raft_port"));
  }
  {
    // Known from now on, so the transport reaches it as soon as it is a learner.
    absl::MutexLock lock(&peers_mu_);
    auto known = std::find_if(peers_.begin(), peers_.end(), [&](const MasterPeer& p) { return p.id == parsed[0].id; });
    if (known == peers_.end()) peers_.push_back(parsed[0]);
  }
  // Long enough for a big snapshot to reach it; the command can be repeated to resume.
  return raft_->AddVoter(parsed[0].id, parsed[0].ToString(), /*timeout_ms=*/10 * 60 * 1000);
}

absl::Status MasterJournal::RemoveMaster(uint64_t id) {
  if (!replicated()) return absl::FailedPreconditionError("this master runs a local journal, not a Raft group");
  return raft_->RemoveNode(id);
}

absl::Status MasterJournal::TransferLeadership(uint64_t id) {
  if (!replicated()) return absl::FailedPreconditionError("this master runs a local journal, not a Raft group");
  return raft_->TransferLeadership(id, /*timeout_ms=*/30000);
}

absl::StatusOr<uint64_t> MasterJournal::Backup(const std::string& dir) {
  if (replicated() && !raft_->status().serving) return raft_->NotLeaderError();
  return WriteBackup(state_machine_, dir);
}

absl::StatusOr<uint64_t> MasterJournal::Checkpoint() {
  if (!replicated()) {
    CISTERN_RETURN_IF_ERROR(state_machine_->MakeDurable());
    return state_machine_->last_applied_index();
  }
  return raft_->Checkpoint();
}

absl::Status MasterJournal::CheckServing(std::string* leader_address) const {
  if (!replicated()) return absl::OkStatus();
  const journal::RaftJournalStatus status = raft_->status();
  if (status.serving) return absl::OkStatus();
  if (status.leader != raft::kNoNode && status.leader != self_id_) *leader_address = RpcAddressOf(status.leader);
  if (!status.error.ok()) return absl::UnavailableError(absl::StrCat(name(), ": ", status.error.message()));
  return raft_->NotLeaderError();
}

CollectorHandle MasterJournal::RegisterMetrics() const {
  if (!replicated()) return {};
  return Metrics().AddCollector([this](MetricSink* sink) {
    const journal::RaftJournalStatus status = raft_->status();
    auto gauge = [sink](std::string_view name, std::string_view help, double value, LabelPairs labels = {}) {
      sink->AddGauge(name, help, std::move(labels), value);
    };
    gauge("cistern_master_raft_term", "Current Raft term of this master", static_cast<double>(status.term));
    gauge("cistern_master_raft_commit_index", "Highest Raft log index this master knows committed",
          static_cast<double>(status.commit));
    gauge("cistern_master_raft_applied_index", "Highest Raft log index applied to this master's namespace",
          static_cast<double>(status.applied));
    gauge("cistern_master_raft_last_index", "Last index in this master's Raft log", static_cast<double>(status.last_index));
    gauge("cistern_master_raft_snapshot_index", "Index covered by this master's latest snapshot (0: none)",
          static_cast<double>(status.snapshot_index));
    gauge("cistern_master_raft_leader_id", "Raft id of the leader this master knows (0: none)",
          static_cast<double>(status.leader));
    gauge("cistern_master_raft_serving", "1 on the serving leader, else 0", status.serving ? 1 : 0);
    for (raft::Role role : {raft::Role::kFollower, raft::Role::kPreCandidate, raft::Role::kCandidate, raft::Role::kLeader}) {
      gauge("cistern_master_raft_role", "1 for this master's current Raft role", status.role == role ? 1 : 0,
            {{"role", std::string(raft::RoleName(role))}});
    }
    gauge("cistern_master_raft_members", "Members of the Raft group by kind",
          static_cast<double>(status.membership.voters.size()), {{"kind", "voter"}});
    gauge("cistern_master_raft_members", "Members of the Raft group by kind",
          static_cast<double>(status.membership.learners.size()), {{"kind", "learner"}});
    for (const auto& [id, match] : status.match) {
      gauge("cistern_master_raft_match_index", "Leader only: the log index known replicated on each other member",
            static_cast<double>(match), {{"peer", absl::StrCat(id)}});
    }
    sink->AddCounter("cistern_master_raft_log_syncs_total", "Synced writes of the Raft log", {},
                     static_cast<double>(status.log_syncs));
    sink->AddCounter("cistern_master_raft_apply_batches_total",
                     "Metastore writes that applied committed entries (entries applied per write: applied index / this)", {},
                     static_cast<double>(status.apply_batches));
    sink->AddCounter("cistern_master_raft_entries_from_effects_total",
                     "Follower: committed entries installed from the leader's apply effects instead of applied", {},
                     static_cast<double>(status.entries_from_effects));
    sink->AddCounter("cistern_master_raft_leader_changes_total",
                     "Times this master learned of a new Raft leader (itself included) since it started", {},
                     static_cast<double>(status.leader_changes));
    sink->AddCounter("cistern_master_raft_snapshots_total", "Snapshots since this master started, by how they came",
                     {{"kind", "taken"}}, static_cast<double>(status.snapshots_taken));
    sink->AddCounter("cistern_master_raft_snapshots_total", "Snapshots since this master started, by how they came",
                     {{"kind", "installed"}}, static_cast<double>(status.snapshots_installed));
  });
}

proto::GetJournalInfoResponse MasterJournal::Info() const {
  proto::GetJournalInfoResponse info;
  if (!replicated()) {
    info.set_journal("local");
    info.set_role("leader");
    info.set_serving(true);
    info.set_applied_index(local_->applied_index());
    info.set_commit_index(local_->applied_index());
    info.set_last_index(local_->applied_index());
    info.set_rpc_address(local_rpc_address_);
    info.set_leader_address(local_rpc_address_);
    return info;
  }
  const journal::RaftJournalStatus status = raft_->status();
  info.set_journal("raft");
  info.set_id(status.id);
  info.set_role(raft::RoleName(status.role));
  info.set_term(status.term);
  info.set_leader_id(status.leader);
  info.set_leader_address(RpcAddressOf(status.leader));
  info.set_commit_index(status.commit);
  info.set_applied_index(status.applied);
  info.set_last_index(status.last_index);
  info.set_first_index(status.first_index);
  info.set_snapshot_index(status.snapshot_index);
  info.set_serving(status.serving);
  info.set_log_syncs(status.log_syncs);
  info.set_apply_batches(status.apply_batches);
  info.set_entries_from_effects(status.entries_from_effects);
  if (!status.error.ok()) info.set_error(std::string(status.error.message()));
  info.set_rpc_address(RpcAddressOf(self_id_));
  for (const std::set<raft::NodeId>* ids : {&status.membership.voters, &status.membership.learners}) {
    for (raft::NodeId id : *ids) {
      proto::JournalPeerInfo* peer = info.add_voters();
      peer->set_id(id);
      peer->set_voter(ids == &status.membership.voters);
      if (std::optional<MasterPeer> p = Peer(id); p.has_value()) {
        peer->set_rpc_address(p->rpc_address());
        peer->set_raft_address(p->raft_address());
      }
      if (auto m = status.match.find(id); m != status.match.end()) peer->set_match_index(m->second);
    }
  }
  return info;
}

}  // namespace cistern::master
