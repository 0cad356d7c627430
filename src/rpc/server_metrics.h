// RPC metrics of every Cistern gRPC server, recorded by one server interceptor (installed by
// ConfigureServerBuilder), so each service and method is counted the same way without code in
// the service adapters:
//
//   cistern_rpc_server_started_total{grpc_service,grpc_method}
//   cistern_rpc_server_handled_total{grpc_service,grpc_method,grpc_code}
//   cistern_rpc_server_handling_seconds{grpc_service,grpc_method}   (histogram; a streaming
//                                                                    call counts its whole life)
//
// grpc_service is the full proto service name ("cistern.proto.FileSystemMaster"), grpc_code the
// status code name ("OK", "NOT_FOUND", ...).
#pragma once

#include <memory>

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace cistern::rpc {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewServerMetricsInterceptorFactory();

}  // namespace cistern::rpc
