// MasterSecurity: the security pieces of one master, made from its configuration at start
// (docs/security.md): the process's transport security (TLS, the auth processor with the
// master's rules, the daemon identity it calls other masters with), the audit log, and the block
// capability signer.
//
// Thread safety: immutable after Start; the members are thread-safe.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "security/audit_log.h"
#include "security/capability.h"
#include "security/security_config.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace cistern::master {

class MasterSecurity {
 public:
  // Loads the security settings (INVALID_ARGUMENT naming a bad key), opens the audit log if
  // enabled, and installs the process's transport security.
  static absl::StatusOr<std::unique_ptr<MasterSecurity>> Start(const Config& config);

  const security::SecurityConfig& config() const { return config_; }
  // nullptr unless TOKEN mode (workers then require capabilities).
  const security::BlockCapabilities* capabilities() const { return capabilities_.get(); }
  // nullptr unless master.audit.log.enabled.
  security::AuditLog* audit() const { return audit_.get(); }
  // The interceptors the master's RPC server adds (the audit log's).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> Interceptors() const;

 private:
  MasterSecurity() = default;
  security::SecurityConfig config_;
  std::unique_ptr<security::BlockCapabilities> capabilities_;
  std::unique_ptr<security::AuditLog> audit_;
};

}  // namespace cistern::master
