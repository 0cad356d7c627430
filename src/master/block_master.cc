#include "master/block_master.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "spdlog/spdlog.h"

namespace cistern::master {

BlockMaster::BlockMaster(Clock* clock, BlockMasterOptions options, FileExistsFn file_exists)
    : clock_(clock), options_(options), file_exists_(std::move(file_exists)),
      worker_id_base_(static_cast<uint64_t>(clock->NowMs() / 1000) * 1000) {}

std::set<uint64_t> BlockMaster::OrphanFiles(const google::protobuf::RepeatedPtrField<proto::CachedBlock>& blocks) const {
  // Called outside mu_: file_exists reads the metastore.
  std::set<uint64_t> orphan_files;
  std::set<uint64_t> live_files;
  for (const auto& block : blocks) {
    uint64_t file = BlockFileId(block.block_id());
    if (live_files.count(file) || orphan_files.count(file)) continue;
    (file_exists_(file) ? live_files : orphan_files).insert(file);
  }
  return orphan_files;
}

absl::StatusOr<uint64_t> BlockMaster::RegisterWorker(const proto::RegisterWorkerRequest& request) {
  if (request.address().host().empty() || request.address().rpc_port() <= 0 || request.address().rpc_port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("worker address '", request.address().host(), ":",
                                                   request.address().rpc_port(), "' is invalid"));
  }
  const std::set<uint64_t> orphan_files = OrphanFiles(request.blocks());
  absl::MutexLock lock(&mu_);
  uint64_t id = 0;
  for (auto& [wid, w] : workers_) {
    if (w.info.address().host() == request.address().host() &&
        w.info.address().rpc_port() == request.address().rpc_port()) {
      id = wid;
    }
  }
  if (id == 0) id = worker_id_base_ + next_worker_seq_++;
  Worker& worker = workers_[id];
  for (const auto& [block_id, b] : std::map<uint64_t, proto::CachedBlock>(worker.blocks)) {
    RemoveBlockLocked(&worker, block_id);
  }
  worker.info.set_worker_id(id);
  *worker.info.mutable_address() = request.address();
  worker.info.set_state(proto::LIVE);
  worker.info.set_registered_ms(clock_->NowMs());
  worker.info.set_last_heartbeat_ms(clock_->NowMs());
  worker.last_heartbeat_mono_ms = clock_->MonotonicMs();
  UpdateUsageLocked(&worker, request.tiers());
  for (const auto& block : request.blocks()) {
    if (orphan_files.count(BlockFileId(block.block_id()))) {
      worker.to_free.insert(block.block_id());
    } else {
      AddBlockLocked(&worker, block);
    }
  }
  spdlog::info("worker {} registered from {}:{} with {} blocks ({} of deleted files to free)", id,
               request.address().host(), request.address().rpc_port(), worker.blocks.size(), worker.to_free.size());
  return id;
}

namespace {

// FNV-1a over the mount table's content, options in key order: equal tables give equal versions
// in every master process, so a failover does not resend an unchanged table.
uint64_t MountTableVersion(std::vector<proto::MountInfo> mounts) {
  std::sort(mounts.begin(), mounts.end(),
            [](const proto::MountInfo& a, const proto::MountInfo& b) { return a.mount_id() < b.mount_id(); });
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // field separator
  };
  for (const proto::MountInfo& m : mounts) {
    mix(std::to_string(m.mount_id()));
    mix(m.path());
    mix(m.ufs_uri());
    mix(m.read_only() ? "ro" : "rw");
    std::map<std::string, std::string> options(m.options().begin(), m.options().end());
    for (const auto& [k, v] : options) {
      mix(k);
      mix(v);
    }
  }
  return h == 0 ? 1 : h;
}

}  // namespace

std::pair<uint64_t, std::vector<proto::MountInfo>> BlockMaster::MountTableFor(uint64_t have) const {
  if (!mount_table_) return {0, {}};
  std::vector<proto::MountInfo> mounts = mount_table_();
  const uint64_t version = MountTableVersion(mounts);
  if (version == have) return {version, {}};
  return {version, std::move(mounts)};
}

proto::WorkerHeartbeatResponse BlockMaster::Heartbeat(const proto::WorkerHeartbeatRequest& request) {
  proto::WorkerHeartbeatResponse response;
  if (pinned_files_) {
    for (uint64_t id : pinned_files_()) response.add_pinned_file_ids(id);
  }
  if (auto [version, mounts] = MountTableFor(request.mount_table_version()); version != request.mount_table_version()) {
    response.set_mount_table_version(version);
    for (proto::MountInfo& m : mounts) *response.add_mounts() = std::move(m);
  }
  PersistReport report;
  report.worker_id = request.worker_id();
  report.results.assign(request.persist_results().begin(), request.persist_results().end());
  report.in_progress.assign(request.persisting_file_ids().begin(), request.persisting_file_ids().end());
  // Blocks cached while their file was being deleted are freed, not located.
  const std::set<uint64_t> orphan_files = OrphanFiles(request.added_blocks());
  {
    absl::MutexLock lock(&mu_);
    report.registered = HeartbeatLocked(request, orphan_files, &response);
    for (const proto::PersistFileCommand& command : response.persist_files()) {
      report.delivered.push_back(command.file_id());
    }
  }
  // Results are self-contained, so they count even from a worker told to register again.
  if (persist_report_) persist_report_(std::move(report));
  return response;
}

bool BlockMaster::HeartbeatLocked(const proto::WorkerHeartbeatRequest& request,
                                  const std::set<uint64_t>& orphan_files, proto::WorkerHeartbeatResponse* reply) {
  proto::WorkerHeartbeatResponse& response = *reply;
  auto it = workers_.find(request.worker_id());
  if (it == workers_.end() || it->second.info.state() != proto::LIVE) {
    response.set_command(proto::REGISTER);
    return false;
  }
  Worker& worker = it->second;
  worker.last_heartbeat_mono_ms = clock_->MonotonicMs();
  worker.info.set_last_heartbeat_ms(clock_->NowMs());
  worker.info.set_cache_read_bytes(request.cache_read_bytes());
  worker.info.set_ufs_read_bytes(request.ufs_read_bytes());
  UpdateUsageLocked(&worker, request.tiers());
  for (uint64_t block_id : request.removed_block_ids()) {
    RemoveBlockLocked(&worker, block_id);
    worker.to_free.erase(block_id);
  }
  for (const auto& block : request.added_blocks()) {
    if (orphan_files.contains(BlockFileId(block.block_id()))) {
      worker.to_free.insert(block.block_id());
    } else if (worker.to_free.contains(block.block_id())) {
      // Freed since the worker reported it (this reply carries the free): locating it would send
      // readers and `fs load` to a block about to go.
    } else {
      AddBlockLocked(&worker, block);
    }
  }
  if (!worker.to_free.empty()) {
    response.set_command(proto::FREE);
    for (uint64_t block_id : worker.to_free) response.add_block_ids(block_id);
    worker.to_free.clear();
  } else {
    response.set_command(proto::NOTHING);
  }
  for (proto::PersistFileCommand& command : worker.to_persist) *response.add_persist_files() = std::move(command);
  worker.to_persist.clear();
  return true;
}

absl::Status BlockMaster::QueuePersist(uint64_t worker_id, proto::PersistFileCommand command) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.info.state() != proto::LIVE) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is not live"));
  }
  it->second.to_persist.push_back(std::move(command));
  return absl::OkStatus();
}

absl::Status BlockMaster::CommitBlock(uint64_t worker_id, const proto::CachedBlock& block,
                                      const google::protobuf::RepeatedPtrField<proto::TierUsage>& tiers) {
  const uint64_t file = BlockFileId(block.block_id());
  if (!file_exists_(file)) {
    return absl::NotFoundError(absl::StrCat("block ", block.block_id(), ": file id ", file, " does not exist"));
  }
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end() || it->second.info.state() != proto::LIVE) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is not registered"));
  }
  // A commit supersedes a free not yet delivered (`fs load` right after `fs free`).
  it->second.to_free.erase(block.block_id());
  AddBlockLocked(&it->second, block);
  if (!tiers.empty()) UpdateUsageLocked(&it->second, tiers);
  return absl::OkStatus();
}

std::vector<proto::WorkerInfo> BlockMaster::GetWorkers() const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::WorkerInfo> out;
  for (const auto& [id, w] : workers_) {
    proto::WorkerInfo info = w.info;
    info.set_block_count(static_cast<int64_t>(w.blocks.size()));
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<proto::BlockLocation> BlockMaster::GetLocations(uint64_t block_id) const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::BlockLocation> out;
  auto it = locations_.find(block_id);
  if (it == locations_.end()) return out;
  for (uint64_t worker_id : it->second) {
    const Worker& w = workers_.at(worker_id);
    proto::BlockLocation location;
    location.set_worker_id(worker_id);
    *location.mutable_address() = w.info.address();
    location.set_tier(w.blocks.at(block_id).tier());
    out.push_back(std::move(location));
  }
  return out;
}

int64_t BlockMaster::CachedBytes(uint64_t file_id, int64_t length, int64_t block_size_bytes) const {
  const int64_t block_size = std::max<int64_t>(block_size_bytes, 1);
  int64_t cached = 0;
  absl::MutexLock lock(&mu_);
  for (auto it = locations_.lower_bound(MakeBlockId(file_id, 0));
       it != locations_.end() && BlockFileId(it->first) == file_id; ++it) {
    if (it->second.empty()) continue;
    const int64_t offset = static_cast<int64_t>(BlockIndex(it->first)) * block_size;
    cached += std::clamp<int64_t>(length - offset, 0, block_size);
  }
  return cached;
}

int64_t BlockMaster::RemoveFiles(const std::vector<uint64_t>& file_ids) {
  int64_t freed = 0;
  absl::MutexLock lock(&mu_);
  for (uint64_t file : file_ids) {
    auto begin = locations_.lower_bound(MakeBlockId(file, 0));
    auto end = locations_.lower_bound(MakeBlockId(file + 1, 0));
    std::vector<std::pair<uint64_t, std::set<uint64_t>>> doomed(begin, end);
    for (auto& [block_id, holders] : doomed) {
      for (uint64_t worker_id : holders) {
        Worker& w = workers_.at(worker_id);
        RemoveBlockLocked(&w, block_id);
        w.to_free.insert(block_id);
        ++freed;
      }
    }
  }
  return freed;
}

void BlockMaster::DetectLostWorkers() {
  const int64_t now = clock_->MonotonicMs();
  absl::MutexLock lock(&mu_);
  for (auto& [id, w] : workers_) {
    if (w.info.state() == proto::LIVE && now - w.last_heartbeat_mono_ms > options_.worker_timeout_ms) {
      spdlog::warn("worker {} at {}:{} lost: no heartbeat for {} ms; dropping its {} block locations", id,
                   w.info.address().host(), w.info.address().rpc_port(), now - w.last_heartbeat_mono_ms,
                   w.blocks.size());
      for (const auto& [block_id, b] : std::map<uint64_t, proto::CachedBlock>(w.blocks)) RemoveBlockLocked(&w, block_id);
      w.info.set_state(proto::LOST);
      w.to_free.clear();
      w.to_persist.clear();
    }
  }
}

void BlockMaster::Reset(uint64_t worker_id_base) {
  absl::MutexLock lock(&mu_);
  spdlog::info("block master reset: forgetting {} workers and {} block locations; new worker ids from {}",
               workers_.size(), locations_.size(), worker_id_base);
  workers_.clear();
  locations_.clear();
  worker_id_base_ = worker_id_base;
  next_worker_seq_ = 1;
}

void BlockMaster::AddBlockLocked(Worker* worker, const proto::CachedBlock& block) {
  worker->blocks[block.block_id()] = block;
  locations_[block.block_id()].insert(worker->info.worker_id());
}

void BlockMaster::RemoveBlockLocked(Worker* worker, uint64_t block_id) {
  worker->blocks.erase(block_id);
  auto it = locations_.find(block_id);
  if (it == locations_.end()) return;
  it->second.erase(worker->info.worker_id());
  if (it->second.empty()) locations_.erase(it);
}

void BlockMaster::UpdateUsageLocked(Worker* worker, const google::protobuf::RepeatedPtrField<proto::TierUsage>& tiers) {
  int64_t capacity = 0, used = 0;
  for (const auto& tier : tiers) {
    capacity += tier.capacity_bytes();
    used += tier.used_bytes();
  }
  *worker->info.mutable_tiers() = tiers;
  worker->info.set_capacity_bytes(capacity);
  worker->info.set_used_bytes(used);
}

}  // namespace cistern::master
