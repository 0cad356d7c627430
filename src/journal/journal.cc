#include "journal/journal.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace cistern::journal {

absl::Status OutcomeUnknownError(absl::StatusCode code, const std::string& message) {
  absl::Status status(code, message);
  status.SetPayload(kOutcomeUnknownPayload, absl::Cord("1"));
  return status;
}

bool IsOutcomeUnknown(const absl::Status& status) { return status.GetPayload(kOutcomeUnknownPayload).has_value(); }

absl::StatusOr<proto::JournalResult> Journal::Submit(const proto::JournalEntry& entry) {
  absl::StatusOr<Appended> appended = Append(entry);
  if (!appended.ok()) return appended.status();
  absl::Status durable = WaitDurable(appended->index);
  if (!durable.ok()) return durable;
  if (!appended->outcome.status.ok()) return appended->outcome.status;
  return appended->outcome.result;
}

LocalJournal::LocalJournal(StateMachine* state_machine) : state_machine_(state_machine) {
  durable_index_.store(state_machine->last_applied_index());
}

absl::StatusOr<Appended> LocalJournal::Append(const proto::JournalEntry& entry) {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return broken_;
  const uint64_t index = state_machine_->last_applied_index() + 1;
  absl::StatusOr<ApplyOutcome> outcome = state_machine_->Apply(index, entry);
  if (!outcome.ok()) {
    spdlog::error("journal: applying entry {} failed, journal stopped: {}", index, outcome.status().ToString());
    broken_ = absl::UnavailableError(
        absl::StrCat("journal stopped after a failed write at index ", index, ": ", outcome.status().message()));
    return broken_;
  }
  return Appended{index, *std::move(outcome)};
}

absl::Status LocalJournal::WaitDurable(uint64_t index) {
  absl::MutexLock lock(&sync_mu_);
  while (durable_index_ < index) {
    if (!sync_error_.ok()) return sync_error_;
    if (syncing_) {
      // Another caller's sync is running; it may or may not cover `index`. Wait until it covers
      // it or no sync runs: a caller whose entry the finished sync covered must not sleep
      // through the next one, which an uncovered caller may start before this one wakes (with
      // many callers the wake-ups are handed on one by one).
      auto covered_or_idle = [this, index]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_) {
        return !syncing_ || durable_index_.load() >= index;
      };
      sync_mu_.Await(absl::Condition(&covered_or_idle));
      continue;
    }
    syncing_ = true;
    sync_mu_.Unlock();
    // Everything applied before this point is covered by the sync below.
    const uint64_t target = state_machine_->last_applied_index();
    absl::Status status = state_machine_->MakeDurable();
    sync_mu_.Lock();
    syncing_ = false;
    if (!status.ok()) {
      spdlog::error("journal: sync failed, journal stopped: {}", status.ToString());
      sync_error_ = absl::UnavailableError(absl::StrCat("journal sync failed: ", status.message()));
      absl::MutexLock broken_lock(&mu_);
      broken_ = sync_error_;
      return sync_error_;
    }
    if (target > durable_index_.load()) durable_index_.store(target);
  }
  return absl::OkStatus();
}

uint64_t LocalJournal::applied_index() const { return state_machine_->last_applied_index(); }

bool LocalJournal::IsDurable(uint64_t index) const { return durable_index_.load() >= index; }

}  // namespace cistern::journal
