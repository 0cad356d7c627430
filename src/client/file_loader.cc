// FileSystemImpl::Load: caches the uncached blocks of files on workers (BlockWorker.CacheBlock),
// several at a time, reporting progress on the calling thread.
#include <algorithm>
#include <deque>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/file_reader.h"
#include "client/file_system_impl.h"
#include "common/block_id.h"
#include "common/clock.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::client {
namespace {

struct LoadJob {
  size_t file = 0;  // index into the files being loaded
  BlockStatus block;
  std::string ufs_path;
  uint64_t mount_id = 0;
  std::string path;                 // of the file, to renew `capability`
  proto::BlockCapability capability;  // READ on the file (TOKEN mode); empty in NONE mode
};

}  // namespace

absl::StatusOr<LoadProgress> FileSystemImpl::Load(std::string_view path, const LoadOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  CISTERN_ASSIGN_OR_RETURN(FileStatus root, GetStatus(normalized, GetStatusOptions{.include_block_locations = false}));
  std::vector<std::string> candidates;
  if (!root.is_directory) {
    candidates.push_back(root.path);
  } else {
    if (!options.recursive) {
      return absl::FailedPreconditionError(absl::StrCat("'", root.path, "' is a directory (load it recursively)"));
    }
    CISTERN_RETURN_IF_ERROR(ListStatus(root.path, ListOptions{.recursive = true}, [&](const FileStatus& entry) {
      if (!entry.is_directory && entry.completed) candidates.push_back(entry.path);
      return absl::OkStatus();
    }));
  }

  // What is missing, file by file (a listing carries no block locations).
  LoadProgress progress;
  std::vector<int64_t> pending_blocks;  // per file to load: blocks not loaded yet
  std::deque<LoadJob> jobs;
  std::string unloadable;  // the first file whose missing blocks exist nowhere else
  for (const std::string& file_path : candidates) {
    CISTERN_ASSIGN_OR_RETURN(FileStatus file, GetStatus(file_path));
    if (!file.completed) continue;
    const bool persisted = file.persistence_state == PersistenceState::kPersisted && !file.ufs_path.empty();
    int64_t missing = 0;
    bool lost = false;
    for (const BlockStatus& block : FileBlocks(file)) {
      if (!block.locations.empty()) {
        progress.bytes_cached += block.length;
        continue;
      }
      if (!persisted) {
        lost = true;
        ++progress.blocks_failed;
        if (unloadable.empty()) unloadable = file.path;
        continue;
      }
      if (missing++ == 0) pending_blocks.push_back(0);
      pending_blocks.back()++;
      LoadJob job{pending_blocks.size() - 1, block, file.ufs_path, file.mount_id, file.path, {}};
      if (!file.capability.empty()) job.capability.ParseFromString(file.capability);
      jobs.push_back(std::move(job));
      progress.bytes_total += block.length;
    }
    if (missing > 0) {
      ++progress.files_total;
    } else if (!lost) {
      ++progress.files_cached;
    }
  }

  absl::Mutex mu;
  absl::Status first_error;
  int running = 0;
  auto worker_loop = [&] {
    while (true) {
      LoadJob job;
      {
        absl::MutexLock lock(&mu);
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      proto::CacheBlockRequest request;
      request.set_block_id(job.block.block_id);
      request.mutable_ufs()->set_ufs_path(job.ufs_path);
      request.mutable_ufs()->set_mount_id(job.mount_id);
      request.mutable_ufs()->set_offset_in_file(job.block.offset);
      request.mutable_ufs()->set_block_length(job.block.length);
      if (!job.capability.mac().empty()) *request.mutable_capability() = job.capability;
      absl::Status status;
      std::vector<uint64_t> failed;
      bool renewed = false;
      for (int attempt = 0; attempt < 2; ++attempt) {
        absl::StatusOr<std::shared_ptr<const WorkerSelector>> selector = Selector(/*refresh=*/attempt > 0);
        if (!selector.ok()) {
          status = selector.status();
          break;
        }
        absl::StatusOr<WorkerEndpoint> worker = (*selector)->ForBlock(job.block.block_id, {}, failed);
        if (!worker.ok()) {
          if (status.ok()) status = worker.status();
          break;
        }
        status = Worker(worker->address)->CacheBlock(request).status();
        if (absl::IsPermissionDenied(status) && !renewed && request.has_capability() &&
            RealClock()->NowMs() >= request.capability().expiry_ms()) {
          // The capability lapsed during a long load: ask the master for a fresh one (same file).
          renewed = true;
          proto::GetStatusRequest get;
          get.set_path(job.path);
          get.set_include_block_locations(true);
          absl::StatusOr<proto::GetStatusResponse> fresh = master().GetStatus(get);
          if (fresh.ok() && fresh->info().file_id() == BlockFileId(job.block.block_id) && fresh->info().has_capability()) {
            *request.mutable_capability() = fresh->info().capability();
            --attempt;
            continue;
          }
        }
        if (status.ok() || !IsRetryable(status)) break;
        failed.push_back(worker->worker_id);
      }
      absl::MutexLock lock(&mu);
      if (status.ok()) {
        progress.bytes_done += job.block.length;
        if (--pending_blocks[job.file] == 0) ++progress.files_done;
      } else {
        ++progress.blocks_failed;
        if (first_error.ok()) first_error = Annotate(status, absl::StrCat("loading block ", job.block.block_id));
      }
    }
  };
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu);
    running = static_cast<int>(std::min<size_t>(std::max(options.parallelism, 1), jobs.size()));
  }
  for (int i = 0; i < running; ++i) {
    threads.emplace_back([&] {
      worker_loop();
      absl::MutexLock lock(&mu);
      --running;
    });
  }
  while (true) {
    LoadProgress now;
    bool done = false;
    {
      absl::MutexLock lock(&mu);
      auto finished = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return running == 0; };
      done = mu.AwaitWithTimeout(absl::Condition(&finished), absl::Milliseconds(200));
      now = progress;
    }
    if (options.progress) options.progress(now);
    if (done) break;
  }
  for (std::thread& t : threads) t.join();
  InvalidateMetadataCache();
  if (!first_error.ok()) return first_error;
  if (!unloadable.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        progress.blocks_failed, " blocks cannot be loaded: they are in no cache and not in the under-store (e.g. '",
        unloadable, "', not persisted)"));
  }
  return progress;
}

}  // namespace cistern::client
