// Real masters on loopback: the Raft group grows from 3 masters to 5 and shrinks back to 3 with
// `cistern admin journal quorum add|elect|remove` while clients keep writing and reading; the
// recorded history passes the linearizability checker and the remaining masters agree.
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "ha_cluster.h"
#include "http/http_server.h"
#include "recorded_ops.h"

namespace cistern {
namespace {

using testing::CommandResult;
using testing::HaCluster;

// The ids of the voters and of the learners the serving leader reports.
struct Members {
  std::set<uint64_t> voters;
  std::set<uint64_t> learners;
};

Members LeaderMembers(HaCluster& cluster) {
  Members members;
  const int leader = cluster.WaitForLeader();
  if (leader < 0) return members;
  auto info = cluster.Info(leader);
  if (!info.ok()) return members;
  for (const proto::JournalPeerInfo& peer : info->voters()) {
    (peer.voter() ? members.voters : members.learners).insert(peer.id());
  }
  return members;
}

TEST(HaMembershipTest, ThreeToFiveAndBackUnderLoad) {
  HaCluster cluster("membership", 5);
  for (int i = 0; i < 3; ++i) cluster.Start(i, cluster.Peers(3));
  ASSERT_GE(cluster.WaitForLeader(), 0);
  testing::RecordedLoad load(/*clients=*/3, /*keys=*/5, [&] { return cluster.Client(/*retry_window_ms=*/30000); });
  ASSERT_TRUE(testing::WaitFor([&] { return load.completed() >= 200; }, 60000));

  // Masters 4 and 5 start knowing every peer but join only when added.
  for (int i = 3; i < 5; ++i) {
    cluster.Start(i, cluster.Peers(), {"master.raft.join=true"});
    EXPECT_LT(cluster.WaitForLeader(2000, {i}), 0) << "a joining master must not lead";
    const CommandResult added = cluster.Cli({"admin", "journal", "quorum", "add", cluster.master(i).peer()});
    ASSERT_EQ(added.exit_code, 0) << added.output;
    EXPECT_TRUE(absl::StrContains(added.output, "added as a voter")) << added.output;
  }
  Members members = LeaderMembers(cluster);
  EXPECT_EQ(members.voters, (std::set<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(members.learners.empty());
  // The leader's /metrics shows the group and how far each member has the log.
  {
    const int leader = cluster.WaitForLeader();
    ASSERT_GE(leader, 0);
    std::string text;
    EXPECT_TRUE(testing::WaitFor([&] {
      absl::StatusOr<http::HttpResult> metrics =
          http::Fetch("GET", absl::StrCat("127.0.0.1:", cluster.master(leader).http_port), "/metrics");
      text = metrics.ok() ? metrics->body : "";
      return absl::StrContains(text, "cistern_master_raft_members{kind=\"voter\"} 5\n") &&
             absl::StrContains(text, "cistern_master_raft_serving 1\n") &&
             absl::StrContains(text, "cistern_master_raft_match_index{peer=\"5\"} ") &&
             // The leader learned of at least one leader (itself).
             absl::StrContains(text, "cistern_master_raft_leader_changes_total ") &&
             !absl::StrContains(text, "cistern_master_raft_leader_changes_total 0\n") &&
             absl::StrContains(text, "cistern_master_raft_snapshots_total{kind=\"installed\"} ");
    }, 20000)) << text;
  }
  // Adding a voter again is refused with a clear message.
  const CommandResult again = cluster.Cli({"admin", "journal", "quorum", "add", cluster.master(3).peer()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(again.output, "already a voter")) << again.output;
  const CommandResult bad = cluster.Cli({"admin", "journal", "quorum", "remove", "x7"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(bad.output, "'x7'")) << bad.output;

  // The leadership moves to a new member; then the first two masters leave.
  const CommandResult elected = cluster.Cli({"admin", "journal", "quorum", "elect", "5"});
  ASSERT_EQ(elected.exit_code, 0) << elected.output;
  ASSERT_EQ(cluster.WaitForLeader(), 4);
  const int mark = load.completed();
  ASSERT_TRUE(testing::WaitFor([&] { return load.completed() >= mark + 100; }, 60000)) << "load stalled after elect";
  for (const char* id : {"1", "2"}) {
    const CommandResult removed = cluster.Cli({"admin", "journal", "quorum", "remove", id});
    ASSERT_EQ(removed.exit_code, 0) << removed.output;
  }
  members = LeaderMembers(cluster);
  EXPECT_EQ(members.voters, (std::set<uint64_t>{3, 4, 5}));
  cluster.Stop(0);
  cluster.Stop(1);

  // The three remaining masters carry on.
  const int after = load.completed();
  ASSERT_TRUE(testing::WaitFor([&] { return load.completed() >= after + 200; }, 60000)) << "load stalled";
  load.StopAndCheck();
  ASSERT_TRUE(cluster.WaitConverged());
  std::cerr << cluster.Cli({"admin", "journal", "info"}).output;
}

}  // namespace
}  // namespace cistern
