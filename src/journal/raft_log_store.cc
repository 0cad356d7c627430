#include "journal/raft_log_store.h"

#include "absl/strings/str_cat.h"
#include "cistern/proto/raft.pb.h"
#include "common/status.h"

namespace cistern::journal {
namespace {

constexpr kv::ColumnFamily kLogCf = 0;
constexpr kv::ColumnFamily kStateCf = 1;
constexpr std::string_view kHardStateKey = "hard_state";

}  // namespace

absl::StatusOr<std::unique_ptr<RaftLogStore>> RaftLogStore::Open(const std::string& dir) {
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<kv::KvStore> kv,
                           kv::KvStore::Open(kv::KvStoreOptions{dir, {"log", "state"}, /*sync_writes=*/true}));
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
  last_index_ = 0;
  return kv_->Scan(kLogCf, "", "", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
    last_index_ = kv::DecodeUint64(key);
    return true;
  });
}

absl::StatusOr<std::vector<raft::Entry>> RaftLogStore::LoadEntries() const {
  std::vector<raft::Entry> entries;
  CISTERN_RETURN_IF_ERROR(kv_->Scan(kLogCf, "", "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
    proto::RaftEntry e;
    if (key.size() != 8 || !e.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': a record does not parse"));
    }
    const raft::Index index = kv::DecodeUint64(key);
    if (e.index() != index || index != entries.size() + 1) {
      return absl::DataLossError(absl::StrCat("raft log '", kv_->dir(), "': gap or mismatch at index ", index));
    }
    entries.push_back(raft::Entry{e.term(), e.index(), e.data()});
    return true;
  }));
  return entries;
}

absl::Status RaftLogStore::Save(const std::optional<raft::HardState>& hard_state,
                                const std::vector<raft::Entry>& entries) {
  if (!hard_state.has_value() && entries.empty()) return absl::OkStatus();
  kv::KvWriteBatch batch;
  raft::Index new_last = last_index_;
  if (!entries.empty()) {
    const raft::Index first = entries.front().index;
    if (first == 0 || first > last_index_ + 1) {
      return absl::InvalidArgumentError(absl::StrCat("raft log append at index ", first, " leaves a gap after ", last_index_));
    }
    for (raft::Index i = first + entries.size(); i <= last_index_; ++i) batch.Delete(kLogCf, kv::EncodeUint64(i));
    for (const raft::Entry& e : entries) {
      proto::RaftEntry record;
      record.set_term(e.term);
      record.set_index(e.index);
      record.set_data(e.data);
      batch.Put(kLogCf, kv::EncodeUint64(e.index), record.SerializeAsString());
    }
    new_last = entries.back().index;
  }
  if (hard_state.has_value()) {
    proto::RaftHardState hs;
    hs.set_term(hard_state->term);
    hs.set_vote(hard_state->vote);
    hs.set_commit(hard_state->commit);
    batch.Put(kStateCf, kHardStateKey, hs.SerializeAsString());
  }
  CISTERN_RETURN_IF_ERROR(kv_->Write(batch));
  last_index_ = new_last;
  if (hard_state.has_value()) hard_state_ = *hard_state;
  return absl::OkStatus();
}

}  // namespace cistern::journal
