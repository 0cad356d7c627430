// BlockStore: the worker's tiered block cache. Tiers (MEM, SSD, HDD; fastest first) each have one
// or more StorageDirs with a byte quota; a cached block is a file plus a checksum record in one
// directory (docs/formats.md, "Worker block files").
//
// Placement and capacity. A new block goes to the first tier with a directory that has room for
// its length hint (the directory with the most free space in that tier). Each directory's quota
// is a hard bound: a writer reserves space before it writes bytes; when no tier has room the
// writer evicts synchronously (dropping blocks) from the first directory where eviction can make
// room, and fails with RESOURCE_EXHAUSTED when none can. Space a writer needs beyond its hint is
// reserved in its directory as data arrives, evicting there if needed.
//
// Eviction. Blocks that are being read, being moved, or pinned (PinBlock, SetPinnedFiles,
// PinProvisionally) are
// never evicted. Otherwise blocks leave in the order of the EvictionPolicy (LRU or LRFU). A
// background pass (RunEvictionPass, run every eviction_interval_ms and whenever a commit crosses
// the high watermark) frees every directory above high_watermark down to low_watermark: an
// evicted block moves to the first lower tier with room, else it is dropped. Synchronous
// eviction by writers always drops (it never copies while a writer waits). Promote moves a block
// to the first higher tier with room.
//
// Integrity. Writers checksum (XXH64) what they write; readers verify a block before serving it
// according to options.checksum_verify. A block that fails is dropped, counted in
// cistern_worker_corrupt_blocks_total and reported as DATA_LOSS. Open recovers every directory (StorageDir).
//
// Visibility. Nothing a writer writes is visible until Commit. A BlockReader keeps its block's
// file open: a block removed or moved while being read keeps its space counted in its old
// directory until the last reader closes (the file is unlinked at once; open readers keep it).
//
// The store records blocks added (with their tier) and removed since the last TakeDelta, for
// heartbeats to the master; a block that moves between tiers is reported as added again with
// its new tier.
//
// Counters: cistern_worker_cached_blocks (gauge), cistern_worker_evicted_blocks_total (dropped by eviction),
// cistern_worker_corrupt_blocks_total, cistern_worker_promoted_blocks_total, cistern_worker_demoted_blocks_total.
//
// Thread safety: BlockStore is thread-safe. A BlockReader or BlockWriter is used by one thread
// at a time and must not outlive its store.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/block_meta.h"
#include "worker/eviction_policy.h"
#include "worker/storage_dir.h"
#include "worker/tier_config.h"

namespace cistern {
class Counter;
class Gauge;
}

namespace cistern::worker {

struct CachedBlockInfo {
  uint64_t block_id = 0;
  int64_t length = 0;
  std::string tier;
  bool operator==(const CachedBlockInfo&) const = default;
};

struct TierUsageInfo {
  std::string alias;
  int64_t capacity_bytes = 0;
  int64_t used_bytes = 0;
  int64_t reserved_bytes = 0;  // by writes and moves in progress; used + reserved <= capacity
};

struct DirUsageInfo {
  std::string alias;
  std::string path;
  int64_t capacity_bytes = 0;
  int64_t used_bytes = 0;
  int64_t reserved_bytes = 0;
};

// Changes to the set of cached blocks since the previous TakeDelta.
struct BlockDelta {
  std::map<uint64_t, CachedBlockInfo> added;
  std::set<uint64_t> removed;
  bool empty() const { return added.empty() && removed.empty(); }
};

class BlockStore;

namespace internal {
struct BlockEntry;
}

// A committed block open for reading; it cannot be evicted while open.
// A read-only mapping of part of a block file; unmapped when destroyed.
class MappedBlockRange {
 public:
  MappedBlockRange(void* base, size_t mapped_bytes, std::string_view bytes)
      : base_(base), mapped_bytes_(mapped_bytes), bytes_(bytes) {}
  ~MappedBlockRange();
  MappedBlockRange(const MappedBlockRange&) = delete;
  MappedBlockRange& operator=(const MappedBlockRange&) = delete;
  std::string_view bytes() const { return bytes_; }

 private:
  void* const base_;
  const size_t mapped_bytes_;
  const std::string_view bytes_;
};

class BlockReader {
 public:
  ~BlockReader();
  BlockReader(const BlockReader&) = delete;
  BlockReader& operator=(const BlockReader&) = delete;

  uint64_t block_id() const { return block_id_; }
  int64_t length() const { return length_; }
  // The tier the block was in when it was opened.
  const std::string& tier() const;
  // Reads up to `n` bytes at `offset`; returns the count (0 at the end of the block).
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf);
  // Whether the block file is on a memory file system (StorageDir::in_memory).
  bool in_memory() const;
  // Maps [offset, offset + n) of the block (n clipped to its end) read-only, so its bytes can be
  // handed to a socket without copying them first. The file is checked to be as long as the
  // block, as ReadAt does; the mapping stays valid after the reader is gone (the caller keeps
  // the reader while it uses the bytes, so the block's space stays accounted).
  absl::StatusOr<std::unique_ptr<MappedBlockRange>> Map(int64_t offset, int64_t n) const;
  // The block file's path, device and inode number (for short-circuit reads).
  const std::string& path() const { return path_; }
  absl::StatusOr<std::pair<uint64_t, uint64_t>> DeviceAndInode() const;

 private:
  friend class BlockStore;
  BlockReader(BlockStore* store, std::shared_ptr<internal::BlockEntry> entry, int fd, bool holds_location);

  BlockStore* const store_;
  const std::shared_ptr<internal::BlockEntry> entry_;
  const uint64_t block_id_;
  const int64_t length_;
  const int fd_;
  const std::string path_;
  const bool holds_location_;
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
  // The tier the block is being written to.
  const std::string& tier() const { return dir_->alias(); }
  // Reserves space for `data` (evicting in this writer's directory if needed) and appends it.
  absl::Status Append(std::string_view data);
  // Publishes the block with its checksum record (replacing any cached block with the same id)
  // and returns its length.
  absl::StatusOr<int64_t> Commit();
  void Abort();

 private:
  friend class BlockStore;
  BlockWriter(BlockStore* store, StorageDir* dir, uint64_t block_id, std::string tmp_path, int fd, int64_t reserved);

  BlockStore* const store_;
  StorageDir* const dir_;
  const uint64_t block_id_;
  const std::string tmp_path_;
  const std::string tmp_meta_path_;
  int fd_;
  int64_t reserved_;
  int64_t written_ = 0;
  bool done_ = false;
  BlockHasher hasher_;
};

class BlockStore {
 public:
  // Opens and recovers every tier directory (see StorageDir), indexes the blocks found (oldest
  // modification first in the eviction order; of two copies of one block, the newer is kept),
  // evicts down to the quotas, and starts the background evictor when
  // options.eviction_interval_ms > 0.
  static absl::StatusOr<std::unique_ptr<BlockStore>> Open(BlockStoreOptions options);
  ~BlockStore();

  // NOT_FOUND (naming the block) if the block is not cached; DATA_LOSS if it failed its checksum
  // (it is then dropped). Counts as an access for the eviction policy. With `hold_location`
  // the block is also not moved between tiers while the reader is open (a short-circuit reader
  // uses its path), and a block being moved right now is UNAVAILABLE.
  absl::StatusOr<std::unique_ptr<BlockReader>> OpenReader(uint64_t block_id, bool hold_location = false);
  // Starts writing `block_id` where `length_hint` bytes fit (see the placement rules above); a
  // hint that fits nowhere is ignored and space is reserved as data arrives. INVALID_ARGUMENT
  // for block id 0 or a negative hint.
  absl::StatusOr<std::unique_ptr<BlockWriter>> CreateWriter(uint64_t block_id, int64_t length_hint);
  // Drops a cached block, pinned or not; OK (no-op) if it is not cached.
  absl::Status Remove(uint64_t block_id);

  // Moves a cached block to the first tier above its own with room. OK if it moved or is in the
  // first tier already; RESOURCE_EXHAUSTED if no higher tier has room; NOT_FOUND if not cached;
  // UNAVAILABLE if it is being moved already or a reader holds its location.
  absl::Status Promote(uint64_t block_id);
  // Moves a cached block to tier `tier_index` (into the directory with the most room there).
  absl::Status MoveBlock(uint64_t block_id, int tier_index);

  // Pinned blocks (by block id, or by the id of the file they belong to) are never evicted or
  // moved by eviction. SetPinnedFiles replaces the whole pinned file set (the master's list).
  void PinBlock(uint64_t block_id);
  void UnpinBlock(uint64_t block_id);
  void SetPinnedFiles(absl::flat_hash_set<uint64_t> file_ids);
  bool IsPinned(uint64_t block_id) const;
  // Pins `block_id` until the master's pinned-file list takes over: ReleaseProvisionalPins with
  // an epoch taken after this call releases it. For blocks that are their file's only copy
  // (ASYNC_THROUGH), from before they are committed until a heartbeat reply computed after the
  // commit (whose list names the file while it needs protecting) has been applied.
  void PinProvisionally(uint64_t block_id);
  uint64_t ProvisionalPinEpoch() const;
  // Releases the provisional pins made at or before `epoch`.
  void ReleaseProvisionalPins(uint64_t epoch);

  // One background eviction pass (see above). Returns the number of blocks moved or dropped.
  int RunEvictionPass();

  bool Contains(uint64_t block_id) const;
  // The tier alias holding `block_id`, or "" if it is not cached.
  std::string TierOf(uint64_t block_id) const;
  std::vector<CachedBlockInfo> ListBlocks() const;
  // Sums over all directories; alias is the tier list ("MEM" or "MEM,SSD").
  TierUsageInfo Usage() const;
  std::vector<TierUsageInfo> TierUsages() const;
  std::vector<DirUsageInfo> DirUsages() const;
  int64_t reserved_bytes() const { return Usage().reserved_bytes; }
  const std::vector<std::string>& tier_aliases() const { return tier_aliases_; }

  BlockDelta TakeDelta();
  // Puts back a delta that could not be delivered; changes recorded since take precedence.
  void RestoreDelta(BlockDelta delta);
  // The full block list for a registration, clearing the delta in the same step (the list
  // supersedes it).
  std::vector<CachedBlockInfo> ListBlocksAndClearDelta();

 private:
  friend class BlockReader;
  friend class BlockWriter;
  using EntryPtr = std::shared_ptr<internal::BlockEntry>;

  BlockStore(BlockStoreOptions options, std::unique_ptr<EvictionPolicy> policy);
  absl::Status Load();
  void EvictorLoop();

  // Writer support.
  absl::Status Reserve(StorageDir* dir, uint64_t block_id, int64_t bytes);
  void Unreserve(StorageDir* dir, int64_t bytes);
  absl::StatusOr<int64_t> Publish(BlockWriter* writer, uint64_t checksum);
  void ReleaseReader(const EntryPtr& entry, bool holds_location);

  // Moves `entry`, which the caller has marked moving, to `tier_index`. Leaves it marked.
  absl::Status MoveClaimed(const EntryPtr& entry, int tier_index);
  absl::Status DropCorrupt(const EntryPtr& entry, std::string_view why);

  // The directory with the most free space in the first of tiers [first, last] where `bytes`
  // fit without eviction; nullptr if none.
  StorageDir* ChooseDirLocked(int64_t bytes, int first_tier, int last_tier) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reserves `bytes` in `dir`, dropping evictable blocks there in policy order if needed; fails
  // without dropping anything when that cannot make room.
  absl::Status ReserveLocked(StorageDir* dir, uint64_t block_id, int64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool EvictableLocked(const internal::BlockEntry& entry) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsPinnedLocked(uint64_t block_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evictable blocks of `dir`, first to go first.
  std::vector<EntryPtr> EvictionOrderLocked(const StorageDir* dir) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TouchLocked(internal::BlockEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InsertLocked(const EntryPtr& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `entry` out of the index; its bytes are released now, or when its last reader closes.
  void DetachLocked(const EntryPtr& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Detaches, deletes the files and records the removal.
  void DropLocked(const EntryPtr& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseReaderLocked(const EntryPtr& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteAddedLocked(const internal::BlockEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteRemovedLocked(uint64_t block_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeWakeEvictorLocked(const StorageDir* dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<CachedBlockInfo> ListBlocksLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after Open.
  const BlockStoreOptions options_;
  const std::unique_ptr<EvictionPolicy> policy_;
  std::vector<std::string> tier_aliases_;
  std::vector<std::unique_ptr<StorageDir>> dirs_;   // all directories, tier order
  std::vector<std::vector<StorageDir*>> tiers_;     // tiers_[i] = directories of tier i
  Gauge* const blocks_cached_;
  Counter* const blocks_evicted_;
  Counter* const blocks_corrupt_;
  Counter* const blocks_promoted_;
  Counter* const blocks_demoted_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, EntryPtr> index_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const StorageDir*, absl::flat_hash_set<uint64_t>> dir_blocks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> pinned_blocks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> pinned_files_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, uint64_t> provisional_pins_ ABSL_GUARDED_BY(mu_);  // block id -> epoch
  uint64_t provisional_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t access_seq_ ABSL_GUARDED_BY(mu_) = 0;
  BlockDelta delta_ ABSL_GUARDED_BY(mu_);
  bool evict_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread evictor_;
};

}  // namespace cistern::worker
