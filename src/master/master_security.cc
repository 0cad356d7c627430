#include "master/master_security.h"

#include "absl/strings/str_cat.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "grpcpp/support/server_interceptor.h"
#include "rpc/audit_interceptor.h"
#include "rpc/transport_security.h"
#include "security/permission.h"
#include "security/secrets.h"
#include "security/token_table.h"
#include "spdlog/spdlog.h"

namespace cistern::master {

absl::StatusOr<std::unique_ptr<MasterSecurity>> MasterSecurity::Start(const Config& config) {
  std::unique_ptr<MasterSecurity> s(new MasterSecurity());
  CISTERN_ASSIGN_OR_RETURN(s->config_, security::LoadSecurityConfig(config, security::ProcessRole::kMaster));
  if (s->config_.token_mode()) {
    s->capabilities_ = std::make_unique<security::BlockCapabilities>(security::CapabilityKey(s->config_.cluster_secret),
                                                                     s->config_.capability_lifetime_ms);
  }
  if (config.GetBool(conf::kMasterAuditLogEnabled)) {
    std::string path = config.GetString(conf::kMasterAuditLogFile);
    if (path.empty()) path = absl::StrCat(LogDir(config), "/master-audit.log");
    security::AuditLogOptions options;
    options.path = path;
    options.max_file_bytes = config.GetSizeBytes(conf::kMasterAuditLogMaxSize);
    options.max_files = static_cast<int>(config.GetInt(conf::kMasterAuditLogMaxFiles));
    CISTERN_ASSIGN_OR_RETURN(s->audit_, security::AuditLog::Open(options));
    spdlog::info("audit log: {}", path);
  }
  CISTERN_RETURN_IF_ERROR(rpc::InstallProcessSecurity(s->config_, security::ProcessRole::kMaster, s->audit_.get()));
  spdlog::info("security: authentication {}, TLS {}{}, permission checks {} (superuser {}, supergroup {})",
               s->config_.token_mode() ? "TOKEN" : "NONE", s->config_.tls.enabled ? "on" : "off",
               s->config_.tls.client_auth ? " with client certificates" : "",
               s->config_.permissions.enabled ? "on" : "off", s->config_.permissions.superuser,
               s->config_.permissions.supergroup);
  return s;
}

absl::Status MasterSecurity::AuthorizeHttp(std::string_view authorization) const {
  return security::AuthorizeSuperuserBearer(config_, authorization, "use the master's HTTP API");
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> MasterSecurity::Interceptors()
    const {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  if (audit_ != nullptr) out.push_back(rpc::NewAuditInterceptorFactory(audit_.get()));
  return out;
}

}  // namespace cistern::master
