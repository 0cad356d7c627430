// Test-only helpers for RaftJournal tests: a recording state machine and durable in-memory Raft
// storage with injectable latency and failures.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
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
  // Effects: "first last" and the batch's new paths, one per line (or "garbage" when
  // corrupt_effects is set, which InstallEffects refuses as undecodable).
  absl::StatusOr<std::vector<ApplyOutcome>> ApplyBatchWithEffects(
      uint64_t first_index, absl::Span<const proto::JournalEntry* const> entries, std::string* effects) override {
    size_t before = 0;
    {
      absl::MutexLock lock(&mu_);
      before = paths_.size();
    }
    absl::StatusOr<std::vector<ApplyOutcome>> outcomes = ApplyBatch(first_index, entries);
    absl::MutexLock lock(&mu_);
    if (corrupt_effects.load()) {
      *effects = "garbage";
      return outcomes;
    }
    std::ostringstream out;
    out << first_index << " " << first_index + entries.size() - 1 << "\n";
    for (size_t i = before; i < paths_.size(); ++i) out << paths_[i] << "\n";
    *effects = out.str();
    return outcomes;
  }
  absl::Status InstallEffects(uint64_t first_index, uint64_t last_index,
                              absl::Span<const std::string* const> effects) override {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(first_index, last_ + 1);
    std::vector<std::string> added;
    uint64_t next = first_index;
    for (const std::string* e : effects) {
      std::istringstream in(*e);
      uint64_t first = 0, last = 0;
      if (!(in >> first >> last)) return absl::DataLossError("undecodable effects: " + *e);
      EXPECT_EQ(first, next) << "effects must chain";
      next = last + 1;
      in.ignore(1);
      for (std::string line; std::getline(in, line);) added.push_back(line);
    }
    EXPECT_EQ(next, last_index + 1);
    paths_.insert(paths_.end(), added.begin(), added.end());
    last_ = last_index;
    entries_installed_ += last_index - first_index + 1;
    return absl::OkStatus();
  }
  uint64_t entries_installed() const {
    absl::MutexLock lock(&mu_);
    return entries_installed_;
  }
  std::atomic<bool> corrupt_effects{false};

  uint64_t last_applied_index() const override {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  absl::Status MakeDurable() override { return absl::OkStatus(); }
  void PrepareSnapshot() override {
    absl::MutexLock lock(&mu_);
    prepared_at_.push_back(last_);
  }
  // The applied index at each PrepareSnapshot call.
  std::vector<uint64_t> prepared_at() const {
    absl::MutexLock lock(&mu_);
    return prepared_at_;
  }

  // A snapshot is a directory with the applied index, the paths and the Raft meta in files.
  absl::StatusOr<uint64_t> CreateSnapshot(const std::string& dir, const std::string& raft_meta) override {
    absl::MutexLock lock(&mu_);
    if (std::filesystem::exists(dir)) return absl::AlreadyExistsError(dir);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/index") << last_;
    std::ofstream paths(dir + "/paths");
    for (const std::string& p : paths_) paths << p << "\n";
    std::ofstream(dir + "/meta", std::ios::binary) << raft_meta;
    ++snapshots_created_;
    return last_;
  }
  absl::Status InstallSnapshot(const std::string& dir) override {
    absl::MutexLock lock(&mu_);
    std::ifstream index_in(dir + "/index");
    uint64_t index = 0;
    if (!(index_in >> index)) return absl::DataLossError("no index in " + dir);
    std::vector<std::string> paths;
    std::ifstream paths_in(dir + "/paths");
    for (std::string line; std::getline(paths_in, line);) paths.push_back(line);
    std::ifstream meta_in(dir + "/meta", std::ios::binary);
    std::stringstream meta;
    meta << meta_in.rdbuf();
    last_ = index;
    paths_ = std::move(paths);
    installed_meta_ = meta.str();
    ++snapshots_installed_;
    std::filesystem::remove_all(dir);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> InstalledSnapshotMeta() const override {
    absl::MutexLock lock(&mu_);
    return installed_meta_;
  }
  int snapshots_created() const {
    absl::MutexLock lock(&mu_);
    return snapshots_created_;
  }
  int snapshots_installed() const {
    absl::MutexLock lock(&mu_);
    return snapshots_installed_;
  }

  std::vector<std::string> paths() const {
    absl::MutexLock lock(&mu_);
    return paths_;
  }

 private:
  mutable absl::Mutex mu_;
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
  std::string installed_meta_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> prepared_at_ ABSL_GUARDED_BY(mu_);
  int snapshots_created_ ABSL_GUARDED_BY(mu_) = 0;
  int snapshots_installed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t entries_installed_ ABSL_GUARDED_BY(mu_) = 0;
};

// Durable in memory (what was saved survives a "restart" of the journal); each save takes
// `save_delay_ms` like a disk sync, and can be made to fail.
class MemStorage : public RaftStorage {
 public:
  raft::HardState hard_state() const override {
    absl::MutexLock lock(&mu_);
    return hard_state_;
  }
  raft::SnapshotMeta snapshot() const override {
    absl::MutexLock lock(&mu_);
    return snapshot_;
  }
  raft::Index last_index() const override {
    absl::MutexLock lock(&mu_);
    return entries_.empty() ? snapshot_.index : entries_.back().index;
  }
  absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const override {
    absl::MutexLock lock(&mu_);
    return entries_;
  }
  absl::Status Save(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries) override {
    if (save_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(save_delay_ms));
    return Store(hard_state, entries);
  }
  // Unsynced saves land at once; Sync() is what takes the time (and can be held back).
  absl::Status SaveUnsynced(const std::optional<raft::HardState>& hard_state,
                            const std::vector<raft::Entry>& entries) override {
    unsynced_saves.fetch_add(1);
    return Store(hard_state, entries);
  }
  absl::Status Sync() override {
    if (save_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(save_delay_ms));
    while (hold_syncs.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (fail_saves.load()) return absl::InternalError("injected: fsync failed");
    return absl::OkStatus();
  }
  absl::Status Store(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries) {
    if (fail_saves.load()) return absl::InternalError("injected: fsync failed");
    absl::MutexLock lock(&mu_);
    if (!entries.empty()) {
      const raft::Index first = entries.front().index;
      while (!entries_.empty() && entries_.back().index >= first) entries_.pop_back();
      EXPECT_EQ(first, (entries_.empty() ? snapshot_.index : entries_.back().index) + 1);
      entries_.insert(entries_.end(), entries.begin(), entries.end());
    }
    if (hard_state.has_value()) hard_state_ = *hard_state;
    return absl::OkStatus();
  }
  absl::Status SaveSnapshot(const raft::SnapshotMeta& meta, raft::Index compact_through, bool discard_log) override {
    absl::MutexLock lock(&mu_);
    snapshot_ = meta;
    while (!entries_.empty() && (discard_log || entries_.front().index <= compact_through)) {
      entries_.erase(entries_.begin());
    }
    return absl::OkStatus();
  }

  std::atomic<int> save_delay_ms{0};
  std::atomic<bool> fail_saves{false};
  std::atomic<bool> hold_syncs{false};     // Sync() waits while set
  std::atomic<int> unsynced_saves{0};

 private:
  mutable absl::Mutex mu_;
  raft::HardState hard_state_ ABSL_GUARDED_BY(mu_);
  raft::SnapshotMeta snapshot_ ABSL_GUARDED_BY(mu_);
  std::vector<raft::Entry> entries_ ABSL_GUARDED_BY(mu_);
};

inline proto::JournalEntry Mkdir(const std::string& path) {
  proto::JournalEntry e;
  e.mutable_mkdir()->set_path(path);
  return e;
}

}  // namespace cistern::journal
