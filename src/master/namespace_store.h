// NamespaceStore: the namespace's persistent layout in the metastore (the one registry of its
// column families and keys; docs/formats.md describes the same) and read access to it.
//
//   inodes  InodeKey(id)            -> proto::Inode
//   edges   EdgeKey(parent, name)   -> child inode id (8 bytes BE)   [a listing is a prefix scan]
//   mounts  MountKey(mount id)      -> proto::MountInfo
//   operations  operation id -> proto::OperationRecord
//   op_expiry   time ++ operation id -> ""
//   ttl         expiry time ++ inode id -> ""
//   pinned      file id -> ""
//   persist     file id -> proto::PersistJob (files TO_BE_PERSISTED)
//   meta    "applied_index", "next_inode_id", "next_mount_id" (8 bytes BE), "cluster_id",
//           "format_version"
//
// Ids are big-endian so RocksDB's byte order is numeric order and a directory's edges are
// contiguous and sorted by name.
//
// Writes happen only in NamespaceStateMachine (through the journal); everything else reads.
// Thread safety: thread-safe (reads go straight to the KvStore).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cistern/proto/journal.pb.h"
#include "kv/kv_store.h"

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
inline constexpr uint64_t kFormatVersion = 1;

inline constexpr std::string_view kMetaAppliedIndex = "applied_index";
inline constexpr std::string_view kMetaNextInodeId = "next_inode_id";
inline constexpr std::string_view kMetaNextMountId = "next_mount_id";
inline constexpr std::string_view kMetaClusterId = "cluster_id";
inline constexpr std::string_view kMetaFormatVersion = "format_version";

std::string InodeKey(uint64_t id);
std::string EdgePrefix(uint64_t parent_id);
std::string EdgeKey(uint64_t parent_id, std::string_view name);
std::string MountKey(uint64_t mount_id);
std::string TtlKey(int64_t expiry_ms, uint64_t inode_id);
std::string OpExpiryKey(int64_t time_ms, std::string_view operation_id);

// When a path with a TTL expires (creation + ttl), or 0 if it has none.
int64_t TtlExpiryMs(const proto::Inode& inode);

class NamespaceStore {
 public:
  // `kv` must outlive the store and have been opened with NamespaceColumnFamilies().
  explicit NamespaceStore(kv::KvStore* kv);

  kv::KvStore* kv() const { return kv_; }

  // Creates the root inode and the meta keys if the store is empty; checks the format version
  // otherwise. `time_ms` becomes the root's times.
  absl::Status FormatIfEmpty(int64_t time_ms, uint32_t root_mode, std::string_view owner, std::string_view group);

  absl::StatusOr<std::optional<proto::Inode>> GetInode(uint64_t id) const;
  absl::StatusOr<std::optional<uint64_t>> GetChildId(uint64_t parent_id, std::string_view name) const;
  // The inode at a normalized path, or std::nullopt if some component is missing.
  // FAILED_PRECONDITION if a non-final component is a file.
  absl::StatusOr<std::optional<proto::Inode>> Lookup(std::string_view path) const;
  // Like Lookup, NOT_FOUND (naming the path) if missing.
  absl::StatusOr<proto::Inode> Resolve(std::string_view path) const;

  // Visits the children of directory `parent_id` in name order, starting after `start_after`
  // (empty = from the first), until `visit` returns false.
  absl::Status ListChildren(uint64_t parent_id, std::string_view start_after,
                            const std::function<absl::StatusOr<bool>(const proto::Inode&)>& visit) const;
  absl::StatusOr<bool> HasChildren(uint64_t parent_id) const;

  absl::StatusOr<uint64_t> GetMetaUint64(std::string_view key) const;
  absl::StatusOr<std::string> GetMetaString(std::string_view key) const;
  absl::StatusOr<std::vector<proto::MountInfo>> LoadMounts() const;
  // Ids of every pinned file, in order.
  absl::StatusOr<std::vector<uint64_t>> PinnedFiles() const;
  absl::StatusOr<std::optional<proto::OperationRecord>> GetOperation(std::string_view operation_id) const;
  // The persistence job of a TO_BE_PERSISTED file, if it has one.
  absl::StatusOr<std::optional<proto::PersistJob>> GetPersistJob(uint64_t file_id) const;
  // Visits (file id, job) of every persistence job in file id order until `visit` returns false.
  absl::Status ForEachPersistJob(
      const std::function<absl::StatusOr<bool>(uint64_t, const proto::PersistJob&)>& visit) const;
  // Visits (expiry time, inode id) of paths whose TTL expired at or before `now_ms`, oldest first.
  absl::Status ForEachExpired(int64_t now_ms, const std::function<absl::StatusOr<bool>(int64_t, uint64_t)>& visit) const;

 private:
  kv::KvStore* const kv_;
};

}  // namespace cistern::master
