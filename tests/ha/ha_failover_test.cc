// Real masters on loopback: kill -9 the leader during a stream of creates and renames from
// several clients; every acknowledged operation is there after the failover, none was applied
// twice, and the killed master catches up when it returns. Then the whole group is killed and
// restarted, and the namespace is intact. A recorded history of random operations across a
// killed leader passes the linearizability checker.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ha_cluster.h"
#include "nlohmann/json.hpp"
#include "recorded_ops.h"

namespace cistern {
namespace {

using testing::HaCluster;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

proto::CreateFileRequest CreateRequest(const std::string& path) {
  proto::CreateFileRequest request;
  request.set_path(path);
  request.set_recursive(true);
  request.set_write_type(proto::MUST_CACHE);  // nothing in the under-store
  return request;
}

// What one client knows for certain about its own paths: acknowledged creates and renames.
struct Expectation {
  std::map<std::string, uint64_t> present;  // path -> file id
  std::set<std::string> absent;             // renamed away
  std::set<std::string> unknown;            // an operation on it had an unknown outcome
};

TEST(HaFailoverTest, KillLeaderDuringCreatesLosesNothingAndAppliesNothingTwice) {
  HaCluster cluster("failover", 3);
  cluster.StartAll();
  const int leader = cluster.WaitForLeader();
  ASSERT_GE(leader, 0) << "no leader elected";

  constexpr int kClients = 4;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> killed_at_ms{0};
  std::atomic<int> acked_after_kill{0};
  std::vector<int64_t> first_success_after_kill_ms(kClients, 0);
  std::vector<Expectation> expected(kClients);
  std::atomic<int> double_applied{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = cluster.Client(/*retry_window_ms=*/30000);
      Expectation& mine = expected[c];
      std::mt19937 rng(c);
      for (int j = 0; !stop; ++j) {
        const std::string path = absl::StrCat("/c", c, "/f", j);
        absl::StatusOr<proto::CreateFileResponse> created = client->CreateFile(CreateRequest(path));
        if (created.ok()) {
          mine.present[path] = created->info().file_id();
          if (killed_at_ms.load() != 0) {
            if (first_success_after_kill_ms[c] == 0) first_success_after_kill_ms[c] = NowMs();
            acked_after_kill.fetch_add(1);
          }
        } else if (absl::IsAlreadyExists(created.status())) {
          // Every path is created once: only a create applied twice can fail like this.
          double_applied.fetch_add(1);
          ADD_FAILURE() << path << ": " << created.status();
        } else {
          mine.unknown.insert(path);
        }
        if (j % 4 == 3 && mine.present.count(path) > 0) {
          const std::string dst = absl::StrCat("/c", c, "/g", j);
          proto::RenameRequest rename;
          rename.set_src_path(path);
          rename.set_dst_path(dst);
          absl::Status renamed = client->Rename(rename).status();
          if (renamed.ok()) {
            mine.present[dst] = mine.present[path];
            mine.present.erase(path);
            mine.absent.insert(path);
          } else {
            EXPECT_FALSE(absl::IsNotFound(renamed)) << "rename applied twice? " << renamed;
            mine.unknown.insert(path);
            mine.unknown.insert(dst);
            mine.present.erase(path);
          }
        }
        if (j % 3 == 2 && !mine.present.empty()) {
          auto it = mine.present.begin();
          std::advance(it, rng() % mine.present.size());
          proto::GetStatusRequest get;
          get.set_path(it->first);
          absl::StatusOr<proto::GetStatusResponse> status = client->GetStatus(get);
          if (status.ok()) EXPECT_EQ(status->info().file_id(), it->second) << it->first;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  killed_at_ms = NowMs();
  cluster.Kill(leader);
  // Keep the load on until every client has succeeded after the kill, and some more.
  ASSERT_TRUE(testing::WaitFor([&] { return acked_after_kill.load() >= 200; }, 60000))
      << "too few operations acknowledged after the failover: " << acked_after_kill.load();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(double_applied.load(), 0);
  int64_t worst_ms = 0;
  for (int c = 0; c < kClients; ++c) {
    ASSERT_GT(first_success_after_kill_ms[c], 0) << "client " << c << " never succeeded after the kill";
    worst_ms = std::max(worst_ms, first_success_after_kill_ms[c] - killed_at_ms.load());
  }
  std::cerr << "failover: leader killed to every client's next success: " << worst_ms << " ms\n";

  const int next = cluster.WaitForLeader();
  ASSERT_GE(next, 0);
  ASSERT_NE(next, leader);
  cluster.Start(leader);  // the killed master comes back and catches up

  auto verify = [&](const char* when) {
    auto client = cluster.Client();
    int checked = 0;
    for (int c = 0; c < kClients; ++c) {
      for (const auto& [path, id] : expected[c].present) {
        if (expected[c].unknown.count(path) > 0) continue;
        proto::GetStatusRequest get;
        get.set_path(path);
        absl::StatusOr<proto::GetStatusResponse> status = client->GetStatus(get);
        ASSERT_TRUE(status.ok()) << when << ": acknowledged " << path << " lost: " << status.status();
        EXPECT_EQ(status->info().file_id(), id) << when << ": " << path;
        ++checked;
      }
      for (const std::string& path : expected[c].absent) {
        if (expected[c].unknown.count(path) > 0) continue;
        proto::ExistsRequest exists;
        exists.set_path(path);
        absl::StatusOr<proto::ExistsResponse> answer = client->Exists(exists);
        ASSERT_TRUE(answer.ok()) << answer.status();
        EXPECT_FALSE(answer->exists()) << when << ": " << path << " was renamed away but is back";
      }
    }
    std::cerr << when << ": " << checked << " acknowledged files checked\n";
    EXPECT_GT(checked, 200);
  };
  verify("after failover");
  ASSERT_TRUE(cluster.WaitConverged()) << "the restarted master did not catch up";
  {
    // The master that followed all along installed the leaders' apply effects (default on).
    const auto info = cluster.Cli({"admin", "journal", "info", "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.output;
    const size_t start = info.output.find('{');
    ASSERT_NE(start, std::string::npos) << info.output;
    const nlohmann::json j = nlohmann::json::parse(info.output.substr(start), nullptr, false);
    ASSERT_TRUE(!j.is_discarded() && j.contains("masters")) << info.output;
    uint64_t from_effects = 0;
    for (const nlohmann::json& m : j["masters"]) from_effects += m.value("entries_from_effects", uint64_t{0});
    EXPECT_GT(from_effects, 0u) << info.output;
  }

  // The whole group dies at once and comes back.
  for (int i = 0; i < cluster.size(); ++i) cluster.Kill(i);
  cluster.StartAll();
  ASSERT_GE(cluster.WaitForLeader(), 0);
  verify("after restarting every master");
  ASSERT_TRUE(cluster.WaitConverged());
}

}  // namespace
}  // namespace cistern

namespace cistern {
namespace {

TEST(HaSnapshotTest, FollowerFarBehindCatchesUpBySnapshot) {
  testing::HaCluster cluster("snapshot", 3, {"master.raft.snapshot.entries=300", "master.raft.snapshot.keep_entries=50"});
  cluster.StartAll();
  const int leader = cluster.WaitForLeader();
  ASSERT_GE(leader, 0);
  const int lagging = (leader + 1) % 3;
  auto client = cluster.Client();
  proto::CreateDirectoryRequest mkdir;
  mkdir.set_path("/early");
  ASSERT_TRUE(client->CreateDirectory(mkdir).ok());
  ASSERT_TRUE(cluster.WaitConverged());
  const uint64_t lagging_last = cluster.Info(lagging)->last_index();
  cluster.Stop(lagging);

  constexpr int kDirs = 1000;
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      auto c = cluster.Client();
      for (int i = w; i < kDirs; i += 4) {
        proto::CreateDirectoryRequest request;
        request.set_path(absl::StrCat("/d/", i));
        request.set_recursive(true);
        ASSERT_TRUE(c->CreateDirectory(request).ok()) << i;
      }
    });
  }
  for (auto& t : writers) t.join();
  auto leader_info = cluster.Info(leader);
  ASSERT_TRUE(leader_info.ok());
  EXPECT_GT(leader_info->snapshot_index(), 0u) << "the leader took no snapshot";
  ASSERT_GT(leader_info->first_index(), lagging_last + 1) << "the leader's log still reaches the lagging master";

  cluster.Start(lagging);
  ASSERT_TRUE(cluster.WaitConverged(60000)) << "the lagging master did not catch up";
  auto caught_up = cluster.Info(lagging);
  ASSERT_TRUE(caught_up.ok());
  EXPECT_GT(caught_up->snapshot_index(), lagging_last) << "caught up without a snapshot";
  const std::string log = cluster.master(lagging).process->OutputTail(200000);
  EXPECT_NE(log.find("installed the snapshot"), std::string::npos);

  // Every acknowledged directory is there, and the group goes on taking writes.
  for (int i = 0; i < kDirs; i += 97) {
    proto::ExistsRequest exists;
    exists.set_path(absl::StrCat("/d/", i));
    EXPECT_TRUE(client->Exists(exists)->exists()) << i;
  }
  mkdir.set_path("/late");
  ASSERT_TRUE(client->CreateDirectory(mkdir).ok());
  ASSERT_TRUE(cluster.WaitConverged());
}

}  // namespace
}  // namespace cistern

namespace cistern {
namespace {

// Random creates, renames, deletes and reads of a few contended paths from several clients,
// the leader killed with SIGKILL in the middle and brought back: the recorded history must be
// linearizable (src/testing/lincheck.h), with no create id handed out twice.
TEST(HaLinearizabilityTest, HistoryAcrossAKilledLeaderIsLinearizable) {
  testing::HaCluster cluster("lincheck", 3);
  cluster.StartAll();
  const int leader = cluster.WaitForLeader();
  ASSERT_GE(leader, 0);
  testing::RecordedLoad load(/*clients=*/4, /*keys=*/6, [&] { return cluster.Client(/*retry_window_ms=*/30000); });
  ASSERT_TRUE(testing::WaitFor([&] { return load.completed() >= 300; }, 60000));
  cluster.Kill(leader);
  const int before_kill = load.completed();
  ASSERT_GE(cluster.WaitForLeader(30000), 0) << "no new leader";
  ASSERT_TRUE(testing::WaitFor([&] { return load.completed() >= before_kill + 300; }, 60000))
      << "the load stalled after the failover";
  cluster.Start(leader);
  ASSERT_TRUE(testing::WaitFor([&] { return load.completed() >= before_kill + 500; }, 60000));
  load.StopAndCheck();
  ASSERT_TRUE(cluster.WaitConverged());
}

}  // namespace
}  // namespace cistern
