// End-to-end tests of a real cluster: one cistern-master and one cistern-worker process on free
// loopback ports over a local under-store directory, used through the `cistern` CLI exactly as
// a user would. Every process is killed and every directory removed in TearDown, also when an
// assertion fails (and the daemons die with the test process via PR_SET_PDEATHSIG).
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cistern/proto/master.pb.h"
#include "gtest/gtest.h"
#include "rpc/master_client.h"
#include "rpc/worker_client.h"
#include "testing/subprocess.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::PickUnusedPort;
using testing::RunCommand;
using testing::Subprocess;
using testing::WaitFor;

constexpr int64_t kMiB = 1 << 20;

std::string BinDir() {
  const char* build = std::getenv("CISTERN_BUILD_DIR");
  return std::string(build != nullptr ? build : ".") + "/bin";
}

// Writes `size` pseudo-random bytes (seeded, so failures reproduce) to `path`.
void WriteRandomFile(const std::string& path, int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path, std::ios::binary);
  std::vector<uint64_t> buf(kMiB / 8);
  for (int64_t done = 0; done < size; done += kMiB) {
    for (auto& w : buf) w = rng();
    out.write(reinterpret_cast<const char*>(buf.data()), std::min<int64_t>(kMiB, size - done));
  }
}

// Compares two files byte for byte; returns "" if identical, else where they differ.
std::string DiffFiles(const std::string& a, const std::string& b) {
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

class ClusterTest : public ::testing::Test {
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
    std::ofstream conf(dir_ + "/conf/cistern.properties");
    conf << "cistern.home=" << dir_ << "/home\n"
         << "master.hostname=127.0.0.1\n"
         << "master.rpc.port=" << master_port_ << "\n"
         << "master.mount.root.ufs=file://" << dir_ << "/underfs\n"
         << "master.worker.timeout=10s\n"
         << "worker.hostname=127.0.0.1\n"
         << "worker.rpc.port=" << worker_port_ << "\n"
         << "worker.tier.mem.dir=" << mem_dir_ << "\n"
         << "worker.tier.mem.quota=512MiB\n"
         << "worker.heartbeat.interval=200ms\n"
         << "user.rpc.retry_window=20s\n";
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
    WaitForLiveWorkers(1);
  }

  void TearDown() override {
    if (HasFailure()) {
      if (master_) std::cerr << "--- master output ---\n" << master_->OutputTail() << "\n";
      if (worker_) std::cerr << "--- worker output ---\n" << worker_->OutputTail() << "\n";
    }
    master_.reset();
    worker_.reset();
    fs::remove_all(mem_dir_);
    fs::remove_all(dir_);
  }

  void StartMaster() {
    master_ = std::make_unique<Subprocess>(std::vector<std::string>{BinDir() + "/cistern-master"},
                                           dir_ + "/master.out", env_);
    ASSERT_TRUE(master_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return master_client_->GetMasterInfo({}).ok() || !master_->running(); }, 30000));
    ASSERT_TRUE(master_->running()) << master_->OutputTail();
  }

  void StartWorker() {
    worker_ = std::make_unique<Subprocess>(std::vector<std::string>{BinDir() + "/cistern-worker"},
                                           dir_ + "/worker.out", env_);
    ASSERT_TRUE(worker_->Start().ok());
  }

  void WaitForLiveWorkers(int n) {
    bool ok = WaitFor([&] {
      auto workers = master_client_->GetWorkerInfoList({});
      if (!workers.ok()) return false;
      int live = 0;
      for (const auto& w : workers->workers()) live += w.state() == proto::LIVE;
      return live == n;
    }, 30000);
    ASSERT_TRUE(ok) << "worker did not register\n" << worker_->OutputTail();
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
  std::map<std::string, std::string> env_;
  std::unique_ptr<rpc::MasterClient> master_client_;
  std::unique_ptr<rpc::WorkerClient> worker_client_;
  std::unique_ptr<Subprocess> master_;
  std::unique_ptr<Subprocess> worker_;
};

// The acceptance scenario: 100 MiB through the under-store, read back twice, the second time
// from the worker's cache; then the master is killed with SIGKILL and the namespace survives.
TEST_F(ClusterTest, HundredMiBReadTwiceSecondFromCacheAndNamespaceSurvivesKill9) {
  const std::string local = dir_ + "/big.bin";
  WriteRandomFile(local, 100 * kMiB, /*seed=*/42);

  CliOk({"fs", "mkdir", "-p", "/data/sets"});
  // THROUGH writes only the under-store copy, so the first read must come from the under-store.
  CliOk({"fs", "put", "--write-type", "THROUGH", local, "/data/sets/big.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/underfs/data/sets/big.bin"), "") << "under-store copy differs";
  EXPECT_EQ(Counter("worker.bytes_written.cache_bytes"), 0);

  const int64_t ufs_bytes0 = Counter("worker.bytes_read.ufs_bytes");
  const int64_t cache_blocks0 = Counter("worker.blocks_read.cache");
  CliOk({"fs", "get", "/data/sets/big.bin", dir_ + "/read1.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read1.bin"), "");
  const int64_t ufs_bytes1 = Counter("worker.bytes_read.ufs_bytes");
  EXPECT_EQ(ufs_bytes1 - ufs_bytes0, 100 * kMiB) << "first read should come from the under-store";
  EXPECT_EQ(Counter("worker.blocks_read.ufs"), 2);  // two 64 MiB blocks

  CliOk({"fs", "get", "/data/sets/big.bin", dir_ + "/read2.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read2.bin"), "");
  EXPECT_EQ(Counter("worker.bytes_read.ufs_bytes"), ufs_bytes1) << "second read touched the under-store";
  EXPECT_EQ(Counter("worker.blocks_read.cache") - cache_blocks0, 2) << "second read not served from cache";
  EXPECT_GE(Counter("worker.bytes_read.cache_bytes"), 100 * kMiB);

  // More namespace state: a second file (default CACHE_THROUGH), a rename and a delete.
  const std::string small = dir_ + "/small.bin";
  WriteRandomFile(small, 3 * kMiB + 17, /*seed=*/7);
  CliOk({"fs", "put", small, "/data/small.bin"});
  CliOk({"fs", "mkdir", "/tmp"});
  CliOk({"fs", "put", small, "/tmp/gone.bin"});
  CliOk({"fs", "mv", "/data/small.bin", "/data/sets/renamed.bin"});
  CliOk({"fs", "rm", "-R", "/tmp"});
  const std::string listing = CliOk({"fs", "ls", "-R", "/"});
  EXPECT_NE(listing.find("/data/sets/renamed.bin"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("/tmp"), std::string::npos) << listing;

  master_->Signal(SIGKILL);
  ASSERT_TRUE(master_->Wait(10000).ok());
  StartMaster();
  WaitForLiveWorkers(1);  // the worker re-registers with the new master process

  EXPECT_EQ(CliOk({"fs", "ls", "-R", "/"}), listing);
  CliOk({"fs", "get", "/data/sets/renamed.bin", dir_ + "/small-back.bin"});
  EXPECT_EQ(DiffFiles(small, dir_ + "/small-back.bin"), "");
  CliOk({"fs", "get", "/data/sets/big.bin", dir_ + "/read3.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read3.bin"), "");
  EXPECT_EQ(Counter("worker.bytes_read.ufs_bytes"), ufs_bytes1) << "cache lost across master restart";
}

TEST_F(ClusterTest, CacheThroughWriteIsCachedAndPersisted) {
  const std::string local = dir_ + "/f.bin";
  WriteRandomFile(local, 5 * kMiB, /*seed=*/3);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", local, "/f.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/underfs/f.bin"), "");
  EXPECT_EQ(Counter("worker.bytes_written.cache_bytes"), 5 * kMiB);
  const std::string cat = CliOk({"fs", "cat", "/f.bin"});
  std::ifstream in(local, std::ios::binary);
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_TRUE(cat == expected.str()) << "cat output differs (" << cat.size() << " bytes)";
  EXPECT_EQ(Counter("worker.bytes_read.ufs_bytes"), 0);
  EXPECT_NE(CliOk({"fs", "stat", "/f.bin"}).find("PERSISTED"), std::string::npos);
}

TEST_F(ClusterTest, MustCacheFileLivesOnlyInTheCache) {
  const std::string local = dir_ + "/m.bin";
  WriteRandomFile(local, 2 * kMiB, /*seed=*/5);
  CliOk({"fs", "put", "--write-type", "MUST_CACHE", local, "/m.bin"});
  EXPECT_FALSE(fs::exists(dir_ + "/underfs/m.bin"));
  CliOk({"fs", "get", "/m.bin", dir_ + "/m-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/m-back.bin"), "");
  EXPECT_NE(CliOk({"fs", "stat", "/m.bin"}).find("NOT_PERSISTED"), std::string::npos);
}

TEST_F(ClusterTest, ErrorsAreOneLineAndNonZero) {
  CommandResult missing = Cli({"fs", "cat", "/does/not/exist"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("/does/not/exist"), std::string::npos) << missing.output;
  CommandResult bad = Cli({"fs", "mkdir", "relative/path"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("relative/path"), std::string::npos) << bad.output;
  CliOk({"fs", "mkdir", "/d"});
  CliOk({"fs", "mkdir", "/d/e"});
  CommandResult nonempty = Cli({"fs", "rm", "/d"});
  EXPECT_NE(nonempty.exit_code, 0) << nonempty.output;
  CommandResult report = Cli({"admin", "report"});
  EXPECT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find(absl::StrCat("127.0.0.1:", worker_port_)), std::string::npos) << report.output;
}

TEST_F(ClusterTest, DaemonsExitCleanlyOnSigterm) {
  worker_->Signal(SIGTERM);
  auto worker_code = worker_->Wait(20000);
  ASSERT_TRUE(worker_code.ok()) << worker_code.status();
  EXPECT_EQ(*worker_code, 0) << worker_->OutputTail();
  master_->Signal(SIGTERM);
  auto master_code = master_->Wait(20000);
  ASSERT_TRUE(master_code.ok()) << master_code.status();
  EXPECT_EQ(*master_code, 0) << master_->OutputTail();
}

TEST_F(ClusterTest, BadConfigurationStopsStartupNamingKeyAndValue) {
  CommandResult r = RunCommand({BinDir() + "/cistern-master", "--conf", "master.rpc.port=notaport"}, 20000, env_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("master.rpc.port"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("notaport"), std::string::npos) << r.output;
  CommandResult unknown = RunCommand({BinDir() + "/cistern-worker", "--conf", "worker.no.such.key=1"}, 20000, env_);
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("worker.no.such.key"), std::string::npos) << unknown.output;
}

}  // namespace
}  // namespace cistern
