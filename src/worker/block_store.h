// BlockStore: the worker's MEM tier, one directory with a byte quota, holding one file per
// cached block (`<dir>/<block id as 16 lowercase hex digits>`, file size = block length).
//
// Writes go to `<dir>/tmp/<id>.<n>` and are renamed into place on Commit, so a crash leaves
// only temporary files, which Open deletes. The quota is a hard bound: a writer reserves space
// before it writes bytes, evicting least-recently-used blocks nobody is reading when it must,
// and fails with RESOURCE_EXHAUSTED when even that cannot make room. A BlockReader pins its
// block: a pinned block is never evicted, and a removed pinned block keeps its space counted
// until its last reader closes (the file itself is unlinked at once; open readers keep its
// data).
//
// The store also records which blocks were added and removed since the last TakeDelta, for
// heartbeats to the master.
//
// Thread safety: BlockStore is thread-safe. A BlockReader or BlockWriter is used by one thread
// at a time and must not outlive its store.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cistern {
class Counter;
}

namespace cistern::worker {

inline constexpr std::string_view kMemTierAlias = "MEM";

struct CachedBlockInfo {
  uint64_t block_id = 0;
  int64_t length = 0;
};

struct TierUsageInfo {
  std::string alias;
  int64_t capacity_bytes = 0;
  int64_t used_bytes = 0;
  int64_t reserved_bytes = 0;  // by writes in progress; used + reserved <= capacity
};

// Changes to the set of cached blocks since the previous TakeDelta.
struct BlockDelta {
  std::map<uint64_t, int64_t> added;  // block id -> length
  std::set<uint64_t> removed;
  bool empty() const { return added.empty() && removed.empty(); }
};

struct BlockStoreOptions {
  std::string dir;
  int64_t capacity_bytes = 0;
};

// "000000000000002a" for 42: the block's file name.
std::string BlockFileName(uint64_t block_id);
// Inverse of BlockFileName; false for names that are not exactly 16 lowercase hex digits or
// name block 0.
bool ParseBlockFileName(std::string_view name, uint64_t* block_id);

class BlockStore;

namespace internal {
struct BlockEntry;
}

// A pinned, committed block open for reading.
class BlockReader {
 public:
  ~BlockReader();
  BlockReader(const BlockReader&) = delete;
  BlockReader& operator=(const BlockReader&) = delete;

  uint64_t block_id() const { return block_id_; }
  int64_t length() const { return length_; }
  // Reads up to `n` bytes at `offset`; returns the count (0 at the end of the block).
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf);

 private:
  friend class BlockStore;
  BlockReader(BlockStore* store, std::shared_ptr<internal::BlockEntry> entry, int fd);

  BlockStore* const store_;
  const std::shared_ptr<internal::BlockEntry> entry_;
  const uint64_t block_id_;
  const int64_t length_;
  const int fd_;
};

// A block being written. Nothing is visible until Commit; destroying an uncommitted writer
// deletes its temporary file and returns its reservation.
class BlockWriter {
 public:
  ~BlockWriter();
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  uint64_t block_id() const { return block_id_; }
  int64_t bytes_written() const { return written_; }
  // Reserves space for `data` (evicting if needed) and appends it.
  absl::Status Append(std::string_view data);
  // Publishes the block (replacing any cached block with the same id) and returns its length.
  absl::StatusOr<int64_t> Commit();
  void Abort();

 private:
  friend class BlockStore;
  BlockWriter(BlockStore* store, uint64_t block_id, std::string tmp_path, int fd, int64_t reserved);

  BlockStore* const store_;
  const uint64_t block_id_;
  const std::string tmp_path_;
  int fd_;
  int64_t reserved_;
  int64_t written_ = 0;
  bool done_ = false;
};

class BlockStore {
 public:
  // Creates `options.dir` if needed, locks it (FAILED_PRECONDITION if another worker holds
  // it: a second instance would delete the first one's writes), deletes leftover temporary files and files whose names
  // are not block ids, and indexes the block files found (oldest modification first in the
  // LRU order). Blocks beyond the quota are evicted.
  static absl::StatusOr<std::unique_ptr<BlockStore>> Open(const BlockStoreOptions& options);
  ~BlockStore();

  // NOT_FOUND (naming the block) if the block is not cached. Marks the block recently used.
  absl::StatusOr<std::unique_ptr<BlockReader>> OpenReader(uint64_t block_id);
  // Starts writing `block_id`; tries to reserve `length_hint` bytes up front (a hint that
  // does not fit is ignored: space is then reserved as data arrives).
  // INVALID_ARGUMENT for block id 0 or a negative hint.
  absl::StatusOr<std::unique_ptr<BlockWriter>> CreateWriter(uint64_t block_id, int64_t length_hint);
  // Drops a cached block; OK (no-op) if it is not cached.
  absl::Status Remove(uint64_t block_id);

  bool Contains(uint64_t block_id) const;
  std::vector<CachedBlockInfo> ListBlocks() const;
  TierUsageInfo Usage() const;
  // Bytes reserved by writers that have not committed yet.
  int64_t reserved_bytes() const;

  BlockDelta TakeDelta();
  // Puts back a delta that could not be delivered; changes recorded since take precedence.
  void RestoreDelta(BlockDelta delta);
  // The full block list for a registration, clearing the delta in the same step (the list
  // supersedes it).
  std::vector<CachedBlockInfo> ListBlocksAndClearDelta();

  const std::string& dir() const { return options_.dir; }

 private:
  friend class BlockReader;
  friend class BlockWriter;

  explicit BlockStore(BlockStoreOptions options);
  absl::Status Load();

  // Grows a writer's reservation by `bytes`, evicting unpinned blocks in LRU order.
  absl::Status Reserve(uint64_t block_id, int64_t bytes);
  void Unreserve(int64_t bytes);
  absl::StatusOr<int64_t> Publish(BlockWriter* writer);
  void ReleaseReader(const std::shared_ptr<internal::BlockEntry>& entry);

  absl::Status ReserveLocked(uint64_t block_id, int64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `entry` out of the index and LRU; its bytes are released now, or when its last
  // reader closes.
  void DetachLocked(const std::shared_ptr<internal::BlockEntry>& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictLocked(const std::shared_ptr<internal::BlockEntry>& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteAddedLocked(uint64_t block_id, int64_t length) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteRemovedLocked(uint64_t block_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string BlockPath(uint64_t block_id) const;

  // Constant after construction.
  const BlockStoreOptions options_;
  const std::string tmp_dir_;
  int lock_fd_ = -1;  // flock on <dir>/.lock, set by Load
  Counter* const blocks_cached_;
  Counter* const blocks_evicted_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<internal::BlockEntry>> index_ ABSL_GUARDED_BY(mu_);
  // Least recently used first.
  std::list<uint64_t> lru_ ABSL_GUARDED_BY(mu_);
  // Bytes of committed block files, including removed ones still open by readers.
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reserved_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_tmp_ ABSL_GUARDED_BY(mu_) = 0;
  BlockDelta delta_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::worker
