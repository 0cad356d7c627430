// gRPC adapters of the master's services: they translate between protos and the domain objects
// (FileSystemMaster, BlockMaster) and between absl::Status and grpc::Status. No logic lives here.
#pragma once

#include <cstdint>
#include <string>

#include "cistern/proto/master.grpc.pb.h"
#include "master/block_master.h"
#include "master/file_system_master.h"
#include "master/namespace_store.h"
#include "journal/journal.h"

namespace cistern::master {

// The hot read paths (GetStatus, Exists) use gRPC's callback API: they are answered on gRPC's own
// threads without a hand-off to a synchronous worker thread, which on a small machine is most of
// the cost of a metadata read.
using FileSystemMasterBase = proto::FileSystemMaster::WithCallbackMethod_GetStatus<
    proto::FileSystemMaster::WithCallbackMethod_Exists<proto::FileSystemMaster::Service>>;

class FileSystemMasterService final : public FileSystemMasterBase {
 public:
  explicit FileSystemMasterService(FileSystemMaster* fs) : fs_(fs) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext*, const proto::GetStatusRequest*,
                                      proto::GetStatusResponse*) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext*, const proto::ExistsRequest*,
                                   proto::ExistsResponse*) override;
  grpc::Status ListStatus(grpc::ServerContext*, const proto::ListStatusRequest*,
                          grpc::ServerWriter<proto::ListStatusResponse>*) override;
  grpc::Status CreateDirectory(grpc::ServerContext*, const proto::CreateDirectoryRequest*,
                               proto::CreateDirectoryResponse*) override;
  grpc::Status CreateFile(grpc::ServerContext*, const proto::CreateFileRequest*, proto::CreateFileResponse*) override;
  grpc::Status CompleteFile(grpc::ServerContext*, const proto::CompleteFileRequest*,
                            proto::CompleteFileResponse*) override;
  grpc::Status Delete(grpc::ServerContext*, const proto::DeleteRequest*, proto::DeleteResponse*) override;
  grpc::Status Rename(grpc::ServerContext*, const proto::RenameRequest*, proto::RenameResponse*) override;
  grpc::Status GetMountTable(grpc::ServerContext*, const proto::GetMountTableRequest*,
                             proto::GetMountTableResponse*) override;
  grpc::Status SetAttribute(grpc::ServerContext*, const proto::SetAttributeRequest*,
                            proto::SetAttributeResponse*) override;
  grpc::Status Free(grpc::ServerContext*, const proto::FreeRequest*, proto::FreeResponse*) override;
  grpc::Status Mount(grpc::ServerContext*, const proto::MountRequest*, proto::MountResponse*) override;
  grpc::Status Unmount(grpc::ServerContext*, const proto::UnmountRequest*, proto::UnmountResponse*) override;
  grpc::Status SyncMetadata(grpc::ServerContext*, const proto::SyncMetadataRequest*,
                            proto::SyncMetadataResponse*) override;
  grpc::Status Persist(grpc::ServerContext*, const proto::PersistRequest*, proto::PersistResponse*) override;

 private:
  FileSystemMaster* const fs_;
};

class BlockMasterService final : public proto::BlockMaster::Service {
 public:
  explicit BlockMasterService(BlockMaster* blocks) : blocks_(blocks) {}

  grpc::Status RegisterWorker(grpc::ServerContext*, const proto::RegisterWorkerRequest*,
                              proto::RegisterWorkerResponse*) override;
  grpc::Status WorkerHeartbeat(grpc::ServerContext*, const proto::WorkerHeartbeatRequest*,
                               proto::WorkerHeartbeatResponse*) override;
  grpc::Status CommitBlock(grpc::ServerContext*, const proto::CommitBlockRequest*, proto::CommitBlockResponse*) override;
  grpc::Status GetWorkerInfoList(grpc::ServerContext*, const proto::GetWorkerInfoListRequest*,
                                 proto::GetWorkerInfoListResponse*) override;

 private:
  BlockMaster* const blocks_;
};

struct MasterIdentity {
  std::string cluster_id;
  proto::NetAddress address;
  int64_t start_time_ms = 0;
};

class MetaMasterService final : public proto::MetaMaster::Service {
 public:
  // All pointers must outlive the service.
  MetaMasterService(MasterIdentity identity, const NamespaceStore* store, const journal::Journal* journal,
                    const FileSystemMaster* fs)
      : identity_(std::move(identity)), store_(store), journal_(journal), fs_(fs) {}

  grpc::Status GetMasterInfo(grpc::ServerContext*, const proto::GetMasterInfoRequest*,
                             proto::GetMasterInfoResponse*) override;

 private:
  const MasterIdentity identity_;
  const NamespaceStore* const store_;
  const journal::Journal* const journal_;
  const FileSystemMaster* const fs_;
};

}  // namespace cistern::master
