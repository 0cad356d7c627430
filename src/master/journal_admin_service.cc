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

}  // namespace cistern::master
