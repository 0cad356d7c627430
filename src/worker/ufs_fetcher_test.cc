#include "worker/ufs_fetcher.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "gtest/gtest.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

int64_t CounterValue(const char* name) { return Metrics().GetCounter(name)->Get(); }

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
    OpenStore(64 << 20);
  }
  void TearDown() override {
    fetcher_.reset();
    store_.reset();
    fs::remove_all(root_);
  }
  void OpenStore(int64_t capacity) {
    fetcher_.reset();
    store_.reset();
    auto store = BlockStore::Open({root_ + "/mem", capacity});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    fetcher_ = std::make_unique<UfsBlockFetcher>(store_.get(), &registry_);
  }
  std::string WriteUfsFile(const std::string& name, const std::string& content) {
    std::string path = root_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return "file://" + path;
  }
  // The bytes a FetchedBlock gives access to.
  static std::string Bytes(FetchedBlock& fetched) {
    if (fetched.data != nullptr) return *fetched.data;
    std::string out(fetched.cached->length(), '\0');
    auto n = fetched.cached->ReadAt(0, out.size(), out.data());
    EXPECT_TRUE(n.ok());
    return out;
  }

  std::string root_;
  UfsRegistry registry_;
  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<UfsBlockFetcher> fetcher_;
};

TEST_F(UfsFetcherTest, ConcurrentFetchesOfOneBlockReadTheUnderStoreOnce) {
  const std::string content = Pattern(3 << 20, 1);
  const std::string uri = WriteUfsFile("f", content);
  const UfsBlockSource source{uri, 1 << 20, 2 << 20};
  const int64_t blocks0 = CounterValue("worker.blocks_read.ufs");
  const int64_t bytes0 = CounterValue("worker.bytes_read.ufs_bytes");

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
  EXPECT_EQ(CounterValue("worker.blocks_read.ufs") - blocks0, 1);
  EXPECT_EQ(CounterValue("worker.bytes_read.ufs_bytes") - bytes0, 2 << 20);
  EXPECT_TRUE(store_->Contains(11));

  // Later fetches find the cached block.
  auto again = fetcher_->Fetch(11, source);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->cached, nullptr);
  EXPECT_EQ(CounterValue("worker.blocks_read.ufs") - blocks0, 1);
}

TEST_F(UfsFetcherTest, ServesTheDataWhenTheBlockCannotBeCached) {
  OpenStore(1000);
  const std::string content = Pattern(5000, 2);
  const UfsBlockSource source{WriteUfsFile("big", content), 0, 5000};
  auto fetched = fetcher_->Fetch(12, source);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  ASSERT_NE(fetched->data, nullptr);
  EXPECT_TRUE(*fetched->data == content);
  EXPECT_FALSE(store_->Contains(12));
  EXPECT_EQ(store_->Usage().reserved_bytes, 0);
}

TEST_F(UfsFetcherTest, ShortUnderStoreFileIsAnErrorAndNothingIsCached) {
  const UfsBlockSource source{WriteUfsFile("short", "0123456789"), 4, 100};
  auto fetched = fetcher_->Fetch(13, source);
  EXPECT_TRUE(absl::IsFailedPrecondition(fetched.status())) << fetched.status();
  EXPECT_NE(fetched.status().message().find("short"), std::string::npos);
  EXPECT_FALSE(store_->Contains(13));

  auto missing = fetcher_->Fetch(14, UfsBlockSource{"file://" + root_ + "/nope", 0, 10});
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_FALSE(store_->Contains(14));
}

TEST_F(UfsFetcherTest, ReadUncachedReadsOnlyTheRange) {
  const std::string content = Pattern(10000, 3);
  const UfsBlockSource source{WriteUfsFile("g", content), 2000, 6000};
  const int64_t bytes0 = CounterValue("worker.bytes_read.ufs_bytes");
  std::string got;
  absl::Status status = fetcher_->ReadUncached(15, source, 100, 2500, 1000, [&](std::string_view chunk) {
    EXPECT_LE(chunk.size(), 1000u);
    got.append(chunk);
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(got == content.substr(2100, 2500));
  EXPECT_EQ(CounterValue("worker.bytes_read.ufs_bytes") - bytes0, 2500);
  EXPECT_FALSE(store_->Contains(15));
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
