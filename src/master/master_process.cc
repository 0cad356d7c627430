#include "master/master_process.h"

#include <pwd.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "common/daemon.h"
#include "journal/journal.h"
#include "master/journal_admin_service.h"
#include "master/master_journal.h"
#include "master/metastore_backup.h"
#include "kv/kv_store.h"
#include "http/daemon_endpoints.h"
#include "http/http_server.h"
#include "master/block_master.h"
#include "master/cache_usage.h"
#include "master/master_http.h"
#include "master/master_metrics.h"
#include "master/file_system_master.h"
#include "master/master_security.h"
#include "master/master_service.h"
#include "master/mount_table.h"
#include "master/namespace_state_machine.h"
#include "master/namespace_store.h"
#include "master/persistence_scheduler.h"
#include "rpc/channel.h"
#include "rpc/transport_security.h"
#include "spdlog/spdlog.h"

namespace cistern::master {
namespace {

std::string UserName() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr) return pw->pw_name;
  return std::to_string(::geteuid());
}

std::string GroupName() {
  if (const group* gr = ::getgrgid(::getegid()); gr != nullptr) return gr->gr_name;
  return std::to_string(::getegid());
}

}  // namespace

MasterProcess::MasterProcess(Config config, MasterProcessOptions options)
    : config_(std::move(config)), options_(options) {}

MasterProcess::~MasterProcess() { Stop(); }

absl::Status MasterProcess::Start() {
  Clock* clock = RealClock();
  const int64_t start_ms = clock->NowMs();
  const std::string dir = MasterMetastoreDir(config_);
  CISTERN_ASSIGN_OR_RETURN(security_, MasterSecurity::Start(config_));
  if (const std::string backup = config_.GetString(conf::kMasterMetastoreRestoreFrom); !backup.empty()) {
    CISTERN_RETURN_IF_ERROR(RestoreMetastoreIfEmpty(backup, dir, MasterRaftDir(config_)));
  }
  kv::KvStoreOptions kv_options{dir, NamespaceColumnFamilies(), /*sync_writes=*/false};
  kv_options.block_cache_bytes = config_.GetSizeBytes(conf::kMasterMetastoreBlockCacheSize);
  kv_options.write_buffer_bytes = config_.GetSizeBytes(conf::kMasterMetastoreWriteBufferSize);
  AddNamespaceKvOptions(&kv_options);
  CISTERN_ASSIGN_OR_RETURN(kv_, kv::KvStore::Open(kv_options));
  store_ = std::make_unique<NamespaceStore>(
      kv_.get(), static_cast<size_t>(std::max<int64_t>(0, config_.GetInt(conf::kMasterMetastoreCacheEntries))));
  CISTERN_RETURN_IF_ERROR(store_->FormatIfEmpty(start_ms, 0755, UserName(), GroupName()));
  CISTERN_ASSIGN_OR_RETURN(state_machine_, NamespaceStateMachine::Create(store_.get()));
  MasterJournalOptions journal_options;
  journal_options.update_log_prefix = options_.update_log_prefix;
  if (options_.exit_on_journal_failure) {
    journal_options.on_fatal_error = [](const absl::Status& error) {
      spdlog::critical("the journal stopped after a storage failure; exiting: {}", error.ToString());
      spdlog::default_logger()->flush();
      std::_Exit(kExitJournalFailure);
    };
  }
  CISTERN_ASSIGN_OR_RETURN(master_journal_, MasterJournal::Open(config_, state_machine_.get(), journal_options));
  journal_ = master_journal_->journal();
  const bool replicated = master_journal_->replicated();
  mounts_ = std::make_unique<MountTable>(store_.get());
  // fs_ is set before the server starts and reset only after it stopped.
  blocks_ = std::make_unique<BlockMaster>(
      clock, BlockMasterOptions{config_.GetDurationMs(conf::kMasterWorkerTimeout)},
      [this](uint64_t file_id) { return fs_ != nullptr && fs_->FileExists(file_id); });
  FileSystemMasterOptions fs_options;
  fs_options.default_block_size_bytes = config_.GetSizeBytes(conf::kUserBlockSizeDefault);
  proto::WriteType write_type = proto::CACHE_THROUGH;
  proto::WriteType_Parse(config_.GetString(conf::kUserFileWriteTypeDefault), &write_type);
  fs_options.default_write_type = write_type;
  fs_options.listing_page_size = static_cast<int>(config_.GetInt(conf::kMasterListingPageSize));
  fs_options.default_sync_interval_ms = config_.GetDurationMs(conf::kMasterMetadataSyncInterval);
  fs_options.sync_batch_size = static_cast<int>(std::max<int64_t>(1, config_.GetInt(conf::kMasterMetadataSyncBatchSize)));
  fs_options.owner = UserName();
  fs_options.group = GroupName();
  fs_options.permissions = security_->config().permissions;
  fs_options.capabilities = security_->capabilities();
  fs_ = std::make_unique<FileSystemMaster>(store_.get(), journal_, mounts_.get(), blocks_.get(), clock,
                                           fs_options);
  blocks_->set_pinned_files_fn([this] { return fs_ != nullptr ? fs_->ProtectedFiles() : std::vector<uint64_t>(); });
  PersistenceSchedulerOptions persist_options;
  persist_options.check_interval_ms = std::max<int64_t>(config_.GetDurationMs(conf::kMasterPersistenceCheckInterval), 10);
  persist_options.retry_base_ms = std::max<int64_t>(config_.GetDurationMs(conf::kMasterPersistenceRetryInitial), 1);
  persist_options.retry_max_ms =
      std::max(config_.GetDurationMs(conf::kMasterPersistenceRetryMax), persist_options.retry_base_ms);
  persist_options.max_in_flight = static_cast<int>(std::max<int64_t>(config_.GetInt(conf::kMasterPersistenceMaxInFlight), 1));
  persist_options.worker_timeout_ms = config_.GetDurationMs(conf::kMasterWorkerTimeout);
  persistence_ = std::make_unique<PersistenceScheduler>(fs_.get(), blocks_.get(), clock, persist_options);
  blocks_->set_mount_table_fn(
      [this] { return fs_ != nullptr ? fs_->GetMountTable() : std::vector<proto::MountInfo>(); });
  blocks_->set_persist_report_fn([this](PersistReport report) { persistence_->OnHeartbeat(std::move(report)); });
  state_machine_->set_mounts_changed_callback([mounts = mounts_.get()] {
    absl::Status status = mounts->Reload();
    if (!status.ok()) spdlog::error("reloading the mount table failed: {}", status.ToString());
  });
  const std::string root_ufs = MasterRootUfs(config_);
  if (replicated) {
    // The root is mounted by the first leader (below); followers learn mounts as they apply.
    CISTERN_RETURN_IF_ERROR(mounts_->Reload());
  } else {
    CISTERN_RETURN_IF_ERROR(fs_->InitializeRootMount(root_ufs));
  }

  const std::string host = config_.GetString(conf::kMasterHostname);
  const int port = static_cast<int>(config_.GetInt(conf::kMasterRpcPort));
  proto::NetAddress net_address;
  net_address.set_host(host);
  net_address.set_rpc_port(port);
  CISTERN_ASSIGN_OR_RETURN(std::string cluster_id, store_->GetMetaString(kMetaClusterId));
  const ServingGate* gate = replicated ? this : nullptr;
  blocking_pool_ = std::make_unique<ThreadPool>(
      "master-rpc", static_cast<int>(std::clamp<int64_t>(config_.GetInt(conf::kMasterRpcBlockingThreads), 1, 4096)),
      /*max_queued=*/65536);
  fs_service_ = std::make_unique<FileSystemMasterService>(fs_.get(), blocking_pool_.get(), gate);
  block_service_ = std::make_unique<BlockMasterService>(blocks_.get(), gate);
  meta_service_ = std::make_unique<MetaMasterService>(MasterIdentity{cluster_id, net_address, start_ms}, store_.get(),
                                                      journal_, fs_.get(), gate);
  journal_admin_service_ = std::make_unique<JournalAdminService>(master_journal_.get());
  const std::string bind = absl::StrCat(config_.GetString(conf::kMasterBindHost), ":", port);
  grpc::ServerBuilder builder;
  rpc::ConfigureServerBuilder(&builder, security_->Interceptors());
  builder.AddListeningPort(bind, rpc::ServerCredentials(), &bound_port_);
  builder.RegisterService(fs_service_.get());
  builder.RegisterService(block_service_.get());
  builder.RegisterService(meta_service_.get());
  builder.RegisterService(journal_admin_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || bound_port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", bind, ": port in use or not permitted"));
  }
  address_ = absl::StrCat(host, ":", bound_port_);

  CacheUsageOptions usage_options;
  usage_options.interval_ms = config_.GetDurationMs(conf::kMasterCacheUsageScanInterval);
  usage_options.max_inodes_per_second = config_.GetInt(conf::kMasterCacheUsageScanRate);
  cache_usage_ = std::make_unique<CacheUsageScanner>(store_.get(), mounts_.get(), blocks_.get(), clock, usage_options);
  metrics_ = RegisterMasterMetrics(blocks_.get(), journal_, store_.get(), mounts_.get(), cache_usage_.get(), clock);
  raft_metrics_ = master_journal_->RegisterMetrics();
  RegisterProcessMetrics("master");
  http_ = std::make_unique<http::HttpServer>(
      http::HttpServerOptions{config_.GetString(conf::kMasterBindHost), static_cast<int>(config_.GetInt(conf::kMasterHttpPort))});
  http::Authorizer authorize;  // the JSON API and PUT log-level: the superuser's (TOKEN mode)
  if (security_->config().token_mode()) {
    authorize = [security = security_.get()](const std::string& authorization) {
      return security->AuthorizeHttp(authorization);
    };
  }
  http::AddDaemonEndpoints(http_.get(), [this] { return Ready(); }, authorize);
  MasterHttpContext web;
  web.config = &config_;
  web.fs = fs_.get();
  web.blocks = blocks_.get();
  web.store = store_.get();
  web.journal = journal_;
  web.scanner = cache_usage_.get();
  web.cluster_id = cluster_id;
  web.address = address_;
  web.start_time_ms = start_ms;
  web.http = http_.get();
  web.authorize = authorize;
  AddMasterHttpHandlers(http_.get(), web);  // routes before Start: the server's threads read them
  CISTERN_RETURN_IF_ERROR(http_->Start());
  meta_service_->set_http_port(http_->port());
  cache_usage_->Start();

  // Leader-only work. Under Raft each leadership first forgets the block locations of the
  // previous one (workers are answered REGISTER and re-send their block lists) and makes sure
  // the root is mounted (the first leader mounts it).
  if (replicated) {
    leader_tasks_.AddOnGain("reset block locations", [this](uint64_t term) {
      blocks_->Reset(term << 40);
      return absl::OkStatus();
    });
    leader_tasks_.AddOnGain("root mount", [this, root_ufs](uint64_t) { return fs_->InitializeRootMount(root_ufs); });
  }
  const int64_t timeout_ms = config_.GetDurationMs(conf::kMasterWorkerTimeout);
  leader_tasks_.AddPeriodic("lost-worker detection", std::clamp<int64_t>(timeout_ms / 10, 50, 1000),
                            [this] { blocks_->DetectLostWorkers(); });
  leader_tasks_.AddPeriodic("TTL check", std::max<int64_t>(config_.GetDurationMs(conf::kMasterTtlCheckInterval), 10),
                            [this] {
                              absl::Status status = fs_->CheckTtls();
                              if (!status.ok()) spdlog::warn("TTL check failed: {}", status.ToString());
                            });
  // Waits for heartbeat results or a Wake (fs persist) up to the check interval, so scheduling
  // reacts at once but runs at least every interval.
  leader_tasks_.AddPeriodic("persistence scheduling", 10, [this, interval_ms = persist_options.check_interval_ms] {
    persistence_->WaitForWork(absl::Milliseconds(interval_ms));
    absl::Status status = persistence_->RunOnce();
    if (!status.ok()) spdlog::warn("persistence scheduling failed: {}", status.ToString());
  });
  leader_tasks_.Start();
  CISTERN_RETURN_IF_ERROR(master_journal_->Start(
      [this](bool leading, uint64_t term) { leader_tasks_.SetLeading(leading, term); }));
  serving_ = true;
  spdlog::info("{} ready at {} (HTTP port {}, metastore {}, cluster {}, applied index {}, root mount {})",
               master_journal_->name(), address_, http_->port(), dir, cluster_id, journal_->applied_index(),
               replicated ? std::string("mounted by the leader") : mounts_->Resolve("/").value().ufs_uri);
  return absl::OkStatus();
}

int MasterProcess::http_port() const { return http_ != nullptr ? http_->port() : 0; }

absl::Status MasterProcess::Ready() const {
  if (!serving_) return absl::UnavailableError("starting up");
  if (!master_journal_->replicated()) return absl::OkStatus();
  // A Raft master is ready while it knows a leader to serve or send clients to.
  const proto::GetJournalInfoResponse info = master_journal_->Info();
  if (!info.error().empty()) return absl::UnavailableError(absl::StrCat("journal stopped: ", info.error()));
  if (info.leader_id() == 0) return absl::UnavailableError("no Raft leader known");
  return absl::OkStatus();
}

int MasterProcess::raft_port() const { return master_journal_ ? master_journal_->raft_port() : 0; }

absl::Status MasterProcess::CheckServing(std::string* leader_address) const {
  CISTERN_RETURN_IF_ERROR(master_journal_->CheckServing(leader_address));
  if (!leader_tasks_.ready()) {
    return absl::UnavailableError(absl::StrCat(master_journal_->name(), " is becoming the leader; retry"));
  }
  return absl::OkStatus();
}

proto::GetJournalInfoResponse MasterProcess::journal_info() const { return master_journal_->Info(); }

void MasterProcess::Stop() {
  serving_ = false;
  if (http_ != nullptr) http_->Stop();
  if (cache_usage_ != nullptr) cache_usage_->Stop();
  // The journal first: callers waiting on it (requests, leader tasks) then return at once.
  if (master_journal_) master_journal_->Stop();
  if (persistence_ != nullptr) persistence_->Wake();  // its leader task may be waiting for work
  leader_tasks_.Stop();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
  }
  blocking_pool_.reset();  // runs what is still queued; the server no longer takes calls
  http_.reset();
  metrics_.Reset();
  raft_metrics_.Reset();
  cache_usage_.reset();
  fs_service_.reset();
  block_service_.reset();
  meta_service_.reset();
  persistence_.reset();
  fs_.reset();
  blocks_.reset();
  journal_admin_service_.reset();
  journal_ = nullptr;
  master_journal_.reset();
  state_machine_.reset();
  mounts_.reset();
  store_.reset();
  kv_.reset();
  security_.reset();
}

}  // namespace cistern::master
