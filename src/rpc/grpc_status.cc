#include "rpc/grpc_status.h"

#include "absl/strings/str_cat.h"

namespace cistern::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view what) {
  if (status.ok()) return absl::OkStatus();
  auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = status.error_message();
  // Transport failures carry gRPC's own text; say which peer and call failed.
  if (!what.empty() && (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded)) {
    message = absl::StrCat(absl::string_view(what.data(), what.size()), ": ", message);
  }
  return absl::Status(code, message);
}

void SetLeaderHint(grpc::ServerContextBase* context, const std::string& leader_address) {
  if (!leader_address.empty()) context->AddTrailingMetadata(kLeaderMetadataKey, leader_address);
}

std::string LeaderHint(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(kLeaderMetadataKey);
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace cistern::rpc
