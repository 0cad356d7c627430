// NamespaceCache: the hot part of the namespace in memory, in front of the metastore: inodes by
// id and directory entries (parent id, name) -> child id, each a sharded LRU of bounded size.
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

#include <cstddef>
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

// An LRU map in shards, each with its own lock and write generation. `Key` is the stored key
// type, `Lookup` what callers pass (e.g. std::string / absl::string_view).
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
    absl::MutexLock lock(&shard.mu);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) return std::nullopt;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return it->second->second;
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
    shard.index.emplace(shard.lru.front().first, shard.lru.begin());
    if (shard.lru.size() > shard.capacity) {
      shard.index.erase(shard.lru.back().first);
      shard.lru.pop_back();
    }
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
    it->second->second = *std::move(value);
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
  using List = std::list<std::pair<Key, Value>>;
  struct Shard {
    absl::Mutex mu;
    size_t capacity = 0;
    uint64_t generation ABSL_GUARDED_BY(mu) = 0;
    List lru ABSL_GUARDED_BY(mu);  // most recently used first
    absl::flat_hash_map<Key, typename List::iterator> index ABSL_GUARDED_BY(mu);
  };

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
