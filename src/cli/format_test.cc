#include "cli/format.h"

#include <cstdlib>
#include <ctime>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cistern::cli {
namespace {

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

FileStatus File() {
  FileStatus s;
  s.path = "/data/sets/big.bin";
  s.name = "big.bin";
  s.length = 100 << 20;
  s.block_size_bytes = 64 << 20;
  s.mode = 0644;
  s.owner = "alice";
  s.group = "staff";
  s.creation_time_ms = 1700000000000;
  s.modification_time_ms = 1700000001000;
  s.completed = true;
  s.persistence_state = PersistenceState::kPersisted;
  s.write_type = WriteType::kThrough;
  s.ufs_path = "file:///u/data/sets/big.bin";
  s.in_cache_percentage = 64;
  s.cached_bytes = 67108864;
  s.block_ids = {1 << 24, (1 << 24) | 1};
  s.blocks = {{1 << 24, 0, 64 << 20, {{2, "127.0.0.1:7710", "MEM"}}}, {(1 << 24) | 1, 64 << 20, 36 << 20, {}}};
  return s;
}

TEST_F(FormatTest, ModeString) {
  EXPECT_EQ(ModeString(0755, true), "drwxr-xr-x");
  EXPECT_EQ(ModeString(0644, false), "-rw-r--r--");
  EXPECT_EQ(ModeString(0, false), "----------");
  EXPECT_EQ(ModeString(0777, false), "-rwxrwxrwx");
  EXPECT_EQ(ModeString(01777, true), "drwxrwxrwt");
  EXPECT_EQ(ModeString(04644, false), "-rwSr--r--");
  EXPECT_EQ(ModeString(02755, false), "-rwxr-sr-x");
}

TEST_F(FormatTest, TimeIsFixedFormat) {
  EXPECT_EQ(FormatTimeMs(1700000001000), "2023-11-14 22:13:21");
  EXPECT_EQ(FormatTimeMs(0), "-");
}

TEST_F(FormatTest, LsLine) {
  EXPECT_EQ(FormatLsLine(File(), false),
            "-rw-r--r-- alice      staff         104857600 PERSISTED       2023-11-14 22:13:21  64% /data/sets/big.bin");
  EXPECT_EQ(FormatLsLine(File(), true),
            "-rw-r--r-- alice      staff            100MiB PERSISTED       2023-11-14 22:13:21  64% /data/sets/big.bin");
  FileStatus dir;
  dir.path = "/data";
  dir.is_directory = true;
  dir.mode = 0755;
  dir.owner = "root";
  dir.group = "root";
  dir.modification_time_ms = 1700000001000;
  dir.persistence_state = PersistenceState::kNotPersisted;
  EXPECT_EQ(FormatLsLine(dir, false),
            "drwxr-xr-x root       root                  0 NOT_PERSISTED   2023-11-14 22:13:21    - /data");
  // Same input, same line: listings are comparable across runs.
  EXPECT_EQ(FormatLsLine(File(), true), FormatLsLine(File(), true));
}

TEST_F(FormatTest, StatShowsEveryField) {
  const std::string text = FormatStat(File());
  for (const char* expected :
       {"Path:               /data/sets/big.bin\n", "Type:               file\n", "Length:             104857600 (100MiB)\n",
        "Block size:         67108864 (64MiB)\n", "Mode:               -rw-r--r-- (0644)\n", "Owner:              alice\n",
        "Group:              staff\n", "Modified:           2023-11-14 22:13:21\n", "Persistence state:  PERSISTED\n",
        "Write type:         THROUGH\n", "UFS path:           file:///u/data/sets/big.bin\n", "In cache:           67108864 of 104857600 bytes (64%)\n",
        "Blocks:             2\n",
        "  block 0: id 16777216 offset 0 length 67108864 locations [worker 2 127.0.0.1:7710 MEM]\n",
        "  block 1: id 16777217 offset 67108864 length 37748736 locations []\n"}) {
    EXPECT_TRUE(absl::StrContains(text, expected)) << "missing: " << expected << "in:\n" << text;
  }
  FileStatus f = File();
  f.persistence_state = PersistenceState::kNotPersisted;
  EXPECT_TRUE(absl::StrContains(FormatStat(f), "NOT_PERSISTED"));
}

TEST_F(FormatTest, Report) {
  MasterInfo master;
  master.address = "127.0.0.1:7700";
  master.version = "0.1.0";
  master.cluster_id = "abc";
  master.inode_count = 12;
  master.applied_index = 40;
  WorkerSummary live;
  live.worker_id = 1;
  live.address = "127.0.0.1:7710";
  live.state = WorkerState::kLive;
  live.capacity_bytes = 512 << 20;
  live.used_bytes = 100 << 20;
  live.block_count = 2;
  live.last_heartbeat_ms = 1'000'000 - 200;
  WorkerSummary lost = live;
  lost.worker_id = 2;
  lost.address = "10.0.0.2:7710";
  lost.state = WorkerState::kLost;
  live.tiers.push_back(TierCapacity{"MEM", 512 << 20, 100 << 20});
  MountPoint root;
  root.path = "/";
  root.ufs_uri = "file:///u";
  MountPoint ro;
  ro.path = "/ro";
  ro.ufs_uri = "file:///other";
  ro.read_only = true;
  ro.options = {{"sync_interval", "1m"}};
  const std::string text = FormatReport(master, {live, lost}, {root, ro}, 1'000'000);
  EXPECT_TRUE(absl::StrContains(text, "1              MEM        512MiB     100MiB    19%\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "/ro ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "read-only")) << text;
  EXPECT_TRUE(absl::StrContains(text, "sync_interval=1m")) << text;
  auto json = nlohmann::json::parse(ReportJson(master, {live, lost}, {root, ro}));
  EXPECT_EQ(json["workers"][0]["tiers"][0]["alias"], "MEM");
  EXPECT_EQ(json["mounts"][1]["read_only"], true);
  for (const char* expected : {"Master:          127.0.0.1:7700\n", "Version:         0.1.0\n", "Cluster id:      abc\n",
                               "Inodes:          12\n", "Applied index:   40\n", "Workers:         1 live, 1 lost\n",
                               "Capacity:        512MiB (live workers)\n", "Cached blocks:   2\n"}) {
    EXPECT_TRUE(absl::StrContains(text, expected)) << "missing: " << expected << "in:\n" << text;
  }
  EXPECT_TRUE(absl::StrContains(text, "1              127.0.0.1:7710           LIVE       512MiB     100MiB        2 200ms ago"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "10.0.0.2:7710            LOST")) << text;
}

TEST_F(FormatTest, StatShowsTtlPinnedReplicationAndSync) {
  FileStatus f = File();
  f.ttl_ms = 3600 * 1000 + 1000;
  f.ttl_action = TtlAction::kFree;
  f.pinned = true;
  f.replication_min = 1;
  const std::string text = FormatStat(f);
  EXPECT_TRUE(absl::StrContains(text, "TTL:                1h 1s (FREE, expires ")) << text;
  EXPECT_TRUE(absl::StrContains(text, "Pinned:             yes\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "Replication:        min 1, max unlimited\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "Last sync:          -\n")) << text;
  EXPECT_TRUE(absl::StrContains(FormatStat(File()), "TTL:                -\n"));
}

TEST_F(FormatTest, TtlAndDu) {
  EXPECT_EQ(FormatTtl(0), "-");
  EXPECT_EQ(FormatTtl(90 * 1000), "1m 30s");
  EXPECT_EQ(FormatTtl(2 * 86400000LL + 3 * 3600000LL), "2d 3h");
  EXPECT_EQ(FormatDuLine("/a", 1000, 250, false), "          1000            250 (25%) /a");
  EXPECT_EQ(FormatDuLine("/empty", 0, 0, false), "             0              0 (100%) /empty");
}

TEST_F(FormatTest, FileStatusJsonHasFieldsAndBlocks) {
  auto j = nlohmann::json::parse(FileStatusJson(File()));
  EXPECT_EQ(j["path"], "/data/sets/big.bin");
  EXPECT_EQ(j["type"], "file");
  EXPECT_EQ(j["length"], 104857600);
  EXPECT_EQ(j["mode"], "0644");
  EXPECT_EQ(j["persistence_state"], "PERSISTED");
  EXPECT_EQ(j["blocks"][0]["locations"][0]["tier"], "MEM");
}

}  // namespace
}  // namespace cistern::cli
