#include "journal/journal.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace cistern::journal {
namespace {

// Records applied indexes; fails a chosen index either as a precondition or as a disk error.
class RecordingStateMachine : public StateMachine {
 public:
  absl::StatusOr<ApplyOutcome> Apply(uint64_t index, const proto::JournalEntry& entry) override {
    EXPECT_EQ(index, last_ + 1);
    if (index == disk_error_at) return absl::InternalError("disk full");
    last_ = index;
    indexes.push_back(index);
    ApplyOutcome outcome;
    if (entry.has_delete_()) outcome.status = absl::FailedPreconditionError("not empty");
    outcome.result.set_inode_id(index * 10);
    return outcome;
  }
  uint64_t last_applied_index() const override { return last_; }
  absl::Status MakeDurable() override {
    syncs.fetch_add(1);
    return sync_error ? absl::InternalError("fsync failed") : absl::OkStatus();
  }

  std::vector<uint64_t> indexes;
  uint64_t disk_error_at = 0;
  std::atomic<int> syncs{0};
  bool sync_error = false;

 private:
  uint64_t last_ = 0;
};

// `threads` threads each submit `per_thread` entries; every submit must succeed.
void SubmitConcurrently(Journal* journal, int threads, int per_thread) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      proto::JournalEntry e;
      e.mutable_mkdir()->set_path("/x");
      for (int i = 0; i < per_thread; ++i) ASSERT_TRUE(journal->Submit(e).ok());
    });
  }
  for (auto& t : pool) t.join();
}

TEST(LocalJournalTest, AppliesInOrderAndFailedPreconditionStillConsumesIndex) {
  RecordingStateMachine sm;
  LocalJournal journal(&sm);
  proto::JournalEntry mkdir;
  mkdir.mutable_mkdir()->set_path("/a");
  proto::JournalEntry del;
  del.mutable_delete_()->set_path("/a");
  EXPECT_EQ(journal.Submit(mkdir)->inode_id(), 10u);
  auto failed = journal.Submit(del);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(journal.Submit(mkdir)->inode_id(), 30u);
  EXPECT_EQ(journal.applied_index(), 3u);
}

TEST(LocalJournalTest, ConcurrentSubmitsGetDistinctConsecutiveIndexes) {
  RecordingStateMachine sm;
  LocalJournal journal(&sm);
  SubmitConcurrently(&journal, 8, 50);
  ASSERT_EQ(sm.indexes.size(), 400u);
  for (size_t i = 0; i < sm.indexes.size(); ++i) EXPECT_EQ(sm.indexes[i], i + 1);
}

TEST(LocalJournalTest, DiskErrorStopsTheJournal) {
  RecordingStateMachine sm;
  sm.disk_error_at = 2;
  LocalJournal journal(&sm);
  proto::JournalEntry e;
  e.mutable_mkdir()->set_path("/x");
  ASSERT_TRUE(journal.Submit(e).ok());
  EXPECT_EQ(journal.Submit(e).status().code(), absl::StatusCode::kUnavailable);
  sm.disk_error_at = 0;
  EXPECT_EQ(journal.Submit(e).status().code(), absl::StatusCode::kUnavailable) << "must stay stopped";
}

TEST(LocalJournalTest, EverySubmitIsDurableAndSyncsAreShared) {
  RecordingStateMachine sm;
  LocalJournal journal(&sm);
  SubmitConcurrently(&journal, 8, 50);
  EXPECT_GE(sm.syncs.load(), 1);
  EXPECT_LE(sm.syncs.load(), 400);
  // Nothing pending: waiting for what is applied needs no further sync.
  const int before = sm.syncs.load();
  ASSERT_TRUE(journal.WaitDurable(journal.applied_index()).ok());
  EXPECT_EQ(sm.syncs.load(), before);
}

// A slow sync, counted when it completes.
class SlowSyncStateMachine : public RecordingStateMachine {
 public:
  absl::Status MakeDurable() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    completed.fetch_add(1);
    return absl::OkStatus();
  }
  std::atomic<int> completed{0};
};

TEST(LocalJournalTest, ACoveredSubmitDoesNotWaitForTheNextSync) {
  // Each submit waits for at most the sync running when it appended (which may not cover it)
  // and the next one (which does). Callers submitting again right away start further syncs
  // while the covered callers of the last one are still being woken; those must not sleep
  // through a third sync (a 30 ms sync is far longer than a wake-up, even on a loaded machine).
  SlowSyncStateMachine sm;
  LocalJournal journal(&sm);
  std::atomic<int> worst{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 16; ++t) {
    pool.emplace_back([&] {
      proto::JournalEntry e;
      e.mutable_mkdir()->set_path("/x");
      for (int i = 0; i < 6; ++i) {
        const int before = sm.completed.load();
        ASSERT_TRUE(journal.Submit(e).ok());
        const int waited = sm.completed.load() - before;
        int seen = worst.load();
        while (waited > seen && !worst.compare_exchange_weak(seen, waited)) {
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_LE(worst.load(), 2) << "a submit waited through " << worst.load() << " syncs";
}

TEST(LocalJournalTest, FailedSyncStopsTheJournal) {
  RecordingStateMachine sm;
  LocalJournal journal(&sm);
  sm.sync_error = true;
  proto::JournalEntry e;
  e.mutable_mkdir()->set_path("/x");
  EXPECT_EQ(journal.Submit(e).status().code(), absl::StatusCode::kUnavailable);
  sm.sync_error = false;
  EXPECT_EQ(journal.Submit(e).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cistern::journal
