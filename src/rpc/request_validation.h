// Validation of RPC request fields at the edge of every Cistern service: each request message of
// proto/master.proto, worker.proto and raft.proto has one ValidateRequest overload here, called
// by its service adapter before anything else looks at the request. A value out of range, an
// oversized string or list, or an enum value this build does not know is INVALID_ARGUMENT with a
// message naming the field and the value ("CreateFileRequest.block_size_bytes = -1: ...").
//
// What is checked here is what can be judged from the request alone; what depends on state
// (does the path exist, is the block cached) stays with the domain code. Paths are only bounded
// here; NormalizePath (common/path.h) judges their form.
//
// Thread safety: all functions are pure.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "cistern/proto/master.pb.h"
#include "cistern/proto/raft.pb.h"
#include "cistern/proto/worker.pb.h"

namespace google::protobuf {
class Message;
}

namespace cistern::rpc {

// Limits of request fields (docs/security.md, "Input validation").
inline constexpr int64_t kMaxBlockSizeBytes = int64_t{1} << 30;  // a worker fetches a block in memory
inline constexpr size_t kMaxPathBytes = 4096;                     // common/path.h kMaxPathLength
inline constexpr size_t kMaxUriBytes = 8192;                      // an under-store URI
inline constexpr size_t kMaxOperationIdBytes = 64;                // clients send 16
inline constexpr size_t kMaxHostBytes = 255;
inline constexpr size_t kMaxTagBytes = 1024;                      // etags, tier aliases
inline constexpr int kMaxMountOptions = 64;
inline constexpr size_t kMaxMountOptionBytes = 8192;
inline constexpr int kMaxTiers = 16;
inline constexpr int32_t kMaxReplication = 1 << 16;
inline constexpr int kMaxLocalBlockLeasesPerCall = 64;         // OpenLocalBlockRequest.also_block_ids
inline constexpr int kMaxReadAheadBlocksPerCall = 64;          // ReadBlockRequest/CacheBlockRequest.read_ahead
inline constexpr int kMaxLocalBlockReleasesPerCall = 256;      // releases batched into one call
inline constexpr uint32_t kMaxModeBits = 07777;  // permission bits, setuid/setgid/sticky

// INVALID_ARGUMENT if any enum field of `message`, at any depth, holds a number its enum does
// not define (proto3 keeps unknown numbers instead of rejecting them).
absl::Status CheckEnumsKnown(const google::protobuf::Message& message);

// A user or group name (security::CheckPrincipalName).
absl::Status CheckPrincipalName(std::string_view field, std::string_view name);

// FileSystemMaster.
absl::Status ValidateRequest(const proto::GetStatusRequest& request);
absl::Status ValidateRequest(const proto::ListStatusRequest& request);
absl::Status ValidateRequest(const proto::CreateDirectoryRequest& request);
absl::Status ValidateRequest(const proto::CreateFileRequest& request);
absl::Status ValidateRequest(const proto::CompleteFileRequest& request);
absl::Status ValidateRequest(const proto::DeleteRequest& request);
absl::Status ValidateRequest(const proto::RenameRequest& request);
absl::Status ValidateRequest(const proto::GetMountTableRequest& request);
absl::Status ValidateRequest(const proto::SetAttributeRequest& request);
absl::Status ValidateRequest(const proto::ExistsRequest& request);
absl::Status ValidateRequest(const proto::FreeRequest& request);
absl::Status ValidateRequest(const proto::PersistRequest& request);
absl::Status ValidateRequest(const proto::MountRequest& request);
absl::Status ValidateRequest(const proto::UnmountRequest& request);
absl::Status ValidateRequest(const proto::SyncMetadataRequest& request);

// BlockMaster and MetaMaster.
absl::Status ValidateRequest(const proto::RegisterWorkerRequest& request);
absl::Status ValidateRequest(const proto::WorkerHeartbeatRequest& request);
absl::Status ValidateRequest(const proto::CommitBlockRequest& request);
absl::Status ValidateRequest(const proto::GetWorkerInfoListRequest& request);
absl::Status ValidateRequest(const proto::GetMasterInfoRequest& request);

// BlockWorker: the first message of each call (the rest of a stream is data).
absl::Status ValidateRequest(const proto::ReadBlockRequest& request);
absl::Status ValidateRequest(const proto::WriteBlockHeader& header);
absl::Status ValidateRequest(const proto::WriteUfsFileHeader& header);
absl::Status ValidateRequest(const proto::OpenLocalBlockRequest& request);
absl::Status ValidateRequest(const proto::ReleaseLocalBlockRequest& request);
absl::Status ValidateRequest(const proto::CacheBlockRequest& request);

// RaftTransportService.
absl::Status ValidateRequest(const proto::RaftMessageBatch& batch);

}  // namespace cistern::rpc
