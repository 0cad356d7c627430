// PersistenceScheduler: gets the files that are TO_BE_PERSISTED (ASYNC_THROUGH files, and files
// `fs persist` asked for) into their under-stores. Leader-only background work, run by
// MasterProcess like the TTL checker.
//
// A job's state is journaled (FileSystemMaster::SetPersistJob), so it survives a master restart:
// attempts started, the worker running the current attempt, the last error and when the next
// attempt may start. An attempt:
//   1. RunOnce picks a due job (complete file, no attempt running, backoff over), the live
//      worker caching most of the file's bytes, and a temporary under-store path; journals the
//      attempt; queues a PersistFileCommand for that worker's next heartbeat reply.
//   2. The worker reads the blocks (its own, and the others' from their workers), writes them
//      to the temporary path, and reports a PersistResult in a later heartbeat.
//   3. On success FileSystemMaster::CompletePersist moves the copy into place (where the file
//      is then: it may have been renamed) and journals the file PERSISTED. On failure the job
//      is journaled with the error and retried after an exponential backoff (retry_base_ms,
//      doubling, at most retry_max_ms), for as long as the file exists.
// An attempt is lost, and retried, when its worker is no longer LIVE, or when a heartbeat that
// followed the one delivering the command lists the file neither as in progress nor as done
// (the worker restarted, or never got the command). After a master restart, attempts journaled
// as running are adopted when their worker reports them in progress, and retried otherwise.
// The copy's name is journaled before the worker hears of it, and a failed or lost attempt's
// copy is deleted before the journal forgets the name (a retried attempt deletes the copy of
// the one it replaces), so no copy outlives its name in the journal unless its delete fails.
//
// Until a file is persisted its blocks are its only copy; the master protects them from
// eviction (FileSystemMaster::ProtectedFiles). A block without a cached copy on a live worker
// fails the attempt, except during the first worker_timeout_ms after start, while workers are
// still registering.
//
// Thread safety: OnHeartbeat and Wake may be called from any thread; RunOnce and WaitForWork
// from one thread (the scheduler's).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "master/block_master.h"
#include "master/file_system_master.h"

namespace cistern::master {

struct PersistenceSchedulerOptions {
  int64_t check_interval_ms = 1000;  // how often due jobs are looked for
  int64_t retry_base_ms = 1000;      // backoff after the first failed attempt; doubles each time
  int64_t retry_max_ms = 10 * 60 * 1000;
  int max_in_flight = 64;            // attempts running at once, cluster-wide
  int64_t worker_timeout_ms = 30000;  // master.worker.timeout
};

class PersistenceScheduler {
 public:
  // The pointers must outlive the scheduler.
  PersistenceScheduler(FileSystemMaster* fs, BlockMaster* blocks, Clock* clock, PersistenceSchedulerOptions options);

  // Queues what a heartbeat said (BlockMaster's PersistReportFn); wakes the scheduler if it
  // carries results.
  void OnHeartbeat(PersistReport report);
  // Returns when a report with results arrived, Wake was called, or `timeout` passed.
  void WaitForWork(absl::Duration timeout);
  void Wake();

  // Handles the queued reports, then (at most every check_interval_ms) starts due attempts.
  absl::Status RunOnce();

  // Attempts running now (for tests and logs).
  int in_flight() const { return static_cast<int>(in_flight_.size()); }

  // The backoff before attempt `attempts` + 1 after `attempts` failed ones.
  static int64_t BackoffMs(int32_t attempts, int64_t base_ms, int64_t max_ms);

 private:
  struct Attempt {
    uint64_t worker_id = 0;
    int32_t attempt = 0;
    std::string temp_ufs_uri;
    bool delivered = false;  // the command went out with a heartbeat reply
  };

  absl::Status HandleReport(const PersistReport& report);
  absl::Status HandleResult(uint64_t worker_id, const proto::PersistResult& result);
  // Journals attempt failure with `error` and forgets the running attempt (if any).
  absl::Status Fail(uint64_t file_id, const std::string& error);
  absl::Status DropLostAttempts();
  absl::Status StartDueAttempts();
  // Starts the next attempt of `file_id`, or records why it cannot run.
  absl::Status Start(uint64_t file_id, proto::PersistJob job);
  bool InGracePeriod() const;

  FileSystemMaster* const fs_;
  BlockMaster* const blocks_;
  Clock* const clock_;
  const PersistenceSchedulerOptions options_;
  const int64_t start_mono_ms_;

  // Owned by the scheduler's thread.
  std::map<uint64_t, Attempt> in_flight_;
  std::set<uint64_t> heard_from_;  // workers that reported since this scheduler started
  int64_t last_scan_mono_ms_ = -1;

  absl::Mutex mu_;
  std::deque<PersistReport> reports_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cistern::master
