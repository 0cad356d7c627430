// SnapshotStore: the Raft snapshots a master keeps, under one root directory
// (master.raft.dir/snapshots):
//
//   <root>/snap-<index>-<term>/meta    proto::RaftSnapshotMeta (index, term, membership)
//   <root>/snap-<index>-<term>/data/   the state machine's snapshot (a metastore checkpoint)
//   <root>/staging-<n>/                a snapshot being made or received (removed at Open)
//
// A snapshot becomes visible only once complete (its staging directory is renamed into place
// and the root synced), so a crash leaves no half snapshot. The newest `keep` are kept; an
// older one being streamed to a follower may vanish, which fails that transfer (the leader then
// sends the newest).
//
// Thread safety: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "raft/raft.h"

namespace cistern::journal {

struct StoredSnapshot {
  raft::SnapshotMeta meta;
  std::string dir;  // holds `meta` and `data/`
  std::string data_dir() const { return dir + "/data"; }
};

class SnapshotStore {
 public:
  static absl::StatusOr<std::unique_ptr<SnapshotStore>> Open(const std::string& root, int keep = 2);

  std::optional<StoredSnapshot> Latest() const;
  // A fresh staging directory (created, empty); the caller fills `<dir>/data` and Commits it,
  // or Discards it.
  absl::StatusOr<std::string> NewStagingDir();
  // Writes `meta` into the staged snapshot, makes it the latest and prunes older ones.
  absl::StatusOr<StoredSnapshot> Commit(const std::string& staging_dir, const raft::SnapshotMeta& meta);
  void Discard(const std::string& dir);

  const std::string& root() const { return root_; }

 private:
  SnapshotStore(std::string root, int keep) : root_(std::move(root)), keep_(keep) {}
  absl::Status Load();

  const std::string root_;
  const int keep_;
  mutable absl::Mutex mu_;
  std::vector<StoredSnapshot> snapshots_ ABSL_GUARDED_BY(mu_);  // oldest first
  uint64_t next_staging_ ABSL_GUARDED_BY(mu_) = 0;
};

// Every regular file under `dir`, as paths relative to it (for streaming a snapshot).
absl::StatusOr<std::vector<std::string>> ListFilesRecursively(const std::string& dir);
// fsync of every file and directory under `dir`, and of `dir` itself.
absl::Status SyncTree(const std::string& dir);

}  // namespace cistern::journal
