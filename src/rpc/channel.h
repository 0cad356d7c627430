// gRPC channels, shared per address for the life of the process (channels are expensive and
// multiplex calls), and server-side defaults used by every daemon.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_builder.h"

namespace cistern::rpc {

// Largest gRPC message any Cistern peer sends or accepts (data chunks are far smaller).
inline constexpr int kMaxMessageBytes = 64 << 20;

// A channel to `address` ("host:port"), created on first use and reused afterwards.
std::shared_ptr<grpc::Channel> GetChannel(const std::string& address);

// Sets the deadline of `context` to now + timeout_ms.
void SetDeadline(grpc::ClientContext* context, int64_t timeout_ms);

// Applies the message-size limits and keepalive settings all Cistern servers share, and the RPC
// metrics interceptor (rpc/server_metrics.h).
void ConfigureServerBuilder(grpc::ServerBuilder* builder);

}  // namespace cistern::rpc
