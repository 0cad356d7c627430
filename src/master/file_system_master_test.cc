#include "master/file_system_master.h"

#include <unistd.h>

#include <filesystem>
#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "common/path.h"
#include "common/metrics.h"
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
    auto kv = kv::KvStore::Open(kv::KvStoreOptions{dir_ + "/meta", NamespaceColumnFamilies(), false});
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

  absl::Status RenamePath(const std::string& src, const std::string& dst) {
    proto::RenameRequest r;
    r.set_src_path(src);
    r.set_dst_path(dst);
    return fsm_->Rename(r);
  }
  absl::Status DeletePath(const std::string& path, bool recursive) {
    proto::DeleteRequest r;
    r.set_path(path);
    r.set_recursive(recursive);
    return fsm_->Delete(r);
  }
  // The namespace and the under-store hold the same paths below `root` (every directory and
  // persisted file of the namespace, nothing else in the under-store).
  void ExpectNamespaceMatchesUnderStore(const std::string& root) {
    std::set<std::string> in_namespace, in_ufs;
    proto::ListStatusRequest r;
    r.set_path(root);
    r.set_recursive(true);
    ASSERT_TRUE(fsm_->ListStatus(r, [&](const proto::ListStatusResponse& page) {
      for (const auto& info : page.infos()) {
        if (info.kind() == proto::DIRECTORY || info.persistence_state() == proto::PERSISTED) in_namespace.insert(info.path());
      }
      return absl::OkStatus();
    }).ok());
    for (const auto& e : fs::recursive_directory_iterator(ufs_ + root)) {
      in_ufs.insert(root + "/" + fs::relative(e.path(), ufs_ + root).string());
    }
    EXPECT_EQ(in_namespace, in_ufs);
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

TEST_F(FileSystemMasterTest, RecursiveCreateAsksTheUnderStoreOnlyForMissingParents) {
  const std::string mkdirs = "cistern_ufs_requests_total{mount=\"/\",operation=\"mkdirs\"}";
  proto::CreateFileRequest create;
  create.set_recursive(true);
  create.set_write_type(proto::MUST_CACHE);
  create.set_path("/new/deep/a");
  const int64_t before = Metrics().Value(mkdirs);
  ASSERT_TRUE(fsm_->CreateFile(create).ok());
  EXPECT_EQ(Metrics().Value(mkdirs), before + 1);
  EXPECT_TRUE(fs::is_directory(ufs_ + "/new/deep"));
  // The parent is in the namespace now: a second file in it needs no under-store call.
  create.set_path("/new/deep/b");
  ASSERT_TRUE(fsm_->CreateFile(create).ok());
  EXPECT_EQ(Metrics().Value(mkdirs), before + 1);
  // A parent that is a file still fails, with the under-store's answer as before.
  create.set_path("/new/deep/a/c");
  EXPECT_FALSE(fsm_->CreateFile(create).ok());
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

void WriteUfsFile(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

TEST_F(FileSystemMasterTest, UnderStorePathsAppearOnFirstAccess) {
  WriteUfsFile(ufs_ + "/pre/a.txt", "hello");
  WriteUfsFile(ufs_ + "/pre/sub/b.txt", "world!");
  proto::GetStatusRequest get;
  get.set_path("/pre/sub/b.txt");
  auto info = fsm_->GetStatus(get);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->length(), 6);
  EXPECT_EQ(info->persistence_state(), proto::PERSISTED);
  EXPECT_TRUE(info->completed());
  EXPECT_EQ(List("/", true), (std::vector<std::string>{"/pre", "/pre/a.txt", "/pre/sub", "/pre/sub/b.txt"}));
  proto::ExistsRequest exists;
  exists.set_path("/pre/nothing");
  EXPECT_FALSE(*fsm_->Exists(exists));
  exists.set_path("/pre/a.txt");
  EXPECT_TRUE(*fsm_->Exists(exists));
}

TEST_F(FileSystemMasterTest, SyncPicksUpOutsideChangesButKeepsCacheOnlyFiles) {
  WriteUfsFile(ufs_ + "/d/changed", "v1");
  WriteUfsFile(ufs_ + "/d/gone", "x");
  ASSERT_EQ(List("/d", false), (std::vector<std::string>{"/d/changed", "/d/gone"}));
  ASSERT_TRUE(WriteFile("/d/cache-only", 3, proto::MUST_CACHE).ok());
  proto::GetStatusRequest get;
  get.set_path("/d/changed");
  const uint64_t old_id = fsm_->GetStatus(get)->file_id();
  WriteUfsFile(ufs_ + "/d/changed", "version two");
  fs::remove(ufs_ + "/d/gone");
  WriteUfsFile(ufs_ + "/d/new", "n");
  // Default interval -1: the loaded view is kept.
  EXPECT_EQ(fsm_->GetStatus(get)->length(), 2);
  EXPECT_EQ(List("/d", false).size(), 3u);
  proto::SyncMetadataRequest sync;
  sync.set_path("/d");
  auto stats = fsm_->SyncMetadata(sync);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->created(), 1);
  EXPECT_EQ(stats->updated(), 1);
  EXPECT_EQ(stats->removed(), 1);
  EXPECT_EQ(List("/d", false), (std::vector<std::string>{"/d/cache-only", "/d/changed", "/d/new"}));
  auto changed = fsm_->GetStatus(get);
  EXPECT_EQ(changed->length(), 11);
  EXPECT_NE(changed->file_id(), old_id) << "a changed file must get new block ids";
  // Per-request interval 0 re-checks a single file on access.
  WriteUfsFile(ufs_ + "/d/changed", "3rd");
  get.set_sync_interval_ms(0);
  EXPECT_EQ(fsm_->GetStatus(get)->length(), 3);
}

TEST_F(FileSystemMasterTest, MountsNestAndRefuseOverlapsAndNonEmptyTargets) {
  const std::string other = dir_ + "/other", inner = dir_ + "/inner";
  WriteUfsFile(other + "/x.bin", "xx");
  WriteUfsFile(inner + "/y.bin", "yyy");
  proto::MountRequest mount;
  mount.set_path("/mnt");
  mount.set_ufs_uri(other);
  ASSERT_TRUE(fsm_->Mount(mount).ok());
  EXPECT_EQ(fsm_->Mount(mount).code(), absl::StatusCode::kAlreadyExists);
  proto::GetStatusRequest get;
  get.set_path("/mnt/x.bin");
  auto x = fsm_->GetStatus(get);
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->ufs_path(), "file://" + other + "/x.bin");
  EXPECT_EQ(x->mount_point(), "/mnt");
  proto::MountRequest nested;
  nested.set_path("/mnt/inner");
  nested.set_ufs_uri(inner);
  nested.set_read_only(true);
  ASSERT_TRUE(fsm_->Mount(nested).ok());
  EXPECT_EQ(List("/mnt", true), (std::vector<std::string>{"/mnt/inner", "/mnt/inner/y.bin", "/mnt/x.bin"}));
  // The nested mount point survives a sync of its parent (it is not in the parent's store).
  proto::SyncMetadataRequest sync;
  sync.set_path("/mnt");
  ASSERT_TRUE(fsm_->SyncMetadata(sync).ok());
  EXPECT_EQ(List("/mnt", false), (std::vector<std::string>{"/mnt/inner", "/mnt/x.bin"}));
  // Read-only: no changes through Cistern.
  auto denied = Mkdir("/mnt/inner/z");
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(fs::exists(inner + "/z"));
  // Overlapping under-stores and non-empty targets are refused.
  proto::MountRequest overlap;
  overlap.set_path("/o");
  overlap.set_ufs_uri(other + "/sub");
  EXPECT_EQ(fsm_->Mount(overlap).code(), absl::StatusCode::kInvalidArgument);
  overlap.set_ufs_uri(ufs_ + "/deep");
  EXPECT_EQ(fsm_->Mount(overlap).code(), absl::StatusCode::kInvalidArgument) << "inside the root's under-store";
  ASSERT_TRUE(Mkdir("/full").ok());
  ASSERT_TRUE(Mkdir("/full/child").ok());
  proto::MountRequest onto_full;
  onto_full.set_path("/full");
  onto_full.set_ufs_uri(dir_ + "/third");
  fs::create_directories(dir_ + "/third");
  EXPECT_EQ(fsm_->Mount(onto_full).code(), absl::StatusCode::kFailedPrecondition);
  proto::MountRequest missing;
  missing.set_path("/m2");
  missing.set_ufs_uri(dir_ + "/does-not-exist");
  EXPECT_EQ(fsm_->Mount(missing).code(), absl::StatusCode::kNotFound);
  // Unmount: nested first; the mount point cannot be deleted; under-stores keep their files.
  proto::UnmountRequest unmount;
  unmount.set_path("/mnt");
  EXPECT_EQ(fsm_->Unmount(unmount).code(), absl::StatusCode::kFailedPrecondition);
  proto::DeleteRequest del;
  del.set_path("/mnt/inner");
  del.set_recursive(true);
  EXPECT_FALSE(fsm_->Delete(del).ok());
  unmount.set_path("/mnt/inner");
  ASSERT_TRUE(fsm_->Unmount(unmount).ok());
  unmount.set_path("/mnt");
  ASSERT_TRUE(fsm_->Unmount(unmount).ok());
  EXPECT_EQ(List("/", false), (std::vector<std::string>{"/full"}));
  EXPECT_TRUE(fs::exists(other + "/x.bin"));
  EXPECT_EQ(fsm_->GetMountTable().size(), 1u);
}

TEST_F(FileSystemMasterTest, RetriedOperationsApplyOnce) {
  proto::CreateDirectoryRequest mkdir;
  mkdir.set_path("/once");
  mkdir.set_operation_id("0123456789abcdef");
  ASSERT_TRUE(fsm_->CreateDirectory(mkdir).ok());
  EXPECT_TRUE(fsm_->CreateDirectory(mkdir).ok()) << "a retry must not fail with ALREADY_EXISTS";
  mkdir.set_operation_id("fedcba9876543210");
  EXPECT_EQ(fsm_->CreateDirectory(mkdir).status().code(), absl::StatusCode::kAlreadyExists);
  proto::DeleteRequest del;
  del.set_path("/once");
  del.set_operation_id("delete-op-000001");
  ASSERT_TRUE(fsm_->Delete(del).ok());
  EXPECT_TRUE(fsm_->Delete(del).ok());
  del.set_operation_id("delete-op-000002");
  EXPECT_EQ(fsm_->Delete(del).code(), absl::StatusCode::kNotFound);
  proto::CreateFileRequest create;
  create.set_path("/f");
  create.set_write_type(proto::MUST_CACHE);
  create.set_operation_id("create-op-000001");
  auto first = fsm_->CreateFile(create);
  auto again = fsm_->CreateFile(create);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->file_id(), again->file_id());
}

TEST_F(FileSystemMasterTest, SetAttributeAndTtl) {
  ASSERT_TRUE(Mkdir("/a/b", true).ok());
  ASSERT_TRUE(WriteFile("/a/b/f", 10, proto::THROUGH).ok());
  proto::SetAttributeRequest set;
  set.set_path("/a");
  set.set_recursive(true);
  set.set_mode(0700);
  set.set_owner("alice");
  auto info = fsm_->SetAttribute(set);
  ASSERT_TRUE(info.ok()) << info.status();
  proto::GetStatusRequest get;
  get.set_path("/a/b/f");
  EXPECT_EQ(fsm_->GetStatus(get)->mode(), 0700u);
  EXPECT_EQ(fsm_->GetStatus(get)->owner(), "alice");
  set.clear_mode();
  set.set_mode(010000);
  EXPECT_EQ(fsm_->SetAttribute(set).status().code(), absl::StatusCode::kInvalidArgument);

  proto::SetAttributeRequest ttl;
  ttl.set_path("/a/b/f");
  ttl.set_ttl_ms(60000);
  ttl.set_ttl_action(proto::TTL_DELETE);
  ASSERT_TRUE(fsm_->SetAttribute(ttl).ok());
  EXPECT_EQ(fsm_->GetStatus(get)->ttl_ms(), 60000);
  ASSERT_TRUE(fsm_->CheckTtls().ok());
  EXPECT_TRUE(fsm_->GetStatus(get).ok()) << "not expired yet";
  clock_.AdvanceMs(61000);
  ASSERT_TRUE(fsm_->CheckTtls().ok());
  EXPECT_EQ(fsm_->GetStatus(get).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(ufs_ + "/a/b/f")) << "TTL DELETE removes the under-store copy too";
}

TEST_F(FileSystemMasterTest, FreeKeepsNamespaceAndRefusesUnpersistedData) {
  auto persisted = WriteFile("/p", 50, proto::CACHE_THROUGH);
  auto cached = WriteFile("/c", 50, proto::MUST_CACHE);
  ASSERT_TRUE(persisted.ok() && cached.ok());
  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w");
  reg.mutable_address()->set_rpc_port(9);
  for (uint64_t file : {persisted->file_id(), cached->file_id()}) {
    proto::CachedBlock* block = reg.add_blocks();
    block->set_block_id(MakeBlockId(file, 0));
    block->set_length(50);
  }
  ASSERT_TRUE(blocks_->RegisterWorker(reg).ok());
  proto::FreeRequest free;
  free.set_path("/c");
  EXPECT_EQ(fsm_->Free(free).status().code(), absl::StatusCode::kFailedPrecondition);
  free.set_path("/p");
  auto freed = fsm_->Free(free);
  ASSERT_TRUE(freed.ok()) << freed.status();
  EXPECT_EQ(freed->freed_blocks(), 1);
  proto::GetStatusRequest get;
  get.set_path("/p");
  EXPECT_EQ(fsm_->GetStatus(get)->in_cache_percentage(), 0);
  get.set_path("/c");
  EXPECT_EQ(fsm_->GetStatus(get)->in_cache_percentage(), 100);
}

// A sequential model of one subtree: path -> is_directory.
class NamespaceModel {
 public:
  explicit NamespaceModel(std::string root) : root_(std::move(root)) { nodes_[root_] = true; }
  bool Exists(const std::string& p) const { return nodes_.count(p) > 0; }
  bool IsDir(const std::string& p) const { auto it = nodes_.find(p); return it != nodes_.end() && it->second; }
  bool CanCreate(const std::string& p) const { return !Exists(p) && IsDir(ParentPath(p)); }
  bool HasChildren(const std::string& p) const {
    auto it = nodes_.upper_bound(p + "/");
    return it != nodes_.end() && it->first.rfind(p + "/", 0) == 0;
  }
  void Add(const std::string& p, bool dir) { nodes_[p] = dir; }
  void RemoveTree(const std::string& p) {
    nodes_.erase(p);
    for (auto it = nodes_.lower_bound(p + "/"); it != nodes_.end() && it->first.rfind(p + "/", 0) == 0;) it = nodes_.erase(it);
  }
  void MoveTree(const std::string& from, const std::string& to) {
    std::map<std::string, bool> moved;
    for (auto& [k, v] : nodes_) {
      if (k == from) moved[to] = v;
      else if (k.rfind(from + "/", 0) == 0) moved[to + k.substr(from.size())] = v;
    }
    RemoveTree(from);
    nodes_.insert(moved.begin(), moved.end());
  }
  std::vector<std::string> Listing() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : nodes_) if (k != root_) out.push_back(k);
    return out;
  }

 private:
  std::string root_;
  std::map<std::string, bool> nodes_;
};

// Threads mutate their own subtrees concurrently (each checked op by op against a sequential
// model) and race on shared paths (exactly one winner each); the final namespace must equal the
// models.
TEST_F(FileSystemMasterTest, ConcurrentMutationsMatchSequentialModel) {
  constexpr int kThreads = 6, kOps = 250, kShared = 40;
  std::atomic<int> shared_wins[kShared];
  for (auto& w : shared_wins) w = 0;
  ASSERT_TRUE(Mkdir("/shared").ok());
  std::vector<NamespaceModel> models;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(Mkdir(absl::StrCat("/s", t)).ok());
    models.emplace_back(absl::StrCat("/s", t));
  }
  std::vector<std::string> failures[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      NamespaceModel& model = models[t];
      const std::string root = absl::StrCat("/s", t);
      auto random_path = [&] {
        static const char* kNames[] = {"a", "b", "c"};
        std::string p = root + "/" + kNames[rng() % 3];
        if (rng() % 2) p += std::string("/") + kNames[rng() % 3];
        return p;
      };
      for (int i = 0; i < kOps; ++i) {
        const std::string p = random_path();
        bool ok = false, expect = false;
        switch (rng() % 4) {
          case 0: {
            expect = model.CanCreate(p);
            proto::CreateDirectoryRequest r;
            r.set_path(p);
            ok = fsm_->CreateDirectory(r).ok();
            if (expect) model.Add(p, true);
            break;
          }
          case 1: {
            expect = model.CanCreate(p);
            proto::CreateFileRequest r;
            r.set_path(p);
            r.set_write_type(proto::MUST_CACHE);
            auto created = fsm_->CreateFile(r);
            ok = created.ok();
            if (ok) {
              proto::CompleteFileRequest c;
              c.set_file_id(created->file_id());
              ok = fsm_->CompleteFile(c).ok();
            }
            if (expect) model.Add(p, false);
            break;
          }
          case 2: {
            const bool recursive = rng() % 2;
            expect = model.Exists(p) && (recursive || !model.HasChildren(p));
            proto::DeleteRequest r;
            r.set_path(p);
            r.set_recursive(recursive);
            ok = fsm_->Delete(r).ok();
            if (expect) model.RemoveTree(p);
            break;
          }
          case 3: {
            const std::string dst = random_path();
            expect = model.Exists(p) && !IsSameOrDescendant(dst, p) && model.CanCreate(dst);
            proto::RenameRequest r;
            r.set_src_path(p);
            r.set_dst_path(dst);
            ok = fsm_->Rename(r).ok();
            if (expect) model.MoveTree(p, dst);
            break;
          }
        }
        if (ok != expect) failures[t].push_back(absl::StrCat("op ", i, " on ", p, ": model says ", expect, ", master ", ok));
        proto::CreateDirectoryRequest race;
        race.set_path(absl::StrCat("/shared/x", i % kShared));
        if (fsm_->CreateDirectory(race).ok()) shared_wins[i % kShared]++;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(failures[t].empty()) << failures[t].front();
    EXPECT_EQ(List(absl::StrCat("/s", t), true), models[t].Listing()) << "subtree " << t;
  }
  for (int k = 0; k < kShared; ++k) EXPECT_EQ(shared_wins[k].load(), 1) << "/shared/x" << k;
}

// Files move between directories while those directories are themselves renamed away and
// back. Every file rename either happens (in the namespace and the under-store) or fails with
// NOT_FOUND because a directory was away; no file is lost or duplicated, and the under-store
// ends up exactly like the namespace.
TEST_F(FileSystemMasterTest, ConcurrentRenamesAcrossDirectoriesKeepUnderStoreInStep) {
  constexpr int kDirs = 4, kMovers = 3, kFilesEach = 3, kMoves = 120, kDirCycles = 60;
  ASSERT_TRUE(Mkdir("/r").ok());
  for (int d = 0; d < kDirs; ++d) ASSERT_TRUE(Mkdir(absl::StrCat("/r/d", d)).ok());
  auto file_path = [](int dir, int t, int k) { return absl::StrCat("/r/d", dir, "/t", t, "_", k); };
  std::vector<std::vector<int>> where(kMovers, std::vector<int>(kFilesEach));
  for (int t = 0; t < kMovers; ++t) {
    for (int k = 0; k < kFilesEach; ++k) {
      where[t][k] = t % kDirs;
      ASSERT_TRUE(WriteFile(file_path(where[t][k], t, k), 4, proto::THROUGH).ok());
    }
  }
  std::vector<std::string> failures[kMovers + 1];
  std::vector<std::thread> threads;
  for (int t = 0; t < kMovers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(77 + t);
      for (int i = 0; i < kMoves; ++i) {
        const int k = static_cast<int>(rng() % kFilesEach);
        const int to = static_cast<int>(rng() % kDirs);
        if (to == where[t][k]) continue;
        absl::Status s = RenamePath(file_path(where[t][k], t, k), file_path(to, t, k));
        if (s.ok()) {
          where[t][k] = to;
        } else if (!absl::IsNotFound(s)) {
          failures[t].push_back(s.ToString());
        }
      }
    });
  }
  threads.emplace_back([&] {
    std::mt19937 rng(5);
    for (int i = 0; i < kDirCycles; ++i) {
      const int d = static_cast<int>(rng() % kDirs);
      absl::Status away = RenamePath(absl::StrCat("/r/d", d), absl::StrCat("/r/away", d));
      absl::Status back = RenamePath(absl::StrCat("/r/away", d), absl::StrCat("/r/d", d));
      if (!away.ok() || !back.ok()) failures[kMovers].push_back(away.ToString() + " / " + back.ToString());
    }
  });
  for (auto& th : threads) th.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
  for (int t = 0; t < kMovers; ++t) {
    for (int k = 0; k < kFilesEach; ++k) {
      proto::GetStatusRequest get;
      get.set_path(file_path(where[t][k], t, k));
      EXPECT_TRUE(fsm_->GetStatus(get).ok()) << get.path();
      EXPECT_TRUE(fs::exists(ufs_ + get.path())) << get.path();
    }
  }
  EXPECT_EQ(List("/r", true).size(), static_cast<size_t>(kDirs + kMovers * kFilesEach));
  ExpectNamespaceMatchesUnderStore("/r");
}

// One file moves back and forth between /s/x and /d/x while another client keeps creating,
// writing and deleting its own /d/x. At most one of them holds /d/x at a time, in the
// namespace and in the under-store: a rename never lands on the other's file.
TEST_F(FileSystemMasterTest, RenameAndCreateRaceForOneDestination) {
  ASSERT_TRUE(Mkdir("/s").ok());
  ASSERT_TRUE(Mkdir("/d").ok());
  ASSERT_TRUE(WriteFile("/s/x", 1, proto::THROUGH).ok());
  std::ofstream(ufs_ + "/s/x") << "A";
  std::string mover_at = "/s/x";
  std::vector<std::string> failures[2];
  std::thread mover([&] {
    for (int i = 0; i < 100; ++i) {
      const std::string to = mover_at == "/s/x" ? "/d/x" : "/s/x";
      absl::Status s = RenamePath(mover_at, to);
      if (s.ok()) {
        mover_at = to;
      } else if (!(absl::IsAlreadyExists(s) && to == "/d/x")) {
        failures[0].push_back(s.ToString());
      }
    }
  });
  std::thread creator([&] {
    for (int i = 0; i < 100; ++i) {
      proto::CreateFileRequest create;
      create.set_path("/d/x");
      create.set_write_type(proto::THROUGH);
      auto created = fsm_->CreateFile(create);
      if (!created.ok()) {
        if (!absl::IsAlreadyExists(created.status())) failures[1].push_back(created.status().ToString());
        continue;
      }
      std::ofstream(ufs_ + "/d/x") << "B";  // the client writes its copy
      proto::CompleteFileRequest complete;
      complete.set_file_id(created->file_id());
      complete.set_length(1);
      complete.mutable_ufs_fingerprint()->set_length(1);
      absl::Status s = fsm_->CompleteFile(complete).status();
      if (s.ok()) s = DeletePath("/d/x", false);
      if (!s.ok()) failures[1].push_back(s.ToString());
    }
  });
  mover.join();
  creator.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
  std::ifstream in(ufs_ + mover_at);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "A") << "the moving file's under-store copy at " << mover_at;
  EXPECT_EQ(List("/", true), (std::vector<std::string>{"/d", mover_at == "/d/x" ? "/d/x" : "/s", mover_at == "/d/x" ? "/s" : "/s/x"}));
  ExpectNamespaceMatchesUnderStore("/s");
  ExpectNamespaceMatchesUnderStore("/d");
}

// A directory is created and deleted recursively again and again while files are created in
// it, creating it with them (recursive create). Each create lands before or after a delete,
// never half: the directory exists in the namespace exactly when it exists in the under-store.
TEST_F(FileSystemMasterTest, DeleteOfADirectoryWhileFilesAreCreatedInIt) {
  constexpr int kCreators = 3, kCreates = 120;
  ASSERT_TRUE(Mkdir("/w").ok());
  std::atomic<int> creators_left{kCreators};
  std::vector<std::string> failures[kCreators + 1];
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    while (creators_left > 0) {
      absl::Status s = DeletePath("/w/dir", true);
      if (!s.ok() && !absl::IsNotFound(s)) failures[kCreators].push_back(s.ToString());
    }
  });
  for (int t = 0; t < kCreators; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCreates; ++i) {
        proto::CreateFileRequest create;
        create.set_path(absl::StrCat("/w/dir/sub", t, "/f", i));
        create.set_recursive(true);
        create.set_write_type(proto::MUST_CACHE);
        auto file = fsm_->CreateFile(create);
        if (!file.ok()) {
          failures[t].push_back(file.status().ToString());
          continue;
        }
        proto::CompleteFileRequest complete;
        complete.set_file_id(file->file_id());
        absl::Status s = fsm_->CompleteFile(complete).status();
        if (!s.ok() && !absl::IsNotFound(s)) failures[t].push_back(s.ToString());  // NOT_FOUND: deleted meanwhile
      }
      --creators_left;
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
  ExpectNamespaceMatchesUnderStore("/w");
}

// Every operation against each of its error cases, on one fixed tree:
//   /dir/ (with /dir/file), /empty/, /file, /ro (read-only mount), /mnt (mount)
TEST_F(FileSystemMasterTest, ErrorTable) {
  ASSERT_TRUE(Mkdir("/dir").ok());
  ASSERT_TRUE(Mkdir("/empty").ok());
  ASSERT_TRUE(WriteFile("/dir/file", 3, proto::THROUGH).ok());
  ASSERT_TRUE(WriteFile("/file", 3, proto::THROUGH).ok());
  auto cache_only = WriteFile("/cache-only", 3, proto::MUST_CACHE);
  ASSERT_TRUE(cache_only.ok());
  fs::create_directories(dir_ + "/ro-store");
  fs::create_directories(dir_ + "/mnt-store");
  proto::MountRequest ro;
  ro.set_path("/ro");
  ro.set_ufs_uri(dir_ + "/ro-store");
  ro.set_read_only(true);
  ASSERT_TRUE(fsm_->Mount(ro).ok());
  proto::MountRequest mnt;
  mnt.set_path("/mnt");
  mnt.set_ufs_uri(dir_ + "/mnt-store");
  ASSERT_TRUE(fsm_->Mount(mnt).ok());

  using Code = absl::StatusCode;
  auto mkdir = [&](std::string p, bool recursive = false) {
    proto::CreateDirectoryRequest r;
    r.set_path(p);
    r.set_recursive(recursive);
    return fsm_->CreateDirectory(r).status();
  };
  auto create = [&](std::string p, bool overwrite = false, int64_t block = 0) {
    proto::CreateFileRequest r;
    r.set_path(p);
    r.set_overwrite(overwrite);
    r.set_block_size_bytes(block);
    return fsm_->CreateFile(r).status();
  };
  auto complete = [&](uint64_t id, int64_t length) {
    proto::CompleteFileRequest r;
    r.set_file_id(id);
    r.set_length(length);
    return fsm_->CompleteFile(r).status();
  };
  auto stat = [&](std::string p) {
    proto::GetStatusRequest r;
    r.set_path(p);
    return fsm_->GetStatus(r).status();
  };
  auto del = [&](std::string p, bool recursive = false) {
    proto::DeleteRequest r;
    r.set_path(p);
    r.set_recursive(recursive);
    return fsm_->Delete(r);
  };
  auto mv = [&](std::string a, std::string b) {
    proto::RenameRequest r;
    r.set_src_path(a);
    r.set_dst_path(b);
    return fsm_->Rename(r);
  };
  auto setattr = [&](std::string p, int mode, int64_t ttl) {
    proto::SetAttributeRequest r;
    r.set_path(p);
    if (mode >= 0) r.set_mode(static_cast<uint32_t>(mode));
    if (ttl != 0) r.set_ttl_ms(ttl);
    return fsm_->SetAttribute(r).status();
  };
  auto free = [&](std::string p, bool recursive) {
    proto::FreeRequest r;
    r.set_path(p);
    r.set_recursive(recursive);
    return fsm_->Free(r).status();
  };
  auto unmount = [&](std::string p) {
    proto::UnmountRequest r;
    r.set_path(p);
    return fsm_->Unmount(r);
  };
  struct Case {
    const char* what;
    absl::Status status;
    Code expected;
  };
  const std::string long_name(300, 'n');
  const std::vector<Case> cases = {
      {"mkdir relative", mkdir("rel/x"), Code::kInvalidArgument},
      {"mkdir empty", mkdir(""), Code::kInvalidArgument},
      {"mkdir .. above root", mkdir("/../x"), Code::kInvalidArgument},
      {"mkdir NUL", mkdir(std::string("/a\0b", 4)), Code::kInvalidArgument},
      {"mkdir long name", mkdir("/" + long_name), Code::kInvalidArgument},
      {"mkdir exists", mkdir("/dir"), Code::kAlreadyExists},
      {"mkdir over file", mkdir("/file"), Code::kAlreadyExists},
      {"mkdir no parent", mkdir("/nope/x"), Code::kNotFound},
      {"mkdir under file", mkdir("/file/x", true), Code::kFailedPrecondition},
      {"mkdir read-only", mkdir("/ro/x"), Code::kPermissionDenied},
      {"create exists", create("/file"), Code::kAlreadyExists},
      {"create over dir", create("/dir", true), Code::kAlreadyExists},
      {"create no parent", create("/nope/f"), Code::kNotFound},
      {"create under file", create("/file/f"), Code::kFailedPrecondition},
      {"create negative block", create("/f2", false, -5), Code::kInvalidArgument},
      {"create read-only", create("/ro/f"), Code::kPermissionDenied},
      {"complete unknown id", complete(999999, 1), Code::kNotFound},
      {"complete twice", complete(cache_only->file_id(), 3), Code::kFailedPrecondition},
      {"stat missing", stat("/nope"), Code::kNotFound},
      {"stat under file", stat("/file/x"), Code::kFailedPrecondition},
      {"stat relative", stat("x"), Code::kInvalidArgument},
      {"delete missing", del("/nope"), Code::kNotFound},
      {"delete non-empty", del("/dir"), Code::kFailedPrecondition},
      {"delete root", del("/", true), Code::kInvalidArgument},
      {"delete mount point", del("/mnt", true), Code::kFailedPrecondition},
      {"rename missing", mv("/nope", "/x"), Code::kNotFound},
      {"rename onto existing", mv("/file", "/dir"), Code::kAlreadyExists},
      {"rename into itself", mv("/dir", "/dir/sub"), Code::kInvalidArgument},
      {"rename root", mv("/", "/x"), Code::kInvalidArgument},
      {"rename no dst parent", mv("/file", "/nope/f"), Code::kNotFound},
      {"rename across mounts", mv("/file", "/mnt/f"), Code::kInvalidArgument},
      {"rename mount point", mv("/mnt", "/mnt2"), Code::kFailedPrecondition},
      {"rename into read-only", mv("/file", "/ro/f"), Code::kPermissionDenied},
      {"setattr bad mode", setattr("/file", 010000, 0), Code::kInvalidArgument},
      {"setattr negative ttl", setattr("/file", -1, -5), Code::kInvalidArgument},
      {"setattr missing", setattr("/nope", 0644, 0), Code::kNotFound},
      {"free not persisted", free("/cache-only", false), Code::kFailedPrecondition},
      {"free dir without recursive", free("/dir", false), Code::kFailedPrecondition},
      {"free missing", free("/nope", false), Code::kNotFound},
      {"unmount root", unmount("/"), Code::kInvalidArgument},
      {"unmount non-mount", unmount("/dir"), Code::kNotFound},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), c.expected) << c.what << ": " << c.status;
    EXPECT_FALSE(c.status.message().empty()) << c.what;
  }
  // Nothing any refused operation did changed the tree.
  EXPECT_EQ(List("/", true), (std::vector<std::string>{"/cache-only", "/dir", "/dir/file", "/empty", "/file", "/mnt", "/ro"}));
}

// Reads check traverse permission on the walk that resolved their path (no second walk): a
// directory above the path without execute for the caller refuses it, whichever ancestor it
// is, whether the path exists, and also when the path was just loaded from the under-store.
TEST_F(FileSystemMasterTest, ReadsRefuseAPathBelowANonTraversableAncestor) {
  ASSERT_TRUE(Mkdir("/a/b/c", true).ok());
  ASSERT_TRUE(WriteFile("/a/b/c/f", 10, proto::MUST_CACHE).ok());
  const auto chmod = [&](const std::string& path, uint32_t mode) {
    proto::SetAttributeRequest r;
    r.set_path(path);
    r.set_mode(mode);
    ASSERT_TRUE(fsm_->SetAttribute(r).ok());
  };
  security::Caller bob;
  bob.user = "bob";
  bob.groups = {"other"};
  const auto stat = [&](const std::string& path, std::optional<int64_t> sync_interval_ms = std::nullopt) {
    proto::GetStatusRequest r;
    r.set_path(path);
    if (sync_interval_ms.has_value()) r.set_sync_interval_ms(*sync_interval_ms);
    return fsm_->GetStatus(r, {}, bob).status();
  };
  const auto exists = [&](const std::string& path) {
    proto::ExistsRequest r;
    r.set_path(path);
    return fsm_->Exists(r, {}, bob).status();
  };
  const auto list = [&](const std::string& path) {
    proto::ListStatusRequest r;
    r.set_path(path);
    return fsm_->ListStatus(r, [](const proto::ListStatusResponse&) { return absl::OkStatus(); }, bob);
  };
  const auto denied_at = [](const absl::Status& status, const std::string& dir) {
    return status.code() == absl::StatusCode::kPermissionDenied &&
           status.message().find(absl::StrCat("may not execute '", dir, "'")) != std::string_view::npos;
  };
  ASSERT_TRUE(stat("/a/b/c/f").ok()) << stat("/a/b/c/f");
  ASSERT_TRUE(list("/a/b/c").ok());

  for (const std::string dir : {"/", "/a", "/a/b", "/a/b/c"}) {
    SCOPED_TRACE(dir);
    chmod(dir, 0700);
    EXPECT_TRUE(denied_at(stat("/a/b/c/f"), dir)) << stat("/a/b/c/f");
    EXPECT_TRUE(denied_at(exists("/a/b/c/f"), dir)) << exists("/a/b/c/f");
    EXPECT_TRUE(denied_at(stat("/a/b/c/missing"), dir)) << "a missing path must not be told apart";
    EXPECT_TRUE(denied_at(list("/a/b/c/f"), dir)) << list("/a/b/c/f");
    if (dir != "/a/b/c") {
      EXPECT_TRUE(denied_at(list("/a/b/c"), dir)) << list("/a/b/c");
    } else {
      // The path itself needs no execute to be stat'ed; listing it needs read+execute on it.
      EXPECT_TRUE(stat("/a/b/c").ok()) << stat("/a/b/c");
      EXPECT_EQ(list("/a/b/c").code(), absl::StatusCode::kPermissionDenied);
    }
    chmod(dir, 0711);  // execute only: traversable, not listable
    EXPECT_TRUE(stat("/a/b/c/f").ok()) << stat("/a/b/c/f");
    EXPECT_EQ(stat("/a/b/c/missing").code(), absl::StatusCode::kNotFound);
    chmod(dir, 0755);
  }
  EXPECT_TRUE(list("/a/b/c").ok());

  // A file that appears in the under-store is loaded by the read (the sync's slow path), and
  // the check then runs on the walk made after loading it.
  std::ofstream(ufs_ + "/a/b/outside") << "x";
  chmod("/a/b", 0700);
  EXPECT_TRUE(denied_at(stat("/a/b/outside", 0), "/a/b")) << stat("/a/b/outside", 0);
  chmod("/a/b", 0755);
  EXPECT_TRUE(stat("/a/b/outside", 0).ok()) << stat("/a/b/outside", 0);
}

TEST_F(FileSystemMasterTest, PinnedFilesReachWorkersInHeartbeats) {
  ASSERT_TRUE(Mkdir("/p").ok());
  auto a = WriteFile("/p/a", 5, proto::THROUGH);
  auto b = WriteFile("/p/b", 5, proto::THROUGH);
  ASSERT_TRUE(a.ok() && b.ok());
  blocks_->set_pinned_files_fn([this] { return fsm_->ProtectedFiles(); });
  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w");
  reg.mutable_address()->set_rpc_port(9);
  auto worker = blocks_->RegisterWorker(reg);
  ASSERT_TRUE(worker.ok());
  proto::WorkerHeartbeatRequest hb;
  hb.set_worker_id(*worker);
  EXPECT_EQ(blocks_->Heartbeat(hb).pinned_file_ids_size(), 0);
  proto::SetAttributeRequest pin;
  pin.set_path("/p");
  pin.set_recursive(true);
  pin.set_pinned(true);
  ASSERT_TRUE(fsm_->SetAttribute(pin).ok());
  auto reply = blocks_->Heartbeat(hb);
  ASSERT_EQ(reply.pinned_file_ids_size(), 2) << "the directory itself is not indexed, its files are";
  EXPECT_EQ(reply.pinned_file_ids(0), a->file_id());
  proto::DeleteRequest del;
  del.set_path("/p/a");
  ASSERT_TRUE(fsm_->Delete(del).ok());
  pin.set_path("/p/b");
  pin.set_pinned(false);
  ASSERT_TRUE(fsm_->SetAttribute(pin).ok());
  EXPECT_EQ(blocks_->Heartbeat(hb).pinned_file_ids_size(), 0);
}

}  // namespace
}  // namespace cistern::master
