#include "worker/local_block_leases.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cistern::worker {
namespace {

namespace fs = std::filesystem;

class LocalBlockLeasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/leases-", ::getpid(), "/mem");
    fs::remove_all(dir_);
    auto store = BlockStore::Open(BlockStoreOptions::SingleDir(dir_, 1 << 20));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    for (uint64_t id : {1, 2}) {
      auto writer = store_->CreateWriter(id, 0);
      ASSERT_TRUE(writer.ok());
      ASSERT_TRUE((*writer)->Append(std::string(1000 * id, 'x')).ok());
      ASSERT_TRUE((*writer)->Commit().ok());
    }
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(fs::path(dir_).parent_path());
  }

  std::unique_ptr<BlockReader> Reader(uint64_t id) {
    auto reader = store_->OpenReader(id, /*hold_location=*/true);
    EXPECT_TRUE(reader.ok()) << reader.status();
    return reader.ok() ? *std::move(reader) : nullptr;
  }

  LocalBlockLeasesOptions Options(int max_leases = 16) {
    LocalBlockLeasesOptions options;
    options.lease_ms = 1000;
    options.max_leases = max_leases;
    options.clock = &clock_;
    options.sweeper_thread = false;
    return options;
  }

  std::string dir_;
  std::unique_ptr<BlockStore> store_;
  ManualClock clock_;
};

TEST_F(LocalBlockLeasesTest, LeaseNamesTheBlockFileAndKeepsTheBlockUntilReleased) {
  LocalBlockLeases leases(Options());
  auto lease = leases.Acquire(Reader(2));
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->length, 2000);
  EXPECT_EQ(lease->lease_ms, 1000);
  struct stat st;
  ASSERT_EQ(::stat(lease->path.c_str(), &st), 0) << lease->path;
  EXPECT_EQ(static_cast<uint64_t>(st.st_ino), lease->inode);
  EXPECT_EQ(static_cast<uint64_t>(st.st_dev), lease->device);
  EXPECT_EQ(st.st_size, 2000);
  EXPECT_EQ(leases.size(), 1);
  leases.Release(lease->lease_id);
  EXPECT_EQ(leases.size(), 0);
  leases.Release(lease->lease_id);  // twice, or unknown: fine
  leases.Release(12345);
}

TEST_F(LocalBlockLeasesTest, LeasesExpire) {
  LocalBlockLeases leases(Options());
  ASSERT_TRUE(leases.Acquire(Reader(1)).ok());
  clock_.AdvanceMs(500);
  ASSERT_TRUE(leases.Acquire(Reader(2)).ok());
  clock_.AdvanceMs(499);
  EXPECT_EQ(leases.ExpireNow(), 0);
  clock_.AdvanceMs(1);
  EXPECT_EQ(leases.ExpireNow(), 1) << "the first lease is 1000 ms old";
  EXPECT_EQ(leases.size(), 1);
  clock_.AdvanceMs(500);
  EXPECT_EQ(leases.ExpireNow(), 1);
  EXPECT_EQ(leases.size(), 0);
}

TEST_F(LocalBlockLeasesTest, NumberOfLeasesIsBounded) {
  LocalBlockLeases leases(Options(/*max_leases=*/1));
  ASSERT_TRUE(leases.Acquire(Reader(1)).ok());
  auto second = leases.Acquire(Reader(2));
  EXPECT_TRUE(absl::IsResourceExhausted(second.status())) << second.status();
  clock_.AdvanceMs(1000);
  EXPECT_TRUE(leases.Acquire(Reader(2)).ok()) << "an expired lease makes room";
}

}  // namespace
}  // namespace cistern::worker
