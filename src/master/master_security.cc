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
  if (!config_.token_mode()) return absl::OkStatus();
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view token =
      authorization.starts_with(kBearer) ? authorization.substr(kBearer.size()) : std::string_view();
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "this cluster runs with security.authentication.type=TOKEN: the HTTP API needs 'Authorization: Bearer "
        "<token>' of the superuser");
  }
  if (!config_.cluster_secret.empty() &&
      security::ConstantTimeEquals(token, security::DaemonToken(config_.cluster_secret))) {
    return absl::OkStatus();
  }
  const security::TokenEntry* entry = config_.tokens != nullptr ? config_.tokens->Lookup(token) : nullptr;
  if (entry == nullptr) return absl::UnauthenticatedError("an invalid token");
  if (entry->wildcard()) return absl::OkStatus();  // its holder may name any user, the superuser too
  security::Caller caller;
  caller.user = entry->user;
  caller.groups = entry->groups;
  return security::PermissionChecker(config_.permissions).CheckSuperuser(caller, "use the master's HTTP API");
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> MasterSecurity::Interceptors()
    const {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  if (audit_ != nullptr) out.push_back(rpc::NewAuditInterceptorFactory(audit_.get()));
  return out;
}

}  // namespace cistern::master
