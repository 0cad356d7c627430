// Leadership transfer (Raft thesis §3.10): catch the target up, TimeoutNow, the target campaigns
// at once past its voters' leases; abandoned after an election timeout.
#include "gtest/gtest.h"
#include "raft/raft.h"
#include "raft/raft_test_cluster.h"

namespace cistern::raft {
namespace {

void ExpectNoViolations(SimCluster& c) {
  c.CheckLogMatching();
  c.CheckLeaders();
  EXPECT_TRUE(c.violations().empty()) << c.violations().front();
}

TEST(RaftTransferTest, AnUpToDateTargetTakesOverWithoutWaitingForATimeout) {
  SimCluster c(SimCluster::Options{3, 301});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "a"));
  Settle(c, 3);
  const NodeId target = Other(*leader);
  const Term term = c.node(*leader).term();
  ASSERT_TRUE(c.TransferLeadership(*leader, target).ok());
  // Every voter heard from the leader just now (check-quorum lease), yet answers the target's
  // vote request because it follows a TimeoutNow. No ticks needed.
  c.DeliverAll();
  EXPECT_EQ(c.node(target).role(), Role::kLeader);
  EXPECT_EQ(c.node(target).term(), term + 1);
  EXPECT_EQ(c.node(*leader).role(), Role::kFollower);
  EXPECT_EQ(c.node(*leader).leader(), target);
  ASSERT_TRUE(c.Propose(target, "b"));
  Settle(c, 3);
  EXPECT_EQ(c.applied().rbegin()->second.data, "b");
  ExpectNoViolations(c);
}

TEST(RaftTransferTest, ALaggingTargetIsCaughtUpFirstAndProposalsWaitMeanwhile) {
  SimCluster c(SimCluster::Options{3, 302});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId target = Other(*leader);
  c.Crash(target);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  c.Restart(target);
  ASSERT_LT(c.node(target).last_index(), c.node(*leader).last_index());
  ASSERT_TRUE(c.TransferLeadership(*leader, target).ok());
  EXPECT_EQ(c.node(*leader).lead_transferee(), target);
  auto refused = c.node(*leader).Propose("during");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.node(*leader).ProposeConfChange(ConfChange{ConfChangeType::kRemoveNode, target, ""}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(c.TransferLeadership(*leader, target).ok()) << "asking again is fine";
  Settle(c, 5);
  EXPECT_EQ(c.node(target).role(), Role::kLeader);
  EXPECT_GE(c.node(target).commit(), 201u) << "it had the whole log, so its no-op commits everything";
  ExpectNoViolations(c);
}

TEST(RaftTransferTest, ATransferToAnUnreachableTargetIsAbandonedAfterAnElectionTimeout) {
  SimCluster c(SimCluster::Options{3, 303});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId target = Other(*leader);
  c.Crash(target);
  ASSERT_TRUE(c.Propose(*leader, "x"));
  Settle(c, 2);
  ASSERT_TRUE(c.TransferLeadership(*leader, target).ok());
  int ticks = 0;
  while (c.node(*leader).lead_transferee() != kNoNode && ticks < 100) {
    c.Tick(*leader);
    c.DeliverAll();
    ++ticks;
  }
  EXPECT_EQ(ticks, 10) << "election_ticks";
  EXPECT_EQ(c.node(*leader).role(), Role::kLeader);
  EXPECT_TRUE(c.Propose(*leader, "accepted again"));
  ExpectNoViolations(c);
}

TEST(RaftTransferTest, RefusesTargetsThatCannotLead) {
  SimCluster::Options o{3, 304};
  o.spare_nodes = 1;
  SimCluster c(o);
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 2);
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kAddLearner, 4, ""}).ok());
  Settle(c, 2);
  EXPECT_EQ(c.TransferLeadership(*leader, 4).code(), absl::StatusCode::kFailedPrecondition) << "a learner";
  EXPECT_EQ(c.TransferLeadership(*leader, 9).code(), absl::StatusCode::kFailedPrecondition) << "a stranger";
  EXPECT_EQ(c.TransferLeadership(Other(*leader), *leader).code(), absl::StatusCode::kFailedPrecondition)
      << "asked of a follower";
  EXPECT_TRUE(c.TransferLeadership(*leader, *leader).ok());
  EXPECT_EQ(c.node(*leader).lead_transferee(), kNoNode);
  // A learner told to campaign (a stray TimeoutNow) does not.
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.from = *leader;
  m.to = 4;
  m.term = c.node(4).term();
  ASSERT_TRUE(c.node(4).Step(m).ok());
  EXPECT_EQ(c.node(4).role(), Role::kFollower);
  ExpectNoViolations(c);
}

TEST(RaftTransferTest, AServerBeingRemovedIsNoTarget) {
  SimCluster c(SimCluster::Options{3, 305});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 2);
  const NodeId target = Other(*leader);
  c.Crash(target);
  // Proposed first; the transfer starts while the removal is in flight.
  ASSERT_TRUE(c.ProposeConfChange(*leader, ConfChange{ConfChangeType::kRemoveNode, target, ""}).ok());
  EXPECT_EQ(c.node(*leader).lead_transferee(), kNoNode);
  EXPECT_EQ(c.TransferLeadership(*leader, target).code(), absl::StatusCode::kFailedPrecondition)
      << "already not a voter: the change is in effect once appended";
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace cistern::raft
