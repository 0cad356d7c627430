// MasterProcess: one cistern-master assembled from its parts (metastore, journal, namespace,
// block master, gRPC server, background work), started and stopped as a unit. main() and
// in-process tests both use it.
//
// With master.raft.peers the master is one of a Raft group: only the serving leader answers
// clients and workers (the others refuse with UNAVAILABLE naming the leader), and the leader-only
// work (leader_tasks(): TTL checks, lost-worker detection, ...) runs only while this master
// leads. Each leadership starts by forgetting the block locations (workers re-register) and
// making sure the root is mounted.
//
// Thread safety: Start and Stop are called by one thread; CheckServing and journal_info are
// thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "cistern/proto/raft.pb.h"
#include "common/config.h"
#include "common/metrics.h"
#include "master/leader_tasks.h"
#include "master/serving_gate.h"

namespace cistern::kv {
class KvStore;
}
namespace cistern::journal {
class Journal;
}

namespace cistern::http {
class HttpServer;
}

namespace grpc {
class Server;
}

namespace cistern::master {

class BlockMaster;
class FileSystemMaster;
class PersistenceScheduler;
class MountTable;
class NamespaceStateMachine;
class NamespaceStore;
class FileSystemMasterService;
class BlockMasterService;
class MetaMasterService;
class JournalAdminService;
class MasterJournal;
class CacheUsageScanner;
class MasterSecurity;

}  // namespace cistern::master
namespace cistern {
class ThreadPool;
}
namespace cistern::master {

struct MasterProcessOptions {
  // Put id, role and term into the log prefix (the daemon; not in-process tests with several
  // masters).
  bool update_log_prefix = false;
  // Exit the process at once when the journal stops after a storage failure (the daemon), so a
  // supervisor restarts it; otherwise it stays up refusing everything.
  bool exit_on_journal_failure = false;
};

class MasterProcess : public ServingGate {
 public:
  explicit MasterProcess(Config config, MasterProcessOptions options = {});
  ~MasterProcess() override;

  // Opens the metastore, mounts the root, starts serving. FAILED_PRECONDITION/UNAVAILABLE with
  // a clear message if the metastore is locked or the port cannot be bound.
  absl::Status Start();
  void Stop();

  // "host:port" clients reach this master at.
  const std::string& address() const { return address_; }
  int bound_port() const { return bound_port_; }
  // The Raft transport's bound port (0 without Raft).
  int raft_port() const;

  // The leader-only work. Register tasks here (in Start, before leader_tasks_->Start()); each
  // runs only while this master is the serving leader.
  LeaderTasks* leader_tasks() { return &leader_tasks_; }

  // ServingGate: OK while this master is the leader and ready to serve.
  absl::Status CheckServing(std::string* leader_address) const override;
  proto::GetJournalInfoResponse journal_info() const;

  int http_port() const;

  // OK when serving clients (GET /readyz): with the single-node journal as soon as Start
  // returned; under Raft while a leader is known (this one serves, the others redirect).
  absl::Status Ready() const;

 private:
  const Config config_;
  const MasterProcessOptions options_;
  std::unique_ptr<MasterSecurity> security_;
  std::string address_;
  int bound_port_ = 0;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<NamespaceStore> store_;
  std::unique_ptr<NamespaceStateMachine> state_machine_;
  std::unique_ptr<MasterJournal> master_journal_;
  journal::Journal* journal_ = nullptr;  // owned by master_journal_
  std::unique_ptr<MountTable> mounts_;
  std::unique_ptr<BlockMaster> blocks_;
  std::unique_ptr<FileSystemMaster> fs_;
  std::unique_ptr<PersistenceScheduler> persistence_;
  std::unique_ptr<ThreadPool> blocking_pool_;  // runs RPCs that may block; outlives the server
  std::unique_ptr<FileSystemMasterService> fs_service_;
  std::unique_ptr<BlockMasterService> block_service_;
  std::unique_ptr<MetaMasterService> meta_service_;
  std::unique_ptr<JournalAdminService> journal_admin_service_;
  std::unique_ptr<grpc::Server> server_;
  LeaderTasks leader_tasks_;
  std::unique_ptr<CacheUsageScanner> cache_usage_;
  CollectorHandle metrics_;
  CollectorHandle raft_metrics_;
  std::unique_ptr<http::HttpServer> http_;
  std::atomic<bool> serving_{false};
};

}  // namespace cistern::master
