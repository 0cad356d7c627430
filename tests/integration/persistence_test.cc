// Write types end to end through real processes, and ASYNC_THROUGH persistence surviving a
// worker killed in the middle of it (the fixture is in cluster_fixture.h).
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "cluster_fixture.h"
#include "worker/worker_test_util.h"

namespace cistern {
namespace {

using testing::DiffFiles;
using testing::kMiB;
using testing::WaitFor;
using testing::WriteRandomFile;
namespace fs = std::filesystem;

class PersistenceTest : public testing::ClusterFixture {
 protected:
  std::string ExtraConf() const override {
    return "master.persistence.check.interval=100ms\n"
           "master.persistence.retry.initial=200ms\n"
           "master.persistence.retry.max=1s\n"
           "user.block.size.default=1MiB\n" +
           MoreConf();
  }
  virtual std::string MoreConf() const { return ""; }


  // Waits (generously: the machine is shared) until `path` is PERSISTED.
  bool WaitPersisted(const std::string& path, int64_t timeout_ms = 90000) {
    return WaitFor([&] { return Stat(path).persistence_state() == proto::PERSISTED; }, timeout_ms);
  }

  std::string Ufs(const std::string& path) { return dir_ + "/underfs" + path; }
};

TEST_F(PersistenceTest, EveryWriteTypeEndToEnd) {
  const std::string local = dir_ + "/data.bin";
  WriteRandomFile(local, 3 * kMiB + 12345, /*seed=*/11);
  int64_t cached = Counter("cistern_worker_cache_written_bytes_total");
  auto cached_now = [&] {
    const int64_t now = Counter("cistern_worker_cache_written_bytes_total");
    const int64_t delta = now - cached;
    cached = now;
    return delta;
  };

  CliOk({"fs", "put", "--write-type", "MUST_CACHE", local, "/must.bin"});
  EXPECT_EQ(Stat("/must.bin").persistence_state(), proto::NOT_PERSISTED);
  EXPECT_FALSE(fs::exists(Ufs("/must.bin")));
  EXPECT_EQ(cached_now(), 3 * kMiB + 12345);

  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", local, "/cache-through.bin"});
  EXPECT_EQ(Stat("/cache-through.bin").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(DiffFiles(local, Ufs("/cache-through.bin")), "");
  EXPECT_EQ(cached_now(), 3 * kMiB + 12345);

  CliOk({"fs", "put", "--write-type", "THROUGH", local, "/through.bin"});
  EXPECT_EQ(Stat("/through.bin").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(DiffFiles(local, Ufs("/through.bin")), "");
  EXPECT_EQ(cached_now(), 0) << "THROUGH writes only the under-store";
  EXPECT_EQ(Stat("/through.bin").in_cache_percentage(), 0);

  CliOk({"fs", "put", "--write-type", "ASYNC_THROUGH", local, "/async.bin"});
  EXPECT_EQ(cached_now(), 3 * kMiB + 12345);
  const proto::FileInfo async = Stat("/async.bin");
  EXPECT_EQ(async.write_type(), proto::ASYNC_THROUGH);
  EXPECT_TRUE(async.persistence_state() == proto::TO_BE_PERSISTED || async.persistence_state() == proto::PERSISTED);
  // Readable at once, from the cache, whether persisted yet or not.
  CliOk({"fs", "get", "/async.bin", dir_ + "/async-early.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/async-early.bin"), "");
  ASSERT_TRUE(WaitPersisted("/async.bin")) << CliOk({"fs", "stat", "/async.bin"});
  EXPECT_EQ(DiffFiles(local, Ufs("/async.bin")), "");
  EXPECT_EQ(Stat("/async.bin").ufs_fingerprint().length(), 3 * kMiB + 12345);
  EXPECT_FALSE(Stat("/async.bin").has_persist_job());
  EXPECT_EQ(Counter("cistern_worker_persisted_files_total"), 1);

  for (const char* path : {"/must.bin", "/cache-through.bin", "/through.bin", "/async.bin"}) {
    const std::string back = dir_ + "/back.bin";
    CliOk({"fs", "get", path, back});
    EXPECT_EQ(DiffFiles(local, back), "") << path;
    fs::remove(back);
  }
  // Cistern's temporary directory in the under-store never shows in the namespace.
  const std::string listing = CliOk({"fs", "ls", "/"});
  EXPECT_EQ(listing.find("cistern-tmp"), std::string::npos) << listing;
}

// Persistence is slowed down so the worker can be killed while it runs.
class SlowPersistenceTest : public PersistenceTest {
 protected:
  std::string MoreConf() const override { return "worker.persist.rate_limit=512KiB\n"; }
};

TEST_F(SlowPersistenceTest, AsyncThroughEndsPersistedAfterTheWorkerIsKilledMidway) {
  const std::string local = dir_ + "/big.bin";
  WriteRandomFile(local, 8 * kMiB, /*seed=*/12);
  CliOk({"fs", "put", "--write-type", "ASYNC_THROUGH", local, "/big.bin"});
  ASSERT_TRUE(WaitFor([&] { return Stat("/big.bin").persist_job().worker_id() != 0; }, 60000))
      << CliOk({"fs", "stat", "/big.bin"});
  const std::string stat = CliOk({"fs", "stat", "/big.bin"});
  EXPECT_NE(stat.find("TO_BE_PERSISTED"), std::string::npos) << stat;
  EXPECT_NE(stat.find("attempt 1 running on worker"), std::string::npos) << stat;
  // Kill it once it is writing (its partial copy is in the temporary directory).
  const std::string temp_dir = Ufs("/.cistern-tmp-persist");
  ASSERT_TRUE(WaitFor([&] { return fs::exists(temp_dir) && !fs::is_empty(temp_dir); }, 60000));

  worker_->Signal(SIGKILL);
  ASSERT_TRUE(worker_->Wait(10000).ok());
  EXPECT_FALSE(fs::exists(Ufs("/big.bin"))) << "a partial copy must never be in place";
  EXPECT_EQ(Stat("/big.bin").persistence_state(), proto::TO_BE_PERSISTED);
  // The restarted worker finds its cached blocks again (the MEM tier survives in /dev/shm),
  // no longer runs the attempt, and the master starts another.
  StartWorker();
  WaitForLiveWorkers(1);
  ASSERT_TRUE(WaitPersisted("/big.bin", 120000)) << CliOk({"fs", "stat", "/big.bin"});
  EXPECT_EQ(DiffFiles(local, Ufs("/big.bin")), "");
  CliOk({"fs", "get", "/big.bin", dir_ + "/big-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/big-back.bin"), "");
  // The master saw the attempt vanish with the worker and ran another.
  std::ifstream master_log(master_->output_file());
  const std::string log((std::istreambuf_iterator<char>(master_log)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("no longer runs attempt 1"), std::string::npos) << master_->OutputTail();
  EXPECT_NE(log.find("attempt 2 on worker"), std::string::npos) << master_->OutputTail();
  // Nothing of the interrupted attempt is visible, nor left in the under-store: the restarted
  // worker deleted the temporary file it had recorded, the master moved attempt 2's copy.
  const std::string listing = CliOk({"fs", "ls", "-R", "/"});
  EXPECT_EQ(listing.find("cistern-tmp"), std::string::npos) << listing;
  std::string left;
  for (const auto& entry : fs::directory_iterator(temp_dir)) left += entry.path().filename().string() + " ";
  EXPECT_EQ(left, "") << "left in " << temp_dir;
}


// The directory where the worker records its under-store writes in progress (ufs-writes/ in
// its first tier directory).
std::string FindRecordsDir(const std::string& tier_dir) {
  for (const auto& entry : fs::recursive_directory_iterator(tier_dir)) {
    if (entry.is_directory() && entry.path().filename() == "ufs-writes") return entry.path().string();
  }
  return "";
}

// A worker killed while it writes a file to the under-store (a THROUGH client's WriteUfsFile)
// leaves the temporary file of the write behind; the restarted worker deletes it (it recorded
// the write in its tier directory before the file was created), and never the finished files
// beside it. A record whose file never appeared (a kill between the record and the create,
// planted here: that window cannot be hit from outside) counts as gone.
TEST_F(PersistenceTest, RestartedWorkerDeletesTheTemporaryFilesOfKilledUnderStoreWrites) {
  fs::create_directories(Ufs("/w"));
  WriteRandomFile(Ufs("/w/keep.bin"), 1000, /*seed=*/31);
  proto::WriteUfsFileHeader header;
  header.set_ufs_path("file://" + Ufs("/w/killed.bin"));
  auto stream = worker_client_->OpenUfsFileWriter(header);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Write(std::string(256 << 10, 'x')).ok());
  auto temp_files = [&] {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(Ufs("/w"))) {
      const std::string name = entry.path().filename().string();
      if (name.find(".cistern-tmp-") != std::string::npos) names.push_back(name);
    }
    return names;
  };
  ASSERT_TRUE(WaitFor([&] { return temp_files().size() == 1; }, 60000));
  ASSERT_TRUE(WaitFor([&] { return fs::file_size(Ufs("/w/" + temp_files()[0])) > 0; }, 60000));
  const std::string records_dir = FindRecordsDir(mem_dir_);
  ASSERT_FALSE(records_dir.empty()) << "no ufs-writes/ under " << mem_dir_;
  const std::vector<std::string> recorded = worker::test_util::RecordedTempUris(records_dir);
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_TRUE(absl::EndsWith(recorded[0], "/underfs/w/" + temp_files()[0])) << recorded[0] << " vs " << temp_files()[0];

  worker_->Signal(SIGKILL);
  ASSERT_TRUE(worker_->Wait(10000).ok());
  stream->reset();  // the call is dead with the worker
  EXPECT_EQ(temp_files().size(), 1u) << "the killed write's temporary file is left behind";
  EXPECT_FALSE(fs::exists(Ufs("/w/killed.bin")));
  {
    std::ofstream planted(records_dir + "/0000000000000001-1.rec");
    planted << "0\nfile://" << Ufs("/w/.never.bin.cistern-tmp-0000000000000001-1") << "\n";
  }

  StartWorker();
  WaitForLiveWorkers(1);
  EXPECT_TRUE(WaitFor([&] { return temp_files().empty(); }, 30000)) << worker_->OutputTail();
  EXPECT_FALSE(fs::exists(Ufs("/w/killed.bin")));
  EXPECT_TRUE(fs::exists(Ufs("/w/keep.bin")));
  std::ifstream worker_log(worker_->output_file());
  const std::string log((std::istreambuf_iterator<char>(worker_log)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("1 temporary files deleted, 1 already gone"), std::string::npos) << worker_->OutputTail();
  EXPECT_TRUE(worker::test_util::RecordedTempUris(records_dir).empty());
}

// `fs load`: files that exist only in the under-store are cached by the worker, without their
// bytes travelling to the CLI; piped, only the result line is printed (no progress bar).
TEST_F(PersistenceTest, LoadCachesUnderStoreFilesOnTheWorker) {
  fs::create_directories(Ufs("/data/sub"));
  WriteRandomFile(Ufs("/data/a.bin"), 3 * kMiB + 1, /*seed=*/21);
  WriteRandomFile(Ufs("/data/sub/b.bin"), kMiB, /*seed=*/22);
  const int64_t loaded_before = Counter("cistern_worker_loaded_blocks_total");

  const testing::CommandResult not_recursive = Cli({"fs", "load", "/data"});
  EXPECT_NE(not_recursive.exit_code, 0);
  EXPECT_NE(not_recursive.output.find("recursively"), std::string::npos) << not_recursive.output;

  const std::string out = CliOk({"fs", "load", "-R", "/data"});
  EXPECT_NE(out.find("loaded 2 files ("), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "a progress bar was drawn into a pipe: " << out;
  EXPECT_EQ(out.find("ETA"), std::string::npos) << out;
  EXPECT_EQ(Counter("cistern_worker_loaded_blocks_total") - loaded_before, 5) << "4 + 1 blocks of 1 MiB";
  // The master hears of the cached blocks from the worker (at the latest with its next heartbeat).
  EXPECT_TRUE(WaitFor([&] { return Stat("/data/a.bin").in_cache_percentage() == 100; }, 30000));
  EXPECT_TRUE(WaitFor([&] { return Stat("/data/sub/b.bin").in_cache_percentage() == 100; }, 30000));

  // Loading again finds everything cached already.
  const std::string again = CliOk({"fs", "load", "-R", "--json", "/data"});
  EXPECT_NE(again.find("\"files_loaded\":0"), std::string::npos) << again;
  EXPECT_NE(again.find("\"files_cached\":2"), std::string::npos) << again;
  EXPECT_EQ(Counter("cistern_worker_loaded_blocks_total") - loaded_before, 5);
  // The cached bytes are the under-store's.
  CliOk({"fs", "get", "/data/a.bin", dir_ + "/a-back.bin"});
  EXPECT_EQ(DiffFiles(Ufs("/data/a.bin"), dir_ + "/a-back.bin"), "");

  const testing::CommandResult missing = Cli({"fs", "load", "/no/such"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("/no/such"), std::string::npos) << missing.output;
}

// `fs persist`: MUST_CACHE files (whose only copy is cached) are written to the under-store
// now; the command waits until they are PERSISTED.
TEST_F(PersistenceTest, PersistWritesCachedOnlyFilesAndWaits) {
  const std::string local = dir_ + "/p.bin";
  WriteRandomFile(local, 2 * kMiB + 3, /*seed=*/23);
  CliOk({"fs", "mkdir", "/p"});
  CliOk({"fs", "put", "--write-type", "MUST_CACHE", local, "/p/one.bin"});
  CliOk({"fs", "put", "--write-type", "MUST_CACHE", local, "/p/two.bin"});
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", local, "/p/three.bin"});
  EXPECT_EQ(Stat("/p/one.bin").persistence_state(), proto::NOT_PERSISTED);

  const std::string out = CliOk({"fs", "persist", "-R", "/p"});
  EXPECT_NE(out.find("persisted 2 files"), std::string::npos) << out;
  EXPECT_NE(out.find("1 persisted already"), std::string::npos) << out;
  for (const char* path : {"/p/one.bin", "/p/two.bin"}) {
    EXPECT_EQ(Stat(path).persistence_state(), proto::PERSISTED) << path;
    EXPECT_EQ(DiffFiles(local, Ufs(path)), "") << path;
  }
  const std::string again = CliOk({"fs", "persist", "--json", "/p/one.bin"});
  EXPECT_NE(again.find("\"files\":0"), std::string::npos) << again;
  EXPECT_NE(again.find("\"already_persisted\":1"), std::string::npos) << again;
}

// Short-circuit reads: the CLI runs on the worker's host, so it reads cached blocks straight
// from the worker's block files (leases counted by the worker, and the bytes the client reports
// when it releases them); with short-circuit reads off it reads over the network again.
TEST_F(PersistenceTest, ShortCircuitReadsOnTheWorkersHost) {
  const std::string local = dir_ + "/sc.bin";
  WriteRandomFile(local, 3 * kMiB + 17, /*seed=*/24);
  CliOk({"fs", "put", "--write-type", "MUST_CACHE", local, "/sc.bin"});
  const int64_t leases = Counter("cistern_worker_short_circuit_leases_total");
  const int64_t cache_bytes = Counter("cistern_worker_cache_read_bytes_total");
  const int64_t sc_bytes = Counter("cistern_worker_short_circuit_read_bytes_total");
  const int64_t calls = Counter("cistern_worker_short_circuit_lease_calls_total");
  CliOk({"fs", "get", "/sc.bin", dir_ + "/sc-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/sc-back.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases, 4) << "one lease per block";
  EXPECT_EQ(Counter("cistern_worker_short_circuit_lease_calls_total") - calls, 1)
      << "the first call leases the other three blocks ahead (user.short_circuit.lease_ahead=4)";
  EXPECT_EQ(Counter("cistern_worker_short_circuit_read_bytes_total") - sc_bytes, 3 * kMiB + 17);
  EXPECT_EQ(Counter("cistern_worker_cache_read_bytes_total") - cache_bytes, 3 * kMiB + 17)
      << "short-circuit bytes are cache reads";

  fs::remove(dir_ + "/sc-back.bin");
  CliOk({"--conf", "user.short_circuit.enabled=false", "fs", "get", "/sc.bin", dir_ + "/sc-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/sc-back.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases, 4);
  EXPECT_EQ(Counter("cistern_worker_short_circuit_read_bytes_total") - sc_bytes, 3 * kMiB + 17);
  EXPECT_EQ(Counter("cistern_worker_cache_read_bytes_total") - cache_bytes, 2 * (3 * kMiB + 17));

  // Without lease-ahead: one call per block, the same bytes.
  fs::remove(dir_ + "/sc-back.bin");
  CliOk({"--conf", "user.short_circuit.lease_ahead=0", "fs", "get", "/sc.bin", dir_ + "/sc-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/sc-back.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases, 8);
  EXPECT_EQ(Counter("cistern_worker_short_circuit_lease_calls_total") - calls, 1 + 4);
  EXPECT_EQ(Counter("cistern_worker_short_circuit_read_bytes_total") - sc_bytes, 2 * (3 * kMiB + 17));
}

class ShortCircuitChecksumTest : public PersistenceTest {
 protected:
  std::string MoreConf() const override { return "worker.block.checksum.verify=always\n"; }
};

// A cached block damaged on disk is found when a short-circuit reader asks for it (the worker
// checks it before lending the file), dropped and counted; the reader gets the block over gRPC,
// read through from the under-store, and the file's bytes are right.
TEST_F(ShortCircuitChecksumTest, CorruptBlockFileIsDetectedAndReadAgainFromTheUnderStore) {
  const std::string local = dir_ + "/scc.bin";
  WriteRandomFile(local, 3 * kMiB + 17, /*seed=*/25);
  CliOk({"fs", "put", "--write-type", "CACHE_THROUGH", local, "/scc.bin"});
  // Damage one full block's file behind the worker's back.
  std::vector<std::string> block_files;
  for (const auto& entry : fs::recursive_directory_iterator(mem_dir_)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() == 16 && entry.file_size() == static_cast<uintmax_t>(kMiB)) {
      block_files.push_back(entry.path().string());
    }
  }
  ASSERT_EQ(block_files.size(), 3u);
  {
    std::fstream f(block_files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(777);
    const char original = static_cast<char>(f.peek());
    f.seekp(777);
    f.put(static_cast<char>(original ^ 0x40));
  }
  const int64_t corrupt = Counter("cistern_worker_corrupt_blocks_total");
  const int64_t leases = Counter("cistern_worker_short_circuit_leases_total");
  const int64_t sc_bytes = Counter("cistern_worker_short_circuit_read_bytes_total");
  const int64_t ufs_bytes = Counter("cistern_worker_ufs_read_bytes_total");
  CliOk({"fs", "get", "/scc.bin", dir_ + "/scc-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/scc-back.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_corrupt_blocks_total") - corrupt, 1);
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases, 3) << "the damaged block was refused";
  EXPECT_EQ(Counter("cistern_worker_short_circuit_read_bytes_total") - sc_bytes, 2 * kMiB + 17);
  EXPECT_EQ(Counter("cistern_worker_ufs_read_bytes_total") - ufs_bytes, kMiB) << "read through again";

  // Cached again: once the master lists the worker for every block again, all four are read
  // short-circuit, and nothing is found corrupt.
  ASSERT_TRUE(WaitFor([&] {
    const proto::FileInfo info = Stat("/scc.bin");
    if (info.blocks_size() != 4) return false;
    for (const proto::BlockInfo& block : info.blocks()) {
      if (block.locations_size() == 0) return false;
    }
    return true;
  }, 30000));
  fs::remove(dir_ + "/scc-back.bin");
  CliOk({"fs", "get", "/scc.bin", dir_ + "/scc-back.bin"});
  EXPECT_EQ(DiffFiles(local, dir_ + "/scc-back.bin"), "");
  EXPECT_EQ(Counter("cistern_worker_corrupt_blocks_total") - corrupt, 1);
  EXPECT_EQ(Counter("cistern_worker_short_circuit_leases_total") - leases, 3 + 4);
}

}  // namespace
}  // namespace cistern
