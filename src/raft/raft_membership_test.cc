// Membership changes one server at a time: learners, promotion, removal (including of the
// leader), the rules for proposing, and when a change takes effect.
#include "gtest/gtest.h"
#include "raft/raft.h"
#include "raft/raft_test_cluster.h"

namespace cistern::raft {
namespace {

SimCluster::Options WithSpares(int nodes, uint64_t seed, int spares) {
  SimCluster::Options o{nodes, seed};
  o.spare_nodes = spares;
  return o;
}

void ExpectNoViolations(SimCluster& c) {
  c.CheckLogMatching();
  c.CheckLeaders();
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

// Commits a change on `leader`, settling until every live member has it.
void Change(SimCluster& c, NodeId leader, ConfChange change) {
  ASSERT_TRUE(c.ProposeConfChange(leader, change).ok());
  Settle(c, 5);
  ASSERT_GE(c.node(leader).commit(), c.node(leader).last_index());
}

// A leader other than `not_this`, after ticking until one appears.
std::optional<NodeId> NewLeader(SimCluster& c, NodeId not_this, int rounds = 300) {
  for (int r = 0; r < rounds; ++r) {
    for (NodeId id : c.ids()) {
      if (id != not_this && c.alive(id) && c.node(id).role() == Role::kLeader) return id;
    }
    Settle(c, 1);
  }
  return std::nullopt;
}

TEST(RaftMembershipTest, ALearnerCatchesUpWithoutVotingThenIsPromoted) {
  SimCluster c(WithSpares(3, 201, 1));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  EXPECT_TRUE(c.node(4).membership().voters.empty()) << "a joining server knows nothing yet";
  Change(c, *leader, ConfChange{ConfChangeType::kAddLearner, 4, "host4:7800"});
  EXPECT_TRUE(c.node(4).membership().IsLearner(4));
  EXPECT_EQ(c.node(4).membership().contexts.at(4), "host4:7800");
  EXPECT_EQ(c.node(4).log(), c.node(*leader).log()) << "the learner received the whole log";
  ASSERT_NE(c.node(*leader).progress(4), nullptr);
  EXPECT_TRUE(c.node(*leader).progress(4)->learner());
  // A learner never campaigns, and commitment does not wait for it.
  for (int i = 0; i < 100; ++i) c.Tick(4);
  EXPECT_EQ(c.node(4).role(), Role::kFollower);
  c.Crash(4);
  ASSERT_TRUE(c.Propose(*leader, "without the learner"));
  Settle(c, 3);
  EXPECT_EQ(c.max_applied(), c.node(*leader).last_index());
  c.Restart(4);
  Settle(c, 5);
  Change(c, *leader, ConfChange{ConfChangeType::kAddVoter, 4, ""});
  for (NodeId id : c.ids()) EXPECT_EQ(c.node(id).membership().voters, (std::set<NodeId>{1, 2, 3, 4})) << id;
  // Four voters need three: with two down nothing commits.
  std::vector<NodeId> followers;
  for (NodeId id = 1; id <= 4; ++id) {
    if (id != *leader) followers.push_back(id);
  }
  c.Crash(followers[0]);
  ASSERT_TRUE(c.Propose(*leader, "three of four"));
  Settle(c, 3);
  EXPECT_EQ(c.node(*leader).commit(), c.node(*leader).last_index());
  c.Crash(followers[1]);
  ASSERT_TRUE(c.Propose(*leader, "two of four"));
  Settle(c, 3);
  EXPECT_LT(c.node(*leader).commit(), c.node(*leader).last_index());
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, OneChangeAtATimeAndOnlyAfterCommittingInTheLeadersTerm) {
  SimCluster c(WithSpares(3, 202, 2));
  // Stop right after a leader wins, before any append gets through: its no-op is not committed.
  for (int r = 0; r < 300 && !c.Leader(); ++r) {
    c.TickAll();
    c.DeliverOnly([](const Message& m) { return m.type != MessageType::kAppend && m.type != MessageType::kHeartbeat; },
                  [&](const Message&) { return c.Leader().has_value(); });
  }
  auto leader = c.Leader();
  ASSERT_TRUE(leader.has_value());
  const NodeId l = *leader;
  EXPECT_EQ(c.ProposeConfChange(l, ConfChange{ConfChangeType::kAddLearner, 4, ""}).code(), absl::StatusCode::kUnavailable);
  c.DeliverAll();
  ASSERT_TRUE(c.ProposeConfChange(l, ConfChange{ConfChangeType::kAddLearner, 4, ""}).ok());
  EXPECT_EQ(c.ProposeConfChange(l, ConfChange{ConfChangeType::kAddLearner, 5, ""}).code(), absl::StatusCode::kUnavailable)
      << "the first change is not committed yet";
  c.DeliverAll();
  EXPECT_TRUE(c.ProposeConfChange(l, ConfChange{ConfChangeType::kAddLearner, 5, ""}).ok());
  c.DeliverAll();
  EXPECT_EQ(c.ProposeConfChange(l, ConfChange{ConfChangeType::kAddLearner, 5, ""}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.ProposeConfChange(Other(l), ConfChange{ConfChangeType::kRemoveNode, 5, ""}).code(),
            absl::StatusCode::kFailedPrecondition)
      << "not the leader";
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, ALeaderRemovingItselfStepsDownAndHandsOver) {
  SimCluster c(SimCluster::Options{3, 203});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "before"));
  Settle(c, 3);
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kRemoveNode, *leader, ""}).ok());
  EXPECT_EQ(c.node(*leader).role(), Role::kLeader) << "it leads until its removal commits";
  EXPECT_FALSE(c.node(*leader).membership().IsVoter(*leader)) << "in effect once appended";
  // No ticks: delivery alone commits the removal, makes the leader step down and, with its
  // TimeoutNow, elects the most caught-up remaining voter without waiting for a timeout.
  c.DeliverAll();
  EXPECT_EQ(c.node(*leader).role(), Role::kFollower);
  auto next = c.Leader();
  ASSERT_TRUE(next.has_value());
  EXPECT_NE(*next, *leader);
  ASSERT_TRUE(c.Propose(*next, "after"));
  Settle(c, 3);
  EXPECT_EQ(c.applied().rbegin()->second.data, "after");
  // The removed server never campaigns again.
  const Term term = c.node(*leader).term();
  for (int i = 0; i < 200; ++i) c.Tick(*leader);
  EXPECT_EQ(c.node(*leader).term(), term);
  EXPECT_EQ(c.node(*leader).role(), Role::kFollower);
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, AChangeTakesEffectOnAppendAndIsUndoneWithItsEntry) {
  SimCluster c(WithSpares(3, 204, 1));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 3);
  // Cut the leader off; the change it appends cannot commit but is in effect on it at once.
  c.Partition({*leader, 4});
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kAddVoter, 4, ""}).ok());
  EXPECT_EQ(c.node(*leader).membership().voters, (std::set<NodeId>{1, 2, 3, 4}));
  Settle(c, 2);
  EXPECT_TRUE(c.node(4).membership().IsVoter(4)) << "node 4 appended it too";
  auto next = NewLeader(c, *leader);
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE(c.Propose(*next, "overwrites"));
  c.Heal();
  Settle(c, 40);
  for (NodeId id = 1; id <= 3; ++id) {
    EXPECT_EQ(c.node(id).membership().voters, (std::set<NodeId>{1, 2, 3})) << "node " << id << " rolled back";
  }
  // Node 4 is not a member, so nobody tells it; it still believes it votes, harmlessly.
  EXPECT_TRUE(c.node(4).membership().IsVoter(4));
  const auto now = c.Leader();
  ASSERT_TRUE(now.has_value());
  const Term term = c.node(*now).term();
  Settle(c, 100);
  EXPECT_EQ(c.Leader(), now);
  EXPECT_EQ(c.node(*now).term(), term);
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, RemovingADeadVoterUnblocksCommitment) {
  SimCluster c(WithSpares(3, 205, 1));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 3);
  Change(c, *leader, ConfChange{ConfChangeType::kAddVoter, 4, ""});
  const NodeId dead1 = 4, dead2 = Other(*leader);
  c.Crash(dead1);
  c.Crash(dead2);
  ASSERT_TRUE(c.Propose(*leader, "stuck"));
  Settle(c, 3);
  EXPECT_LT(c.node(*leader).commit(), c.node(*leader).last_index()) << "two of four voters are down";
  // The removal counts in the new configuration (two of three) as soon as it is appended, so it
  // commits itself and the entry before it.
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kRemoveNode, dead1, ""}).ok());
  Settle(c, 3);
  EXPECT_EQ(c.node(*leader).commit(), c.node(*leader).last_index());
  EXPECT_EQ(c.applied().rbegin()->second.type, EntryType::kConfChange);
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, ARemovedServerThatNeverHeardOfItDoesNotDisruptTheCluster) {
  SimCluster c(SimCluster::Options{3, 206});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 3);
  const NodeId removed = Other(*leader);
  c.Partition({removed});
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kRemoveNode, removed, ""}).ok());
  Settle(c, 30);
  EXPECT_TRUE(c.node(removed).membership().IsVoter(removed)) << "it still believes it is a voter";
  const Term term = c.node(*leader).term();
  c.Heal();
  Settle(c, 200);
  EXPECT_EQ(c.node(*leader).role(), Role::kLeader);
  EXPECT_EQ(c.node(*leader).term(), term) << "its pre-votes change nothing";
  ASSERT_TRUE(c.Propose(*leader, "still fine"));
  Settle(c, 3);
  EXPECT_EQ(c.applied().rbegin()->second.data, "still fine");
  ExpectNoViolations(c);
}

// Found by the simulation: a server removed by an entry only it holds must still campaign, or
// nobody can be elected: the others need its vote, and its log is longer than theirs.
TEST(RaftMembershipTest, AServerWhoseRemovalIsNotCommittedStillCampaigns) {
  SimCluster c(SimCluster::Options{3, 208});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId l = *leader, gone = Other(l), peer = Other(l, gone);
  Settle(c, 2);
  Change(c, l, ConfChange{ConfChangeType::kRemoveNode, gone, ""});
  ASSERT_EQ(c.node(peer).membership().voters, (std::set<NodeId>{l, peer}));
  // The leader removes itself, but the entry reaches nobody; it restarts as a follower.
  c.Partition({l});
  ASSERT_TRUE(c.ProposeConfChange(l, ConfChange{ConfChangeType::kRemoveNode, l, ""}).ok());
  c.Crash(l);
  c.Restart(l);
  c.Heal();
  ASSERT_EQ(c.node(l).membership().voters, (std::set<NodeId>{peer}));
  ASSERT_GT(c.node(l).last_index(), c.node(peer).last_index());
  // `peer` (in {l, peer}) needs l's vote and l's log is longer; so l campaigns, leads without
  // counting itself, commits its removal with peer's acknowledgement and hands over.
  std::optional<NodeId> now;
  for (int r = 0; r < 300 && !(now && *now == peer); ++r) {
    Settle(c, 1);
    now = c.Leader();
  }
  ASSERT_EQ(now, peer);
  EXPECT_EQ(c.node(peer).membership().voters, (std::set<NodeId>{peer}));
  ASSERT_TRUE(c.Propose(peer, "alone"));
  EXPECT_EQ(c.applied().rbegin()->second.data, "alone");
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, AJoiningServerSnapshotsOnlyWhereItKnowsTheMembership) {
  SimCluster c(WithSpares(3, 209, 1));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 2);
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kAddLearner, 4, ""}).ok());
  const Index change = c.node(*leader).last_index();
  // Node 4 gets the log (with the change) before it hears that the change committed.
  c.DeliverOnly([](const Message& m) { return m.from == 4 || m.to == 4; });
  ASSERT_EQ(c.node(4).applied(), change - 1);
  EXPECT_TRUE(c.node(4).membership().IsLearner(4));
  EXPECT_EQ(c.node(4).SnapshotMetaAt(change - 1).status().code(), absl::StatusCode::kFailedPrecondition)
      << "it does not know the bootstrap membership";
  Settle(c, 3);
  auto meta = c.node(4).SnapshotMetaAt(c.node(4).applied());
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_TRUE(meta->membership.IsLearner(4));
  ExpectNoViolations(c);
}

TEST(RaftMembershipTest, ASnapshotCarriesTheMembershipToANewServer) {
  SimCluster c(WithSpares(3, 207, 2));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Change(c, *leader, ConfChange{ConfChangeType::kAddLearner, 4, "host4"});
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  ASSERT_TRUE(c.Compact(*leader).ok());
  EXPECT_EQ(c.node(*leader).snapshot().membership.contexts.at(4), "host4");
  Change(c, *leader, ConfChange{ConfChangeType::kAddLearner, 5, "host5"});
  Settle(c, 10);
  EXPECT_EQ(c.disk_snapshot(5).index, c.node(*leader).snapshot().index) << "node 5 joined by snapshot";
  EXPECT_EQ(c.node(5).membership(), c.node(*leader).membership());
  EXPECT_EQ(c.node(5).membership().contexts.at(4), "host4");
  EXPECT_EQ(c.sm_applied(5), c.sm_applied(*leader));
  // Restarting node 5 from its snapshot keeps the membership.
  c.Crash(5);
  c.Restart(5);
  EXPECT_EQ(c.node(5).membership(), c.node(*leader).membership());
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace cistern::raft
