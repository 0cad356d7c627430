// A Raft group of real cistern-master processes for the HA tests: N masters on free ports (or on
// hosts of a TestNetwork, each in its own network namespace), one peer list, a home directory
// each, one shared under-store directory. Masters can be killed (SIGKILL), stopped and
// restarted; every process is killed and every directory removed when the cluster is destroyed,
// also when a test fails (and the daemons die with the test process via PR_SET_PDEATHSIG).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "rpc/master_client.h"
#include "testing/subprocess.h"

namespace cistern::testing {

struct HaMaster {
  uint64_t id = 0;
  std::string host = "127.0.0.1";
  int rpc_port = 0;
  int raft_port = 0;
  int http_port = 0;
  std::vector<std::string> exec_prefix;  // e.g. {"ip", "netns", "exec", "<ns>"}
  std::unique_ptr<Subprocess> process;
  int starts = 0;

  std::string rpc_address() const { return absl::StrCat(host, ":", rpc_port); }
  std::string peer() const { return absl::StrCat(id, "@", host, ":", rpc_port, ":", raft_port); }
};

class HaCluster {
 public:
  // `hosts`: one address per master (their namespaces given by `exec_prefixes`), or empty for
  // `n` masters on 127.0.0.1. `extra_conf`: more --conf key=value settings for every master.
  HaCluster(std::string name, int n, std::vector<std::string> extra_conf = {},
            std::vector<std::string> hosts = {}, std::vector<std::vector<std::string>> exec_prefixes = {})
      : extra_conf_(std::move(extra_conf)) {
    dir_ = absl::StrCat(::testing::TempDir(), "/cistern-ha-", ::getpid(), "-", name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "/ufs");
    std::filesystem::create_directories(dir_ + "/conf");
    std::ofstream(dir_ + "/conf/cistern.properties") << "# the HA tests pass every setting with --conf\n";
    for (int i = 0; i < n; ++i) {
      auto m = std::make_unique<HaMaster>();
      m->id = static_cast<uint64_t>(i + 1);
      if (!hosts.empty()) m->host = hosts[i];
      if (!exec_prefixes.empty()) m->exec_prefix = exec_prefixes[i];
      m->rpc_port = PickUnusedPort();
      m->raft_port = PickUnusedPort();
      m->http_port = PickUnusedPort();
      masters_.push_back(std::move(m));
    }
  }

  ~HaCluster() {
    if (::testing::Test::HasFailure()) {
      for (auto& m : masters_) {
        if (m->process) std::cerr << "--- master " << m->id << " ---\n" << m->process->OutputTail(6000) << "\n";
      }
    }
    for (auto& m : masters_) m->process.reset();
    if (std::getenv("CISTERN_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir_);
  }

  int size() const { return static_cast<int>(masters_.size()); }
  HaMaster& master(int i) { return *masters_[i]; }
  const std::string& dir() const { return dir_; }

  // The peer list of the first `n` masters (default all).
  std::string Peers(int n = -1) const {
    std::vector<std::string> peers;
    for (int i = 0; i < (n < 0 ? size() : n); ++i) peers.push_back(masters_[i]->peer());
    return absl::StrJoin(peers, ",");
  }
  std::vector<std::string> Addresses() const {
    std::vector<std::string> out;
    for (const auto& m : masters_) out.push_back(m->rpc_address());
    return out;
  }

  static std::string BinDir() {
    return std::getenv("CISTERN_BUILD_DIR") != nullptr ? absl::StrCat(std::getenv("CISTERN_BUILD_DIR"), "/bin") : "./bin";
  }

  // Starts master i (0-based) with `peers` (default: the whole cluster) and `extra` settings.
  void Start(int i, const std::string& peers = "", const std::vector<std::string>& extra = {}) {
    HaMaster& m = *masters_[i];
    std::vector<std::string> argv = m.exec_prefix;
    argv.push_back(BinDir() + "/cistern-master");
    for (const std::string& kv :
         std::vector<std::string>{absl::StrCat("cistern.home=", dir_, "/m", m.id), "master.hostname=" + m.host,
                                  absl::StrCat("master.rpc.port=", m.rpc_port),
                                  absl::StrCat("master.http.port=", m.http_port),
                                  "master.raft.peers=" + (peers.empty() ? Peers() : peers),
                                  "master.mount.root.ufs=" + dir_ + "/ufs", "log.dir=" + dir_ + "/logs-" +
                                  std::to_string(m.id), "master.worker.timeout=10s"}) {
      argv.push_back("--conf");
      argv.push_back(kv);
    }
    const std::vector<std::string>* const all_settings[] = {&extra_conf_, &extra};
    for (const std::vector<std::string>* settings : all_settings) {
      for (const std::string& kv : *settings) {
        argv.push_back("--conf");
        argv.push_back(kv);
      }
    }
    m.process = std::make_unique<Subprocess>(argv, absl::StrCat(dir_, "/m", m.id, ".out"));
    ++m.starts;
    ASSERT_TRUE(m.process->Start().ok());
  }
  void StartAll() {
    for (int i = 0; i < size(); ++i) Start(i);
  }
  void Kill(int i) {
    if (masters_[i]->process) masters_[i]->process->Kill();
  }
  void Stop(int i) {
    HaMaster& m = *masters_[i];
    if (!m.process || !m.process->running()) return;
    m.process->Signal(SIGTERM);
    if (!m.process->Wait(20000).ok()) m.process->Kill();
  }
  bool running(int i) { return masters_[i]->process && masters_[i]->process->running(); }

  // Runs the `cistern` CLI with `args`, its master list every master of the cluster.
  CommandResult Cli(const std::vector<std::string>& args, int64_t timeout_ms = 120000) const {
    std::vector<std::string> argv = {BinDir() + "/cistern", "--conf",
                                     "master.rpc.addresses=" + absl::StrJoin(Addresses(), ",")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, timeout_ms, {{"CISTERN_CONF_DIR", dir_ + "/conf"}});
  }

  // A client of the whole group (follows the leader).
  std::unique_ptr<rpc::MasterClient> Client(int64_t retry_window_ms = 30000, int64_t rpc_timeout_ms = 5000) const {
    rpc::MasterClientOptions options;
    options.addresses = Addresses();
    options.rpc_timeout_ms = rpc_timeout_ms;
    options.retry_window_ms = retry_window_ms;
    return std::make_unique<rpc::MasterClient>(options);
  }
  // A client of master i only (no failover, no retries).
  std::unique_ptr<rpc::MasterClient> Pinned(int i, int64_t rpc_timeout_ms = 3000) const {
    rpc::MasterClientOptions options;
    options.addresses = {masters_[i]->rpc_address()};
    options.follow_leader = false;
    options.retry_window_ms = 0;
    options.rpc_timeout_ms = rpc_timeout_ms;
    return std::make_unique<rpc::MasterClient>(options);
  }

  absl::StatusOr<proto::GetJournalInfoResponse> Info(int i) const { return Pinned(i, 2000)->GetJournalInfo({}); }

  // The index of the master that serves as leader (among `candidates`, default all running),
  // once exactly one does; -1 on timeout.
  int WaitForLeader(int64_t timeout_ms = 30000, std::vector<int> candidates = {}) {
    if (candidates.empty()) {
      for (int i = 0; i < size(); ++i) candidates.push_back(i);
    }
    int leader = -1;
    WaitFor([&] {
      leader = -1;
      int serving = 0;
      for (int i : candidates) {
        if (!running(i)) continue;
        auto info = Info(i);
        if (info.ok() && info->serving()) {
          leader = i;
          ++serving;
        }
      }
      return serving == 1;
    }, timeout_ms);
    return leader;
  }

  // True once masters `which` (default all running) report the same applied index as the
  // leader's commit index.
  bool WaitConverged(int64_t timeout_ms = 30000) {
    return WaitFor([&] {
      uint64_t applied = 0;
      bool first = true;
      for (int i = 0; i < size(); ++i) {
        if (!running(i)) continue;
        auto info = Info(i);
        if (!info.ok()) return false;
        if (first) applied = info->applied_index();
        if (info->applied_index() != applied) return false;
        first = false;
      }
      return true;
    }, timeout_ms);
  }

 private:
  std::string dir_;
  std::vector<std::string> extra_conf_;
  std::vector<std::unique_ptr<HaMaster>> masters_;
};

}  // namespace cistern::testing
