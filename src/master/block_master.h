// BlockMaster: the worker registry and block locations. Locations are soft state, rebuilt from
// worker registrations (a worker's full block list) and heartbeats (deltas); nothing here is
// journaled. A worker silent for longer than the timeout is marked LOST and its locations are
// dropped; a heartbeat from a worker the master does not know (it restarted) or has marked lost
// is answered with REGISTER, so the worker re-sends its full list.
//
// Blocks of deleted files are queued per worker and sent as FREE commands in heartbeat replies;
// persist commands (from the PersistenceScheduler) are queued per worker and sent with the next
// reply too, and what workers report about persistence in their heartbeats is handed to the
// scheduler as a PersistReport.
//
// Thread safety: thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/master.pb.h"
#include "common/clock.h"

namespace cistern::master {

struct BlockMasterOptions {
  int64_t worker_timeout_ms = 30000;
};

// What one heartbeat said about persistence.
struct PersistReport {
  uint64_t worker_id = 0;
  bool registered = false;  // false: the worker is unknown or lost here (told to register again)
  std::vector<proto::PersistResult> results;
  std::vector<uint64_t> in_progress;  // files the worker is persisting (received, not finished)
  std::vector<uint64_t> delivered;    // files whose persist commands go out with this reply
};

class BlockMaster {
 public:
  // Answers whether a file id still exists, so blocks of deleted files are freed rather than
  // recorded. Called without BlockMaster locks held.
  using FileExistsFn = std::function<bool(uint64_t file_id)>;
  // Ids of files whose blocks workers must keep (pinned, or not yet persisted), sent to workers
  // with every heartbeat reply. Called without locks held.
  using PinnedFilesFn = std::function<std::vector<uint64_t>()>;
  // Receives each heartbeat's PersistReport. Called without locks held, on the heartbeat's thread.
  using PersistReportFn = std::function<void(PersistReport)>;
  // The mount table, given to workers (with every option: they reach the under-stores with
  // them) on registration and in a heartbeat reply whenever the worker's copy is out of date.
  // Called without locks held.
  using MountTableFn = std::function<std::vector<proto::MountInfo>()>;

  // `clock` must outlive this.
  BlockMaster(Clock* clock, BlockMasterOptions options, FileExistsFn file_exists);

  // Registers (or re-registers) the worker at `address`, replacing its block list. Returns its id.
  absl::StatusOr<uint64_t> RegisterWorker(const proto::RegisterWorkerRequest& request);
  proto::WorkerHeartbeatResponse Heartbeat(const proto::WorkerHeartbeatRequest& request);
  // REQUIRES: called before the master serves requests.
  void set_pinned_files_fn(PinnedFilesFn fn) { pinned_files_ = std::move(fn); }
  // REQUIRES: called before the master serves requests.
  void set_persist_report_fn(PersistReportFn fn) { persist_report_ = std::move(fn); }
  // Queues a persist command for the worker's next heartbeat reply. NOT_FOUND if the worker is
  // not LIVE.
  absl::Status QueuePersist(uint64_t worker_id, proto::PersistFileCommand command);
  // REQUIRES: called before the master serves requests.
  void set_mount_table_fn(MountTableFn fn) { mount_table_ = std::move(fn); }
  // The mount table and its version (a fingerprint of its content, never 0), for a worker that
  // has version `have`: empty mounts when `have` is current. {0, {}} without a MountTableFn.
  std::pair<uint64_t, std::vector<proto::MountInfo>> MountTableFor(uint64_t have) const;
  // NOT_FOUND if the worker is unknown or the block's file no longer exists.
  // `tiers`, when not empty, replaces the worker's usage (as a heartbeat's does).
  absl::Status CommitBlock(uint64_t worker_id, const proto::CachedBlock& block,
                           const google::protobuf::RepeatedPtrField<proto::TierUsage>& tiers = {});

  std::vector<proto::WorkerInfo> GetWorkers() const;
  // Locations of `block_id` on live workers, ordered by worker id.
  std::vector<proto::BlockLocation> GetLocations(uint64_t block_id) const;
  // Bytes of file `file_id` (of `length`, in blocks of `block_size_bytes`) cached on at least one
  // worker: one range lookup over the file's blocks.
  int64_t CachedBytes(uint64_t file_id, int64_t length, int64_t block_size_bytes) const;
  // Forgets the blocks of these files and tells the workers holding them to free them. Returns
  // how many block copies are to be freed.
  int64_t RemoveFiles(const std::vector<uint64_t>& file_ids);
  // Marks workers past the timeout as LOST (called periodically by the master).
  void DetectLostWorkers();
  // Forgets every worker and location, and numbers new workers from `worker_id_base` on (a
  // master that just became the Raft leader: workers re-register, answered REGISTER; the base
  // comes from the leader's term, so ids of different leaders never collide).
  void Reset(uint64_t worker_id_base);

 private:
  struct Worker {
    proto::WorkerInfo info;
    std::map<uint64_t, proto::CachedBlock> blocks;  // block id -> what the worker reported
    std::set<uint64_t> to_free;                     // sent with the next heartbeat reply
    std::vector<proto::PersistFileCommand> to_persist;  // sent with the next heartbeat reply
    int64_t last_heartbeat_mono_ms = 0;
  };

  // The files of `blocks` that no longer exist. Must not be called with mu_ held.
  std::set<uint64_t> OrphanFiles(const google::protobuf::RepeatedPtrField<proto::CachedBlock>& blocks) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The heartbeat proper; false if the worker must register again. Added blocks of
  // `orphan_files` are freed instead of located.
  bool HeartbeatLocked(const proto::WorkerHeartbeatRequest& request, const std::set<uint64_t>& orphan_files,
                       proto::WorkerHeartbeatResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddBlockLocked(Worker* worker, const proto::CachedBlock& block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveBlockLocked(Worker* worker, uint64_t block_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateUsageLocked(Worker* worker, const google::protobuf::RepeatedPtrField<proto::TierUsage>& tiers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  const BlockMasterOptions options_;
  const FileExistsFn file_exists_;
  PinnedFilesFn pinned_files_;
  PersistReportFn persist_report_;
  MountTableFn mount_table_;
  mutable absl::Mutex mu_;
  // Worker ids of this master process start from its start time (or, under Raft, the leader's
  // term), so an id a worker kept from an earlier master never names a different worker here.
  uint64_t worker_id_base_ ABSL_GUARDED_BY(mu_);
  uint64_t next_worker_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Worker> workers_ ABSL_GUARDED_BY(mu_);
  // block id -> workers holding it (ordered, so a file's blocks are one range).
  std::map<uint64_t, std::set<uint64_t>> locations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::master
