// The security settings of one process, read from its configuration (security.* keys, see
// docs/security.md) and checked at start: files named there must exist, secrets must be long
// enough and private, and a mode's required keys must be set; any problem is INVALID_ARGUMENT
// naming the key and value (daemons exit with status 2 on it).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config.h"
#include "security/permission.h"
#include "security/token_table.h"

namespace cistern::security {

enum class AuthMode { kNone, kToken };
// What the process is: which keys it needs (a master the token table; daemons the cluster
// secret in TOKEN mode).
enum class ProcessRole { kClient, kWorker, kMaster };

// TLS material, loaded (PEM text, not paths).
struct TlsMaterial {
  bool enabled = false;
  std::string ca_pem;    // empty: the system roots (clients); no client-certificate checks (servers)
  std::string cert_pem;  // with key_pem: this process's certificate chain
  std::string key_pem;
  bool client_auth = false;  // servers require a verified client certificate
  std::string server_name;   // expected in servers' certificates; empty = the dialled host
};

struct SecurityConfig {
  AuthMode mode = AuthMode::kNone;
  // Who this process is when it calls: the login user and groups, and in TOKEN mode its token
  // (a daemon's is derived from the cluster secret).
  std::string user;
  std::vector<std::string> groups;
  std::string token;
  // TOKEN mode, masters and workers.
  std::string cluster_secret;
  // TOKEN mode: masters (required), workers (optional: lets them check the superuser's token
  // on their HTTP log-level endpoint without asking the masters; their gRPC server does not use
  // it). Re-read when the file changes (TokenStore).
  std::shared_ptr<TokenStore> tokens;
  TlsMaterial tls;
  PermissionOptions permissions;
  int64_t capability_lifetime_ms = 15 * 60 * 1000;

  bool token_mode() const { return mode == AuthMode::kToken; }
};

absl::StatusOr<SecurityConfig> LoadSecurityConfig(const Config& config, ProcessRole role);

// The gate of the daemons' HTTP endpoints that read everything or change state (the master's
// JSON API, PUT /api/v1/log-level): in TOKEN mode OK only for `authorization` = "Bearer <token>"
// of the superuser (a token of the superuser or a supergroup member, a shared-secret token,
// which may name any user, or the daemon token); UNAUTHENTICATED without a valid token,
// PERMISSION_DENIED naming `what` for other users' tokens. Always OK in NONE mode. A process
// without a token table (a worker without security.authentication.tokens.file) knows only the
// daemon token by itself; any other token it hands to `remote` if given (a worker: asks the
// masters, who hold the tokens, rpc/superuser_check.h), whose verdict it returns.
using RemoteTokenCheck = std::function<absl::Status(std::string_view token)>;
absl::Status AuthorizeSuperuserBearer(const SecurityConfig& config, std::string_view authorization,
                                      std::string_view what, const RemoteTokenCheck& remote = {});

// Loads the PEM files of a TLS setup (a client's or a daemon's); INVALID_ARGUMENT naming the
// file that cannot be read or holds no PEM block.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(bool enabled, const std::string& ca_file, const std::string& cert_file,
                                            const std::string& key_file, bool client_auth,
                                            const std::string& server_name);

}  // namespace cistern::security
