// The master's audit log as one server interceptor (installed by MasterProcess when
// master.audit.log.enabled): every FileSystemMaster call becomes one line of the AuditLog with
// the caller the auth processor authenticated (transport_security.h), the client's address, the
// method, the request's path (and destination for Rename) and the status the call ends with, so
// no handler carries audit code and none is missed. Calls the auth processor refuses never reach
// a service; they are recorded by the processor itself (ServerSecurity::audit).
#pragma once

#include <memory>

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}
namespace cistern::security {
class AuditLog;
}

namespace cistern::rpc {

// `log` must outlive every server built with the factory.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewAuditInterceptorFactory(
    security::AuditLog* log);

}  // namespace cistern::rpc
