#include "journal/raft_log_store.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cistern::journal {
namespace {

class RaftLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(::testing::TempDir()) / absl::StrCat("raftlog-", ::getpid(), "-",
            ::testing::UnitTest::GetInstance()->current_test_info()->name())).string();
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(RaftLogStoreTest, EntriesAndHardStateSurviveReopenAndConflictsTruncate) {
  {
    auto store = RaftLogStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->last_index(), 0u);
    ASSERT_TRUE((*store)->Save(raft::HardState{1, 2, 0}, {{1, 1, "a"}, {1, 2, "b"}, {1, 3, "c"}}).ok());
    // A new leader's entries replace a conflicting suffix.
    ASSERT_TRUE((*store)->Save(raft::HardState{2, 3, 1}, {{2, 2, "x"}}).ok());
    EXPECT_EQ((*store)->last_index(), 2u);
    EXPECT_FALSE((*store)->Save(std::nullopt, {{2, 9, "gap"}}).ok());
  }
  auto store = RaftLogStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->hard_state(), (raft::HardState{2, 3, 1}));
  auto entries = (*store)->LoadEntries();
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(*entries, (std::vector<raft::Entry>{{1, 1, "a"}, {2, 2, "x"}}));
}

TEST_F(RaftLogStoreTest, RawNodeRestartsFromTheStore) {
  raft::Config config;
  config.id = 1;
  config.voters = {1};
  {
    auto store = RaftLogStore::Open(dir_);
    ASSERT_TRUE(store.ok());
    raft::RawNode node(config, (*store)->hard_state(), *(*store)->LoadEntries());
    for (int i = 0; i < 30 && node.role() != raft::Role::kLeader; ++i) node.Tick();
    ASSERT_EQ(node.role(), raft::Role::kLeader);
    ASSERT_TRUE(node.Propose("entry").ok());
    while (node.HasReady()) {
      raft::Ready ready = node.GetReady();
      ASSERT_TRUE((*store)->Save(ready.hard_state, ready.entries).ok());
      node.Advance(ready);
    }
  }
  auto store = RaftLogStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  raft::RawNode node(config, (*store)->hard_state(), *(*store)->LoadEntries());
  EXPECT_EQ(node.last_index(), 2u);  // the leader's no-op and the proposal
  EXPECT_EQ(node.commit(), 2u);
  EXPECT_EQ(node.log().back().data, "entry");
}

}  // namespace
}  // namespace cistern::journal
