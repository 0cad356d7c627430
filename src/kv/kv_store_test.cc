#include "kv/kv_store.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

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

TEST_F(KvStoreTest, DeleteRangeRemovesExactlyTheRangeAndSurvivesReopen) {
  {
    auto store = KvStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status();
    KvWriteBatch fill;
    for (uint64_t i = 1; i <= 100; ++i) fill.Put(0, EncodeUint64(i), "v");
    fill.Put(1, EncodeUint64(50), "other family");
    ASSERT_TRUE((*store)->Write(fill).ok());
    KvWriteBatch drop;
    drop.DeleteRange(0, EncodeUint64(1), EncodeUint64(61));  // 1..60
    drop.Put(0, EncodeUint64(101), "v");
    ASSERT_TRUE((*store)->Write(drop).ok());
  }
  auto store = KvStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<uint64_t> left;
  ASSERT_TRUE((*store)->Scan(0, "", "", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
    left.push_back(DecodeUint64(key));
    return true;
  }).ok());
  ASSERT_EQ(left.size(), 41u);
  EXPECT_EQ(left.front(), 61u);
  EXPECT_EQ(left.back(), 101u);
  EXPECT_FALSE((*store)->Get(0, EncodeUint64(60))->has_value());
  EXPECT_EQ((*store)->Get(1, EncodeUint64(50))->value_or("-"), "other family");
}

TEST_F(KvStoreTest, EncodedBatchDecodesToTheSameWrites) {
  KvWriteBatch batch;
  batch.Put(0, "k1", "v1");
  batch.Put(1, std::string("bin\0key", 7), std::string(300, 'x'));  // multi-byte lengths
  batch.Put(0, "k2", "");
  batch.Delete(0, "k1");
  batch.Put(0, "k1", "again");
  batch.DeleteRange(1, "a", "b");
  KvWriteBatch tail;
  tail.Put(0, "k3", "v3");
  batch.Append(std::move(tail));
  const std::string bytes = batch.Encode();
  auto decoded = KvWriteBatch::Decode(bytes, 2);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->count(), batch.count());
  EXPECT_EQ(decoded->Encode(), bytes);
  auto store = KvStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  KvWriteBatch fill;
  fill.Put(1, "a1", "gone after the range delete");
  ASSERT_TRUE((*store)->Write(fill).ok());
  ASSERT_TRUE((*store)->Write(*decoded).ok());
  EXPECT_EQ((*store)->Get(0, "k1")->value_or("-"), "again");
  EXPECT_EQ((*store)->Get(0, "k2")->value_or("-"), "");
  EXPECT_EQ((*store)->Get(0, "k3")->value_or("-"), "v3");
  EXPECT_FALSE((*store)->Get(1, "a1")->has_value());
  EXPECT_EQ((*store)->Get(1, std::string("bin\0key", 7))->value_or("-"), std::string(300, 'x'));
  auto empty = KvWriteBatch::Decode("", 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->count(), 0);
}

TEST_F(KvStoreTest, CorruptBatchEncodingIsRefusedWithItsOffset) {
  KvWriteBatch batch;
  batch.Put(0, "key", "value");
  batch.Put(1, "key2", "value2");
  const std::string bytes = batch.Encode();
  // Every truncation that cuts an operation short fails, none crashes.
  for (size_t n = 1; n < bytes.size(); ++n) {
    auto decoded = KvWriteBatch::Decode(std::string_view(bytes).substr(0, n), 2);
    if (n == 12) {  // exactly the first operation: 1 + 1 + 1 + 3 + 1 + 5 bytes
      EXPECT_TRUE(decoded.ok()) << decoded.status();
      continue;
    }
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << n;
  }
  auto unknown_family = KvWriteBatch::Decode(bytes, 1);
  EXPECT_EQ(unknown_family.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(unknown_family.status().message().find("at byte 12"), std::string::npos) << unknown_family.status();
  std::string bad_flags = bytes;
  bad_flags[1] = 2;  // a range that is not a delete
  EXPECT_EQ(KvWriteBatch::Decode(bad_flags, 2).status().code(), absl::StatusCode::kDataLoss);
  bad_flags[1] = 9;
  EXPECT_EQ(KvWriteBatch::Decode(bad_flags, 2).status().code(), absl::StatusCode::kDataLoss);
  const std::string endless_varint(12, '\xff');
  EXPECT_EQ(KvWriteBatch::Decode(endless_varint, 2).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(KvStoreTest, BatchNamingAnUnknownColumnFamilyIsRefused) {
  auto store = KvStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  KvWriteBatch batch;
  batch.Put(0, "k", "v");
  batch.Put(7, "k", "v");
  absl::Status status = (*store)->Write(batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("column family 7"), std::string::npos) << status;
  EXPECT_FALSE((*store)->Get(0, "k")->has_value()) << "nothing of a refused batch is written";
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

// A column family with a scan prefix length (prefix bloom filters) scans exactly as one
// without, also for prefixes ending in 0xff and scans starting inside the prefix.
TEST_F(KvStoreTest, PrefixScansMatchOnEveryPath) {
  KvStoreOptions options = Options();
  options.scan_prefix_lengths[1] = 8;
  auto store = KvStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  KvWriteBatch batch;
  for (uint64_t parent : {uint64_t{7}, uint64_t{0xff}, ~uint64_t{0}}) {
    for (const char* name : {"a", "b", "c"}) {
      batch.Put(1, EncodeUint64(parent) + name, name);
      batch.Put(0, EncodeUint64(parent) + name, name);
    }
  }
  batch.Delete(1, EncodeUint64(7) + "b");
  batch.Delete(0, EncodeUint64(7) + "b");
  ASSERT_TRUE((*store)->Write(batch).ok());
  for (uint64_t parent : {uint64_t{7}, uint64_t{0xff}, ~uint64_t{0}, uint64_t{8}}) {
    for (const std::string start : {std::string(), EncodeUint64(parent) + "a" + std::string(1, '\0')}) {
      std::vector<std::string> seen[2];
      for (ColumnFamily cf : {0, 1}) {
        ASSERT_TRUE((*store)->Scan(cf, EncodeUint64(parent), start, [&](std::string_view, std::string_view v) -> absl::StatusOr<bool> {
          seen[cf].emplace_back(v);
          return true;
        }).ok());
      }
      EXPECT_EQ(seen[0], seen[1]) << parent;
      const size_t expected = parent == 8 ? 0 : (parent == 7 ? 2 : 3) - (start.empty() ? 0 : 1);
      EXPECT_EQ(seen[1].size(), expected) << parent << " start " << start.size();
    }
  }
}

TEST_F(KvStoreTest, SnapshotReadsIgnoreLaterWrites) {
  auto store = KvStore::Open(Options());
  ASSERT_TRUE(store.ok());
  KvWriteBatch first;
  first.Put(0, "k", "old");
  first.Put(0, "k2", "old");
  ASSERT_TRUE((*store)->Write(first).ok());
  std::unique_ptr<KvSnapshot> snapshot = (*store)->Snapshot();
  KvWriteBatch second;
  second.Put(0, "k", "new");
  second.Delete(0, "k2");
  second.Put(0, "k3", "new");
  ASSERT_TRUE((*store)->Write(second).ok());
  EXPECT_EQ((*store)->Get(0, "k", snapshot.get())->value_or("-"), "old");
  EXPECT_EQ((*store)->Get(0, "k")->value_or("-"), "new");
  std::vector<std::string> seen;
  ASSERT_TRUE((*store)->Scan(0, "k", "", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
    seen.emplace_back(key);
    return true;
  }, snapshot.get()).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"k", "k2"}));
  std::vector<std::string> ops;
  second.ForEach([&](ColumnFamily, bool is_delete, std::string_view key, std::string_view value) {
    ops.push_back(std::string(is_delete ? "del " : "put ") + std::string(key) + std::string(value));
  });
  EXPECT_EQ(ops, (std::vector<std::string>{"put knew", "del k2", "put k3new"}));
}

TEST(KvCodecTest, Uint64RoundTripsAndSorts) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{1} << 40, ~uint64_t{0}}) {
    EXPECT_EQ(DecodeUint64(EncodeUint64(v)), v);
  }
  EXPECT_LT(EncodeUint64(255), EncodeUint64(256));
}

}  // namespace
}  // namespace cistern::kv

namespace cistern::kv {
namespace {

TEST(KvStoreSwapTest, CheckpointIsACopyAndReplaceWithSwapsContents) {
  const std::string root = (std::filesystem::path(::testing::TempDir()) / absl::StrCat("kv-swap-", ::getpid())).string();
  std::filesystem::remove_all(root);
  const KvStoreOptions a_options{root + "/a", {"x"}, /*sync_writes=*/false};
  auto a = KvStore::Open(a_options);
  ASSERT_TRUE(a.ok()) << a.status();
  KvWriteBatch batch;
  batch.Put(0, "k", "from-a");
  ASSERT_TRUE((*a)->Write(batch).ok());
  ASSERT_TRUE((*a)->CreateCheckpoint(root + "/ckpt").ok());
  EXPECT_FALSE((*a)->CreateCheckpoint(root + "/ckpt").ok()) << "a checkpoint must not overwrite";
  KvWriteBatch later;
  later.Put(0, "k", "after-checkpoint");
  ASSERT_TRUE((*a)->Write(later).ok());
  {
    auto copy = KvStore::Open(KvStoreOptions{root + "/ckpt", {"x"}, false});
    ASSERT_TRUE(copy.ok()) << copy.status();
    EXPECT_EQ((*copy)->Get(0, "k")->value(), "from-a");
  }
  auto b = KvStore::Open(KvStoreOptions{root + "/b", {"x"}, false});
  ASSERT_TRUE(b.ok());
  KvWriteBatch other;
  other.Put(0, "only-b", "1");
  ASSERT_TRUE((*b)->Write(other).ok());
  ASSERT_TRUE((*b)->ReplaceWith(root + "/ckpt").ok());
  EXPECT_FALSE(std::filesystem::exists(root + "/ckpt"));
  EXPECT_EQ((*b)->Get(0, "k")->value(), "from-a");
  EXPECT_FALSE((*b)->Get(0, "only-b")->has_value());
  KvWriteBatch after;
  after.Put(0, "new", "2");
  ASSERT_TRUE((*b)->Write(after).ok());  // usable after the swap
  b->reset();
  auto reopened = KvStore::Open(KvStoreOptions{root + "/b", {"x"}, false});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Get(0, "new")->value(), "2");
  std::filesystem::remove_all(root);
}

TEST(KvStoreSwapTest, OpenRecoversAnInterruptedSwap) {
  const std::string root = (std::filesystem::path(::testing::TempDir()) / absl::StrCat("kv-swap2-", ::getpid())).string();
  std::filesystem::remove_all(root);
  {
    auto s = KvStore::Open(KvStoreOptions{root + "/s", {"x"}, true});
    ASSERT_TRUE(s.ok());
    KvWriteBatch batch;
    batch.Put(0, "k", "old");
    ASSERT_TRUE((*s)->Write(batch).ok());
  }
  // A crash after the old contents were parked, before the new ones moved in.
  std::filesystem::rename(root + "/s", root + "/s.replaced");
  auto s = KvStore::Open(KvStoreOptions{root + "/s", {"x"}, true});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->Get(0, "k")->value(), "old");
  EXPECT_FALSE(std::filesystem::exists(root + "/s.replaced"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace cistern::kv
