// Persister: runs the master's persist commands (PersistFileCommand, from heartbeat replies).
// For each, it reads the file's blocks in order, from this worker's store when cached here and
// from a worker the command names otherwise, and streams them to the temporary under-store path
// of the command (visible only when complete: UfsOutputStream). The outcome is a PersistResult,
// collected by MasterSync for the next heartbeat; the master then moves the copy into place.
//
// Commands run on `max_concurrent` threads; further ones queue. A command for a file already
// queued or running here is ignored (the master accepts the running attempt's result). Nothing
// is kept on disk: a worker that restarts forgets its commands, and the master, seeing them
// missing from the next heartbeat, retries them.
//
// Counters: cistern_worker_persisted_files_total, cistern_worker_persist_failures_total,
// cistern_worker_persisted_bytes_total.
//
// Thread safety: thread-safe. The destructor drops queued commands and stops running ones at
// their next block.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/master.pb.h"
#include "worker/block_store.h"
#include "worker/ufs_fetcher.h"
#include "worker/ufs_write_records.h"

namespace cistern {
class Counter;
}
namespace cistern::rpc {
class WorkerClient;
}

namespace cistern::worker {

struct PersisterOptions {
  int max_concurrent = 2;
  int64_t chunk_bytes = 4 << 20;  // bytes read and written at a time
  std::string self_address;        // host:port of this worker (skipped as a peer)
  // Bytes per second one command writes at most (0 = no limit), so background persistence
  // leaves bandwidth to clients.
  int64_t rate_limit_bytes_per_sec = 0;
  // The client for another worker, to read the blocks it caches.
  std::function<std::shared_ptr<rpc::WorkerClient>(const std::string& address)> peer;
  // Where each copy in progress is recorded, so that the temporary file of a copy a kill
  // interrupts is deleted at the next start; null = not recorded. Must outlive the persister.
  UfsWriteRecords* ufs_write_records = nullptr;
};

class Persister {
 public:
  // `store` and `ufs` must outlive the persister.
  Persister(BlockStore* store, UfsRegistry* ufs, PersisterOptions options);
  ~Persister();

  void Submit(proto::PersistFileCommand command);
  // Files queued or running.
  std::vector<uint64_t> InProgress() const;
  // Results finished since the last call.
  std::vector<proto::PersistResult> TakeResults();
  // Puts back results that could not be delivered.
  void RestoreResults(std::vector<proto::PersistResult> results);

  // Runs one command on the calling thread (the worker threads use it too).
  proto::PersistResult Run(const proto::PersistFileCommand& command);

 private:
  void Loop();
  bool Stopping() const;
  // Waits until writing `written` bytes since `start_ms` (monotonic) keeps to the rate limit;
  // UNAVAILABLE if the persister stops meanwhile.
  absl::Status Throttle(int64_t written, int64_t start_ms);
  // Appends block `block` to `out`, from the local store or a peer.
  // Both append to `out` and count the bytes in *written (for the rate limit, from start_ms).
  absl::Status CopyBlock(const proto::BlockInfo& block, ufs::UfsOutputStream* out, std::string* buffer,
                         int64_t start_ms, int64_t* written);
  absl::Status CopyFromPeer(const proto::BlockInfo& block, const std::string& address, ufs::UfsOutputStream* out,
                            std::string* buffer, int64_t start_ms, int64_t* written, int64_t* copied);
  absl::Status Emit(ufs::UfsOutputStream* out, std::string_view data, int64_t start_ms, int64_t* written);

  BlockStore* const store_;
  UfsRegistry* const ufs_;
  const PersisterOptions options_;
  Counter* const files_persisted_;
  Counter* const persist_failures_;
  Counter* const bytes_persisted_;

  mutable absl::Mutex mu_;
  std::deque<proto::PersistFileCommand> queue_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> active_ ABSL_GUARDED_BY(mu_);  // queued or running
  std::vector<proto::PersistResult> results_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace cistern::worker
