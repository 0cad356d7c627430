#include "worker/tier_config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

class TierConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tier_config_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  absl::StatusOr<BlockStoreOptions> Parse(const std::vector<std::pair<std::string, std::string>>& values) {
    Config config;
    EXPECT_TRUE(config.Set("worker.tier.mem.dir", root_ + "/mem", "test").ok());
    for (const auto& [key, value] : values) {
      absl::Status status = config.Set(key, value, "test");
      if (!status.ok()) return status;
    }
    return BlockStoreOptionsFromConfig(config);
  }

  // The error of parsing `values` must name `key` and `value`.
  void ExpectError(const std::vector<std::pair<std::string, std::string>>& values, const std::string& key,
                   const std::string& value) {
    auto options = Parse(values);
    ASSERT_FALSE(options.ok()) << "accepted " << key << "=" << value;
    EXPECT_TRUE(absl::IsInvalidArgument(options.status())) << options.status();
    EXPECT_NE(options.status().message().find(key), std::string::npos) << options.status();
    EXPECT_NE(options.status().message().find(value), std::string::npos) << options.status() << " (wanted " << value << ")";
  }

  std::string root_;
};

TEST_F(TierConfigTest, DefaultsGiveOneMemTierFromTheLegacyKeys) {
  auto options = Parse({{"worker.tier.mem.quota", "64MiB"}});
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_EQ(options->tiers.size(), 1u);
  EXPECT_EQ(options->tiers[0].alias, "MEM");
  ASSERT_EQ(options->tiers[0].dirs.size(), 1u);
  EXPECT_EQ(options->tiers[0].dirs[0].path, root_ + "/mem");
  EXPECT_EQ(options->tiers[0].dirs[0].capacity_bytes, 64 << 20);
  EXPECT_TRUE(fs::is_directory(root_ + "/mem"));
  EXPECT_DOUBLE_EQ(options->high_watermark, 0.95);
  EXPECT_DOUBLE_EQ(options->low_watermark, 0.85);
  EXPECT_EQ(options->eviction_policy, "LRU");
  EXPECT_EQ(options->checksum_verify, ChecksumVerify::kFirstRead);
  EXPECT_GT(options->eviction_interval_ms, 0);
}

TEST_F(TierConfigTest, ThreeTiersWithSeveralDirectoriesAndQuotas) {
  auto options = Parse({
      {"worker.tiers", "mem, SSD,HDD"},
      {"worker.tier.mem.dirs", root_ + "/m1," + root_ + "/m2"},
      {"worker.tier.mem.quota", "1MiB"},
      {"worker.tier.ssd.dirs", root_ + "/s1"},
      {"worker.tier.ssd.quota", "10MiB"},
      {"worker.tier.hdd.dirs", root_ + "/h1, " + root_ + "/h2"},
      {"worker.tier.hdd.quota", "100MiB,1.5GiB"},
      {"worker.evictor.policy", "LRFU"},
      {"worker.evictor.lrfu.half_life", "30s"},
      {"worker.tier.evict.high_watermark", "0.9"},
      {"worker.tier.evict.low_watermark", "0.5"},
      {"worker.block.checksum.verify", "always"},
  });
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_EQ(options->tiers.size(), 3u);
  EXPECT_EQ(options->tiers[0].alias, "MEM");
  EXPECT_EQ(options->tiers[1].alias, "SSD");
  EXPECT_EQ(options->tiers[2].alias, "HDD");
  ASSERT_EQ(options->tiers[0].dirs.size(), 2u);
  EXPECT_EQ(options->tiers[0].dirs[1].path, root_ + "/m2");
  EXPECT_EQ(options->tiers[0].dirs[1].capacity_bytes, 1 << 20);  // one quota for all
  EXPECT_EQ(options->tiers[1].dirs[0].capacity_bytes, 10 << 20);
  ASSERT_EQ(options->tiers[2].dirs.size(), 2u);
  EXPECT_EQ(options->tiers[2].dirs[0].capacity_bytes, 100 << 20);
  EXPECT_EQ(options->tiers[2].dirs[1].capacity_bytes, int64_t{3} << 29);
  EXPECT_EQ(options->eviction_policy, "LRFU");
  EXPECT_EQ(options->lrfu_half_life_ms, 30000);
  EXPECT_DOUBLE_EQ(options->high_watermark, 0.9);
  EXPECT_DOUBLE_EQ(options->low_watermark, 0.5);
  EXPECT_EQ(options->checksum_verify, ChecksumVerify::kAlways);
  for (const char* dir : {"/m1", "/m2", "/s1", "/h1", "/h2"}) EXPECT_TRUE(fs::is_directory(root_ + dir)) << dir;
}

TEST_F(TierConfigTest, BadValuesNameTheKeyAndValue) {
  ExpectError({{"worker.tiers", "MEM,NVME"}}, "worker.tiers", "MEM,NVME");
  ExpectError({{"worker.tiers", "SSD,MEM"}}, "worker.tiers", "SSD,MEM");
  ExpectError({{"worker.tiers", "MEM,MEM"}}, "worker.tiers", "MEM,MEM");
  ExpectError({{"worker.tiers", ","}}, "worker.tiers", ",");
  // SSD listed but given no directory or quota.
  ExpectError({{"worker.tiers", "MEM,SSD"}}, "worker.tier.ssd.dirs", "");
  ExpectError({{"worker.tiers", "MEM,SSD"}, {"worker.tier.ssd.dirs", root_ + "/s"}}, "worker.tier.ssd.quota", "");
  ExpectError({{"worker.tiers", "MEM,SSD"}, {"worker.tier.ssd.dirs", root_ + "/s"}, {"worker.tier.ssd.quota", "0"}},
              "worker.tier.ssd.quota", "0");
  ExpectError({{"worker.tiers", "MEM,SSD"}, {"worker.tier.ssd.dirs", root_ + "/s"}, {"worker.tier.ssd.quota", "lots"}},
              "worker.tier.ssd.quota", "lots");
  ExpectError({{"worker.tiers", "MEM,HDD"},
               {"worker.tier.hdd.dirs", root_ + "/a," + root_ + "/b," + root_ + "/c"},
               {"worker.tier.hdd.quota", "1GiB,2GiB"}},
              "worker.tier.hdd.quota", "1GiB,2GiB");
  ExpectError({{"worker.tier.mem.quota", "0"}}, "worker.tier.mem.quota", "0B");
  // Directories that cannot be created or written.
  std::ofstream(root_ + "/file") << "x";
  ExpectError({{"worker.tier.mem.dirs", root_ + "/file/sub"}}, "worker.tier.mem.dirs", root_ + "/file/sub");
  ExpectError({{"worker.tier.mem.dir", "/proc/self"}}, "worker.tier.mem.dir", "/proc/self");
  ExpectError({{"worker.tiers", "MEM,SSD"}, {"worker.tier.ssd.dirs", root_ + "/mem"}, {"worker.tier.ssd.quota", "1GiB"}},
              "worker.tiers", "MEM,SSD");
  ExpectError({{"worker.tier.mem.dirs", root_ + "/x," + root_ + "/x"}}, "worker.tier.mem.dirs", root_ + "/x");
  // Watermarks.
  ExpectError({{"worker.tier.evict.high_watermark", "1.5"}}, "worker.tier.evict.high_watermark", "1.5");
  ExpectError({{"worker.tier.evict.low_watermark", "zero"}}, "worker.tier.evict.low_watermark", "zero");
  ExpectError({{"worker.tier.evict.low_watermark", "0.96"}}, "worker.tier.evict.low_watermark", "0.96");
  // Enumerations are checked by Config itself.
  EXPECT_FALSE(Parse({{"worker.evictor.policy", "FIFO"}}).ok());
  EXPECT_FALSE(Parse({{"worker.block.checksum.verify", "sometimes"}}).ok());
}

}  // namespace
}  // namespace cistern::worker
