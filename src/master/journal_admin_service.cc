#include "master/journal_admin_service.h"

namespace cistern::master {

grpc::Status JournalAdminService::GetJournalInfo(grpc::ServerContext*, const proto::GetJournalInfoRequest*,
                                                 proto::GetJournalInfoResponse* response) {
  *response = journal_->Info();
  return grpc::Status::OK;
}

}  // namespace cistern::master
