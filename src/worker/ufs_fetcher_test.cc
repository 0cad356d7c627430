#include "worker/ufs_fetcher.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "worker/gated_ufs_for_test.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

int64_t CounterValue(const char* name) { return Metrics().Value(name); }

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 251) & 0xff);
  return s;
}

class UfsFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ufs_fetcher_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    gated_ = std::make_shared<GatedUfs::State>();
    registry_.SetForTest(GatedUfs::kRoot, std::make_unique<GatedUfs>(gated_));
    OpenStore(64 << 20);
  }
  void TearDown() override {
    gated_->SetGate(INT64_MAX);
    fetcher_.reset();
    store_.reset();
    fs::remove_all(root_);
  }
  void OpenStore(int64_t capacity, UfsFetcherOptions options = {}) {
    fetcher_.reset();
    store_.reset();
    auto store = BlockStore::Open(BlockStoreOptions::SingleDir(root_ + "/mem", capacity));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    fetcher_ = std::make_unique<UfsBlockFetcher>(store_.get(), &registry_, options);
  }
  std::string WriteUfsFile(const std::string& name, const std::string& content) {
    std::string path = root_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return "file://" + path;
  }
  std::string AddGatedFile(const std::string& name, const std::string& content) {
    absl::MutexLock lock(&gated_->mu);
    gated_->files[GatedUfs::Uri(name)] = content;
    return GatedUfs::Uri(name);
  }
  // The bytes a FetchedBlock gives access to.
  static std::string Bytes(FetchedBlock& fetched) {
    if (fetched.streaming != nullptr) {
      std::string out;
      char buf[70000];
      while (true) {
        auto n = fetched.streaming->ReadAt(static_cast<int64_t>(out.size()), sizeof(buf), buf);
        EXPECT_TRUE(n.ok()) << n.status();
        if (!n.ok() || *n == 0) break;
        out.append(buf, static_cast<size_t>(*n));
      }
      return out;
    }
    std::string out(fetched.cached->length(), '\0');
    auto n = fetched.cached->ReadAt(0, out.size(), out.data());
    EXPECT_TRUE(n.ok());
    return out;
  }
  static bool WaitFor(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  std::string root_;
  std::shared_ptr<GatedUfs::State> gated_;
  UfsRegistry registry_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<UfsBlockFetcher> fetcher_;
};

TEST_F(UfsFetcherTest, ConcurrentFetchesOfOneBlockReadTheUnderStoreOnce) {
  const std::string content = Pattern(3 << 20, 1);
  const std::string uri = WriteUfsFile("f", content);
  const UfsBlockSource source{uri, 1 << 20, 2 << 20};
  const int64_t blocks0 = CounterValue("cistern_worker_ufs_block_reads_total");
  const int64_t bytes0 = CounterValue("cistern_worker_ufs_read_bytes_total");

  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto fetched = fetcher_->Fetch(11, source);
      ASSERT_TRUE(fetched.ok()) << fetched.status();
      results[i] = Bytes(*fetched);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r == content.substr(1 << 20, 2 << 20));
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - blocks0, 1);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - bytes0, 2 << 20);
  EXPECT_TRUE(store_->Contains(11));

  // Later fetches find the cached block.
  auto again = fetcher_->Fetch(11, source);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->cached, nullptr);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - blocks0, 1);
}

TEST_F(UfsFetcherTest, ServesTheDataWhenTheBlockCannotBeCached) {
  OpenStore(1000);
  const std::string content = Pattern(5000, 2);
  const UfsBlockSource source{WriteUfsFile("big", content), 0, 5000};
  auto fetched = fetcher_->Fetch(12, source);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_NE(fetched->streaming, nullptr);
  EXPECT_TRUE(Bytes(*fetched) == content);
  EXPECT_TRUE(fetched->streaming->WaitForCompletion().ok());
  EXPECT_FALSE(store_->Contains(12));
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
}

TEST_F(UfsFetcherTest, ShortUnderStoreFileIsAnErrorAndNothingIsCached) {
  const UfsBlockSource source{WriteUfsFile("short", "0123456789"), 4, 100};
  auto fetched = fetcher_->Fetch(13, source);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_NE(fetched->streaming, nullptr);
  absl::Status status = fetched->streaming->WaitForCompletion();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_NE(status.message().find("short"), std::string::npos);
  // The six bytes that exist are served, then the error.
  char buf[100];
  auto n = fetched->streaming->ReadAt(0, 100, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "456789");
  EXPECT_TRUE(absl::IsFailedPrecondition(fetched->streaming->ReadAt(6, 10, buf).status()));
  EXPECT_FALSE(store_->Contains(13));
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);

  auto missing = fetcher_->Fetch(14, UfsBlockSource{"file://" + root_ + "/nope", 0, 10});
  ASSERT_TRUE(missing.ok());
  auto read = missing->streaming->ReadAt(0, 10, buf);
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_FALSE(store_->Contains(14));
}

TEST_F(UfsFetcherTest, ReadersGetBytesBeforeTheFetchCompletes) {
  UfsFetcherOptions options;
  options.read_chunk_bytes = 64 << 10;
  OpenStore(64 << 20, options);
  const std::string content = Pattern(1 << 20, 4);
  const UfsBlockSource source{AddGatedFile("stream", content), 0, 1 << 20};
  gated_->SetGate(64 << 10);  // only the first chunk can be read

  auto first = fetcher_->Fetch(21, source);
  auto second = fetcher_->Fetch(21, source);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_NE(first->streaming, nullptr);
  ASSERT_NE(second->streaming, nullptr);
  std::string buf(64 << 10, '\0');
  auto n = first->streaming->ReadAt(0, buf.size(), buf.data());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 64 << 10);
  EXPECT_TRUE(buf == content.substr(0, 64 << 10));
  n = second->streaming->ReadAt(1000, 100, buf.data());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf.data(), 100), content.substr(1000, 100));
  // The fetch is stuck at the gate: the block is neither complete nor cached.
  EXPECT_EQ(gated_->BytesRead(), 64 << 10);
  EXPECT_FALSE(store_->Contains(21));
  EXPECT_EQ(fetcher_->flights_in_progress(), 1);
  // A reader waiting for bytes that have not arrived can give up.
  auto waiting = first->streaming->ReadAt(200 << 10, 10, buf.data(), [] { return true; });
  EXPECT_TRUE(absl::IsCancelled(waiting.status())) << waiting.status();

  gated_->SetGate(INT64_MAX);
  EXPECT_TRUE(Bytes(*second) == content);
  EXPECT_TRUE(first->streaming->WaitForCompletion().ok());
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_TRUE(store_->Contains(21));
  EXPECT_EQ(gated_->BytesRead(), 1 << 20);
}

TEST_F(UfsFetcherTest, AbandonedFetchIsCachedInFullOnlyWithCachePartial) {
  for (bool cache_partial : {true, false}) {
    SCOPED_TRACE(cache_partial ? "cache_partial" : "no cache_partial");
    UfsFetcherOptions options;
    options.read_chunk_bytes = 64 << 10;
    options.cache_partial = cache_partial;
    OpenStore(64 << 20, options);
    const uint64_t block_id = cache_partial ? 31 : 32;
    const std::string content = Pattern(1 << 20, 5);
    const UfsBlockSource source{AddGatedFile(absl::StrCat("partial", block_id), content), 0, 1 << 20};
    {
      absl::MutexLock lock(&gated_->mu);
      gated_->bytes_read = 0;
      gated_->gate = 128 << 10;
    }
    {
      auto fetched = fetcher_->Fetch(block_id, source);
      ASSERT_TRUE(fetched.ok());
      char buf[100];
      auto n = fetched->streaming->ReadAt(0, 100, buf);
      ASSERT_TRUE(n.ok());
    }  // the only reader lets go after 100 bytes
    gated_->SetGate(INT64_MAX);
    ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
    EXPECT_EQ(store_->Contains(block_id), cache_partial);
    if (cache_partial) {
      EXPECT_EQ(gated_->BytesRead(), 1 << 20);
      auto reader = store_->OpenReader(block_id);
      ASSERT_TRUE(reader.ok()) << reader.status();
      EXPECT_EQ((*reader)->length(), 1 << 20);
    } else {
      EXPECT_LT(gated_->BytesRead(), 1 << 20);
      EXPECT_EQ(store_->Usage().reserved_bytes, 0);
      // A later reader starts a new fetch and gets the whole block.
      auto again = fetcher_->Fetch(block_id, source);
      ASSERT_TRUE(again.ok());
      EXPECT_TRUE(Bytes(*again) == content);
    }
  }
}

TEST_F(UfsFetcherTest, ConcurrentUnderStoreReadsAreBounded) {
  UfsFetcherOptions options;
  options.max_concurrent_fetches = 2;
  options.read_chunk_bytes = 4096;
  OpenStore(64 << 20, options);
  gated_->SetGate(0);  // every read waits
  std::vector<UfsBlockSource> sources;
  for (int i = 0; i < 5; ++i) {
    sources.push_back({AddGatedFile(absl::StrCat("bounded", i), Pattern(8192, i)), 0, 8192});
  }
  std::vector<std::unique_ptr<StreamingBlock>> streams;
  for (int i = 0; i < 4; ++i) {
    auto fetched = fetcher_->Fetch(100 + i, sources[i]);
    ASSERT_TRUE(fetched.ok());
    streams.push_back(std::move(fetched->streaming));
  }
  std::thread uncached([&] {
    EXPECT_TRUE(fetcher_->ReadUncached(200, sources[4], 0, 8192, 4096, [](std::string_view) {
      return absl::OkStatus();
    }).ok());
  });
  ASSERT_TRUE(WaitFor([&] { return gated_->ReadsInProgress() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // give a third read the chance to start
  EXPECT_EQ(gated_->ReadsInProgress(), 2);
  gated_->SetGate(INT64_MAX);
  uncached.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(streams[i]->WaitForCompletion().ok());
    EXPECT_TRUE(store_->Contains(100 + i));
  }
  EXPECT_EQ(gated_->MaxReadsInProgress(), 2);
}

// Sequential read-ahead: block 1 and 2 of a file follow block 0's fetch on its thread, as one
// stream, and are cached without any reader asking for them.
TEST_F(UfsFetcherTest, ReadAheadFollowsItsBlockAndCachesWithoutReaders) {
  UfsFetcherOptions options;
  options.read_chunk_bytes = 64 << 10;
  OpenStore(64 << 20, options);
  const int64_t block = 256 << 10;
  const std::string content = Pattern(3 * block, 6);
  const std::string uri = AddGatedFile("ahead", content);
  const int64_t started0 = CounterValue("cistern_worker_ufs_read_ahead_fetches_total");
  gated_->SetGate(64 << 10);  // block 0's fetch stops after its first chunk

  auto first = fetcher_->Fetch(41, {uri, 0, block});
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(fetcher_->ReadAhead(42, {uri, block, block}, /*after=*/41));
  EXPECT_TRUE(fetcher_->ReadAhead(43, {uri, 2 * block, block}, /*after=*/42));
  EXPECT_FALSE(fetcher_->ReadAhead(42, {uri, block, block}, 41));  // in flight already
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_ahead_fetches_total") - started0, 2);
  EXPECT_EQ(fetcher_->flights_in_progress(), 3);
  ASSERT_TRUE(WaitFor([&] { return gated_->ReadsInProgress() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // give a read-ahead the chance to start
  EXPECT_EQ(gated_->ReadsInProgress(), 1);  // the read-aheads wait for block 0's reads
  EXPECT_EQ(gated_->BytesRead(), 64 << 10);

  gated_->SetGate(INT64_MAX);
  EXPECT_TRUE(Bytes(*first) == content.substr(0, block));
  first->streaming.reset();
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_EQ(gated_->MaxReadsInProgress(), 1);  // one stream through the file
  EXPECT_EQ(gated_->BytesRead(), 3 * block);  // each block read once
  for (uint64_t id : {42, 43}) {
    auto cached = fetcher_->Fetch(id, {uri, static_cast<int64_t>(id - 41) * block, block});
    ASSERT_TRUE(cached.ok());
    ASSERT_NE(cached->cached, nullptr) << "block " << id << " was not cached by the read-ahead";
    EXPECT_TRUE(Bytes(*cached) == content.substr((id - 41) * block, block));
  }
  EXPECT_FALSE(fetcher_->ReadAhead(42, {uri, block, block}, 41));  // cached
  EXPECT_EQ(gated_->BytesRead(), 3 * block);
}

// A reader asking for a read-ahead that still waits for its predecessor does not wait too: the
// fetch starts at once, and is still the only under-store read of that block.
TEST_F(UfsFetcherTest, ReaderOfAWaitingReadAheadStartsItAtOnce) {
  UfsFetcherOptions options;
  options.read_chunk_bytes = 64 << 10;
  OpenStore(64 << 20, options);
  const int64_t block = 128 << 10;
  const std::string content = Pattern(2 * block, 7);
  const std::string uri = AddGatedFile("promote", content);
  gated_->SetGate(0);
  auto first = fetcher_->Fetch(51, {uri, 0, block});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(fetcher_->ReadAhead(52, {uri, block, block}, 51));
  ASSERT_TRUE(WaitFor([&] { return gated_->ReadsInProgress() == 1; }));
  const int64_t joins0 = CounterValue("cistern_worker_ufs_fetch_joins_total");
  auto second = fetcher_->Fetch(52, {uri, block, block});
  ASSERT_TRUE(second.ok());
  ASSERT_NE(second->streaming, nullptr);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_fetch_joins_total") - joins0, 1);  // joined the read-ahead
  ASSERT_TRUE(WaitFor([&] { return gated_->ReadsInProgress() == 2; }));  // running beside block 0's
  gated_->SetGate(INT64_MAX);
  EXPECT_TRUE(Bytes(*second) == content.substr(block, block));
  EXPECT_TRUE(Bytes(*first) == content.substr(0, block));
  first->streaming.reset();
  second->streaming.reset();
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_EQ(gated_->BytesRead(), 2 * block);
  EXPECT_TRUE(store_->Contains(51) && store_->Contains(52));
}

TEST_F(UfsFetcherTest, ReadAheadIsBounded) {
  UfsFetcherOptions options;
  options.max_read_ahead_blocks = 2;
  OpenStore(64 << 20, options);
  const std::string content = Pattern(3 * 4096, 8);
  const std::string uri = AddGatedFile("bound", content);
  const int64_t skipped0 = CounterValue("cistern_worker_ufs_read_ahead_skipped_total");
  gated_->SetGate(0);
  EXPECT_TRUE(fetcher_->ReadAhead(61, {uri, 0, 4096}, 0));
  EXPECT_TRUE(fetcher_->ReadAhead(62, {uri, 4096, 4096}, 61));
  EXPECT_FALSE(fetcher_->ReadAhead(63, {uri, 8192, 4096}, 62));  // two in flight already
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_ahead_skipped_total") - skipped0, 1);
  // Readers are never bounded by it.
  auto reader = fetcher_->Fetch(63, {uri, 8192, 4096});
  ASSERT_TRUE(reader.ok());
  gated_->SetGate(INT64_MAX);
  EXPECT_TRUE(Bytes(*reader) == content.substr(8192, 4096));
  reader->streaming.reset();
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_TRUE(store_->Contains(61) && store_->Contains(62) && store_->Contains(63));
  EXPECT_EQ(gated_->BytesRead(), 3 * 4096);

  options.max_read_ahead_blocks = 0;  // read-ahead off
  OpenStore(64 << 20, options);
  EXPECT_FALSE(fetcher_->ReadAhead(64, {uri, 0, 4096}, 0));
  EXPECT_EQ(fetcher_->flights_in_progress(), 0);
}

// A read-ahead that cannot be cached stops reading (nobody reads it), and leaves nothing behind.
TEST_F(UfsFetcherTest, ReadAheadWithoutRoomStopsReading) {
  UfsFetcherOptions options;
  options.read_chunk_bytes = 64 << 10;
  OpenStore(256 << 10, options);
  const std::string content = Pattern(1 << 20, 9);
  const std::string uri = AddGatedFile("noroom", content);
  ASSERT_TRUE(fetcher_->ReadAhead(71, {uri, 0, 1 << 20}, 0));
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_FALSE(store_->Contains(71));
  // Stopped at the first read that did not fit (the tier's 256 KiB and that one read of 64 KiB).
  EXPECT_LE(gated_->BytesRead(), (256 << 10) + (64 << 10));
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
  EXPECT_EQ(store_->Usage().used_bytes, 0);
}

// Many sequential readers of one file at once, each naming its next blocks to read ahead: every
// block is read from the under-store exactly once, and every reader gets the right bytes.
TEST_F(UfsFetcherTest, ConcurrentSequentialReadersReadEachBlockOnce) {
  UfsFetcherOptions options;
  options.read_chunk_bytes = 64 << 10;
  OpenStore(64 << 20, options);
  const int kBlocks = 6;
  const int64_t block = 192 << 10;
  const std::string content = Pattern(kBlocks * block, 10);
  const std::string uri = WriteUfsFile("sequential", content);
  const int64_t reads0 = CounterValue("cistern_worker_ufs_block_reads_total");
  const int64_t bytes0 = CounterValue("cistern_worker_ufs_read_bytes_total");
  auto source = [&](int b) { return UfsBlockSource{uri, b * block, block}; };
  std::vector<std::thread> readers;
  std::vector<std::string> got(4);
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      for (int b = 0; b < kBlocks; ++b) {
        auto fetched = fetcher_->Fetch(80 + b, source(b));
        ASSERT_TRUE(fetched.ok()) << fetched.status();
        for (int next = b + 1; next <= b + 2 && next < kBlocks; ++next) {
          fetcher_->ReadAhead(80 + next, source(next), 80 + next - 1);
        }
        got[r] += Bytes(*fetched);
      }
    });
  }
  for (auto& t : readers) t.join();
  for (const std::string& g : got) EXPECT_TRUE(g == content);
  ASSERT_TRUE(WaitFor([&] { return fetcher_->flights_in_progress() == 0; }));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_block_reads_total") - reads0, kBlocks);
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - bytes0, kBlocks * block);
}

// Destroying the fetcher while read-aheads wait for a fetch that is still reading ends them
// all (none hangs, nothing half-written stays reserved).
TEST_F(UfsFetcherTest, DestroyingTheFetcherEndsWaitingReadAheads) {
  UfsFetcherOptions options;
  options.read_chunk_bytes = 4096;
  OpenStore(64 << 20, options);
  const std::string content = Pattern(4 * 8192, 11);
  const std::string uri = AddGatedFile("stop", content);
  gated_->SetGate(0);
  ASSERT_TRUE(fetcher_->ReadAhead(91, {uri, 0, 8192}, 0));
  ASSERT_TRUE(fetcher_->ReadAhead(92, {uri, 8192, 8192}, 91));
  ASSERT_TRUE(fetcher_->ReadAhead(93, {uri, 16384, 8192}, 92));
  ASSERT_TRUE(WaitFor([&] { return gated_->ReadsInProgress() == 1; }));
  std::thread destroy([&] { fetcher_.reset(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the destructor start waiting
  gated_->SetGate(INT64_MAX);
  destroy.join();
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
  for (uint64_t id : {91, 92, 93}) {
    auto reader = store_->OpenReader(id);
    if (reader.ok()) EXPECT_EQ((*reader)->length(), 8192);  // cached only if complete
  }
}

TEST_F(UfsFetcherTest, ReadUncachedReadsOnlyTheRange) {
  const std::string content = Pattern(10000, 3);
  const UfsBlockSource source{WriteUfsFile("g", content), 2000, 6000};
  const int64_t bytes0 = CounterValue("cistern_worker_ufs_read_bytes_total");
  std::string got;
  absl::Status status = fetcher_->ReadUncached(15, source, 100, 2500, 1000, [&](std::string_view chunk) {
    EXPECT_LE(chunk.size(), 1000u);
    got.append(chunk);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(got == content.substr(2100, 2500));
  EXPECT_EQ(CounterValue("cistern_worker_ufs_read_bytes_total") - bytes0, 2500);
  EXPECT_FALSE(store_->Contains(15));
}

TEST(FetchBufferPoolTest, ReusesFittingBuffersWithinItsBound) {
  FetchBufferPool pool(3000);
  FetchBufferPool::Buffer a = pool.Take(1000);
  ASSERT_NE(a.data, nullptr);
  EXPECT_EQ(a.capacity, 1000);
  char* const kept = a.data.get();
  pool.Give(std::move(a));
  FetchBufferPool::Buffer b = pool.Take(600);
  EXPECT_EQ(b.data.get(), kept) << "a kept buffer up to twice the size is reused";
  pool.Give(std::move(b));
  FetchBufferPool::Buffer small = pool.Take(100);
  EXPECT_NE(small.data.get(), kept) << "a buffer over twice the size is not handed to a small block";
  EXPECT_EQ(small.capacity, 100);
  EXPECT_EQ(pool.kept_bytes(), 1000);
  // The bound: giving 2500 more bytes drops the oldest kept buffer (the 1000-byte one). (Not
  // checked by address: a freed buffer's address may come back from the next allocation.)
  pool.Give(FetchBufferPool::Buffer{std::unique_ptr<char[]>(new char[2500]), 2500});
  EXPECT_EQ(pool.kept_bytes(), 2500);
  FetchBufferPool::Buffer again = pool.Take(1000);  // the 2500-byte buffer is over twice the size
  EXPECT_EQ(again.capacity, 1000);
  EXPECT_EQ(pool.kept_bytes(), 2500);
  pool.Give(FetchBufferPool::Buffer{std::unique_ptr<char[]>(new char[4000]), 4000});  // over the bound: not kept
  EXPECT_EQ(pool.kept_bytes(), 2500);
  EXPECT_EQ(pool.Take(3500).capacity, 3500);
}

TEST(UfsRegistryTest, SharesOneAdapterPerStoreAndRejectsBadUris) {
  UfsRegistry registry;
  auto a = registry.Get("file:///tmp/a");
  auto b = registry.Get("file:///var/b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_FALSE(registry.Get("nosuch://x/y").ok());
  EXPECT_FALSE(registry.Get("relative/path").ok());
}

}  // namespace
}  // namespace cistern::worker

namespace cistern::worker {
namespace {

// The registry makes each mount's adapter with that mount's options: a mount whose options the
// adapter refuses fails with the mount named, the same URI under no mount does not.
TEST(UfsRegistryTest, AdaptersAreMadeWithTheMountsOptions) {
  UfsRegistry registry;
  EXPECT_EQ(registry.mount_table_version(), 0u);
  registry.SetMounts(5, {ufs::UfsMount{3, "mem://reg/a", {{"s3.region", "ignored by mem"}}},
                         ufs::UfsMount{4, "s3://bucket/p", {{"s3.no_such_option", "x"}}}});
  EXPECT_EQ(registry.mount_table_version(), 5u);
  auto mem = registry.Get("mem://reg/a/f");
  ASSERT_TRUE(mem.ok()) << mem.status();
  EXPECT_EQ(*registry.Get("mem://reg/a/g", 3), *mem) << "one adapter per mount";
  auto bad = registry.Get("s3://bucket/p/key", 4);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_NE(bad.status().message().find("mount 4"), absl::string_view::npos) << bad.status();
  EXPECT_TRUE(registry.Get("s3://bucket/elsewhere").ok()) << "outside every mount: the store root, no options";
  // New options for a mount give it a new adapter.
  registry.SetMounts(6, {ufs::UfsMount{4, "s3://bucket/p", {{"s3.region", "eu-west-1"}}}});
  EXPECT_TRUE(registry.Get("s3://bucket/p/key", 4).ok());
}

}  // namespace
}  // namespace cistern::worker
