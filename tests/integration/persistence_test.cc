// Write types end to end through real processes, and ASYNC_THROUGH persistence surviving a
// worker killed in the middle of it (the fixture is in cluster_fixture.h).
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "cluster_fixture.h"

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

  proto::FileInfo Stat(const std::string& path) {
    proto::GetStatusRequest get;
    get.set_path(path);
    get.set_include_block_locations(true);
    auto response = master_client_->GetStatus(get);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->info() : proto::FileInfo();
  }

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
  std::string MoreConf() const override { return "worker.persist.rate_limit=2MiB\n"; }
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
  // Nothing of the interrupted attempt is visible.
  const std::string listing = CliOk({"fs", "ls", "-R", "/"});
  EXPECT_EQ(listing.find("cistern-tmp"), std::string::npos) << listing;
}

}  // namespace
}  // namespace cistern
