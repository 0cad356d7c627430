#include "worker/block_store.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "gtest/gtest.h"
#include "worker/worker_test_util.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  std::string pattern = (fs::temp_directory_path() / "block_store_test.XXXXXX").string();
  char* dir = ::mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

int64_t CounterValue(const char* name) { return Metrics().Value(name); }

// Block id -> length of the blocks a delta adds.
std::map<uint64_t, int64_t> Added(const BlockDelta& delta) {
  std::map<uint64_t, int64_t> out;
  for (const auto& [id, info] : delta.added) out[id] = info.length;
  return out;
}

class BlockStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir() + "/mem"; }
  void TearDown() override {
    store_.reset();
    fs::remove_all(fs::path(dir_).parent_path());
  }

  void OpenStore(int64_t capacity) {
    store_.reset();
    auto store = BlockStore::Open(BlockStoreOptions::SingleDir(dir_, capacity));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  absl::Status WriteBlock(uint64_t id, const std::string& data, int64_t hint = 0) {
    auto writer = store_->CreateWriter(id, hint);
    if (!writer.ok()) return writer.status();
    absl::Status status = (*writer)->Append(data);
    if (!status.ok()) return status;
    return (*writer)->Commit().status();
  }

  std::string ReadAll(uint64_t id) {
    auto reader = store_->OpenReader(id);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return "";
    std::string out((*reader)->length(), '\0');
    auto n = (*reader)->ReadAt(0, out.size(), out.data());
    EXPECT_TRUE(n.ok());
    return out;
  }

  // Bytes of every file under the tier directory, including temporary files, except checksum
  // records (which the quota does not count).
  int64_t DiskBytes() {
    int64_t total = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->path().extension() == ".meta") continue;
      if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
    }
    return total;
  }

  std::string dir_;
  std::unique_ptr<BlockStore> store_;
};

TEST(BlockFileNameTest, RoundTripsAndRejectsJunk) {
  EXPECT_EQ(BlockFileName(42), "000000000000002a");
  uint64_t id = 0;
  EXPECT_TRUE(ParseBlockFileName("000000000000002a", &id));
  EXPECT_EQ(id, 42u);
  EXPECT_TRUE(ParseBlockFileName("ffffffffffffffff", &id));
  EXPECT_EQ(id, ~uint64_t{0});
  EXPECT_FALSE(ParseBlockFileName("0000000000000000", &id));  // block 0 does not exist
  EXPECT_FALSE(ParseBlockFileName("000000000000002A", &id));
  EXPECT_FALSE(ParseBlockFileName("2a", &id));
  EXPECT_FALSE(ParseBlockFileName("zzzzzzzzzzzzzzzz", &id));
  EXPECT_FALSE(ParseBlockFileName("000000000000002a.tmp", &id));
}

TEST_F(BlockStoreTest, WriteCommitRead) {
  OpenStore(1 << 20);
  auto writer = store_->CreateWriter(7, 0);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("hello ").ok());
  ASSERT_TRUE((*writer)->Append("block ").ok());
  ASSERT_TRUE((*writer)->Append("world").ok());
  EXPECT_FALSE(store_->Contains(7)) << "visible before commit";
  auto length = (*writer)->Commit();
  ASSERT_TRUE(length.ok()) << length.status();
  EXPECT_EQ(*length, 17);
  EXPECT_TRUE(store_->Contains(7));
  EXPECT_TRUE(fs::exists(dir_ + "/0000000000000007"));
  EXPECT_EQ(ReadAll(7), "hello block world");

  auto reader = store_->OpenReader(7);
  ASSERT_TRUE(reader.ok());
  char buf[16];
  auto n = (*reader)->ReadAt(6, 100, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "block world");
  n = (*reader)->ReadAt(17, 10, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);

  TierUsageInfo usage = store_->Usage();
  EXPECT_EQ(usage.alias, "MEM");
  EXPECT_EQ(usage.capacity_bytes, 1 << 20);
  EXPECT_EQ(usage.used_bytes, 17);
  EXPECT_EQ(usage.reserved_bytes, 0);
  ASSERT_EQ(store_->ListBlocks().size(), 1u);
  EXPECT_EQ(store_->ListBlocks()[0].length, 17);
  BlockDelta delta = store_->TakeDelta();
  EXPECT_EQ(Added(delta), (std::map<uint64_t, int64_t>{{7, 17}}));
  EXPECT_TRUE(delta.removed.empty());
  EXPECT_TRUE(store_->TakeDelta().empty());

  auto missing = store_->OpenReader(8);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find("8"), std::string::npos);
}

TEST_F(BlockStoreTest, MapsRangesOfABlockFile) {
  OpenStore(1 << 20);
  std::string data(300'000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_TRUE(WriteBlock(1, data).ok());
  auto reader = store_->OpenReader(1);
  ASSERT_TRUE(reader.ok()) << reader.status();
  for (const auto& [offset, n] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 300'000}, {4096, 8192}, {12'345, 100'000}, {299'999, 1}, {290'000, 50'000}, {300'000, 10}}) {
    auto mapped = (*reader)->Map(offset, n);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    const size_t want = static_cast<size_t>(std::min<int64_t>(n, 300'000 - offset));
    EXPECT_TRUE((*mapped)->bytes() == std::string_view(data).substr(static_cast<size_t>(offset), want))
        << offset << "+" << n;
  }
  EXPECT_TRUE(absl::IsInvalidArgument((*reader)->Map(-1, 10).status()));

  // A file shorter than its block is data loss, not a mapping that faults when read.
  fs::resize_file(dir_ + "/" + BlockFileName(1), 1000);
  EXPECT_TRUE(absl::IsDataLoss((*reader)->Map(0, 10).status()));
}

TEST_F(BlockStoreTest, KnowsWhetherATierIsInMemory) {
  const std::string pattern = test_util::MakeTmpfsTempDir("block_store_test");
  if (pattern.empty()) GTEST_SKIP() << "no tmpfs at /dev/shm here";
  for (const std::string& dir : {pattern + "/mem", dir_}) {
    auto store = BlockStore::Open(BlockStoreOptions::SingleDir(dir, 1 << 20));
    ASSERT_TRUE(store.ok()) << store.status();
    auto writer = (*store)->CreateWriter(1, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("x").ok());
    ASSERT_TRUE((*writer)->Commit().ok());
    auto reader = (*store)->OpenReader(1);
    ASSERT_TRUE(reader.ok());
    EXPECT_EQ((*reader)->in_memory(), test_util::OnTmpfs(fs::path(dir).parent_path().string())) << dir;
  }
  fs::remove_all(pattern);
}

TEST_F(BlockStoreTest, UncommittedWritesLeaveNothing) {
  OpenStore(1 << 20);
  {
    auto writer = store_->CreateWriter(1, 1000);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(std::string(500, 'x')).ok());
    EXPECT_EQ(store_->Usage().reserved_bytes, 1000);
  }
  auto writer = store_->CreateWriter(2, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(std::string(300, 'y')).ok());
  (*writer)->Abort();
  EXPECT_FALSE((*writer)->Commit().ok());
  writer->reset();

  EXPECT_FALSE(store_->Contains(1));
  EXPECT_FALSE(store_->Contains(2));
  EXPECT_EQ(DiskBytes(), 0);
  EXPECT_TRUE(fs::is_empty(dir_ + "/tmp"));
  EXPECT_EQ(store_->Usage().used_bytes, 0);
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
  EXPECT_TRUE(store_->TakeDelta().empty());
}

TEST_F(BlockStoreTest, InvalidWriterArguments) {
  OpenStore(1 << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(store_->CreateWriter(0, 0).status()));
  auto negative = store_->CreateWriter(3, -5);
  EXPECT_TRUE(absl::IsInvalidArgument(negative.status()));
  EXPECT_NE(negative.status().message().find("-5"), std::string::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(BlockStore::Open(BlockStoreOptions::SingleDir(dir_, 0)).status()));
}

TEST_F(BlockStoreTest, LruEvictionOrder) {
  OpenStore(300);
  const int64_t evicted0 = CounterValue("cistern_worker_evicted_blocks_total");
  ASSERT_TRUE(WriteBlock(1, std::string(100, 'a')).ok());
  ASSERT_TRUE(WriteBlock(2, std::string(100, 'b')).ok());
  ASSERT_TRUE(WriteBlock(3, std::string(100, 'c')).ok());
  store_->TakeDelta();
  EXPECT_EQ(ReadAll(1), std::string(100, 'a'));  // 1 becomes most recently used

  ASSERT_TRUE(WriteBlock(4, std::string(100, 'd')).ok());
  EXPECT_TRUE(store_->Contains(1));
  EXPECT_FALSE(store_->Contains(2));
  EXPECT_TRUE(store_->Contains(3));
  ASSERT_TRUE(WriteBlock(5, std::string(100, 'e')).ok());
  EXPECT_FALSE(store_->Contains(3));
  EXPECT_TRUE(store_->Contains(1));
  EXPECT_TRUE(store_->Contains(4));
  EXPECT_TRUE(store_->Contains(5));
  EXPECT_FALSE(fs::exists(dir_ + "/0000000000000002"));
  EXPECT_EQ(CounterValue("cistern_worker_evicted_blocks_total") - evicted0, 2);
  EXPECT_EQ(CounterValue("cistern_worker_cached_blocks"), 3);
  EXPECT_EQ(store_->Usage().used_bytes, 300);

  BlockDelta delta = store_->TakeDelta();
  EXPECT_EQ(delta.removed, (std::set<uint64_t>{2, 3}));
  EXPECT_EQ(Added(delta), (std::map<uint64_t, int64_t>{{4, 100}, {5, 100}}));
}

TEST_F(BlockStoreTest, ReadersProtectBlocksFromEviction) {
  OpenStore(200);
  ASSERT_TRUE(WriteBlock(1, std::string(100, 'a')).ok());
  ASSERT_TRUE(WriteBlock(2, std::string(100, 'b')).ok());
  auto pinned = store_->OpenReader(1);  // also makes 1 most recently used
  ASSERT_TRUE(pinned.ok());
  { auto touch = store_->OpenReader(2); }  // 2 is now the most recently used, but unpinned

  // Block 1 is pinned, so the unpinned block 2 goes even though it was used last.
  ASSERT_TRUE(WriteBlock(3, std::string(100, 'c')).ok());
  EXPECT_TRUE(store_->Contains(1));
  EXPECT_FALSE(store_->Contains(2));

  // 1 pinned + 3 evictable cannot make room for 150 bytes: fail without evicting anything.
  absl::Status status = WriteBlock(4, std::string(150, 'd'));
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_NE(status.message().find("150"), std::string::npos) << status;
  EXPECT_NE(status.message().find("200"), std::string::npos) << status;
  EXPECT_TRUE(store_->Contains(3));
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);

  char buf[100];
  auto n = (*pinned)->ReadAt(0, 100, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), std::string(100, 'a'));
  pinned->reset();
  ASSERT_TRUE(WriteBlock(4, std::string(150, 'd')).ok());
  EXPECT_EQ(store_->Usage().used_bytes, 150);
}

TEST_F(BlockStoreTest, RemoveWhileReadingDefersTheSpace) {
  OpenStore(200);
  ASSERT_TRUE(WriteBlock(1, std::string(100, 'a')).ok());
  auto reader = store_->OpenReader(1);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(store_->Remove(1).ok());
  EXPECT_FALSE(store_->Contains(1));
  EXPECT_TRUE(absl::IsNotFound(store_->OpenReader(1).status()));
  // The reader still sees the whole block and its bytes still count against the quota.
  char buf[100];
  auto n = (*reader)->ReadAt(0, 100, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), std::string(100, 'a'));
  EXPECT_EQ(store_->Usage().used_bytes, 100);
  EXPECT_TRUE(absl::IsResourceExhausted(WriteBlock(2, std::string(150, 'b'))));
  reader->reset();
  EXPECT_EQ(store_->Usage().used_bytes, 0);
  ASSERT_TRUE(WriteBlock(2, std::string(150, 'b')).ok());
  EXPECT_TRUE(store_->Remove(99).ok());  // not cached: no-op
  BlockDelta delta = store_->TakeDelta();
  EXPECT_EQ(delta.removed, (std::set<uint64_t>{1}));
}

TEST_F(BlockStoreTest, RewritingABlockReplacesIt) {
  OpenStore(1000);
  ASSERT_TRUE(WriteBlock(5, std::string(100, 'a')).ok());
  auto old_reader = store_->OpenReader(5);
  ASSERT_TRUE(old_reader.ok());
  ASSERT_TRUE(WriteBlock(5, std::string(40, 'b')).ok());
  EXPECT_EQ(ReadAll(5), std::string(40, 'b'));
  char buf[100];
  auto n = (*old_reader)->ReadAt(0, 100, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), std::string(100, 'a'));
  EXPECT_EQ(store_->Usage().used_bytes, 140);
  old_reader->reset();
  EXPECT_EQ(store_->Usage().used_bytes, 40);
  EXPECT_EQ(store_->ListBlocks().size(), 1u);
}

TEST_F(BlockStoreTest, CapacityNeverExceededWithManyConcurrentWriters) {
  constexpr int64_t kCapacity = 1 << 20;
  OpenStore(kCapacity);
  std::atomic<bool> done{false};
  std::atomic<int64_t> max_seen{0};
  std::atomic<int> committed{0}, exhausted{0};
  std::thread monitor([&] {
    while (!done.load()) {
      TierUsageInfo usage = store_->Usage();
      int64_t total = usage.used_bytes + usage.reserved_bytes;
      int64_t prev = max_seen.load();
      while (total > prev && !max_seen.compare_exchange_weak(prev, total)) {
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 30; ++i) {
        const uint64_t id = static_cast<uint64_t>(t) * 1000 + i + 1;
        const int64_t size = 50'000 + static_cast<int64_t>(rng() % 200'000);
        auto writer = store_->CreateWriter(id, (i % 2) ? size : 0);
        ASSERT_TRUE(writer.ok());
        absl::Status status;
        const std::string chunk(16 << 10, static_cast<char>('a' + t));
        for (int64_t pos = 0; pos < size && status.ok(); pos += static_cast<int64_t>(chunk.size())) {
          status = (*writer)->Append(std::string_view(chunk).substr(0, std::min<int64_t>(chunk.size(), size - pos)));
        }
        if (status.ok()) status = (*writer)->Commit().status();
        if (status.ok()) {
          committed++;
          // Read some blocks back so readers pin blocks while others write.
          if (i % 3 == 0) {
            auto reader = store_->OpenReader(id);
            if (reader.ok()) {
              std::string buf(1000, '\0');
              EXPECT_TRUE((*reader)->ReadAt(0, 1000, buf.data()).ok());
              EXPECT_EQ(buf[0], static_cast<char>('a' + t));
            }
          }
        } else {
          EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
          exhausted++;
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  monitor.join();
  EXPECT_LE(max_seen.load(), kCapacity);
  EXPECT_GT(max_seen.load(), kCapacity / 2);
  EXPECT_GT(committed.load(), 0);
  EXPECT_LE(DiskBytes(), kCapacity);
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
  EXPECT_EQ(store_->Usage().used_bytes, DiskBytes());
  int64_t listed = 0;
  for (const auto& block : store_->ListBlocks()) listed += block.length;
  EXPECT_EQ(listed, store_->Usage().used_bytes);
}

TEST_F(BlockStoreTest, RestartRebuildsIndexAndRemovesTmpAndJunk) {
  OpenStore(1 << 20);
  ASSERT_TRUE(WriteBlock(0x2a, std::string(123, 'a')).ok());
  ASSERT_TRUE(WriteBlock(0x1000001, std::string(45, 'b')).ok());
  auto unfinished = store_->CreateWriter(77, 0);
  ASSERT_TRUE(unfinished.ok());
  ASSERT_TRUE((*unfinished)->Append("partial").ok());
  // Simulate a crash: the writer never aborts, so its tmp file stays behind (leaked on purpose).
  (void)unfinished->release();
  store_.reset();
  std::ofstream(dir_ + "/notes.txt") << "junk";
  std::ofstream(dir_ + "/0000000000000000") << "block zero";
  std::ofstream(dir_ + "/zzzzzzzzzzzzzzzz") << "junk";
  std::ofstream(dir_ + "/tmp/000000000000004d.99") << "more partial";
  ASSERT_FALSE(fs::is_empty(dir_ + "/tmp"));

  OpenStore(1 << 20);
  EXPECT_TRUE(fs::is_empty(dir_ + "/tmp"));
  EXPECT_FALSE(fs::exists(dir_ + "/notes.txt"));
  EXPECT_FALSE(fs::exists(dir_ + "/0000000000000000"));
  EXPECT_FALSE(fs::exists(dir_ + "/zzzzzzzzzzzzzzzz"));
  auto blocks = store_->ListBlocks();
  std::sort(blocks.begin(), blocks.end(), [](auto& a, auto& b) { return a.block_id < b.block_id; });
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].block_id, 0x2au);
  EXPECT_EQ(blocks[0].length, 123);
  EXPECT_EQ(blocks[1].block_id, 0x1000001u);
  EXPECT_EQ(blocks[1].length, 45);
  EXPECT_EQ(store_->Usage().used_bytes, 168);
  EXPECT_EQ(ReadAll(0x2a), std::string(123, 'a'));
  EXPECT_FALSE(store_->Contains(77));
  EXPECT_EQ(CounterValue("cistern_worker_cached_blocks"), 2);

  // A smaller quota on restart evicts down to it.
  OpenStore(130);
  EXPECT_LE(store_->Usage().used_bytes, 130);
  EXPECT_EQ(store_->ListBlocks().size(), 1u);
}

TEST_F(BlockStoreTest, SecondStoreOnTheSameDirectoryIsRefused) {
  OpenStore(1 << 20);
  auto second = BlockStore::Open(BlockStoreOptions::SingleDir(dir_, 1 << 20));
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_NE(second.status().message().find(dir_), std::string::npos);
  store_.reset();
  EXPECT_TRUE(BlockStore::Open(BlockStoreOptions::SingleDir(dir_, 1 << 20)).ok());
}

TEST_F(BlockStoreTest, DeltaRestoreKeepsNewerChanges) {
  OpenStore(1 << 20);
  ASSERT_TRUE(WriteBlock(1, "a").ok());
  ASSERT_TRUE(WriteBlock(2, "bb").ok());
  BlockDelta failed = store_->TakeDelta();
  // Since then: 1 removed, 3 added.
  ASSERT_TRUE(store_->Remove(1).ok());
  ASSERT_TRUE(WriteBlock(3, "ccc").ok());
  store_->RestoreDelta(failed);
  BlockDelta merged = store_->TakeDelta();
  EXPECT_EQ(Added(merged), (std::map<uint64_t, int64_t>{{2, 2}, {3, 3}}));
  EXPECT_EQ(merged.removed, (std::set<uint64_t>{1}));

  ASSERT_TRUE(WriteBlock(4, "d").ok());
  auto all = store_->ListBlocksAndClearDelta();
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(store_->TakeDelta().empty());
}

}  // namespace
}  // namespace cistern::worker
