// In-process tests of the BlockWorker gRPC service: a real server on a loopback port, driven
// through rpc::WorkerClient, with a recording BlockCommitter in place of the master.
#include "worker/block_worker_service.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "common/block_id.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/worker_client.h"
#include "worker/gated_ufs_for_test.h"
#include "worker/local_block_leases.h"
#include "worker/worker_test_util.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

int64_t CounterValue(const char* name) { return Metrics().Value(name); }

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 37 + seed * 11 + i / 509) & 0xff);
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

class RecordingCommitter : public BlockCommitter {
 public:
  struct Commit {
    uint64_t block_id;
    int64_t length;
    std::string tier;
  };
  absl::Status CommitBlock(uint64_t block_id, int64_t length, std::string_view tier) override {
    absl::MutexLock lock(&mu_);
    commits_.push_back({block_id, length, std::string(tier)});
    return fail_;
  }
  std::vector<Commit> commits() {
    absl::MutexLock lock(&mu_);
    return commits_;
  }
  void set_fail(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(status);
  }

 private:
  absl::Mutex mu_;
  std::vector<Commit> commits_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
};

struct ReadResult {
  absl::Status status;
  std::string data;
  bool from_cache = false;
  int chunks = 0;
};

class BlockWorkerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "block_worker_service_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    gated_ = std::make_shared<GatedUfs::State>();
    ufs_.SetForTest(GatedUfs::kRoot, std::make_unique<GatedUfs>(gated_));
    Start(BlockStoreOptions::SingleDir(root_ + "/mem", 16 << 20));
  }

  // (Re)starts the store, fetcher, service and server.
  void Start(BlockStoreOptions store_options, UfsFetcherOptions fetcher_options = {},
             LocalBlockLeases* leases = nullptr) {
    Stop();
    auto store = BlockStore::Open(std::move(store_options));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    fetcher_ = std::make_unique<UfsBlockFetcher>(store_.get(), &ufs_, fetcher_options);
    BlockWorkerServiceOptions options;
    options.default_chunk_size_bytes = 64 << 10;
    options.worker_id = [] { return uint64_t{17}; };
    options.leases = leases;
    options.send_mapped_blocks = send_mapped_blocks_;
    service_ = std::make_unique<BlockWorkerService>(store_.get(), fetcher_.get(), &ufs_, &committer_, options);

    grpc::ServerBuilder builder;
    rpc::ConfigureServerBuilder(&builder);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    address_ = absl::StrCat("127.0.0.1:", port);
    client_ = std::make_unique<rpc::WorkerClient>(address_, rpc::WorkerClientOptions{10000, 30000});
  }

  void Stop() {
    client_.reset();
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
    service_.reset();
    fetcher_.reset();
    store_.reset();
  }

  void TearDown() override {
    gated_->SetGate(INT64_MAX);
    Stop();
    fs::remove_all(root_);
  }

  ReadResult Read(const proto::ReadBlockRequest& request) {
    ReadResult result;
    result.status = client_->ReadBlock(request, [&](std::string_view data, bool from_cache) {
      result.data.append(data);
      result.from_cache = from_cache;
      result.chunks++;
      return absl::OkStatus();
    });
    return result;
  }

  static proto::ReadBlockRequest ReadRequest(uint64_t block_id, int64_t offset = 0, int64_t length = -1) {
    proto::ReadBlockRequest request;
    request.set_block_id(block_id);
    request.set_offset(offset);
    request.set_length(length);
    return request;
  }

  absl::StatusOr<int64_t> WriteBlock(uint64_t block_id, const std::string& data, size_t chunk = 100'000) {
    proto::WriteBlockHeader header;
    header.set_block_id(block_id);
    header.set_length_hint(static_cast<int64_t>(data.size()));
    auto stream = client_->OpenBlockWriter(header);
    if (!stream.ok()) return stream.status();
    for (size_t pos = 0; pos < data.size(); pos += chunk) {
      absl::Status status = (*stream)->Write(std::string_view(data).substr(pos, chunk));
      if (!status.ok()) return status;
    }
    auto response = (*stream)->Commit();
    if (!response.ok()) return response.status();
    return response->length();
  }

  std::string WriteUnderStoreFile(const std::string& name, const std::string& content) {
    std::string path = root_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return "file://" + path;
  }

  // Polls (never sleeps blindly) until `done` holds or 10 s pass.
  static bool WaitFor(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  bool send_mapped_blocks_ = true;
  std::string root_;
  std::shared_ptr<GatedUfs::State> gated_;
  UfsRegistry ufs_;
  RecordingCommitter committer_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<UfsBlockFetcher> fetcher_;
  std::unique_ptr<BlockWorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<rpc::WorkerClient> client_;
};

TEST_F(BlockWorkerServiceTest, WriteBlockCommitsToMasterThenReadsRanges) {
  const std::string data = Pattern(1'000'000, 1);
  const int64_t written0 = CounterValue("cistern_worker_cache_written_bytes_total");
  auto length = WriteBlock(0x500000003, data);
  ASSERT_TRUE(length.ok()) << length.status();
  EXPECT_EQ(*length, 1'000'000);
  auto commits = committer_.commits();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].block_id, 0x500000003u);
  EXPECT_EQ(commits[0].length, 1'000'000);
  EXPECT_EQ(commits[0].tier, "MEM");
  EXPECT_EQ(CounterValue("cistern_worker_cache_written_bytes_total") - written0, 1'000'000);
  EXPECT_TRUE(store_->Contains(0x500000003));

  const int64_t cache_blocks0 = CounterValue("cistern_worker_cache_block_reads_total");
  const int64_t cache_bytes0 = CounterValue("cistern_worker_cache_read_bytes_total");
  ReadResult all = Read(ReadRequest(0x500000003));
  ASSERT_TRUE(all.status.ok()) << all.status;
  EXPECT_TRUE(all.data == data);
  EXPECT_TRUE(all.from_cache);
  EXPECT_EQ(all.chunks, (1'000'000 + (64 << 10) - 1) / (64 << 10));  // default chunk size

  ReadResult range = Read(ReadRequest(0x500000003, 12345, 100'000));
  ASSERT_TRUE(range.status.ok()) << range.status;
  EXPECT_TRUE(range.data == data.substr(12345, 100'000));

  proto::ReadBlockRequest small_chunks = ReadRequest(0x500000003, 999'000, -1);
  small_chunks.set_chunk_size_bytes(100);
  ReadResult tail = Read(small_chunks);
  ASSERT_TRUE(tail.status.ok()) << tail.status;
  EXPECT_TRUE(tail.data == data.substr(999'000));
  EXPECT_EQ(tail.chunks, 10);

  ReadResult past_end = Read(ReadRequest(0x500000003, 990'000, 50'000));  // clamped to the block
  ASSERT_TRUE(past_end.status.ok());
  EXPECT_EQ(past_end.data.size(), 10'000u);

  ReadResult at_end = Read(ReadRequest(0x500000003, 1'000'000, -1));
  ASSERT_TRUE(at_end.status.ok()) << at_end.status;
  EXPECT_TRUE(at_end.data.empty());
  EXPECT_TRUE(at_end.from_cache);

  EXPECT_EQ(CounterValue("cistern_worker_cache_block_reads_total") - cache_blocks0, 5);
  EXPECT_EQ(CounterValue("cistern_worker_cache_read_bytes_total") - cache_bytes0,
            1'000'000 + 100'000 + 1'000 + 10'000);
}

// Blocks in a MEM tier on tmpfs go out from a mapping of the block file (ranges of 256 KiB or
// more); the bytes, chunking, counters and accounting are those of the buffered path.
TEST_F(BlockWorkerServiceTest, BlocksOnTmpfsAreSentFromMappings) {
  const std::string shm = test_util::MakeTmpfsTempDir("block_worker_service_test");
  if (shm.empty()) GTEST_SKIP() << "no tmpfs at /dev/shm here";
  const uint64_t id = 0x500000007;
  const std::string data = Pattern(10'000'000, 7);  // more than one 8 MiB mapping window
  for (bool mapped : {true, false}) {
    SCOPED_TRACE(mapped ? "mapped" : "buffered");
    send_mapped_blocks_ = mapped;
    Start(BlockStoreOptions::SingleDir(shm + "/mem", 16 << 20));
    ASSERT_TRUE(WriteBlock(id, data).ok());
    const int64_t cache_bytes0 = CounterValue("cistern_worker_cache_read_bytes_total");
    ReadResult all = Read(ReadRequest(id));
    ASSERT_TRUE(all.status.ok()) << all.status;
    EXPECT_TRUE(all.data == data);
    EXPECT_TRUE(all.from_cache);
    EXPECT_EQ(all.chunks, (10'000'000 + (64 << 10) - 1) / (64 << 10));
    proto::ReadBlockRequest big_chunks = ReadRequest(id);
    big_chunks.set_chunk_size_bytes(3'000'000);  // windows of two chunks: 3 + 3, then 3 + 1 MB
    ReadResult big = Read(big_chunks);
    ASSERT_TRUE(big.status.ok()) << big.status;
    EXPECT_TRUE(big.data == data);
    EXPECT_EQ(big.chunks, 4);
    proto::ReadBlockRequest unaligned = ReadRequest(id, 12'345, 1'000'000);
    unaligned.set_chunk_size_bytes(100'000);
    ReadResult range = Read(unaligned);
    ASSERT_TRUE(range.status.ok()) << range.status;
    EXPECT_TRUE(range.data == data.substr(12'345, 1'000'000));
    EXPECT_EQ(range.chunks, 10);
    ReadResult tail = Read(ReadRequest(id, 9'500'001, -1));
    ASSERT_TRUE(tail.status.ok()) << tail.status;
    EXPECT_TRUE(tail.data == data.substr(9'500'001));
    ReadResult small = Read(ReadRequest(id, 4097, 1000));  // below the mapping threshold
    ASSERT_TRUE(small.status.ok()) << small.status;
    EXPECT_TRUE(small.data == data.substr(4097, 1000));
    EXPECT_EQ(CounterValue("cistern_worker_cache_read_bytes_total") - cache_bytes0,
              2 * 10'000'000 + 1'000'000 + 499'999 + 1000);

    // A reader that goes away after its first chunk: the held mapping and reader are let go.
    int chunks = 0;
    absl::Status cancelled = client_->ReadBlock(ReadRequest(id), [&](std::string_view, bool) {
      return ++chunks == 1 ? absl::OkStatus() : absl::CancelledError("enough");
    });
    EXPECT_TRUE(absl::IsCancelled(cancelled)) << cancelled;
    ASSERT_TRUE(store_->Remove(id).ok());
    EXPECT_TRUE(WaitFor([&] { return store_->Usage().used_bytes == 0; }));
    Stop();
  }
  fs::remove_all(shm);
}

TEST_F(BlockWorkerServiceTest, FailedMasterCommitDropsTheBlock) {
  committer_.set_fail(absl::UnavailableError("master unreachable"));
  auto length = WriteBlock(21, Pattern(5000, 2));
  EXPECT_TRUE(absl::IsUnavailable(length.status())) << length.status();
  EXPECT_NE(length.status().message().find("master unreachable"), std::string::npos);
  EXPECT_FALSE(store_->Contains(21));
  EXPECT_EQ(store_->Usage().used_bytes, 0);
  EXPECT_TRUE(absl::IsNotFound(Read(ReadRequest(21)).status));
}

TEST_F(BlockWorkerServiceTest, CancelledWriteLeavesNothing) {
  proto::WriteBlockHeader header;
  header.set_block_id(22);
  header.set_length_hint(1 << 20);
  auto stream = client_->OpenBlockWriter(header);
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE((*stream)->Write(Pattern(300'000, 3)).ok());
  ASSERT_TRUE(WaitFor([&] { return store_->Usage().reserved_bytes > 0; }));
  (*stream)->Cancel();
  ASSERT_TRUE(WaitFor([&] { return store_->Usage().reserved_bytes == 0; }));
  EXPECT_FALSE(store_->Contains(22));
  EXPECT_TRUE(fs::is_empty(root_ + "/mem/tmp"));
  EXPECT_TRUE(committer_.commits().empty());
  EXPECT_TRUE(absl::IsNotFound(Read(ReadRequest(22)).status));
}

TEST_F(BlockWorkerServiceTest, ReadThroughFetchesTheBlockOnceForConcurrentReaders) {
  const std::string content = Pattern(3 << 20, 4);
  const std::string uri = WriteUnderStoreFile("file.bin", content);
  proto::ReadBlockRequest request = ReadRequest(0x700000001);
  request.mutable_ufs()->set_ufs_path(uri);
  request.mutable_ufs()->set_offset_in_file(2 << 20);
  request.mutable_ufs()->set_block_length(1 << 20);
  const std::string block = content.substr(2 << 20, 1 << 20);
  const int64_t ufs_blocks0 = CounterValue("cistern_worker_ufs_block_reads_total");
  const int64_t ufs_bytes0 = CounterValue("cistern_worker_ufs_read_bytes_total");

  std::vector<ReadResult> results(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      proto::ReadBlockRequest mine = request;
      mine.set_offset(i * 1000);
      results[i] = Read(mine);
    });
  }
  for (auto& t : threads) t.join();
  int from_ufs = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << results[i].status;
    EXPECT_TRUE(results[i].data == block.substr(i * 1000)) << "reader " << i;
    from_ufs += !results[i].from_cache;
  }
  // Concurrent readers stream from the one fetch as bytes arrive (or, if late, from the cache).
  EXPECT_GE(from_ufs, 1);
  // The block is committed just after its last byte is served.
  ASSERT_TRUE(WaitFor([&] { return store_->Contains(0x700000001); }));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - ufs_blocks0, 1);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - ufs_bytes0, 1 << 20);
  EXPECT_TRUE(store_->Contains(0x700000001));
  EXPECT_TRUE(committer_.commits().empty()) << "read-through blocks travel in heartbeats";

  ReadResult again = Read(request);
  ASSERT_TRUE(again.status.ok());
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - ufs_blocks0, 1);
}

TEST_F(BlockWorkerServiceTest, NoCacheReadServesFromTheUnderStoreWithoutCaching) {
  const std::string content = Pattern(200'000, 5);
  proto::ReadBlockRequest request = ReadRequest(31, 1000, 5000);
  request.set_read_type(proto::NO_CACHE);
  request.mutable_ufs()->set_ufs_path(WriteUnderStoreFile("nc.bin", content));
  request.mutable_ufs()->set_offset_in_file(0);
  request.mutable_ufs()->set_block_length(200'000);
  const int64_t ufs_bytes0 = CounterValue("cistern_worker_ufs_read_bytes_total");
  ReadResult result = Read(request);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.data == content.substr(1000, 5000));
  EXPECT_FALSE(result.from_cache);
  EXPECT_FALSE(store_->Contains(31));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - ufs_bytes0, 5000);
}

// A sequential reader names its next blocks: the worker caches them in the background (once
// each, also when the reader asks for them meanwhile); NO_CACHE reads read nothing ahead; a
// read_ahead_only CacheBlock (the reader's hint halfway through a block) only starts them.
TEST_F(BlockWorkerServiceTest, ReadAheadCachesTheNamedBlocksOnce) {
  const int64_t block = 256 << 10;
  const std::string content = Pattern(5 * block, 9);
  const std::string uri = WriteUnderStoreFile("ahead.bin", content);
  auto source = [&](int b, proto::UfsBlockSource* ufs) {
    ufs->set_ufs_path(uri);
    ufs->set_offset_in_file(b * block);
    ufs->set_block_length(block);
  };
  auto id = [](int b) { return MakeBlockId(0x900, static_cast<uint64_t>(b)); };
  const int64_t ufs_blocks0 = CounterValue("cistern_worker_ufs_block_reads_total");
  const int64_t ufs_bytes0 = CounterValue("cistern_worker_ufs_read_bytes_total");

  proto::ReadBlockRequest nocache = ReadRequest(id(0));
  nocache.set_read_type(proto::NO_CACHE);
  source(0, nocache.mutable_ufs());
  for (int b : {1, 2}) {
    proto::ReadAheadBlock* ahead = nocache.add_read_ahead();
    ahead->set_block_id(id(b));
    source(b, ahead->mutable_ufs());
  }
  ReadResult uncached = Read(nocache);
  ASSERT_TRUE(uncached.status.ok()) << uncached.status;
  EXPECT_EQ(fetcher_->flights_in_progress(), 0);
  EXPECT_FALSE(store_->Contains(id(1)) || store_->Contains(id(2)));

  proto::ReadBlockRequest first = nocache;
  first.set_read_type(proto::CACHE);
  ReadResult result = Read(first);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_TRUE(result.data == content.substr(0, block));
  // The next blocks, read as they would be, come from the read-ahead's fetches.
  for (int b : {1, 2}) {
    proto::ReadBlockRequest next = ReadRequest(id(b));
    source(b, next.mutable_ufs());
    ReadResult got = Read(next);
    ASSERT_TRUE(got.status.ok()) << got.status;
    EXPECT_TRUE(got.data == content.substr(b * block, block)) << "block " << b;
  }
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_TRUE(store_->Contains(id(0)) && store_->Contains(id(1)) && store_->Contains(id(2)));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - ufs_blocks0, 1 + 3);  // NO_CACHE + 3 fetches
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - ufs_bytes0, 4 * block);

  // The hint: returns at once, fetches block 3 and 4 but not block 2 (cached) nor itself.
  proto::CacheBlockRequest hint;
  hint.set_block_id(id(2));
  hint.set_read_ahead_only(true);
  source(2, hint.mutable_ufs());
  for (int b : {3, 4}) {
    proto::ReadAheadBlock* ahead = hint.add_read_ahead();
    ahead->set_block_id(id(b));
    source(b, ahead->mutable_ufs());
  }
  auto hinted = client_->CacheBlock(hint);
  ASSERT_TRUE(hinted.ok()) << hinted.status();
  ASSERT_TRUE(WaitFor([&] { return store_->Contains(id(3)) && store_->Contains(id(4)); }));
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - ufs_bytes0, 6 * block);

  // A read-ahead entry without its source is refused with the request.
  proto::ReadBlockRequest bad = ReadRequest(id(0));
  bad.add_read_ahead()->set_block_id(id(1));
  ReadResult refused = Read(bad);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status)) << refused.status;
  EXPECT_NE(refused.status.message().find("read_ahead"), std::string::npos) << refused.status;
}

TEST_F(BlockWorkerServiceTest, MissWithoutSourceIsNotFound) {
  ReadResult result = Read(ReadRequest(0xabc));
  EXPECT_TRUE(absl::IsNotFound(result.status)) << result.status;
  EXPECT_NE(result.status.message().find(std::to_string(0xabc)), std::string::npos) << result.status;
}

TEST_F(BlockWorkerServiceTest, WriteUfsFileIsVisibleOnlyAfterCommit) {
  const std::string path = root_ + "/ufs/dir/out.bin";
  const std::string data = Pattern(700'000, 6);
  proto::WriteUfsFileHeader header;
  header.set_ufs_path("file://" + path);
  header.set_overwrite(true);
  header.set_mode(0600);
  const int64_t ufs_written0 = CounterValue("cistern_worker_ufs_written_bytes_total");
  auto stream = client_->OpenUfsFileWriter(header);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Write(std::string_view(data).substr(0, 400'000)).ok());
  ASSERT_TRUE((*stream)->Write(std::string_view(data).substr(400'000)).ok());
  EXPECT_FALSE(fs::exists(path));
  auto response = (*stream)->Commit();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->length(), 700'000);
  EXPECT_EQ(response->fingerprint().length(), 700'000);
  EXPECT_GT(response->fingerprint().mtime_ms(), 0);
  EXPECT_TRUE(ReadFile(path) == data);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_written_bytes_total") - ufs_written0, 700'000);

  // A cancelled stream leaves nothing, not even a temporary file.
  header.set_ufs_path("file://" + root_ + "/ufs/dir/cancelled.bin");
  auto cancelled = client_->OpenUfsFileWriter(header);
  ASSERT_TRUE(cancelled.ok());
  ASSERT_TRUE((*cancelled)->Write(data).ok());
  (*cancelled)->Cancel();
  ASSERT_TRUE(WaitFor([&] {
    int entries = 0;
    for (const auto& e : fs::directory_iterator(root_ + "/ufs/dir")) entries += e.path().filename() != "out.bin";
    return entries == 0;
  }));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_written_bytes_total") - ufs_written0, 700'000);
}

TEST_F(BlockWorkerServiceTest, BadFieldsAreInvalidArguments) {
  ASSERT_TRUE(WriteBlock(41, Pattern(1000, 7)).ok());
  struct Case {
    proto::ReadBlockRequest request;
    std::string names;
  };
  std::vector<Case> cases;
  cases.push_back({ReadRequest(0), "block_id = 0"});
  cases.push_back({ReadRequest(41, -5), "-5"});
  cases.push_back({ReadRequest(41, 1001), "1001"});
  cases.push_back({ReadRequest(41, 0, -2), "-2"});
  proto::ReadBlockRequest bad_chunk = ReadRequest(41);
  bad_chunk.set_chunk_size_bytes(-64);
  cases.push_back({bad_chunk, "-64"});
  proto::ReadBlockRequest beyond_source = ReadRequest(42, 5000);
  beyond_source.mutable_ufs()->set_ufs_path(WriteUnderStoreFile("s.bin", Pattern(4000, 8)));
  beyond_source.mutable_ufs()->set_block_length(4000);
  cases.push_back({beyond_source, "5000"});
  proto::ReadBlockRequest bad_source = ReadRequest(43);
  bad_source.mutable_ufs()->set_ufs_path("file:///x");
  bad_source.mutable_ufs()->set_block_length(-3);
  cases.push_back({bad_source, "-3"});
  for (const Case& c : cases) {
    ReadResult result = Read(c.request);
    EXPECT_TRUE(absl::IsInvalidArgument(result.status)) << c.request.ShortDebugString() << ": " << result.status;
    EXPECT_NE(result.status.message().find(c.names), std::string::npos) << result.status;
  }
  EXPECT_FALSE(store_->Contains(42)) << "an invalid request must not fetch";

  // WriteBlock with block id 0.
  auto zero = WriteBlock(0, "abc");
  EXPECT_TRUE(absl::IsInvalidArgument(zero.status())) << zero.status();
  // WriteBlock whose first message is not a header.
  auto stub = proto::BlockWorker::NewStub(rpc::GetChannel(address_));
  grpc::ClientContext context;
  rpc::SetDeadline(&context, 10000);
  proto::WriteBlockResponse response;
  auto writer = stub->WriteBlock(&context, &response);
  proto::WriteBlockRequest data_first;
  data_first.set_data("no header");
  writer->Write(data_first);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("header"), std::string::npos);
  // WriteUfsFile without a path.
  auto no_path = client_->OpenUfsFileWriter(proto::WriteUfsFileHeader());
  absl::Status no_path_status = no_path.ok() ? (*no_path)->Commit().status() : no_path.status();
  EXPECT_TRUE(absl::IsInvalidArgument(no_path_status)) << no_path_status;
}

TEST_F(BlockWorkerServiceTest, GetMetricsReportsCountersWorkerIdAndTiers) {
  ASSERT_TRUE(WriteBlock(51, Pattern(4096, 9)).ok());
  auto metrics = client_->GetMetrics();
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->worker_id(), 17u);
  for (const char* name : {"cistern_worker_cache_block_reads_total", "cistern_worker_ufs_block_reads_total", "cistern_worker_cache_read_bytes_total",
                           "cistern_worker_ufs_read_bytes_total", "cistern_worker_cache_written_bytes_total",
                           "cistern_worker_ufs_written_bytes_total", "cistern_worker_evicted_blocks_total", "cistern_worker_cached_blocks"}) {
    EXPECT_TRUE(metrics->counters().contains(name)) << name;
  }
  EXPECT_EQ(metrics->counters().at("cistern_worker_cached_blocks"), 1);
  ASSERT_EQ(metrics->tiers_size(), 1);
  EXPECT_EQ(metrics->tiers(0).alias(), "MEM");
  EXPECT_EQ(metrics->tiers(0).capacity_bytes(), 16 << 20);
  EXPECT_EQ(metrics->tiers(0).used_bytes(), 4096);
}

TEST_F(BlockWorkerServiceTest, WritesLandInTheFirstTierWithRoomAndCommitWithThatTier) {
  BlockStoreOptions options;
  options.tiers = {{"MEM", {{root_ + "/mem", 1 << 20}}}, {"SSD", {{root_ + "/ssd", 8 << 20}}}};
  Start(options);
  ASSERT_TRUE(WriteBlock(61, Pattern(800'000, 1)).ok());
  ASSERT_TRUE(WriteBlock(62, Pattern(800'000, 2)).ok());  // MEM has 248 KB left
  auto commits = committer_.commits();
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].tier, "MEM");
  EXPECT_EQ(commits[1].tier, "SSD");
  ReadResult read = Read(ReadRequest(62));
  ASSERT_TRUE(read.status.ok()) << read.status;
  EXPECT_TRUE(read.data == Pattern(800'000, 2));

  auto metrics = client_->GetMetrics();
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->tiers_size(), 2);
  EXPECT_EQ(metrics->tiers(1).alias(), "SSD");
  EXPECT_EQ(metrics->tiers(1).capacity_bytes(), 8 << 20);
  EXPECT_EQ(metrics->tiers(1).used_bytes(), 800'000);
}

TEST_F(BlockWorkerServiceTest, CachePromoteReadMovesTheBlockUp) {
  BlockStoreOptions options;
  options.tiers = {{"MEM", {{root_ + "/mem", 1 << 20}}}, {"HDD", {{root_ + "/hdd", 8 << 20}}}};
  Start(options);
  const std::string data = Pattern(500'000, 3);
  ASSERT_TRUE(WriteBlock(71, data).ok());
  ASSERT_TRUE(store_->MoveBlock(71, 1).ok());
  ASSERT_EQ(store_->TierOf(71), "HDD");

  ReadResult plain = Read(ReadRequest(71));
  ASSERT_TRUE(plain.status.ok());
  EXPECT_EQ(store_->TierOf(71), "HDD") << "a CACHE read does not promote";

  proto::ReadBlockRequest promote = ReadRequest(71, 1000, 2000);
  promote.set_read_type(proto::CACHE_PROMOTE);
  ReadResult promoted = Read(promote);
  ASSERT_TRUE(promoted.status.ok()) << promoted.status;
  EXPECT_TRUE(promoted.data == data.substr(1000, 2000));
  EXPECT_TRUE(promoted.from_cache);
  EXPECT_EQ(store_->TierOf(71), "MEM");
  EXPECT_EQ(store_->TakeDelta().added.at(71).tier, "MEM");
}

TEST_F(BlockWorkerServiceTest, CorruptCachedBlockIsReadAgainFromTheUnderStore) {
  BlockStoreOptions options = BlockStoreOptions::SingleDir(root_ + "/mem", 16 << 20);
  options.checksum_verify = ChecksumVerify::kAlways;
  Start(options);
  const std::string content = Pattern(300'000, 6);
  proto::ReadBlockRequest request = ReadRequest(81);
  request.mutable_ufs()->set_ufs_path(WriteUnderStoreFile("c.bin", content));
  request.mutable_ufs()->set_block_length(300'000);
  ASSERT_TRUE(Read(request).status.ok());
  ASSERT_TRUE(store_->Contains(81));

  // Damage the cached copy behind the worker's back.
  const std::string path = root_ + "/mem/" + BlockFileName(81);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1234);
    f.put('\x7f');
  }
  const int64_t corrupt0 = CounterValue("cistern_worker_corrupt_blocks_total");
  const int64_t ufs_blocks0 = CounterValue("cistern_worker_ufs_block_reads_total");
  ReadResult again = Read(request);
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_TRUE(again.data == content);
  EXPECT_FALSE(again.from_cache);
  EXPECT_EQ(CounterValue("cistern_worker_corrupt_blocks_total") - corrupt0, 1);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - ufs_blocks0, 1);
  EXPECT_TRUE(store_->Contains(81)) << "cached again";
  EXPECT_TRUE(Read(request).from_cache);

  // Without an under-store source the damage is reported.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(99);
    f.put('\x01');
  }
  ReadResult lost = Read(ReadRequest(81));
  EXPECT_TRUE(absl::IsDataLoss(lost.status)) << lost.status;
  EXPECT_NE(lost.status.message().find("corrupt"), std::string::npos);
  EXPECT_FALSE(store_->Contains(81));
}

TEST_F(BlockWorkerServiceTest, ReadThroughStreamsBytesBeforeTheWholeBlockIsFetched) {
  UfsFetcherOptions fetcher_options;
  fetcher_options.read_chunk_bytes = 64 << 10;
  Start(BlockStoreOptions::SingleDir(root_ + "/mem", 16 << 20), fetcher_options);
  const std::string content = Pattern(2 << 20, 7);
  {
    absl::MutexLock lock(&gated_->mu);
    gated_->files[GatedUfs::Uri("big")] = content;
  }
  gated_->SetGate(64 << 10);  // the under-store delivers only the first 64 KiB for now
  // Safety net: never leave the read hanging if streaming were broken.
  std::thread opener([this] {
    for (int i = 0; i < 500 && gated_->BytesRead() < (2 << 20); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    gated_->SetGate(INT64_MAX);
  });
  proto::ReadBlockRequest request = ReadRequest(91);
  request.mutable_ufs()->set_ufs_path(GatedUfs::Uri("big"));
  request.mutable_ufs()->set_block_length(2 << 20);
  int64_t fetched_at_first_chunk = -1;
  std::string received;
  absl::Status status = client_->ReadBlock(request, [&](std::string_view data, bool from_cache) {
    EXPECT_FALSE(from_cache);
    if (fetched_at_first_chunk < 0) {
      fetched_at_first_chunk = gated_->BytesRead();
      gated_->SetGate(INT64_MAX);
    }
    received.append(data);
    return absl::OkStatus();
  });
  opener.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(received == content);
  EXPECT_EQ(fetched_at_first_chunk, 64 << 10) << "the first bytes arrived while the fetch was at the gate";
  EXPECT_TRUE(store_->Contains(91)) << "a reader of the whole block returns once it is cached";
}

// Short-circuit leases pass the same checksum check as ReadBlock: with verification on every
// read, a block damaged on disk is refused (DATA_LOSS), dropped and counted, at the grant and
// at a renewal; the bytes a client reports at release count as cache reads.
TEST_F(BlockWorkerServiceTest, ShortCircuitLeasesCheckChecksumsAndCountReportedBytes) {
  LocalBlockLeasesOptions lease_options;
  lease_options.sweeper_thread = false;
  LocalBlockLeases leases(lease_options);
  BlockStoreOptions options = BlockStoreOptions::SingleDir(root_ + "/mem", 16 << 20);
  options.checksum_verify = ChecksumVerify::kAlways;
  Start(options, {}, &leases);
  const std::string data = Pattern(200'000, 9);
  ASSERT_TRUE(WriteBlock(101, data).ok());
  ASSERT_TRUE(WriteBlock(102, data).ok());
  auto damage = [&](uint64_t block_id) {
    std::fstream f(root_ + "/mem/" + BlockFileName(block_id), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4321);
    f.put('\x5a');
  };
  auto open = [&](uint64_t block_id, bool renewal) {
    proto::OpenLocalBlockRequest request;
    request.set_block_id(block_id);
    request.set_renewal(renewal);
    return client_->OpenLocalBlock(request);
  };

  // A sound block: one block read at the grant, none at a renewal, the bytes at release.
  const int64_t blocks0 = CounterValue("cistern_worker_cache_block_reads_total");
  const int64_t bytes0 = CounterValue("cistern_worker_cache_read_bytes_total");
  const int64_t sc_bytes0 = CounterValue("cistern_worker_short_circuit_read_bytes_total");
  auto lease = open(101, false);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->length(), 200'000);
  auto renewed = open(101, true);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(CounterValue("cistern_worker_cache_block_reads_total") - blocks0, 1);
  ASSERT_TRUE(client_->ReleaseLocalBlock(lease->lease_id(), 150'000).ok());
  ASSERT_TRUE(client_->ReleaseLocalBlock(renewed->lease_id(), 50'000).ok());
  EXPECT_EQ(CounterValue("cistern_worker_cache_read_bytes_total") - bytes0, 200'000);
  EXPECT_EQ(CounterValue("cistern_worker_short_circuit_read_bytes_total") - sc_bytes0, 200'000);
  // Released already (or never granted): not counted again. Negative: refused, still released.
  ASSERT_TRUE(client_->ReleaseLocalBlock(lease->lease_id(), 1'000).ok());
  auto third = open(101, false);
  ASSERT_TRUE(third.ok()) << third.status();
  absl::Status negative = client_->ReleaseLocalBlock(third->lease_id(), -5);
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument) << negative;
  EXPECT_NE(negative.message().find("-5"), std::string::npos) << negative;
  EXPECT_EQ(leases.size(), 0);
  EXPECT_EQ(CounterValue("cistern_worker_cache_read_bytes_total") - bytes0, 200'000);

  // Damaged before the grant: refused and dropped.
  const int64_t corrupt0 = CounterValue("cistern_worker_corrupt_blocks_total");
  damage(101);
  auto refused = open(101, false);
  EXPECT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_EQ(CounterValue("cistern_worker_corrupt_blocks_total") - corrupt0, 1);
  EXPECT_FALSE(store_->Contains(101));

  // Damaged while leased: the renewal finds it.
  auto held = open(102, false);
  ASSERT_TRUE(held.ok()) << held.status();
  damage(102);
  auto renewal = open(102, true);
  EXPECT_TRUE(absl::IsDataLoss(renewal.status())) << renewal.status();
  EXPECT_EQ(CounterValue("cistern_worker_corrupt_blocks_total") - corrupt0, 2);
  EXPECT_FALSE(store_->Contains(102));
  ASSERT_TRUE(client_->ReleaseLocalBlock(held->lease_id(), 0).ok());
  Stop();  // before the leases go
}

// One OpenLocalBlock call leases a block and, best effort, the next ones asked for
// (also_block_ids): those cached come back in `also`, one missing is left out. Releases ride on
// the next call (or several go in one ReleaseLocalBlock), and their bytes count as cache reads.
TEST_F(BlockWorkerServiceTest, ShortCircuitLeasesAheadAndBatchedReleases) {
  LocalBlockLeasesOptions lease_options;
  lease_options.sweeper_thread = false;
  LocalBlockLeases leases(lease_options);
  Start(BlockStoreOptions::SingleDir(root_ + "/mem", 16 << 20), {}, &leases);
  const std::string data = Pattern(100'000, 3);
  for (uint64_t id : {201, 202, 204}) ASSERT_TRUE(WriteBlock(id, data).ok());
  const int64_t leases0 = CounterValue("cistern_worker_short_circuit_leases_total");
  const int64_t calls0 = CounterValue("cistern_worker_short_circuit_lease_calls_total");
  const int64_t blocks0 = CounterValue("cistern_worker_cache_block_reads_total");
  const int64_t sc_bytes0 = CounterValue("cistern_worker_short_circuit_read_bytes_total");

  proto::OpenLocalBlockRequest request;
  request.set_block_id(201);
  for (uint64_t id : {202, 203, 204}) request.add_also_block_ids(id);  // 203 is not cached
  auto first = client_->OpenLocalBlock(request);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->block_id(), 201u);
  ASSERT_EQ(first->also_size(), 2);
  EXPECT_EQ(first->also(0).block_id(), 202u);
  EXPECT_EQ(first->also(1).block_id(), 204u);
  EXPECT_EQ(first->also(1).length(), 100'000);
  EXPECT_EQ(first->also(1).path(), root_ + "/mem/" + BlockFileName(204));
  EXPECT_EQ(leases.size(), 3);
  EXPECT_EQ(CounterValue("cistern_worker_short_circuit_leases_total") - leases0, 3);
  EXPECT_EQ(CounterValue("cistern_worker_short_circuit_lease_calls_total") - calls0, 1);
  EXPECT_EQ(CounterValue("cistern_worker_cache_block_reads_total") - blocks0, 3);
  // Held blocks are not evicted or removed from under the reader.
  EXPECT_TRUE(store_->Contains(204));

  // The next call carries the releases of 201 and 202.
  proto::OpenLocalBlockRequest next;
  next.set_block_id(202);
  next.set_renewal(true);
  proto::ReleaseLocalBlockRequest* r1 = next.add_releases();
  r1->set_lease_id(first->lease_id());
  r1->set_bytes_read(100'000);
  proto::ReleaseLocalBlockRequest* r2 = next.add_releases();
  r2->set_lease_id(first->also(0).lease_id());
  r2->set_bytes_read(60'000);
  auto renewed = client_->OpenLocalBlock(next);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(leases.size(), 2);  // 204 and the renewed 202
  EXPECT_EQ(CounterValue("cistern_worker_short_circuit_read_bytes_total") - sc_bytes0, 160'000);

  // The rest in one ReleaseLocalBlock; a lease released twice counts once.
  proto::ReleaseLocalBlockRequest rest;
  rest.set_lease_id(renewed->lease_id());
  rest.set_bytes_read(40'000);
  rest.add_more()->set_lease_id(first->also(1).lease_id());
  rest.mutable_more(0)->set_bytes_read(100'000);
  rest.add_more()->set_lease_id(first->lease_id());
  rest.mutable_more(1)->set_bytes_read(100'000);
  ASSERT_TRUE(client_->ReleaseLocalBlocks(rest).ok());
  EXPECT_EQ(leases.size(), 0);
  EXPECT_EQ(CounterValue("cistern_worker_short_circuit_read_bytes_total") - sc_bytes0, 300'000);

  // Bad batches are refused with the offending field, and change nothing.
  proto::OpenLocalBlockRequest too_many;
  too_many.set_block_id(201);
  for (int i = 0; i < 65; ++i) too_many.add_also_block_ids(201 + i);
  auto refused = client_->OpenLocalBlock(too_many);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("also_block_ids"), std::string::npos) << refused.status();
  proto::OpenLocalBlockRequest zero;
  zero.set_block_id(201);
  zero.add_also_block_ids(0);
  EXPECT_TRUE(absl::IsInvalidArgument(client_->OpenLocalBlock(zero).status()));
  proto::OpenLocalBlockRequest negative;
  negative.set_block_id(201);
  negative.add_releases()->set_bytes_read(-1);
  EXPECT_TRUE(absl::IsInvalidArgument(client_->OpenLocalBlock(negative).status()));
  proto::ReleaseLocalBlockRequest nested;
  nested.add_more()->add_more();
  EXPECT_TRUE(absl::IsInvalidArgument(client_->ReleaseLocalBlocks(nested)));
  EXPECT_EQ(leases.size(), 0);
  Stop();  // before the leases go
}

}  // namespace
}  // namespace cistern::worker
