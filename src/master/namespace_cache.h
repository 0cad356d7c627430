// NamespaceCache: the hot part of the namespace in memory, in front of the metastore: inodes by
// id and directory entries (parent id, name) -> child id, each a sharded map of bounded size
// (CLOCK eviction, see ShardedLru).
// The metastore stays the truth; the cache only saves reads of it (a memtable or SST lookup
// costs microseconds, a hit a hash probe).
//
// Coherence. Only NamespaceStore::Commit writes, one batch at a time, and after writing the
// metastore it updates every key the batch touched that is cached (and drops deleted ones), so
// a cached value is never older than the metastore once Commit returns. A reader that missed
// fills the cache from what it read, but only if no write touched the key's shard since it
// took a FillToken before reading the metastore: a fill can never put back a value that a
// commit replaced meanwhile.
//
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/journal.pb.h"

namespace cistern::master {

// Taken by a reader before it reads the metastore after a miss (see ShardedLru::Fill).
struct CacheFillToken {
  size_t shard = 0;
  uint64_t generation = 0;
};

// A map of bounded size in shards, each with its own lock and write generation, evicting by
// CLOCK (second chance), an approximation of LRU: a hit only sets the entry's referenced bit,
// under a shared lock, instead of moving the entry to the front of a list under an exclusive
// one. Hits are the getStatus hot path (a path walk makes two per component), and moving list
// nodes wrote three cache lines per hit and serialized readers of a shard. `Key` is the stored
// key type, `Lookup` what callers pass (e.g. std::string / absl::string_view).
template <typename Key, typename Lookup, typename Value>
class ShardedLru {
 public:
  using FillToken = CacheFillToken;

  explicit ShardedLru(size_t capacity) {
    const size_t per_shard = (capacity + kShards - 1) / kShards;
    for (Shard& shard : shards_) shard.capacity = per_shard;
  }

  std::optional<Value> Get(const Lookup& key) {
    Shard& shard = ShardOf(key);
    absl::ReaderMutexLock lock(&shard.mu);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return std::nullopt;
    Entry& entry = *it->second;
    // Read first: an entry already marked is not written again (its cache line stays shared).
    if (!entry.referenced.load(std::memory_order_relaxed)) entry.referenced.store(true, std::memory_order_relaxed);
    return entry.value;
  }

  FillToken TokenFor(const Lookup& key) {
    const size_t index = ShardIndex(key);
    absl::MutexLock lock(&shards_[index].mu);
    return FillToken{index, shards_[index].generation};
  }

  // Inserts what a reader read, unless a write touched the shard since `token` was taken.
  void Fill(const Lookup& key, FillToken token, Value value) {
    Shard& shard = shards_[token.shard];
    absl::MutexLock lock(&shard.mu);
    if (shard.capacity == 0 || shard.generation != token.generation) return;
    if (shard.index.contains(key)) return;
    shard.lru.emplace_front(Key(key), std::move(value));
    shard.index.emplace(shard.lru.front().key, shard.lru.begin());
    if (shard.lru.size() > shard.capacity) Evict(&shard);
  }

  // A write of `key`: replaces the cached value, if there is one, with make_value() (called
  // only then, returning std::optional<Value>); std::nullopt drops the entry instead.
  template <typename MakeValue>
  void Update(const Lookup& key, const MakeValue& make_value) {
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    ++shard.generation;
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return;
    std::optional<Value> value = make_value();
    if (!value.has_value()) {
      shard.lru.erase(it->second);
      shard.index.erase(it);
      return;
    }
    it->second->value = *std::move(value);
  }

  // A delete of `key`.
  void Erase(const Lookup& key) {
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    ++shard.generation;
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return;
    shard.lru.erase(it->second);
    shard.index.erase(it);
  }

  // Drops everything (the metastore was replaced); fills begun before are refused.
  void Clear() {
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      ++shard.generation;
      shard.index.clear();
      shard.lru.clear();
    }
  }

  size_t size() {
    size_t total = 0;
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      total += shard.lru.size();
    }
    return total;
  }

 private:
  static constexpr size_t kShards = 32;
  // Second chances given per eviction at most, so one insert never walks a whole shard.
  static constexpr int kMaxSecondChances = 64;
  struct Entry {
    Entry(Key k, Value v) : key(std::move(k)), value(std::move(v)) {}
    Key key;
    Value value;
    // Set by Get (under the shared lock, hence atomic); cleared when the entry gets a second chance.
    std::atomic<bool> referenced{false};
  };
  using List = std::list<Entry>;
  // Aligned so two shards' locks never share a cache line.
  struct alignas(64) Shard {
    absl::Mutex mu;
    size_t capacity = 0;
    uint64_t generation ABSL_GUARDED_BY(mu) = 0;
    List lru ABSL_GUARDED_BY(mu);  // newest first; the eviction candidate is at the back
    absl::flat_hash_map<Key, typename List::iterator> index ABSL_GUARDED_BY(mu);
  };

  // Drops one entry: the oldest not referenced since its last chance (CLOCK).
  static void Evict(Shard* shard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard->mu) {
    for (int i = 0; i < kMaxSecondChances && shard->lru.back().referenced.load(std::memory_order_relaxed); ++i) {
      shard->lru.back().referenced.store(false, std::memory_order_relaxed);
      shard->lru.splice(shard->lru.begin(), shard->lru, std::prev(shard->lru.end()));
    }
    shard->index.erase(shard->lru.back().key);
    shard->lru.pop_back();
  }

  size_t ShardIndex(const Lookup& key) const { return absl::Hash<Lookup>{}(key) % kShards; }
  Shard& ShardOf(const Lookup& key) { return shards_[ShardIndex(key)]; }

  Shard shards_[kShards];
};

class NamespaceCache {
 public:
  using InodePtr = std::shared_ptr<const proto::Inode>;
  using FillToken = CacheFillToken;
  using InodeLru = ShardedLru<uint64_t, uint64_t, InodePtr>;
  // Edges are keyed by their metastore key, EdgeKey(parent, name); the value is the child id,
  // or kNoChild: the entry is known not to exist (a miss remembered).
  using EdgeLru = ShardedLru<std::string, absl::string_view, uint64_t>;
  static constexpr uint64_t kNoChild = 0;

  // `capacity` entries each for inodes and for edges; 0 turns the cache off.
  explicit NamespaceCache(size_t capacity) : inodes_(capacity), edges_(capacity) {}

  InodeLru& inodes() { return inodes_; }
  EdgeLru& edges() { return edges_; }
  void Clear() {
    inodes_.Clear();
    edges_.Clear();
  }

 private:
  InodeLru inodes_;
  EdgeLru edges_;
};

}  // namespace cistern::master
