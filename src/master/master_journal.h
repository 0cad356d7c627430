// MasterJournal: the journal a master runs, as its configuration says.
//   - master.raft.peers empty: a LocalJournal. A single master, the leader from start to stop.
//   - otherwise: a RaftJournal over a RaftLogStore in master.raft.dir, a GrpcRaftTransport to the
//     peers' Raft ports and a GrpcRaftServer on this master's own (one voter is a valid group).
// It also answers for the journal part of "may this master serve?" and describes itself for
// `cistern admin journal info`.
//
// Thread safety: Start and Stop by one thread; the rest is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/raft.pb.h"
#include "common/config.h"
#include "common/master_peers.h"
#include "common/metrics.h"
#include "journal/journal.h"
#include "raft/raft.h"

namespace cistern::journal {
class GrpcRaftServer;
class GrpcRaftTransport;
class RaftJournal;
class RaftLogStore;
class SnapshotStore;
}  // namespace cistern::journal

namespace cistern::master {

struct MasterJournalOptions {
  // Put this master's id, role and term into every log line's prefix (the daemon does; tests
  // with several masters in one process do not).
  bool update_log_prefix = false;
  // Called once if the journal stops after a storage failure (fail-stop).
  std::function<void(const absl::Status&)> on_fatal_error;
};

class MasterJournal {
 public:
  // `state_machine` must outlive the journal. INVALID_ARGUMENT for a bad peer list or timing,
  // FAILED_PRECONDITION if the Raft log is locked or does not match the metastore.
  static absl::StatusOr<std::unique_ptr<MasterJournal>> Open(const Config& config, journal::StateMachine* state_machine,
                                                            MasterJournalOptions options = {});
  ~MasterJournal();

  journal::Journal* journal() const { return journal_; }
  bool replicated() const { return raft_ != nullptr; }
  uint64_t id() const { return self_id_; }
  // "master 2 (host:7700)" for a Raft member, "master" otherwise.
  std::string name() const;

  // Starts serving Raft traffic and the driver. `on_leadership(leading, term)` runs (on the
  // journal's thread, must not block) each time this master starts or stops being the serving
  // leader; a local journal calls it once with (true, 0) from here.
  absl::Status Start(std::function<void(bool leading, uint64_t term)> on_leadership);
  void Stop();

  // OK while this master is the serving leader; else UNAVAILABLE naming the leader, whose
  // client address goes to *leader_address when known.
  absl::Status CheckServing(std::string* leader_address) const;
  proto::GetJournalInfoResponse Info() const;
  // The bound Raft port (0 for a local journal).
  int raft_port() const;
  // Snapshots the namespace and compacts the log now (Raft); syncs the metastore (local).
  // Returns the index the snapshot covers.
  absl::StatusOr<uint64_t> Checkpoint();
  // Raft state on /metrics (nothing for a local journal; see docs/ha.md):
  //   cistern_master_raft_term, _commit_index, _applied_index, _last_index, _snapshot_index,
  //   _leader_id (0: none known), _serving (1 on the serving leader), _role{role} (1 for the
  //   current one), _members{kind=voter|learner}, _match_index{peer} (leader: each other
  //   member's replicated index), cistern_master_raft_log_syncs_total.
  // The journal must outlive the handle.
  [[nodiscard]] CollectorHandle RegisterMetrics() const;
  // Membership (the leader only; FAILED_PRECONDITION for a local journal).
  absl::Status AddMaster(const std::string& peer);
  absl::Status RemoveMaster(uint64_t id);
  absl::Status TransferLeadership(uint64_t id);
  // Writes a backup of the namespace into `dir` (see metastore_backup.h); under Raft only the
  // serving leader does (UNAVAILABLE elsewhere). Returns the applied index it holds.
  absl::StatusOr<uint64_t> Backup(const std::string& dir);

 private:
  MasterJournal() = default;
  std::string PeerName(uint64_t id) const;
  std::string RpcAddressOf(uint64_t id) const;
  std::optional<MasterPeer> Peer(uint64_t id) const;
  // The addresses of the members in effect: from their membership contexts, else configured.
  void OnMembership(const raft::Membership& membership);

  MasterJournalOptions options_;
  mutable absl::Mutex peers_mu_;
  std::vector<MasterPeer> peers_ ABSL_GUARDED_BY(peers_mu_);  // every master known, configured or added
  uint64_t self_id_ = 0;
  std::string bind_host_;
  std::string local_rpc_address_;
  std::unique_ptr<journal::Journal> local_;
  journal::StateMachine* state_machine_ = nullptr;
  std::unique_ptr<journal::RaftLogStore> log_store_;
  std::unique_ptr<journal::SnapshotStore> snapshots_;
  std::unique_ptr<journal::GrpcRaftTransport> transport_;
  std::unique_ptr<journal::RaftJournal> raft_;
  std::unique_ptr<journal::GrpcRaftServer> server_;
  journal::Journal* journal_ = nullptr;
};

}  // namespace cistern::master
