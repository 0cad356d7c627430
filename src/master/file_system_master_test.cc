#include "master/file_system_master.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "gtest/gtest.h"
#include "master/namespace_state_machine.h"

namespace cistern::master {
namespace {

namespace fs = std::filesystem;

// A FileSystemMaster over a real metastore and a local under-store directory.
class FileSystemMasterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            absl::StrCat("fsm-", ::getpid(), "-", ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .lexically_normal()
               .string();
    fs::remove_all(dir_);
    ufs_ = dir_ + "/ufs";
    auto kv = kv::KvStore::Open(kv::KvStoreOptions{dir_ + "/meta", NamespaceColumnFamilies(), true});
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    store_ = std::make_unique<NamespaceStore>(kv_.get());
    ASSERT_TRUE(store_->FormatIfEmpty(clock_.NowMs(), 0755, "u", "g").ok());
    sm_ = std::move(NamespaceStateMachine::Create(store_.get()).value());
    journal_ = std::make_unique<journal::LocalJournal>(sm_.get());
    mounts_ = std::make_unique<MountTable>(store_.get());
    sm_->set_mounts_changed_callback([this] { ASSERT_TRUE(mounts_->Reload().ok()); });
    blocks_ = std::make_unique<BlockMaster>(&clock_, BlockMasterOptions{},
                                            [this](uint64_t id) { return fsm_->FileExists(id); });
    FileSystemMasterOptions options;
    options.default_block_size_bytes = 100;
    options.listing_page_size = 2;
    fsm_ = std::make_unique<FileSystemMaster>(store_.get(), journal_.get(), mounts_.get(), blocks_.get(), &clock_,
                                              options);
    ASSERT_TRUE(fsm_->InitializeRootMount(ufs_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::StatusOr<proto::FileInfo> Mkdir(const std::string& path, bool recursive = false) {
    proto::CreateDirectoryRequest r;
    r.set_path(path);
    r.set_recursive(recursive);
    return fsm_->CreateDirectory(r);
  }
  // Creates and completes a THROUGH file whose under-store copy is written here directly.
  absl::StatusOr<proto::FileInfo> WriteFile(const std::string& path, int64_t length, proto::WriteType type) {
    proto::CreateFileRequest create;
    create.set_path(path);
    create.set_write_type(type);
    auto info = fsm_->CreateFile(create);
    if (!info.ok()) return info.status();
    proto::CompleteFileRequest complete;
    complete.set_file_id(info->file_id());
    complete.set_length(length);
    if (type != proto::MUST_CACHE) {
      std::ofstream(ufs_ + path) << std::string(static_cast<size_t>(length), 'x');
      complete.mutable_ufs_fingerprint()->set_length(length);
    }
    return fsm_->CompleteFile(complete);
  }
  std::vector<std::string> List(const std::string& path, bool recursive, int* pages = nullptr) {
    proto::ListStatusRequest r;
    r.set_path(path);
    r.set_recursive(recursive);
    std::vector<std::string> out;
    int n = 0;
    EXPECT_TRUE(fsm_->ListStatus(r, [&](const proto::ListStatusResponse& page) {
      ++n;
      for (const auto& info : page.infos()) out.push_back(info.path());
      return absl::OkStatus();
    }).ok());
    if (pages) *pages = n;
    return out;
  }

  std::string dir_, ufs_;
  ManualClock clock_;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<NamespaceStore> store_;
  std::unique_ptr<NamespaceStateMachine> sm_;
  std::unique_ptr<journal::LocalJournal> journal_;
  std::unique_ptr<MountTable> mounts_;
  std::unique_ptr<BlockMaster> blocks_;
  std::unique_ptr<FileSystemMaster> fsm_;
};

TEST_F(FileSystemMasterTest, MkdirCreatesUnderStoreDirectoryAndValidatesPaths) {
  ASSERT_TRUE(Mkdir("/a/b", true).ok());
  EXPECT_TRUE(fs::is_directory(ufs_ + "/a/b"));
  auto bad = Mkdir("relative/x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("relative/x"), std::string::npos);
  auto missing_parent = Mkdir("/x/y");
  EXPECT_EQ(missing_parent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(ufs_ + "/x")) << "a refused mkdir must not touch the under-store";
}

TEST_F(FileSystemMasterTest, CompletedFileHasBlocksAndPersistence) {
  auto through = WriteFile("/t", 250, proto::THROUGH);
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(through->persistence_state(), proto::PERSISTED);
  EXPECT_EQ(through->path(), "/t");
  EXPECT_EQ(through->ufs_path(), "file://" + ufs_ + "/t");
  proto::GetStatusRequest get;
  get.set_path("/t");
  get.set_include_block_locations(true);
  auto info = fsm_->GetStatus(get);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->blocks_size(), 3);
  EXPECT_EQ(info->blocks(2).block_id(), MakeBlockId(info->file_id(), 2));
  EXPECT_EQ(info->blocks(2).offset(), 200);
  EXPECT_EQ(info->blocks(2).length(), 50);
  EXPECT_EQ(info->in_cache_percentage(), 0);
  auto cached = WriteFile("/m", 10, proto::MUST_CACHE);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->persistence_state(), proto::NOT_PERSISTED);
  proto::CompleteFileRequest no_fingerprint;
  proto::CreateFileRequest create;
  create.set_path("/ct");
  create.set_write_type(proto::CACHE_THROUGH);
  no_fingerprint.set_file_id(fsm_->CreateFile(create)->file_id());
  no_fingerprint.set_length(5);
  EXPECT_EQ(fsm_->CompleteFile(no_fingerprint).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FileSystemMasterTest, DeleteAndRenameApplyToTheUnderStore) {
  ASSERT_TRUE(Mkdir("/d").ok());
  ASSERT_TRUE(WriteFile("/d/f", 5, proto::THROUGH).ok());
  proto::DeleteRequest del;
  del.set_path("/d");
  EXPECT_EQ(fsm_->Delete(del).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(ufs_ + "/d/f"));
  proto::RenameRequest mv;
  mv.set_src_path("/d");
  mv.set_dst_path("/e");
  ASSERT_TRUE(fsm_->Rename(mv).ok());
  EXPECT_TRUE(fs::exists(ufs_ + "/e/f"));
  EXPECT_FALSE(fs::exists(ufs_ + "/d"));
  del.set_path("/e");
  del.set_recursive(true);
  ASSERT_TRUE(fsm_->Delete(del).ok());
  EXPECT_FALSE(fs::exists(ufs_ + "/e"));
  EXPECT_TRUE(List("/", true).empty());
}

TEST_F(FileSystemMasterTest, ListingIsPagedDepthFirstAndSorted) {
  ASSERT_TRUE(Mkdir("/b/y", true).ok());
  ASSERT_TRUE(Mkdir("/a").ok());
  ASSERT_TRUE(WriteFile("/b/x", 1, proto::THROUGH).ok());
  int pages = 0;
  EXPECT_EQ(List("/", true, &pages), (std::vector<std::string>{"/a", "/b", "/b/x", "/b/y"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(List("/", false), (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(List("/b/x", false), (std::vector<std::string>{"/b/x"}));
}

TEST_F(FileSystemMasterTest, DeletingAFileFreesItsCachedBlocks) {
  auto file = WriteFile("/c", 150, proto::CACHE_THROUGH);
  ASSERT_TRUE(file.ok());
  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w");
  reg.mutable_address()->set_rpc_port(9);
  proto::CachedBlock* block = reg.add_blocks();
  block->set_block_id(MakeBlockId(file->file_id(), 1));
  block->set_length(50);
  auto worker = blocks_->RegisterWorker(reg);
  ASSERT_TRUE(worker.ok());
  proto::GetStatusRequest get;
  get.set_path("/c");
  EXPECT_EQ(fsm_->GetStatus(get)->in_cache_percentage(), 33);
  proto::DeleteRequest del;
  del.set_path("/c");
  ASSERT_TRUE(fsm_->Delete(del).ok());
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*worker);
  auto reply = blocks_->Heartbeat(hb);
  EXPECT_EQ(reply.command(), proto::FREE);
  ASSERT_EQ(reply.block_ids_size(), 1);
  EXPECT_EQ(reply.block_ids(0), MakeBlockId(file->file_id(), 1));
}

}  // namespace
}  // namespace cistern::master
