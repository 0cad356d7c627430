#include "master/master_service.h"

#include "common/version.h"
#include "rpc/grpc_status.h"

namespace cistern::master {

using rpc::ToGrpcStatus;

grpc::ServerUnaryReactor* FileSystemMasterService::GetStatus(grpc::CallbackServerContext* context,
                                                             const proto::GetStatusRequest* request,
                                                             proto::GetStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto info = fs_->GetStatus(*request);
  if (info.ok()) *response->mutable_info() = *std::move(info);
  reactor->Finish(ToGrpcStatus(info.status()));
  return reactor;
}

grpc::Status FileSystemMasterService::ListStatus(grpc::ServerContext* context, const proto::ListStatusRequest* request,
                                                 grpc::ServerWriter<proto::ListStatusResponse>* writer) {
  return ToGrpcStatus(fs_->ListStatus(*request, [&](const proto::ListStatusResponse& page) -> absl::Status {
    if (context->IsCancelled()) return absl::CancelledError("listing cancelled by the client");
    if (!writer->Write(page)) return absl::CancelledError("client went away during the listing");
    return absl::OkStatus();
  }));
}

grpc::Status FileSystemMasterService::CreateDirectory(grpc::ServerContext*, const proto::CreateDirectoryRequest* request,
                                                      proto::CreateDirectoryResponse* response) {
  auto info = fs_->CreateDirectory(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::CreateFile(grpc::ServerContext*, const proto::CreateFileRequest* request,
                                                 proto::CreateFileResponse* response) {
  auto info = fs_->CreateFile(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::CompleteFile(grpc::ServerContext*, const proto::CompleteFileRequest* request,
                                                   proto::CompleteFileResponse* response) {
  auto info = fs_->CompleteFile(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::Delete(grpc::ServerContext*, const proto::DeleteRequest* request,
                                             proto::DeleteResponse*) {
  return ToGrpcStatus(fs_->Delete(*request));
}

grpc::Status FileSystemMasterService::Rename(grpc::ServerContext*, const proto::RenameRequest* request,
                                             proto::RenameResponse*) {
  return ToGrpcStatus(fs_->Rename(*request));
}

grpc::Status FileSystemMasterService::GetMountTable(grpc::ServerContext*, const proto::GetMountTableRequest*,
                                                    proto::GetMountTableResponse* response) {
  for (auto& mount : fs_->GetMountTable()) *response->add_mounts() = std::move(mount);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::SetAttribute(grpc::ServerContext*, const proto::SetAttributeRequest* request,
                                                   proto::SetAttributeResponse* response) {
  auto info = fs_->SetAttribute(*request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_info() = *std::move(info);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* FileSystemMasterService::Exists(grpc::CallbackServerContext* context,
                                                          const proto::ExistsRequest* request,
                                                          proto::ExistsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto exists = fs_->Exists(*request);
  if (exists.ok()) response->set_exists(*exists);
  reactor->Finish(ToGrpcStatus(exists.status()));
  return reactor;
}

grpc::Status FileSystemMasterService::Free(grpc::ServerContext*, const proto::FreeRequest* request,
                                           proto::FreeResponse* response) {
  auto freed = fs_->Free(*request);
  if (!freed.ok()) return ToGrpcStatus(freed.status());
  *response = *std::move(freed);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::Mount(grpc::ServerContext*, const proto::MountRequest* request,
                                            proto::MountResponse*) {
  return ToGrpcStatus(fs_->Mount(*request));
}

grpc::Status FileSystemMasterService::Unmount(grpc::ServerContext*, const proto::UnmountRequest* request,
                                              proto::UnmountResponse*) {
  return ToGrpcStatus(fs_->Unmount(*request));
}

grpc::Status FileSystemMasterService::SyncMetadata(grpc::ServerContext*, const proto::SyncMetadataRequest* request,
                                                   proto::SyncMetadataResponse* response) {
  auto synced = fs_->SyncMetadata(*request);
  if (!synced.ok()) return ToGrpcStatus(synced.status());
  *response = *std::move(synced);
  return grpc::Status::OK;
}

grpc::Status FileSystemMasterService::Persist(grpc::ServerContext*, const proto::PersistRequest* request,
                                              proto::PersistResponse* response) {
  auto scheduled = fs_->Persist(*request);
  if (!scheduled.ok()) return ToGrpcStatus(scheduled.status());
  *response = *std::move(scheduled);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::RegisterWorker(grpc::ServerContext*, const proto::RegisterWorkerRequest* request,
                                                proto::RegisterWorkerResponse* response) {
  auto id = blocks_->RegisterWorker(*request);
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_worker_id(*id);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::WorkerHeartbeat(grpc::ServerContext*, const proto::WorkerHeartbeatRequest* request,
                                                 proto::WorkerHeartbeatResponse* response) {
  *response = blocks_->Heartbeat(*request);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::CommitBlock(grpc::ServerContext*, const proto::CommitBlockRequest* request,
                                             proto::CommitBlockResponse*) {
  return ToGrpcStatus(blocks_->CommitBlock(request->worker_id(), request->block()));
}

grpc::Status BlockMasterService::GetWorkerInfoList(grpc::ServerContext*, const proto::GetWorkerInfoListRequest*,
                                                   proto::GetWorkerInfoListResponse* response) {
  for (auto& worker : blocks_->GetWorkers()) *response->add_workers() = std::move(worker);
  return grpc::Status::OK;
}

grpc::Status MetaMasterService::GetMasterInfo(grpc::ServerContext*, const proto::GetMasterInfoRequest*,
                                              proto::GetMasterInfoResponse* response) {
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
