#include "kv/kv_store.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cistern::kv {
namespace {

class KvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/kv-", ::getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  KvStoreOptions Options() { return KvStoreOptions{dir_, {"a", "b"}, true}; }
  std::string dir_;
};

TEST_F(KvStoreTest, BatchIsAtomicAndSurvivesReopen) {
  {
    auto store = KvStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status();
    KvWriteBatch batch;
    batch.Put(0, "k1", "v1");
    batch.Put(1, "k1", "other");
    batch.Put(0, "k2", "v2");
    batch.Delete(0, "k2");
    ASSERT_TRUE((*store)->Write(batch).ok());
  }
  auto store = KvStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Get(0, "k1")->value_or("-"), "v1");
  EXPECT_EQ((*store)->Get(1, "k1")->value_or("-"), "other");
  EXPECT_FALSE((*store)->Get(0, "k2")->has_value());
}

TEST_F(KvStoreTest, SecondOpenOfSameDirectoryFailsClearly) {
  auto first = KvStore::Open(Options());
  ASSERT_TRUE(first.ok());
  auto second = KvStore::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find(dir_), std::string::npos);
}

TEST_F(KvStoreTest, ScanVisitsPrefixInBigEndianOrderFromStart) {
  auto store = KvStore::Open(Options());
  ASSERT_TRUE(store.ok());
  KvWriteBatch batch;
  for (uint64_t i : {300u, 2u, 70000u, 1u}) batch.Put(0, "p" + EncodeUint64(i), absl::StrCat(i));
  batch.Put(0, "q" + EncodeUint64(5), "outside");
  ASSERT_TRUE((*store)->Write(batch).ok());
  std::vector<std::string> seen;
  auto collect = [&](std::string_view, std::string_view v) -> absl::StatusOr<bool> {
    seen.emplace_back(v);
    return true;
  };
  ASSERT_TRUE((*store)->Scan(0, "p", "", collect).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "300", "70000"}));
  seen.clear();
  ASSERT_TRUE((*store)->Scan(0, "p", "p" + EncodeUint64(3), collect).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"300", "70000"}));
  seen.clear();
  ASSERT_TRUE((*store)->Scan(0, "p", "", [&](std::string_view, std::string_view v) -> absl::StatusOr<bool> {
    seen.emplace_back(v);
    return seen.size() < 2;
  }).ok());
  EXPECT_EQ(seen.size(), 2u);
}

TEST(KvCodecTest, Uint64RoundTripsAndSorts) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{1} << 40, ~uint64_t{0}}) {
    EXPECT_EQ(DecodeUint64(EncodeUint64(v)), v);
  }
  EXPECT_LT(EncodeUint64(255), EncodeUint64(256));
}

}  // namespace
}  // namespace cistern::kv
