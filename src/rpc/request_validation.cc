#include "rpc/request_validation.h"

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/block_id.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "security/identity.h"

namespace cistern::rpc {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// "CreateFileRequest.block_size_bytes = -1: must be in [0, 1073741824]"
absl::Status Invalid(const Message& message, std::string_view field, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(message.GetDescriptor()->name(), ".", AV(field), " = ", AV(value), ": ", AV(why)));
}

absl::Status CheckRange(const Message& message, std::string_view field, int64_t value, int64_t min, int64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return Invalid(message, field, absl::StrCat(value), absl::StrCat("must be in [", min, ", ", max, "]"));
}

// Quotes at most the first 64 bytes of an oversized or odd string, escaped.
std::string Quote(std::string_view text) {
  std::string shown = absl::CHexEscape(AV(text.substr(0, 64)));
  return absl::StrCat("'", shown, text.size() > 64 ? "...'" : "'", " (", text.size(), " bytes)");
}

absl::Status CheckLength(const Message& message, std::string_view field, std::string_view value, size_t max,
                         bool required = false) {
  if (required && value.empty()) return Invalid(message, field, "''", "must not be empty");
  if (value.size() <= max) return absl::OkStatus();
  return Invalid(message, field, Quote(value), absl::StrCat("longer than ", max, " bytes"));
}

absl::Status CheckPath(const Message& message, std::string_view field, std::string_view path) {
  return CheckLength(message, field, path, kMaxPathBytes, /*required=*/true);
}

absl::Status CheckOperationId(const Message& message, std::string_view id) {
  return CheckLength(message, "operation_id", id, kMaxOperationIdBytes);
}

absl::Status CheckSyncInterval(const Message& message, bool has, int64_t value) {
  if (!has) return absl::OkStatus();
  return CheckRange(message, "sync_interval_ms", value, -1, INT64_MAX);
}

absl::Status CheckMode(const Message& message, std::string_view field, uint32_t mode) {
  if (mode <= kMaxModeBits) return absl::OkStatus();
  return Invalid(message, field, absl::StrFormat("0%o", mode), "not a permission mode (at most 07777)");
}

absl::Status CheckBlock(const Message& message, std::string_view field, const proto::CachedBlock& block) {
  if (block.block_id() == 0) return Invalid(message, absl::StrCat(AV(field), ".block_id"), "0", "not a block id");
  CISTERN_RETURN_IF_ERROR(
      CheckRange(message, absl::StrCat(AV(field), ".length"), block.length(), 0, kMaxBlockSizeBytes));
  return CheckLength(message, absl::StrCat(AV(field), ".tier"), block.tier(), kMaxTagBytes);
}

absl::Status CheckTiers(const Message& message,
                        const google::protobuf::RepeatedPtrField<proto::TierUsage>& tiers) {
  if (tiers.size() > kMaxTiers) {
    return Invalid(message, "tiers", absl::StrCat(tiers.size(), " entries"), absl::StrCat("at most ", kMaxTiers));
  }
  for (const proto::TierUsage& tier : tiers) {
    CISTERN_RETURN_IF_ERROR(CheckLength(message, "tiers.alias", tier.alias(), kMaxTagBytes, /*required=*/true));
    CISTERN_RETURN_IF_ERROR(CheckRange(message, "tiers.capacity_bytes", tier.capacity_bytes(), 0, INT64_MAX));
    CISTERN_RETURN_IF_ERROR(CheckRange(message, "tiers.used_bytes", tier.used_bytes(), 0, INT64_MAX));
  }
  return absl::OkStatus();
}

// Whether messages of `descriptor` can contain an enum field at any depth (so the enum check
// skips, e.g., the thousands of CachedBlock entries of a registration). Cached per descriptor.
bool MayContainEnums(const Descriptor* descriptor) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache = new std::map<const Descriptor*, bool>();
  {
    absl::MutexLock lock(&mu);
    auto it = cache->find(descriptor);
    if (it != cache->end()) return it->second;
    // Provisional answer for recursive types; the final one replaces it below.
    (*cache)[descriptor] = false;
  }
  bool result = false;
  for (int i = 0; i < descriptor->field_count() && !result; ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) result = true;
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && MayContainEnums(field->message_type())) {
      result = true;
    }
  }
  absl::MutexLock lock(&mu);
  (*cache)[descriptor] = result;
  return result;
}

absl::Status CheckEnumsKnownAt(const Message& message, const std::string& prefix) {
  const Descriptor* descriptor = message.GetDescriptor();
  if (!MayContainEnums(descriptor)) return absl::OkStatus();
  const Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string name = prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      const auto check = [&](int value) -> absl::Status {
        if (field->enum_type()->FindValueByNumber(value) != nullptr) return absl::OkStatus();
        return absl::InvalidArgumentError(absl::StrCat(descriptor->name(), ".", name, " = ", value, ": not a known ",
                                                       field->enum_type()->name(), " value"));
      };
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(message, field); ++j) {
          CISTERN_RETURN_IF_ERROR(check(reflection->GetRepeatedEnumValue(message, field, j)));
        }
      } else {
        CISTERN_RETURN_IF_ERROR(check(reflection->GetEnumValue(message, field)));
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_map() &&
               MayContainEnums(field->message_type())) {
      if (field->is_repeated()) {
        for (int j = 0; j < reflection->FieldSize(message, field); ++j) {
          CISTERN_RETURN_IF_ERROR(CheckEnumsKnownAt(reflection->GetRepeatedMessage(message, field, j), name));
        }
      } else if (reflection->HasField(message, field)) {
        CISTERN_RETURN_IF_ERROR(CheckEnumsKnownAt(reflection->GetMessage(message, field), name));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckEnumsKnown(const Message& message) { return CheckEnumsKnownAt(message, ""); }

absl::Status CheckPrincipalName(std::string_view field, std::string_view name) {
  return security::CheckPrincipalName(field, name);
}

// ---------------------------------------------------------------------------------------------
// FileSystemMaster

absl::Status ValidateRequest(const proto::GetStatusRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  return CheckSyncInterval(r, r.has_sync_interval_ms(), r.sync_interval_ms());
}

absl::Status ValidateRequest(const proto::ListStatusRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  CISTERN_RETURN_IF_ERROR(CheckRange(r, "page_size", r.page_size(), 0, INT32_MAX));
  return CheckSyncInterval(r, r.has_sync_interval_ms(), r.sync_interval_ms());
}

absl::Status ValidateRequest(const proto::CreateDirectoryRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  CISTERN_RETURN_IF_ERROR(CheckMode(r, "mode", r.mode()));
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::CreateFileRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  CISTERN_RETURN_IF_ERROR(CheckRange(r, "block_size_bytes", r.block_size_bytes(), 0, kMaxBlockSizeBytes));
  CISTERN_RETURN_IF_ERROR(CheckMode(r, "mode", r.mode()));
  CISTERN_RETURN_IF_ERROR(CheckEnumsKnown(r));
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::CompleteFileRequest& r) {
  if (r.file_id() == 0) return Invalid(r, "file_id", "0", "not a file id");
  // The block index of a block id has kBlockIndexBits bits, so no file holds more.
  CISTERN_RETURN_IF_ERROR(
      CheckRange(r, "length", r.length(), 0, kMaxBlockSizeBytes * static_cast<int64_t>(kMaxBlocksPerFile)));
  if (r.has_ufs_fingerprint()) {
    CISTERN_RETURN_IF_ERROR(CheckRange(r, "ufs_fingerprint.length", r.ufs_fingerprint().length(), 0, INT64_MAX));
    CISTERN_RETURN_IF_ERROR(CheckLength(r, "ufs_fingerprint.etag", r.ufs_fingerprint().etag(), kMaxTagBytes));
  }
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::DeleteRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::RenameRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "src_path", r.src_path()));
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "dst_path", r.dst_path()));
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::GetMountTableRequest&) { return absl::OkStatus(); }

absl::Status ValidateRequest(const proto::SetAttributeRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  if (r.has_mode()) CISTERN_RETURN_IF_ERROR(CheckMode(r, "mode", r.mode()));
  if (r.has_owner()) CISTERN_RETURN_IF_ERROR(CheckPrincipalName("SetAttributeRequest.owner", r.owner()));
  if (r.has_group()) CISTERN_RETURN_IF_ERROR(CheckPrincipalName("SetAttributeRequest.group", r.group()));
  if (r.has_ttl_ms()) CISTERN_RETURN_IF_ERROR(CheckRange(r, "ttl_ms", r.ttl_ms(), 0, INT64_MAX / 2));
  if (r.has_replication_min()) {
    CISTERN_RETURN_IF_ERROR(CheckRange(r, "replication_min", r.replication_min(), 0, kMaxReplication));
  }
  if (r.has_replication_max()) {
    CISTERN_RETURN_IF_ERROR(CheckRange(r, "replication_max", r.replication_max(), 0, kMaxReplication));
  }
  if (r.has_replication_min() && r.has_replication_max() && r.replication_max() != 0 &&
      r.replication_max() < r.replication_min()) {
    return Invalid(r, "replication_max", absl::StrCat(r.replication_max()),
                   absl::StrCat("below replication_min ", r.replication_min(), " (0 = unlimited)"));
  }
  CISTERN_RETURN_IF_ERROR(CheckEnumsKnown(r));
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::ExistsRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  return CheckSyncInterval(r, r.has_sync_interval_ms(), r.sync_interval_ms());
}

absl::Status ValidateRequest(const proto::FreeRequest& r) { return CheckPath(r, "path", r.path()); }

absl::Status ValidateRequest(const proto::PersistRequest& r) { return CheckPath(r, "path", r.path()); }

absl::Status ValidateRequest(const proto::MountRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  CISTERN_RETURN_IF_ERROR(CheckLength(r, "ufs_uri", r.ufs_uri(), kMaxUriBytes, /*required=*/true));
  if (r.options_size() > kMaxMountOptions) {
    return Invalid(r, "options", absl::StrCat(r.options_size(), " entries"), absl::StrCat("at most ", kMaxMountOptions));
  }
  for (const auto& [key, value] : r.options()) {
    CISTERN_RETURN_IF_ERROR(CheckLength(r, "options key", key, security::kMaxPrincipalBytes, /*required=*/true));
    CISTERN_RETURN_IF_ERROR(CheckLength(r, absl::StrCat("options[", key, "]"), value, kMaxMountOptionBytes));
  }
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::UnmountRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckPath(r, "path", r.path()));
  return CheckOperationId(r, r.operation_id());
}

absl::Status ValidateRequest(const proto::SyncMetadataRequest& r) { return CheckPath(r, "path", r.path()); }

// ---------------------------------------------------------------------------------------------
// BlockMaster, MetaMaster

namespace {

absl::Status CheckAddress(const Message& message, const proto::NetAddress& address) {
  CISTERN_RETURN_IF_ERROR(CheckLength(message, "address.host", address.host(), kMaxHostBytes, /*required=*/true));
  return CheckRange(message, "address.rpc_port", address.rpc_port(), 1, 65535);
}

}  // namespace

absl::Status ValidateRequest(const proto::RegisterWorkerRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckAddress(r, r.address()));
  CISTERN_RETURN_IF_ERROR(CheckTiers(r, r.tiers()));
  for (const proto::CachedBlock& block : r.blocks()) CISTERN_RETURN_IF_ERROR(CheckBlock(r, "blocks", block));
  return absl::OkStatus();
}

absl::Status ValidateRequest(const proto::WorkerHeartbeatRequest& r) {
  if (r.worker_id() == 0) return Invalid(r, "worker_id", "0", "not a worker id (register first)");
  CISTERN_RETURN_IF_ERROR(CheckTiers(r, r.tiers()));
  for (const proto::CachedBlock& block : r.added_blocks()) {
    CISTERN_RETURN_IF_ERROR(CheckBlock(r, "added_blocks", block));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const proto::CommitBlockRequest& r) {
  if (r.worker_id() == 0) return Invalid(r, "worker_id", "0", "not a worker id (register first)");
  CISTERN_RETURN_IF_ERROR(CheckTiers(r, r.tiers()));
  return CheckBlock(r, "block", r.block());
}

absl::Status ValidateRequest(const proto::GetWorkerInfoListRequest&) { return absl::OkStatus(); }
absl::Status ValidateRequest(const proto::GetMasterInfoRequest&) { return absl::OkStatus(); }

// ---------------------------------------------------------------------------------------------
// BlockWorker

absl::Status CheckUfsSource(const Message& r, std::string_view field, const proto::UfsBlockSource& ufs) {
  CISTERN_RETURN_IF_ERROR(CheckLength(r, absl::StrCat(AV(field), ".ufs_path"), ufs.ufs_path(), kMaxUriBytes,
                                      /*required=*/true));
  CISTERN_RETURN_IF_ERROR(CheckRange(r, absl::StrCat(AV(field), ".offset_in_file"), ufs.offset_in_file(), 0, INT64_MAX / 2));
  return CheckRange(r, absl::StrCat(AV(field), ".block_length"), ufs.block_length(), 1, kMaxBlockSizeBytes);
}

// ReadBlockRequest.read_ahead and CacheBlockRequest.read_ahead: bounded, each a block with a source.
absl::Status CheckReadAhead(const Message& r, const google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>& blocks) {
  if (blocks.size() > kMaxReadAheadBlocksPerCall) {
    return Invalid(r, "read_ahead", absl::StrCat(blocks.size(), " entries"),
                   absl::StrCat("at most ", kMaxReadAheadBlocksPerCall));
  }
  for (const proto::ReadAheadBlock& block : blocks) {
    if (block.block_id() == 0) return Invalid(r, "read_ahead.block_id", "0", "not a block id");
    if (!block.has_ufs()) {
      return Invalid(r, "read_ahead.ufs", absl::StrCat("absent (block ", block.block_id(), ")"),
                     "a read-ahead block needs its under-store source");
    }
    CISTERN_RETURN_IF_ERROR(CheckUfsSource(r, "read_ahead.ufs", block.ufs()));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const proto::ReadBlockRequest& r) {
  if (r.block_id() == 0) return Invalid(r, "block_id", "0", "not a block id");
  CISTERN_RETURN_IF_ERROR(CheckRange(r, "offset", r.offset(), 0, kMaxBlockSizeBytes));
  CISTERN_RETURN_IF_ERROR(CheckRange(r, "length", r.length(), -1, kMaxBlockSizeBytes));
  CISTERN_RETURN_IF_ERROR(CheckRange(r, "chunk_size_bytes", r.chunk_size_bytes(), 0, INT32_MAX));
  if (r.has_ufs()) CISTERN_RETURN_IF_ERROR(CheckUfsSource(r, "ufs", r.ufs()));
  CISTERN_RETURN_IF_ERROR(CheckReadAhead(r, r.read_ahead()));
  return CheckEnumsKnown(r);
}

absl::Status ValidateRequest(const proto::OpenLocalBlockRequest& r) {
  if (r.block_id() == 0) return Invalid(r, "block_id", "0", "not a block id");
  if (r.also_block_ids_size() > kMaxLocalBlockLeasesPerCall) {
    return Invalid(r, "also_block_ids", absl::StrCat(r.also_block_ids_size(), " entries"),
                   absl::StrCat("at most ", kMaxLocalBlockLeasesPerCall));
  }
  for (uint64_t id : r.also_block_ids()) {
    if (id == 0) return Invalid(r, "also_block_ids", "0", "not a block id");
  }
  if (r.releases_size() > kMaxLocalBlockReleasesPerCall) {
    return Invalid(r, "releases", absl::StrCat(r.releases_size(), " entries"),
                   absl::StrCat("at most ", kMaxLocalBlockReleasesPerCall));
  }
  for (const proto::ReleaseLocalBlockRequest& release : r.releases()) {
    CISTERN_RETURN_IF_ERROR(CheckRange(r, "releases.bytes_read", release.bytes_read(), 0, INT64_MAX));
    if (release.more_size() > 0) return Invalid(r, "releases.more", absl::StrCat(release.more_size(), " entries"), "must be empty");
  }
  return CheckEnumsKnown(r);
}

absl::Status ValidateRequest(const proto::ReleaseLocalBlockRequest& r) {
  CISTERN_RETURN_IF_ERROR(CheckRange(r, "bytes_read", r.bytes_read(), 0, INT64_MAX));
  if (r.more_size() > kMaxLocalBlockReleasesPerCall) {
    return Invalid(r, "more", absl::StrCat(r.more_size(), " entries"), absl::StrCat("at most ", kMaxLocalBlockReleasesPerCall));
  }
  for (const proto::ReleaseLocalBlockRequest& release : r.more()) {
    CISTERN_RETURN_IF_ERROR(CheckRange(r, "more.bytes_read", release.bytes_read(), 0, INT64_MAX));
    if (release.more_size() > 0) return Invalid(r, "more.more", absl::StrCat(release.more_size(), " entries"), "must be empty");
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const proto::CacheBlockRequest& r) {
  if (r.block_id() == 0) return Invalid(r, "block_id", "0", "not a block id");
  CISTERN_RETURN_IF_ERROR(CheckUfsSource(r, "ufs", r.ufs()));
  CISTERN_RETURN_IF_ERROR(CheckReadAhead(r, r.read_ahead()));
  return CheckEnumsKnown(r);
}

absl::Status ValidateRequest(const proto::WriteBlockHeader& h) {
  if (h.block_id() == 0) return Invalid(h, "block_id", "0", "not a block id");
  return CheckRange(h, "length_hint", h.length_hint(), 0, kMaxBlockSizeBytes);
}

absl::Status ValidateRequest(const proto::WriteUfsFileHeader& h) {
  CISTERN_RETURN_IF_ERROR(CheckLength(h, "ufs_path", h.ufs_path(), kMaxUriBytes, /*required=*/true));
  return CheckMode(h, "mode", h.mode());
}

// ---------------------------------------------------------------------------------------------
// RaftTransportService

absl::Status ValidateRequest(const proto::RaftMessageBatch& batch) {
  for (const proto::RaftMessage& m : batch.messages()) {
    if (m.from() == 0) return Invalid(batch, "messages.from", "0", "not a Raft node id");
    if (m.to() == 0) return Invalid(batch, "messages.to", "0", "not a Raft node id");
  }
  for (const proto::RaftApplyEffects& e : batch.effects()) {
    if (e.from() == 0) return Invalid(batch, "effects.from", "0", "not a Raft node id");
    if (e.first_index() == 0 || e.last_index() < e.first_index()) {
      return Invalid(batch, "effects.first_index", absl::StrCat(e.first_index(), "..", e.last_index()),
                     "not a range of log indexes");
    }
  }
  return CheckEnumsKnown(batch);
}

}  // namespace cistern::rpc
