// MasterClient: typed calls to a cistern-master (file system, block and meta services) with a
// deadline on every call, conversion to absl::Status, and retries while the master is
// unreachable (e.g. restarting) for up to the retry window.
//
// Failover: with several masters (a Raft group) only the leader serves. A master that is not
// the leader answers UNAVAILABLE naming the leader (trailing metadata "cistern-leader"); the
// client goes there at once, and otherwise tries the next configured master, pausing briefly
// after each round through the list while there is no leader (an election), until the retry
// window closes. Mutations carry one operation id across all retries, so a mutation retried
// after a failover is applied at most once.
//
// Thread safety: thread-safe; share one instance.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/master.grpc.pb.h"
#include "cistern/proto/master.pb.h"
#include "cistern/proto/raft.grpc.pb.h"

namespace cistern::rpc {

class ChannelSecurity;

struct MasterClientOptions {
  std::vector<std::string> addresses;  // host:port of every master
  int64_t rpc_timeout_ms = 30000;
  int64_t retry_window_ms = 10000;
  // Follow leader hints and fail over across `addresses`; false sends every call to
  // addresses[0] only (admin calls addressed to one particular master).
  bool follow_leader = true;
  std::shared_ptr<const ChannelSecurity> security;  // TLS and identity; nullptr = the process default
};

// 16 bytes naming one logical mutation (see operation_id in master.proto): the time in
// microseconds (big-endian, so ids sort by creation time), then 8 random bytes.
std::string NewOperationId();

class MasterClient {
 public:
  explicit MasterClient(MasterClientOptions options);

  // File system.
  absl::StatusOr<proto::GetStatusResponse> GetStatus(const proto::GetStatusRequest& request);
  // Calls `visit` for each page of the listing as it arrives.
  absl::Status ListStatus(const proto::ListStatusRequest& request,
                          const std::function<absl::Status(const proto::ListStatusResponse&)>& visit);
  absl::StatusOr<proto::CreateDirectoryResponse> CreateDirectory(const proto::CreateDirectoryRequest& request);
  absl::StatusOr<proto::CreateFileResponse> CreateFile(const proto::CreateFileRequest& request);
  absl::StatusOr<proto::CompleteFileResponse> CompleteFile(const proto::CompleteFileRequest& request);
  absl::StatusOr<proto::DeleteResponse> Delete(const proto::DeleteRequest& request);
  absl::StatusOr<proto::RenameResponse> Rename(const proto::RenameRequest& request);
  absl::StatusOr<proto::GetMountTableResponse> GetMountTable(const proto::GetMountTableRequest& request);
  absl::StatusOr<proto::SetAttributeResponse> SetAttribute(const proto::SetAttributeRequest& request);
  absl::StatusOr<proto::ExistsResponse> Exists(const proto::ExistsRequest& request);
  absl::StatusOr<proto::FreeResponse> Free(const proto::FreeRequest& request);
  absl::StatusOr<proto::MountResponse> Mount(const proto::MountRequest& request);
  absl::StatusOr<proto::UnmountResponse> Unmount(const proto::UnmountRequest& request);
  absl::StatusOr<proto::SyncMetadataResponse> SyncMetadata(const proto::SyncMetadataRequest& request);
  absl::StatusOr<proto::PersistResponse> Persist(const proto::PersistRequest& request);

  // Block master.
  absl::StatusOr<proto::RegisterWorkerResponse> RegisterWorker(const proto::RegisterWorkerRequest& request);
  absl::StatusOr<proto::WorkerHeartbeatResponse> WorkerHeartbeat(const proto::WorkerHeartbeatRequest& request);
  absl::StatusOr<proto::CommitBlockResponse> CommitBlock(const proto::CommitBlockRequest& request);
  absl::StatusOr<proto::GetWorkerInfoListResponse> GetWorkerInfoList(const proto::GetWorkerInfoListRequest& request);

  // Meta master.
  absl::StatusOr<proto::GetMasterInfoResponse> GetMasterInfo(const proto::GetMasterInfoRequest& request);

  // Journal administration (answered by every master, leader or not).
  absl::StatusOr<proto::GetJournalInfoResponse> GetJournalInfo(const proto::GetJournalInfoRequest& request);
  absl::StatusOr<proto::CheckpointResponse> Checkpoint(const proto::CheckpointRequest& request);
  absl::StatusOr<proto::AddMasterResponse> AddMaster(const proto::AddMasterRequest& request);
  absl::StatusOr<proto::RemoveMasterResponse> RemoveMaster(const proto::RemoveMasterRequest& request);
  absl::StatusOr<proto::TransferLeadershipResponse> TransferLeadership(const proto::TransferLeadershipRequest& request);
  absl::StatusOr<proto::BackupResponse> Backup(const proto::BackupRequest& request);

  // The address calls currently go to.
  std::string current_address() const;

 private:
  // Runs `call(address)` with retries on UNAVAILABLE across addresses until the retry window
  // closes. `name` is the RPC name for error messages.
  absl::Status Invoke(const char* name, const std::function<grpc::Status(const std::string&, grpc::ClientContext*)>& call);

  std::string NextAddress(const std::string& after) const;

  const MasterClientOptions options_;
  mutable absl::Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);  // where the last call succeeded, or the leader named
};

}  // namespace cistern::rpc
