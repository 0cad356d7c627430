#include "master/journal_admin_service.h"

#include "rpc/grpc_status.h"

namespace cistern::master {

grpc::Status JournalAdminService::GetJournalInfo(grpc::ServerContext*, const proto::GetJournalInfoRequest*,
                                                 proto::GetJournalInfoResponse* response) {
  *response = journal_->Info();
  return grpc::Status::OK;
}

grpc::Status JournalAdminService::Checkpoint(grpc::ServerContext*, const proto::CheckpointRequest*,
                                             proto::CheckpointResponse* response) {
  absl::StatusOr<uint64_t> index = journal_->Checkpoint();
  if (!index.ok()) return rpc::ToGrpcStatus(index.status());
  response->set_snapshot_index(*index);
  return grpc::Status::OK;
}

grpc::Status JournalAdminService::AddMaster(grpc::ServerContext*, const proto::AddMasterRequest* request,
                                            proto::AddMasterResponse*) {
  return rpc::ToGrpcStatus(journal_->AddMaster(request->peer()));
}

grpc::Status JournalAdminService::RemoveMaster(grpc::ServerContext*, const proto::RemoveMasterRequest* request,
                                               proto::RemoveMasterResponse*) {
  return rpc::ToGrpcStatus(journal_->RemoveMaster(request->id()));
}

grpc::Status JournalAdminService::TransferLeadership(grpc::ServerContext*,
                                                     const proto::TransferLeadershipRequest* request,
                                                     proto::TransferLeadershipResponse*) {
  return rpc::ToGrpcStatus(journal_->TransferLeadership(request->id()));
}

grpc::Status JournalAdminService::Backup(grpc::ServerContext*, const proto::BackupRequest* request,
                                        proto::BackupResponse* response) {
  absl::StatusOr<uint64_t> index = journal_->Backup(request->dir());
  if (!index.ok()) return rpc::ToGrpcStatus(index.status());
  response->set_applied_index(*index);
  return grpc::Status::OK;
}

}  // namespace cistern::master
