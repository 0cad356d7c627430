// MasterSync: the worker's side of the block master protocol. A background thread registers the
// worker (address, tier usage, every cached block), retrying each heartbeat interval until the
// master answers, then heartbeats each interval with the blocks added and removed since the
// last heartbeat. It obeys the master's commands: REGISTER (the master forgot this worker:
// register again with the full block list) and FREE (drop the listed blocks), applies the
// master's list of files whose blocks must not be evicted, and hands persist commands to the
// Persister, whose results (and the files it is persisting) travel with the next heartbeat. A
// failed heartbeat keeps its delta and results for the next one.
//
// It is also the BlockCommitter that reports client-written and `fs load`ed blocks to the master.
//
// Thread safety: thread-safe. Start once; Stop (or the destructor) joins the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "worker/block_committer.h"
#include "worker/block_master_connection.h"
#include "worker/block_store.h"
#include "worker/persister.h"
#include "worker/ufs_fetcher.h"

namespace cistern {
class Counter;
}

namespace cistern::worker {

struct MasterSyncOptions {
  std::string hostname;  // how clients and the master reach this worker
  int rpc_port = 0;
  int http_port = 0;
  int64_t heartbeat_interval_ms = 1000;
  // Whether to change the log prefix to "worker-<id>@host:port" once registered.
  bool set_log_node_id = true;
};

class MasterSync : public BlockCommitter {
 public:
  // `store` must outlive this object. `heartbeats` carries registration and heartbeats (keep its
  // retry window short so shutdown is prompt); `commits` carries CommitBlock calls.
  MasterSync(BlockStore* store, std::unique_ptr<BlockMasterConnection> heartbeats,
             std::unique_ptr<BlockMasterConnection> commits, MasterSyncOptions options);
  ~MasterSync() override;

  void Start();
  // Stops the thread; waits for at most the call in progress.
  void Stop();

  // REQUIRES: called before Start. `persister` (may be null: commands are then ignored) must
  // outlive this object.
  void set_persister(Persister* persister) { persister_ = persister; }

  // The id the master assigned; 0 until registered (and after a REGISTER command).
  uint64_t worker_id() const { return worker_id_.load(); }
  // Monotonic time (RealClock) of the last heartbeat the master answered; 0 = none yet.
  int64_t last_heartbeat_mono_ms() const { return last_heartbeat_mono_ms_.load(); }

  // UNAVAILABLE while the worker is not registered.
  absl::Status CommitBlock(uint64_t block_id, int64_t length, std::string_view tier) override;

  // Where the mount table the master sends goes (registration and heartbeat replies), so reads
  // and writes reach each mount's under-store with its options. REQUIRES: before Start;
  // `registry` must outlive this object.
  void set_ufs_registry(UfsRegistry* registry) { ufs_registry_ = registry; }

  // One step of the loop (register if needed, else heartbeat), for tests that drive it by hand.
  void RunOnceForTest() { RunOnce(); }

 private:
  void Run();
  void RunOnce();
  absl::Status Register();
  absl::Status Heartbeat();
  // Hands a mount table from the master to the UfsRegistry.
  void ApplyMounts(uint64_t version, const google::protobuf::RepeatedPtrField<proto::MountInfo>& mounts);

  BlockStore* const store_;
  Persister* persister_ = nullptr;
  UfsRegistry* ufs_registry_ = nullptr;
  const std::unique_ptr<BlockMasterConnection> heartbeats_;
  const std::unique_ptr<BlockMasterConnection> commits_;
  const MasterSyncOptions options_;

  std::atomic<uint64_t> worker_id_{0};
  std::atomic<int64_t> last_heartbeat_mono_ms_{0};
  // Sent with each heartbeat for the master's cluster-wide cache hit ratio.
  Counter* const cache_read_bytes_;
  Counter* const ufs_read_bytes_;
  // Blocks whose commit was in flight when the current heartbeat began, or started since. A FREE
  // in that heartbeat's reply may predate such a commit (an `fs load` racing an `fs free`): those
  // blocks are kept and reported again, so that the master and the cache agree. A FREE of a block
  // whose commits all completed before the heartbeat began is newer than them and obeyed.
  struct RecentCommit {
    CachedBlockInfo info;
    int in_flight = 0;
  };
  absl::Mutex commits_mu_;
  absl::flat_hash_map<uint64_t, RecentCommit> recent_commits_ ABSL_GUARDED_BY(commits_mu_);
  // Only the sync thread touches this: logs a master outage once, not every interval.
  bool master_reachable_ = true;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace cistern::worker
