// KvStore: an ordered key-value store with named column families, the storage under the
// master's namespace (and, later, the Raft log). The implementation is RocksDB; callers see only
// this interface, so nothing outside src/kv includes RocksDB headers.
//
// Writes are grouped in a KvWriteBatch and applied atomically; with `sync_writes` a batch is on
// disk (WAL fsync) before Write returns, which is what makes an acknowledged namespace change
// survive kill -9 and power loss. Checkpoints copy a store cheaply; ReplaceWith swaps the whole
// contents for another store's (Raft snapshots).
//
// Thread safety: all methods are thread-safe. An iteration (Scan) sees a consistent snapshot.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::kv {

// Index of a column family in KvStoreOptions::column_families.
using ColumnFamily = int;

class KvOverlay;

class KvWriteBatch {
 public:
  KvWriteBatch();
  ~KvWriteBatch();
  KvWriteBatch(KvWriteBatch&&) noexcept;
  KvWriteBatch& operator=(KvWriteBatch&&) noexcept;

  void Put(ColumnFamily cf, std::string_view key, std::string_view value);
  void Delete(ColumnFamily cf, std::string_view key);
  // Deletes every key in [begin, end) with one range tombstone (cheap however many keys).
  // For stores read directly (the Raft log): KvOverlay refuses batches with one.
  void DeleteRange(ColumnFamily cf, std::string_view begin, std::string_view end);
  int count() const;
  // Visits the operations in order (value is empty for a delete), but not range deletes.
  void ForEach(const std::function<void(ColumnFamily cf, bool is_delete, std::string_view key,
                                        std::string_view value)>& visit) const;
  // Appends `other`'s operations after this batch's (so they win where both write a key).
  void Append(KvWriteBatch other);

  // A self-contained encoding of the operations (for shipping a batch to another replica).
  std::string Encode() const;
  // The inverse of Encode; DATA_LOSS naming the offset for bytes that are not such an encoding
  // or name a column family outside [0, column_families).
  static absl::StatusOr<KvWriteBatch> Decode(std::string_view bytes, int column_families);

 private:
  friend class KvStore;
  friend class KvOverlay;  // moves operations in and out without copying
  struct Op {
    ColumnFamily cf;
    bool is_delete;
    std::string key;
    std::string value;      // for a range delete: the end of the range
    bool is_range = false;  // a range delete
  };
  std::vector<Op> ops_;
};

struct KvStoreOptions {
  std::string dir;
  // Column family names; the store creates missing ones. Index i is ColumnFamily i.
  std::vector<std::string> column_families;
  bool sync_writes = true;
  // Memory bounds: one block cache shared by all column families (index and filter blocks
  // included), and one budget for all memtables together.
  int64_t block_cache_bytes = 32 << 20;
  int64_t write_buffer_bytes = 64 << 20;
  // Column families whose Scans always stay within a key prefix of a fixed length (index ->
  // length): their files carry prefix bloom filters, so a scan skips files without the prefix.
  std::map<ColumnFamily, size_t> scan_prefix_lengths;
};

// A consistent point-in-time view for reads (RocksDB snapshot); released when destroyed.
class KvSnapshot {
 public:
  virtual ~KvSnapshot() = default;
};

class KvStore {
 public:
  // Opens (creating if needed) the store in options.dir. FAILED_PRECONDITION if another process
  // holds it; DATA_LOSS if it is corrupt.
  static absl::StatusOr<std::unique_ptr<KvStore>> Open(const KvStoreOptions& options);
  ~KvStore();

  // std::nullopt if absent. With `snapshot`, as of that snapshot.
  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, std::string_view key,
                                                 const KvSnapshot* snapshot = nullptr) const;
  absl::Status Write(const KvWriteBatch& batch);
  // Makes every batch written so far durable (one WAL fsync, however many batches are pending):
  // with sync_writes = false, callers get group commit by writing, then syncing once.
  absl::Status SyncWal();
  // Starts writing every memtable to files in the background and returns at once, so that a
  // checkpoint soon after has little left to flush.
  absl::Status FlushInBackground();

  // Visits keys with `prefix` in order, starting at the first key >= `start` (empty = the
  // prefix itself), until `visit` returns false or fails. Every scan reads one consistent
  // state (with `snapshot`, that one).
  absl::Status Scan(ColumnFamily cf, std::string_view prefix, std::string_view start,
                    const std::function<absl::StatusOr<bool>(std::string_view key, std::string_view value)>& visit,
                    const KvSnapshot* snapshot = nullptr) const;

  std::unique_ptr<KvSnapshot> Snapshot() const;

  // Approximate number of keys in `cf` (RocksDB's estimate; exact for small stores).
  int64_t ApproximateCount(ColumnFamily cf) const;

  // Writes a consistent copy of everything written so far into `dir`, which must not exist: a
  // RocksDB checkpoint (hard links to the immutable files, so cheap), itself a store that Open
  // accepts with the same column families. Durable on return.
  absl::Status CreateCheckpoint(const std::string& dir) const;
  // Replaces the whole contents with the store in `source_dir` (e.g. a checkpoint received from
  // another replica; it is moved into place and gone afterwards). Calls made meanwhile wait; a
  // crash leaves either the old or the new contents (Open finishes or undoes the swap).
  absl::Status ReplaceWith(const std::string& source_dir);

  const std::string& dir() const;

 private:
  struct Impl;
  explicit KvStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Big-endian fixed 8-byte encoding, so numeric keys sort in numeric order.
std::string EncodeUint64(uint64_t value);
void AppendUint64(std::string* out, uint64_t value);
// REQUIRES: bytes.size() >= 8.
uint64_t DecodeUint64(std::string_view bytes);

}  // namespace cistern::kv
