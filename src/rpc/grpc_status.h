// Conversions between absl::Status and grpc::Status, done once at the RPC edge. The numeric
// codes are the same in both; messages travel unchanged.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace cistern::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);
// `what` names the call for the message, e.g. "master localhost:7700 GetStatus".
absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view what = {});

}  // namespace cistern::rpc
