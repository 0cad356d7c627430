// RaftLogStore: the durable Raft log and hard state of one master, in a RocksDB instance of its
// own (not the namespace's), so the log can be synced and compacted independently.
//
//   log    index (u64 BE) -> proto::RaftEntry
//   state  "hard_state"   -> proto::RaftHardState
//
// Save() writes one Ready's hard state and entries (truncating a conflicting suffix) in one
// synced batch: a vote or an acknowledged entry is on disk before any message about it is sent.
//
// Thread safety: one thread (the Raft driver) at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kv/kv_store.h"
#include "raft/raft.h"

namespace cistern::journal {

class RaftLogStore {
 public:
  static absl::StatusOr<std::unique_ptr<RaftLogStore>> Open(const std::string& dir);

  raft::HardState hard_state() const { return hard_state_; }
  raft::Index last_index() const { return last_index_; }
  // Every stored entry, in order (index 1 onwards). DATA_LOSS if the log has a gap or a record
  // does not parse.
  absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const;
  // Persists (synced) an optional hard state and entries; entries replace any stored suffix
  // starting at the first one's index.
  absl::Status Save(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries);

 private:
  explicit RaftLogStore(std::unique_ptr<kv::KvStore> kv) : kv_(std::move(kv)) {}
  absl::Status Load();

  std::unique_ptr<kv::KvStore> kv_;
  raft::HardState hard_state_;
  raft::Index last_index_ = 0;
};

}  // namespace cistern::journal
