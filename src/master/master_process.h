// MasterProcess: one cistern-master assembled from its parts (metastore, journal, namespace,
// block master, gRPC server, background threads), started and stopped as a unit. main() and
// in-process tests both use it.
//
// Thread safety: Start and Stop are called by one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "common/config.h"
#include "common/metrics.h"

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
class CacheUsageScanner;

}  // namespace cistern::master
namespace cistern {
class ThreadPool;
}
namespace cistern::master {

class MasterProcess {
 public:
  explicit MasterProcess(Config config);
  ~MasterProcess();

  // Opens the metastore, mounts the root, starts serving. FAILED_PRECONDITION/UNAVAILABLE with
  // a clear message if the metastore is locked or the port cannot be bound.
  absl::Status Start();
  void Stop();

  // "host:port" clients reach this master at.
  const std::string& address() const { return address_; }
  int bound_port() const { return bound_port_; }
  int http_port() const;

  // OK when serving clients (GET /readyz): the leader is known and the journal caught up. With
  // the single-node journal that is as soon as Start returned.
  absl::Status Ready() const;

 private:
  const Config config_;
  std::string address_;
  int bound_port_ = 0;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<NamespaceStore> store_;
  std::unique_ptr<NamespaceStateMachine> state_machine_;
  std::unique_ptr<journal::Journal> journal_;
  std::unique_ptr<MountTable> mounts_;
  std::unique_ptr<BlockMaster> blocks_;
  std::unique_ptr<FileSystemMaster> fs_;
  std::unique_ptr<PersistenceScheduler> persistence_;
  std::unique_ptr<ThreadPool> blocking_pool_;  // runs RPCs that may block; outlives the server
  std::unique_ptr<FileSystemMasterService> fs_service_;
  std::unique_ptr<BlockMasterService> block_service_;
  std::unique_ptr<MetaMasterService> meta_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<CacheUsageScanner> cache_usage_;
  CollectorHandle metrics_;
  std::unique_ptr<http::HttpServer> http_;
  std::atomic<bool> serving_{false};
  absl::Notification stop_;
  std::thread lost_worker_detector_;
  std::thread ttl_checker_;
  // Leader-only background work, like the TTL checker.
  std::thread persistence_scheduler_;
};

}  // namespace cistern::master
