// Conversions between absl::Status and grpc::Status, done once at the RPC edge. The numeric
// codes are the same in both; messages travel unchanged.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace cistern::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);
// `what` names the call for the message, e.g. "master localhost:7700 GetStatus".
absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view what = {});

// A master that is not the Raft leader answers UNAVAILABLE and names the leader's client address
// ("host:port") in this trailing metadata key, so clients go there at once.
inline constexpr char kLeaderMetadataKey[] = "cistern-leader";
void SetLeaderHint(grpc::ServerContextBase* context, const std::string& leader_address);
// The leader address a failed call's server named, or "".
std::string LeaderHint(const grpc::ClientContext& context);

}  // namespace cistern::rpc
