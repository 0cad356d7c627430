#include "journal/raft_log_store.h"

#include "absl/strings/str_cat.h"
#include "cistern/proto/raft.pb.h"
#include "common/status.h"
#include "journal/raft_wire.h"

namespace cistern::journal {
namespace {

constexpr kv::ColumnFamily kLogCf = 0;
constexpr kv::ColumnFamily kStateCf = 1;
constexpr std::string_view kHardStateKey = "hard_state";
constexpr std::string_view kSnapshotKey = "snapshot";

}  // namespace

absl::StatusOr<std::unique_ptr<RaftLogStore>> RaftLogStore::Open(const std::string& dir) {
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<kv::KvStore> kv,
                           kv::KvStore::Open(kv::KvStoreOptions{dir, {"log", "state"}, /*sync_writes=*/false}));
  std::unique_ptr<RaftLogStore> store(new RaftLogStore(std::move(kv)));
  CISTERN_RETURN_IF_ERROR(store->Load());
  return store;
}

absl::Status RaftLogStore::Load() {
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> state, kv_->Get(kStateCf, kHardStateKey));
  if (state.has_value()) {
    proto::RaftHardState hs;
    if (!hs.ParseFromString(*state)) return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': hard state does not parse"));
    hard_state_ = raft::HardState{hs.term(), hs.vote(), hs.commit()};
  }
  CISTERN_ASSIGN_OR_RETURN(std::optional<std::string> snapshot, kv_->Get(kStateCf, kSnapshotKey));
  if (snapshot.has_value()) {
    proto::RaftSnapshotMeta meta;
    if (!meta.ParseFromString(*snapshot)) {
      return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': snapshot record does not parse"));
    }
    absl::StatusOr<raft::SnapshotMeta> decoded = FromProto(meta);
    if (!decoded.ok()) return Annotate(decoded.status(), absl::StrCat("raft log '", kv_->dir(), "': snapshot record"));
    snapshot_ = *std::move(decoded);
  }
  first_index_ = 0;
  last_index_ = 0;
  return kv_->Scan(kLogCf, "", "", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
    if (first_index_ == 0) first_index_ = kv::DecodeUint64(key);
    last_index_ = kv::DecodeUint64(key);
    return true;
  });
}

absl::StatusOr<std::vector<raft::Entry>> RaftLogStore::LoadEntries() const {
  std::vector<raft::Entry> entries;
  CISTERN_RETURN_IF_ERROR(kv_->Scan(kLogCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    proto::RaftEntry record;
    std::optional<raft::Entry> e;
    if (key.size() == 8 && record.ParseFromArray(value.data(), static_cast<int>(value.size()))) e = FromProto(record);
    if (!e.has_value()) return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': a record does not parse"));
    const raft::Index index = kv::DecodeUint64(key);
    if (e->index != index || (!entries.empty() && index != entries.back().index + 1)) {
      return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': gap or mismatch at index ", index));
    }
    entries.push_back(*std::move(e));
    return true;
  }));
  if (!entries.empty() && entries.front().index > snapshot_.index + 1) {
    return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': the log starts at index ",
                                            entries.front().index, " but the snapshot covers only up to ",
                                            snapshot_.index));
  }
  return entries;
}

absl::Status RaftLogStore::Save(const std::optional<raft::HardState>& hard_state,
                                const std::vector<raft::Entry>& entries) {
  // A commit index alone needs no sync: after a crash it is recomputed (at least the applied
  // index, and the leader tells the rest), while entries and a term or vote must survive.
  const bool sync = !entries.empty() || !hard_state.has_value() || hard_state->term != hard_state_.term ||
                    hard_state->vote != hard_state_.vote;
  return Write(hard_state, entries, sync);
}

absl::Status RaftLogStore::SaveUnsynced(const std::optional<raft::HardState>& hard_state,
                                        const std::vector<raft::Entry>& entries) {
  return Write(hard_state, entries, /*sync=*/false);
}

absl::Status RaftLogStore::Write(const std::optional<raft::HardState>& hard_state,
                                 const std::vector<raft::Entry>& entries, bool sync) {
  if (!hard_state.has_value() && entries.empty()) return absl::OkStatus();
  kv::KvWriteBatch batch;
  raft::Index new_first = first_index_;
  raft::Index new_last = last_index_;
  if (!entries.empty()) {
    const raft::Index first = entries.front().index;
    if (first == 0 || first > last_index() + 1) {
      return absl::InvalidArgumentError(absl::StrCat("raft log append at index ", first, " leaves a gap after ", last_index()));
    }
    for (raft::Index i = first + entries.size(); i <= last_index_; ++i) batch.Delete(kLogCf, kv::EncodeUint64(i));
    for (const raft::Entry& e : entries) {
      proto::RaftEntry record;
      ToProto(e, &record);
      batch.Put(kLogCf, kv::EncodeUint64(e.index), record.SerializeAsString());
    }
    new_last = entries.back().index;
    if (first_index_ == 0 || first < first_index_) new_first = first;
  }
  if (hard_state.has_value()) {
    proto::RaftHardState hs;
    hs.set_term(hard_state->term);
    hs.set_vote(hard_state->vote);
    hs.set_commit(hard_state->commit);
    batch.Put(kStateCf, kHardStateKey, hs.SerializeAsString());
  }
  CISTERN_RETURN_IF_ERROR(kv_->Write(batch));
  if (sync) CISTERN_RETURN_IF_ERROR(kv_->SyncWal());
  first_index_ = new_first;
  last_index_ = new_last;
  if (hard_state.has_value()) hard_state_ = *hard_state;
  return absl::OkStatus();
}

absl::Status RaftLogStore::SaveSnapshot(const raft::SnapshotMeta& meta, raft::Index compact_through,
                                        bool discard_log) {
  if (compact_through > meta.index) {
    return absl::InvalidArgumentError(
        absl::StrCat("raft log compaction through ", compact_through, " beyond the snapshot at ", meta.index));
  }
  kv::KvWriteBatch batch;
  proto::RaftSnapshotMeta record;
  ToProto(meta, &record);
  batch.Put(kStateCf, kSnapshotKey, record.SerializeAsString());
  const raft::Index drop_through = discard_log ? last_index_ : std::min(compact_through, last_index_);
  raft::Index new_first = first_index_;
  raft::Index new_last = last_index_;
  if (first_index_ != 0 && drop_through >= first_index_) {
    // One range tombstone: a delete per entry cost the driver ~200 ms per 100,000 entries.
    batch.DeleteRange(kLogCf, kv::EncodeUint64(first_index_), kv::EncodeUint64(drop_through + 1));
    new_first = drop_through >= last_index_ ? 0 : drop_through + 1;
    if (new_first == 0) new_last = 0;
  }
  CISTERN_RETURN_IF_ERROR(kv_->Write(batch));
  CISTERN_RETURN_IF_ERROR(kv_->SyncWal());
  snapshot_ = meta;
  first_index_ = new_first;
  last_index_ = new_last;
  return absl::OkStatus();
}

}  // namespace cistern::journal
