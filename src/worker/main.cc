// cistern-worker: the block cache daemon. Serves the BlockWorker gRPC service over its cache
// tiers and keeps the master informed of the blocks it holds.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/config_keys.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/process.h"
#include "common/units.h"
#include "common/metrics.h"
#include "grpcpp/server.h"
#include "http/daemon_endpoints.h"
#include "http/http_server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/security/server_credentials.h"
#include "rpc/channel.h"
#include "rpc/superuser_check.h"
#include "rpc/transport_security.h"
#include "security/capability.h"
#include "security/secrets.h"
#include "security/security_config.h"
#include "rpc/worker_client.h"
#include "spdlog/spdlog.h"
#include "worker/block_master_connection.h"
#include "worker/block_store.h"
#include "worker/block_worker_service.h"
#include "worker/local_block_leases.h"
#include "worker/master_sync.h"
#include "worker/persister.h"
#include "worker/tier_config.h"
#include "worker/storage_dir.h"
#include "worker/ufs_fetcher.h"
#include "worker/ufs_write_records.h"
#include "worker/worker_metrics.h"

namespace cistern::worker {
namespace {

// Heartbeats give up on an unreachable master quickly (the loop retries anyway), so that
// shutdown never waits long for a call in progress.
constexpr int64_t kHeartbeatRpcTimeoutMs = 5000;

int Run(int argc, char** argv) {
  BlockShutdownSignals();
  TuneMallocForBlockData();
  Config config = LoadDaemonConfigOrExit(argc, argv, "cistern-worker");
  const std::string hostname = config.GetString(conf::kWorkerHostname);
  const int port = static_cast<int>(config.GetInt(conf::kWorkerRpcPort));
  const std::string bind_address = absl::StrCat(config.GetString(conf::kWorkerBindHost), ":", port);
  absl::Status logging = InitDaemonLogging(config, "worker", absl::StrCat("worker@", hostname, ":", port));
  if (!logging.ok()) {
    std::fprintf(stderr, "cistern-worker: %s\n", logging.ToString().c_str());
    return kExitStartupFailed;
  }

  absl::StatusOr<security::SecurityConfig> security = security::LoadSecurityConfig(config, security::ProcessRole::kWorker);
  if (!security.ok()) {
    std::fprintf(stderr, "cistern-worker: %s\n", std::string(security.status().message()).c_str());
    return kExitBadConfig;
  }
  if (absl::Status installed = rpc::InstallProcessSecurity(*security, security::ProcessRole::kWorker); !installed.ok()) {
    std::fprintf(stderr, "cistern-worker: %s\n", std::string(installed.message()).c_str());
    return kExitBadConfig;
  }
  // TOKEN mode: blocks are served and accepted only against capabilities the masters signed.
  std::unique_ptr<security::BlockCapabilities> capabilities;
  if (security->token_mode()) {
    capabilities = std::make_unique<security::BlockCapabilities>(security::CapabilityKey(security->cluster_secret),
                                                                 security->capability_lifetime_ms);
  }
  absl::StatusOr<BlockStoreOptions> store_options = BlockStoreOptionsFromConfig(config);
  if (!store_options.ok()) {
    std::fprintf(stderr, "cistern-worker: %s\n", std::string(store_options.status().message()).c_str());
    return kExitBadConfig;
  }
  UfsFetcherOptions fetcher_options;
  fetcher_options.max_concurrent_fetches = static_cast<int>(config.GetInt(conf::kWorkerUfsFetchMaxConcurrent));
  fetcher_options.cache_partial = config.GetBool(conf::kWorkerUfsReadCachePartial);
  fetcher_options.max_read_ahead_blocks = static_cast<int>(config.GetInt(conf::kWorkerUfsReadAheadMaxBlocks));
  if (fetcher_options.max_read_ahead_blocks < 0) {
    std::fprintf(stderr, "cistern-worker: %s=%d: must not be negative\n",
                 std::string(conf::kWorkerUfsReadAheadMaxBlocks.name).c_str(), fetcher_options.max_read_ahead_blocks);
    return kExitBadConfig;
  }
  if (fetcher_options.max_concurrent_fetches <= 0) {
    std::fprintf(stderr, "cistern-worker: %s=%d: must be positive\n", std::string(conf::kWorkerUfsFetchMaxConcurrent.name).c_str(),
                 fetcher_options.max_concurrent_fetches);
    return kExitBadConfig;
  }
  absl::StatusOr<std::unique_ptr<BlockStore>> store = BlockStore::Open(*store_options);
  if (!store.ok()) {
    std::fprintf(stderr, "cistern-worker: cannot open the block store: %s\n", store.status().ToString().c_str());
    return kExitStartupFailed;
  }

  const int64_t rpc_timeout_ms = config.GetDurationMs(conf::kUserRpcTimeout);
  MasterSyncOptions sync_options;
  sync_options.hostname = hostname;
  sync_options.rpc_port = port;
  sync_options.http_port = static_cast<int>(config.GetInt(conf::kWorkerHttpPort));
  sync_options.heartbeat_interval_ms = config.GetDurationMs(conf::kWorkerHeartbeatInterval);
  MasterSync sync(store->get(),
                  NewBlockMasterConnection(MasterAddresses(config), std::min(rpc_timeout_ms, kHeartbeatRpcTimeoutMs),
                                           /*retry_window_ms=*/0),
                  NewBlockMasterConnection(MasterAddresses(config), rpc_timeout_ms,
                                           config.GetDurationMs(conf::kUserRpcRetryWindow)),
                  sync_options);

  UfsRegistry ufs;
  sync.set_ufs_registry(&ufs);
  // Temporary files that under-store writes of the previous run left when it was killed.
  const std::string records_dir =
      absl::StrCat(store_options->tiers.front().dirs.front().path, "/", std::string(kUfsWriteRecordsDirName));
  absl::StatusOr<std::unique_ptr<UfsWriteRecords>> ufs_writes = UfsWriteRecords::Open(records_dir);
  if (!ufs_writes.ok()) {
    std::fprintf(stderr, "cistern-worker: %s\n", ufs_writes.status().ToString().c_str());
    return kExitStartupFailed;
  }
  const UfsWriteRecords::CleanUpResult cleaned = (*ufs_writes)->CleanUp(&ufs);
  if (cleaned.deleted + cleaned.gone + cleaned.kept > 0) {
    spdlog::info("under-store writes interrupted by the last stop: {} temporary files deleted, {} already gone, {} kept for later",
                 cleaned.deleted, cleaned.gone, cleaned.kept);
  }
  UfsBlockFetcher fetcher(store->get(), &ufs, fetcher_options);
  PersisterOptions persist_options;
  persist_options.max_concurrent = static_cast<int>(config.GetInt(conf::kWorkerPersistMaxConcurrent));
  if (persist_options.max_concurrent <= 0) {
    std::fprintf(stderr, "cistern-worker: %s=%d: must be positive\n", std::string(conf::kWorkerPersistMaxConcurrent.name).c_str(),
                 persist_options.max_concurrent);
    return kExitBadConfig;
  }
  persist_options.self_address = absl::StrCat(hostname, ":", port);
  persist_options.ufs_write_records = ufs_writes->get();
  persist_options.rate_limit_bytes_per_sec = config.GetSizeBytes(conf::kWorkerPersistRateLimit);
  absl::Mutex peers_mu;
  std::map<std::string, std::shared_ptr<rpc::WorkerClient>> peers;
  persist_options.peer = [&, data_timeout_ms = config.GetDurationMs(conf::kUserDataTimeout)](const std::string& address) {
    absl::MutexLock lock(&peers_mu);
    auto& client = peers[address];
    if (client == nullptr) client = std::make_shared<rpc::WorkerClient>(address, rpc::WorkerClientOptions{rpc_timeout_ms, data_timeout_ms});
    return client;
  };
  Persister persister(store->get(), &ufs, persist_options);
  sync.set_persister(&persister);
  std::unique_ptr<LocalBlockLeases> leases;
  if (config.GetBool(conf::kWorkerShortCircuitEnabled)) {
    LocalBlockLeasesOptions lease_options;
    lease_options.lease_ms = config.GetDurationMs(conf::kWorkerShortCircuitLease);
    if (lease_options.lease_ms <= 0) {
      std::fprintf(stderr, "cistern-worker: %s=%s: must be positive\n", std::string(conf::kWorkerShortCircuitLease.name).c_str(),
                   config.GetString(conf::kWorkerShortCircuitLease).c_str());
      return kExitBadConfig;
    }
    leases = std::make_unique<LocalBlockLeases>(lease_options);
  }
  BlockWorkerServiceOptions service_options;
  service_options.leases = leases.get();
  service_options.ufs_write_records = ufs_writes->get();
  service_options.default_chunk_size_bytes = config.GetSizeBytes(conf::kUserNetworkChunkSize);
  service_options.worker_id = [&sync] { return sync.worker_id(); };
  // With TLS, gRPC encrypts the mapped bytes in this process: a block file truncated behind the
  // worker's back would kill it with SIGBUS instead of failing one connection.
  service_options.send_mapped_blocks = !security->tls.enabled;
  if (capabilities != nullptr) service_options.access = BlockAccess(capabilities.get(), RealClock());
  BlockWorkerService service(store->get(), &fetcher, &ufs, &sync, service_options);

  grpc::ServerBuilder builder;
  rpc::ConfigureServerBuilder(&builder);
  int selected_port = 0;
  builder.AddListeningPort(bind_address, rpc::ServerCredentials(), &selected_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    std::fprintf(stderr, "cistern-worker: cannot listen on %s: port in use or not permitted\n", bind_address.c_str());
    return kExitStartupFailed;
  }
  CollectorHandle worker_metrics = RegisterWorkerMetrics(store->get(), &sync);
  RegisterProcessMetrics("worker");
  http::HttpServer http_server(
      http::HttpServerOptions{config.GetString(conf::kWorkerBindHost), sync_options.http_port});
  // PUT log-level: the superuser's or a daemon's token (TOKEN mode). Without a tokens file of
  // its own the worker asks the masters about any token but the daemon token.
  http::Authorizer authorize;
  std::optional<rpc::SuperuserCheck> superuser_check;
  if (security->token_mode()) {
    if (security->tokens == nullptr) {
      absl::StatusOr<rpc::SuperuserCheck> check = rpc::SuperuserCheck::Create(
          MasterAddresses(config), security->permissions.superuser, security->tls,
          std::min(rpc_timeout_ms, kHeartbeatRpcTimeoutMs));
      if (!check.ok()) {
        std::fprintf(stderr, "cistern-worker: %s\n", std::string(check.status().message()).c_str());
        return kExitBadConfig;
      }
      superuser_check = *std::move(check);
    }
    authorize = [&security, &superuser_check](const std::string& authorization) {
      security::RemoteTokenCheck remote;
      if (superuser_check.has_value()) {
        remote = [&superuser_check](std::string_view token) { return superuser_check->Check(token); };
      }
      return security::AuthorizeSuperuserBearer(*security, authorization, "change a worker's log level", remote);
    };
  }
  http::AddDaemonEndpoints(&http_server, [&sync] {
    return sync.worker_id() != 0 ? absl::OkStatus() : absl::UnavailableError("not registered with the master yet");
  }, authorize);
  if (absl::Status status = http_server.Start(); !status.ok()) {
    std::fprintf(stderr, "cistern-worker: %s\n", std::string(status.message()).c_str());
    server->Shutdown(std::chrono::system_clock::now());
    return kExitStartupFailed;
  }
  std::string tiers;
  for (const TierOptions& tier : store_options->tiers) {
    for (const TierDirOptions& dir : tier.dirs) {
      absl::StrAppend(&tiers, tiers.empty() ? "" : ", ", tier.alias, " ", dir.path, " (", FormatBytes(dir.capacity_bytes), ")");
    }
  }
  spdlog::info("cistern-worker ready: serving on {} as {}:{} (HTTP port {}), tiers: {}; authentication {}, TLS {}",
               bind_address, hostname, port, http_server.port(), tiers,
               security->token_mode() ? "TOKEN (block capabilities required)" : "NONE",
               security->tls.enabled ? "on" : "off");
  sync.Start();

  const int signal = WaitForShutdownSignal();
  spdlog::info("signal {} received, shutting down", signal);
  http_server.Stop();
  sync.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  spdlog::info("cistern-worker stopped");
  return 0;
}

}  // namespace
}  // namespace cistern::worker

int main(int argc, char** argv) { return cistern::worker::Run(argc, argv); }
