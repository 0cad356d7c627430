#include "rpc/audit_interceptor.h"

#include <functional>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "cistern/proto/master.pb.h"
#include "grpcpp/support/server_interceptor.h"
#include "rpc/grpc_status.h"
#include "rpc/transport_security.h"
#include "security/audit_log.h"

namespace cistern::rpc {
namespace {

constexpr std::string_view kService = "/cistern.proto.FileSystemMaster/";

// The paths a request names: (path, destination).
using PathsFn = std::function<std::pair<std::string, std::string>(const void* request)>;

template <typename Request>
PathsFn PathsOf() {
  return [](const void* message) -> std::pair<std::string, std::string> {
    const auto* request = static_cast<const Request*>(message);
    if constexpr (requires { request->src_path(); }) {
      return {request->src_path(), request->dst_path()};
    } else if constexpr (requires { request->path(); }) {
      return {request->path(), ""};
    } else if constexpr (requires { request->file_id(); }) {
      return {"file id " + std::to_string(request->file_id()), ""};
    } else {
      return {"", ""};
    }
  };
}

const std::map<std::string, PathsFn, std::less<>>& Methods() {
  static const auto* methods = new std::map<std::string, PathsFn, std::less<>>{
      {"GetStatus", PathsOf<proto::GetStatusRequest>()},
      {"ListStatus", PathsOf<proto::ListStatusRequest>()},
      {"CreateDirectory", PathsOf<proto::CreateDirectoryRequest>()},
      {"CreateFile", PathsOf<proto::CreateFileRequest>()},
      {"CompleteFile", PathsOf<proto::CompleteFileRequest>()},
      {"Delete", PathsOf<proto::DeleteRequest>()},
      {"Rename", PathsOf<proto::RenameRequest>()},
      {"GetMountTable", PathsOf<proto::GetMountTableRequest>()},
      {"SetAttribute", PathsOf<proto::SetAttributeRequest>()},
      {"Exists", PathsOf<proto::ExistsRequest>()},
      {"Free", PathsOf<proto::FreeRequest>()},
      {"Mount", PathsOf<proto::MountRequest>()},
      {"Unmount", PathsOf<proto::UnmountRequest>()},
      {"SyncMetadata", PathsOf<proto::SyncMetadataRequest>()},
  };
  return *methods;
}

class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(grpc::experimental::ServerRpcInfo* info, security::AuditLog* log, std::string method,
                   const PathsFn* paths)
      : info_(info), log_(log), method_(std::move(method)), paths_(paths) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) && paths_ != nullptr &&
        !have_request_ && methods->GetRecvMessage() != nullptr) {
      std::tie(path_, dst_) = (*paths_)(methods->GetRecvMessage());
      have_request_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      log_->Record(CallerOf(*info_->server_context()), method_, path_, dst_, FromGrpcStatus(status));
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  security::AuditLog* const log_;
  const std::string method_;
  const PathsFn* const paths_;
  bool have_request_ = false;
  std::string path_;
  std::string dst_;
};

class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuditInterceptorFactory(security::AuditLog* log) : log_(log) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    const std::string_view full = info->method() != nullptr ? info->method() : "";
    if (!full.starts_with(kService)) return nullptr;
    const std::string method(full.substr(kService.size()));
    auto it = Methods().find(method);
    return new AuditInterceptor(info, log_, method, it == Methods().end() ? nullptr : &it->second);
  }

 private:
  security::AuditLog* const log_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewAuditInterceptorFactory(
    security::AuditLog* log) {
  return std::make_unique<AuditInterceptorFactory>(log);
}

}  // namespace cistern::rpc
