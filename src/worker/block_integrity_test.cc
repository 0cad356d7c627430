// Checksums and recovery: the checksum record format, verification modes, corrupt blocks, the
// start-up scan, and a writer killed with SIGKILL in the middle of its writes.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "worker/block_meta.h"
#include "worker/block_store.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCrashChildDirEnv = "CISTERN_TEST_CRASH_CHILD_DIR";

int64_t CounterValue(const char* name) { return Metrics().Value(name); }

std::string Content(uint64_t id, int64_t size) {
  std::string s(static_cast<size_t>(size), '\0');
  for (int64_t i = 0; i < size; ++i) s[i] = static_cast<char>((id * 13 + i * 5 + i / 101) & 0xff);
  return s;
}

absl::Status WriteBlock(BlockStore* store, uint64_t id, int64_t size) {
  auto writer = store->CreateWriter(id, size);
  if (!writer.ok()) return writer.status();
  const std::string data = Content(id, size);
  for (int64_t pos = 0; pos < size; pos += 64 << 10) {
    absl::Status status = (*writer)->Append(std::string_view(data).substr(pos, 64 << 10));
    if (!status.ok()) return status;
  }
  return (*writer)->Commit().status();
}

void FlipByte(const std::string& path, int64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.read(&c, 1);
  c ^= 0x5a;
  f.seekp(offset);
  f.write(&c, 1);
}

TEST(BlockMetaTest, RecordRoundTripsAndRejectsDamage) {
  const std::string record = EncodeBlockMeta({123456789, 0xfeedfacecafebeefULL});
  ASSERT_EQ(record.size(), kBlockMetaBytes);
  EXPECT_EQ(record.substr(0, 4), "CSBM");
  auto meta = DecodeBlockMeta(record);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->length, 123456789);
  EXPECT_EQ(meta->checksum, 0xfeedfacecafebeefULL);
  for (size_t i = 0; i < record.size(); ++i) {
    std::string damaged = record;
    damaged[i] ^= 1;
    EXPECT_TRUE(absl::IsDataLoss(DecodeBlockMeta(damaged).status())) << "byte " << i;
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeBlockMeta(record.substr(0, 31)).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeBlockMeta("").status()));
  // XXH64 of the empty string with seed 0 (the published test vector).
  EXPECT_EQ(HashBytes(""), 0xEF46DB3751D8E999ULL);
  BlockHasher hasher;
  hasher.Update("hello ");
  hasher.Update("world");
  EXPECT_EQ(hasher.Digest(), HashBytes("hello world"));
}

TEST(BlockMetaTest, FileNames) {
  EXPECT_EQ(BlockMetaFileName(42), "000000000000002a.meta");
  uint64_t id = 0;
  EXPECT_TRUE(ParseBlockMetaFileName("000000000000002a.meta", &id));
  EXPECT_EQ(id, 42u);
  EXPECT_FALSE(ParseBlockMetaFileName("000000000000002a", &id));
  EXPECT_FALSE(ParseBlockMetaFileName("000000000000002a.met", &id));
  EXPECT_FALSE(ParseBlockMetaFileName("0000000000000000.meta", &id));
  EXPECT_FALSE(ParseBlockFileName("000000000000002a.meta", &id));
}

class BlockIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "block_integrity_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ + "/mem";
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  void Open(ChecksumVerify verify, int64_t capacity = 64 << 20) {
    store_.reset();
    BlockStoreOptions options = BlockStoreOptions::SingleDir(dir_, capacity);
    options.checksum_verify = verify;
    auto store = BlockStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  absl::StatusOr<std::string> ReadAll(uint64_t id) {
    auto reader = store_->OpenReader(id);
    if (!reader.ok()) return reader.status();
    std::string data((*reader)->length(), '\0');
    auto n = (*reader)->ReadAt(0, data.size(), data.data());
    if (!n.ok()) return n.status();
    return data;
  }
  std::string BlockPath(uint64_t id) { return dir_ + "/" + BlockFileName(id); }
  std::string MetaPath(uint64_t id) { return dir_ + "/" + BlockMetaFileName(id); }

  std::string root_;
  std::string dir_;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(BlockIntegrityTest, EveryCommittedBlockHasAMatchingChecksumRecord) {
  Open(ChecksumVerify::kFirstRead);
  ASSERT_TRUE(WriteBlock(store_.get(), 5, 300'000).ok());
  auto record = DecodeBlockMeta(std::string(std::istreambuf_iterator<char>(std::ifstream(MetaPath(5)).rdbuf()), {}));
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->length, 300'000);
  EXPECT_EQ(record->checksum, HashBytes(Content(5, 300'000)));
  ASSERT_TRUE(store_->Remove(5).ok());
  EXPECT_FALSE(fs::exists(MetaPath(5)));
  EXPECT_FALSE(fs::exists(BlockPath(5)));
}

TEST_F(BlockIntegrityTest, CorruptBlockIsDroppedOnItsFirstReadAfterARestart) {
  Open(ChecksumVerify::kFirstRead);
  ASSERT_TRUE(WriteBlock(store_.get(), 7, 200'000).ok());
  ASSERT_TRUE(WriteBlock(store_.get(), 8, 1000).ok());
  store_.reset();
  FlipByte(BlockPath(7), 123'456);  // same size: the scan cannot tell

  Open(ChecksumVerify::kFirstRead);
  EXPECT_TRUE(store_->Contains(7));
  store_->TakeDelta();
  const int64_t corrupt0 = CounterValue("cistern_worker_corrupt_blocks_total");
  auto read = ReadAll(7);
  EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
  EXPECT_NE(read.status().message().find(BlockPath(7)), std::string::npos) << read.status();
  EXPECT_EQ(CounterValue("cistern_worker_corrupt_blocks_total") - corrupt0, 1);
  EXPECT_FALSE(store_->Contains(7));
  EXPECT_FALSE(fs::exists(BlockPath(7)));
  EXPECT_FALSE(fs::exists(MetaPath(7)));
  EXPECT_EQ(store_->TakeDelta().removed, (std::set<uint64_t>{7}));
  EXPECT_EQ(store_->Usage().used_bytes, 1000);
  EXPECT_TRUE(absl::IsNotFound(ReadAll(7).status()));
  EXPECT_TRUE(*ReadAll(8) == Content(8, 1000));
}

TEST_F(BlockIntegrityTest, VerificationModes) {
  // always: damage after a good read is still caught.
  Open(ChecksumVerify::kAlways);
  ASSERT_TRUE(WriteBlock(store_.get(), 1, 5000).ok());
  ASSERT_TRUE(ReadAll(1).ok());
  FlipByte(BlockPath(1), 10);
  EXPECT_TRUE(absl::IsDataLoss(ReadAll(1).status()));

  // first_read: a block written (or verified) by this process is trusted afterwards.
  Open(ChecksumVerify::kFirstRead);
  ASSERT_TRUE(WriteBlock(store_.get(), 2, 5000).ok());
  FlipByte(BlockPath(2), 10);
  auto trusted = ReadAll(2);
  ASSERT_TRUE(trusted.ok());
  EXPECT_NE(*trusted, Content(2, 5000));

  // never: a restart does not check either.
  Open(ChecksumVerify::kNever);
  auto unchecked = ReadAll(2);
  ASSERT_TRUE(unchecked.ok());
  EXPECT_NE(*unchecked, Content(2, 5000));
  // ...but moving a block between tiers always does (it hashes what it copies): see
  // TieredStoreTest; here the store has one tier.
  Open(ChecksumVerify::kFirstRead);
  EXPECT_TRUE(absl::IsDataLoss(ReadAll(2).status()));
}

TEST_F(BlockIntegrityTest, MovingACorruptBlockDropsIt) {
  store_.reset();
  BlockStoreOptions options;
  options.tiers = {{"MEM", {{dir_, 1 << 20}}}, {"SSD", {{root_ + "/ssd", 1 << 20}}}};
  options.checksum_verify = ChecksumVerify::kNever;
  auto store = BlockStore::Open(options);
  ASSERT_TRUE(store.ok());
  store_ = std::move(*store);
  ASSERT_TRUE(WriteBlock(store_.get(), 3, 50'000).ok());
  FlipByte(BlockPath(3), 49'999);
  const int64_t corrupt0 = CounterValue("cistern_worker_corrupt_blocks_total");
  EXPECT_TRUE(absl::IsDataLoss(store_->MoveBlock(3, 1)));
  EXPECT_FALSE(store_->Contains(3));
  EXPECT_EQ(CounterValue("cistern_worker_corrupt_blocks_total") - corrupt0, 1);
  EXPECT_EQ(store_->Usage().used_bytes, 0);
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
  EXPECT_TRUE(fs::is_empty(root_ + "/ssd/tmp"));
}

TEST_F(BlockIntegrityTest, RecoveryRemovesPartialOrphanedAndTornFiles) {
  Open(ChecksumVerify::kFirstRead);
  for (uint64_t id = 1; id <= 6; ++id) ASSERT_TRUE(WriteBlock(store_.get(), id, 10'000).ok());
  auto unfinished = store_->CreateWriter(9, 0);
  ASSERT_TRUE(unfinished.ok());
  ASSERT_TRUE((*unfinished)->Append("partial").ok());
  (void)unfinished->release();  // a crash mid-write: its temporary file stays behind
  store_.reset();

  fs::remove(MetaPath(1));                                   // block without record
  fs::remove(BlockPath(2));                                  // record without block
  fs::resize_file(BlockPath(3), 5000);                       // truncated block
  { std::ofstream(MetaPath(4), std::ios::trunc) << "torn"; }  // torn record
  FlipByte(MetaPath(5), 12);                                 // scribbled record
  std::ofstream(dir_ + "/0000000000000063.meta.tmp") << "junk";

  Open(ChecksumVerify::kFirstRead);
  EXPECT_EQ(store_->ListBlocks().size(), 1u);
  EXPECT_TRUE(store_->Contains(6));
  EXPECT_TRUE(*ReadAll(6) == Content(6, 10'000));
  std::set<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir_)) left.insert(entry.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{".lock", "tmp", BlockFileName(6), BlockMetaFileName(6)}));
  EXPECT_TRUE(fs::is_empty(dir_ + "/tmp"));
  EXPECT_EQ(store_->Usage().used_bytes, 10'000);
}

TEST_F(BlockIntegrityTest, OfTwoCopiesOfABlockTheNewerSurvivesARestart) {
  // What a crash in the middle of a move between tiers leaves behind.
  store_.reset();
  BlockStoreOptions options;
  options.tiers = {{"MEM", {{dir_, 1 << 20}}}, {"SSD", {{root_ + "/ssd", 1 << 20}}}};
  {
    auto store = BlockStore::Open(options);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(WriteBlock(store->get(), 4, 3000).ok());
  }
  fs::copy_file(BlockPath(4), root_ + "/ssd/" + BlockFileName(4));
  fs::copy_file(MetaPath(4), root_ + "/ssd/" + BlockMetaFileName(4));
  fs::last_write_time(BlockPath(4), fs::last_write_time(BlockPath(4)) - std::chrono::hours(1));
  auto store = BlockStore::Open(options);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->TierOf(4), "SSD");
  EXPECT_EQ((*store)->Usage().used_bytes, 3000);
  EXPECT_FALSE(fs::exists(BlockPath(4)));
  EXPECT_FALSE(fs::exists(MetaPath(4)));
}

// The child of KillDuringWritesLeavesAConsistentStore: writes, replaces and removes blocks in
// the directory named by the environment until it is killed. Skipped in a normal run.
TEST(BlockCrashChild, WritesUntilKilled) {
  const char* dir = ::getenv(kCrashChildDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "runs only as the child of KillDuringWritesLeavesAConsistentStore";
  BlockStoreOptions options = BlockStoreOptions::SingleDir(dir, 8 << 20);
  auto store = BlockStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  for (uint64_t i = 0;; ++i) {
    const uint64_t id = 1 + rng() % 40;
    if (rng() % 10 == 0) {
      ASSERT_TRUE((*store)->Remove(id).ok());
    } else {
      ASSERT_TRUE(WriteBlock(store->get(), id, 1000 + static_cast<int64_t>(rng() % 400'000)).ok());
    }
    if (i == 10) std::ofstream(std::string(dir) + "/../child-started") << "1";
  }
}

TEST_F(BlockIntegrityTest, KillDuringWritesLeavesAConsistentStore) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::mt19937 rng(42);
  int unfinished_writes = 0;
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    fs::remove(root_ + "/child-started");
    testing::Subprocess child({self, "--gtest_filter=BlockCrashChild.WritesUntilKilled"}, root_ + "/child.log",
                              {{kCrashChildDirEnv, dir_}});
    ASSERT_TRUE(child.Start().ok());
    ASSERT_TRUE(testing::WaitFor([&] { return fs::exists(root_ + "/child-started"); }, 20000)) << child.OutputTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 50));
    ASSERT_TRUE(child.running()) << child.OutputTail();
    child.Signal(SIGKILL);
    auto code = child.Wait(10000);
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 128 + SIGKILL);

    // The child spends nearly all its time inside a write, so the kill nearly always leaves one
    // unfinished (counted over all rounds below, to show the test exercises that path).
    for (const auto& entry : fs::directory_iterator(dir_ + "/tmp")) {
      (void)entry;
      ++unfinished_writes;
    }
    // The next start must find only complete, intact blocks.
    Open(ChecksumVerify::kAlways, 8 << 20);
    EXPECT_TRUE(fs::is_empty(dir_ + "/tmp"));
    int64_t total = 0;
    for (const CachedBlockInfo& block : store_->ListBlocks()) {
      auto data = ReadAll(block.block_id);
      ASSERT_TRUE(data.ok()) << data.status();
      EXPECT_TRUE(*data == Content(block.block_id, block.length)) << "block " << block.block_id;
      total += block.length;
    }
    EXPECT_EQ(total, store_->Usage().used_bytes);
    EXPECT_LE(total, 8 << 20);
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      uint64_t id = 0;
      if (ParseBlockFileName(name, &id)) {
        EXPECT_TRUE(fs::exists(MetaPath(id))) << name;
      } else if (ParseBlockMetaFileName(name, &id)) {
        EXPECT_TRUE(fs::exists(BlockPath(id))) << name;
      } else {
        EXPECT_TRUE(name == ".lock" || name == "tmp") << name;
      }
    }
    store_.reset();  // the next child takes over the directory
  }
  EXPECT_GT(unfinished_writes, 0);
}

}  // namespace
}  // namespace cistern::worker
