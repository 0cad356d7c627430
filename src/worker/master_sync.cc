#include "worker/master_sync.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "worker/worker_metrics.h"
#include "spdlog/spdlog.h"

namespace cistern::worker {

namespace {

void FillTiers(const BlockStore& store, google::protobuf::RepeatedPtrField<proto::TierUsage>* tiers) {
  for (const TierUsageInfo& usage : store.TierUsages()) {
    proto::TierUsage* tier = tiers->Add();
    tier->set_alias(usage.alias);
    tier->set_capacity_bytes(usage.capacity_bytes);
    tier->set_used_bytes(usage.used_bytes);
  }
}

void FillBlock(const CachedBlockInfo& info, proto::CachedBlock* block) {
  block->set_block_id(info.block_id);
  block->set_length(info.length);
  block->set_tier(info.tier);
}

}  // namespace

MasterSync::MasterSync(BlockStore* store, std::unique_ptr<BlockMasterConnection> heartbeats,
                       std::unique_ptr<BlockMasterConnection> commits, MasterSyncOptions options)
    : store_(store), heartbeats_(std::move(heartbeats)), commits_(std::move(commits)),
      options_(std::move(options)),
      cache_read_bytes_(Metrics().GetCounter(kCacheReadBytesTotal)),
      ufs_read_bytes_(Metrics().GetCounter(kUfsReadBytesTotal)) {}

MasterSync::~MasterSync() { Stop(); }

void MasterSync::Start() { thread_ = std::thread([this] { Run(); }); }

void MasterSync::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void MasterSync::Run() {
  // Register at once, then act every interval.
  int64_t wait_ms = 0;
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(wait_ms))) {
    wait_ms = options_.heartbeat_interval_ms;
    RunOnce();
  }
}

void MasterSync::RunOnce() {
  absl::Status status = worker_id_.load() == 0 ? Register() : Heartbeat();
  if (!status.ok()) {
    if (master_reachable_) spdlog::warn("master sync failed (retrying every {} ms): {}",
                                        options_.heartbeat_interval_ms, status.ToString());
    master_reachable_ = false;
  } else if (!master_reachable_) {
    spdlog::info("master reachable again");
    master_reachable_ = true;
  }
}

absl::Status MasterSync::Register() {
  proto::RegisterWorkerRequest request;
  request.mutable_address()->set_host(options_.hostname);
  request.mutable_address()->set_rpc_port(options_.rpc_port);
  request.mutable_address()->set_http_port(options_.http_port);
  FillTiers(*store_, request.mutable_tiers());
  // The full list supersedes any pending delta.
  for (const CachedBlockInfo& block : store_->ListBlocksAndClearDelta()) {
    FillBlock(block, request.add_blocks());
  }
  absl::StatusOr<proto::RegisterWorkerResponse> response = heartbeats_->RegisterWorker(request);
  if (!response.ok()) return response.status();
  if (response->worker_id() == 0) return absl::InternalError("master assigned worker id 0");
  worker_id_.store(response->worker_id());
  const std::string node_id =
      absl::StrCat("worker-", response->worker_id(), "@", options_.hostname, ":", options_.rpc_port);
  if (options_.set_log_node_id) SetLogNodeId(node_id);
  ApplyMounts(response->mount_table_version(), response->mounts());
  spdlog::info("registered with the master as {} with {} cached blocks", node_id, request.blocks_size());
  return absl::OkStatus();
}

absl::Status MasterSync::Heartbeat() {
  // Blocks pinned provisionally by now are covered by the list this heartbeat's reply carries.
  const uint64_t pin_epoch = store_->ProvisionalPinEpoch();
  {
    absl::MutexLock lock(&commits_mu_);
    absl::erase_if(recent_commits_, [](const auto& entry) { return entry.second.in_flight == 0; });
  }
  proto::WorkerHeartbeatRequest request;
  request.set_worker_id(worker_id_.load());
  request.set_cache_read_bytes(cache_read_bytes_->Get());
  request.set_ufs_read_bytes(ufs_read_bytes_->Get());
  FillTiers(*store_, request.mutable_tiers());
  BlockDelta delta = store_->TakeDelta();
  for (const auto& [block_id, info] : delta.added) FillBlock(info, request.add_added_blocks());
  for (uint64_t block_id : delta.removed) request.add_removed_block_ids(block_id);
  std::vector<proto::PersistResult> results;
  if (persister_ != nullptr) {
    // In progress first: a command finishing in between then shows in both lists, never in none.
    for (uint64_t file_id : persister_->InProgress()) request.add_persisting_file_ids(file_id);
    results = persister_->TakeResults();
    for (const proto::PersistResult& r : results) *request.add_persist_results() = r;
  }
  if (ufs_registry_ != nullptr) request.set_mount_table_version(ufs_registry_->mount_table_version());
  absl::StatusOr<proto::WorkerHeartbeatResponse> response = heartbeats_->WorkerHeartbeat(request);
  if (!response.ok()) {
    store_->RestoreDelta(std::move(delta));
    if (persister_ != nullptr) persister_->RestoreResults(std::move(results));
    return response.status();
  }
  last_heartbeat_mono_ms_.store(RealClock()->MonotonicMs());
  store_->SetPinnedFiles(absl::flat_hash_set<uint64_t>(response->pinned_file_ids().begin(),
                                                      response->pinned_file_ids().end()));
  if (response->mount_table_version() != 0) ApplyMounts(response->mount_table_version(), response->mounts());
  store_->ReleaseProvisionalPins(pin_epoch);
  for (const proto::PersistFileCommand& command : response->persist_files()) {
    if (persister_ != nullptr) persister_->Submit(command);
  }
  switch (response->command()) {
    case proto::REGISTER:
      spdlog::info("master asked worker {} to register again", worker_id_.load());
      worker_id_.store(0);
      return Register();
    case proto::FREE: {
      int freed = 0;
      BlockDelta kept;
      {
        absl::MutexLock lock(&commits_mu_);
        for (uint64_t block_id : response->block_ids()) {
          auto it = recent_commits_.find(block_id);
          if (it != recent_commits_.end()) kept.added[block_id] = it->second.info;
        }
      }
      if (!kept.empty()) {
        spdlog::info("keeping {} blocks the master asked to free: committed again while this heartbeat was sent",
                     kept.added.size());
        store_->RestoreDelta(kept);  // a copy: `kept` still says which ids to skip below
      }
      for (uint64_t block_id : response->block_ids()) {
        if (kept.added.contains(block_id)) continue;
        absl::Status status = store_->Remove(block_id);
        if (status.ok()) {
          ++freed;
        } else {
          spdlog::warn("free block {}: {}", block_id, status.ToString());
        }
      }
      spdlog::info("freed {} blocks on the master's request", freed);
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

void MasterSync::ApplyMounts(uint64_t version, const google::protobuf::RepeatedPtrField<proto::MountInfo>& mounts) {
  if (ufs_registry_ == nullptr || version == 0 || version == ufs_registry_->mount_table_version()) return;
  std::vector<ufs::UfsMount> table;
  for (const proto::MountInfo& m : mounts) {
    table.push_back(ufs::UfsMount{m.mount_id(), m.ufs_uri(), ufs::MountOptions(m.options().begin(), m.options().end())});
  }
  ufs_registry_->SetMounts(version, std::move(table));
}

absl::Status MasterSync::CommitBlock(uint64_t block_id, int64_t length, std::string_view tier) {
  const uint64_t worker_id = worker_id_.load();
  if (worker_id == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot commit block ", block_id, ": worker is not registered with the master yet"));
  }
  {
    absl::MutexLock lock(&commits_mu_);
    RecentCommit& recent = recent_commits_[block_id];
    recent.info = CachedBlockInfo{block_id, length, std::string(tier)};
    ++recent.in_flight;
  }
  proto::CommitBlockRequest request;
  request.set_worker_id(worker_id);
  request.mutable_block()->set_block_id(block_id);
  request.mutable_block()->set_length(length);
  request.mutable_block()->set_tier(std::string(tier));
  FillTiers(*store_, request.mutable_tiers());
  absl::Status status = commits_->CommitBlock(request).status();
  absl::MutexLock lock(&commits_mu_);
  --recent_commits_[block_id].in_flight;
  return status;
}

}  // namespace cistern::worker
