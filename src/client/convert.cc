#include "client/convert.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace cistern {

std::string_view WriteTypeName(WriteType type) {
  switch (type) {
    case WriteType::kMustCache: return "MUST_CACHE";
    case WriteType::kCacheThrough: return "CACHE_THROUGH";
    case WriteType::kThrough: return "THROUGH";
    case WriteType::kAsyncThrough: return "ASYNC_THROUGH";
  }
  return "UNKNOWN";
}

absl::StatusOr<WriteType> ParseWriteType(std::string_view name) {
  for (WriteType t : {WriteType::kMustCache, WriteType::kCacheThrough, WriteType::kThrough, WriteType::kAsyncThrough}) {
    if (WriteTypeName(t) == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown write type '", absl::string_view(name.data(), name.size()),
                                                 "' (expected MUST_CACHE, CACHE_THROUGH, THROUGH or ASYNC_THROUGH)"));
}

std::string_view ReadTypeName(ReadType type) {
  switch (type) {
    case ReadType::kCache: return "CACHE";
    case ReadType::kNoCache: return "NO_CACHE";
    case ReadType::kCachePromote: return "CACHE_PROMOTE";
  }
  return "UNKNOWN";
}

absl::StatusOr<ReadType> ParseReadType(std::string_view name) {
  for (ReadType t : {ReadType::kCache, ReadType::kNoCache, ReadType::kCachePromote}) {
    if (ReadTypeName(t) == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown read type '", absl::string_view(name.data(), name.size()),
                                                 "' (expected CACHE, NO_CACHE or CACHE_PROMOTE)"));
}

std::string_view PersistenceStateName(PersistenceState state) {
  switch (state) {
    case PersistenceState::kNotPersisted: return "NOT_PERSISTED";
    case PersistenceState::kToBePersisted: return "TO_BE_PERSISTED";
    case PersistenceState::kPersisted: return "PERSISTED";
    case PersistenceState::kUnknown: break;
  }
  return "UNKNOWN";
}

std::string_view TtlActionName(TtlAction action) {
  return action == TtlAction::kFree ? "FREE" : "DELETE";
}

absl::StatusOr<TtlAction> ParseTtlAction(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "DELETE") return TtlAction::kDelete;
  if (upper == "FREE") return TtlAction::kFree;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown TTL action '", absl::string_view(name.data(), name.size()), "' (expected DELETE or FREE)"));
}

namespace client {

proto::TtlAction ToProto(TtlAction action) {
  return action == TtlAction::kFree ? proto::TTL_FREE : proto::TTL_DELETE;
}

TtlAction FromProto(proto::TtlAction action) {
  return action == proto::TTL_FREE ? TtlAction::kFree : TtlAction::kDelete;
}

proto::WriteType ToProto(WriteType type) {
  switch (type) {
    case WriteType::kMustCache: return proto::MUST_CACHE;
    case WriteType::kCacheThrough: return proto::CACHE_THROUGH;
    case WriteType::kThrough: return proto::THROUGH;
    case WriteType::kAsyncThrough: return proto::ASYNC_THROUGH;
  }
  return proto::WRITE_TYPE_UNSPECIFIED;
}

proto::ReadType ToProto(ReadType type) {
  switch (type) {
    case ReadType::kCache: return proto::CACHE;
    case ReadType::kNoCache: return proto::NO_CACHE;
    case ReadType::kCachePromote: return proto::CACHE_PROMOTE;
  }
  return proto::READ_TYPE_UNSPECIFIED;
}

std::optional<WriteType> FromProto(proto::WriteType type) {
  switch (type) {
    case proto::MUST_CACHE: return WriteType::kMustCache;
    case proto::CACHE_THROUGH: return WriteType::kCacheThrough;
    case proto::THROUGH: return WriteType::kThrough;
    case proto::ASYNC_THROUGH: return WriteType::kAsyncThrough;
    default: return std::nullopt;
  }
}

PersistenceState FromProto(proto::PersistenceState state) {
  switch (state) {
    case proto::NOT_PERSISTED: return PersistenceState::kNotPersisted;
    case proto::TO_BE_PERSISTED: return PersistenceState::kToBePersisted;
    case proto::PERSISTED: return PersistenceState::kPersisted;
    default: return PersistenceState::kUnknown;
  }
}

WorkerState FromProto(proto::WorkerState state) {
  switch (state) {
    case proto::LIVE: return WorkerState::kLive;
    case proto::LOST: return WorkerState::kLost;
    default: return WorkerState::kUnknown;
  }
}

std::string FormatAddress(const proto::NetAddress& address) {
  return absl::StrCat(address.host(), ":", address.rpc_port());
}

FileStatus ToFileStatus(const proto::FileInfo& info) {
  FileStatus s;
  s.file_id = info.file_id();
  s.path = info.path();
  s.name = info.name();
  s.is_directory = info.kind() == proto::DIRECTORY;
  s.length = info.length();
  s.block_size_bytes = info.block_size_bytes();
  s.mode = info.mode();
  s.owner = info.owner();
  s.group = info.group();
  s.creation_time_ms = info.creation_time_ms();
  s.modification_time_ms = info.modification_time_ms();
  s.completed = info.completed();
  s.persistence_state = FromProto(info.persistence_state());
  s.write_type = FromProto(info.write_type());
  s.ufs_path = info.ufs_path();
  s.pinned = info.pinned();
  s.in_cache_percentage = info.in_cache_percentage();
  s.cached_bytes = info.cached_bytes();
  s.mount_point = info.mount_point();
  s.mount_id = info.mount_id();
  s.block_ids.assign(info.block_ids().begin(), info.block_ids().end());
  s.ttl_ms = info.ttl_ms();
  s.ttl_action = FromProto(info.ttl_action());
  s.replication_min = info.replication_min();
  s.replication_max = info.replication_max();
  s.last_sync_ms = info.last_sync_ms();
  s.ufs_fingerprint.length = info.ufs_fingerprint().length();
  s.ufs_fingerprint.mtime_ms = info.ufs_fingerprint().mtime_ms();
  s.ufs_fingerprint.etag = info.ufs_fingerprint().etag();
  if (info.has_persist_job()) {
    const proto::PersistJob& j = info.persist_job();
    s.persist_job = PersistJobStatus{j.attempts(), j.last_error(), j.worker_id(), j.attempt_started_ms(),
                                     j.next_attempt_ms()};
  }
  for (const proto::BlockInfo& b : info.blocks()) {
    BlockStatus block;
    block.block_id = b.block_id();
    block.offset = b.offset();
    block.length = b.length();
    for (const proto::BlockLocation& l : b.locations()) {
      block.locations.push_back(BlockLocation{l.worker_id(), FormatAddress(l.address()), l.tier()});
    }
    s.blocks.push_back(std::move(block));
  }
  if (info.has_capability()) s.capability = info.capability().SerializeAsString();
  return s;
}

WorkerSummary ToWorkerSummary(const proto::WorkerInfo& info) {
  WorkerSummary w;
  w.worker_id = info.worker_id();
  w.host = info.address().host();
  w.rpc_port = info.address().rpc_port();
  w.http_port = info.address().http_port();
  w.address = FormatAddress(info.address());
  w.state = FromProto(info.state());
  w.capacity_bytes = info.capacity_bytes();
  w.used_bytes = info.used_bytes();
  w.block_count = info.block_count();
  w.last_heartbeat_ms = info.last_heartbeat_ms();
  w.registered_ms = info.registered_ms();
  for (const proto::TierUsage& t : info.tiers()) {
    w.tiers.push_back(TierCapacity{t.alias(), t.capacity_bytes(), t.used_bytes()});
  }
  return w;
}

MountPoint ToMountPoint(const proto::MountInfo& info) {
  MountPoint m;
  m.path = info.path();
  m.ufs_uri = info.ufs_uri();
  m.read_only = info.read_only();
  m.shared = info.shared();
  m.options.insert(info.options().begin(), info.options().end());
  return m;
}

MasterInfo ToMasterInfo(const proto::GetMasterInfoResponse& response) {
  MasterInfo m;
  m.address = FormatAddress(response.address());
  m.version = response.version();
  m.cluster_id = response.cluster_id();
  m.start_time_ms = response.start_time_ms();
  m.applied_index = response.applied_index();
  m.inode_count = response.inode_count();
  return m;
}

}  // namespace client
}  // namespace cistern
