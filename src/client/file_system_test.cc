// The client against in-process fake master and worker gRPC services: checks the data-path
// contracts the real daemons rely on (one ReadBlock request per block for a sequential read,
// what each write type sends where, abort leaves nothing, retry on another worker).
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cistern/file_system.h"
#include "cistern/proto/master.grpc.pb.h"
#include "cistern/proto/worker.grpc.pb.h"
#include "common/block_id.h"
#include "common/path.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace cistern {
namespace {

using grpc::ServerContext;
using grpc::Status;

// Bytes "in the under-store", shared by the fake workers.
struct FakeUfs {
  absl::Mutex mu;
  std::map<std::string, std::string> files;
};

class FakeMaster final : public proto::FileSystemMaster::Service,
                         public proto::BlockMaster::Service,
                         public proto::MetaMaster::Service {
 public:
  FakeMaster() {
    proto::FileInfo root;
    root.set_path("/");
    root.set_kind(proto::DIRECTORY);
    root.set_mode(0755);
    files_["/"] = root;
  }

  void AddWorker(uint64_t id, int port) {
    absl::MutexLock lock(&mu_);
    proto::WorkerInfo* w = workers_.add_workers();
    w->set_worker_id(id);
    w->mutable_address()->set_host("127.0.0.1");
    w->mutable_address()->set_rpc_port(port);
    w->set_state(proto::LIVE);
  }
  void AddLocation(uint64_t block_id, uint64_t worker_id, int port) {
    absl::MutexLock lock(&mu_);
    proto::BlockLocation l;
    l.set_worker_id(worker_id);
    l.mutable_address()->set_host("127.0.0.1");
    l.mutable_address()->set_rpc_port(port);
    locations_[block_id].push_back(l);
  }
  int get_status_calls() {
    absl::MutexLock lock(&mu_);
    return get_status_calls_;
  }
  bool Exists(const std::string& path) {
    absl::MutexLock lock(&mu_);
    return files_.count(path) > 0;
  }

  Status GetStatus(ServerContext*, const proto::GetStatusRequest* req, proto::GetStatusResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++get_status_calls_;
    auto it = files_.find(req->path());
    if (it == files_.end()) return Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("path ", req->path(), " does not exist"));
    *resp->mutable_info() = it->second;
    const proto::FileInfo& f = it->second;
    for (int i = 0; i < f.block_ids_size(); ++i) {
      proto::BlockInfo* b = resp->mutable_info()->add_blocks();
      b->set_block_id(f.block_ids(i));
      b->set_offset(i * f.block_size_bytes());
      b->set_length(std::min(f.block_size_bytes(), f.length() - i * f.block_size_bytes()));
      for (const auto& l : locations_[f.block_ids(i)]) *b->add_locations() = l;
    }
    return Status::OK;
  }
  Status ListStatus(ServerContext*, const proto::ListStatusRequest* req,
                    grpc::ServerWriter<proto::ListStatusResponse>* writer) override {
    absl::MutexLock lock(&mu_);
    proto::ListStatusResponse page;
    for (const auto& [path, info] : files_) {
      if (path != "/" && ParentPath(path) == req->path()) *page.add_infos() = info;
    }
    writer->Write(page);
    return Status::OK;
  }
  Status CreateFile(ServerContext*, const proto::CreateFileRequest* req, proto::CreateFileResponse* resp) override {
    absl::MutexLock lock(&mu_);
    if (files_.count(req->path()) && !req->overwrite()) {
      return Status(grpc::StatusCode::ALREADY_EXISTS, absl::StrCat(req->path(), " exists"));
    }
    proto::FileInfo f;
    f.set_file_id(next_id_++);
    f.set_path(req->path());
    f.set_kind(proto::FILE);
    f.set_block_size_bytes(req->block_size_bytes());
    f.set_write_type(req->write_type());
    f.set_mode(0644);
    f.set_ufs_path("mem://ufs" + req->path());
    files_[req->path()] = f;
    *resp->mutable_info() = f;
    return Status::OK;
  }
  Status CompleteFile(ServerContext*, const proto::CompleteFileRequest* req, proto::CompleteFileResponse* resp) override {
    absl::MutexLock lock(&mu_);
    for (auto& [path, f] : files_) {
      if (f.file_id() != req->file_id()) continue;
      f.set_length(req->length());
      f.set_completed(true);
      for (int64_t i = 0; i * f.block_size_bytes() < req->length(); ++i) f.add_block_ids(MakeBlockId(f.file_id(), i));
      bool persisted = f.write_type() == proto::CACHE_THROUGH || f.write_type() == proto::THROUGH;
      if (persisted && req->ufs_fingerprint().length() != req->length()) {
        return Status(grpc::StatusCode::INVALID_ARGUMENT, "fingerprint length mismatch");
      }
      f.set_persistence_state(persisted ? proto::PERSISTED : proto::NOT_PERSISTED);
      *resp->mutable_info() = f;
      return Status::OK;
    }
    return Status(grpc::StatusCode::NOT_FOUND, "no such file id");
  }
  Status Delete(ServerContext*, const proto::DeleteRequest* req, proto::DeleteResponse*) override {
    absl::MutexLock lock(&mu_);
    if (!files_.erase(req->path())) return Status(grpc::StatusCode::NOT_FOUND, req->path());
    return Status::OK;
  }
  Status GetWorkerInfoList(ServerContext*, const proto::GetWorkerInfoListRequest*,
                           proto::GetWorkerInfoListResponse* resp) override {
    absl::MutexLock lock(&mu_);
    *resp = workers_;
    return Status::OK;
  }

 private:
  int get_status_calls_ = 0;
  absl::Mutex mu_;
  std::map<std::string, proto::FileInfo> files_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::vector<proto::BlockLocation>> locations_ ABSL_GUARDED_BY(mu_);
  proto::GetWorkerInfoListResponse workers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

class FakeWorker final : public proto::BlockWorker::Service {
 public:
  FakeWorker(FakeMaster* master, FakeUfs* ufs, uint64_t id) : master_(master), ufs_(ufs), id_(id) {}
  void set_port(int port) { port_ = port; }
  void set_fail_reads(bool fail) { fail_reads_ = fail; }

  int read_requests() { absl::MutexLock l(&mu_); return read_requests_; }
  int ufs_fetches() { absl::MutexLock l(&mu_); return ufs_fetches_; }
  size_t cached_blocks() { absl::MutexLock l(&mu_); return blocks_.size(); }

  Status ReadBlock(ServerContext*, const proto::ReadBlockRequest* req,
                   grpc::ServerWriter<proto::ReadBlockResponse>* writer) override {
    if (fail_reads_) {
      ++failed_reads_;
      return Status(grpc::StatusCode::UNAVAILABLE, "worker failing on purpose");
    }
    std::string block;
    bool from_cache = true;
    {
      absl::MutexLock lock(&mu_);
      ++read_requests_;
      auto it = blocks_.find(req->block_id());
      if (it != blocks_.end()) {
        block = it->second;
      } else if (req->has_ufs()) {
        absl::MutexLock ufs_lock(&ufs_->mu);
        auto f = ufs_->files.find(req->ufs().ufs_path());
        if (f == ufs_->files.end()) return Status(grpc::StatusCode::NOT_FOUND, req->ufs().ufs_path());
        block = f->second.substr(req->ufs().offset_in_file(), req->ufs().block_length());
        ++ufs_fetches_;
        from_cache = false;
        if (req->read_type() != proto::NO_CACHE) blocks_[req->block_id()] = block;
      } else {
        return Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("block ", req->block_id(), " not cached"));
      }
    }
    int64_t end = req->length() < 0 ? block.size() : std::min<int64_t>(block.size(), req->offset() + req->length());
    const int64_t chunk = req->chunk_size_bytes() > 0 ? req->chunk_size_bytes() : 4096;
    bool first = true;
    for (int64_t at = req->offset(); at < end; at += chunk) {
      proto::ReadBlockResponse resp;
      resp.set_data(block.substr(at, std::min(chunk, end - at)));
      if (first) resp.set_from_cache(from_cache);
      first = false;
      if (!writer->Write(resp)) break;
    }
    return Status::OK;
  }

  Status WriteBlock(ServerContext*, grpc::ServerReader<proto::WriteBlockRequest>* reader,
                    proto::WriteBlockResponse* resp) override {
    proto::WriteBlockRequest req;
    uint64_t block_id = 0;
    std::string data;
    bool committed = false;
    while (reader->Read(&req)) {
      if (req.has_header()) block_id = req.header().block_id();
      if (req.payload_case() == proto::WriteBlockRequest::kData) data += req.data();
      if (req.payload_case() == proto::WriteBlockRequest::kCommit) committed = true;
    }
    if (!committed) return Status(grpc::StatusCode::ABORTED, "no commit");
    {
      absl::MutexLock lock(&mu_);
      blocks_[block_id] = data;
    }
    master_->AddLocation(block_id, id_, port_);
    resp->set_length(data.size());
    return Status::OK;
  }

  Status WriteUfsFile(ServerContext*, grpc::ServerReader<proto::WriteUfsFileRequest>* reader,
                      proto::WriteUfsFileResponse* resp) override {
    proto::WriteUfsFileRequest req;
    std::string path, data;
    bool committed = false;
    while (reader->Read(&req)) {
      if (req.has_header()) path = req.header().ufs_path();
      if (req.payload_case() == proto::WriteUfsFileRequest::kData) data += req.data();
      if (req.payload_case() == proto::WriteUfsFileRequest::kCommit) committed = true;
    }
    if (!committed) return Status(grpc::StatusCode::ABORTED, "no commit");
    absl::MutexLock lock(&ufs_->mu);
    ufs_->files[path] = data;
    resp->set_length(data.size());
    resp->mutable_fingerprint()->set_length(data.size());
    return Status::OK;
  }

 private:
  FakeMaster* const master_;
  FakeUfs* const ufs_;
  const uint64_t id_;
  int port_ = 0;
  std::atomic<bool> fail_reads_{false};

 public:
  std::atomic<int> failed_reads_{0};

 private:
  absl::Mutex mu_;
  std::map<uint64_t, std::string> blocks_ ABSL_GUARDED_BY(mu_);
  int read_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int ufs_fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

constexpr int64_t kBlock = 64 << 10;
constexpr int64_t kChunk = 16 << 10;

class FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    grpc::ServerBuilder mb;
    mb.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    mb.RegisterService(static_cast<proto::FileSystemMaster::Service*>(&master_));
    mb.RegisterService(static_cast<proto::BlockMaster::Service*>(&master_));
    mb.RegisterService(static_cast<proto::MetaMaster::Service*>(&master_));
    master_server_ = mb.BuildAndStart();
    ASSERT_NE(port, 0);
    for (uint64_t id = 1; id <= 2; ++id) {
      auto worker = std::make_unique<FakeWorker>(&master_, &ufs_, id);
      int wport = 0;
      grpc::ServerBuilder wb;
      wb.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &wport);
      wb.RegisterService(worker.get());
      worker_servers_.push_back(wb.BuildAndStart());
      ASSERT_NE(wport, 0);
      worker->set_port(wport);
      master_.AddWorker(id, wport);
      workers_.push_back(std::move(worker));
    }
    ClientOptions options;
    options.master_addresses = {absl::StrCat("127.0.0.1:", port)};
    options.rpc_timeout_ms = 5000;
    options.data_timeout_ms = 10000;
    options.retry_window_ms = 0;
    options.chunk_size_bytes = kChunk;
    options.default_block_size_bytes = kBlock;
    options_ = options;
    auto fs = FileSystem::Connect(options);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = *std::move(fs);
  }

  void TearDown() override {
    fs_.reset();
    for (auto& s : worker_servers_) s->Shutdown();
    master_server_->Shutdown();
  }

  static std::string RandomBytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }

  void WriteFile(const std::string& path, const std::string& data, WriteType type) {
    CreateOptions options;
    options.write_type = type;
    auto writer = fs_->Create(path, options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    // Odd-sized writes cross chunk and block boundaries.
    for (size_t at = 0; at < data.size(); at += 10007) {
      ASSERT_TRUE((*writer)->Write(std::string_view(data).substr(at, 10007)).ok());
    }
    ASSERT_TRUE((*writer)->Close().ok());
    EXPECT_EQ((*writer)->status().length, static_cast<int64_t>(data.size()));
  }

  std::string ReadAll(const std::string& path, int64_t buffer = 5000) {
    auto reader = fs_->Open(path, {});
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return "";
    std::string out;
    std::string buf(buffer, '\0');
    while (true) {
      auto n = (*reader)->Read(buf.data(), buffer);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf.data(), *n);
    }
    return out;
  }

  int TotalReadRequests() { return workers_[0]->read_requests() + workers_[1]->read_requests(); }
  int TotalUfsFetches() { return workers_[0]->ufs_fetches() + workers_[1]->ufs_fetches(); }
  size_t TotalCachedBlocks() { return workers_[0]->cached_blocks() + workers_[1]->cached_blocks(); }

  FakeMaster master_;
  FakeUfs ufs_;
  std::unique_ptr<grpc::Server> master_server_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
  std::vector<std::unique_ptr<grpc::Server>> worker_servers_;
  std::unique_ptr<FileSystem> fs_;
  ClientOptions options_;
};

TEST_F(FileSystemTest, CacheThroughWritesBlocksAndUfsAndReadsOneRequestPerBlock) {
  const std::string data = RandomBytes(kBlock * 5 / 2, 1);  // 3 blocks
  WriteFile("/a.bin", data, WriteType::kCacheThrough);
  EXPECT_EQ(TotalCachedBlocks(), 3u);
  {
    absl::MutexLock lock(&ufs_.mu);
    EXPECT_TRUE(ufs_.files["mem://ufs/a.bin"] == data);
  }
  auto status = fs_->GetStatus("/a.bin");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->persistence_state, PersistenceState::kPersisted);
  EXPECT_EQ(status->blocks.size(), 3u);

  EXPECT_TRUE(ReadAll("/a.bin") == data);
  EXPECT_EQ(TotalReadRequests(), 3) << "a sequential read must use one ReadBlock per block";
  EXPECT_EQ(TotalUfsFetches(), 0);
}

TEST_F(FileSystemTest, ThroughReadsFromUfsOnceThenFromCache) {
  const std::string data = RandomBytes(kBlock * 2 + 100, 2);
  WriteFile("/t.bin", data, WriteType::kThrough);
  EXPECT_EQ(TotalCachedBlocks(), 0u);
  EXPECT_TRUE(ReadAll("/t.bin", 1 << 20) == data);
  EXPECT_EQ(TotalUfsFetches(), 3);
  EXPECT_TRUE(ReadAll("/t.bin", 333) == data);
  EXPECT_EQ(TotalUfsFetches(), 3) << "second read went to the under-store";
  EXPECT_EQ(TotalReadRequests(), 6);
}

TEST_F(FileSystemTest, MustCacheIsNotPersisted) {
  const std::string data = RandomBytes(1000, 3);
  WriteFile("/m.bin", data, WriteType::kMustCache);
  {
    absl::MutexLock lock(&ufs_.mu);
    EXPECT_EQ(ufs_.files.count("mem://ufs/m.bin"), 0u);
  }
  EXPECT_EQ(fs_->GetStatus("/m.bin")->persistence_state, PersistenceState::kNotPersisted);
  EXPECT_TRUE(ReadAll("/m.bin") == data);
}

TEST_F(FileSystemTest, EmptyFile) {
  WriteFile("/empty", "", WriteType::kCacheThrough);
  EXPECT_EQ(ReadAll("/empty"), "");
  EXPECT_EQ(TotalReadRequests(), 0);
}

TEST_F(FileSystemTest, ReadAtAndSeek) {
  const std::string data = RandomBytes(kBlock * 3, 4);
  WriteFile("/r.bin", data, WriteType::kMustCache);
  auto reader = fs_->Open("/r.bin", {});
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->length(), kBlock * 3);
  std::string buf(kBlock + 10, '\0');
  // Spans blocks 0 and 1.
  auto n = (*reader)->ReadAt(kBlock - 5, buf.data(), kBlock + 10);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, kBlock + 10);
  EXPECT_TRUE(buf == data.substr(kBlock - 5, kBlock + 10));
  // Past the end: short.
  n = (*reader)->ReadAt(kBlock * 3 - 7, buf.data(), 100);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 7);
  EXPECT_EQ((*reader)->position(), 0);
  ASSERT_TRUE((*reader)->Seek(2 * kBlock + 3).ok());
  n = (*reader)->Read(buf.data(), 10);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf.data(), 10), data.substr(2 * kBlock + 3, 10));
  EXPECT_FALSE((*reader)->Seek(kBlock * 3 + 1).ok());
}

TEST_F(FileSystemTest, AbortLeavesNothing) {
  CreateOptions options;
  options.write_type = WriteType::kCacheThrough;
  {
    auto writer = fs_->Create("/x.bin", options);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(RandomBytes(kBlock + 10, 5)).ok());
    EXPECT_TRUE(master_.Exists("/x.bin"));
    // Destroyed without Close.
  }
  EXPECT_FALSE(master_.Exists("/x.bin"));
  absl::MutexLock lock(&ufs_.mu);
  EXPECT_EQ(ufs_.files.count("mem://ufs/x.bin"), 0u);
}

TEST_F(FileSystemTest, PersistedReadRetriesOnAnotherWorker) {
  const std::string data = RandomBytes(kBlock * 2, 6);
  WriteFile("/p.bin", data, WriteType::kCacheThrough);
  auto status = fs_->GetStatus("/p.bin");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->blocks[0].locations.size(), 1u);
  FakeWorker* holder = workers_[status->blocks[0].locations[0].worker_id - 1].get();
  holder->set_fail_reads(true);
  EXPECT_TRUE(ReadAll("/p.bin") == data);
  EXPECT_GE(holder->failed_reads_.load(), 1) << "the failing worker was never tried";
  std::string buf(100, '\0');
  auto reader = fs_->Open("/p.bin", {});
  ASSERT_TRUE(reader.ok());
  for (int64_t at : {int64_t{0}, kBlock + 1}) {
    auto n = (*reader)->ReadAt(at, buf.data(), 100);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(buf, data.substr(at, 100));
  }
}

TEST_F(FileSystemTest, NotPersistedReadFailsWhenItsWorkerFails) {
  const std::string data = RandomBytes(kBlock * 2, 7);
  WriteFile("/np.bin", data, WriteType::kMustCache);
  workers_[0]->set_fail_reads(true);
  workers_[1]->set_fail_reads(true);
  auto reader = fs_->Open("/np.bin", {});
  ASSERT_TRUE(reader.ok());
  std::string buf(100, '\0');
  auto n = (*reader)->Read(buf.data(), 100);
  EXPECT_FALSE(n.ok());
}

TEST_F(FileSystemTest, MetadataErrorsNameThePath) {
  auto missing = fs_->GetStatus("/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nope"), absl::string_view::npos);
  auto relative = fs_->GetStatus("rel/path");
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(relative.status().message().find("rel/path"), absl::string_view::npos);
  WriteFile("/dup", "x", WriteType::kMustCache);
  EXPECT_EQ(fs_->Create("/dup", {}).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(FileSystemTest, ListStatusStreamsEntries) {
  WriteFile("/b", "1", WriteType::kMustCache);
  WriteFile("/a", "22", WriteType::kMustCache);
  std::vector<std::string> names;
  ASSERT_TRUE(fs_->ListStatus("/", {}, [&](const FileStatus& s) {
                   names.push_back(s.path);
                   return absl::OkStatus();
                 }).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"/a", "/b"}));
  absl::Status stop = fs_->ListStatus("/", {}, [](const FileStatus&) { return absl::CancelledError("enough"); });
  EXPECT_EQ(stop.code(), absl::StatusCode::kCancelled);
}

TEST_F(FileSystemTest, WorkersSortedById) {
  auto workers = fs_->GetWorkers();
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->size(), 2u);
  EXPECT_EQ((*workers)[0].worker_id, 1u);
  EXPECT_EQ((*workers)[1].state, WorkerState::kLive);
}

TEST_F(FileSystemTest, MetadataCacheReusesStatusUntilAChange) {
  WriteFile("/c.bin", RandomBytes(100, 8), WriteType::kMustCache);
  ClientOptions cached = options_;
  cached.metadata_cache_ttl_ms = 60000;
  auto fs = FileSystem::Connect(cached);
  ASSERT_TRUE(fs.ok());
  const int before = master_.get_status_calls();
  ASSERT_TRUE((*fs)->GetStatus("/c.bin").ok());
  ASSERT_TRUE((*fs)->GetStatus("/c.bin").ok());
  EXPECT_EQ(master_.get_status_calls() - before, 1) << "the second GetStatus should come from the cache";
  // An explicit sync interval asks the master.
  ASSERT_TRUE((*fs)->GetStatus("/c.bin", GetStatusOptions{.sync_interval_ms = 0}).ok());
  EXPECT_EQ(master_.get_status_calls() - before, 2);
  // A change made through this client clears the cache.
  ASSERT_TRUE((*fs)->Delete("/c.bin", false).ok());
  EXPECT_FALSE((*fs)->GetStatus("/c.bin").ok());
  // Off by default: every call asks.
  const int plain = master_.get_status_calls();
  ASSERT_FALSE(fs_->GetStatus("/c.bin").ok());
  ASSERT_FALSE(fs_->GetStatus("/c.bin").ok());
  EXPECT_EQ(master_.get_status_calls() - plain, 2);
}

}  // namespace
}  // namespace cistern
