// The fixture of the end-to-end tests: one cistern-master and cistern-worker processes on free
// loopback ports over a local under-store directory, used through the `cistern` CLI exactly as
// a user would. Every process is killed and every directory removed in TearDown, also when an
// assertion fails (and the daemons die with the test process via PR_SET_PDEATHSIG).
//
// A test derives from ClusterFixture; ExtraConf() adds configuration lines and NumWorkers()
// starts more workers.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cistern/proto/master.pb.h"
#include "gtest/gtest.h"
#include "rpc/master_client.h"
#include "rpc/worker_client.h"
#include "testing/subprocess.h"

namespace cistern::testing {

namespace fs = std::filesystem;

inline constexpr int64_t kMiB = 1 << 20;

inline std::string BinDir() {
  const char* build = std::getenv("CISTERN_BUILD_DIR");
  return std::string(build != nullptr ? build : ".") + "/bin";
}

// Writes `size` pseudo-random bytes (seeded, so failures reproduce) to `path`.
inline void WriteRandomFile(const std::string& path, int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path, std::ios::binary);
  std::vector<uint64_t> buf(kMiB / 8);
  for (int64_t done = 0; done < size; done += kMiB) {
    for (auto& w : buf) w = rng();
    out.write(reinterpret_cast<const char*>(buf.data()), std::min<int64_t>(kMiB, size - done));
  }
}

// Compares two files byte for byte; returns "" if identical, else where they differ.
inline std::string DiffFiles(const std::string& a, const std::string& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb) return absl::StrCat("cannot open ", a, " or ", b);
  std::vector<char> ba(kMiB), bb(kMiB);
  int64_t offset = 0;
  while (true) {
    fa.read(ba.data(), kMiB);
    fb.read(bb.data(), kMiB);
    if (fa.gcount() != fb.gcount()) return absl::StrCat("lengths differ near offset ", offset);
    if (fa.gcount() == 0) return "";
    if (std::memcmp(ba.data(), bb.data(), fa.gcount()) != 0) return absl::StrCat("bytes differ in MiB at ", offset);
    offset += fa.gcount();
  }
}

class ClusterFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/cistern-cluster-", ::getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/conf");
    fs::create_directories(dir_ + "/underfs");
    mem_dir_ = absl::StrCat("/dev/shm/cistern-it-", ::getpid());
    master_port_ = PickUnusedPort();
    worker_port_ = PickUnusedPort();
    master_http_port_ = PickUnusedPort();
    worker_http_port_ = PickUnusedPort();
    std::ofstream conf(dir_ + "/conf/cistern.properties");
    conf << "cistern.home=" << dir_ << "/home\n"
         << "master.hostname=127.0.0.1\n"
         << "master.rpc.port=" << master_port_ << "\n"
         << "master.http.port=" << master_http_port_ << "\n"
         << "master.mount.root.ufs=file://" << dir_ << "/underfs\n"
         << "master.worker.timeout=10s\n"
         << "worker.hostname=127.0.0.1\n"
         << "worker.rpc.port=" << worker_port_ << "\n"
         << "worker.http.port=" << worker_http_port_ << "\n"
         << "worker.tier.mem.dir=" << mem_dir_ << "\n"
         << "worker.tier.mem.quota=512MiB\n"
         << "worker.heartbeat.interval=200ms\n"
         << "user.rpc.retry_window=20s\n"
         << ExtraConf();
    conf.close();
    env_ = {{"CISTERN_CONF_DIR", dir_ + "/conf"}};
    rpc::MasterClientOptions options;
    options.addresses = {absl::StrCat("127.0.0.1:", master_port_)};
    options.rpc_timeout_ms = 5000;
    options.retry_window_ms = 0;
    master_client_ = std::make_unique<rpc::MasterClient>(options);
    worker_client_ = std::make_unique<rpc::WorkerClient>(absl::StrCat("127.0.0.1:", worker_port_),
                                                         rpc::WorkerClientOptions{});
    StartMaster();
    StartWorker();
    for (int i = 1; i < NumWorkers(); ++i) StartExtraWorker();
    WaitForLiveWorkers(NumWorkers());
  }

  // Lines appended to the cluster's cistern.properties (each ending in "\n").
  virtual std::string ExtraConf() const { return ""; }
  // Workers started by SetUp: worker_ and NumWorkers() - 1 in extra_workers_.
  virtual int NumWorkers() const { return 1; }

  // Another worker process on its own port and mem dir, with the cluster's configuration.
  void StartExtraWorker() {
    const int port = PickUnusedPort();
    const int http_port = PickUnusedPort();
    const std::string mem_dir = absl::StrCat(mem_dir_, "-", extra_workers_.size() + 1);
    extra_mem_dirs_.push_back(mem_dir);
    extra_worker_ports_.push_back(port);
    extra_worker_http_ports_.push_back(http_port);
    auto worker = std::make_unique<Subprocess>(
        std::vector<std::string>{BinDir() + "/cistern-worker", "--conf", absl::StrCat("worker.rpc.port=", port), "--conf",
                                 absl::StrCat("worker.http.port=", http_port), "--conf",
                                 absl::StrCat("worker.tier.mem.dir=", mem_dir)},
        absl::StrCat(dir_, "/worker-", extra_workers_.size() + 1, ".out"), env_);
    ASSERT_TRUE(worker->Start().ok());
    extra_workers_.push_back(std::move(worker));
  }

  void TearDown() override {
    if (HasFailure()) {
      if (master_) std::cerr << "--- master output ---\n" << master_->OutputTail() << "\n";
      if (worker_) std::cerr << "--- worker output ---\n" << worker_->OutputTail() << "\n";
    }
    if (HasFailure()) {
      for (auto& w : extra_workers_) {
        if (w) std::cerr << "--- extra worker output ---\n" << w->OutputTail() << "\n";
      }
    }
    master_.reset();
    worker_.reset();
    extra_workers_.clear();
    for (const std::string& d : extra_mem_dirs_) fs::remove_all(d);
    fs::remove_all(mem_dir_);
    fs::remove_all(dir_);
  }

  void StartMaster() {
    master_ = std::make_unique<Subprocess>(std::vector<std::string>{BinDir() + "/cistern-master"},
                                           dir_ + "/master.out", env_);
    ASSERT_TRUE(master_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return master_client_->GetMasterInfo({}).ok() || !master_->running(); }, 60000));
    ASSERT_TRUE(master_->running()) << master_->OutputTail();
  }

  void StartWorker() {
    worker_ = std::make_unique<Subprocess>(std::vector<std::string>{BinDir() + "/cistern-worker"},
                                           dir_ + "/worker.out", env_);
    ASSERT_TRUE(worker_->Start().ok());
  }

  // The master's view of `path`, block locations included (an empty FileInfo, and a test
  // failure, if the call fails).
  proto::FileInfo Stat(const std::string& path) {
    proto::GetStatusRequest get;
    get.set_path(path);
    get.set_include_block_locations(true);
    auto response = master_client_->GetStatus(get);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->info() : proto::FileInfo();
  }

  void WaitForLiveWorkers(int n) {
    bool ok = WaitFor([&] {
      auto workers = master_client_->GetWorkerInfoList({});
      if (!workers.ok()) return false;
      int live = 0;
      for (const auto& w : workers->workers()) live += w.state() == proto::LIVE;
      return live == n;
    }, 60000);
    ASSERT_TRUE(ok) << "workers did not register (want " << n << " live)\n" << worker_->OutputTail();
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), BinDir() + "/cistern");
    CommandResult r = RunCommand(args, 120000, env_);
    return r;
  }

  // Runs the CLI and requires success; returns its output.
  std::string CliOk(std::vector<std::string> args) {
    std::string shown = absl::StrJoin(args, " ");
    CommandResult r = Cli(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << "cistern " << shown << "\n" << r.output;
    return r.output;
  }

  int64_t Counter(const std::string& name) {
    auto metrics = worker_client_->GetMetrics();
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    if (!metrics.ok()) return -1;
    auto it = metrics->counters().find(name);
    return it == metrics->counters().end() ? 0 : it->second;
  }

  std::string dir_;
  std::string mem_dir_;
  int master_port_ = 0;
  int worker_port_ = 0;
  int master_http_port_ = 0;
  int worker_http_port_ = 0;
  std::map<std::string, std::string> env_;
  std::unique_ptr<rpc::MasterClient> master_client_;
  std::unique_ptr<rpc::WorkerClient> worker_client_;
  std::unique_ptr<Subprocess> master_;
  std::unique_ptr<Subprocess> worker_;
  std::vector<std::unique_ptr<Subprocess>> extra_workers_;
  std::vector<int> extra_worker_ports_;
  std::vector<int> extra_worker_http_ports_;
  std::vector<std::string> extra_mem_dirs_;
};

}  // namespace cistern::testing
