#include "master/block_master.h"

#include <set>

#include "common/block_id.h"
#include "gtest/gtest.h"

namespace cistern::master {
namespace {

proto::RegisterWorkerRequest Registration(const std::string& host, int port, std::vector<uint64_t> blocks) {
  proto::RegisterWorkerRequest request;
  request.mutable_address()->set_host(host);
  request.mutable_address()->set_rpc_port(port);
  proto::TierUsage* tier = request.add_tiers();
  tier->set_alias("MEM");
  tier->set_capacity_bytes(1000);
  for (uint64_t b : blocks) {
    proto::CachedBlock* block = request.add_blocks();
    block->set_block_id(b);
    block->set_length(10);
    block->set_tier("MEM");
  }
  return request;
}

proto::CachedBlock Block(uint64_t block_id, int64_t length) {
  proto::CachedBlock block;
  block.set_block_id(block_id);
  block.set_length(length);
  block.set_tier("MEM");
  return block;
}

class BlockMasterTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  std::set<uint64_t> files_{1, 2};
  BlockMaster master_{&clock_, BlockMasterOptions{5000}, [this](uint64_t f) { return files_.count(f) > 0; }};
};

TEST_F(BlockMasterTest, RegistrationGivesLocationsAndFreesBlocksOfDeletedFiles) {
  auto id = master_.RegisterWorker(Registration("h", 1, {MakeBlockId(1, 0), MakeBlockId(9, 0)}));
  ASSERT_TRUE(id.ok());
  auto locations = master_.GetLocations(MakeBlockId(1, 0));
  ASSERT_EQ(locations.size(), 1u);
  EXPECT_EQ(locations[0].worker_id(), *id);
  EXPECT_EQ(locations[0].address().host(), "h");
  EXPECT_TRUE(master_.GetLocations(MakeBlockId(9, 0)).empty());
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*id);
  auto reply = master_.Heartbeat(hb);
  EXPECT_EQ(reply.command(), proto::FREE);
  ASSERT_EQ(reply.block_ids_size(), 1);
  EXPECT_EQ(reply.block_ids(0), MakeBlockId(9, 0));
  EXPECT_EQ(master_.Heartbeat(hb).command(), proto::NOTHING);
}

TEST_F(BlockMasterTest, UnknownWorkerIsToldToRegisterAndSameAddressKeepsId) {
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(12345);
  EXPECT_EQ(master_.Heartbeat(hb).command(), proto::REGISTER);
  auto a = master_.RegisterWorker(Registration("h", 1, {}));
  auto b = master_.RegisterWorker(Registration("h", 1, {MakeBlockId(2, 3)}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(master_.GetWorkers().size(), 1u);
  EXPECT_EQ(master_.GetWorkers()[0].block_count(), 1);
  EXPECT_FALSE(master_.RegisterWorker(Registration("", 1, {})).ok());
}

TEST_F(BlockMasterTest, SilentWorkerIsLostAndItsLocationsDropped) {
  auto id = master_.RegisterWorker(Registration("h", 1, {MakeBlockId(1, 0)}));
  ASSERT_TRUE(id.ok());
  clock_.AdvanceMs(4000);
  master_.DetectLostWorkers();
  EXPECT_EQ(master_.GetWorkers()[0].state(), proto::LIVE);
  clock_.AdvanceMs(2000);
  master_.DetectLostWorkers();
  EXPECT_EQ(master_.GetWorkers()[0].state(), proto::LOST);
  EXPECT_TRUE(master_.GetLocations(MakeBlockId(1, 0)).empty());
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*id);
  EXPECT_EQ(master_.Heartbeat(hb).command(), proto::REGISTER);
}

TEST_F(BlockMasterTest, CommitBlockUpdatesTheWorkersUsageWhenItCarriesIt) {
  auto id = master_.RegisterWorker(Registration("h", 1, {}));
  ASSERT_TRUE(id.ok());
  proto::CachedBlock block = Block(MakeBlockId(2, 0), 300);
  google::protobuf::RepeatedPtrField<proto::TierUsage> tiers;
  proto::TierUsage* tier = tiers.Add();
  tier->set_alias("MEM");
  tier->set_capacity_bytes(1000);
  tier->set_used_bytes(300);
  ASSERT_TRUE(master_.CommitBlock(*id, block, tiers).ok());
  EXPECT_EQ(master_.GetWorkers()[0].used_bytes(), 300);
  ASSERT_EQ(master_.GetWorkers()[0].tiers_size(), 1);
  EXPECT_EQ(master_.GetWorkers()[0].tiers(0).used_bytes(), 300);
  // A commit without usage (an older worker) keeps what the last report said.
  block.set_block_id(MakeBlockId(2, 1));
  ASSERT_TRUE(master_.CommitBlock(*id, block).ok());
  EXPECT_EQ(master_.GetWorkers()[0].used_bytes(), 300);
  EXPECT_EQ(master_.GetWorkers()[0].capacity_bytes(), 1000);
}

TEST_F(BlockMasterTest, ACommitCancelsAFreeNotYetDeliveredAndDeletedFilesAreNotLocated) {
  auto id = master_.RegisterWorker(Registration("h", 1, {MakeBlockId(1, 0), MakeBlockId(2, 0)}));
  ASSERT_TRUE(id.ok());
  master_.RemoveFiles({1, 2});  // `fs free` of both files
  proto::CachedBlock block = Block(MakeBlockId(1, 0), 10);
  ASSERT_TRUE(master_.CommitBlock(*id, block).ok());  // `fs load` of file 1 before the next heartbeat
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*id);
  auto reply = master_.Heartbeat(hb);
  EXPECT_EQ(reply.command(), proto::FREE);
  EXPECT_EQ(std::set<uint64_t>(reply.block_ids().begin(), reply.block_ids().end()),
            (std::set<uint64_t>{MakeBlockId(2, 0)}));
  EXPECT_EQ(master_.GetLocations(MakeBlockId(1, 0)).size(), 1u);

  // A block freed after the worker built its heartbeat is not located again by that heartbeat.
  master_.RemoveFiles({1});
  proto::CachedBlock* stale = hb.add_added_blocks();
  stale->set_block_id(MakeBlockId(1, 0));
  stale->set_tier("MEM");
  reply = master_.Heartbeat(hb);
  EXPECT_TRUE(master_.GetLocations(MakeBlockId(1, 0)).empty());
  EXPECT_EQ(std::vector<uint64_t>(reply.block_ids().begin(), reply.block_ids().end()),
            (std::vector<uint64_t>{MakeBlockId(1, 0)}));
  hb.clear_added_blocks();

  // A block of a file deleted meanwhile, reported by a heartbeat, is freed rather than located.
  files_.erase(2);
  proto::CachedBlock* added = hb.add_added_blocks();
  added->set_block_id(MakeBlockId(2, 3));
  added->set_tier("MEM");
  reply = master_.Heartbeat(hb);
  EXPECT_TRUE(master_.GetLocations(MakeBlockId(2, 3)).empty());
  EXPECT_EQ(reply.command(), proto::FREE);
  EXPECT_EQ(std::vector<uint64_t>(reply.block_ids().begin(), reply.block_ids().end()),
            (std::vector<uint64_t>{MakeBlockId(2, 3)}));
}

TEST_F(BlockMasterTest, HeartbeatDeltasAndRemoveFiles) {
  auto id = master_.RegisterWorker(Registration("h", 1, {}));
  ASSERT_TRUE(id.ok());
  proto::CachedBlock block = Block(MakeBlockId(2, 0), 5);
  ASSERT_TRUE(master_.CommitBlock(*id, block).ok());
  block.set_block_id(MakeBlockId(7, 0));
  EXPECT_EQ(master_.CommitBlock(*id, block).code(), absl::StatusCode::kNotFound) << "file 7 does not exist";
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*id);
  proto::CachedBlock* added = hb.add_added_blocks();
  added->set_block_id(MakeBlockId(1, 4));
  added->set_tier("MEM");
  EXPECT_EQ(master_.Heartbeat(hb).command(), proto::NOTHING);
  EXPECT_EQ(master_.GetLocations(MakeBlockId(1, 4)).size(), 1u);
  master_.RemoveFiles({2});
  EXPECT_TRUE(master_.GetLocations(MakeBlockId(2, 0)).empty());
  hb.clear_added_blocks();
  auto reply = master_.Heartbeat(hb);
  EXPECT_EQ(reply.command(), proto::FREE);
  ASSERT_EQ(reply.block_ids_size(), 1);
  EXPECT_EQ(reply.block_ids(0), MakeBlockId(2, 0));
}

}  // namespace
}  // namespace cistern::master

namespace cistern::master {
namespace {

TEST_F(BlockMasterTest, MountTableGoesToWorkersWhenTheirCopyIsStale) {
  std::vector<proto::MountInfo> table(1);
  table[0].set_mount_id(7);
  table[0].set_path("/s3");
  table[0].set_ufs_uri("s3://b/p");
  (*table[0].mutable_options())["s3.endpoint"] = "http://127.0.0.1:9000";
  master_.set_mount_table_fn([&] { return table; });
  auto id = master_.RegisterWorker(Registration("h", 1, {}));
  ASSERT_TRUE(id.ok());
  auto [version, mounts] = master_.MountTableFor(0);
  ASSERT_NE(version, 0u);
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].options().at("s3.endpoint"), "http://127.0.0.1:9000");

  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*id);
  hb.set_mount_table_version(0);
  auto reply = master_.Heartbeat(hb);
  EXPECT_EQ(reply.mount_table_version(), version);
  EXPECT_EQ(reply.mounts_size(), 1);
  hb.set_mount_table_version(version);
  reply = master_.Heartbeat(hb);
  EXPECT_EQ(reply.mount_table_version(), 0u) << "an up-to-date worker gets nothing";
  EXPECT_EQ(reply.mounts_size(), 0);
  // A changed option is a new version.
  (*table[0].mutable_options())["s3.endpoint"] = "http://127.0.0.1:9001";
  reply = master_.Heartbeat(hb);
  EXPECT_NE(reply.mount_table_version(), version);
  ASSERT_EQ(reply.mounts_size(), 1);
  EXPECT_EQ(reply.mounts(0).options().at("s3.endpoint"), "http://127.0.0.1:9001");
}

}  // namespace
}  // namespace cistern::master
