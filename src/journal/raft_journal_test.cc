// RaftJournal driven over the in-process network: election, replication to every state machine,
// redirection from followers, group commit, partitions and lossy links, restarts, linearizable
// reads, and fail-stop on a storage failure.
#include "journal/raft_journal.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "journal/in_process_transport.h"
#include "journal/raft_journal_test_util.h"

namespace cistern::journal {
namespace {

using raft::NodeId;

struct SnapshotSettings {
  uint64_t entries = 0;  // 0: no snapshot store
  uint64_t keep = 0;
};

RaftJournalOptions TestOptions(NodeId id, std::vector<NodeId> voters) {
  RaftJournalOptions options;
  options.id = id;
  options.voters = std::move(voters);
  options.tick_interval_ms = 10;
  options.election_ticks = 10;
  options.append_timeout_ms = 20000;
  options.seed = id * 7919;
  return options;
}

// N nodes over one in-process network. Nodes can be stopped and restarted from their storage
// and state machine (which survive, as a metastore and a Raft log on disk would).
// Distinct paths: SubmitAnywhere retries an append whose outcome was unknown (its leader lost the
// leadership after proposing it), so an entry may be applied twice; the master dedupes retries
// by operation id, this test state machine does not.
size_t DistinctPaths(const std::vector<std::string>& paths) {
  return std::set<std::string>(paths.begin(), paths.end()).size();
}

class TestCluster {
 public:
  explicit TestCluster(int n, int save_delay_ms = 0, uint64_t seed = 1, SnapshotSettings snapshots = {},
                       int64_t follower_apply_delay_ms = 0, bool ship_apply_effects = false)
      : network_(seed),
        snapshot_settings_(snapshots),
        follower_apply_delay_ms_(follower_apply_delay_ms),
        ship_apply_effects_(ship_apply_effects) {
    for (int i = 1; i <= n; ++i) voters_.push_back(static_cast<NodeId>(i));
    all_ = voters_;
    root_ = (std::filesystem::path(::testing::TempDir()) /
             absl::StrCat("raft-cluster-", ::getpid(), "-", ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                .string();
    std::filesystem::remove_all(root_);
    for (NodeId id : voters_) {
      Node& node = nodes_[id];
      node.storage = std::make_unique<MemStorage>();
      node.storage->save_delay_ms = save_delay_ms;
      node.sm = std::make_unique<TestStateMachine>();
      node.transport = network_.TransportFor(id);
      if (snapshots.entries > 0) {
        auto store = SnapshotStore::Open(absl::StrCat(root_, "/n", id));
        EXPECT_TRUE(store.ok()) << store.status();
        node.snapshots = *std::move(store);
      }
    }
    for (NodeId id : voters_) Start(id);
  }
  ~TestCluster() {
    for (NodeId id : all_) Stop(id);
    std::filesystem::remove_all(root_);
  }

  // A new node that joins the running group (not a voter until added).
  void AddJoiner(NodeId id) {
    Node& node = nodes_[id];
    node.storage = std::make_unique<MemStorage>();
    node.sm = std::make_unique<TestStateMachine>();
    node.transport = network_.TransportFor(id);
    node.joiner = true;
    if (snapshot_settings_.entries > 0) {
      auto store = SnapshotStore::Open(absl::StrCat(root_, "/n", id));
      EXPECT_TRUE(store.ok()) << store.status();
      node.snapshots = *std::move(store);
    }
    all_.push_back(id);
    Start(id);
  }

  void Start(NodeId id) {
    Node& node = nodes_[id];
    RaftJournalOptions options = TestOptions(id, node.joiner ? std::vector<NodeId>{} : voters_);
    options.snapshots = node.snapshots.get();
    options.snapshot_entries = snapshot_settings_.entries;
    options.snapshot_keep_entries = snapshot_settings_.keep;
    options.follower_apply_delay_ms = follower_apply_delay_ms_;
    options.ship_apply_effects = ship_apply_effects_;
    auto journal = RaftJournal::Open(options, node.storage.get(), node.sm.get(), node.transport.get(), RealClock());
    ASSERT_TRUE(journal.ok()) << journal.status();
    node.journal = *std::move(journal);
    node.journal->set_fatal_error_callback([&node](const absl::Status&) { node.fatal_errors.fetch_add(1); });
    network_.Register(id, node.journal.get());
    node.journal->Start();
  }
  void Stop(NodeId id) {
    Node& node = nodes_[id];
    if (!node.journal) return;
    network_.Unregister(id);
    node.journal->Stop();
    node.journal.reset();
  }

  RaftJournal* journal(NodeId id) { return nodes_[id].journal.get(); }
  TestStateMachine* sm(NodeId id) { return nodes_[id].sm.get(); }
  MemStorage* storage(NodeId id) { return nodes_[id].storage.get(); }
  int fatal_errors(NodeId id) { return nodes_[id].fatal_errors.load(); }
  InProcessRaftNetwork& network() { return network_; }
  const std::vector<NodeId>& voters() const { return voters_; }

  // The serving leader among running nodes (not in `exclude`), once there is exactly one at the
  // highest term; kNoNode on timeout.
  NodeId WaitForLeader(const std::set<NodeId>& exclude = {}, int64_t timeout_ms = 20000) {
    NodeId found = raft::kNoNode;
    WaitUntil([&] {
      found = raft::kNoNode;
      for (NodeId id : all_) {
        if (exclude.count(id) > 0 || !nodes_[id].journal) continue;
        if (nodes_[id].journal->status().serving) found = id;
      }
      return found != raft::kNoNode;
    }, timeout_ms);
    return found;
  }

  // Submits on whichever node serves, retrying while leadership moves.
  absl::Status SubmitAnywhere(const proto::JournalEntry& entry, const std::set<NodeId>& exclude = {}) {
    absl::Status last = absl::UnavailableError("no leader");
    for (int attempt = 0; attempt < 200; ++attempt) {
      for (NodeId id : all_) {
        if (exclude.count(id) > 0 || !nodes_[id].journal) continue;
        absl::StatusOr<proto::JournalResult> result = nodes_[id].journal->Submit(entry);
        if (result.ok()) return absl::OkStatus();
        last = result.status();
        if (!absl::IsUnavailable(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  }

  // True once every running node's state machine holds the same paths as `reference`.
  bool WaitConverged(NodeId reference, int64_t timeout_ms = 20000) {
    return WaitUntil([&] {
      const std::vector<std::string> want = nodes_[reference].sm->paths();
      for (NodeId id : all_) {
        if (nodes_[id].journal && nodes_[id].sm->paths() != want) return false;
      }
      return true;
    }, timeout_ms);
  }

  static bool WaitUntil(const std::function<bool()>& condition, int64_t timeout_ms) {
    const int64_t deadline = RealClock()->MonotonicMs() + timeout_ms;
    while (!condition()) {
      if (RealClock()->MonotonicMs() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  struct Node {
    std::unique_ptr<MemStorage> storage;
    std::unique_ptr<TestStateMachine> sm;
    std::unique_ptr<RaftTransport> transport;
    std::unique_ptr<SnapshotStore> snapshots;
    std::unique_ptr<RaftJournal> journal;
    std::atomic<int> fatal_errors{0};
    bool joiner = false;
  };
  InProcessRaftNetwork network_;
  std::vector<NodeId> all_;  // every node ever started
  const SnapshotSettings snapshot_settings_;
  const int64_t follower_apply_delay_ms_;
  const bool ship_apply_effects_;
  std::string root_;
  std::vector<NodeId> voters_;
  std::map<NodeId, Node> nodes_;
};

TEST(RaftJournalTest, SingleVoterElectsItselfAndGroupCommitsConcurrentAppends) {
  TestCluster cluster(1, /*save_delay_ms=*/3);
  ASSERT_EQ(cluster.WaitForLeader(), 1u);
  constexpr int kThreads = 8, kPerThread = 25;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<uint64_t> indexes;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<Appended> appended = cluster.journal(1)->Append(Mkdir(absl::StrCat("/t", t, "/", i)));
        ASSERT_TRUE(appended.ok()) << appended.status();
        // Each proposer gets its own entry's outcome.
        EXPECT_EQ(appended->outcome.result.inode_id(), appended->index);
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_TRUE(indexes.insert(appended->index).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cluster.sm(1)->paths().size(), static_cast<size_t>(kThreads * kPerThread));
  // The status is published at the end of the driver's round, after the waiters were answered.
  ASSERT_TRUE(TestCluster::WaitUntil([&] {
    return cluster.journal(1)->status().entries_appended == static_cast<uint64_t>(kThreads * kPerThread);
  }, 10000));
  const RaftJournalStatus status = cluster.journal(1)->status();
  // Proposals queued during one sync share the next one.
  EXPECT_LT(status.log_syncs, status.entries_appended) << "no group commit";
  // A failed precondition is the proposer's outcome, and still consumes the index.
  proto::JournalEntry del;
  del.mutable_delete_()->set_path("/t0");
  absl::StatusOr<proto::JournalResult> result = cluster.journal(1)->Submit(del);
  EXPECT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
}

TEST(RaftJournalTest, ThreeNodesReplicateInOrderAndFollowersNameTheLeader) {
  TestCluster cluster(3);
  const NodeId leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir(absl::StrCat("/d", i))).ok());
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(cluster.sm(leader)->paths().size(), 50u);
  EXPECT_EQ(cluster.sm(leader)->paths().front(), "/d0");
  EXPECT_EQ(cluster.sm(leader)->paths().back(), "/d49");
  const NodeId follower = leader % 3 + 1;
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return cluster.journal(follower)->status().leader == leader; }, 10000));
  absl::StatusOr<Appended> refused = cluster.journal(follower)->Append(Mkdir("/x"));
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), absl::StrCat("the leader is node ", leader)))
      << refused.status();
  EXPECT_TRUE(absl::IsUnavailable(cluster.journal(follower)->ConfirmRead(0)));
  EXPECT_TRUE(cluster.journal(leader)->ConfirmRead(cluster.journal(leader)->applied_index()).ok());
  // Every node applied the same entries at the same indexes.
  EXPECT_TRUE(TestCluster::WaitUntil(
      [&] { return cluster.journal(follower)->status().applied == cluster.journal(leader)->status().applied; }, 10000));
}

// Followers apply committed entries late, in batches: with a delay longer than the test, a
// follower applies nothing while the leader applies each entry, yet the moment it is elected
// it applies everything before it serves. With a short delay followers converge on their own.
TEST(RaftJournalTest, FollowersApplyInBatchesAndEverythingOnceTheyLead) {
  {
    TestCluster cluster(3, /*save_delay_ms=*/0, /*seed=*/1, SnapshotSettings{}, /*follower_apply_delay_ms=*/600000);
    const NodeId leader = cluster.WaitForLeader();
    ASSERT_NE(leader, raft::kNoNode);
    const uint64_t applied_at_start = cluster.journal(leader)->status().applied;
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(cluster.journal(leader)->Submit(Mkdir(absl::StrCat("/d", i))).ok());
    const uint64_t applied = cluster.journal(leader)->status().applied;
    EXPECT_GE(applied, applied_at_start + 30);
    for (NodeId id : cluster.voters()) {
      if (id == leader) continue;
      ASSERT_TRUE(TestCluster::WaitUntil([&] { return cluster.journal(id)->status().commit >= applied; }, 10000));
      EXPECT_LT(cluster.journal(id)->status().applied, applied_at_start + 30) << "follower " << id << " applied at once";
    }
    cluster.Stop(leader);
    const NodeId next = cluster.WaitForLeader({leader});
    ASSERT_NE(next, raft::kNoNode);
    // Serving means it applied its whole log first: every entry is there.
    EXPECT_GE(cluster.journal(next)->status().applied, applied);
    EXPECT_EQ(DistinctPaths(cluster.sm(next)->paths()), 30u);
    ASSERT_TRUE(cluster.journal(next)->Submit(Mkdir("/after")).ok());
    EXPECT_EQ(cluster.sm(next)->paths().back(), "/after");
  }
  {
    TestCluster cluster(3, /*save_delay_ms=*/0, /*seed=*/2, SnapshotSettings{}, /*follower_apply_delay_ms=*/50);
    const NodeId leader = cluster.WaitForLeader();
    ASSERT_NE(leader, raft::kNoNode);
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(cluster.journal(leader)->Submit(Mkdir(absl::StrCat("/d", i))).ok());
    ASSERT_TRUE(cluster.WaitConverged(leader));
    const RaftJournalStatus lead = cluster.journal(leader)->status();
    for (NodeId id : cluster.voters()) {
      if (id == leader) continue;
      ASSERT_TRUE(TestCluster::WaitUntil([&] { return cluster.journal(id)->status().applied == lead.applied; }, 10000));
      // One entry after the other at the leader; a few batches at the followers.
      EXPECT_LT(cluster.journal(id)->status().apply_batches * 2, lead.apply_batches) << "follower " << id;
    }
  }
}

// 60 mkdirs under 20% loss and 10% duplication, all acknowledged; then, on a healed network,
// every one of them is on the leader (put in `leader`) and every node converged.
void SubmitThroughLossAndConverge(TestCluster& cluster, NodeId* leader) {
  ASSERT_NE(cluster.WaitForLeader(), raft::kNoNode);
  cluster.network().SetLoss(/*drop=*/0.2, /*duplicate=*/0.1);
  int acknowledged = 0;
  for (int i = 0; i < 60; ++i) {
    if (cluster.SubmitAnywhere(Mkdir(absl::StrCat("/lossy", i))).ok()) ++acknowledged;
  }
  EXPECT_EQ(acknowledged, 60);
  cluster.network().SetLoss(0, 0);
  *leader = cluster.WaitForLeader();
  ASSERT_NE(*leader, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/end")).ok());
  ASSERT_TRUE(cluster.WaitConverged(*leader));
  const std::vector<std::string> paths = cluster.sm(*leader)->paths();
  for (int i = 0; i < 60; ++i) {
    EXPECT_GE(std::count(paths.begin(), paths.end(), absl::StrCat("/lossy", i)), 1) << i;
  }
  EXPECT_GT(cluster.network().dropped(), 0);
}

// Apply effects: followers install what the leader's state machine wrote instead of applying
// the entries, in order and exactly once, and a follower that takes over then ships its own.
TEST(RaftJournalTest, FollowersInstallTheLeadersEffectsInsteadOfApplying) {
  TestCluster cluster(3, /*save_delay_ms=*/1, /*seed=*/3, SnapshotSettings{}, /*follower_apply_delay_ms=*/20,
                      /*ship_apply_effects=*/true);
  NodeId leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  constexpr int kThreads = 6, kPerThread = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!cluster.journal(leader)->Submit(Mkdir(absl::StrCat("/t", t, "-", i))).ok()) failed.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failed.load(), 0);
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(cluster.sm(leader)->entries_installed(), 0u) << "a leader applies";
  for (NodeId id : cluster.voters()) {
    if (id == leader) continue;
    EXPECT_GT(cluster.sm(id)->entries_installed(), 0u) << "follower " << id;
    EXPECT_GT(cluster.journal(id)->status().entries_from_effects, 0u) << "follower " << id;
    EXPECT_EQ(cluster.journal(id)->status().entries_from_effects, cluster.sm(id)->entries_installed());
  }
  cluster.Stop(leader);
  const NodeId next = cluster.WaitForLeader({leader});
  ASSERT_NE(next, raft::kNoNode);
  const NodeId other = 6 - leader - next;
  const uint64_t installed_before = cluster.sm(other)->entries_installed();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(cluster.journal(next)->Submit(Mkdir(absl::StrCat("/after", i))).ok());
  ASSERT_TRUE(cluster.WaitConverged(next));
  EXPECT_EQ(DistinctPaths(cluster.sm(next)->paths()), size_t{kThreads * kPerThread + 30});
  EXPECT_EQ(cluster.sm(next)->paths().size(), size_t{kThreads * kPerThread + 30}) << "an entry applied twice";
  EXPECT_GT(cluster.sm(other)->entries_installed(), installed_before) << "the new leader ships effects too";
}

// Effects that do not decode, or never arrive, leave followers applying the entries themselves.
TEST(RaftJournalTest, UndecodableOrLostEffectsFallBackToApplying) {
  {
    TestCluster cluster(3, 0, /*seed=*/5, SnapshotSettings{}, /*follower_apply_delay_ms=*/20, /*ship_apply_effects=*/true);
    for (NodeId id : cluster.voters()) cluster.sm(id)->corrupt_effects = true;
    const NodeId leader = cluster.WaitForLeader();
    ASSERT_NE(leader, raft::kNoNode);
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(cluster.journal(leader)->Submit(Mkdir(absl::StrCat("/c", i))).ok());
    ASSERT_TRUE(cluster.WaitConverged(leader));
    for (NodeId id : cluster.voters()) {
      ASSERT_TRUE(TestCluster::WaitUntil(
          [&] { return cluster.journal(id)->status().applied == cluster.journal(leader)->status().applied; }, 10000));
      EXPECT_EQ(cluster.sm(id)->entries_installed(), 0u) << id;
      EXPECT_EQ(cluster.sm(id)->paths().size(), 40u) << id;
    }
  }
  {
    TestCluster cluster(5, 0, /*seed=*/43, SnapshotSettings{}, /*follower_apply_delay_ms=*/20, /*ship_apply_effects=*/true);
    NodeId leader = raft::kNoNode;
    ASSERT_NO_FATAL_FAILURE(SubmitThroughLossAndConverge(cluster, &leader));
    uint64_t installed = 0;
    for (NodeId id : cluster.voters()) installed += cluster.sm(id)->entries_installed();
    EXPECT_GT(installed, 0u);
  }
}

// The leader syncs its log off the driver thread: while its own sync is held back, followers
// have the entry and acknowledge it, yet it is neither committed nor applied anywhere (a commit
// rests on a majority of synced logs, the leader's unsynced copy does not count), and the
// leader keeps leading meanwhile. Once the sync completes, the entry commits.
TEST(RaftJournalTest, LeaderCommitsNothingBeyondItsOwnSyncedLog) {
  TestCluster cluster(3);
  const NodeId leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/synced")).ok());
  ASSERT_TRUE(cluster.WaitConverged(leader));
  const raft::Index before = cluster.storage(leader)->last_index();
  cluster.storage(leader)->hold_syncs = true;
  std::atomic<bool> done{false};
  absl::StatusOr<Appended> appended = absl::UnknownError("not run");
  std::thread proposer([&] {
    appended = cluster.journal(leader)->Append(Mkdir("/held"));
    done = true;
  });
  std::vector<NodeId> followers;
  for (NodeId id : cluster.voters()) {
    if (id != leader) followers.push_back(id);
  }
  // Both followers hold the entry (and have acknowledged it) ...
  ASSERT_TRUE(TestCluster::WaitUntil([&] {
    for (NodeId id : followers) {
      if (cluster.storage(id)->last_index() <= before) return false;
    }
    return true;
  }, 10000));
  EXPECT_GT(cluster.storage(leader)->unsynced_saves.load(), 0) << "the leader never wrote unsynced";
  // ... but nothing commits while the leader's own copy is unsynced, though it stays leader.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done.load()) << "committed on the leader's unsynced log";
  for (NodeId id : cluster.voters()) {
    EXPECT_EQ(cluster.sm(id)->paths().size(), 1u) << "node " << id << " applied an entry not on a majority of synced logs";
  }
  EXPECT_TRUE(cluster.journal(leader)->status().serving);
  cluster.storage(leader)->hold_syncs = false;
  proposer.join();
  ASSERT_TRUE(appended.ok()) << appended.status();
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(cluster.sm(leader)->paths().back(), "/held");
}

TEST(RaftJournalTest, IsolatedLeaderStopsServingAndMajorityMovesOn) {
  TestCluster cluster(3);
  const NodeId old_leader = cluster.WaitForLeader();
  ASSERT_NE(old_leader, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/before")).ok());
  const raft::Term old_term = cluster.journal(old_leader)->status().term;

  cluster.network().Isolate(old_leader);
  // An append on the isolated leader cannot commit; it ends when the leader steps down
  // (check-quorum), with an unknown outcome.
  absl::StatusOr<Appended> stranded = cluster.journal(old_leader)->Append(Mkdir("/stranded"));
  EXPECT_TRUE(absl::IsUnavailable(stranded.status())) << stranded.status();
  EXPECT_TRUE(IsOutcomeUnknown(stranded.status())) << stranded.status();
  EXPECT_FALSE(cluster.journal(old_leader)->status().serving);
  EXPECT_FALSE(cluster.journal(old_leader)->ConfirmRead(0).ok());
  EXPECT_FALSE(cluster.journal(old_leader)->Append(Mkdir("/refused")).ok());

  const NodeId new_leader = cluster.WaitForLeader({old_leader});
  ASSERT_NE(new_leader, raft::kNoNode);
  EXPECT_GT(cluster.journal(new_leader)->status().term, old_term);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/after"), {old_leader}).ok());

  cluster.network().Heal();
  ASSERT_TRUE(cluster.WaitConverged(new_leader));
  const std::vector<std::string> paths = cluster.sm(old_leader)->paths();
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "/before"), 1);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "/after"), 1);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "/stranded"), 0) << "an uncommitted entry was applied";
}

// A tenth of the snapshot interval before a snapshot is due, the state machine is told to
// prepare (the metastore then flushes in the background, so the snapshot stalls the driver
// less); once per snapshot.
TEST(RaftJournalTest, StateMachineIsPreparedOnceAheadOfEachSnapshot) {
  TestCluster cluster(1, 0, /*seed=*/3, SnapshotSettings{/*entries=*/50, /*keep=*/5});
  ASSERT_EQ(cluster.WaitForLeader(), 1u);
  for (int i = 0; i < 120; ++i) ASSERT_TRUE(cluster.journal(1)->Submit(Mkdir(absl::StrCat("/p", i))).ok());
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return cluster.sm(1)->snapshots_created() >= 2; }, 10000));
  const std::vector<uint64_t> prepared = cluster.sm(1)->prepared_at();
  ASSERT_GE(prepared.size(), 2u);
  // Due at 50 and 100 (plus the entries of elections): prepared from 45 and 95 on, not before.
  EXPECT_GE(prepared[0], 45u);
  EXPECT_LT(prepared[0], 50u + 2);
  EXPECT_GE(prepared[1], prepared[0] + 45);
  EXPECT_LE(prepared.size(), 3u);
}

TEST(RaftJournalTest, LossyDuplicatingNetworkStillConverges) {
  TestCluster cluster(5, 0, /*seed=*/42);
  NodeId leader = raft::kNoNode;
  SubmitThroughLossAndConverge(cluster, &leader);
}

TEST(RaftJournalTest, RestartedFollowerAndWholeClusterKeepEveryCommittedEntry) {
  TestCluster cluster(3);
  NodeId leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  const NodeId follower = leader % 3 + 1;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir(absl::StrCat("/a", i))).ok());
  cluster.Stop(follower);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir(absl::StrCat("/b", i))).ok());
  cluster.Start(follower);
  leader = cluster.WaitForLeader();
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(DistinctPaths(cluster.sm(follower)->paths()), 40u);

  for (NodeId id : cluster.voters()) cluster.Stop(id);
  for (NodeId id : cluster.voters()) cluster.Start(id);
  leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/c")).ok());
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(DistinctPaths(cluster.sm(leader)->paths()), 41u);
  EXPECT_EQ(cluster.sm(leader)->paths().back(), "/c");
}

TEST(RaftJournalTest, FollowerFarBehindCatchesUpBySnapshotAndRestartsFromIt) {
  TestCluster cluster(3, 0, 7, SnapshotSettings{/*entries=*/20, /*keep=*/5});
  NodeId leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  const NodeId lagging = leader % 3 + 1;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir(absl::StrCat("/a", i))).ok());
  cluster.Stop(lagging);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir(absl::StrCat("/b", i)), {lagging}).ok());
  leader = cluster.WaitForLeader({lagging});
  ASSERT_NE(leader, raft::kNoNode);
  // The leader compacted its log past everything the lagging node has.
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return cluster.journal(leader)->status().first_index > 12; }, 10000));
  EXPECT_GT(cluster.sm(leader)->snapshots_created(), 0);
  cluster.Start(lagging);
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(DistinctPaths(cluster.sm(lagging)->paths()), 110u);
  EXPECT_EQ(cluster.sm(lagging)->snapshots_installed(), 1) << "caught up from the log instead of a snapshot";
  EXPECT_GT(cluster.network().snapshots_delivered(), 0);
  EXPECT_GT(cluster.journal(lagging)->status().snapshot_index, 10u);

  // Everyone restarts from snapshot + log, and goes on.
  for (NodeId id : cluster.voters()) cluster.Stop(id);
  for (NodeId id : cluster.voters()) cluster.Start(id);
  leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/c")).ok());
  ASSERT_TRUE(cluster.WaitConverged(leader));
  EXPECT_EQ(DistinctPaths(cluster.sm(lagging)->paths()), 111u);
  // A snapshot on request, of the state applied when it ran (a leadership change on a loaded
  // machine may apply a new leader's no-op meanwhile).
  const raft::Index applied_before = cluster.journal(leader)->status().applied;
  absl::StatusOr<raft::Index> checkpoint = cluster.journal(leader)->Checkpoint();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_GE(*checkpoint, applied_before);
  EXPECT_LE(*checkpoint, cluster.journal(leader)->status().applied);
}

TEST(RaftJournalTest, MembershipGrowsToFiveAndShrinksBackUnderLoadAndLeadershipMoves) {
  TestCluster cluster(3, /*save_delay_ms=*/1, 11, SnapshotSettings{/*entries=*/200, /*keep=*/50});
  ASSERT_NE(cluster.WaitForLeader(), raft::kNoNode);
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      if (cluster.SubmitAnywhere(Mkdir(absl::StrCat("/w", i))).ok()) written.fetch_add(1);
    }
  });
  auto leader_journal = [&] { return cluster.journal(cluster.WaitForLeader()); };
  for (int i = 0; i < 30 && written.load() < 60; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // A joiner learns the membership from the leader; as a learner it does not vote.
  for (NodeId id : {4u, 5u}) {
    cluster.AddJoiner(id);
    absl::Status added = leader_journal()->AddVoter(id, absl::StrCat("ctx", id), 20000);
    ASSERT_TRUE(added.ok()) << added;
  }
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return leader_journal()->status().membership.voters.size() == 5; }, 10000));
  EXPECT_EQ(leader_journal()->status().membership.contexts.at(4), "ctx4");
  EXPECT_TRUE(absl::IsAlreadyExists(leader_journal()->AddVoter(4, "ctx4", 1000)));
  // Hand the leadership to a new member, then shrink back (the old leader included).
  ASSERT_TRUE(leader_journal()->TransferLeadership(5, 20000).ok());
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return cluster.journal(5)->status().serving; }, 20000));
  for (NodeId id : {1u, 2u}) {
    absl::Status removed = leader_journal()->RemoveNode(id);
    ASSERT_TRUE(removed.ok()) << removed;
  }
  ASSERT_TRUE(TestCluster::WaitUntil([&] {
    const raft::Membership m = leader_journal()->status().membership;
    return m.voters == std::set<NodeId>{3, 4, 5};
  }, 10000));
  const int before = written.load();
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return written.load() > before + 20; }, 20000)) << "writes stalled";
  stop = true;
  writer.join();
  const NodeId leader = cluster.WaitForLeader({1, 2});
  ASSERT_NE(leader, raft::kNoNode);
  EXPECT_TRUE(leader == 3 || leader == 4 || leader == 5);
  // The remaining members agree; the removed ones no longer take part.
  ASSERT_TRUE(TestCluster::WaitUntil([&] {
    return cluster.sm(4)->paths() == cluster.sm(leader)->paths() && cluster.sm(3)->paths() == cluster.sm(leader)->paths();
  }, 20000));
  EXPECT_GE(static_cast<int>(cluster.sm(leader)->paths().size()), written.load());
}

TEST(RaftJournalTest, StorageFailureIsFailStopAndTheOthersTakeOver) {
  TestCluster cluster(3);
  const NodeId leader = cluster.WaitForLeader();
  ASSERT_NE(leader, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/ok")).ok());
  cluster.storage(leader)->fail_saves = true;
  absl::StatusOr<Appended> failed = cluster.journal(leader)->Append(Mkdir("/lost"));
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(cluster.fatal_errors(leader), 1);
  EXPECT_FALSE(cluster.journal(leader)->status().error.ok());
  // Every later call fails; the node neither sends nor votes any more.
  EXPECT_FALSE(cluster.journal(leader)->Append(Mkdir("/later")).ok());
  const NodeId next = cluster.WaitForLeader({leader});
  ASSERT_NE(next, raft::kNoNode);
  ASSERT_TRUE(cluster.SubmitAnywhere(Mkdir("/next"), {leader}).ok());
  EXPECT_FALSE(cluster.journal(leader)->status().serving);
}

TEST(RaftJournalTest, ReplaysTheDurableLogIntoAFreshStateMachine) {
  const std::string dir = (std::filesystem::path(::testing::TempDir()) / absl::StrCat("raft-journal-", ::getpid())).string();
  std::filesystem::remove_all(dir);
  InProcessRaftNetwork network;
  auto transport = network.TransportFor(1);
  {
    auto store = RaftLogStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status();
    TestStateMachine sm;
    auto journal = RaftJournal::Open(TestOptions(1, {1}), store->get(), &sm, transport.get(), RealClock());
    ASSERT_TRUE(journal.ok()) << journal.status();
    (*journal)->Start();
    ASSERT_TRUE(TestCluster::WaitUntil([&] { return (*journal)->status().serving; }, 20000));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*journal)->Submit(Mkdir(absl::StrCat("/r", i))).ok());
  }
  auto store = RaftLogStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  TestStateMachine sm;  // as if the metastore had lost its unsynced tail entirely
  auto journal = RaftJournal::Open(TestOptions(1, {1}), store->get(), &sm, transport.get(), RealClock());
  ASSERT_TRUE(journal.ok()) << journal.status();
  (*journal)->Start();
  ASSERT_TRUE(TestCluster::WaitUntil([&] { return (*journal)->status().serving; }, 20000));
  EXPECT_EQ(sm.paths().size(), 10u);
  EXPECT_EQ(sm.paths().back(), "/r9");
  (*journal)->Stop();
  std::filesystem::remove_all(dir);
}

TEST(RaftJournalTest, RefusesAStateMachineAheadOfTheLog) {
  MemStorage storage;
  TestStateMachine sm;
  ASSERT_TRUE(sm.Apply(1, Mkdir("/x")).ok());
  InProcessRaftNetwork network;
  auto transport = network.TransportFor(1);
  auto journal = RaftJournal::Open(TestOptions(1, {1}), &storage, &sm, transport.get(), RealClock());
  EXPECT_TRUE(absl::IsFailedPrecondition(journal.status())) << journal.status();
}

}  // namespace
}  // namespace cistern::journal
