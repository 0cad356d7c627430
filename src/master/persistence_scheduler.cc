#include "master/persistence_scheduler.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"

namespace cistern::master {

PersistenceScheduler::PersistenceScheduler(FileSystemMaster* fs, BlockMaster* blocks, Clock* clock,
                                           PersistenceSchedulerOptions options)
    : fs_(fs), blocks_(blocks), clock_(clock), options_(options), start_mono_ms_(clock->MonotonicMs()) {}

int64_t PersistenceScheduler::BackoffMs(int32_t attempts, int64_t base_ms, int64_t max_ms) {
  int64_t backoff = std::max<int64_t>(base_ms, 1);
  for (int32_t i = 1; i < attempts && backoff < max_ms; ++i) backoff *= 2;
  return std::min(backoff, max_ms);
}

void PersistenceScheduler::OnHeartbeat(PersistReport report) {
  absl::MutexLock lock(&mu_);
  if (!report.results.empty()) wake_ = true;
  reports_.push_back(std::move(report));
}

void PersistenceScheduler::WaitForWork(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; };
  mu_.AwaitWithTimeout(absl::Condition(&woken), timeout);
  wake_ = false;
}

void PersistenceScheduler::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

bool PersistenceScheduler::InGracePeriod() const {
  return clock_->MonotonicMs() - start_mono_ms_ < options_.worker_timeout_ms;
}

absl::Status PersistenceScheduler::RunOnce() {
  std::deque<PersistReport> reports;
  {
    absl::MutexLock lock(&mu_);
    reports.swap(reports_);
  }
  for (const PersistReport& report : reports) CISTERN_RETURN_IF_ERROR(HandleReport(report));
  CISTERN_RETURN_IF_ERROR(DropLostAttempts());
  const int64_t now = clock_->MonotonicMs();
  if (last_scan_mono_ms_ >= 0 && now - last_scan_mono_ms_ < options_.check_interval_ms) return absl::OkStatus();
  last_scan_mono_ms_ = now;
  return StartDueAttempts();
}

absl::Status PersistenceScheduler::HandleReport(const PersistReport& report) {
  heard_from_.insert(report.worker_id);
  std::set<uint64_t> reported;
  for (const proto::PersistResult& result : report.results) {
    reported.insert(result.file_id());
    CISTERN_RETURN_IF_ERROR(HandleResult(report.worker_id, result));
  }
  if (!report.registered) return absl::OkStatus();  // its attempts end with its liveness
  const std::set<uint64_t> in_progress(report.in_progress.begin(), report.in_progress.end());
  // A heartbeat after the one that delivered a command names the file, as running or done.
  std::vector<std::pair<uint64_t, int32_t>> lost;
  for (const auto& [file_id, attempt] : in_flight_) {
    if (attempt.worker_id == report.worker_id && attempt.delivered && !in_progress.count(file_id) &&
        !reported.count(file_id)) {
      lost.emplace_back(file_id, attempt.attempt);
    }
  }
  for (const auto& [file_id, attempt] : lost) {
    CISTERN_RETURN_IF_ERROR(Fail(file_id, absl::StrCat("worker ", report.worker_id, " no longer runs attempt ",
                                                       attempt, " (it restarted, or never received it)")));
  }
  // After a master restart: adopt the attempts journaled as running on this worker.
  for (uint64_t file_id : in_progress) {
    if (in_flight_.count(file_id)) continue;
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::PersistJob> job, fs_->GetPersistJob(file_id));
    if (job.has_value() && job->worker_id() == report.worker_id) {
      in_flight_[file_id] = Attempt{report.worker_id, job->attempts(), job->temp_ufs_path(), true};
    }
  }
  for (uint64_t file_id : report.delivered) {
    auto it = in_flight_.find(file_id);
    if (it != in_flight_.end() && it->second.worker_id == report.worker_id) it->second.delivered = true;
  }
  return absl::OkStatus();
}

absl::Status PersistenceScheduler::HandleResult(uint64_t worker_id, const proto::PersistResult& result) {
  const uint64_t file_id = result.file_id();
  auto it = in_flight_.find(file_id);
  // The attempt the master is waiting for (a late result of an earlier one is not).
  bool current = it != in_flight_.end() && it->second.temp_ufs_uri == result.ufs_path();
  if (it == in_flight_.end()) {
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::PersistJob> job, fs_->GetPersistJob(file_id));
    current = job.has_value() && job->temp_ufs_path() == result.ufs_path();
  }
  if (result.error().empty()) {
    // Any complete copy will do, even one from an attempt given up on.
    absl::Status status = fs_->CompletePersist(file_id, result.ufs_path());
    if (status.ok()) {
      spdlog::info("persisted file id {} (attempt {} on worker {})", file_id, result.attempt(), worker_id);
      if (current) in_flight_.erase(file_id);
      return absl::OkStatus();
    }
    if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) {
      // Deleted, replaced or persisted meanwhile: the copy is nobody's.
      fs_->DeletePersistTemp(result.ufs_path());
      if (current) in_flight_.erase(file_id);
      return absl::OkStatus();
    }
    if (!current) {
      fs_->DeletePersistTemp(result.ufs_path());
      return absl::OkStatus();
    }
    return Fail(file_id, absl::StrCat("attempt ", result.attempt(), " on worker ", worker_id, ": ", status.message()));
  }
  if (!current) {
    fs_->DeletePersistTemp(result.ufs_path());
    return absl::OkStatus();
  }
  return Fail(file_id, absl::StrCat("attempt ", result.attempt(), " on worker ", worker_id, ": ", result.error()));
}

absl::Status PersistenceScheduler::Fail(uint64_t file_id, const std::string& error) {
  std::string temp;
  if (auto it = in_flight_.find(file_id); it != in_flight_.end()) {
    temp = it->second.temp_ufs_uri;
    in_flight_.erase(it);
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::PersistJob> job, fs_->GetPersistJob(file_id));
  if (!job.has_value()) return absl::OkStatus();  // persisted or deleted meanwhile
  if (temp.empty()) temp = job->temp_ufs_path();
  const int64_t backoff = BackoffMs(job->attempts(), options_.retry_base_ms, options_.retry_max_ms);
  job->set_worker_id(0);
  job->set_last_error(error);
  job->set_next_attempt_ms(clock_->NowMs() + backoff);
  job->clear_temp_ufs_path();
  // The copy goes before the journal forgets its name: a master that dies in between leaves
  // the name journaled, and the next attempt's Start deletes it (gone by then, or not).
  fs_->DeletePersistTemp(temp);
  absl::Status status = fs_->SetPersistJob(file_id, *job);
  if (!status.ok() && !absl::IsFailedPrecondition(status) && !absl::IsNotFound(status)) return status;
  spdlog::warn("persisting file id {} failed (attempt {}): {}; retrying in {}", file_id, job->attempts(), error,
               FormatDurationMs(backoff));
  return absl::OkStatus();
}

absl::Status PersistenceScheduler::DropLostAttempts() {
  if (in_flight_.empty()) return absl::OkStatus();
  std::set<uint64_t> live;
  for (const proto::WorkerInfo& w : blocks_->GetWorkers()) {
    if (w.state() == proto::LIVE) live.insert(w.worker_id());
  }
  std::vector<std::pair<uint64_t, uint64_t>> lost;
  for (const auto& [file_id, attempt] : in_flight_) {
    if (!live.count(attempt.worker_id)) lost.emplace_back(file_id, attempt.worker_id);
  }
  for (const auto& [file_id, worker_id] : lost) {
    CISTERN_RETURN_IF_ERROR(Fail(file_id, absl::StrCat("worker ", worker_id, " was lost")));
  }
  return absl::OkStatus();
}

absl::Status PersistenceScheduler::StartDueAttempts() {
  const int64_t now_ms = clock_->NowMs();
  std::vector<std::pair<uint64_t, proto::PersistJob>> due;
  const size_t room = static_cast<size_t>(std::max(0, options_.max_in_flight - in_flight()));
  if (room == 0) return absl::OkStatus();
  CISTERN_RETURN_IF_ERROR(fs_->ForEachPersistJob([&](uint64_t file_id, const proto::PersistJob& job) -> absl::StatusOr<bool> {
    if (job.next_attempt_ms() == 0 || in_flight_.count(file_id)) return true;  // incomplete, or running
    if (job.worker_id() != 0) {
      // Journaled as running, but not by this scheduler: the master restarted. Its worker would
      // have said so if it still ran it.
      if (!heard_from_.count(job.worker_id()) && InGracePeriod()) return true;
    } else if (job.next_attempt_ms() > now_ms) {
      return true;  // backing off
    }
    due.emplace_back(file_id, job);
    return due.size() < room;
  }));
  for (auto& [file_id, job] : due) CISTERN_RETURN_IF_ERROR(Start(file_id, std::move(job)));
  return absl::OkStatus();
}

absl::Status PersistenceScheduler::Start(uint64_t file_id, proto::PersistJob job) {
  const int32_t attempt = job.attempts() + 1;
  if (job.worker_id() != 0) {
    job.set_last_error(absl::StrCat("attempt ", job.attempts(), " on worker ", job.worker_id(), " was lost"));
  }
  if (!job.temp_ufs_path().empty()) {
    // The copy of an attempt lost across a master restart (journaled as running, not adopted):
    // no one reports it any more, and this attempt's journal entry replaces its name.
    fs_->DeletePersistTemp(job.temp_ufs_path());
  }
  auto record_failure = [&](const std::string& error) -> absl::Status {
    const int64_t backoff = BackoffMs(attempt, options_.retry_base_ms, options_.retry_max_ms);
    job.set_attempts(attempt);
    job.set_worker_id(0);
    job.set_last_error(error);
    job.set_next_attempt_ms(clock_->NowMs() + backoff);
    job.clear_temp_ufs_path();
    spdlog::warn("persisting file id {} failed (attempt {}): {}; retrying in {}", file_id, attempt, error,
                 FormatDurationMs(backoff));
    absl::Status status = fs_->SetPersistJob(file_id, job);
    return absl::IsFailedPrecondition(status) || absl::IsNotFound(status) ? absl::OkStatus() : status;
  };
  absl::StatusOr<FileSystemMaster::PersistTarget> target = fs_->GetPersistTarget(file_id, attempt);
  if (absl::IsNotFound(target.status()) || absl::IsFailedPrecondition(target.status())) return absl::OkStatus();
  if (!target.ok()) return record_failure(std::string(target.status().message()));
  const proto::Inode& inode = target->inode;

  proto::PersistFileCommand command;
  command.set_file_id(file_id);
  command.set_attempt(attempt);
  command.set_ufs_path(target->temp_ufs_uri);
  command.set_mount_id(target->mount_id);
  command.set_length(inode.length());
  command.set_mode(inode.mode());
  std::map<uint64_t, int64_t> cached_bytes;  // worker id -> bytes of the file it caches
  const int64_t block_size = std::max<int64_t>(inode.block_size_bytes(), 1);
  for (int64_t offset = 0, index = 0; offset < inode.length(); offset += block_size, ++index) {
    proto::BlockInfo* block = command.add_blocks();
    block->set_block_id(MakeBlockId(file_id, static_cast<uint64_t>(index)));
    block->set_offset(offset);
    block->set_length(std::min(block_size, inode.length() - offset));
    for (proto::BlockLocation& location : blocks_->GetLocations(block->block_id())) {
      cached_bytes[location.worker_id()] += block->length();
      *block->add_locations() = std::move(location);
    }
    if (block->locations().empty()) {
      if (InGracePeriod()) return absl::OkStatus();  // workers may still be registering
      return record_failure(absl::StrCat("block ", index, " (id ", block->block_id(), ") of ", target->path,
                                         " has no cached copy on a live worker"));
    }
  }
  // The live worker caching most of the file, the least busy of those on a tie.
  std::map<uint64_t, int> busy;
  for (const auto& [id, a] : in_flight_) busy[a.worker_id]++;
  uint64_t chosen = 0;
  for (const proto::WorkerInfo& w : blocks_->GetWorkers()) {
    if (w.state() != proto::LIVE) continue;
    const uint64_t id = w.worker_id();
    if (chosen == 0 || cached_bytes[id] > cached_bytes[chosen] ||
        (cached_bytes[id] == cached_bytes[chosen] && busy[id] < busy[chosen])) {
      chosen = id;
    }
  }
  if (chosen == 0) return absl::OkStatus();  // no live worker: wait

  job.set_attempts(attempt);
  job.set_worker_id(chosen);
  job.set_attempt_started_ms(clock_->NowMs());
  job.set_temp_ufs_path(target->temp_ufs_uri);
  absl::Status journaled = fs_->SetPersistJob(file_id, job);
  if (absl::IsFailedPrecondition(journaled) || absl::IsNotFound(journaled)) return absl::OkStatus();
  CISTERN_RETURN_IF_ERROR(journaled);
  in_flight_[file_id] = Attempt{chosen, attempt, target->temp_ufs_uri, false};
  spdlog::info("persisting {} (file id {}, {}): attempt {} on worker {}", target->path, file_id,
               FormatBytes(inode.length()), attempt, chosen);
  absl::Status queued = blocks_->QueuePersist(chosen, std::move(command));
  if (!queued.ok()) return Fail(file_id, std::string(queued.message()));
  return absl::OkStatus();
}

}  // namespace cistern::master
