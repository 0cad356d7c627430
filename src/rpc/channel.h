// gRPC channels, shared per address for the life of the process (channels are expensive and
// multiplex calls), and server-side defaults used by every daemon.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"

namespace cistern::rpc {

// Largest gRPC message any Cistern peer sends or accepts (data chunks are far smaller).
inline constexpr int kMaxMessageBytes = 64 << 20;

class ChannelSecurity;

// A channel to `address` ("host:port") with `security` (TLS and the identity its calls carry,
// rpc/transport_security.h; nullptr = the process default), created on first use and reused
// afterwards.
std::shared_ptr<grpc::Channel> GetChannel(const std::string& address,
                                          const std::shared_ptr<const ChannelSecurity>& security = nullptr);

// Integer channel arguments that channels and servers created after this call get on top of (or
// instead of) the transport settings every Cistern channel and server has; for benchmarks that
// compare transport settings side by side in one process. Production code never calls it.
void SetTransportArgOverridesForBench(std::vector<std::pair<std::string, int>> args);

// Sets the deadline of `context` to now + timeout_ms.
void SetDeadline(grpc::ClientContext* context, int64_t timeout_ms);

// Applies the message-size limits and keepalive settings all Cistern servers share, and the RPC
// metrics interceptor (rpc/server_metrics.h), followed by `interceptors` (e.g. the master's
// audit log). Servers listen with rpc::ServerCredentials() (transport_security.h).
void ConfigureServerBuilder(
    grpc::ServerBuilder* builder,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors = {});

}  // namespace cistern::rpc
