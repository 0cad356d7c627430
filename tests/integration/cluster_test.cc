// End-to-end tests of a real cluster: one cistern-master and one cistern-worker process on free
// loopback ports over a local under-store directory, used through the `cistern` CLI exactly as
// a user would (the fixture is in cluster_fixture.h).
#include "cluster_fixture.h"

namespace cistern {
namespace {

using testing::BinDir;
using testing::CommandResult;
using testing::DiffFiles;
using testing::kMiB;
using testing::RunCommand;
using testing::WriteRandomFile;
namespace fs = std::filesystem;

using ClusterTest = testing::ClusterFixture;

// The acceptance scenario: 100 MiB through the under-store, read back twice, the second time
// from the worker's cache; then the master is killed with SIGKILL and the namespace survives.
TEST_F(ClusterTest, HundredMiBReadTwiceSecondFromCacheAndNamespaceSurvivesKill9) {
  const std::string local = dir_ + "/big.bin";
  WriteRandomFile(local, 100 * kMiB, /*seed=*/42);

  CliOk({"fs", "mkdir", "-p", "/data/sets"});
  // THROUGH writes only the under-store copy, so the first read must come from the under-store.
  CliOk({"fs", "put", "--write-type", "THROUGH", local, "/data/sets/big.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/underfs/data/sets/big.bin"), "") << "under-store copy differs";
  EXPECT_EQ(Counter("cistern_worker_cache_written_bytes_total"), 0);

  const int64_t ufs_bytes0 = Counter("cistern_worker_ufs_read_bytes_total");
  const int64_t cache_blocks0 = Counter("cistern_worker_cache_block_reads_total");
  const int64_t leases0 = Counter("cistern_worker_short_circuit_leases_total");
  CliOk({"fs", "get", "/data/sets/big.bin", dir_ + "/read1.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read1.bin"), "");
  const int64_t ufs_bytes1 = Counter("cistern_worker_ufs_read_bytes_total");
  EXPECT_EQ(ufs_bytes1 - ufs_bytes0, 100 * kMiB) << "first read should come from the under-store";
  EXPECT_EQ(Counter("cistern_worker_ufs_block_reads_total"), 2);  // two 64 MiB blocks
  // Block 1 was fetched ahead while block 0 streamed to the CLI (the reader's hint halfway
  // through it). The CLI runs on the worker's host, so once it read block 0 through, block 1
  // came short-circuit: the worker had cached it (CacheBlock joined the read-ahead) and lent
  // its file.
  EXPECT_EQ(Counter("cistern_worker_ufs_read_ahead_fetches_total"), 1);
  const int64_t cache_blocks1 = Counter("cistern_worker_cache_block_reads_total");
  const int64_t leases1 = Counter("cistern_worker_short_circuit_leases_total");
  EXPECT_EQ(cache_blocks1 - cache_blocks0, 1);
  EXPECT_EQ(leases1 - leases0, 1);
  // The blocks cached by the read reach the master with the worker's next heartbeat; only a
  // reader that knows where a block is cached can read it short-circuit.
  auto cached_blocks = [&] {
    const std::string location = Cli({"fs", "location", "/data/sets/big.bin"}).output;
    int n = 0;
    for (size_t at = location.find(" MEM"); at != std::string::npos; at = location.find(" MEM", at + 1)) ++n;
    return n;
  };
  EXPECT_TRUE(cistern::testing::WaitFor([&] { return cached_blocks() == 2; }, 60000))
      << Cli({"fs", "location", "/data/sets/big.bin"}).output;

  CliOk({"fs", "get", "/data/sets/big.bin", dir_ + "/read2.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/read2.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_ufs_read_bytes_total"), ufs_bytes1) << "second read touched the under-store";
  EXPECT_EQ(Counter("cistern_worker_cache_block_reads_total") - cache_blocks1, 2) << "second read not served from cache";
  // It reads the cached blocks straight from the worker's block files (short-circuit), one
  // lease per block.
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases1, 2);

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
  EXPECT_EQ(Counter("cistern_worker_ufs_read_bytes_total"), ufs_bytes1) << "cache lost across master restart";
}

TEST_F(ClusterTest, CacheThroughWriteIsCachedAndPersisted) {
  const std::string local = dir_ + "/f.bin";
  WriteRandomFile(local, 5 * kMiB, /*seed=*/3);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", local, "/f.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/underfs/f.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_cache_written_bytes_total"), 5 * kMiB);
  const std::string cat = CliOk({"fs", "cat", "/f.bin"});
  std::ifstream in(local, std::ios::binary);
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_TRUE(cat == expected.str()) << "cat output differs (" << cat.size() << " bytes)";
  EXPECT_EQ(Counter("cistern_worker_ufs_read_bytes_total"), 0);
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
