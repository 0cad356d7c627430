// A leader cut off from the network, with real processes: three masters, each on its own host (a
// Linux network namespace, src/testing/netns.h), the clients on a fourth. The leader's link goes
// down; the other two elect a new leader that takes writes; the old one stops serving (Raft
// check-quorum), so a client that reaches only it (the CLI on its own host, over loopback) gets
// UNAVAILABLE for reads and writes instead of a stale namespace. Once the link is back, the old
// leader rejoins as a follower (pre-vote: it does not depose the new leader), catches up, and
// holds every write made while it was away (shown by handing it the leadership and reading).
//
// The test process itself cannot reach the namespaces, so every client runs as the `cistern` CLI
// inside one (`ip netns exec`). Namespaces, veths and processes go away with the test, also on a
// failure (HaCluster and NetnsNetwork destructors; the daemons also die with the test process).
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "ha_cluster.h"
#include "nlohmann/json.hpp"
#include "testing/netns.h"

namespace cistern {
namespace {

using testing::CommandResult;
using testing::HaCluster;
using testing::NetnsNetwork;
using testing::WaitFor;

const std::vector<std::string> kHosts = {"m1", "m2", "m3"};

class HaPartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto net = NetnsNetwork::Create({"m1", "m2", "m3", "client"});
    if (!net.ok()) GTEST_SKIP() << "network namespaces unavailable here: " << net.status();
    net_ = *std::move(net);
    std::vector<std::string> addresses;
    std::vector<std::vector<std::string>> prefixes;
    for (const std::string& host : kHosts) {
      addresses.push_back(net_->Address(host));
      prefixes.push_back(net_->Exec(host, {}));
    }
    cluster_ = std::make_unique<HaCluster>("partition", 3, std::vector<std::string>{}, addresses, prefixes);
  }
  void TearDown() override {
    cluster_.reset();  // the masters die before their namespaces go
    net_.reset();
  }

  // The CLI on `host`, its master list `masters` (default: every master), no retries beyond
  // `retry_window`.
  CommandResult Cli(const std::string& host, std::vector<std::string> args, std::vector<std::string> masters = {},
                    const std::string& retry_window = "20s") {
    if (masters.empty()) masters = cluster_->Addresses();
    std::vector<std::string> argv = {HaCluster::BinDir() + "/cistern", "--conf",
                                     "master.rpc.addresses=" + absl::StrJoin(masters, ","), "--conf",
                                     "user.rpc.retry_window=" + retry_window, "--conf", "user.rpc.timeout=3s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(net_->Exec(host, argv), 120000, {{"CISTERN_CONF_DIR", cluster_->dir() + "/conf"}});
  }
  std::string CliOk(const std::string& host, std::vector<std::string> args) {
    const std::string shown = absl::StrJoin(args, " ");
    CommandResult r = Cli(host, std::move(args));
    EXPECT_EQ(r.exit_code, 0) << "on " << host << ": cistern " << shown << "\n" << r.output;
    return r.output;
  }
  // Master i as seen from its own host over loopback (reachable while its link is down).
  std::string Loopback(int i) { return absl::StrCat("127.0.0.1:", cluster_->master(i).rpc_port); }

  // `admin journal info --json` of master i, asked from `host` (its own host: over loopback).
  std::optional<nlohmann::json> Info(int i, const std::string& host) {
    const std::string address = host == kHosts[i] ? Loopback(i) : cluster_->master(i).rpc_address();
    CommandResult r = Cli(host, {"admin", "journal", "info", "--json"}, {address});
    if (r.exit_code != 0) return std::nullopt;
    nlohmann::json j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
    if (j.is_discarded() || !j.contains("masters") || j["masters"].empty() || j["masters"][0].contains("error")) {
      return std::nullopt;
    }
    return j["masters"][0];
  }

  // The one master among `candidates` that serves as leader as seen from the client host; -1 if
  // none does by the deadline.
  int WaitForLeader(const std::vector<int>& candidates, int64_t timeout_ms = 60000) {
    int leader = -1;
    WaitFor([&] {
      leader = -1;
      int serving = 0;
      for (int i : candidates) {
        std::optional<nlohmann::json> info = Info(i, "client");
        if (info.has_value() && (*info)["serving"].get<bool>()) {
          leader = i;
          ++serving;
        }
      }
      return serving == 1;
    }, timeout_ms);
    return leader;
  }

  std::unique_ptr<NetnsNetwork> net_;
  std::unique_ptr<HaCluster> cluster_;
};

TEST_F(HaPartitionTest, IsolatedLeaderStepsDownMajorityServesAndTheOldLeaderRejoinsWithTheWrites) {
  cluster_->StartAll();
  const int old = WaitForLeader({0, 1, 2});
  ASSERT_GE(old, 0) << "no leader elected";
  const std::string old_host = kHosts[old];
  CliOk("client", {"fs", "mkdir", "-p", "/before/a"});
  const std::optional<nlohmann::json> old_info = Info(old, "client");
  ASSERT_TRUE(old_info.has_value());
  const uint64_t old_term = (*old_info)["term"].get<uint64_t>();

  // The leader's only link goes down: it can reach nobody, nobody can reach it.
  ASSERT_TRUE(net_->SetConnected(old_host, false).ok());
  std::vector<int> majority;
  for (int i = 0; i < 3; ++i) {
    if (i != old) majority.push_back(i);
  }
  const int next = WaitForLeader(majority);
  ASSERT_GE(next, 0) << "the majority elected no leader";
  // One CLI call may time out on a loaded machine: ask until it answers.
  std::optional<nlohmann::json> next_info;
  ASSERT_TRUE(WaitFor([&] {
    next_info = Info(next, "client");
    return next_info.has_value();
  }, 30000));
  EXPECT_GT((*next_info)["term"].get<uint64_t>(), old_term);

  // The majority takes writes (the client's master list still names the old leader first or
  // not; it finds the serving one).
  for (int k = 0; k < 5; ++k) CliOk("client", {"fs", "mkdir", "-p", absl::StrCat("/during/d", k)});
  CliOk("client", {"fs", "mv", "/before/a", "/during/moved"});

  // The old leader, seen over loopback on its own host, no longer claims to serve ...
  ASSERT_TRUE(WaitFor([&] {
    std::optional<nlohmann::json> info = Info(old, old_host);
    return info.has_value() && !(*info)["serving"].get<bool>() && (*info)["role"].get<std::string>() != "leader";
  }, 30000)) << "the isolated leader did not step down";
  const std::optional<nlohmann::json> isolated = Info(old, old_host);
  ASSERT_TRUE(isolated.has_value());
  std::cerr << "isolated old leader: " << isolated->dump() << "\n";
  // ... and pre-vote kept it from inflating its term while it campaigned alone.
  EXPECT_LE((*isolated)["term"].get<uint64_t>(), (*next_info)["term"].get<uint64_t>());

  // A client that reaches only the old leader gets UNAVAILABLE for reads and writes, never the
  // namespace as it was before the partition.
  const std::vector<std::vector<std::string>> refused = {
      {"fs", "ls", "/before"},              // stale: would still list "a"
      {"fs", "stat", "/during/d0"},         // stale: would say it does not exist
      {"fs", "mkdir", "/stale-write"},
  };
  for (const std::vector<std::string>& args : refused) {
    CommandResult r = Cli(old_host, args, {Loopback(old)}, /*retry_window=*/"0s");
    EXPECT_NE(r.exit_code, 0) << "the isolated old leader answered `" << absl::StrJoin(args, " ") << "`:\n"
                              << r.output;
    EXPECT_TRUE(absl::StrContains(r.output, "not the leader")) << absl::StrJoin(args, " ") << ":\n" << r.output;
    EXPECT_FALSE(absl::StrContains(r.output, "does not exist")) << r.output;
    EXPECT_FALSE(absl::StrContains(r.output, "not found")) << r.output;
  }

  // Heal. The old leader learns of the new term and follows; the new leader stays.
  ASSERT_TRUE(net_->SetConnected(old_host, true).ok());
  const std::optional<nlohmann::json> next_now = Info(next, "client");
  ASSERT_TRUE(next_now.has_value());
  const uint64_t next_commit = (*next_now)["commit_index"].get<uint64_t>();
  ASSERT_TRUE(WaitFor([&] {
    std::optional<nlohmann::json> info = Info(old, "client");
    return info.has_value() && (*info)["role"].get<std::string>() == "follower" &&
           (*info)["leader_id"].get<uint64_t>() == cluster_->master(next).id &&
           (*info)["applied_index"].get<uint64_t>() >= next_commit;
  }, 60000)) << "the old leader did not rejoin and catch up: " << Cli("client", {"admin", "journal", "info"}).output;
  EXPECT_EQ(WaitForLeader({0, 1, 2}), next) << "the rejoining master deposed the new leader";

  // The write sent to it while it was isolated never happened.
  CommandResult stale = Cli("client", {"fs", "stat", "/stale-write"});
  EXPECT_NE(stale.exit_code, 0) << "a write refused by the isolated leader exists:\n" << stale.output;

  // Hand it the leadership: it serves every write made while it was cut off.
  CliOk("client", {"admin", "journal", "quorum", "elect", std::to_string(cluster_->master(old).id)});
  ASSERT_EQ(WaitForLeader({0, 1, 2}), old);
  const std::string listing = Cli(old_host, {"fs", "ls", "/during"}, {Loopback(old)}).output;
  for (const std::string& name : {"d0", "d1", "d2", "d3", "d4", "moved"}) {
    EXPECT_TRUE(absl::StrContains(listing, name)) << name << " missing on the old leader:\n" << listing;
  }
  CommandResult before = Cli(old_host, {"fs", "ls", "/before"}, {Loopback(old)});
  EXPECT_EQ(before.exit_code, 0) << before.output;
  EXPECT_FALSE(absl::StrContains(before.output, "/before/a")) << before.output;
  CliOk("client", {"fs", "mkdir", "/after"});
}

}  // namespace
}  // namespace cistern
