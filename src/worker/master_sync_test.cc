#include "worker/master_sync.h"

#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/block_id.h"
#include "gtest/gtest.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

// An in-process block master: records every request and answers from a script.
class FakeMaster : public BlockMasterConnection {
 public:
  absl::StatusOr<proto::RegisterWorkerResponse> RegisterWorker(const proto::RegisterWorkerRequest& request) override {
    absl::MutexLock lock(&mu_);
    registrations.push_back(request);
    if (!fail_status.ok()) return fail_status;
    proto::RegisterWorkerResponse response;
    response.set_worker_id(next_worker_id++);
    return response;
  }
  absl::StatusOr<proto::WorkerHeartbeatResponse> WorkerHeartbeat(
      const proto::WorkerHeartbeatRequest& request) override {
    if (during_heartbeat) during_heartbeat();
    absl::MutexLock lock(&mu_);
    heartbeats.push_back(request);
    if (!fail_status.ok()) return fail_status;
    proto::WorkerHeartbeatResponse response = next_response;
    next_response = proto::WorkerHeartbeatResponse();
    return response;
  }
  absl::StatusOr<proto::CommitBlockResponse> CommitBlock(const proto::CommitBlockRequest& request) override {
    absl::MutexLock lock(&mu_);
    commits.push_back(request);
    return proto::CommitBlockResponse();
  }

  size_t registration_count() {
    absl::MutexLock lock(&mu_);
    return registrations.size();
  }

  absl::Mutex mu_;
  std::vector<proto::RegisterWorkerRequest> registrations;
  std::vector<proto::WorkerHeartbeatRequest> heartbeats;
  std::vector<proto::CommitBlockRequest> commits;
  absl::Status fail_status;
  proto::WorkerHeartbeatResponse next_response;
  uint64_t next_worker_id = 5;
  // Runs while a heartbeat is in flight (before its reply is made).
  std::function<void()> during_heartbeat;
};

// Forwards to a FakeMaster the test keeps.
class ForwardingMaster : public BlockMasterConnection {
 public:
  explicit ForwardingMaster(FakeMaster* master) : master_(master) {}
  absl::StatusOr<proto::RegisterWorkerResponse> RegisterWorker(const proto::RegisterWorkerRequest& r) override {
    return master_->RegisterWorker(r);
  }
  absl::StatusOr<proto::WorkerHeartbeatResponse> WorkerHeartbeat(const proto::WorkerHeartbeatRequest& r) override {
    return master_->WorkerHeartbeat(r);
  }
  absl::StatusOr<proto::CommitBlockResponse> CommitBlock(const proto::CommitBlockRequest& r) override {
    return master_->CommitBlock(r);
  }

 private:
  FakeMaster* const master_;
};

std::set<uint64_t> BlockIds(const google::protobuf::RepeatedPtrField<proto::CachedBlock>& blocks) {
  std::set<uint64_t> ids;
  for (const auto& b : blocks) ids.insert(b.block_id());
  return ids;
}

class MasterSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "master_sync_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    auto store = BlockStore::Open(BlockStoreOptions::SingleDir(root_ + "/mem", 1 << 20));
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    MasterSyncOptions options;
    options.hostname = "host1";
    options.rpc_port = 7710;
    options.heartbeat_interval_ms = 20;
    options.set_log_node_id = false;
    sync_ = std::make_unique<MasterSync>(store_.get(), std::make_unique<ForwardingMaster>(&master_),
                                         std::make_unique<ForwardingMaster>(&master_), options);
  }
  void TearDown() override {
    sync_.reset();
    store_.reset();
    fs::remove_all(root_);
  }
  void Write(uint64_t id, const std::string& data) {
    auto writer = store_->CreateWriter(id, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(data).ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }

  std::string root_;
  FakeMaster master_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<MasterSync> sync_;
};

TEST_F(MasterSyncTest, RegistersWithAllBlocksThenHeartbeatsDeltas) {
  Write(1, "a");
  Write(2, "bb");
  EXPECT_TRUE(absl::IsUnavailable(sync_->CommitBlock(1, 1, "MEM")));

  sync_->RunOnceForTest();
  ASSERT_EQ(master_.registrations.size(), 1u);
  const auto& reg = master_.registrations[0];
  EXPECT_EQ(reg.address().host(), "host1");
  EXPECT_EQ(reg.address().rpc_port(), 7710);
  EXPECT_EQ(BlockIds(reg.blocks()), (std::set<uint64_t>{1, 2}));
  ASSERT_EQ(reg.tiers_size(), 1);
  EXPECT_EQ(reg.tiers(0).alias(), "MEM");
  EXPECT_EQ(reg.tiers(0).capacity_bytes(), 1 << 20);
  EXPECT_EQ(reg.tiers(0).used_bytes(), 3);
  EXPECT_EQ(sync_->worker_id(), 5u);

  Write(3, "ccc");
  ASSERT_TRUE(store_->Remove(1).ok());
  sync_->RunOnceForTest();
  ASSERT_EQ(master_.heartbeats.size(), 1u);
  EXPECT_EQ(master_.heartbeats[0].worker_id(), 5u);
  EXPECT_EQ(BlockIds(master_.heartbeats[0].added_blocks()), (std::set<uint64_t>{3}));
  ASSERT_EQ(master_.heartbeats[0].removed_block_ids_size(), 1);
  EXPECT_EQ(master_.heartbeats[0].removed_block_ids(0), 1u);

  sync_->RunOnceForTest();
  EXPECT_EQ(master_.heartbeats[1].added_blocks_size(), 0);
  EXPECT_EQ(master_.heartbeats[1].removed_block_ids_size(), 0);

  ASSERT_TRUE(sync_->CommitBlock(3, 3, "MEM").ok());
  ASSERT_EQ(master_.commits.size(), 1u);
  EXPECT_EQ(master_.commits[0].worker_id(), 5u);
  EXPECT_EQ(master_.commits[0].block().block_id(), 3u);
  EXPECT_EQ(master_.commits[0].block().length(), 3);
}

TEST_F(MasterSyncTest, FailedHeartbeatKeepsItsDelta) {
  sync_->RunOnceForTest();
  Write(7, "x");
  master_.fail_status = absl::UnavailableError("master down");
  sync_->RunOnceForTest();
  Write(8, "y");
  master_.fail_status = absl::OkStatus();
  sync_->RunOnceForTest();
  ASSERT_EQ(master_.heartbeats.size(), 2u);
  EXPECT_EQ(BlockIds(master_.heartbeats[1].added_blocks()), (std::set<uint64_t>{7, 8}));
}

TEST_F(MasterSyncTest, RetriesRegistrationUntilTheMasterAnswers) {
  master_.fail_status = absl::UnavailableError("master down");
  sync_->RunOnceForTest();
  sync_->RunOnceForTest();
  EXPECT_EQ(sync_->worker_id(), 0u);
  master_.fail_status = absl::OkStatus();
  Write(9, "z");
  sync_->RunOnceForTest();
  EXPECT_EQ(sync_->worker_id(), 5u);
  ASSERT_EQ(master_.registrations.size(), 3u);
  EXPECT_EQ(BlockIds(master_.registrations[2].blocks()), (std::set<uint64_t>{9}));
  EXPECT_TRUE(master_.heartbeats.empty());
}

TEST_F(MasterSyncTest, ObeysRegisterAndFreeCommands) {
  Write(1, "a");
  Write(2, "b");
  sync_->RunOnceForTest();
  Write(3, "c");

  master_.next_response.set_command(proto::REGISTER);
  sync_->RunOnceForTest();
  ASSERT_EQ(master_.registrations.size(), 2u);
  EXPECT_EQ(BlockIds(master_.registrations[1].blocks()), (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(sync_->worker_id(), 6u);

  master_.next_response.set_command(proto::FREE);
  master_.next_response.add_block_ids(1);
  master_.next_response.add_block_ids(3);
  master_.next_response.add_block_ids(42);  // not cached: ignored
  sync_->RunOnceForTest();
  EXPECT_FALSE(store_->Contains(1));
  EXPECT_TRUE(store_->Contains(2));
  EXPECT_FALSE(store_->Contains(3));
  sync_->RunOnceForTest();
  const auto& last = master_.heartbeats.back();
  EXPECT_EQ(std::set<uint64_t>(last.removed_block_ids().begin(), last.removed_block_ids().end()),
            (std::set<uint64_t>{1, 3}));
}

TEST_F(MasterSyncTest, KeepsABlockCommittedWhileTheHeartbeatThatFreesItWasInFlight) {
  Write(1, "a");
  Write(2, "b");
  sync_->RunOnceForTest();  // registers
  master_.next_response.set_command(proto::FREE);
  master_.next_response.add_block_ids(1);
  master_.next_response.add_block_ids(2);
  // `fs load` of block 2 commits it while the heartbeat whose reply frees it is on its way.
  master_.during_heartbeat = [this] { EXPECT_TRUE(sync_->CommitBlock(2, 1, "MEM").ok()); };
  sync_->RunOnceForTest();
  master_.during_heartbeat = nullptr;
  EXPECT_FALSE(store_->Contains(1));
  EXPECT_TRUE(store_->Contains(2)) << "the commit came after the master decided to free it";
  sync_->RunOnceForTest();
  const auto& last = master_.heartbeats.back();
  EXPECT_EQ(BlockIds(last.added_blocks()), (std::set<uint64_t>{2})) << "reported again so the master locates it";
  EXPECT_EQ(std::set<uint64_t>(last.removed_block_ids().begin(), last.removed_block_ids().end()),
            (std::set<uint64_t>{1}));
  // A free decided after the commit was seen is obeyed.
  master_.next_response.set_command(proto::FREE);
  master_.next_response.add_block_ids(2);
  sync_->RunOnceForTest();
  EXPECT_FALSE(store_->Contains(2));
}

TEST_F(MasterSyncTest, ThreadRegistersAndStopsPromptly) {
  sync_->Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (master_.registration_count() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(master_.registration_count(), 1u);
  const auto start = std::chrono::steady_clock::now();
  sync_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(MasterSyncTest, ReportsEveryTierAndTheTierOfEachBlock) {
  sync_.reset();
  store_.reset();
  BlockStoreOptions options;
  options.tiers = {{"MEM", {{root_ + "/mem", 1 << 20}}}, {"SSD", {{root_ + "/ssd0", 1 << 20}, {root_ + "/ssd1", 2 << 20}}}};
  auto store = BlockStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  MasterSyncOptions sync_options;
  sync_options.hostname = "host1";
  sync_options.rpc_port = 7710;
  sync_options.set_log_node_id = false;
  sync_ = std::make_unique<MasterSync>(store_.get(), std::make_unique<ForwardingMaster>(&master_),
                                       std::make_unique<ForwardingMaster>(&master_), sync_options);
  Write(1, "a");
  Write(2, "bb");
  ASSERT_TRUE(store_->MoveBlock(2, 1).ok());

  sync_->RunOnceForTest();
  ASSERT_EQ(master_.registrations.size(), 1u);
  const auto& reg = master_.registrations[0];
  ASSERT_EQ(reg.tiers_size(), 2);
  EXPECT_EQ(reg.tiers(0).alias(), "MEM");
  EXPECT_EQ(reg.tiers(1).alias(), "SSD");
  EXPECT_EQ(reg.tiers(1).capacity_bytes(), 3 << 20);
  EXPECT_EQ(reg.tiers(1).used_bytes(), 2);
  std::map<uint64_t, std::string> tiers;
  for (const auto& block : reg.blocks()) tiers[block.block_id()] = block.tier();
  EXPECT_EQ(tiers, (std::map<uint64_t, std::string>{{1, "MEM"}, {2, "SSD"}}));

  // A block that moves between tiers is reported again with its new tier.
  ASSERT_TRUE(store_->MoveBlock(1, 1).ok());
  sync_->RunOnceForTest();
  ASSERT_EQ(master_.heartbeats.size(), 1u);
  ASSERT_EQ(master_.heartbeats[0].added_blocks_size(), 1);
  EXPECT_EQ(master_.heartbeats[0].added_blocks(0).block_id(), 1u);
  EXPECT_EQ(master_.heartbeats[0].added_blocks(0).tier(), "SSD");
  EXPECT_EQ(master_.heartbeats[0].removed_block_ids_size(), 0);
}

TEST_F(MasterSyncTest, PinnedFilesFromHeartbeatRepliesProtectTheirBlocks) {
  const uint64_t block = MakeBlockId(7, 0);
  Write(block, "pinned");
  sync_->RunOnceForTest();  // registers
  {
    absl::MutexLock lock(&master_.mu_);
    master_.next_response.set_command(proto::NOTHING);
    master_.next_response.add_pinned_file_ids(7);
  }
  sync_->RunOnceForTest();
  EXPECT_TRUE(store_->IsPinned(block));
  sync_->RunOnceForTest();  // the next reply no longer lists file 7
  EXPECT_FALSE(store_->IsPinned(block));
}

}  // namespace
}  // namespace cistern::worker

namespace cistern::worker {
namespace {

TEST_F(MasterSyncTest, ProvisionalPinsHoldUntilAHeartbeatSentAfterThemIsAnswered) {
  const uint64_t block = MakeBlockId(9, 0);
  sync_->RunOnceForTest();  // registers
  store_->PinProvisionally(block);
  Write(block, "only copy");
  EXPECT_TRUE(store_->IsPinned(block));
  // A heartbeat that fails releases nothing.
  master_.fail_status = absl::UnavailableError("master down");
  sync_->RunOnceForTest();
  EXPECT_TRUE(store_->IsPinned(block));
  master_.fail_status = absl::OkStatus();
  {
    absl::MutexLock lock(&master_.mu_);
    master_.next_response.add_pinned_file_ids(9);  // the master protects the file now
  }
  sync_->RunOnceForTest();
  EXPECT_TRUE(store_->IsPinned(block));
  sync_->RunOnceForTest();  // and no longer (persisted): the provisional pin is gone too
  EXPECT_FALSE(store_->IsPinned(block));
}

TEST_F(MasterSyncTest, PersistCommandsRunAndTheirResultsTravelWithTheNextHeartbeats) {
  UfsRegistry ufs;
  PersisterOptions options;
  options.max_concurrent = 1;
  Persister persister(store_.get(), &ufs, options);
  sync_->set_persister(&persister);
  const uint64_t block = MakeBlockId(4, 0);
  Write(block, "persist me");
  sync_->RunOnceForTest();  // registers
  proto::PersistFileCommand command;
  command.set_file_id(4);
  command.set_attempt(1);
  command.set_ufs_path("file://" + root_ + "/ufs/.tmp/4-1");
  command.set_length(10);
  proto::BlockInfo* info = command.add_blocks();
  info->set_block_id(block);
  info->set_length(10);
  {
    absl::MutexLock lock(&master_.mu_);
    *master_.next_response.add_persist_files() = command;
  }
  sync_->RunOnceForTest();
  // The next heartbeats name the file as running or done, until the result was delivered.
  bool delivered = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!delivered && std::chrono::steady_clock::now() < deadline) {
    sync_->RunOnceForTest();
    const proto::WorkerHeartbeatRequest& last = master_.heartbeats.back();
    if (last.persist_results_size() == 1) {
      EXPECT_EQ(last.persist_results(0).file_id(), 4u);
      EXPECT_EQ(last.persist_results(0).error(), "");
      EXPECT_EQ(last.persist_results(0).ufs_fingerprint().length(), 10);
      delivered = true;
    } else {
      ASSERT_EQ(last.persisting_file_ids_size(), 1);
      EXPECT_EQ(last.persisting_file_ids(0), 4u);
    }
  }
  ASSERT_TRUE(delivered);
  sync_->RunOnceForTest();
  EXPECT_EQ(master_.heartbeats.back().persist_results_size(), 0);
  EXPECT_EQ(master_.heartbeats.back().persisting_file_ids_size(), 0);
  std::ifstream in(root_ + "/ufs/.tmp/4-1");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "persist me");
  sync_.reset();
}

}  // namespace
}  // namespace cistern::worker
