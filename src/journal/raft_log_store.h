// RaftLogStore: the durable Raft log, hard state and latest snapshot metadata of one master, in
// a RocksDB instance of its own (not the namespace's), so the log can be synced and compacted
// independently.
//
//   log    index (u64 BE) -> proto::RaftEntry (term, index, data, type)
//   state  "hard_state"   -> proto::RaftHardState
//          "snapshot"     -> proto::RaftSnapshotMeta (what the state machine's snapshot covers)
//
// Save() writes one Ready's hard state and entries (truncating a conflicting suffix) in one
// batch, synced when it holds entries or a new term or vote: those are on disk before any
// message about them is sent. A batch that only moves the commit index is not synced (a commit
// index lost in a crash is recomputed: at least the applied index, the rest from the leader).
// The stored log is contiguous; after a compaction it starts above index 1, and after a
// snapshot install it may be empty (it then continues after the snapshot's index).
//
// Thread safety: one thread (the Raft driver) at a time, except Sync().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kv/kv_store.h"
#include "raft/raft.h"

namespace cistern::journal {

// What the Raft driver needs of durable storage (RaftLogStore is the RocksDB implementation;
// tests use an in-memory one with injected faults).
class RaftStorage {
 public:
  virtual ~RaftStorage() = default;
  virtual raft::HardState hard_state() const = 0;
  // The latest snapshot recorded (index 0: none).
  virtual raft::SnapshotMeta snapshot() const = 0;
  // The last stored entry's index, or the snapshot's index when no entry follows it.
  virtual raft::Index last_index() const = 0;
  // Every stored entry, in order. DATA_LOSS if the log has a gap or a record does not parse.
  virtual absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const = 0;
  // Persists an optional hard state and entries; entries replace any stored suffix starting at
  // the first one's index. Durable on return (synced) when there are entries or the term or vote
  // changed; a change of the commit index alone may be written without a sync. A failure leaves
  // the storage unusable: the caller stops.
  virtual absl::Status Save(const std::optional<raft::HardState>& hard_state,
                            const std::vector<raft::Entry>& entries) = 0;
  // As Save, but never synced: durable only once a later Sync() (or synced Save) returns. The
  // default saves synced.
  virtual absl::Status SaveUnsynced(const std::optional<raft::HardState>& hard_state,
                                    const std::vector<raft::Entry>& entries) {
    return Save(hard_state, entries);
  }
  // Makes everything saved before the call durable. Thread-safe: may run on another thread
  // while the driver saves more (which it may or may not cover).
  virtual absl::Status Sync() { return absl::OkStatus(); }
  // Records `meta` (the state machine holds that snapshot durably) and drops the stored entries
  // up to `compact_through` (<= meta.index). With `discard_log`, drops every entry (an installed
  // snapshot replaces the log).
  virtual absl::Status SaveSnapshot(const raft::SnapshotMeta& meta, raft::Index compact_through,
                                    bool discard_log) = 0;
};

class RaftLogStore : public RaftStorage {
 public:
  static absl::StatusOr<std::unique_ptr<RaftLogStore>> Open(const std::string& dir);

  raft::HardState hard_state() const override { return hard_state_; }
  raft::SnapshotMeta snapshot() const override { return snapshot_; }
  raft::Index last_index() const override { return std::max(last_index_, snapshot_.index); }
  absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const override;
  absl::Status Save(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries) override;
  absl::Status SaveUnsynced(const std::optional<raft::HardState>& hard_state,
                            const std::vector<raft::Entry>& entries) override;
  absl::Status Sync() override { return kv_->SyncWal(); }
  absl::Status SaveSnapshot(const raft::SnapshotMeta& meta, raft::Index compact_through, bool discard_log) override;

  const std::string& dir() const { return kv_->dir(); }

 private:
  explicit RaftLogStore(std::unique_ptr<kv::KvStore> kv) : kv_(std::move(kv)) {}
  absl::Status Load();
  absl::Status Write(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries,
                     bool sync);

  std::unique_ptr<kv::KvStore> kv_;
  raft::HardState hard_state_;
  raft::SnapshotMeta snapshot_;
  raft::Index first_index_ = 0;  // 0: no stored entry
  raft::Index last_index_ = 0;
};

}  // namespace cistern::journal
