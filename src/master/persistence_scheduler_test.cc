// The persistence scheduler over a real FileSystemMaster, metastore and local under-store, with a
// manual clock. The test plays the worker: it registers, commits blocks, receives persist
// commands in heartbeat replies, writes the temporary copy and reports the result.
#include "master/persistence_scheduler.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "gtest/gtest.h"
#include "master/namespace_state_machine.h"

namespace cistern::master {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kBlock = 100;
constexpr int64_t kGraceMs = 5000;  // master.worker.timeout in these tests

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

class PersistenceSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            absl::StrCat("persist-", ::getpid(), "-", ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .lexically_normal()
               .string();
    fs::remove_all(dir_);
    ufs_ = dir_ + "/ufs";
    auto kv = kv::KvStore::Open(kv::KvStoreOptions{dir_ + "/meta", NamespaceColumnFamilies(), false});
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    store_ = std::make_unique<NamespaceStore>(kv_.get());
    ASSERT_TRUE(store_->FormatIfEmpty(clock_.NowMs(), 0755, "u", "g").ok());
    StartMaster();
  }

  // (Re)creates everything above the metastore, as a master restart does.
  void StartMaster() {
    scheduler_.reset();
    fsm_.reset();
    blocks_.reset();
    sm_ = std::move(NamespaceStateMachine::Create(store_.get()).value());
    journal_ = std::make_unique<journal::LocalJournal>(sm_.get());
    mounts_ = std::make_unique<MountTable>(store_.get());
    sm_->set_mounts_changed_callback([this] { ASSERT_TRUE(mounts_->Reload().ok()); });
    blocks_ = std::make_unique<BlockMaster>(&clock_, BlockMasterOptions{kGraceMs},
                                            [this](uint64_t id) { return fsm_->FileExists(id); });
    FileSystemMasterOptions options;
    options.default_block_size_bytes = kBlock;
    fsm_ = std::make_unique<FileSystemMaster>(store_.get(), journal_.get(), mounts_.get(), blocks_.get(), &clock_,
                                              options);
    ASSERT_TRUE(fsm_->InitializeRootMount(ufs_).ok());
    PersistenceSchedulerOptions persist;
    persist.check_interval_ms = 0;
    persist.retry_base_ms = 1000;
    persist.retry_max_ms = 4000;
    persist.worker_timeout_ms = kGraceMs;
    scheduler_ = std::make_unique<PersistenceScheduler>(fsm_.get(), blocks_.get(), &clock_, persist);
    blocks_->set_persist_report_fn([this](PersistReport r) { scheduler_->OnHeartbeat(std::move(r)); });
    blocks_->set_pinned_files_fn([this] { return fsm_->ProtectedFiles(); });
  }

  void TearDown() override { fs::remove_all(dir_); }

  // Registers a worker at port `port` caching nothing; returns its id.
  uint64_t AddWorker(int port) {
    proto::RegisterWorkerRequest reg;
    reg.mutable_address()->set_host("w");
    reg.mutable_address()->set_rpc_port(port);
    auto id = blocks_->RegisterWorker(reg);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or(0);
  }

  proto::FileInfo Create(const std::string& path, proto::WriteType type) {
    proto::CreateFileRequest create;
    create.set_path(path);
    create.set_write_type(type);
    create.set_recursive(true);
    auto info = fsm_->CreateFile(create);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.value_or(proto::FileInfo());
  }

  // Completes `file` with `length` bytes whose blocks `worker` caches.
  proto::FileInfo Complete(const proto::FileInfo& file, int64_t length, uint64_t worker) {
    for (int64_t i = 0; i * kBlock < length; ++i) {
      proto::CachedBlock block;
      block.set_block_id(MakeBlockId(file.file_id(), static_cast<uint64_t>(i)));
      block.set_length(std::min(kBlock, length - i * kBlock));
      block.set_tier("MEM");
      EXPECT_TRUE(blocks_->CommitBlock(worker, block).ok());
    }
    proto::CompleteFileRequest complete;
    complete.set_file_id(file.file_id());
    complete.set_length(length);
    auto info = fsm_->CompleteFile(complete);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.value_or(proto::FileInfo());
  }

  proto::FileInfo Stat(const std::string& path) {
    proto::GetStatusRequest get;
    get.set_path(path);
    auto info = fsm_->GetStatus(get);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.value_or(proto::FileInfo());
  }

  proto::WorkerHeartbeatResponse Heartbeat(uint64_t worker, std::vector<proto::PersistResult> results = {},
                                           std::vector<uint64_t> in_progress = {}) {
    proto::WorkerHeartbeatRequest hb;
    hb.set_worker_id(worker);
    for (auto& r : results) *hb.add_persist_results() = r;
    for (uint64_t id : in_progress) hb.add_persisting_file_ids(id);
    return blocks_->Heartbeat(hb);
  }

  void Run() { ASSERT_TRUE(scheduler_->RunOnce().ok()); }

  // What a worker does with a command: writes `content` to the temporary path.
  proto::PersistResult Perform(const proto::PersistFileCommand& command, const std::string& content) {
    EXPECT_TRUE(absl::StartsWith(command.ufs_path(), "file://" + ufs_ + "/.cistern-tmp-persist/")) << command.ufs_path();
    const std::string local = command.ufs_path().substr(strlen("file://"));
    fs::create_directories(fs::path(local).parent_path());
    std::ofstream(local, std::ios::binary) << content;
    proto::PersistResult result;
    result.set_file_id(command.file_id());
    result.set_attempt(command.attempt());
    result.set_ufs_path(command.ufs_path());
    result.mutable_ufs_fingerprint()->set_length(static_cast<int64_t>(content.size()));
    return result;
  }

  std::vector<uint64_t> Protected() { return fsm_->ProtectedFiles(); }

  std::string dir_, ufs_;
  ManualClock clock_;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<NamespaceStore> store_;
  std::unique_ptr<NamespaceStateMachine> sm_;
  std::unique_ptr<journal::LocalJournal> journal_;
  std::unique_ptr<MountTable> mounts_;
  std::unique_ptr<BlockMaster> blocks_;
  std::unique_ptr<FileSystemMaster> fsm_;
  std::unique_ptr<PersistenceScheduler> scheduler_;
};

TEST_F(PersistenceSchedulerTest, AsyncThroughFileIsPersistedByTheWorkerCachingItThenMovedIntoPlace) {
  const uint64_t w1 = AddWorker(1);
  const uint64_t w2 = AddWorker(2);
  proto::FileInfo file = Create("/d/a", proto::ASYNC_THROUGH);
  EXPECT_EQ(file.persistence_state(), proto::TO_BE_PERSISTED);
  EXPECT_EQ(file.persist_job().next_attempt_ms(), 0) << "not scheduled before it is complete";
  EXPECT_EQ(Protected(), std::vector<uint64_t>{file.file_id()}) << "its blocks are protected from the start";
  Run();
  EXPECT_EQ(Heartbeat(w2).persist_files_size(), 0);

  file = Complete(file, 250, w2);
  EXPECT_EQ(file.persistence_state(), proto::TO_BE_PERSISTED);
  Run();
  proto::FileInfo running = Stat("/d/a");
  EXPECT_EQ(running.persist_job().attempts(), 1);
  EXPECT_EQ(running.persist_job().worker_id(), w2) << "the worker caching the file persists it";
  EXPECT_EQ(Heartbeat(w1).persist_files_size(), 0);
  proto::WorkerHeartbeatResponse reply = Heartbeat(w2);
  ASSERT_EQ(reply.persist_files_size(), 1);
  const proto::PersistFileCommand& command = reply.persist_files(0);
  EXPECT_EQ(command.file_id(), file.file_id());
  EXPECT_EQ(command.length(), 250);
  ASSERT_EQ(command.blocks_size(), 3);
  EXPECT_EQ(command.blocks(2).length(), 50);
  EXPECT_EQ(command.blocks(1).locations(0).worker_id(), w2);
  EXPECT_FALSE(fs::exists(ufs_ + "/d/a")) << "nothing in place before the copy is complete";
  Run();
  EXPECT_EQ(scheduler_->in_flight(), 1);

  const std::string content(250, 'p');
  Heartbeat(w2, {Perform(command, content)});
  Run();
  proto::FileInfo done = Stat("/d/a");
  EXPECT_EQ(done.persistence_state(), proto::PERSISTED);
  EXPECT_FALSE(done.has_persist_job());
  EXPECT_EQ(done.ufs_fingerprint().length(), 250);
  EXPECT_EQ(ReadFile(ufs_ + "/d/a"), content);
  EXPECT_TRUE(fs::is_empty(ufs_ + "/.cistern-tmp-persist")) << "the copy was moved, not duplicated";
  EXPECT_TRUE(Protected().empty()) << "persisted blocks may be evicted";
  EXPECT_EQ(scheduler_->in_flight(), 0);
  // A stray duplicate result for a persisted file is dropped with its copy.
  Heartbeat(w2, {Perform(command, content)});
  Run();
  EXPECT_TRUE(fs::is_empty(ufs_ + "/.cistern-tmp-persist"));
  EXPECT_EQ(Stat("/d/a").persistence_state(), proto::PERSISTED);
}

TEST_F(PersistenceSchedulerTest, FailedAttemptsAreRetriedWithBackoffAndShowTheError) {
  const uint64_t w = AddWorker(1);
  proto::FileInfo file = Complete(Create("/f", proto::ASYNC_THROUGH), 120, w);
  Run();
  proto::PersistFileCommand command = Heartbeat(w).persist_files(0);
  proto::PersistResult failed;
  failed.set_file_id(file.file_id());
  failed.set_attempt(command.attempt());
  failed.set_ufs_path(command.ufs_path());
  failed.set_error("under-store said no");
  Heartbeat(w, {failed});
  Run();
  proto::FileInfo after = Stat("/f");
  EXPECT_EQ(after.persistence_state(), proto::TO_BE_PERSISTED);
  EXPECT_EQ(after.persist_job().attempts(), 1);
  EXPECT_EQ(after.persist_job().worker_id(), 0u);
  EXPECT_NE(after.persist_job().last_error().find("under-store said no"), std::string::npos);
  EXPECT_EQ(after.persist_job().next_attempt_ms(), clock_.NowMs() + 1000);
  Run();
  EXPECT_EQ(Heartbeat(w).persist_files_size(), 0) << "backing off";
  clock_.AdvanceMs(1000);
  Run();
  proto::WorkerHeartbeatResponse retry = Heartbeat(w);
  ASSERT_EQ(retry.persist_files_size(), 1);
  EXPECT_EQ(retry.persist_files(0).attempt(), 2);
  EXPECT_NE(retry.persist_files(0).ufs_path(), command.ufs_path()) << "each attempt writes its own copy";
  // The second failure doubles the wait; the maximum caps it.
  failed.set_attempt(2);
  failed.set_ufs_path(retry.persist_files(0).ufs_path());
  Heartbeat(w, {failed});
  Run();
  EXPECT_EQ(Stat("/f").persist_job().next_attempt_ms(), clock_.NowMs() + 2000);
  EXPECT_EQ(PersistenceScheduler::BackoffMs(10, 1000, 4000), 4000);
  clock_.AdvanceMs(2000);
  Run();
  command = Heartbeat(w).persist_files(0);
  Heartbeat(w, {Perform(command, std::string(120, 'x'))});
  Run();
  EXPECT_EQ(Stat("/f").persistence_state(), proto::PERSISTED);
}

TEST_F(PersistenceSchedulerTest, RenamedWhilePersistingLandsAtTheNewPathAndDeletedDropsTheCopy) {
  const uint64_t w = AddWorker(1);
  proto::FileInfo a = Complete(Create("/x/a", proto::ASYNC_THROUGH), 30, w);
  proto::FileInfo b = Complete(Create("/x/b", proto::ASYNC_THROUGH), 40, w);
  Run();
  proto::WorkerHeartbeatResponse reply = Heartbeat(w);
  ASSERT_EQ(reply.persist_files_size(), 2);
  ASSERT_TRUE(fsm_->CreateDirectory([] {
                     proto::CreateDirectoryRequest r;
                     r.set_path("/y");
                     return r;
                   }()).ok());
  proto::RenameRequest rename;
  rename.set_src_path("/x/a");
  rename.set_dst_path("/y/renamed");
  ASSERT_TRUE(fsm_->Rename(rename).ok());
  proto::DeleteRequest del;
  del.set_path("/x/b");
  ASSERT_TRUE(fsm_->Delete(del).ok());
  std::vector<proto::PersistResult> results;
  for (const auto& command : reply.persist_files()) {
    results.push_back(Perform(command, std::string(command.file_id() == a.file_id() ? 30 : 40, 'r')));
  }
  Heartbeat(w, results);
  Run();
  EXPECT_EQ(Stat("/y/renamed").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(ReadFile(ufs_ + "/y/renamed"), std::string(30, 'r'));
  EXPECT_FALSE(fs::exists(ufs_ + "/x/a"));
  EXPECT_FALSE(fs::exists(ufs_ + "/x/b")) << "a deleted file is not resurrected";
  EXPECT_TRUE(fs::is_empty(ufs_ + "/.cistern-tmp-persist"));
  EXPECT_EQ(scheduler_->in_flight(), 0);
  (void)b;
}

TEST_F(PersistenceSchedulerTest, AttemptsOfARestartedOrLostWorkerAreRetried) {
  const uint64_t w1 = AddWorker(1);
  const uint64_t w2 = AddWorker(2);
  proto::FileInfo file = Complete(Create("/f", proto::ASYNC_THROUGH), 10, w1);
  Run();
  ASSERT_EQ(Heartbeat(w1).persist_files_size(), 1);
  Run();
  // The next heartbeat names the file neither as running nor as done: the worker forgot it.
  Heartbeat(w1);
  Run();
  proto::FileInfo after = Stat("/f");
  EXPECT_EQ(after.persist_job().worker_id(), 0u);
  EXPECT_NE(after.persist_job().last_error().find("no longer runs"), std::string::npos) << after.persist_job().last_error();
  clock_.AdvanceMs(1000);
  Run();
  ASSERT_EQ(Heartbeat(w1).persist_files_size(), 1);
  Run();
  // While the worker says it is running, the attempt stands.
  Heartbeat(w1, {}, {file.file_id()});
  Run();
  EXPECT_EQ(Stat("/f").persist_job().worker_id(), w1);
  // Then the worker dies: lost, and the attempt with it. Its block has no copy left, so the
  // next attempt fails until a copy shows up again.
  clock_.AdvanceMs(kGraceMs + 1);
  Heartbeat(w2);
  blocks_->DetectLostWorkers();
  Run();
  after = Stat("/f");
  EXPECT_EQ(after.persist_job().worker_id(), 0u);
  EXPECT_NE(after.persist_job().last_error().find("was lost"), std::string::npos) << after.persist_job().last_error();
  clock_.AdvanceMs(4000);
  Heartbeat(w2);
  Run();
  after = Stat("/f");
  EXPECT_EQ(after.persist_job().attempts(), 3);
  EXPECT_NE(after.persist_job().last_error().find("no cached copy"), std::string::npos) << after.persist_job().last_error();
  EXPECT_EQ(Protected(), std::vector<uint64_t>{file.file_id()}) << "still the only copy, wherever it is";
}

TEST_F(PersistenceSchedulerTest, JobsSurviveAMasterRestartAndRunningAttemptsAreAdopted) {
  uint64_t w = AddWorker(1);
  proto::FileInfo file = Complete(Create("/f", proto::ASYNC_THROUGH), 10, w);
  proto::FileInfo other = Complete(Create("/g", proto::ASYNC_THROUGH), 10, w);
  Run();
  proto::WorkerHeartbeatResponse reply = Heartbeat(w);
  ASSERT_EQ(reply.persist_files_size(), 2);
  proto::PersistFileCommand command = reply.persist_files(0);
  ASSERT_EQ(command.file_id(), file.file_id());

  StartMaster();  // the new master knows the jobs, not the workers
  EXPECT_EQ(Stat("/f").persist_job().worker_id(), w) << "journaled as running";
  EXPECT_EQ(Protected().size(), 2u);
  // The worker registers again (same address, so the same id) with its blocks...
  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w");
  reg.mutable_address()->set_rpc_port(1);
  for (uint64_t f : {file.file_id(), other.file_id()}) {
    proto::CachedBlock* block = reg.add_blocks();
    block->set_block_id(MakeBlockId(f, 0));
    block->set_length(10);
  }
  w = blocks_->RegisterWorker(reg).value();
  Run();
  // ...and still runs the first file, not the second (its restart lost it).
  Heartbeat(w, {}, {file.file_id()});
  Run();
  EXPECT_EQ(scheduler_->in_flight(), 2) << "one adopted, one started again";
  reply = Heartbeat(w, {}, {file.file_id()});
  ASSERT_EQ(reply.persist_files_size(), 1);
  EXPECT_EQ(reply.persist_files(0).file_id(), other.file_id());
  EXPECT_EQ(reply.persist_files(0).attempt(), 2);
  Heartbeat(w, {Perform(command, std::string(10, 'f')), Perform(reply.persist_files(0), std::string(10, 'g'))});
  Run();
  EXPECT_EQ(Stat("/f").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(Stat("/g").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(ReadFile(ufs_ + "/f"), std::string(10, 'f'));
}

// The master journals an attempt's copy name before the worker is told to write it; a copy
// whose attempt is lost across a master restart (written, never reported) is deleted when the
// next attempt replaces its name, so nothing is left in the temporary directory.
TEST_F(PersistenceSchedulerTest, CopyOfAnAttemptLostInAMasterRestartIsDeleted) {
  uint64_t w = AddWorker(1);
  proto::FileInfo file = Complete(Create("/f", proto::ASYNC_THROUGH), 10, w);
  Run();
  proto::WorkerHeartbeatResponse reply = Heartbeat(w);
  ASSERT_EQ(reply.persist_files_size(), 1);
  const proto::PersistFileCommand first = reply.persist_files(0);
  EXPECT_EQ(Stat("/f").persist_job().temp_ufs_path(), first.ufs_path()) << "journaled before it was sent";
  Perform(first, std::string(10, 'f'));  // written, then the worker restarts and the master too
  const std::string first_copy = first.ufs_path().substr(strlen("file://"));
  ASSERT_TRUE(fs::exists(first_copy));

  StartMaster();
  proto::RegisterWorkerRequest reg;
  reg.mutable_address()->set_host("w");
  reg.mutable_address()->set_rpc_port(1);
  proto::CachedBlock* block = reg.add_blocks();
  block->set_block_id(MakeBlockId(file.file_id(), 0));
  block->set_length(10);
  w = blocks_->RegisterWorker(reg).value();
  Heartbeat(w);  // not running it
  Run();
  reply = Heartbeat(w);
  ASSERT_EQ(reply.persist_files_size(), 1);
  EXPECT_EQ(reply.persist_files(0).attempt(), 2);
  EXPECT_FALSE(fs::exists(first_copy)) << "the lost attempt's copy is deleted";
  Heartbeat(w, {Perform(reply.persist_files(0), std::string(10, 'f'))});
  Run();
  EXPECT_EQ(Stat("/f").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(ReadFile(ufs_ + "/f"), std::string(10, 'f'));
  EXPECT_TRUE(fs::is_empty(ufs_ + "/.cistern-tmp-persist"));
}

TEST_F(PersistenceSchedulerTest, PersistRequestSchedulesMustCacheFilesAndSkipsPersistedOnes) {
  const uint64_t w = AddWorker(1);
  proto::FileInfo cached = Complete(Create("/d/cached", proto::MUST_CACHE), 10, w);
  EXPECT_EQ(cached.persistence_state(), proto::NOT_PERSISTED);
  EXPECT_TRUE(Protected().empty()) << "MUST_CACHE blocks may be evicted";
  proto::FileInfo writing = Create("/d/writing", proto::MUST_CACHE);
  std::ofstream(ufs_ + "/d/thru") << "t";
  proto::FileInfo thru = Create("/d/thru", proto::THROUGH);
  proto::CompleteFileRequest complete;
  complete.set_file_id(thru.file_id());
  complete.set_length(1);
  complete.mutable_ufs_fingerprint()->set_length(1);
  ASSERT_TRUE(fsm_->CompleteFile(complete).ok());

  proto::PersistRequest persist;
  persist.set_path("/d");
  EXPECT_TRUE(absl::IsFailedPrecondition(fsm_->Persist(persist).status())) << "a directory needs recursive";
  persist.set_path("/d/writing");
  EXPECT_TRUE(absl::IsFailedPrecondition(fsm_->Persist(persist).status()));
  persist.set_path("/d");
  persist.set_recursive(true);
  auto response = fsm_->Persist(persist);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->scheduled_file_ids_size(), 1);
  EXPECT_EQ(response->scheduled_bytes(), 10);
  EXPECT_EQ(response->persisted_files(), 1);
  EXPECT_EQ(Stat("/d/cached").persistence_state(), proto::TO_BE_PERSISTED);
  EXPECT_EQ(Protected(), std::vector<uint64_t>{cached.file_id()});
  Run();
  proto::WorkerHeartbeatResponse reply = Heartbeat(w);
  ASSERT_EQ(reply.persist_files_size(), 1);
  // Asking again while it runs changes nothing.
  ASSERT_TRUE(fsm_->Persist(persist).ok());
  Run();
  EXPECT_EQ(Heartbeat(w, {}, {cached.file_id()}).persist_files_size(), 0);
  Heartbeat(w, {Perform(reply.persist_files(0), std::string(10, 'c'))});
  Run();
  EXPECT_EQ(Stat("/d/cached").persistence_state(), proto::PERSISTED);
  EXPECT_EQ(Stat("/d/cached").write_type(), proto::MUST_CACHE);
  (void)writing;
}

TEST_F(PersistenceSchedulerTest, JournaledStateSurvivesReplayAndDeleteRemovesTheJob) {
  const uint64_t w = AddWorker(1);
  proto::FileInfo file = Complete(Create("/f", proto::ASYNC_THROUGH), 10, w);
  EXPECT_TRUE(store_->GetPersistJob(file.file_id()).value().has_value());
  proto::DeleteRequest del;
  del.set_path("/f");
  ASSERT_TRUE(fsm_->Delete(del).ok());
  EXPECT_FALSE(store_->GetPersistJob(file.file_id()).value().has_value());
  EXPECT_TRUE(Protected().empty());
  // Overwriting an unfinished ASYNC_THROUGH file drops its job as well.
  proto::FileInfo first = Create("/g", proto::ASYNC_THROUGH);
  proto::CreateFileRequest again;
  again.set_path("/g");
  again.set_overwrite(true);
  again.set_write_type(proto::CACHE_THROUGH);
  ASSERT_TRUE(fsm_->CreateFile(again).ok());
  EXPECT_FALSE(store_->GetPersistJob(first.file_id()).value().has_value());
}

}  // namespace
}  // namespace cistern::master
