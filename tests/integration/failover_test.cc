// Client failover through real processes: a worker is killed (SIGKILL) in the middle of a read
// or a write made with the client library, and the operation either completes with the right
// bytes (another worker, or the under-store) or fails cleanly (an error, no file left behind).
// Which worker to kill is found from the outside: the block locations for reads, and for writes
// the worker process holding the block being written open (/proc/PID/fd).
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>

#include "cistern/file_system.h"
#include "cluster_fixture.h"

namespace cistern {
namespace {

using testing::kMiB;
using testing::WaitFor;

// Pseudo-random bytes (seeded, so failures reproduce).
std::string RandomBytes(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string bytes(static_cast<size_t>(n), '\0');
  for (size_t i = 0; i < bytes.size(); i += 8) {
    const uint64_t x = rng();
    std::memcpy(bytes.data() + i, &x, std::min<size_t>(8, bytes.size() - i));
  }
  return bytes;
}

// Whether process `pid` has a file open whose path starts with `prefix`.
bool HasFileOpenUnder(pid_t pid, const std::string& prefix) {
  const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    char target[4096];
    const ssize_t n = ::readlink(absl::StrCat(fd_dir, "/", entry->d_name).c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    if (std::string_view(target, static_cast<size_t>(n)).substr(0, prefix.size()) == prefix) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

class FailoverTest : public testing::ClusterFixture {
 protected:
  int NumWorkers() const override { return 2; }
  std::string ExtraConf() const override { return "master.worker.timeout=3s\n"; }

  // A client over the cluster. Short-circuit reads are off: these reads are meant to go to the
  // workers over the network (a short-circuit read keeps reading the file it has open).
  std::unique_ptr<FileSystem> Connect(bool ufs_fallback = true, int64_t retry_buffer = 64 * kMiB) {
    ClientOptions options;
    options.master_addresses = {absl::StrCat("127.0.0.1:", master_port_)};
    options.rpc_timeout_ms = 5000;
    options.data_timeout_ms = 30000;
    options.retry_window_ms = 20000;
    options.chunk_size_bytes = 256 << 10;
    options.default_block_size_bytes = 4 * kMiB;
    options.worker_list_ttl_ms = 200;
    options.ufs_fallback_enabled = ufs_fallback;
    options.short_circuit_enabled = false;
    options.write_retry_buffer_bytes = retry_buffer;
    auto fs = FileSystem::Connect(options);
    EXPECT_TRUE(fs.ok()) << fs.status();
    return fs.ok() ? *std::move(fs) : nullptr;
  }

  // Both worker processes with what identifies them: RPC address and MEM tier directory.
  struct WorkerProcess {
    testing::Subprocess* process;
    std::string address;
    std::string mem_dir;
  };
  std::vector<WorkerProcess> Workers() {
    return {{worker_.get(), absl::StrCat("127.0.0.1:", worker_port_), mem_dir_ + "/"},
            {extra_workers_[0].get(), absl::StrCat("127.0.0.1:", extra_worker_ports_[0]), extra_mem_dirs_[0] + "/"}};
  }

  // The MEM tier's directory of blocks being written. Not the tier directory itself: every
  // worker holds its `.lock` there open, which would always name the first worker, whichever
  // one takes the write.
  static std::string WritingDir(const WorkerProcess& w) { return w.mem_dir + "tmp/"; }

  // Waits until one worker process holds a file under the directory `dir_of(worker)` open and
  // returns it (null if none did within the deadline).
  testing::Subprocess* WorkerWithFileOpen(const std::function<std::string(const WorkerProcess&)>& dir_of,
                                          std::string* address = nullptr) {
    testing::Subprocess* found = nullptr;
    WaitFor([&] {
      for (const WorkerProcess& w : Workers()) {
        if (HasFileOpenUnder(w.process->pid(), dir_of(w))) {
          found = w.process;
          if (address != nullptr) *address = w.address;
          return true;
        }
      }
      return false;
    }, 20000);
    return found;
  }

  static std::string ReadAll(FileReader* reader, int64_t first = -1) {
    std::string out;
    std::string buf(300 << 10, '\0');  // not a multiple of the chunk or block size
    while (first < 0 || static_cast<int64_t>(out.size()) < first) {
      const int64_t want = first < 0 ? static_cast<int64_t>(buf.size())
                                     : std::min<int64_t>(buf.size(), first - static_cast<int64_t>(out.size()));
      absl::StatusOr<int64_t> n = reader->Read(buf.data(), want);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf.data(), static_cast<size_t>(*n));
    }
    return out;
  }

  // Writes `bytes` to a new CACHE_THROUGH file through the client and returns its status.
  FileStatus PutCacheThrough(FileSystem* fs, const std::string& path, const std::string& bytes) {
    CreateOptions create;
    create.write_type = WriteType::kCacheThrough;
    auto writer = fs->Create(path, create);
    EXPECT_TRUE(writer.ok()) << writer.status();
    EXPECT_TRUE((*writer)->Write(bytes).ok());
    EXPECT_TRUE((*writer)->Close().ok());
    auto status = fs->GetStatus(path, GetStatusOptions{});
    EXPECT_TRUE(status.ok()) << status.status();
    return *status;
  }

  WorkerProcess* Holding(std::vector<WorkerProcess>& workers, const BlockStatus& block) {
    if (block.locations.empty()) return nullptr;
    for (WorkerProcess& w : workers) {
      if (w.address == block.locations[0].address) return &w;
    }
    return nullptr;
  }
};

TEST_F(FailoverTest, ReadCompletesWhenItsWorkerIsKilledMidBlock) {
  std::unique_ptr<FileSystem> fs = Connect();
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(16 * kMiB + 777, 1);
  const FileStatus written = PutCacheThrough(fs.get(), "/read.bin", bytes);
  ASSERT_EQ(written.blocks.size(), 5u);

  auto reader = fs->Open("/read.bin", OpenOptions{});
  ASSERT_TRUE(reader.ok()) << reader.status();
  // Into block 1, whose stream is now open to the worker caching it: kill that worker.
  std::string got = ReadAll(reader->get(), 5 * kMiB + 12345);
  ASSERT_EQ(got.size(), 5 * kMiB + 12345u);
  std::vector<WorkerProcess> workers = Workers();
  WorkerProcess* victim = Holding(workers, written.blocks[1]);
  ASSERT_NE(victim, nullptr) << "block 1 is cached nowhere";
  victim->process->Signal(SIGKILL);
  ASSERT_TRUE(victim->process->Wait(10000).ok());

  got += ReadAll(reader->get());
  ASSERT_EQ(got.size(), bytes.size());
  EXPECT_TRUE(got == bytes) << "the bytes read differ from the bytes written";
}

TEST_F(FailoverTest, ReadFallsBackToTheUnderStoreWhenEveryWorkerIsKilled) {
  std::unique_ptr<FileSystem> fs = Connect(/*ufs_fallback=*/true);
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(9 * kMiB + 5, 2);
  PutCacheThrough(fs.get(), "/fallback.bin", bytes);
  auto reader = fs->Open("/fallback.bin", OpenOptions{});
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::string got = ReadAll(reader->get(), 3 * kMiB);
  for (const WorkerProcess& w : Workers()) w.process->Signal(SIGKILL);
  for (const WorkerProcess& w : Workers()) ASSERT_TRUE(w.process->Wait(10000).ok());
  got += ReadAll(reader->get());
  ASSERT_EQ(got.size(), bytes.size());
  EXPECT_TRUE(got == bytes);
}

TEST_F(FailoverTest, ReadFailsCleanlyWithoutWorkersWhenTheFallbackIsOff) {
  std::unique_ptr<FileSystem> fs = Connect(/*ufs_fallback=*/false);
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(9 * kMiB, 3);
  PutCacheThrough(fs.get(), "/nofallback.bin", bytes);
  auto reader = fs->Open("/nofallback.bin", OpenOptions{});
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::string got = ReadAll(reader->get(), 3 * kMiB);
  for (const WorkerProcess& w : Workers()) w.process->Signal(SIGKILL);
  for (const WorkerProcess& w : Workers()) ASSERT_TRUE(w.process->Wait(10000).ok());
  std::string buf(kMiB, '\0');
  absl::Status failed;
  while (failed.ok()) {
    absl::StatusOr<int64_t> n = (*reader)->Read(buf.data(), static_cast<int64_t>(buf.size()));
    if (!n.ok()) {
      failed = n.status();
      break;
    }
    ASSERT_GT(*n, 0) << "the file ended early instead of failing";
    got.append(buf.data(), static_cast<size_t>(*n));
  }
  EXPECT_TRUE(absl::IsUnavailable(failed) || absl::IsDeadlineExceeded(failed)) << failed;
  // What was delivered before the failure is the file's prefix.
  ASSERT_LT(got.size(), bytes.size());
  EXPECT_TRUE(got == bytes.substr(0, got.size()));
}

TEST_F(FailoverTest, MustCacheWriteCompletesWhenItsWorkerIsKilledMidBlock) {
  std::unique_ptr<FileSystem> fs = Connect();
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(10 * kMiB + 4321, 4);
  CreateOptions create;
  create.write_type = WriteType::kMustCache;
  auto writer = fs->Create("/write.bin", create);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // Half of block 0 (4 MiB blocks), so nothing committed is lost with the killed worker.
  const size_t first = 2 * kMiB + 100;
  ASSERT_TRUE((*writer)->Write(std::string_view(bytes).substr(0, first)).ok());
  testing::Subprocess* victim = WorkerWithFileOpen(WritingDir);
  ASSERT_NE(victim, nullptr) << "no worker holds the block being written open";
  std::string survivor_address;
  for (const WorkerProcess& w : Workers()) {
    if (w.process != victim) survivor_address = w.address;
  }
  victim->Signal(SIGKILL);
  ASSERT_TRUE(victim->Wait(10000).ok());
  absl::Status written = (*writer)->Write(std::string_view(bytes).substr(first));
  ASSERT_TRUE(written.ok()) << written;
  absl::Status closed = (*writer)->Close();
  ASSERT_TRUE(closed.ok()) << closed;

  auto status = fs->GetStatus("/write.bin", GetStatusOptions{});
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->length, static_cast<int64_t>(bytes.size()));
  ASSERT_EQ(status->blocks.size(), 3u);
  for (size_t i = 0; i < status->blocks.size(); ++i) {
    ASSERT_FALSE(status->blocks[i].locations.empty()) << "block " << i;
    EXPECT_EQ(status->blocks[i].locations[0].address, survivor_address) << "block " << i;
  }
  auto reader = fs->Open("/write.bin", OpenOptions{});
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::string back = ReadAll(reader->get());
  ASSERT_EQ(back.size(), bytes.size());
  EXPECT_TRUE(back == bytes);
}

TEST_F(FailoverTest, WriteFailsCleanlyWhenNothingWasKeptToWriteAgain) {
  std::unique_ptr<FileSystem> fs = Connect(/*ufs_fallback=*/true, /*retry_buffer=*/0);
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(6 * kMiB, 6);
  CreateOptions create;
  create.write_type = WriteType::kMustCache;
  auto writer = fs->Create("/lost.bin", create);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write(std::string_view(bytes).substr(0, kMiB)).ok());
  testing::Subprocess* victim = WorkerWithFileOpen(WritingDir);
  ASSERT_NE(victim, nullptr);
  victim->Signal(SIGKILL);
  ASSERT_TRUE(victim->Wait(10000).ok());
  absl::Status status = (*writer)->Write(std::string_view(bytes).substr(kMiB));
  if (status.ok()) status = (*writer)->Close();
  EXPECT_FALSE(status.ok()) << "the write went on without the bytes sent to the killed worker";
  writer->reset();
  auto exists = fs->Exists("/lost.bin");
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_FALSE(*exists) << "a failed write left an incomplete file";
}

// The under-store stream (THROUGH, CACHE_THROUGH) runs through one worker, which holds the
// under-store file's temporary copy open while it writes: that is the worker to kill.
class UfsStreamFailoverTest : public FailoverTest {
 protected:
  std::string UfsDir() const { return dir_ + "/underfs"; }

  testing::Subprocess* UfsStreamWorker() {
    // As the kernel names open files: without the doubled slashes a TempDir() may bring.
    const std::string dir = std::filesystem::path(UfsDir() + "/").lexically_normal().string();
    return WorkerWithFileOpen([dir](const WorkerProcess&) { return dir; });
  }

  static void Kill(testing::Subprocess* victim) {
    victim->Signal(SIGKILL);
    ASSERT_TRUE(victim->Wait(10000).ok());
  }

  // Writes `bytes` to `path` with `type`, killing the worker of the under-store stream once
  // `before_kill` bytes are written; returns the outcome of the rest of the writes and Close.
  // `victim_out` is the killed worker.
  absl::Status WriteKillingUfsWorker(FileSystem* fs, const std::string& path, WriteType type, const std::string& bytes,
                                     size_t before_kill, testing::Subprocess** victim_out = nullptr) {
    CreateOptions create;
    create.write_type = type;
    auto writer = fs->Create(path, create);
    if (!writer.ok()) return writer.status();
    absl::Status status = (*writer)->Write(std::string_view(bytes).substr(0, before_kill));
    if (!status.ok()) return status;
    testing::Subprocess* victim = UfsStreamWorker();
    if (victim == nullptr) return absl::InternalError("no worker holds an under-store file open");
    if (victim_out != nullptr) *victim_out = victim;
    Kill(victim);
    status = (*writer)->Write(std::string_view(bytes).substr(before_kill));
    if (status.ok()) status = (*writer)->Close();
    return status;
  }

  // The whole file is right: in the namespace (complete, PERSISTED, its length), in the
  // under-store, and read back through the client.
  void ExpectWritten(FileSystem* fs, const std::string& path, const std::string& bytes) {
    auto status = fs->GetStatus(path, GetStatusOptions{});
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->length, static_cast<int64_t>(bytes.size()));
    EXPECT_EQ(status->persistence_state, PersistenceState::kPersisted);
    std::ifstream in(UfsDir() + path, std::ios::binary);
    const std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(stored.size(), bytes.size()) << "under-store copy";
    EXPECT_TRUE(stored == bytes) << "the under-store copy differs from the bytes written";
    auto reader = fs->Open(path, OpenOptions{});
    ASSERT_TRUE(reader.ok()) << reader.status();
    const std::string back = ReadAll(reader->get());
    ASSERT_EQ(back.size(), bytes.size());
    EXPECT_TRUE(back == bytes) << "the bytes read back differ from the bytes written";
  }

  // A failed write left nothing: no file in the namespace, none at its under-store path.
  void ExpectNothingLeft(FileSystem* fs, const std::string& path) {
    auto exists = fs->Exists(path);
    ASSERT_TRUE(exists.ok()) << exists.status();
    EXPECT_FALSE(*exists) << "a failed write left an incomplete file";
    EXPECT_FALSE(std::filesystem::exists(UfsDir() + path)) << "a failed write left a file in the under-store";
  }
};

// THROUGH keeps the whole file (it fits the retry buffer), so a new worker replays it.
TEST_F(UfsStreamFailoverTest, ThroughWriteCompletesOnAnotherWorker) {
  std::unique_ptr<FileSystem> fs = Connect();
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(9 * kMiB + 99, 7);
  absl::Status status = WriteKillingUfsWorker(fs.get(), "/through.bin", WriteType::kThrough, bytes, 3 * kMiB + 1);
  ASSERT_TRUE(status.ok()) << status;
  ExpectWritten(fs.get(), "/through.bin", bytes);
}

// More was written than the retry buffer keeps: the write fails, and nothing is left.
TEST_F(UfsStreamFailoverTest, ThroughWriteFailsCleanlyWhenTheBytesWereNotKept) {
  std::unique_ptr<FileSystem> fs = Connect(/*ufs_fallback=*/true, /*retry_buffer=*/kMiB);
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(6 * kMiB, 8);
  absl::Status status = WriteKillingUfsWorker(fs.get(), "/through-lost.bin", WriteType::kThrough, bytes, 3 * kMiB);
  EXPECT_FALSE(status.ok()) << "the write went on without the bytes sent to the killed worker";
  ExpectNothingLeft(fs.get(), "/through-lost.bin");
}

// Killed within the first block: nothing is committed yet, the kept bytes of the block are
// written again (to a new block stream as well, when the killed worker had that too).
TEST_F(UfsStreamFailoverTest, CacheThroughWriteCompletesWhenKilledInTheFirstBlock) {
  std::unique_ptr<FileSystem> fs = Connect();
  ASSERT_NE(fs, nullptr);
  const std::string bytes = RandomBytes(10 * kMiB + 4321, 9);
  absl::Status status =
      WriteKillingUfsWorker(fs.get(), "/ct-first.bin", WriteType::kCacheThrough, bytes, 2 * kMiB + 3);
  ASSERT_TRUE(status.ok()) << status;
  ExpectWritten(fs.get(), "/ct-first.bin", bytes);
}

// Killed after block 0 was committed. The new under-store stream replays the file from the
// bytes the client kept while they fit its retry buffer, else reads block 0 back from the
// worker caching it: if that was the killed worker, block 0's only copy is gone and the write
// must fail cleanly. Which worker gets block 0 and which the under-store stream is up to the
// client's hashing, so files are started (and abandoned) until one shows the case under test.
class CommittedBlockFailoverTest : public UfsStreamFailoverTest {
 protected:
  void Run(bool victim_holds_block0, int64_t retry_buffer, bool expect_success) {
    std::unique_ptr<FileSystem> fs = Connect(/*ufs_fallback=*/true, retry_buffer);
    ASSERT_NE(fs, nullptr);
    const std::string bytes = RandomBytes(10 * kMiB + 4321, 10);
    const size_t before_kill = 5 * kMiB + 7;  // block 0 (4 MiB) committed, block 1 being written
    for (int attempt = 0; attempt < 12; ++attempt) {
      const std::string path = absl::StrCat("/ct-after-", attempt, ".bin");
      CreateOptions create;
      create.write_type = WriteType::kCacheThrough;
      auto writer = fs->Create(path, create);
      ASSERT_TRUE(writer.ok()) << writer.status();
      ASSERT_TRUE((*writer)->Write(std::string_view(bytes).substr(0, before_kill)).ok());
      testing::Subprocess* victim = UfsStreamWorker();
      ASSERT_NE(victim, nullptr) << "no worker holds an under-store file open";
      // Where block 0 is cached, seen from outside: the MEM tier holding a committed 4 MiB
      // block file of this file (the abandoned files' blocks are freed, maybe not yet).
      bool holds = false;
      for (const WorkerProcess& w : Workers()) {
        if (w.process != victim) continue;
        for (const auto& entry : std::filesystem::directory_iterator(w.mem_dir)) {
          holds |= entry.is_regular_file() && entry.path().filename().string().size() == 16 &&
                   entry.file_size() == static_cast<uintmax_t>(4 * kMiB);
        }
      }
      if (holds != victim_holds_block0) {
        (*writer)->Abort();
        // Wait for the abandoned file's blocks to go, so the next look finds only the new ones.
        ASSERT_TRUE(WaitFor([&] {
          for (const WorkerProcess& w : Workers()) {
            for (const auto& entry : std::filesystem::directory_iterator(w.mem_dir)) {
              if (entry.is_regular_file() && entry.path().filename().string().size() == 16) return false;
            }
          }
          return true;
        }, 20000)) << "the abandoned file's blocks were not freed";
        continue;
      }
      Kill(victim);
      absl::Status status = (*writer)->Write(std::string_view(bytes).substr(before_kill));
      if (status.ok()) status = (*writer)->Close();
      writer->reset();
      std::cout << "attempt " << attempt << ": killed the under-store stream's worker, which "
                << (holds ? "held" : "did not hold") << " block 0: " << status << "\n";
      if (!expect_success) {
        EXPECT_FALSE(status.ok()) << "block 0's only copy died with its worker, yet the write completed";
        ExpectNothingLeft(fs.get(), path);
      } else {
        ASSERT_TRUE(status.ok()) << status;
        ExpectWritten(fs.get(), path, bytes);
      }
      return;
    }
    FAIL() << "no file of 12 put block 0 " << (victim_holds_block0 ? "on" : "off") << " the under-store stream's worker";
  }
};

// More was written than the retry buffer keeps (4.5 MiB of 5 MiB; one block fits).
constexpr int64_t kSmallRetryBuffer = 4 * kMiB + kMiB / 2;

TEST_F(CommittedBlockFailoverTest, CacheThroughWriteCompletesWhenBlock0SurvivesOnAnotherWorker) {
  Run(/*victim_holds_block0=*/false, kSmallRetryBuffer, /*expect_success=*/true);
}

TEST_F(CommittedBlockFailoverTest, CacheThroughWriteFailsCleanlyWhenBlock0DiedWithTheUfsWorker) {
  Run(/*victim_holds_block0=*/true, kSmallRetryBuffer, /*expect_success=*/false);
}

TEST_F(CommittedBlockFailoverTest, CacheThroughWriteCompletesFromKeptBytesWhenBlock0DiedWithTheUfsWorker) {
  Run(/*victim_holds_block0=*/true, 64 * kMiB, /*expect_success=*/true);
}

}  // namespace
}  // namespace cistern
