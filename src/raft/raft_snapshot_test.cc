// Snapshots, log compaction, restart from (snapshot + hard state + log), proposal ids, and the
// validation of what the driver hands the core.
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

TEST(RaftSnapshotTest, LeaderCompactsAndALaggingFollowerCatchesUpBySnapshot) {
  SimCluster c(SimCluster::Options{3, 101});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId lagging = Other(*leader);
  c.Crash(lagging);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  ASSERT_TRUE(c.Compact(*leader).ok());
  RawNode& l = c.node(*leader);
  EXPECT_EQ(l.snapshot().index, l.applied());
  EXPECT_EQ(l.first_index(), l.applied() + 1) << "the log is dropped up to the snapshot";
  EXPECT_EQ(l.log_bytes(), 0u);

  c.Restart(lagging);
  Settle(c, 30);
  EXPECT_EQ(c.snapshots_installed(), 1);
  EXPECT_EQ(c.disk_snapshot(lagging).index, l.snapshot().index);
  EXPECT_EQ(c.sm_applied(lagging), c.sm_applied(*leader));
  // It continues from the snapshot with ordinary appends.
  ASSERT_TRUE(c.Propose(*leader, "after"));
  Settle(c, 5);
  EXPECT_EQ(c.node(lagging).commit(), l.commit());
  EXPECT_EQ(c.node(lagging).log(), l.log());
  EXPECT_EQ(c.snapshots_installed(), 1);
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, RetainedEntriesSpareASlightlyLaggingFollowerASnapshot) {
  SimCluster c(SimCluster::Options{3, 102});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId lagging = Other(*leader);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.Propose(*leader, "a" + std::to_string(i)));
  Settle(c, 3);
  c.Crash(lagging);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Propose(*leader, "b" + std::to_string(i)));
  Settle(c, 3);
  ASSERT_TRUE(c.Compact(*leader, /*keep_entries=*/20).ok());
  EXPECT_EQ(c.node(*leader).first_index(), c.node(*leader).snapshot().index - 20 + 1);
  c.Restart(lagging);
  Settle(c, 20);
  EXPECT_EQ(c.snapshots_installed(), 0);
  EXPECT_EQ(c.sm_applied(lagging), c.sm_applied(*leader));
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, SnapshotReplacesAFollowersConflictingLog) {
  SimCluster c(SimCluster::Options{3, 103});
  auto old_leader = ElectLeader(c);
  ASSERT_TRUE(old_leader.has_value());
  ASSERT_TRUE(c.Propose(*old_leader, "committed"));
  Settle(c, 3);
  // The old leader takes entries nobody else gets, then is cut off and replaced.
  c.Partition({*old_leader});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.Propose(*old_leader, "stale" + std::to_string(i)));
  std::optional<NodeId> new_leader;
  for (int r = 0; r < 300 && !new_leader; ++r) {
    Settle(c, 1);
    for (NodeId id : c.ids()) {
      if (id != *old_leader && c.alive(id) && c.node(id).role() == Role::kLeader) new_leader = id;
    }
  }
  ASSERT_TRUE(new_leader.has_value());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.Propose(*new_leader, "new" + std::to_string(i)));
  Settle(c, 3);
  ASSERT_TRUE(c.Compact(*new_leader).ok());
  const Index snap = c.node(*new_leader).snapshot().index;
  c.Heal();
  Settle(c, 40);
  EXPECT_EQ(c.disk_snapshot(*old_leader).index, snap) << "it needed entries the leader compacted";
  EXPECT_EQ(c.node(*old_leader).log(), c.node(*new_leader).log());
  for (const auto& [index, entry] : c.applied()) EXPECT_EQ(entry.data.rfind("stale", 0), std::string::npos);
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, ALostSnapshotIsReportedAndSentAgain) {
  SimCluster c(SimCluster::Options{3, 104});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  const NodeId lagging = Other(*leader);
  c.Crash(lagging);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  ASSERT_TRUE(c.Compact(*leader).ok());
  c.Restart(lagging);
  // Deliver everything but drop the first snapshot: the simulated driver reports kFailed.
  bool dropped = false;
  for (int r = 0; r < 10; ++r) {
    c.TickAll();
    c.DeliverOnly([&](const Message& m) {
      if (m.type == MessageType::kSnapshot && !dropped) {
        dropped = true;
        return false;
      }
      return true;
    });
  }
  ASSERT_TRUE(dropped);
  Settle(c, 20);
  EXPECT_EQ(c.snapshots_installed(), 1);
  EXPECT_EQ(c.sm_applied(lagging), c.sm_applied(*leader));
  EXPECT_EQ(c.node(*leader).progress(lagging)->state(), Progress::State::kReplicate);
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, WholeClusterRestartsFromSnapshotHardStateAndLog) {
  SimCluster c(SimCluster::Options{3, 105});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  for (NodeId id : c.ids()) ASSERT_TRUE(c.Compact(id, 5).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Propose(*leader, "x" + std::to_string(i)));
  Settle(c, 3);
  const Index applied = c.max_applied();
  for (NodeId id : c.ids()) c.Crash(id);
  for (NodeId id : c.ids()) c.Restart(id);
  for (NodeId id : c.ids()) {
    EXPECT_EQ(c.node(id).first_index(), c.disk_snapshot(id).index + 1) << "node " << id;
    EXPECT_EQ(c.node(id).applied(), applied) << "nothing before the state machine's index is re-applied";
  }
  leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "after restart"));
  Settle(c, 5);
  EXPECT_EQ(c.applied().rbegin()->second.data, "after restart");
  for (NodeId id : c.ids()) EXPECT_EQ(c.sm_applied(id), c.max_applied());
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, AStateMachineThatLostItsUnsyncedTailReplaysFromTheLog) {
  SimCluster c(SimCluster::Options{3, 106});
  c.sm_rollback = [](Index lo, Index hi) { return lo; };  // everything since the snapshot is lost
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c.Propose(*leader, "w" + std::to_string(i)));
  Settle(c, 3);
  const NodeId f = Other(*leader);
  ASSERT_TRUE(c.Compact(f).ok());
  const Index snap = c.disk_snapshot(f).index;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Propose(*leader, "x" + std::to_string(i)));
  Settle(c, 3);
  c.Crash(f);
  EXPECT_EQ(c.sm_applied(f), snap);
  c.Restart(f);  // re-applies what its log holds after the snapshot
  EXPECT_EQ(c.sm_applied(f), c.max_applied());
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, ProposeTellsWhichEntryWillCarryTheProposal) {
  SimCluster c(SimCluster::Options{3, 107});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  auto id = c.ProposeId(*leader, "mine");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->term, c.node(*leader).term());
  EXPECT_EQ(id->index, c.node(*leader).last_index());
  Settle(c, 3);
  EXPECT_EQ(c.applied().at(id->index).data, "mine");
  EXPECT_EQ(c.applied().at(id->index).term, id->term);

  // A proposal of a deposed leader: its index is later applied with another term, which is how
  // the driver knows to fail that client.
  c.Partition({*leader});
  auto lost = c.ProposeId(*leader, "lost");
  ASSERT_TRUE(lost.has_value());
  std::optional<NodeId> next;
  for (int r = 0; r < 300 && !next; ++r) {
    Settle(c, 1);
    for (NodeId n : c.ids()) {
      if (n != *leader && c.node(n).role() == Role::kLeader) next = n;
    }
  }
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE(c.Propose(*next, "other"));
  c.Heal();
  Settle(c, 30);
  ASSERT_TRUE(c.applied().count(lost->index));
  EXPECT_NE(c.applied().at(lost->index).term, lost->term);
  ExpectNoViolations(c);
}

TEST(RaftSnapshotTest, CompactRefusesWhatTheStateMachineDoesNotCover) {
  SimCluster c(SimCluster::Options{1, 108});
  auto leader = ElectLeader(c);
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(c.Propose(*leader, "a"));
  RawNode& n = c.node(*leader);
  EXPECT_EQ(n.SnapshotMetaAt(n.applied() + 1).status().code(), absl::StatusCode::kFailedPrecondition);
  auto meta = n.SnapshotMetaAt(n.applied());
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->membership.voters, (std::set<NodeId>{1}));
  SnapshotMeta wrong = *meta;
  wrong.term += 1;
  EXPECT_EQ(n.Compact(wrong).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(n.first_index(), 1u);
  ASSERT_TRUE(n.Compact(*meta).ok());
  EXPECT_EQ(n.SnapshotMetaAt(meta->index - 1).status().code(), absl::StatusCode::kFailedPrecondition)
      << "older than the snapshot";
}

Config OneNode() {
  Config config;
  config.id = 1;
  config.voters = {1};
  return config;
}

TEST(RaftSnapshotTest, CreateRejectsInconsistentPersistedState) {
  SnapshotMeta snap{10, 2, Membership{{1}, {}, {}}};
  auto code = [](Config config, PersistedState state) { return RawNode::Create(config, state).status().code(); };
  EXPECT_EQ(code(OneNode(), PersistedState{{2, 1, 10}, snap, {}}), absl::StatusCode::kFailedPrecondition)
      << "state machine (applied 0) behind the snapshot";
  Config at10 = OneNode();
  at10.applied = 10;
  EXPECT_TRUE(RawNode::Create(at10, PersistedState{{2, 1, 10}, snap, {}}).ok());
  EXPECT_EQ(code(at10, PersistedState{{2, 1, 10}, snap, {{2, 12, "gap"}}}), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code(at10, PersistedState{{2, 1, 10}, snap, {{1, 10, "x"}, {2, 11, "y"}}}), absl::StatusCode::kDataLoss)
      << "a stored entry at the snapshot index with another term";
  EXPECT_EQ(code(at10, PersistedState{{2, 1, 12}, snap, {{2, 11, "y"}}}), absl::StatusCode::kDataLoss)
      << "commit beyond the log";
  EXPECT_EQ(code(at10, PersistedState{{2, 1, 10}, snap, {{3, 11, "y"}}}), absl::StatusCode::kDataLoss)
      << "an entry of a term after the hard state's";
  EXPECT_EQ(code(at10, PersistedState{{2, 1, 10}, snap, {{2, 11, "junk", EntryType::kConfChange}}}),
            absl::StatusCode::kDataLoss);
  Config bad = OneNode();
  bad.election_ticks = 1;
  EXPECT_EQ(code(bad, {}), absl::StatusCode::kInvalidArgument);
  Config lease = OneNode();
  lease.read_mode = ReadMode::kLease;
  lease.check_quorum = false;
  EXPECT_EQ(code(lease, {}), absl::StatusCode::kInvalidArgument);
  // Entries up to the snapshot are skipped; the log resumes after it.
  auto n = RawNode::Create(at10, PersistedState{{2, 1, 11}, snap, {{1, 9, "old"}, {2, 10, "s"}, {2, 11, "y"}}});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ((*n)->first_index(), 11u);
  EXPECT_EQ((*n)->last_index(), 11u);
  EXPECT_EQ((*n)->commit(), 11u);
  EXPECT_EQ((*n)->membership().voters, (std::set<NodeId>{1}));
}

TEST(RaftSnapshotTest, StepRejectsMalformedMessagesWithoutEffect) {
  RawNode n(OneNode(), HardState{}, {});
  Message m;
  m.type = MessageType::kAppend;
  m.from = 2;
  m.to = 1;
  m.term = 3;
  m.index = 0;
  m.entries = {{3, 2, "skips index 1"}};
  EXPECT_EQ(n.Step(m).code(), absl::StatusCode::kInvalidArgument);
  m.entries = {{4, 1, "term beyond the message's"}};
  EXPECT_EQ(n.Step(m).code(), absl::StatusCode::kInvalidArgument);
  m.entries = {{3, 1, "bad", EntryType::kConfChange}};
  EXPECT_EQ(n.Step(m).code(), absl::StatusCode::kInvalidArgument);
  Message s;
  s.type = MessageType::kSnapshot;
  s.from = 2;
  s.to = 1;
  s.term = 3;
  EXPECT_EQ(n.Step(s).code(), absl::StatusCode::kInvalidArgument) << "no metadata";
  s.snapshot = SnapshotMeta{5, 3, Membership{}};
  EXPECT_EQ(n.Step(s).code(), absl::StatusCode::kInvalidArgument) << "no voters";
  Message unknown;
  unknown.type = static_cast<MessageType>(99);
  unknown.from = 2;
  unknown.to = 1;
  EXPECT_EQ(n.Step(unknown).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(n.term(), 0u);
  EXPECT_EQ(n.last_index(), 0u);
  EXPECT_FALSE(n.HasReady());
}

}  // namespace
}  // namespace cistern::raft
