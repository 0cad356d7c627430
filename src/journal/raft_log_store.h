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

// What the Raft driver needs of durable storage (RaftLogStore is the RocksDB implementation;
// tests wrap it to inject faults).
class RaftStorage {
 public:
  virtual ~RaftStorage() = default;
  virtual raft::HardState hard_state() const = 0;
  virtual raft::Index last_index() const = 0;
  // Every stored entry, in order (index 1 onwards). DATA_LOSS if the log has a gap or a record
  // does not parse.
  virtual absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const = 0;
  // Persists (synced) an optional hard state and entries; entries replace any stored suffix
  // starting at the first one's index. A failure leaves the storage unusable: the caller stops.
  virtual absl::Status Save(const std::optional<raft::HardState>& hard_state,
                            const std::vector<raft::Entry>& entries) = 0;
};

class RaftLogStore : public RaftStorage {
 public:
  static absl::StatusOr<std::unique_ptr<RaftLogStore>> Open(const std::string& dir);

  raft::HardState hard_state() const override { return hard_state_; }
  raft::Index last_index() const override { return last_index_; }
  absl::StatusOr<std::vector<raft::Entry>> LoadEntries() const override;
  absl::Status Save(const std::optional<raft::HardState>& hard_state, const std::vector<raft::Entry>& entries) override;

 private:
  explicit RaftLogStore(std::unique_ptr<kv::KvStore> kv) : kv_(std::move(kv)) {}
  absl::Status Load();

  std::unique_ptr<kv::KvStore> kv_;
  raft::HardState hard_state_;
  raft::Index last_index_ = 0;
};

}  // namespace cistern::journal
