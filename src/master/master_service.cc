#include "master/master_service.h"

#include <optional>

#include "common/version.h"
#include "master/metadata_sync.h"
#include "rpc/grpc_status.h"
#include "rpc/request_validation.h"
#include "rpc/transport_security.h"
#include "ufs/ufs_mounts.h"

namespace cistern::master {

using rpc::ToGrpcStatus;

namespace {

// Finishes the call with INVALID_ARGUMENT when `request` fails rpc::ValidateRequest; nullptr if
// it passes.
template <typename Request>
grpc::ServerUnaryReactor* RejectInvalid(grpc::CallbackServerContext* context, const Request& request) {
  absl::Status status = rpc::ValidateRequest(request);
  if (status.ok()) return nullptr;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::Status Overloaded() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "master overloaded: too many requests are waiting; retry later");
}

// UNAVAILABLE, naming the leader in the reply's trailing metadata, unless this master serves
// (only the Raft leader does).
grpc::Status Gate(const ServingGate* gate, grpc::ServerContextBase* context) {
  if (gate == nullptr) return grpc::Status::OK;
  std::string leader;
  absl::Status serving = gate->CheckServing(&leader);
  if (serving.ok()) return grpc::Status::OK;
  rpc::SetLeaderHint(context, leader);
  return ToGrpcStatus(serving);
}

// A listing refused before it started.
class RefusedListReactor final : public grpc::ServerWriteReactor<proto::ListStatusResponse> {
 public:
  explicit RefusedListReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// Listings (the CLI, admin reports) get no credentials; see GetMountTableRequest.with_secrets.
void RedactMountSecrets(proto::MountInfo* mount) {
  for (auto& [key, value] : *mount->mutable_options()) {
    if (ufs::IsSecretOption(key)) value = ufs::kRedacted;
  }
}

}  // namespace

#define CISTERN_SERVE_IF_LEADER(context)                                        \
  do {                                                                          \
    if (grpc::Status _gate = Gate(gate_, (context)); !_gate.ok()) return _gate; \
  } while (0)

#define CISTERN_SERVE_IF_LEADER_REACTOR(context)                  \
  do {                                                            \
    if (grpc::Status _gate = Gate(gate_, (context)); !_gate.ok()) { \
      grpc::ServerUnaryReactor* _reactor = (context)->DefaultReactor(); \
      _reactor->Finish(_gate);                                    \
      return _reactor;                                            \
    }                                                             \
  } while (0)

template <typename Handler>
grpc::ServerUnaryReactor* FileSystemMasterService::OnBlockingPool(grpc::CallbackServerContext* context,
                                                                  Handler handler) {
  CISTERN_SERVE_IF_LEADER_REACTOR(context);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!blocking_->TrySchedule([reactor, handler = std::move(handler)]() mutable { reactor->Finish(handler()); })) {
    reactor->Finish(Overloaded());
  }
  return reactor;
}

template <typename Read>
grpc::ServerUnaryReactor* FileSystemMasterService::ReadHereOrOnPool(grpc::CallbackServerContext* context, Read read) {
  CISTERN_SERVE_IF_LEADER_REACTOR(context);
  absl::Status status = read(ReadOptions{.may_block = false});
  if (IsWouldBlock(status)) {
    return OnBlockingPool(context, [read = std::move(read)]() mutable { return ToGrpcStatus(read(ReadOptions{})); });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* FileSystemMasterService::GetStatus(grpc::CallbackServerContext* context,
                                                             const proto::GetStatusRequest* request,
                                                             proto::GetStatusResponse* response) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return ReadHereOrOnPool(context, [this, request, response, caller = rpc::CallerOf(*context)](ReadOptions options) {
    auto info = fs_->GetStatus(*request, options, caller);
    if (!info.ok()) return info.status();
    *response->mutable_info() = *std::move(info);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::Exists(grpc::CallbackServerContext* context,
                                                          const proto::ExistsRequest* request,
                                                          proto::ExistsResponse* response) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return ReadHereOrOnPool(context, [this, request, response, caller = rpc::CallerOf(*context)](ReadOptions options) {
    auto exists = fs_->Exists(*request, options, caller);
    if (!exists.ok()) return exists.status();
    response->set_exists(*exists);
    return absl::OkStatus();
  });
}

// Streams a listing page by page. Each page is produced on the event thread when it needs no
// blocking, else on the blocking pool; the next page is produced only once the previous one
// was written, so a slow client holds no more than a page here.
class FileSystemMasterService::ListReactor final : public grpc::ServerWriteReactor<proto::ListStatusResponse> {
 public:
  ListReactor(FileSystemMasterService* service, const proto::ListStatusRequest* request, security::Caller caller)
      : service_(service), request_(request), caller_(std::move(caller)) {
    if (absl::Status invalid = rpc::ValidateRequest(*request); !invalid.ok()) {
      Finish(ToGrpcStatus(invalid));
      return;
    }
    Step(false);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away during the listing"));
      return;
    }
    Step(false);
  }
  void OnDone() override { delete this; }

 private:
  void Step(bool may_block) {
    const ReadOptions options{.may_block = may_block};
    absl::Status status;
    if (!cursor_.has_value()) {
      absl::StatusOr<ListingCursor> cursor = service_->fs_->StartListing(*request_, options, caller_);
      if (cursor.ok()) {
        cursor_ = *std::move(cursor);
      } else {
        status = cursor.status();
      }
    }
    if (status.ok()) status = service_->fs_->NextPage(&*cursor_, &page_, options);
    if (IsWouldBlock(status)) {
      if (!service_->blocking_->TrySchedule([this] { Step(true); })) Finish(Overloaded());
      return;
    }
    if (!status.ok()) {
      Finish(ToGrpcStatus(status));
    } else if (!cursor_->done()) {
      StartWrite(&page_);
    } else if (page_.infos_size() > 0) {
      StartWriteAndFinish(&page_, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      Finish(grpc::Status::OK);
    }
  }

  FileSystemMasterService* const service_;
  const proto::ListStatusRequest* const request_;
  const security::Caller caller_;
  std::optional<ListingCursor> cursor_;
  proto::ListStatusResponse page_;
};

grpc::ServerWriteReactor<proto::ListStatusResponse>* FileSystemMasterService::ListStatus(
    grpc::CallbackServerContext* context, const proto::ListStatusRequest* request) {
  if (grpc::Status gate = Gate(gate_, context); !gate.ok()) return new RefusedListReactor(gate);
  return new ListReactor(this, request, rpc::CallerOf(*context));
}

// A mutation returning the FileInfo it produced.
#define CISTERN_FS_INFO_MUTATION(Method)                                                                  \
  grpc::ServerUnaryReactor* FileSystemMasterService::Method(                                              \
      grpc::CallbackServerContext* context, const proto::Method##Request* request,                        \
      proto::Method##Response* response) {                                                                \
    if (auto* rejected = RejectInvalid(context, *request)) return rejected;                               \
    return OnBlockingPool(context, [this, request, response, caller = rpc::CallerOf(*context)] {          \
      auto info = fs_->Method(*request, caller);                                                          \
      if (!info.ok()) return ToGrpcStatus(info.status());                                                 \
      *response->mutable_info() = *std::move(info);                                                       \
      return grpc::Status::OK;                                                                            \
    });                                                                                                   \
  }

CISTERN_FS_INFO_MUTATION(CreateDirectory)
CISTERN_FS_INFO_MUTATION(CreateFile)
CISTERN_FS_INFO_MUTATION(CompleteFile)
CISTERN_FS_INFO_MUTATION(SetAttribute)
#undef CISTERN_FS_INFO_MUTATION

grpc::ServerUnaryReactor* FileSystemMasterService::Delete(grpc::CallbackServerContext* context,
                                                          const proto::DeleteRequest* request,
                                                          proto::DeleteResponse*) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, caller = rpc::CallerOf(*context)] {
    return ToGrpcStatus(fs_->Delete(*request, caller));
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::Rename(grpc::CallbackServerContext* context,
                                                          const proto::RenameRequest* request,
                                                          proto::RenameResponse*) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, caller = rpc::CallerOf(*context)] {
    return ToGrpcStatus(fs_->Rename(*request, caller));
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::GetMountTable(grpc::CallbackServerContext* context,
                                                                 const proto::GetMountTableRequest* request,
                                                                 proto::GetMountTableResponse* response) {
  CISTERN_SERVE_IF_LEADER_REACTOR(context);
  // Mount credentials go only to those who act with the cluster's rights: daemons and the
  // superuser (a client's direct under-store reads otherwise use its own credentials).
  const bool secrets = request->with_secrets() && fs_->permissions().checker().IsSuperuser(rpc::CallerOf(*context));
  for (auto& mount : fs_->GetMountTable()) {
    if (!secrets) RedactMountSecrets(&mount);
    *response->add_mounts() = std::move(mount);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* FileSystemMasterService::Free(grpc::CallbackServerContext* context,
                                                        const proto::FreeRequest* request,
                                                        proto::FreeResponse* response) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, response, caller = rpc::CallerOf(*context)] {
    auto freed = fs_->Free(*request, caller);
    if (!freed.ok()) return ToGrpcStatus(freed.status());
    *response = *std::move(freed);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::Mount(grpc::CallbackServerContext* context,
                                                         const proto::MountRequest* request, proto::MountResponse*) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, caller = rpc::CallerOf(*context)] {
    return ToGrpcStatus(fs_->Mount(*request, caller));
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::Unmount(grpc::CallbackServerContext* context,
                                                           const proto::UnmountRequest* request,
                                                           proto::UnmountResponse*) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, caller = rpc::CallerOf(*context)] {
    return ToGrpcStatus(fs_->Unmount(*request, caller));
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::SyncMetadata(grpc::CallbackServerContext* context,
                                                                const proto::SyncMetadataRequest* request,
                                                                proto::SyncMetadataResponse* response) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, response, caller = rpc::CallerOf(*context)] {
    auto synced = fs_->SyncMetadata(*request, caller);
    if (!synced.ok()) return ToGrpcStatus(synced.status());
    *response = *std::move(synced);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FileSystemMasterService::Persist(grpc::CallbackServerContext* context,
                                                           const proto::PersistRequest* request,
                                                           proto::PersistResponse* response) {
  if (auto* rejected = RejectInvalid(context, *request)) return rejected;
  return OnBlockingPool(context, [this, request, response, caller = rpc::CallerOf(*context)] {
    auto scheduled = fs_->Persist(*request, caller);
    if (!scheduled.ok()) return ToGrpcStatus(scheduled.status());
    *response = *std::move(scheduled);
    return grpc::Status::OK;
  });
}

grpc::Status BlockMasterService::RegisterWorker(grpc::ServerContext* context, const proto::RegisterWorkerRequest* request,
                                                proto::RegisterWorkerResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  if (absl::Status invalid = rpc::ValidateRequest(*request); !invalid.ok()) return ToGrpcStatus(invalid);
  auto id = blocks_->RegisterWorker(*request);
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_worker_id(*id);
  auto [version, mounts] = blocks_->MountTableFor(0);
  response->set_mount_table_version(version);
  for (proto::MountInfo& m : mounts) *response->add_mounts() = std::move(m);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::WorkerHeartbeat(grpc::ServerContext* context, const proto::WorkerHeartbeatRequest* request,
                                                 proto::WorkerHeartbeatResponse* response) {
  CISTERN_SERVE_IF_LEADER(context);
  if (absl::Status invalid = rpc::ValidateRequest(*request); !invalid.ok()) return ToGrpcStatus(invalid);
  *response = blocks_->Heartbeat(*request);
  return grpc::Status::OK;
}

grpc::Status BlockMasterService::CommitBlock(grpc::ServerContext* context, const proto::CommitBlockRequest* request,
                                             proto::CommitBlockResponse*) {
  CISTERN_SERVE_IF_LEADER(context);
  if (absl::Status invalid = rpc::ValidateRequest(*request); !invalid.ok()) return ToGrpcStatus(invalid);
  return ToGrpcStatus(blocks_->CommitBlock(request->worker_id(), request->block(), request->tiers()));
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
  response->mutable_address()->set_http_port(http_port_);
  response->set_start_time_ms(identity_.start_time_ms);
  response->set_applied_index(journal_->applied_index());
  response->set_inode_count(store_->kv()->ApproximateCount(kInodesCf));
  for (auto& mount : fs_->GetMountTable()) {
    RedactMountSecrets(&mount);
    *response->add_mounts() = std::move(mount);
  }
  return grpc::Status::OK;
}

}  // namespace cistern::master
