// NamespaceStore: the namespace's persistent layout in the metastore (the one registry of its
// column families and keys; docs/formats.md describes the same) and read access to it.
//
//   inodes  InodeKey(id)            -> proto::Inode
//   edges   EdgeKey(parent, name)   -> EdgeValue: child inode id (8 bytes BE) ++ proto::Inode
//           (a copy of the child's record, so a listing is one prefix scan with no lookups per
//           entry; format version 1 stored only the id, and such 8-byte edges are still read)
//   mounts  MountKey(mount id)      -> proto::MountInfo
//   operations  operation id -> proto::OperationRecord
//   op_expiry   time ++ operation id -> ""
//   ttl         expiry time ++ inode id -> ""
//   pinned      file id -> ""
//   persist     file id -> proto::PersistJob (files TO_BE_PERSISTED)
//   meta    "applied_index", "next_inode_id", "next_mount_id" (8 bytes BE), "cluster_id",
//           "format_version", "raft_snapshot" (in Raft snapshots)
//
// Ids are big-endian so RocksDB's byte order is numeric order and a directory's edges are
// contiguous and sorted by name.
//
// Writes happen only in NamespaceStateMachine (through the journal), one batch at a time via
// Commit; everything else reads. Every inode but the root is written together with its edge
// (NamespaceStateMachine's PutInode), so the copy in the edge always equals the record. A NamespaceCache of hot inodes and edges sits in front of the
// metastore.
//
// Consistent reads without locks. Reads that combine several keys (a path walk, a page of a
// listing) run optimistically against the latest state and the cache, and are checked against
// a commit sequence number that is odd while a Commit is writing: a read that overlapped a
// commit is repeated, and after a few such attempts runs on a RocksDB snapshot instead. So a
// read never waits for a writer nor makes one wait, and it always sees the namespace as of one
// moment between two commits.
//
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/journal.pb.h"
#include "kv/kv_overlay.h"
#include "kv/kv_store.h"
#include "master/namespace_cache.h"

namespace cistern::master {

enum NamespaceColumnFamily : kv::ColumnFamily {
  kInodesCf = 0,
  kEdgesCf = 1,
  kMountsCf = 2,
  kMetaCf = 3,
  kOperationsCf = 4,  // operation id -> OperationRecord (outcome of a client mutation, for retries)
  kOpExpiryCf = 5,    // record time (u64 BE) ++ operation id -> "" (oldest first, for pruning)
  kTtlCf = 6,         // expiry time (u64 BE) ++ inode id (u64 BE) -> "" (paths with a TTL)
  kPinnedCf = 7,      // file id (u64 BE) -> "" (pinned files, fed to workers)
  kPersistCf = 8,     // file id (u64 BE) -> PersistJob (every file TO_BE_PERSISTED, and only those)
};
std::vector<std::string> NamespaceColumnFamilies();

inline constexpr uint64_t kRootInodeId = 1;
inline constexpr uint64_t kRootMountId = 1;
// 2: edges carry a copy of the child inode (1: only its id; upgraded when the store opens).
inline constexpr uint64_t kFormatVersion = 2;

inline constexpr std::string_view kMetaAppliedIndex = "applied_index";
inline constexpr std::string_view kMetaNextInodeId = "next_inode_id";
inline constexpr std::string_view kMetaNextMountId = "next_mount_id";
inline constexpr std::string_view kMetaClusterId = "cluster_id";
inline constexpr std::string_view kMetaFormatVersion = "format_version";
// In a Raft snapshot only (written into the checkpoint, never by Apply): the Raft metadata of
// the snapshot (proto::RaftSnapshotMeta), so a replica that installed it knows what it holds.
inline constexpr std::string_view kMetaRaftSnapshot = "raft_snapshot";

std::string InodeKey(uint64_t id);
std::string EdgePrefix(uint64_t parent_id);
std::string EdgeKey(uint64_t parent_id, std::string_view name);
// An edge's value: the child's id, then its serialized proto::Inode (`inode_bytes`).
std::string EdgeValue(uint64_t child_id, std::string_view inode_bytes);
std::string MountKey(uint64_t mount_id);
std::string TtlKey(int64_t expiry_ms, uint64_t inode_id);
std::string OpExpiryKey(int64_t time_ms, std::string_view operation_id);

// When a path with a TTL expires (creation + ttl), or 0 if it has none.
int64_t TtlExpiryMs(const proto::Inode& inode);

// RocksDB options for the namespace's column families (edges are always scanned by parent).
void AddNamespaceKvOptions(kv::KvStoreOptions* options);

// The inodes along a path, as far as the path exists.
struct PathWalk {
  // inodes[i] is the inode named by the first i components (inodes[0] is the root).
  std::vector<NamespaceCache::InodePtr> inodes;
  size_t components = 0;
  // Set when a component before the last is a file, so the walk could not go on.
  bool blocked_by_file = false;
  bool found() const { return inodes.size() == components + 1; }
  const proto::Inode& last() const { return *inodes.back(); }
};

class NamespaceStore {
 public:
  // `kv` must outlive the store and have been opened with NamespaceColumnFamilies().
  // `cache_entries` bounds the inode cache and the edge cache (each); 0 turns caching off.
  explicit NamespaceStore(kv::KvStore* kv, size_t cache_entries = 100000);

  kv::KvStore* kv() const { return kv_; }

  // The only write path: writes `batch` (the effects of journal entry `index`) atomically and
  // updates the cache. REQUIRES: one caller at a time, indexes increasing.
  absl::Status Commit(const kv::KvWriteBatch& batch, uint64_t index);
  // An upper bound of the index of every entry whose effects a read may have seen: a read that
  // then waits until this index is durable never answers with state a crash could take back.
  // Replaces the whole metastore with the checkpoint in `dir` (a Raft snapshot installed) and
  // drops the cache. Readers that overlap retry, as with Commit.
  absl::Status ReplaceWith(const std::string& dir);
  uint64_t commit_index() const { return commit_index_.load(std::memory_order_acquire); }

  // Called by Walk between two components (so a test can commit in the middle of a walk).
  void SetWalkStepHookForTest(std::function<void()> hook) { walk_step_hook_ = std::move(hook); }

  // Creates the root inode and the meta keys if the store is empty; checks the format version
  // otherwise, and upgrades a version 1 store (rewrites its edges with the inode copies).
  // `time_ms` becomes the root's times.
  absl::Status FormatIfEmpty(int64_t time_ms, uint32_t root_mode, std::string_view owner, std::string_view group);

  // Reads below that take `pending` see the namespace as it will be once those writes are
  // committed on top of it (the state machine's entries applied so far in a batch); nullptr:
  // as it is.
  absl::StatusOr<std::optional<proto::Inode>> GetInode(uint64_t id, const kv::KvOverlay* pending = nullptr) const;
  absl::StatusOr<std::optional<uint64_t>> GetChildId(uint64_t parent_id, std::string_view name,
                                                     const kv::KvOverlay* pending = nullptr) const;
  // The inode at a normalized path, or std::nullopt if some component is missing.
  // FAILED_PRECONDITION if a non-final component is a file.
  absl::StatusOr<std::optional<proto::Inode>> Lookup(std::string_view path, const kv::KvOverlay* pending = nullptr) const;
  // Like Lookup, NOT_FOUND (naming the path) if missing.
  absl::StatusOr<proto::Inode> Resolve(std::string_view path, const kv::KvOverlay* pending = nullptr) const;
  // Walks a normalized path as far as it exists, consistently (see above).
  absl::StatusOr<PathWalk> Walk(std::string_view path, const kv::KvOverlay* pending = nullptr) const;

  // Visits the children of directory `parent_id` in name order, starting after `start_after`
  // (empty = from the first), until `visit` returns false. Not one consistent read when
  // others commit meanwhile: for the state machine (the only writer) and callers that
  // re-validate what they find.
  absl::Status ListChildren(uint64_t parent_id, std::string_view start_after,
                            const std::function<absl::StatusOr<bool>(const proto::Inode&)>& visit,
                            const kv::KvOverlay* pending = nullptr) const;
  // Up to `limit` children of `parent_id` after `start_after`, in name order, read
  // consistently; with `stop_after_directory` the page ends with the first directory.
  absl::StatusOr<std::vector<NamespaceCache::InodePtr>> ListChildrenPage(uint64_t parent_id,
                                                                         std::string_view start_after, size_t limit,
                                                                         bool stop_after_directory) const;
  absl::StatusOr<bool> HasChildren(uint64_t parent_id, const kv::KvOverlay* pending = nullptr) const;

  absl::StatusOr<uint64_t> GetMetaUint64(std::string_view key, const kv::KvOverlay* pending = nullptr) const;
  absl::StatusOr<std::string> GetMetaString(std::string_view key) const;
  absl::StatusOr<std::vector<proto::MountInfo>> LoadMounts(const kv::KvOverlay* pending = nullptr) const;
  // Ids of every pinned file, in order.
  absl::StatusOr<std::vector<uint64_t>> PinnedFiles() const;
  absl::StatusOr<std::optional<proto::OperationRecord>> GetOperation(std::string_view operation_id,
                                                                     const kv::KvOverlay* pending = nullptr) const;
  // The persistence job of a TO_BE_PERSISTED file, if it has one.
  absl::StatusOr<std::optional<proto::PersistJob>> GetPersistJob(uint64_t file_id,
                                                                 const kv::KvOverlay* pending = nullptr) const;
  // Visits (file id, job) of every persistence job in file id order until `visit` returns false.
  absl::Status ForEachPersistJob(
      const std::function<absl::StatusOr<bool>(uint64_t, const proto::PersistJob&)>& visit) const;
  // Visits (expiry time, inode id) of paths whose TTL expired at or before `now_ms`, oldest first.
  absl::Status ForEachExpired(int64_t now_ms, const std::function<absl::StatusOr<bool>(int64_t, uint64_t)>& visit) const;

 private:
  // Where a read reads: the latest state through the cache, or a snapshot (no cache).
  struct ReadView {
    const kv::KvSnapshot* snapshot;  // nullptr: the latest state, through the cache
    const kv::KvOverlay* pending;    // nullptr or writes read on top (ahead of the cache)
  };
  // Runs read(view) as one consistent read (see above); `read` must be repeatable.
  template <typename Read>
  auto ConsistentRead(const kv::KvOverlay* pending, const Read& read) const -> decltype(read(ReadView{}));
  absl::StatusOr<std::optional<std::string>> Get(const ReadView& view, kv::ColumnFamily cf, std::string_view key) const;
  absl::Status Scan(const ReadView& view, kv::ColumnFamily cf, std::string_view prefix, std::string_view start,
                    const std::function<absl::StatusOr<bool>(std::string_view, std::string_view)>& visit) const;

  absl::StatusOr<NamespaceCache::InodePtr> GetInodeIn(const ReadView& view, uint64_t id) const;
  // The child an edge names, from the copy it carries or (a version 1 edge) from its record.
  absl::StatusOr<NamespaceCache::InodePtr> EdgeChild(const ReadView& view, uint64_t parent_id, std::string_view key,
                                                     std::string_view value) const;
  absl::Status UpgradeEdges();
  absl::StatusOr<std::optional<uint64_t>> GetChildIdIn(const ReadView& view, uint64_t parent_id,
                                                       std::string_view name) const;
  void UpdateCache(const kv::KvWriteBatch& batch);

  kv::KvStore* const kv_;
  mutable NamespaceCache cache_;
  absl::Mutex commit_mu_;  // one Commit at a time (the state machine already applies serially)
  // Odd while a Commit writes; readers compare it before and after.
  std::atomic<uint64_t> commit_seq_{0};
  std::atomic<uint64_t> commit_index_{0};
  std::function<void()> walk_step_hook_;
};

template <typename Read>
auto NamespaceStore::ConsistentRead(const kv::KvOverlay* pending, const Read& read) const
    -> decltype(read(ReadView{})) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint64_t before = commit_seq_.load(std::memory_order_acquire);
    if ((before & 1) == 0) {
      auto result = read(ReadView{nullptr, pending});
      std::atomic_thread_fence(std::memory_order_acquire);
      if (commit_seq_.load(std::memory_order_relaxed) == before) return result;
    }
    std::this_thread::yield();
  }
  std::unique_ptr<kv::KvSnapshot> snapshot = kv_->Snapshot();
  return read(ReadView{snapshot.get(), pending});
}

}  // namespace cistern::master
