// Scenarios from the Raft paper on a SimCluster with a reliable, instantly delivered network.
#include "raft/raft.h"

#include "gtest/gtest.h"
#include "raft/raft_test_cluster.h"

namespace cistern::raft {
namespace {

TEST(RaftTest, SingleNodeLeadsAndCommits) {
  SimCluster c(SimCluster::Options{1, 3});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "x"));
  EXPECT_EQ(c.applied().rbegin()->second.data, "x");
}

TEST(RaftTest, ThreeNodesElectOneLeaderAndReplicate) {
  SimCluster c(SimCluster::Options{3, 11});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.Propose(*leader, "v" + std::to_string(i)));
  Settle(c);
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.node(id).commit(), c.node(*leader).last_index()) << "node " << id;
    EXPECT_EQ(c.node(id).log(), c.node(*leader).log());
  }
  EXPECT_FALSE(c.node(*leader == 1 ? 2 : 1).Propose("nope").ok()) << "followers refuse proposals";
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST(RaftTest, StaleLeaderStepsDownAndItsUncommittedEntriesAreReplaced) {
  SimCluster c(SimCluster::Options{3, 21});
  auto old_leader = ElectLeader(c);
  ASSERT_TRUE(old_leader.has_value());
  ASSERT_TRUE(c.Propose(*old_leader, "committed"));
  Settle(c, 3);
  // Cut the leader off; it takes a proposal that cannot commit.
  c.Partition({*old_leader});
  ASSERT_TRUE(c.Propose(*old_leader, "lost"));
  std::optional<NodeId> new_leader;
  for (int r = 0; r < 300 && !new_leader; ++r) {
    for (NodeId id : c.ids()) c.Tick(id);
    c.DeliverAll();
    for (NodeId id : c.ids()) {
      if (id != *old_leader && c.node(id).role() == Role::kLeader) new_leader = id;
    }
  }
  ASSERT_TRUE(new_leader.has_value());
  for (int r = 0; r < 30; ++r) c.Tick(*old_leader);
  EXPECT_NE(c.node(*old_leader).role(), Role::kLeader) << "check-quorum: an isolated leader steps down";
  ASSERT_TRUE(c.Propose(*new_leader, "new"));
  c.Heal();
  Settle(c, 50);
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.node(id).log(), c.node(*new_leader).log()) << "node " << id;
  }
  for (const auto& [index, entry] : c.applied()) EXPECT_NE(entry.data, "lost");
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
  EXPECT_EQ(c.node(*old_leader).role(), Role::kFollower);
}

TEST(RaftTest, PreVoteKeepsARejoiningNodeFromDisruptingTheLeader) {
  SimCluster c(SimCluster::Options{3, 31});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId loner = *leader == 3 ? 2 : 3;
  const Term term = c.node(*leader).term();
  c.Partition({loner});
  for (int r = 0; r < 100; ++r) {
    for (NodeId id : c.ids()) c.Tick(id);
    c.DeliverAll();
  }
  EXPECT_EQ(c.node(loner).term(), term) << "pre-vote: no term inflation while isolated";
  c.Heal();
  Settle(c, 30);
  EXPECT_EQ(c.node(*leader).role(), Role::kLeader);
  EXPECT_EQ(c.node(*leader).term(), term);
}

TEST(RaftTest, RestartedNodeCatchesUpFromItsPersistedLog) {
  SimCluster c(SimCluster::Options{3, 41});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId follower = *leader == 1 ? 2 : 1;
  c.Crash(follower);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 5);
  c.Restart(follower);
  Settle(c, 30);
  EXPECT_EQ(c.node(follower).log(), c.node(*leader).log());
  EXPECT_EQ(c.node(follower).commit(), c.node(*leader).commit());
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

// Figure 8 of the Raft paper: an entry of an earlier term that is stored on a majority must not
// be committed by counting replicas, or a later leader can overwrite it after it was applied.
TEST(RaftTest, Figure8EntryOfEarlierTermIsNotCommittedByCounting) {
  SimCluster::Options options{5, 51, /*pre_vote=*/false, /*check_quorum=*/false};
  options.max_entries_per_message = 1;
  SimCluster c(options);
  auto between = [](std::set<NodeId> group) {
    return [group](const Message& m) { return group.count(m.from) && group.count(m.to); };
  };
  // Ticks `id` until it starts an election (its term goes up).
  auto campaign = [&](NodeId id) {
    const Term start = c.node(id).term();
    for (int i = 0; i < 50 && c.node(id).term() == start; ++i) c.Tick(id);
  };
  // Term 1: S1 leads; its no-op (index 1) reaches everyone.
  campaign(1);
  c.DeliverOnly([](const Message&) { return true; });
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  // S1 appends "a" at index 2 and only S2 gets it; then S1 crashes.
  ASSERT_TRUE(c.Propose(1, "a"));
  c.DeliverOnly(between({1, 2}));
  c.Crash(1);
  // S5 leads term 2 with votes of S3 and S4; its no-op (index 2, term 2) reaches nobody.
  campaign(5);
  c.DeliverOnly([](const Message& m) {
    return (m.type == MessageType::kVote || m.type == MessageType::kVoteResponse) && m.from >= 3 && m.to >= 3;
  });
  ASSERT_EQ(c.node(5).role(), Role::kLeader);
  c.DropAll();
  c.Crash(5);
  // S1 restarts and leads term 3 (votes of S2, S3, S4), then replicates index 2 (term 1) to S3:
  // now on S1, S2, S3, a majority. S1 crashes right after S3's acknowledgement of index 2.
  c.Restart(1);
  for (int round = 0; round < 5 && c.node(1).role() != Role::kLeader; ++round) {
    campaign(1);
    c.DeliverOnly([](const Message& m) {
      return (m.type == MessageType::kVote || m.type == MessageType::kVoteResponse) && m.from != 5 && m.to != 5;
    });
  }
  ASSERT_EQ(c.node(1).role(), Role::kLeader);
  c.DropAll();
  c.Tick(1);  // heartbeats; their responses make S1 send the missing entries, one per message
  c.DeliverOnly([](const Message& m) { return m.from == 2 || m.to == 2 || m.from == 3 || m.to == 3; },
                [](const Message& m) {
                  return m.type == MessageType::kAppendResponse && m.from == 3 && !m.reject && m.index == 2;
                });
  ASSERT_EQ(c.node(3).TermAt(2), 1u) << "S3 now holds index 2 of term 1: S1, S2 and S3 are a majority";
  ASSERT_EQ(c.node(1).term(), 3u);
  EXPECT_LT(c.node(1).commit(), 2u) << "index 2 is from term 1: it must not commit by counting replicas";
  c.Crash(1);
  c.DropAll();
  // S5 restarts and wins a later term with S3 and S4 (its last term 2 beats their term 1), then
  // overwrites index 2 everywhere it can: safe only because index 2 was never committed.
  c.Restart(5);
  for (int round = 0; round < 5 && c.node(5).role() != Role::kLeader; ++round) {
    campaign(5);
    c.DeliverOnly(between({3, 4, 5}));
  }
  ASSERT_EQ(c.node(5).role(), Role::kLeader);
  ASSERT_TRUE(c.Propose(5, "b"));
  c.DeliverOnly(between({3, 4, 5}));
  EXPECT_GE(c.node(3).commit(), 3u);
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

}  // namespace
}  // namespace cistern::raft
