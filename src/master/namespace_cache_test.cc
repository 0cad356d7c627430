#include "master/namespace_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace cistern::master {
namespace {

using Lru = ShardedLru<uint64_t, uint64_t, uint64_t>;

void Put(Lru* lru, uint64_t key, uint64_t value) { lru->Fill(key, lru->TokenFor(key), value); }

TEST(ShardedLruTest, StaysWithinCapacity) {
  Lru lru(64);  // 2 per shard
  for (uint64_t k = 0; k < 10000; ++k) Put(&lru, k, k * 10);
  EXPECT_LE(lru.size(), 64u);
  EXPECT_GT(lru.size(), 0u);
  int present = 0;
  for (uint64_t k = 0; k < 10000; ++k) {
    if (std::optional<uint64_t> v = lru.Get(k); v.has_value()) {
      EXPECT_EQ(*v, k * 10);
      ++present;
    }
  }
  EXPECT_EQ(static_cast<size_t>(present), lru.size());
}

TEST(ShardedLruTest, ReferencedEntriesGetASecondChance) {
  // 4 per shard: a key read between every two inserts outlives far more inserts than its
  // shard holds, while a key never read again does not.
  Lru lru(32 * 4);
  Put(&lru, 7, 70);
  for (uint64_t k = 1000; k < 3000; ++k) {
    ASSERT_EQ(lru.Get(7).value_or(0), 70u) << "hot key evicted after " << (k - 1000) << " inserts";
    Put(&lru, k, k);
  }
  // A key never read again is gone after as many inserts.
  Put(&lru, 8, 80);
  for (uint64_t k = 5000; k < 7000; ++k) Put(&lru, k, k);
  EXPECT_FALSE(lru.Get(8).has_value());
}

TEST(ShardedLruTest, FillAfterAWriteIsRefusedAndUpdatesReplace) {
  Lru lru(100);
  Lru::FillToken token = lru.TokenFor(5);
  lru.Erase(5);  // a commit touched the shard after the reader read
  lru.Fill(5, token, 50);
  EXPECT_FALSE(lru.Get(5).has_value());
  Put(&lru, 5, 51);
  lru.Update(5, [] { return std::optional<uint64_t>(52); });
  EXPECT_EQ(lru.Get(5).value_or(0), 52u);
  lru.Update(5, [] { return std::optional<uint64_t>(); });
  EXPECT_FALSE(lru.Get(5).has_value());
  Put(&lru, 6, 60);
  lru.Clear();
  EXPECT_FALSE(lru.Get(6).has_value());
  EXPECT_EQ(lru.size(), 0u);
}

TEST(ShardedLruTest, ZeroCapacityCachesNothing) {
  Lru lru(0);
  Put(&lru, 1, 10);
  EXPECT_FALSE(lru.Get(1).has_value());
}

}  // namespace
}  // namespace cistern::master
