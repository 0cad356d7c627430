// BlockStore with several tiers and directories: placement, watermark eviction down the tiers,
// pins, promotion, eviction order per policy, and a randomized concurrent load that checks every
// directory's quota continuously.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "worker/block_store.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

int64_t CounterValue(const char* name) { return Metrics().Value(name); }

// Block contents derived from the id, so any copy can be checked.
std::string Content(uint64_t id, int64_t size) {
  std::string s(static_cast<size_t>(size), '\0');
  for (int64_t i = 0; i < size; ++i) s[i] = static_cast<char>((id * 31 + i * 7 + i / 97) & 0xff);
  return s;
}

class TieredStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tiered_store_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  // tiers: alias -> capacities of its directories.
  BlockStoreOptions Options(const std::vector<std::pair<std::string, std::vector<int64_t>>>& tiers) {
    BlockStoreOptions options;
    for (const auto& [alias, capacities] : tiers) {
      TierOptions tier;
      tier.alias = alias;
      for (size_t i = 0; i < capacities.size(); ++i) {
        tier.dirs.push_back({absl::StrCat(root_, "/", alias, i), capacities[i]});
      }
      options.tiers.push_back(std::move(tier));
    }
    options.clock = &clock_;
    return options;
  }
  void Open(BlockStoreOptions options) {
    store_.reset();
    auto store = BlockStore::Open(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  absl::StatusOr<std::string> Write(uint64_t id, int64_t size, bool hint = true) {
    auto writer = store_->CreateWriter(id, hint ? size : 0);
    if (!writer.ok()) return writer.status();
    const std::string data = Content(id, size);
    for (int64_t pos = 0; pos < size; pos += 4096) {
      absl::Status status = (*writer)->Append(std::string_view(data).substr(pos, 4096));
      if (!status.ok()) return status;
    }
    const std::string tier = (*writer)->tier();
    absl::StatusOr<int64_t> length = (*writer)->Commit();
    if (!length.ok()) return length.status();
    return tier;
  }
  // Reads the whole block and checks it against Content(); returns its tier.
  std::string ReadAndCheck(uint64_t id) {
    auto reader = store_->OpenReader(id);
    EXPECT_TRUE(reader.ok()) << "block " << id << ": " << reader.status();
    if (!reader.ok()) return "";
    std::string data((*reader)->length(), '\0');
    auto n = (*reader)->ReadAt(0, data.size(), data.data());
    EXPECT_TRUE(n.ok());
    EXPECT_TRUE(data == Content(id, (*reader)->length())) << "block " << id << " content differs";
    return (*reader)->tier();
  }
  int64_t Used(const std::string& alias) {
    for (const auto& tier : store_->TierUsages()) {
      if (tier.alias == alias) return tier.used_bytes;
    }
    return -1;
  }

  std::string root_;
  ManualClock clock_;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(TieredStoreTest, NewBlocksGoToTheFirstTierWithRoom) {
  Open(Options({{"MEM", {300}}, {"SSD", {300, 400}}}));
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(*Write(id, 100), "MEM");
  // MEM is full: the SSD directory with the most room takes the next blocks.
  EXPECT_EQ(*Write(4, 100), "SSD");
  EXPECT_EQ(store_->DirUsages()[2].used_bytes, 100);  // SSD1 had 400 free
  EXPECT_EQ(*Write(5, 100), "SSD");
  EXPECT_EQ(*Write(6, 100), "SSD");
  EXPECT_EQ(store_->DirUsages()[1].used_bytes, 100);
  EXPECT_EQ(store_->DirUsages()[2].used_bytes, 200);
  // Without a hint, the first tier with any room.
  EXPECT_EQ(*Write(7, 50, /*hint=*/false), "SSD");
  EXPECT_EQ(store_->TierOf(1), "MEM");
  EXPECT_EQ(store_->TierOf(4), "SSD");
  EXPECT_EQ(store_->TierOf(99), "");
  for (uint64_t id = 1; id <= 7; ++id) ReadAndCheck(id);
  EXPECT_TRUE(fs::exists(absl::StrCat(root_, "/SSD1/", BlockFileName(4))));
  EXPECT_TRUE(fs::exists(absl::StrCat(root_, "/SSD1/", BlockMetaFileName(4))));

  const auto tiers = store_->TierUsages();
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[0].alias, "MEM");
  EXPECT_EQ(tiers[0].capacity_bytes, 300);
  EXPECT_EQ(tiers[1].capacity_bytes, 700);
  EXPECT_EQ(tiers[1].used_bytes, 350);
  EXPECT_EQ(store_->Usage().alias, "MEM,SSD");
  EXPECT_EQ(store_->Usage().used_bytes, 650);
  BlockDelta delta = store_->TakeDelta();
  EXPECT_EQ(delta.added.at(1).tier, "MEM");
  EXPECT_EQ(delta.added.at(4).tier, "SSD");
}

TEST_F(TieredStoreTest, WithNoRoomAnywhereAWriterEvictsInTheFirstTierThatCanMakeRoom) {
  Open(Options({{"MEM", {200}}, {"SSD", {200}}}));
  for (uint64_t id = 1; id <= 4; ++id) ASSERT_TRUE(Write(id, 100).ok());
  const int64_t evicted0 = CounterValue("cistern_worker_evicted_blocks_total");
  store_->PinBlock(1);
  EXPECT_EQ(*Write(5, 100), "MEM");
  EXPECT_TRUE(store_->Contains(1)) << "pinned";
  EXPECT_FALSE(store_->Contains(2)) << "the least recently used unpinned MEM block goes";
  EXPECT_EQ(CounterValue("cistern_worker_evicted_blocks_total") - evicted0, 1);
  // Everything pinned or being read: nothing fits, nothing is dropped.
  store_->PinBlock(5);
  auto reading3 = store_->OpenReader(3);
  auto reading4 = store_->OpenReader(4);
  auto status = Write(6, 100).status();
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_EQ(store_->ListBlocks().size(), 4u);
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
}

TEST_F(TieredStoreTest, EvictionPassMovesBlocksDownThenDropsFromTheLastTier) {
  BlockStoreOptions options = Options({{"MEM", {1000}}, {"SSD", {1000}}});
  options.high_watermark = 0.9;
  options.low_watermark = 0.5;
  Open(options);
  for (uint64_t id = 1; id <= 10; ++id) ASSERT_EQ(*Write(id, 100), "MEM");
  store_->TakeDelta();
  const int64_t demoted0 = CounterValue("cistern_worker_demoted_blocks_total");
  const int64_t evicted0 = CounterValue("cistern_worker_evicted_blocks_total");

  EXPECT_EQ(store_->RunEvictionPass(), 5);
  EXPECT_EQ(Used("MEM"), 500);
  EXPECT_EQ(Used("SSD"), 500);
  for (uint64_t id = 1; id <= 5; ++id) EXPECT_EQ(ReadAndCheck(id), "SSD") << id;
  for (uint64_t id = 6; id <= 10; ++id) EXPECT_EQ(ReadAndCheck(id), "MEM") << id;
  EXPECT_FALSE(fs::exists(absl::StrCat(root_, "/MEM0/", BlockFileName(1))));
  EXPECT_FALSE(fs::exists(absl::StrCat(root_, "/MEM0/", BlockMetaFileName(1))));
  EXPECT_EQ(CounterValue("cistern_worker_demoted_blocks_total") - demoted0, 5);
  EXPECT_EQ(CounterValue("cistern_worker_evicted_blocks_total") - evicted0, 0);
  BlockDelta delta = store_->TakeDelta();
  EXPECT_TRUE(delta.removed.empty());
  ASSERT_EQ(delta.added.size(), 5u);
  for (const auto& [id, info] : delta.added) EXPECT_EQ(info.tier, "SSD") << id;

  // Below the high watermark nothing happens.
  EXPECT_EQ(store_->RunEvictionPass(), 0);

  // Fill MEM again: its least recently used blocks (6..10, just read above after 1..5) move
  // down, pushing SSD over its high watermark, which then drops its own LRU blocks (1..5).
  for (uint64_t id = 11; id <= 15; ++id) ASSERT_EQ(*Write(id, 100), "MEM");
  store_->RunEvictionPass();
  EXPECT_EQ(Used("MEM"), 500);
  EXPECT_EQ(Used("SSD"), 500);
  for (uint64_t id = 1; id <= 5; ++id) EXPECT_FALSE(store_->Contains(id)) << id;
  for (uint64_t id = 6; id <= 10; ++id) EXPECT_EQ(store_->TierOf(id), "SSD") << id;
  for (uint64_t id = 11; id <= 15; ++id) EXPECT_EQ(store_->TierOf(id), "MEM") << id;
  EXPECT_EQ(CounterValue("cistern_worker_evicted_blocks_total") - evicted0, 5);
  delta = store_->TakeDelta();
  EXPECT_EQ(delta.removed, (std::set<uint64_t>{1, 2, 3, 4, 5}));
}

TEST_F(TieredStoreTest, BackgroundEvictorKeepsDirectoriesBelowTheHighWatermark) {
  BlockStoreOptions options = Options({{"MEM", {1000}}, {"SSD", {10000}}});
  options.high_watermark = 0.8;
  options.low_watermark = 0.6;
  options.eviction_interval_ms = 10;
  Open(options);
  for (uint64_t id = 1; id <= 9; ++id) ASSERT_TRUE(Write(id, 100).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Used("MEM") > 600 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Used("MEM"), 600);
  EXPECT_EQ(Used("SSD"), 300);
  EXPECT_EQ(store_->ListBlocks().size(), 9u);
}

TEST_F(TieredStoreTest, PinnedBlocksAndFilesAreNeverEvictedOrMoved) {
  BlockStoreOptions options = Options({{"MEM", {400}}, {"SSD", {400}}});
  options.high_watermark = 0.5;
  options.low_watermark = 0.25;
  Open(options);
  const uint64_t pinned_file_block = MakeBlockId(9, 0);
  const uint64_t pinned_file_block2 = MakeBlockId(9, 1);
  ASSERT_TRUE(Write(1, 100).ok());
  ASSERT_TRUE(Write(pinned_file_block, 100).ok());
  ASSERT_TRUE(Write(pinned_file_block2, 100).ok());
  ASSERT_TRUE(Write(2, 100).ok());
  store_->PinBlock(1);
  store_->SetPinnedFiles({9});
  EXPECT_TRUE(store_->IsPinned(1));
  EXPECT_TRUE(store_->IsPinned(pinned_file_block2));
  EXPECT_FALSE(store_->IsPinned(2));

  store_->RunEvictionPass();
  EXPECT_EQ(store_->TierOf(1), "MEM");
  EXPECT_EQ(store_->TierOf(pinned_file_block), "MEM");
  EXPECT_EQ(store_->TierOf(pinned_file_block2), "MEM");
  EXPECT_EQ(store_->TierOf(2), "SSD");  // the only unpinned block moved down

  // A writer cannot evict them either.
  ASSERT_TRUE(Write(3, 100).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(Write(4, 500).status()));
  for (uint64_t id : {uint64_t{1}, pinned_file_block, pinned_file_block2}) EXPECT_TRUE(store_->Contains(id));

  // Unpinned, they go like any other block. Removal ignores pins.
  store_->UnpinBlock(1);
  store_->SetPinnedFiles({});
  EXPECT_FALSE(store_->IsPinned(pinned_file_block));
  store_->RunEvictionPass();
  EXPECT_LE(Used("MEM"), 100);
  store_->PinBlock(3);
  ASSERT_TRUE(store_->Remove(3).ok());
  EXPECT_FALSE(store_->Contains(3));
}

TEST_F(TieredStoreTest, PromoteMovesABlockToTheFirstHigherTierWithRoom) {
  Open(Options({{"MEM", {200}}, {"SSD", {200}}, {"HDD", {1000}}}));
  ASSERT_TRUE(Write(1, 100).ok());
  ASSERT_TRUE(store_->MoveBlock(1, 2).ok());
  EXPECT_EQ(store_->TierOf(1), "HDD");
  EXPECT_EQ(Used("MEM"), 0);
  EXPECT_EQ(Used("HDD"), 100);
  const int64_t promoted0 = CounterValue("cistern_worker_promoted_blocks_total");

  // A reader of the old copy keeps reading it after the move.
  auto old_reader = store_->OpenReader(1);
  ASSERT_TRUE(old_reader.ok());
  ASSERT_TRUE(store_->Promote(1).ok());
  EXPECT_EQ(store_->TierOf(1), "MEM");
  EXPECT_EQ((*old_reader)->tier(), "HDD");
  std::string data(100, '\0');
  ASSERT_TRUE((*old_reader)->ReadAt(0, 100, data.data()).ok());
  EXPECT_TRUE(data == Content(1, 100));
  EXPECT_EQ(Used("HDD"), 100) << "counted until the old reader closes";
  old_reader->reset();
  EXPECT_EQ(Used("HDD"), 0);
  EXPECT_EQ(ReadAndCheck(1), "MEM");
  EXPECT_EQ(CounterValue("cistern_worker_promoted_blocks_total") - promoted0, 1);
  EXPECT_TRUE(store_->Promote(1).ok()) << "already on top";

  // MEM full of pinned blocks: promotion goes as high as it can.
  ASSERT_TRUE(Write(2, 100).ok());
  ASSERT_TRUE(store_->MoveBlock(2, 2).ok());
  store_->PinBlock(1);
  ASSERT_TRUE(Write(3, 100).ok());
  store_->PinBlock(3);
  EXPECT_EQ(Used("MEM"), 200);
  ASSERT_TRUE(store_->Promote(2).ok());
  EXPECT_EQ(store_->TierOf(2), "SSD");
  EXPECT_TRUE(absl::IsResourceExhausted(store_->Promote(2)));
  EXPECT_TRUE(absl::IsNotFound(store_->Promote(77)));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->MoveBlock(2, 3)));
  BlockDelta delta = store_->TakeDelta();
  EXPECT_EQ(delta.added.at(2).tier, "SSD");
  EXPECT_EQ(delta.added.at(1).tier, "MEM");
}

// Writes blocks 1, 2, 3; reads 1 five times; a little later reads 2 and 3 once each; then a
// fourth block needs room. LRU drops 1 (its last use is oldest); LRFU keeps the frequently used
// 1 and drops 2 (as valuable as 3, but used earlier).
TEST_F(TieredStoreTest, EvictionOrderFollowsThePolicy) {
  for (const std::string policy : {"LRU", "LRFU"}) {
    SCOPED_TRACE(policy);
    store_.reset();
    fs::remove_all(root_ + "/MEM0");
    BlockStoreOptions options = Options({{"MEM", {300}}});
    options.eviction_policy = policy;
    options.lrfu_half_life_ms = 1000;
    Open(options);
    for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(Write(id, 100).ok());
    for (int i = 0; i < 5; ++i) ReadAndCheck(1);
    clock_.AdvanceMs(100);
    ReadAndCheck(2);
    ReadAndCheck(3);
    ASSERT_TRUE(Write(4, 100).ok());
    const uint64_t expected_victim = policy == "LRU" ? 1 : 2;
    for (uint64_t id = 1; id <= 4; ++id) EXPECT_EQ(store_->Contains(id), id != expected_victim) << id;
  }
}

TEST_F(TieredStoreTest, RandomConcurrentLoadNeverExceedsAnyDirectoryQuota) {
  BlockStoreOptions options = Options({{"MEM", {1 << 20}}, {"SSD", {1 << 20, 1 << 20}}, {"HDD", {2 << 20}}});
  options.high_watermark = 0.9;
  options.low_watermark = 0.7;
  options.eviction_interval_ms = 1;
  options.checksum_verify = ChecksumVerify::kAlways;
  options.eviction_policy = "LRFU";
  options.clock = RealClock();
  Open(options);

  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::atomic<int64_t> checks{0};
  std::thread monitor([&] {
    while (!done.load()) {
      for (const DirUsageInfo& dir : store_->DirUsages()) {
        if (dir.used_bytes + dir.reserved_bytes > dir.capacity_bytes || dir.used_bytes < 0 || dir.reserved_bytes < 0) {
          violations++;
          ADD_FAILURE() << dir.path << ": used " << dir.used_bytes << " + reserved " << dir.reserved_bytes
                        << " > capacity " << dir.capacity_bytes;
        }
      }
      checks++;
    }
  });
  std::atomic<int> committed{0}, exhausted{0}, reads{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 6; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      for (int i = 0; i < 150; ++i) {
        const uint64_t id = 1 + rng() % 120;  // ids are shared between threads on purpose
        switch (rng() % 8) {
          case 0:
          case 1:
          case 2: {
            const int64_t size = 10'000 + static_cast<int64_t>(rng() % 250'000);
            auto tier = Write(id, size, /*hint=*/rng() % 4 != 0);
            if (tier.ok()) {
              committed++;
            } else {
              EXPECT_TRUE(absl::IsResourceExhausted(tier.status())) << tier.status();
              exhausted++;
            }
            break;
          }
          case 3:
          case 4: {
            auto reader = store_->OpenReader(id);
            if (reader.ok()) {
              std::string data((*reader)->length(), '\0');
              EXPECT_TRUE((*reader)->ReadAt(0, data.size(), data.data()).ok());
              EXPECT_TRUE(data == Content(id, (*reader)->length())) << "block " << id;
              reads++;
            } else {
              EXPECT_TRUE(absl::IsNotFound(reader.status())) << reader.status();
            }
            break;
          }
          case 5: {
            absl::Status status = store_->Promote(id);
            EXPECT_TRUE(status.ok() || absl::IsNotFound(status) || absl::IsResourceExhausted(status) ||
                        absl::IsUnavailable(status) || absl::IsAborted(status))
                << status;
            break;
          }
          case 6:
            EXPECT_TRUE(store_->Remove(id).ok());
            break;
          default:
            if (rng() % 2) {
              store_->PinBlock(id);
            } else {
              store_->UnpinBlock(id);
            }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  // Let the evictor settle, then stop it and look at the disk.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline && store_->Usage().reserved_bytes != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  done = true;
  monitor.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(checks.load(), 100);
  EXPECT_GT(committed.load(), 50);
  EXPECT_GT(reads.load(), 10);
  store_.reset();  // stops the evictor
  for (const auto& dir : fs::directory_iterator(root_)) {
    EXPECT_TRUE(fs::is_empty(dir.path() / "tmp")) << "leaked temporary files in " << dir.path();
  }

  options.eviction_interval_ms = 0;
  Open(options);
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
  for (const DirUsageInfo& dir : store_->DirUsages()) {
    int64_t on_disk = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) {
      if (entry.is_regular_file() && entry.path().extension() != ".meta") on_disk += entry.file_size();
    }
    EXPECT_EQ(on_disk, dir.used_bytes) << dir.path;
    EXPECT_LE(dir.used_bytes, dir.capacity_bytes) << dir.path;
  }
  for (const CachedBlockInfo& block : store_->ListBlocks()) ReadAndCheck(block.block_id);
}

}  // namespace
}  // namespace cistern::worker
