// Test-only helpers for RaftJournal tests: a recording state machine and durable in-memory Raft
// storage with injectable latency and failures.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "journal/journal.h"
#include "journal/raft_log_store.h"

namespace cistern::journal {

// Records the paths of applied mkdir entries; a delete entry's outcome is a failed precondition.
class TestStateMachine : public StateMachine {
 public:
  absl::StatusOr<ApplyOutcome> Apply(uint64_t index, const proto::JournalEntry& entry) override {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(index, last_ + 1);
    last_ = index;
    ApplyOutcome outcome;
    if (entry.has_mkdir()) paths_.push_back(entry.mkdir().path());
    if (entry.has_delete_()) outcome.status = absl::FailedPreconditionError("not empty");
    outcome.result.set_inode_id(index);
    return outcome;
  }
  uint64_t last_applied_index() const override {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  absl::Status MakeDurable() override { return absl::OkStatus(); }
  std::vector<std::string> paths() const {
    absl::MutexLock lock(&mu_);
    return paths_;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
};

// Durable in memory (what was saved survives a "restart" of the journal); each save takes
// `save_delay_ms` like a disk sync, and can be made to fail.
class MemStorage : public RaftStorage {
 public:
  raft::HardState hard_state() const override {
    absl::MutexLock lock(&mu_);
    return hard_state_;
  }
  raft::Index last_index() const override {
    absl::MutexLock lock(&mu_);
    return entries_.size();
  }
  absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const override {
    absl::MutexLock lock(&mu_);
    return entries_;
  }
  absl::Status Save(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries) override {
    if (save_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(save_delay_ms));
    if (fail_saves.load()) return absl::InternalError("injected: fsync failed");
    absl::MutexLock lock(&mu_);
    if (!entries.empty()) {
      EXPECT_LE(entries.front().index, entries_.size() + 1);
      entries_.resize(entries.front().index - 1);
      entries_.insert(entries_.end(), entries.begin(), entries.end());
    }
    if (hard_state.has_value()) hard_state_ = *hard_state;
    return absl::OkStatus();
  }

  int save_delay_ms = 0;
  std::atomic<bool> fail_saves{false};

 private:
  mutable absl::Mutex mu_;
  raft::HardState hard_state_ ABSL_GUARDED_BY(mu_);
  std::vector<raft::Entry> entries_ ABSL_GUARDED_BY(mu_);
};

inline proto::JournalEntry Mkdir(const std::string& path) {
  proto::JournalEntry e;
  e.mutable_mkdir()->set_path(path);
  return e;
}

}  // namespace cistern::journal
