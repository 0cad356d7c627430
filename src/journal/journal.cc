#include "journal/journal.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace cistern::journal {

LocalJournal::LocalJournal(StateMachine* state_machine) : state_machine_(state_machine) {}

absl::StatusOr<proto::JournalResult> LocalJournal::Submit(const proto::JournalEntry& entry) {
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
  if (!outcome->status.ok()) return outcome->status;
  return outcome->result;
}

uint64_t LocalJournal::applied_index() const { return state_machine_->last_applied_index(); }

}  // namespace cistern::journal
