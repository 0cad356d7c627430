#include "common/master_peers.h"

#include "common/config_keys.h"
#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(MasterPeersTest, ParsesWithAndWithoutRaftPort) {
  auto peers = ParseMasterPeers(" 1@m1:7700:7801 , 2@m2:7700, 3@10.0.0.3:17700:17701", 7701);
  ASSERT_TRUE(peers.ok()) << peers.status();
  ASSERT_EQ(peers->size(), 3u);
  EXPECT_EQ((*peers)[0], (MasterPeer{1, "m1", 7700, 7801}));
  EXPECT_EQ((*peers)[1], (MasterPeer{2, "m2", 7700, 7701}));
  EXPECT_EQ((*peers)[2].rpc_address(), "10.0.0.3:17700");
  EXPECT_EQ((*peers)[2].raft_address(), "10.0.0.3:17701");
  EXPECT_EQ(FormatMasterPeers(*peers), "1@m1:7700:7801,2@m2:7700:7701,3@10.0.0.3:17700:17701");
  EXPECT_TRUE(ParseMasterPeers("", 7701)->empty());
}

TEST(MasterPeersTest, RejectsBadEntriesNamingThem) {
  for (const char* bad : {"m1:7700", "0@m1:7700", "x@m1:7700", "1@:7700", "1@m1", "1@m1:0", "1@m1:7700:99999",
                          "1@m1:7700:7701:1", "1@m1:7700,1@m2:7700", "1@m1:7700,2@m1:7700"}) {
    auto peers = ParseMasterPeers(bad, 7701);
    EXPECT_TRUE(absl::IsInvalidArgument(peers.status())) << bad;
  }
  auto peers = ParseMasterPeers("1@m1:7700,2@m1:7700", 7701);
  EXPECT_NE(peers.status().message().find("2@m1:7700"), std::string::npos) << peers.status();
}

TEST(MasterPeersTest, SelfIdByConfigOrByAddressAndClientAddresses) {
  Config config;
  ASSERT_TRUE(config.Set("master.raft.peers", "1@a:7700,2@b:7700,3@c:7700", "test").ok());
  auto peers = MasterPeers(config);
  ASSERT_TRUE(peers.ok());
  EXPECT_FALSE(SelfMasterId(config, *peers).ok());  // localhost:7700 is not listed
  ASSERT_TRUE(config.Set("master.hostname", "b", "test").ok());
  EXPECT_EQ(SelfMasterId(config, *peers).value(), 2u);
  ASSERT_TRUE(config.Set("master.raft.id", "3", "test").ok());
  EXPECT_EQ(SelfMasterId(config, *peers).value(), 3u);
  ASSERT_TRUE(config.Set("master.raft.id", "4", "test").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(SelfMasterId(config, *peers).status()));
  EXPECT_EQ(MasterAddresses(config), (std::vector<std::string>{"a:7700", "b:7700", "c:7700"}));
  ASSERT_TRUE(config.Set("master.rpc.addresses", "x:1", "test").ok());
  EXPECT_EQ(MasterAddresses(config), std::vector<std::string>{"x:1"});
}

}  // namespace
}  // namespace cistern
