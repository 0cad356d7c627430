// Linearizable reads: ReadIndex (leader or forwarded from a follower) and the opt-in lease.
// SimCluster checks every ReadState against the highest index applied anywhere when the read
// was issued, so a stale answer is a violation.
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

const std::vector<Index>& Answers(const SimCluster& c, const std::string& context) {
  return c.reads().at(context).indexes;
}

TEST(RaftReadTest, TheLeaderAnswersAfterAQuorumAcknowledgesAHeartbeatRound) {
  SimCluster c(SimCluster::Options{3, 401});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "w"));
  Settle(c, 2);
  const std::string r = c.ReadIndex(*leader);
  ASSERT_FALSE(r.empty());
  EXPECT_TRUE(Answers(c, r).empty()) << "not before the round";
  ASSERT_GE(c.in_flight(), 2u);
  // One acknowledgement makes a quorum of three with the leader.
  for (size_t i = 0; i < c.in_flight(); ++i) {
    if (c.message(i).type == MessageType::kHeartbeat) {
      c.Deliver(i);
      break;
    }
  }
  c.DeliverOnly([](const Message& m) { return m.type == MessageType::kHeartbeatResponse; });
  ASSERT_EQ(Answers(c, r).size(), 1u);
  EXPECT_EQ(Answers(c, r)[0], c.node(*leader).commit());
  // Reads issued together share one round.
  const std::string r1 = c.ReadIndex(*leader), r2 = c.ReadIndex(*leader);
  c.DeliverAll();
  EXPECT_EQ(Answers(c, r1).size(), 1u);
  EXPECT_EQ(Answers(c, r2).size(), 1u);
  ExpectNoViolations(c);
}

TEST(RaftReadTest, AFollowerForwardsToTheLeader) {
  SimCluster c(SimCluster::Options{3, 402});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 2);
  const NodeId f = Other(*leader);
  const std::string r = c.ReadIndex(f);
  ASSERT_FALSE(r.empty());
  c.DeliverAll();
  ASSERT_EQ(Answers(c, r).size(), 1u);
  EXPECT_EQ(Answers(c, r)[0], c.node(*leader).commit());
  EXPECT_GE(c.sm_applied(f), Answers(c, r)[0]) << "the follower's state machine can serve it";
  // Without a known leader the request is refused at once.
  c.Crash(*leader);
  for (int i = 0; i < 30 && c.node(f).leader() != kNoNode; ++i) c.Tick(f);
  EXPECT_EQ(c.node(f).ReadIndex("x").code(), absl::StatusCode::kUnavailable);
  ExpectNoViolations(c);
}

TEST(RaftReadTest, ANewLeaderAnswersOnlyOnceItHasCommittedInItsTerm) {
  SimCluster c(SimCluster::Options{3, 403});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "w"));
  Settle(c, 2);
  // A new leader, stopped before its no-op commits.
  c.Crash(*leader);
  for (int r = 0; r < 300 && !c.Leader(); ++r) {
    c.TickAll();
    c.DeliverOnly([](const Message& m) { return m.type != MessageType::kAppend && m.type != MessageType::kHeartbeat; },
                  [&](const Message&) { return c.Leader().has_value(); });
  }
  auto next = c.Leader();
  ASSERT_TRUE(next.has_value());
  const Index noop = c.node(*next).last_index();
  ASSERT_LT(c.node(*next).commit(), noop);
  const std::string r = c.ReadIndex(*next);
  c.DropAll();
  c.TickAll();  // heartbeats get acknowledged, but the read still waits for the commit
  c.DeliverOnly([](const Message& m) { return m.type == MessageType::kHeartbeat || m.type == MessageType::kHeartbeatResponse; });
  EXPECT_TRUE(Answers(c, r).empty());
  c.Restart(*leader);
  Settle(c, 3);
  ASSERT_EQ(Answers(c, r).size(), 1u);
  EXPECT_GE(Answers(c, r)[0], noop) << "at least the new leader's no-op";
  ExpectNoViolations(c);
}

TEST(RaftReadTest, ADeposedLeaderAnswersNoRead) {
  SimCluster c(SimCluster::Options{3, 404});
  auto old = ElectLeader(c);
  ASSERT_TRUE(old.has_value());
  Settle(c, 2);
  c.Partition({*old});
  std::optional<NodeId> next;
  for (int r = 0; r < 300 && !next; ++r) {
    for (NodeId id : c.ids()) {
      if (id != *old) c.Tick(id);
    }
    c.DeliverAll();
    for (NodeId id : c.ids()) {
      if (id != *old && c.node(id).role() == Role::kLeader) next = id;
    }
  }
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE(c.Propose(*next, "newer"));
  c.DeliverAll();
  ASSERT_EQ(c.node(*old).role(), Role::kLeader) << "it has not noticed yet";
  const std::string r = c.ReadIndex(*old);
  ASSERT_FALSE(r.empty());
  c.DeliverAll();
  c.Heal();
  c.Tick(*old);  // its heartbeats now arrive and are answered with the newer term
  c.DeliverAll();
  EXPECT_NE(c.node(*old).role(), Role::kLeader);
  Settle(c, 10);
  EXPECT_TRUE(Answers(c, r).empty()) << "the read must not be answered with the old commit index";
  ExpectNoViolations(c);
}

TEST(RaftReadTest, ASingleVoterAnswersAtOnce) {
  SimCluster c(SimCluster::Options{1, 405});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "w"));
  const std::string r = c.ReadIndex(*leader);
  ASSERT_EQ(Answers(c, r).size(), 1u);
  EXPECT_EQ(Answers(c, r)[0], 2u);
  ExpectNoViolations(c);
}

SimCluster::Options Lease(uint64_t seed) {
  SimCluster::Options o{3, seed};
  o.read_mode = ReadMode::kLease;
  return o;
}

TEST(RaftReadTest, ALeaseLetsTheLeaderAnswerAtOnceUntilItExpires) {
  SimCluster c(Lease(406));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 2);
  const std::string r = c.ReadIndex(*leader);
  EXPECT_EQ(Answers(c, r).size(), 1u) << "answered without a round";
  // Cut off, the leader keeps answering from its lease for election_ticks - 2 ticks after the
  // last acknowledged heartbeat, then needs a round it cannot get.
  c.Partition({*leader});
  int served = 0;
  for (int t = 0; t < 10; ++t) {
    const std::string x = c.ReadIndex(*leader);
    if (!x.empty() && !Answers(c, x).empty()) ++served;
    c.Tick(*leader);
    c.DeliverAll();
  }
  EXPECT_EQ(served, 8);
  ExpectNoViolations(c);
}

TEST(RaftReadTest, TheLeaseEndsBeforeAnotherLeaderCanBeElected) {
  // Every node ticks once per round (the lease's assumption: clocks advance at the same rate),
  // in a random order with deliveries in between; at a random point the leader is cut off and
  // keeps issuing reads while the others elect a new leader and commit. The cluster checks
  // every answer against what was applied anywhere when the read was issued.
  for (uint64_t seed = 0; seed < 300; ++seed) {
    SimCluster c(Lease(4070 + seed));
    std::mt19937_64 rng(seed);
    auto old = ElectLeader(c);
    ASSERT_TRUE(old.has_value());
    const int cut_at = 3 * 3 + static_cast<int>(rng() % 3);  // a node's turn in round 3
    int turn = 0, writes = 0, served = 0;
    for (int round = 0; round < 40; ++round) {
      std::vector<NodeId> order = c.ids();
      std::shuffle(order.begin(), order.end(), rng);
      for (NodeId id : order) {
        if (turn++ == cut_at) c.Partition({*old});
        const std::string r = c.ReadIndex(*old);
        served += turn > cut_at && !r.empty() && !c.reads().at(r).indexes.empty();
        c.Tick(id);
        c.DeliverAll();
        for (NodeId l : c.ids()) {
          if (l != *old && c.node(l).role() == Role::kLeader) writes += c.Propose(l, absl::StrCat("w", round, "-", id));
        }
        c.DeliverAll();
      }
    }
    EXPECT_GT(writes, 0);
    EXPECT_GT(served, 0) << "the old leader served from its lease for a while";
    ASSERT_TRUE(c.violations().empty()) << "seed " << seed << ": " << c.violations().front();
  }
}

// Voters that acknowledged a heartbeat promise not to vote for anyone else for an election
// timeout; a crash must not erase that promise, or two restarted voters and two that never
// heard the heartbeat elect a leader while the old one still serves lease reads.
TEST(RaftReadTest, RestartedVotersKeepTheLeasePromise) {
  SimCluster::Options o{5, 409};
  o.read_mode = ReadMode::kLease;
  SimCluster c(o);
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 2);
  const NodeId l = *leader, a = Other(l, kNoNode, 5), b = Other(l, a, 5);
  std::vector<NodeId> free;  // will not have heard the leader for long
  for (NodeId id = 1; id <= 5; ++id) {
    if (id != l && id != a && id != b) free.push_back(id);
  }
  c.Partition({free[0], free[1]});
  for (int r = 0; r < 40; ++r) Settle(c, 1);  // l leads with a and b; the other two time out
  ASSERT_EQ(c.Leader(), l);
  // One more heartbeat round acknowledged by a and b, then both crash and restart at once.
  c.Tick(l);
  c.DeliverAll();
  c.Crash(a);
  c.Crash(b);
  c.Restart(a);
  c.Restart(b);
  c.Partition({l});
  // A free node campaigns as fast as its clock lets it; a and b must not vote yet.
  for (int t = 0; t < 40; ++t) {
    c.Tick(free[0]);
    c.DeliverAll();
  }
  for (NodeId id : c.ids()) {
    if (id != l && c.alive(id) && c.node(id).role() == Role::kLeader) {
      ASSERT_TRUE(c.Propose(id, "newer"));
      c.DeliverAll();
    }
  }
  const std::string r = c.ReadIndex(l);
  ASSERT_EQ(Answers(c, r).size(), 1u) << "served from the lease";
  ExpectNoViolations(c);
}

TEST(RaftReadTest, ATransferEndsTheLease) {
  SimCluster c(Lease(408));
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  Settle(c, 2);
  ASSERT_EQ(Answers(c, c.ReadIndex(*leader)).size(), 1u);
  ASSERT_TRUE(c.TransferLeadership(*leader, Other(*leader)).ok());
  const std::string r = c.ReadIndex(*leader);
  EXPECT_TRUE(Answers(c, r).empty()) << "the target's voters will not honour the lease";
  c.DeliverAll();
  EXPECT_NE(c.node(*leader).role(), Role::kLeader);
  ExpectNoViolations(c);
}

}  // namespace
}  // namespace cistern::raft
