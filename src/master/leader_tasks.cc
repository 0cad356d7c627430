#include "master/leader_tasks.h"

#include <algorithm>

#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace cistern::master {

LeaderTasks::~LeaderTasks() { Stop(); }

void LeaderTasks::AddOnGain(std::string name, std::function<absl::Status(uint64_t)> run) {
  hooks_.push_back(Hook{std::move(name), std::move(run)});
}

void LeaderTasks::AddPeriodic(std::string name, int64_t interval_ms, std::function<void()> run) {
  periodic_.push_back(Periodic{std::move(name), std::max<int64_t>(interval_ms, 1), std::move(run)});
}

void LeaderTasks::Start() {
  threads_.emplace_back([this] { RunHooks(); });
  for (const Periodic& task : periodic_) threads_.emplace_back([this, &task] { RunPeriodic(task); });
}

void LeaderTasks::SetLeading(bool leading, uint64_t term) {
  absl::MutexLock lock(&mu_);
  if (leading && (!leading_ || term != term_)) ++epoch_;
  leading_ = leading;
  term_ = term;
}

void LeaderTasks::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool LeaderTasks::ready() const {
  absl::MutexLock lock(&mu_);
  return leading_ && ready_epoch_ == epoch_;
}

bool LeaderTasks::leading() const {
  absl::MutexLock lock(&mu_);
  return leading_;
}

void LeaderTasks::RunHooks() {
  int64_t retry_ms = 50;
  while (true) {
    uint64_t epoch = 0;
    uint64_t term = 0;
    {
      absl::MutexLock lock(&mu_);
      auto pending = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (leading_ && ready_epoch_ != epoch_);
      };
      mu_.Await(absl::Condition(&pending));
      if (stopping_) return;
      epoch = epoch_;
      term = term_;
    }
    absl::Status failed;
    for (const Hook& hook : hooks_) {
      absl::Status status = hook.run(term);
      if (!status.ok()) {
        failed = status;
        spdlog::warn("leadership of term {}: {} failed (retrying in {} ms): {}", term, hook.name, retry_ms,
                     status.ToString());
        break;
      }
    }
    absl::MutexLock lock(&mu_);
    if (failed.ok()) {
      if (epoch == epoch_ && leading_) {
        ready_epoch_ = epoch;
        spdlog::info("leadership of term {}: ready", term);
      }
      retry_ms = 50;
      continue;
    }
    auto interrupted = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&interrupted), absl::Milliseconds(retry_ms));
    retry_ms = std::min<int64_t>(retry_ms * 2, 2000);
  }
}

void LeaderTasks::RunPeriodic(const Periodic& task) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready_or_stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (leading_ && ready_epoch_ == epoch_);
      };
      mu_.Await(absl::Condition(&ready_or_stopping));
      if (stopping_) return;
      // Wait one interval (also after gaining leadership), unless stopped meanwhile.
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Milliseconds(task.interval_ms))) return;
      if (!(leading_ && ready_epoch_ == epoch_)) continue;
    }
    task.run();
  }
}

}  // namespace cistern::master
