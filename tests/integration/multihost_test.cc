// The deployment topology of docker/compose.yaml as a test: every daemon on its own "host" (a
// Linux network namespace with its own address, src/testing/netns.h), clients on another. The
// under-store is a directory all hosts see (like NFS), the cache is per worker.
//
// Three masters (m1..m3) form one Raft group (master.raft.peers); clients and workers find the
// serving leader from that list. The scenario: write from the client host, read from a worker
// host, kill the worker caching the data and read again; kill -9 the leading master, and the
// other two elect a new one that serves the same namespace (old data reads, new writes land);
// the killed master restarts and catches up. All across the namespaces' network; `admin
// log-level` reaches every daemon's HTTP port remotely.
#include <signal.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "cluster_fixture.h"
#include "testing/netns.h"

namespace cistern {
namespace {

using testing::BinDir;
using testing::CommandResult;
using testing::DiffFiles;
using testing::kMiB;
using testing::NetnsNetwork;
using testing::RunCommand;
using testing::Subprocess;
using testing::WaitFor;
using testing::WriteRandomFile;
namespace fs = std::filesystem;

class MultiHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto net = NetnsNetwork::Create({"m1", "m2", "m3", "w1", "w2", "client"});
    if (!net.ok()) GTEST_SKIP() << "network namespaces unavailable here: " << net.status();
    net_ = *std::move(net);
    dir_ = absl::StrCat(::testing::TempDir(), "/cistern-multihost-", ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/conf");
    fs::create_directories(dir_ + "/underfs");
    std::ofstream(dir_ + "/conf/cistern.properties")
        << "master.raft.peers=1@" << net_->Address("m1") << ":7700:7701,2@" << net_->Address("m2")
        << ":7700:7701,3@" << net_->Address("m3") << ":7700:7701\n"
        << "master.mount.root.ufs=file://" << dir_ << "/underfs\n"
        << "master.worker.timeout=3s\n"
        << "worker.heartbeat.interval=200ms\n"
        << "worker.tier.mem.quota=256MiB\n"
        << "user.rpc.retry_window=20s\n";
    env_ = {{"CISTERN_CONF_DIR", dir_ + "/conf"}};
  }

  void TearDown() override {
    if (HasFailure()) {
      for (auto& [name, p] : daemons_) std::cerr << "--- " << name << " ---\n" << p->OutputTail() << "\n";
    }
    daemons_.clear();  // SIGKILL before the namespaces go
    for (const std::string& host : {"w1", "w2"}) fs::remove_all(MemDir(host));
    net_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string MemDir(const std::string& host) const { return absl::StrCat("/dev/shm/cistern-mh-", ::getpid(), "-", host); }

  void Start(const std::string& host, const std::string& daemon, std::vector<std::string> conf) {
    std::vector<std::string> argv = {BinDir() + "/" + daemon};
    for (const std::string& c : conf) {
      argv.push_back("--conf");
      argv.push_back(c);
    }
    auto p = std::make_unique<Subprocess>(net_->Exec(host, argv), absl::StrCat(dir_, "/", host, ".out"), env_);
    ASSERT_TRUE(p->Start().ok());
    daemons_[host] = std::move(p);
  }

  void StartMaster(const std::string& host) {
    Start(host, "cistern-master",
          {"master.hostname=" + net_->Address(host), "cistern.home=" + dir_ + "/" + host});
  }
  void StartWorker(const std::string& host) {
    Start(host, "cistern-worker",
          {"worker.hostname=" + net_->Address(host), "cistern.home=" + dir_ + "/" + host,
           "worker.tier.mem.dir=" + MemDir(host)});
  }

  // The CLI on `host`.
  CommandResult Cli(const std::string& host, std::vector<std::string> args) {
    args.insert(args.begin(), BinDir() + "/cistern");
    return RunCommand(net_->Exec(host, args), 120000, env_);
  }
  std::string CliOk(const std::string& host, std::vector<std::string> args) {
    const std::string shown = absl::StrJoin(args, " ");
    CommandResult r = Cli(host, std::move(args));
    EXPECT_EQ(r.exit_code, 0) << "on " << host << ": cistern " << shown << "\n" << r.output;
    return r.output;
  }

  // The host of the master that serves as leader, "" if none does (or several claim to).
  std::string LeaderHost() {
    CommandResult r = Cli("client", {"admin", "journal", "info"});
    std::string leader;
    for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
      if (!absl::EndsWith(absl::StripTrailingAsciiWhitespace(line), " yes")) continue;
      for (const std::string& host : {"m1", "m2", "m3"}) {
        if (absl::StartsWith(line, net_->Address(host) + ":7700 ")) {
          if (!leader.empty()) return "";
          leader = host;
        }
      }
    }
    return leader;
  }

  int LiveWorkers() {
    CommandResult r = Cli("client", {"admin", "report", "--json"});
    if (r.exit_code != 0) return -1;
    int live = 0;
    for (size_t at = r.output.find("\"LIVE\""); at != std::string::npos; at = r.output.find("\"LIVE\"", at + 1)) ++live;
    return live;
  }

  std::unique_ptr<NetnsNetwork> net_;
  std::string dir_;
  std::map<std::string, std::string> env_;
  std::map<std::string, std::unique_ptr<Subprocess>> daemons_;
};

TEST_F(MultiHostTest, WriteOnOneHostReadOnAnotherSurviveAWorkerKillAndAMasterKill) {
  for (const std::string& host : {"m1", "m2", "m3"}) StartMaster(host);
  std::string leader;
  ASSERT_TRUE(WaitFor([&] { return !(leader = LeaderHost()).empty(); }, 60000)) << "no master became the leader";
  StartWorker("w1");
  StartWorker("w2");
  ASSERT_TRUE(WaitFor([&] { return LiveWorkers() == 2; }, 60000)) << "workers did not register across hosts";

  const std::string local = dir_ + "/data.bin";
  WriteRandomFile(local, 6 * kMiB, 11);
  CliOk("client", {"fs", "mkdir", "-p", "/shared"});
  CliOk("client", {"fs", "put", "--write-type", "CACHE_THROUGH", "--block-size", "1MiB", local, "/shared/data.bin"});

  // Read on a worker's host (a different machine from the writer's).
  CliOk("w2", {"fs", "get", "/shared/data.bin", dir_ + "/read-w2.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read-w2.bin"), "");

  // Which worker caches the blocks: its address is in the block locations.
  const std::string stat = CliOk("client", {"fs", "stat", "/shared/data.bin"});
  std::string holder;
  for (const std::string& host : {"w1", "w2"}) {
    if (absl::StrContains(stat, net_->Address(host) + ":7710")) holder = host;
  }
  ASSERT_FALSE(holder.empty()) << stat;
  EXPECT_TRUE(absl::StrContains(stat, "In cache:           6291456 of 6291456 bytes (100%)")) << stat;

  // Every daemon's HTTP port answers from the client host.
  const std::string levels = CliOk("client", {"admin", "log-level"});
  for (const std::string& host : {"m1", "m2", "m3"}) {
    EXPECT_TRUE(absl::StrContains(levels, absl::StrCat("master ", net_->Address(host), ":7700: info"))) << levels;
  }
  EXPECT_TRUE(absl::StrContains(levels, net_->Address("w1") + ":7710: info")) << levels;
  EXPECT_TRUE(absl::StrContains(levels, net_->Address("w2") + ":7710: info")) << levels;

  // Kill the worker that caches the data; reads go on through the other one.
  daemons_[holder]->Kill();
  CliOk("client", {"fs", "get", "/shared/data.bin", dir_ + "/read-after-kill.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read-after-kill.bin"), "");
  ASSERT_TRUE(WaitFor([&] { return LiveWorkers() == 1; }, 30000)) << "the master did not mark the killed worker lost";
  CliOk("w2", {"fs", "get", "/shared/data.bin", dir_ + "/read-again.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read-again.bin"), "");

  // Kill -9 the leading master. A read issued at once retries within user.rpc.retry_window until
  // the other two have elected a leader, which serves the whole namespace; once the surviving
  // worker has registered with it, new writes land too.
  daemons_[leader]->Kill();
  const std::string old_leader = leader;
  CliOk("client", {"fs", "get", "/shared/data.bin", dir_ + "/read-during-failover.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read-during-failover.bin"), "");
  ASSERT_TRUE(WaitFor([&] { return !(leader = LeaderHost()).empty(); }, 60000)) << "no new leader";
  EXPECT_NE(leader, old_leader);
  ASSERT_TRUE(WaitFor([&] { return LiveWorkers() == 1; }, 30000)) << "the worker did not register with the new leader";
  const std::string local2 = dir_ + "/data2.bin";
  WriteRandomFile(local2, 3 * kMiB, 12);
  CliOk("client", {"fs", "put", "--write-type", "CACHE_THROUGH", "--block-size", "1MiB", local2, "/shared/data2.bin"});
  CliOk("w2", {"fs", "get", "/shared/data2.bin", dir_ + "/read2.bin"});
  EXPECT_EQ(DiffFiles(local2, dir_ + "/read2.bin"), "");

  // The killed master restarts from its own Raft state and catches up as a follower.
  StartMaster(old_leader);
  ASSERT_TRUE(WaitFor([&] {
    CommandResult r = Cli("client", {"admin", "journal", "info"});
    return r.exit_code == 0 && !absl::StrContains(r.output, "unreachable");
  }, 60000)) << Cli("client", {"admin", "journal", "info"}).output;
  EXPECT_TRUE(WaitFor([&] { return !LeaderHost().empty(); }, 30000));
  const std::string listing = CliOk("client", {"fs", "ls", "/shared"});
  EXPECT_TRUE(absl::StrContains(listing, "data2.bin")) << listing;
}

}  // namespace
}  // namespace cistern
