#include "master/master_service.h"

#include "common/version.h"
#include "rpc/grpc_status.h"

namespace cistern::master {

using rpc::ToGrpcStatus;

namespace {

// UNAVAILABLE, naming the leader in the reply's trailing metadata, unless this master serves.
grpc::Status Gate(const ServingGate* gate, grpc::ServerContextBase* context) {
  if (gate == nullptr) return grpc::Status::OK;
  std::string leader;
  absl::Status serving = gate->CheckServing(&leader);
  if (serving.ok()) return grpc::Status::OK;
  rpc::SetLeaderHint(context, leader);
  return ToGrpcStatus(serving);
}

}  // namespace

#define CISTERN_SERVE_IF_LEADER(context)                                       \
  do {                                                                         \
    if (grpc::Status _gate = Gate(gate_, (context)); !_gate.ok()) return _gate; \
  } while (0)

#define CISTERN_SERVE_IF_LEADER_REACTOR(context, reactor)                 \
  do {                                                                    \
    if (grpc::Status _gate = Gate(gate_, (context)); !_gate.ok()) {       \
      (reactor)->Finish(_gate);                                           \
      return (reactor);                                                   \
    }                                                                     \
  } while (0)

grpc::ServerUnaryReactor* FileSystemMasterService::GetStatus(grpc::CallbackServerContext* context,
                                                             const proto::GetStatusRequest* request,
                                                             proto::GetStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CISTERN_SERVE_IF_LEADER_REACTOR(context, reactor);
  auto info = fs_->GetStatus(*request);
  if (info.ok()) *response->mutable_info() = *std::move(info);
  reactor->Finish(ToGrpcStatus(info.status()));
  return reactor;
}

grpc::Status FileSystemMasterService::ListStatus(grpc::ServerContext* context, const proto::ListStatusRequest* request,
                                                 grpc::ServerWriter<proto::ListStatusResponse>* writer) {
  CISTERN_SERVE_IF_LEADER(context);
  return ToGrpcStatus(fs_->ListStatus(*request, [&](const proto::ListStatusResponse& page) -> absl::Status {
    if (context->IsCancelled()) return absl::CancelledError("listing cancelled by the client");
    if (!writer->Write(page)) return absl::CancelledError("client went away during the listing");
    return absl::OkStatus();
  }));
}

grpc::Status FileSystemMasterService::CreateDirectory(grpc::ServerContext* context, const proto::CreateDirectoryRequest* request,
                                                      proto::CreateDirectoryResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto info = fs_->CreateDirectory(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::CreateFile(grpc::ServerContext* context, const proto::CreateFileRequest* request,
                                                 proto::CreateFileResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto info = fs_->CreateFile(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::CompleteFile(grpc::ServerContext* context, const proto::CompleteFileRequest* request,
                                                   proto::CompleteFileResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto info = fs_->CompleteFile(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::Delete(grpc::ServerContext* context, const proto::DeleteRequest* request,
                                             proto::DeleteResponse*) {
  CISTERN_SERVE_IF_LEADER(context);
  return ToGrpcStatus(fs_->Delete(*request));
}

grpc::Status FileSystemMasterService::Rename(grpc::ServerContext* context, const proto::RenameRequest* request,
                                             proto::RenameResponse*) {
  CISTERN_SERVE_IF_LEADER(context);
  return ToGrpcStatus(fs_->Rename(*request));
}

grpc::Status FileSystemMasterService::GetMountTable(grpc::ServerContext* context, const proto::GetMountTableRequest*,
                                                    proto::GetMountTableResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  for (auto& mount : fs_->GetMountTable()) *response->add_mounts() = std::move(mount);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::SetAttribute(grpc::ServerContext* context, const proto::SetAttributeRequest* request,
                                                   proto::SetAttributeResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto info = fs_->SetAttribute(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* FileSystemMasterService::Exists(grpc::CallbackServerContext* context,
                                                          const proto::ExistsRequest* request,
                                                          proto::ExistsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CISTERN_SERVE_IF_LEADER_REACTOR(context, reactor);
  auto exists = fs_->Exists(*request);
  if (exists.ok()) response->set_exists(*exists);
  reactor->Finish(ToGrpcStatus(exists.status()));
  return reactor;
}

grpc::Status FileSystemMasterService::Free(grpc::ServerContext* context, const proto::FreeRequest* request,
                                           proto::FreeResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto freed = fs_->Free(*request);
  if (!freed.ok()) return ToGrpcStatus(freed.status());
  *response = *std::move(freed);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::Mount(grpc::ServerContext* context, const proto::MountRequest* request,
                                            proto::MountResponse*) {
  CISTERN_SERVE_IF_LEADER(context);
  return ToGrpcStatus(fs_->Mount(*request));
}

grpc::Status FileSystemMasterService::Unmount(grpc::ServerContext* context, const proto::UnmountRequest* request,
                                              proto::UnmountResponse*) {
  CISTERN_SERVE_IF_LEADER(context);
  return ToGrpcStatus(fs_->Unmount(*request));
}

grpc::Status FileSystemMasterService::SyncMetadata(grpc::ServerContext* context, const proto::SyncMetadataRequest* request,
                                                   proto::SyncMetadataResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto synced = fs_->SyncMetadata(*request);
  if (!synced.ok()) return ToGrpcStatus(synced.status());
  *response = *std::move(synced);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::RegisterWorker(grpc::ServerContext* context, const proto::RegisterWorkerRequest* request,
                                                proto::RegisterWorkerResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  auto id = blocks_->RegisterWorker(*request);
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_worker_id(*id);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::WorkerHeartbeat(grpc::ServerContext* context, const proto::WorkerHeartbeatRequest* request,
                                                 proto::WorkerHeartbeatResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  *response = blocks_->Heartbeat(*request);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::CommitBlock(grpc::ServerContext* context, const proto::CommitBlockRequest* request,
                                             proto::CommitBlockResponse*) {
  CISTERN_SERVE_IF_LEADER(context);
  return ToGrpcStatus(blocks_->CommitBlock(request->worker_id(), request->block()));
}

grpc::Status BlockMasterService::GetWorkerInfoList(grpc::ServerContext* context, const proto::GetWorkerInfoListRequest*,
                                                   proto::GetWorkerInfoListResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  for (auto& worker : blocks_->GetWorkers()) *response->add_workers() = std::move(worker);
  return grpc::Status::OK;
}

grpc::Status MetaMasterService::GetMasterInfo(grpc::ServerContext* context, const proto::GetMasterInfoRequest*,
                                              proto::GetMasterInfoResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  response->set_version(kVersion);
  response->set_cluster_id(identity_.cluster_id);
  *response->mutable_address() = identity_.address;
  response->set_start_time_ms(identity_.start_time_ms);
  response->set_applied_index(journal_->applied_index());
  response->set_inode_count(store_->kv()->ApproximateCount(kInodesCf));
  for (auto& mount : fs_->GetMountTable()) *response->add_mounts() = std::move(mount);
  return grpc::Status::OK;
}

}  // namespace cistern::master
