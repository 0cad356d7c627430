// StorageDir: one directory of a cache tier on disk. It owns the directory's layout (block files
// `<id>`, checksum records `<id>.meta`, temporary files under `tmp/`), locks the directory
// against a second worker, and recovers it at start: temporary files (writes that never
// committed), files that are not block files, orphans (a block without its record or a record
// without its block), torn records and blocks whose size differs from their record are deleted.
// A block's contents are checked against its checksum later, when it is first read.
//
// Capacity accounting lives here too, as plain fields guarded by the owning BlockStore's mutex.
//
// Thread safety: the const accessors and path helpers are thread-safe; Recover runs once,
// before the directory is shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/block_meta.h"

namespace cistern::worker {

// Subdirectory of the worker's first storage directory where it records its under-store writes
// in progress (worker/ufs_write_records.h); StorageDir leaves it alone.
inline constexpr std::string_view kUfsWriteRecordsDirName = "ufs-writes";

class StorageDir {
 public:
  // Creates `path` if needed, locks it (FAILED_PRECONDITION naming it if another process holds
  // the lock) and empties its tmp/ directory. REQUIRES: capacity_bytes > 0.
  static absl::StatusOr<std::unique_ptr<StorageDir>> Open(std::string alias, int tier_index, std::string path,
                                                          int64_t capacity_bytes);
  ~StorageDir();
  StorageDir(const StorageDir&) = delete;
  StorageDir& operator=(const StorageDir&) = delete;

  struct FoundBlock {
    uint64_t block_id = 0;
    BlockMeta meta;
    int64_t mtime_ns = 0;
  };
  // Deletes everything that is not a complete block (see above) and returns the blocks left.
  // `removed` (optional) receives the number of files deleted.
  absl::StatusOr<std::vector<FoundBlock>> Recover(int* removed = nullptr);

  const std::string& alias() const { return alias_; }
  int tier_index() const { return tier_index_; }
  const std::string& path() const { return path_; }
  int64_t capacity_bytes() const { return capacity_bytes_; }
  // Whether the directory is on a memory file system (tmpfs, ramfs), where reading a page of a
  // mapped block file never waits for a device.
  bool in_memory() const { return in_memory_; }

  std::string BlockPath(uint64_t block_id) const;
  std::string MetaPath(uint64_t block_id) const;
  // A fresh temporary path for a block being written into this directory.
  std::string NewTempPath(uint64_t block_id);

  // Deletes a block's files: the record first, so a crash in between leaves an orphan block that
  // recovery deletes, never a record that vouches for a missing block. Missing files are fine.
  absl::Status DeleteBlockFiles(uint64_t block_id) const;

  // Accounting, guarded by the owning BlockStore's mutex: bytes of committed blocks (including
  // removed blocks still open by readers) and bytes reserved by writes and moves in progress.
  // used_bytes + reserved_bytes <= capacity_bytes at all times.
  int64_t used_bytes = 0;
  int64_t reserved_bytes = 0;

 private:
  StorageDir(std::string alias, int tier_index, std::string path, int64_t capacity_bytes);

  const std::string alias_;
  const int tier_index_;
  const std::string path_;
  const std::string tmp_dir_;
  const int64_t capacity_bytes_;
  int lock_fd_ = -1;
  bool in_memory_ = false;
  std::atomic<uint64_t> next_temp_{0};
};

// Writes `data` to a new file at `path` (O_EXCL). Used for records and copies.
absl::Status WriteNewFile(const std::string& path, std::string_view data);
// Reads a whole small file.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);
// An errno as a Status: NOT_FOUND, RESOURCE_EXHAUSTED (ENOSPC/EDQUOT), PERMISSION_DENIED or
// INTERNAL, with `what` and `path` in the message.
absl::Status ErrnoStatus(int err, std::string_view what, std::string_view path);

}  // namespace cistern::worker
