// Scenarios from the Raft paper on a SimCluster with a reliable, instantly delivered network.
#include "raft/raft.h"

#include "gtest/gtest.h"
#include "raft/raft_test_cluster.h"

namespace cistern::raft {
namespace {

// Ticks every live node and delivers everything until a leader exists (or gives up).
std::optional<NodeId> ElectLeader(SimCluster& c, int max_rounds = 200) {
  for (int r = 0; r < max_rounds; ++r) {
    if (auto leader = c.Leader()) return leader;
    for (NodeId id : c.ids()) c.Tick(id);
    c.DeliverAll();
  }
  return c.Leader();
}

void Settle(SimCluster& c, int rounds = 20) {
  for (int r = 0; r < rounds; ++r) {
    for (NodeId id : c.ids()) c.Tick(id);
    c.DeliverAll();
  }
}

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

}  // namespace
}  // namespace cistern::raft
