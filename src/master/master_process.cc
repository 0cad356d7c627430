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
#include "journal/journal.h"
#include "kv/kv_store.h"
#include "http/daemon_endpoints.h"
#include "http/http_server.h"
#include "master/block_master.h"
#include "master/cache_usage.h"
#include "master/master_http.h"
#include "master/master_metrics.h"
#include "master/file_system_master.h"
#include "master/master_service.h"
#include "master/mount_table.h"
#include "master/namespace_state_machine.h"
#include "master/namespace_store.h"
#include "master/persistence_scheduler.h"
#include "rpc/channel.h"
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

MasterProcess::MasterProcess(Config config) : config_(std::move(config)) {}

MasterProcess::~MasterProcess() { Stop(); }

absl::Status MasterProcess::Start() {
  Clock* clock = RealClock();
  const int64_t start_ms = clock->NowMs();
  const std::string dir = MasterMetastoreDir(config_);
  kv::KvStoreOptions kv_options{dir, NamespaceColumnFamilies(), /*sync_writes=*/false};
  kv_options.block_cache_bytes = config_.GetSizeBytes(conf::kMasterMetastoreBlockCacheSize);
  kv_options.write_buffer_bytes = config_.GetSizeBytes(conf::kMasterMetastoreWriteBufferSize);
  AddNamespaceKvOptions(&kv_options);
  CISTERN_ASSIGN_OR_RETURN(kv_, kv::KvStore::Open(kv_options));
  store_ = std::make_unique<NamespaceStore>(
      kv_.get(), static_cast<size_t>(std::max<int64_t>(0, config_.GetInt(conf::kMasterMetastoreCacheEntries))));
  CISTERN_RETURN_IF_ERROR(store_->FormatIfEmpty(start_ms, 0755, UserName(), GroupName()));
  CISTERN_ASSIGN_OR_RETURN(state_machine_, NamespaceStateMachine::Create(store_.get()));
  journal_ = std::make_unique<journal::LocalJournal>(state_machine_.get());
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
  fs_ = std::make_unique<FileSystemMaster>(store_.get(), journal_.get(), mounts_.get(), blocks_.get(), clock,
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
  CISTERN_RETURN_IF_ERROR(fs_->InitializeRootMount(MasterRootUfs(config_)));

  const std::string host = config_.GetString(conf::kMasterHostname);
  const int port = static_cast<int>(config_.GetInt(conf::kMasterRpcPort));
  proto::NetAddress net_address;
  net_address.set_host(host);
  net_address.set_rpc_port(port);
  CISTERN_ASSIGN_OR_RETURN(std::string cluster_id, store_->GetMetaString(kMetaClusterId));
  blocking_pool_ = std::make_unique<ThreadPool>(
      "master-rpc", static_cast<int>(std::clamp<int64_t>(config_.GetInt(conf::kMasterRpcBlockingThreads), 1, 4096)),
      /*max_queued=*/65536);
  fs_service_ = std::make_unique<FileSystemMasterService>(fs_.get(), blocking_pool_.get());
  block_service_ = std::make_unique<BlockMasterService>(blocks_.get());
  meta_service_ = std::make_unique<MetaMasterService>(MasterIdentity{cluster_id, net_address, start_ms}, store_.get(),
                                                      journal_.get(), fs_.get());
  const std::string bind = absl::StrCat(config_.GetString(conf::kMasterBindHost), ":", port);
  grpc::ServerBuilder builder;
  rpc::ConfigureServerBuilder(&builder);
  builder.AddListeningPort(bind, grpc::InsecureServerCredentials(), &bound_port_);
  builder.RegisterService(fs_service_.get());
  builder.RegisterService(block_service_.get());
  builder.RegisterService(meta_service_.get());
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
  metrics_ = RegisterMasterMetrics(blocks_.get(), journal_.get(), store_.get(), mounts_.get(), cache_usage_.get(), clock);
  RegisterProcessMetrics("master");
  http_ = std::make_unique<http::HttpServer>(
      http::HttpServerOptions{config_.GetString(conf::kMasterBindHost), static_cast<int>(config_.GetInt(conf::kMasterHttpPort))});
  http::AddDaemonEndpoints(http_.get(), [this] { return Ready(); });
  MasterHttpContext web;
  web.config = &config_;
  web.fs = fs_.get();
  web.blocks = blocks_.get();
  web.store = store_.get();
  web.journal = journal_.get();
  web.scanner = cache_usage_.get();
  web.cluster_id = cluster_id;
  web.address = address_;
  web.start_time_ms = start_ms;
  web.http = http_.get();
  AddMasterHttpHandlers(http_.get(), web);  // routes before Start: the server's threads read them
  CISTERN_RETURN_IF_ERROR(http_->Start());
  meta_service_->set_http_port(http_->port());
  cache_usage_->Start();

  const int64_t timeout_ms = config_.GetDurationMs(conf::kMasterWorkerTimeout);
  const int64_t check_ms = std::clamp<int64_t>(timeout_ms / 10, 50, 1000);
  lost_worker_detector_ = std::thread([this, check_ms] {
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(check_ms))) blocks_->DetectLostWorkers();
  });
  const int64_t ttl_check_ms = std::max<int64_t>(config_.GetDurationMs(conf::kMasterTtlCheckInterval), 10);
  ttl_checker_ = std::thread([this, ttl_check_ms] {
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(ttl_check_ms))) {
      absl::Status status = fs_->CheckTtls();
      if (!status.ok()) spdlog::warn("TTL check failed: {}", status.ToString());
    }
  });
  persistence_scheduler_ = std::thread([this, interval_ms = persist_options.check_interval_ms] {
    while (!stop_.HasBeenNotified()) {
      persistence_->WaitForWork(absl::Milliseconds(interval_ms));
      if (stop_.HasBeenNotified()) break;
      absl::Status status = persistence_->RunOnce();
      if (!status.ok()) spdlog::warn("persistence scheduling failed: {}", status.ToString());
    }
  });
  serving_ = true;
  spdlog::info("master ready at {} (HTTP port {}, metastore {}, cluster {}, applied index {}, root mount {})", address_,
               http_->port(), dir, cluster_id, journal_->applied_index(), mounts_->Resolve("/").value().ufs_uri);
  return absl::OkStatus();
}

int MasterProcess::http_port() const { return http_ != nullptr ? http_->port() : 0; }

absl::Status MasterProcess::Ready() const {
  if (!serving_) return absl::UnavailableError("starting up");
  return absl::OkStatus();
}

void MasterProcess::Stop() {
  serving_ = false;
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (http_ != nullptr) http_->Stop();
  if (cache_usage_ != nullptr) cache_usage_->Stop();
  if (lost_worker_detector_.joinable()) lost_worker_detector_.join();
  if (ttl_checker_.joinable()) ttl_checker_.join();
  if (persistence_ != nullptr) persistence_->Wake();
  if (persistence_scheduler_.joinable()) persistence_scheduler_.join();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
  }
  blocking_pool_.reset();  // runs what is still queued; the server no longer takes calls
  http_.reset();
  metrics_.Reset();
  cache_usage_.reset();
  fs_service_.reset();
  block_service_.reset();
  meta_service_.reset();
  persistence_.reset();
  fs_.reset();
  blocks_.reset();
  journal_.reset();
  state_machine_.reset();
  mounts_.reset();
  store_.reset();
  kv_.reset();
}

}  // namespace cistern::master
