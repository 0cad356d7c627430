// The Persister against a real local under-store: blocks from its own store and from a peer
// worker (a real BlockWorker gRPC server in-process), and the failures it reports.
#include "worker/persister.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/worker_client.h"
#include "worker/block_worker_service.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

class NoMaster : public BlockCommitter {
 public:
  absl::Status CommitBlock(uint64_t, int64_t, std::string_view) override { return absl::OkStatus(); }
};

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7 + i / 253) & 0xff);
  return s;
}

class PersisterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "persister_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    store_ = BlockStore::Open(BlockStoreOptions::SingleDir(root_ + "/local", 16 << 20)).value();
    peer_store_ = BlockStore::Open(BlockStoreOptions::SingleDir(root_ + "/peer", 16 << 20)).value();
    peer_fetcher_ = std::make_unique<UfsBlockFetcher>(peer_store_.get(), &ufs_);
    peer_service_ = std::make_unique<BlockWorkerService>(peer_store_.get(), peer_fetcher_.get(), &ufs_, &no_master_,
                                                         BlockWorkerServiceOptions{});
    grpc::ServerBuilder builder;
    rpc::ConfigureServerBuilder(&builder);
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &peer_port_);
    builder.RegisterService(peer_service_.get());
    peer_server_ = builder.BuildAndStart();
    ASSERT_NE(peer_server_, nullptr);
    PersisterOptions options;
    options.chunk_bytes = 64 << 10;
    options.self_address = "127.0.0.1:1";
    options.peer = [](const std::string& address) {
      return std::make_shared<rpc::WorkerClient>(address, rpc::WorkerClientOptions{5000, 10000});
    };
    persister_ = std::make_unique<Persister>(store_.get(), &ufs_, options);
  }
  void TearDown() override {
    persister_.reset();
    peer_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    peer_service_.reset();
    peer_fetcher_.reset();
    peer_store_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  static void Put(BlockStore* store, uint64_t id, const std::string& data) {
    auto writer = store->CreateWriter(id, static_cast<int64_t>(data.size()));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(data).ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }

  // A command for file 3 made of `blocks` (in order); `on_peer` blocks name the peer as holder.
  proto::PersistFileCommand Command(const std::vector<std::string>& blocks, const std::vector<bool>& on_peer) {
    proto::PersistFileCommand command;
    command.set_file_id(3);
    command.set_attempt(1);
    command.set_ufs_path("file://" + root_ + "/ufs/.cistern-tmp-persist/3-1");
    int64_t offset = 0;
    for (size_t i = 0; i < blocks.size(); ++i) {
      proto::BlockInfo* b = command.add_blocks();
      b->set_block_id(MakeBlockId(3, i));
      b->set_offset(offset);
      b->set_length(static_cast<int64_t>(blocks[i].size()));
      offset += static_cast<int64_t>(blocks[i].size());
      proto::BlockLocation* l = b->add_locations();
      l->mutable_address()->set_host("127.0.0.1");
      l->mutable_address()->set_rpc_port(on_peer[i] ? peer_port_ : 1);
    }
    command.set_length(offset);
    return command;
  }

  std::string Copy() {
    std::ifstream in(root_ + "/ufs/.cistern-tmp-persist/3-1", std::ios::binary);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  std::string root_;
  UfsRegistry ufs_;
  NoMaster no_master_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<BlockStore> peer_store_;
  std::unique_ptr<UfsBlockFetcher> peer_fetcher_;
  std::unique_ptr<BlockWorkerService> peer_service_;
  std::unique_ptr<grpc::Server> peer_server_;
  int peer_port_ = 0;
  std::unique_ptr<Persister> persister_;
};

TEST_F(PersisterTest, WritesLocalAndPeerBlocksInOrder) {
  const std::vector<std::string> blocks = {Pattern(300'000, 1), Pattern(300'000, 2), Pattern(12'345, 3)};
  Put(store_.get(), MakeBlockId(3, 0), blocks[0]);
  Put(peer_store_.get(), MakeBlockId(3, 1), blocks[1]);
  Put(store_.get(), MakeBlockId(3, 2), blocks[2]);
  proto::PersistResult result = persister_->Run(Command(blocks, {false, true, false}));
  ASSERT_EQ(result.error(), "");
  EXPECT_EQ(result.ufs_fingerprint().length(), 612'345);
  EXPECT_TRUE(Copy() == blocks[0] + blocks[1] + blocks[2]);
}

TEST_F(PersisterTest, AMissingBlockFailsTheAttemptAndLeavesNoCopy) {
  const std::vector<std::string> blocks = {Pattern(1000, 1), Pattern(1000, 2)};
  Put(store_.get(), MakeBlockId(3, 0), blocks[0]);
  proto::PersistResult result = persister_->Run(Command(blocks, {false, true}));
  EXPECT_NE(result.error().find(absl::StrCat("block ", MakeBlockId(3, 1))), std::string::npos) << result.error();
  EXPECT_FALSE(fs::exists(root_ + "/ufs/.cistern-tmp-persist/3-1"));
  // A cached block of another length than the master says is not this file's.
  Put(store_.get(), MakeBlockId(3, 1), "short");
  result = persister_->Run(Command(blocks, {false, false}));
  EXPECT_NE(result.error().find("bytes"), std::string::npos) << result.error();
  EXPECT_FALSE(fs::exists(root_ + "/ufs/.cistern-tmp-persist/3-1"));
}

TEST_F(PersisterTest, QueuedCommandsReportResultsAndDuplicatesAreIgnored) {
  const std::vector<std::string> blocks = {Pattern(5000, 4)};
  Put(store_.get(), MakeBlockId(3, 0), blocks[0]);
  persister_->Submit(Command(blocks, {false}));
  persister_->Submit(Command(blocks, {false}));
  std::vector<proto::PersistResult> results;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& r : persister_->TakeResults()) results.push_back(std::move(r));
    if (!results.empty() && persister_->InProgress().empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(results.size(), 1u) << "the second command for the same file was ignored";
  EXPECT_EQ(results[0].error(), "");
  EXPECT_TRUE(Copy() == blocks[0]);
  persister_->RestoreResults(results);
  EXPECT_EQ(persister_->TakeResults().size(), 1u);
}

}  // namespace
}  // namespace cistern::worker
