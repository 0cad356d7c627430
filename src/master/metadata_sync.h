// MetadataSyncer: keeps the namespace in line with the under-stores it mounts. Paths that exist
// in an under-store but not yet in the namespace are loaded on first access; paths the namespace
// knows are re-checked when its view is older than the sync interval (-1 never, 0 always, N ms:
// per request, else the mount's `sync_interval` option, else master.metadata.sync.interval).
// Differences are journaled as UfsSyncEntry batches of bounded size: new children are created,
// files whose fingerprint changed get a new inode (so stale cached blocks are never served, and
// they are freed), and persisted children that disappeared are removed.
//
// A sync is a mutation: it holds the path lock of what it changes (the child it loads or
// re-checks, or the directory it lists) across the under-store call and the journal submit, and
// the apply step re-checks everything, so a sync racing a client change cannot undo it.
//
// Thread safety: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "journal/journal.h"
#include "master/block_master.h"
#include "master/mount_table.h"
#include "master/namespace_store.h"
#include "master/path_locks.h"

namespace cistern::master {

struct MetadataSyncOptions {
  int64_t default_interval_ms = -1;
  int batch_size = 1000;
  int64_t block_size_bytes = 64 << 20;  // of files loaded from an under-store
  std::string owner;
  std::string group;
};

// A read running where it must not block (an RPC event thread) asks the syncer not to call
// under-stores: it then fails with WouldBlockError() and the caller retries on a thread that
// may block.
absl::Status WouldBlockError();
bool IsWouldBlock(const absl::Status& status);

struct SyncStats {
  int64_t created = 0;
  int64_t updated = 0;
  int64_t removed = 0;
};

class MetadataSyncer {
 public:
  // All pointers must outlive this; `locks` are the mutations' path locks.
  MetadataSyncer(NamespaceStore* store, journal::Journal* journal, MountTable* mounts, BlockMaster* blocks,
                 Clock* clock, PathLocks* locks, MetadataSyncOptions options);

  // The interval that applies to `path`.
  int64_t IntervalFor(std::string_view path, std::optional<int64_t> requested) const;

  // Loads a normalized `path` and its missing ancestors from the under-store if the namespace
  // lacks them, and re-checks an existing persisted file whose view is older than the interval.
  // Returns the inode at `path` afterwards, or nullptr when it exists nowhere (the caller then
  // reports NOT_FOUND); FAILED_PRECONDITION if a prefix is a file. Without `may_block`,
  // WouldBlockError() if an under-store has to be asked.
  absl::StatusOr<NamespaceCache::InodePtr> SyncPath(const std::string& path,
                                                       std::optional<int64_t> requested_interval, SyncStats* stats,
                                                       bool may_block = true);
  // SyncPath, answering with the consistent walk of `path` the result comes from (found() if
  // the path exists), so a caller can check permissions on the same inodes instead of walking
  // the path again.
  absl::StatusOr<PathWalk> SyncPathWalk(const std::string& path, std::optional<int64_t> requested_interval,
                                        SyncStats* stats, bool may_block = true);

  // Syncs the children of directory `path` when they were never loaded or their view is older
  // than the interval; with `recursive`, also every directory below. Without `may_block`,
  // WouldBlockError() if the under-store has to be listed. `known_dir`: the directory's inode
  // as the caller has just read it (a listing), which spares walking `path` again when nothing
  // is due.
  absl::Status SyncChildren(const std::string& path, std::optional<int64_t> requested_interval, bool recursive,
                            SyncStats* stats, bool may_block = true, const proto::Inode* known_dir = nullptr);

 private:
  bool Due(int64_t last_sync_ms, int64_t interval_ms) const;
  // One consistent walk of `path`; FAILED_PRECONDITION if a prefix is a file.
  absl::StatusOr<PathWalk> CheckedWalk(const std::string& path) const;
  // Journals `entry` and waits until it is durable. REQUIRES: the path locks of what it changes.
  absl::Status Submit(proto::JournalEntry entry, SyncStats* stats, int64_t created, int64_t updated, int64_t removed);
  proto::JournalEntry NewEntry(const std::string& dir_path) const;

  NamespaceStore* const store_;
  journal::Journal* const journal_;
  MountTable* const mounts_;
  BlockMaster* const blocks_;
  Clock* const clock_;
  PathLocks* const locks_;
  const MetadataSyncOptions options_;
};

}  // namespace cistern::master
