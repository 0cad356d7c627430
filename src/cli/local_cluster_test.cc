#include "cli/local_cluster.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "common/config.h"
#include "common/config_keys.h"
#include "gtest/gtest.h"

namespace cistern::cli {
namespace {

TEST(LocalClusterTest, PropertiesAreValidConfiguration) {
  Config config;
  ASSERT_TRUE(config.ApplyProperties(LocalProperties("/h/local", 1000), "local").ok());
  EXPECT_EQ(config.GetString(conf::kCisternHome), "/h/local");
  EXPECT_EQ(config.GetString(conf::kMasterHostname), "localhost");
  EXPECT_EQ(config.GetInt(conf::kMasterRpcPort), 7700);
  EXPECT_EQ(config.GetString(conf::kMasterMountRootUfs), "file:///h/local/underfs");
  EXPECT_EQ(config.GetString(conf::kMasterMetastoreDir), "/h/local/metastore");
  EXPECT_EQ(config.GetString(conf::kWorkerHostname), "localhost");
  EXPECT_EQ(config.GetInt(conf::kWorkerRpcPort), 7710);
  EXPECT_EQ(config.GetString(conf::kWorkerTierMemDir), "/dev/shm/cistern-local-1000");
  EXPECT_EQ(config.GetSizeBytes(conf::kWorkerTierMemQuota), int64_t{1} << 30);
}

TEST(LocalClusterTest, UsageSaysHowToUseAndStop) {
  const std::string text = LocalUsage("/h/local", "localhost:7700", "localhost:7710", "/dev/shm/x");
  EXPECT_TRUE(absl::StrContains(text, "export CISTERN_CONF_DIR=/h/local/conf")) << text;
  EXPECT_TRUE(absl::StrContains(text, "/h/local/logs")) << text;
  EXPECT_TRUE(absl::StrContains(text, "cistern local stop")) << text;
  EXPECT_TRUE(absl::StrContains(text, "localhost:7700")) << text;
}

TEST(LocalClusterTest, ProcessIsDaemonChecksNameAndLiveness) {
  // This test binary is alive but is not a daemon of that name.
  EXPECT_FALSE(ProcessIsDaemon(::getpid(), "cistern-master"));
  EXPECT_TRUE(ProcessIsDaemon(::getpid(), "cli_test"));
  EXPECT_FALSE(ProcessIsDaemon(0, "cli_test"));
  EXPECT_FALSE(ProcessIsDaemon(999999999, "cli_test"));
}

}  // namespace
}  // namespace cistern::cli
