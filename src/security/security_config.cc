#include "security/security_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "security/identity.h"
#include "security/secrets.h"

namespace cistern::security {
namespace {

std::string KeyName(const ConfigKey& key) { return std::string(key.name); }

absl::Status BadKey(const ConfigKey& key, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad value '", absl::string_view(value.data(), value.size()),
                                                 "' for key '", KeyName(key), "': ",
                                                 absl::string_view(why.data(), why.size())));
}

absl::StatusOr<std::string> ReadPem(const ConfigKey& key, const std::string& path, bool is_key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return BadKey(key, path, "cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string pem = buffer.str();
  if (!absl::StrContains(pem, "-----BEGIN ")) return BadKey(key, path, "the file holds no PEM block");
  if (is_key && !absl::StrContains(pem, "PRIVATE KEY-----")) return BadKey(key, path, "the file holds no private key");
  return pem;
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(bool enabled, const std::string& ca_file, const std::string& cert_file,
                                            const std::string& key_file, bool client_auth,
                                            const std::string& server_name) {
  TlsMaterial tls;
  tls.enabled = enabled;
  tls.client_auth = client_auth;
  tls.server_name = server_name;
  if (!enabled) return tls;
  if (cert_file.empty() != key_file.empty()) {
    return BadKey(cert_file.empty() ? conf::kSecurityTlsCertFile : conf::kSecurityTlsKeyFile, "",
                  "a certificate and its key go together: set both security.tls.cert.file and security.tls.key.file");
  }
  if (!ca_file.empty()) {
    CISTERN_ASSIGN_OR_RETURN(tls.ca_pem, ReadPem(conf::kSecurityTlsCaFile, ca_file, false));
  }
  if (!cert_file.empty()) {
    CISTERN_ASSIGN_OR_RETURN(tls.cert_pem, ReadPem(conf::kSecurityTlsCertFile, cert_file, false));
    CISTERN_ASSIGN_OR_RETURN(tls.key_pem, ReadPem(conf::kSecurityTlsKeyFile, key_file, true));
  }
  if (client_auth && tls.ca_pem.empty()) {
    return BadKey(conf::kSecurityTlsCaFile, "", "mutual TLS (security.tls.client_auth) needs the CA that signs clients");
  }
  return tls;
}

absl::StatusOr<SecurityConfig> LoadSecurityConfig(const Config& config, ProcessRole role) {
  SecurityConfig out;
  const bool daemon = role != ProcessRole::kClient;
  out.mode = config.GetString(conf::kSecurityAuthenticationType) == "TOKEN" ? AuthMode::kToken : AuthMode::kNone;

  // The login identity.
  const Caller os = ProcessUser();
  out.user = config.GetString(conf::kSecurityLoginUser);
  if (out.user.empty()) {
    out.user = os.user;
  } else {
    CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("user", out.user), KeyName(conf::kSecurityLoginUser));
  }
  const std::string& groups = config.GetString(conf::kSecurityLoginGroups);
  if (!groups.empty()) {
    for (absl::string_view group : absl::StrSplit(groups, ',')) {
      std::string name(absl::StripAsciiWhitespace(group));
      CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("group", name), KeyName(conf::kSecurityLoginGroups));
      out.groups.push_back(std::move(name));
    }
  } else if (config.GetString(conf::kSecurityLoginUser).empty()) {
    out.groups = os.groups;
  } else {
    out.groups = GroupsOfUser(out.user);
  }

  if (out.token_mode()) {
    const std::string& secret_file = config.GetString(conf::kSecurityClusterSecretFile);
    if (daemon) {
      if (secret_file.empty()) {
        return BadKey(conf::kSecurityClusterSecretFile, "",
                      "TOKEN mode: masters and workers need the cluster secret they share");
      }
      CISTERN_ASSIGN_OR_RETURN(out.cluster_secret, ReadSecretFile(secret_file, KeyName(conf::kSecurityClusterSecretFile)));
      out.token = DaemonToken(out.cluster_secret);
    } else {
      const std::string& token = config.GetString(conf::kSecurityAuthenticationToken);
      const std::string& token_file = config.GetString(conf::kSecurityAuthenticationTokenFile);
      if (!token.empty()) {
        out.token = token;
      } else if (!token_file.empty()) {
        CISTERN_ASSIGN_OR_RETURN(out.token, ReadSecretFile(token_file, KeyName(conf::kSecurityAuthenticationTokenFile)));
      }
      // A client without a token still starts; the masters answer UNAUTHENTICATED.
    }
    const std::string& tokens_file = config.GetString(conf::kSecurityAuthenticationTokensFile);
    if (role == ProcessRole::kMaster && tokens_file.empty()) {
      return BadKey(conf::kSecurityAuthenticationTokensFile, "",
                    "TOKEN mode: a master needs the tokens it accepts from clients");
    }
    if (daemon && !tokens_file.empty()) {
      const int64_t interval_ms = config.GetDurationMs(conf::kSecurityAuthenticationTokensReloadInterval);
      absl::StatusOr<std::shared_ptr<TokenStore>> store = TokenStore::Open(tokens_file, interval_ms);
      if (!store.ok()) return Annotate(store.status(), KeyName(conf::kSecurityAuthenticationTokensFile));
      out.tokens = *std::move(store);
    }
  }

  CISTERN_ASSIGN_OR_RETURN(out.tls, LoadTlsMaterial(config.GetBool(conf::kSecurityTlsEnabled),
                                                    config.GetString(conf::kSecurityTlsCaFile),
                                                    config.GetString(conf::kSecurityTlsCertFile),
                                                    config.GetString(conf::kSecurityTlsKeyFile),
                                                    config.GetBool(conf::kSecurityTlsClientAuth),
                                                    config.GetString(conf::kSecurityTlsServerName)));
  if (daemon && out.tls.enabled && out.tls.cert_pem.empty()) {
    return BadKey(conf::kSecurityTlsCertFile, "", "with security.tls.enabled a daemon needs its certificate and key");
  }

  out.permissions.enabled = config.GetBool(conf::kSecurityAuthorizationEnabled);
  out.permissions.superuser = config.GetString(conf::kSecuritySuperuser);
  if (out.permissions.superuser.empty()) out.permissions.superuser = os.user;
  out.permissions.supergroup = config.GetString(conf::kSecuritySupergroup);
  CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("user", out.permissions.superuser), KeyName(conf::kSecuritySuperuser));
  out.capability_lifetime_ms = config.GetDurationMs(conf::kSecurityBlockCapabilityLifetime);
  if (out.capability_lifetime_ms <= 0) {
    return BadKey(conf::kSecurityBlockCapabilityLifetime, std::to_string(out.capability_lifetime_ms), "must be positive");
  }
  return out;
}

absl::Status AuthorizeSuperuserBearer(const SecurityConfig& config, std::string_view authorization,
                                      std::string_view what, const RemoteTokenCheck& remote) {
  if (!config.token_mode()) return absl::OkStatus();
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view token =
      authorization.starts_with(kBearer) ? authorization.substr(kBearer.size()) : std::string_view();
  if (token.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "this cluster runs with security.authentication.type=TOKEN: to ", std::string(what),
        " send 'Authorization: Bearer <token>' of the superuser"));
  }
  if (!config.cluster_secret.empty() && ConstantTimeEquals(token, DaemonToken(config.cluster_secret))) {
    return absl::OkStatus();
  }
  if (config.tokens == nullptr && remote) return remote(token);
  const std::optional<TokenEntry> entry = config.tokens != nullptr ? config.tokens->Lookup(token) : std::nullopt;
  if (!entry.has_value()) {
    return absl::UnauthenticatedError(config.tokens != nullptr
                                          ? "an invalid token"
                                          : "an invalid token (this daemon has no security.authentication.tokens.file, "
                                            "so it knows only the daemon token)");
  }
  if (entry->wildcard()) return absl::OkStatus();  // its holder may name any user, the superuser too
  Caller caller;
  caller.user = entry->user;
  caller.groups = entry->groups;
  return PermissionChecker(config.permissions).CheckSuperuser(caller, what);
}

}  // namespace cistern::security
