#include "kv/kv_overlay.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cistern::kv {
namespace {

class KvOverlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/kvo-", ::getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    KvStoreOptions options{dir_, {"a", "b"}, false};
    options.scan_prefix_lengths[1] = 2;
    auto store = KvStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Everything Scan visits, as key=value pairs.
  std::vector<std::string> ScanAll(const KvOverlay& overlay, ColumnFamily cf, std::string_view prefix,
                                   std::string_view start, size_t stop_after = SIZE_MAX) {
    std::vector<std::string> seen;
    absl::Status s = overlay.Scan(*store_, cf, prefix, start, [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
      seen.push_back(std::string(k) + "=" + std::string(v));
      return seen.size() < stop_after;
    });
    EXPECT_TRUE(s.ok()) << s;
    return seen;
  }
  std::string dir_;
  std::unique_ptr<KvStore> store_;
};

TEST_F(KvOverlayTest, ReadsSeeTheOverlayOverTheStore) {
  KvWriteBatch base;
  base.Put(0, "a", "1");
  base.Put(0, "b", "2");
  base.Put(0, "c", "3");
  ASSERT_TRUE(store_->Write(base).ok());
  KvOverlay overlay;
  KvWriteBatch first;
  first.Put(0, "b", "20");
  first.Delete(0, "c");
  first.Put(0, "d", "4");
  first.Put(1, "b", "other family");
  ASSERT_TRUE(overlay.Add(std::move(first)).ok());
  KvWriteBatch second;
  second.Put(0, "d", "40");  // the last write wins
  second.Delete(0, "e");     // a delete of a key nobody has
  ASSERT_TRUE(overlay.Add(std::move(second)).ok());

  EXPECT_EQ(overlay.size(), 5u);
  EXPECT_EQ(overlay.Get(*store_, 0, "a")->value_or("-"), "1");
  EXPECT_EQ(overlay.Get(*store_, 0, "b")->value_or("-"), "20");
  EXPECT_FALSE(overlay.Get(*store_, 0, "c")->has_value());
  EXPECT_EQ(overlay.Get(*store_, 0, "d")->value_or("-"), "40");
  EXPECT_EQ(overlay.Find(0, "a"), nullptr);
  ASSERT_NE(overlay.Find(0, "c"), nullptr);
  EXPECT_FALSE(overlay.Find(0, "c")->has_value());
  EXPECT_EQ(ScanAll(overlay, 0, "", ""), (std::vector<std::string>{"a=1", "b=20", "d=40"}));
  EXPECT_EQ(ScanAll(overlay, 0, "", "b", 2), (std::vector<std::string>{"b=20", "d=40"}));
  EXPECT_EQ(ScanAll(overlay, 0, "", "", 1), (std::vector<std::string>{"a=1"}));
  // The store itself is untouched until the batch is written.
  EXPECT_EQ(store_->Get(0, "b")->value_or("-"), "2");

  ASSERT_TRUE(store_->Write(overlay.Take()).ok());
  EXPECT_TRUE(overlay.empty());
  KvOverlay empty;
  EXPECT_EQ(ScanAll(empty, 0, "", ""), (std::vector<std::string>{"a=1", "b=20", "d=40"}));
  EXPECT_EQ(store_->Get(1, "b")->value_or("-"), "other family");
}

TEST_F(KvOverlayTest, TakeGivesOneSortedOperationPerKey) {
  KvOverlay overlay;
  KvWriteBatch batch;
  batch.Put(1, "zz", "1");
  batch.Put(0, "m", "1");
  batch.Put(0, "b", "1");
  batch.Put(0, "m", "2");
  batch.Delete(1, "aa");
  ASSERT_TRUE(overlay.Add(std::move(batch)).ok());
  std::vector<std::string> ops;
  overlay.Take().ForEach([&](ColumnFamily cf, bool is_delete, std::string_view key, std::string_view value) {
    ops.push_back(absl::StrCat(cf, ":", std::string(key), is_delete ? " deleted" : "=" + std::string(value)));
  });
  EXPECT_EQ(ops, (std::vector<std::string>{"0:b=1", "0:m=2", "1:aa deleted", "1:zz=1"}));
}

TEST_F(KvOverlayTest, RefusesRangeDeletes) {
  KvOverlay overlay;
  KvWriteBatch batch;
  batch.Put(0, "a", "1");
  batch.DeleteRange(0, "a", "z");
  EXPECT_EQ(overlay.Add(std::move(batch)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(overlay.empty());
}

// Random writes split between the store and the overlay, against a plain map of what the
// store would hold after both: every Get and every Scan (prefixes, starts, early stops) agree.
TEST_F(KvOverlayTest, MatchesApplyingTheWritesForRandomHistories) {
  std::mt19937 rng(7);
  const std::vector<std::string> keys = {"aa", "ab", "ac", "b", "ba", "bb", "c", "ca", "cab", "d"};
  for (int round = 0; round < 40; ++round) {
    std::map<std::string, std::string> expected[2];
    KvWriteBatch reset;
    for (ColumnFamily cf : {0, 1}) {
      for (const std::string& k : keys) reset.Delete(cf, k);
    }
    ASSERT_TRUE(store_->Write(reset).ok());
    KvOverlay overlay;
    for (int step = 0; step < 30; ++step) {
      KvWriteBatch batch;
      const ColumnFamily cf = static_cast<ColumnFamily>(rng() % 2);
      const std::string& key = keys[rng() % keys.size()];
      const bool is_delete = rng() % 3 == 0;
      const std::string value = absl::StrCat("v", round, ".", step);
      if (is_delete) {
        batch.Delete(cf, key);
        expected[cf].erase(key);
      } else {
        batch.Put(cf, key, value);
        expected[cf][key] = value;
      }
      if (step < 15) {
        ASSERT_TRUE(store_->Write(batch).ok());
      } else {
        ASSERT_TRUE(overlay.Add(std::move(batch)).ok());
      }
    }
    for (ColumnFamily cf : {0, 1}) {
      for (const std::string& k : keys) {
        auto got = overlay.Get(*store_, cf, k);
        ASSERT_TRUE(got.ok());
        auto want = expected[cf].find(k);
        EXPECT_EQ(got->value_or("<none>"), want == expected[cf].end() ? "<none>" : want->second) << cf << ":" << k;
      }
      for (std::string_view prefix : {"", "a", "b", "ca"}) {
        for (std::string_view start : {"", "ab", "b", "bb", "c"}) {
          for (size_t stop : {size_t{1}, size_t{2}, SIZE_MAX}) {
            if (cf == 1 && prefix.size() < 2 && !prefix.empty()) continue;  // family 1 scans by 2-byte prefixes
            std::vector<std::string> want;
            for (const auto& [k, v] : expected[cf]) {
              if (k.substr(0, prefix.size()) != prefix || k < std::max(start, prefix)) continue;
              if (want.size() < stop) want.push_back(absl::StrCat(k, "=", v));
            }
            EXPECT_EQ(ScanAll(overlay, cf, prefix, start, stop), want)
                << "round " << round << " cf " << cf << " prefix '" << prefix << "' start '" << start << "'";
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace cistern::kv
