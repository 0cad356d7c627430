// gRPC adapter of JournalAdmin (proto/raft.proto): journal state and administration, answered
// by every master whether it leads or not.
#pragma once

#include "cistern/proto/raft.grpc.pb.h"
#include "master/master_journal.h"

namespace cistern::master {

class JournalAdminService final : public proto::JournalAdmin::Service {
 public:
  // `journal` must outlive the service.
  explicit JournalAdminService(MasterJournal* journal) : journal_(journal) {}

  grpc::Status GetJournalInfo(grpc::ServerContext*, const proto::GetJournalInfoRequest*,
                              proto::GetJournalInfoResponse* response) override;
  grpc::Status Checkpoint(grpc::ServerContext*, const proto::CheckpointRequest*,
                          proto::CheckpointResponse* response) override;
  grpc::Status AddMaster(grpc::ServerContext*, const proto::AddMasterRequest* request,
                         proto::AddMasterResponse*) override;
  grpc::Status RemoveMaster(grpc::ServerContext*, const proto::RemoveMasterRequest* request,
                            proto::RemoveMasterResponse*) override;
  grpc::Status TransferLeadership(grpc::ServerContext*, const proto::TransferLeadershipRequest* request,
                                  proto::TransferLeadershipResponse*) override;
  grpc::Status Backup(grpc::ServerContext*, const proto::BackupRequest* request,
                      proto::BackupResponse* response) override;

 private:
  MasterJournal* const journal_;
};

}  // namespace cistern::master
