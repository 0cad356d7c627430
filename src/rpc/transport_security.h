// Transport security of every Cistern gRPC channel and server (docs/security.md).
//
// Client side: a ChannelSecurity is what a caller presents: TLS channel credentials (or none),
// and the identity metadata every call carries: `cistern-user`, `cistern-groups` and, in TOKEN
// mode, `authorization: Bearer <token>`. Channels (rpc/channel.h) are made per address and
// ChannelSecurity, and a client interceptor adds the metadata to each call.
//
// Server side: every server listens with NewServerCredentials(ServerSecurity): TLS (optionally
// requiring client certificates) or plaintext, both with one auth metadata processor that runs
// before any handler. It decides who the caller is (NONE: the user and groups it sent; TOKEN:
// the token's user, or for a shared-secret token the user it sent; the cluster daemon token
// makes a daemon) and enforces the per-method rules, so no handler can forget them:
//   * daemon-only methods (worker registration, heartbeats and block commits, Raft traffic):
//     UNAUTHENTICATED without a token, PERMISSION_DENIED for a user's token (TOKEN mode);
//   * superuser-only methods (mount, unmount, admin services): PERMISSION_DENIED for others
//     (whenever authorization is enabled);
//   * every other method: in TOKEN mode, a missing or unknown token is UNAUTHENTICATED.
// CallerOf() gives the domain the identity of a call: derived again from the call's own
// metadata by the same rules (gRPC shares one AuthContext between the calls of a connection, so
// it cannot carry a per-call identity).
//
// Process defaults: daemons install theirs at start (InstallProcessSecurity); GetChannel(address),
// ServerCredentials() and CallerOf() use them, so a process has one ServerSecurity. A client
// library user passes its own ChannelSecurity.
//
// Thread safety: everything here is thread-safe; ChannelSecurity and ServerSecurity are immutable
// (the TokenStore a ServerSecurity holds is thread-safe and reloads itself).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "security/identity.h"
#include "security/permission.h"
#include "security/security_config.h"
#include "security/token_table.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
class ServerContextBase;
}  // namespace grpc

namespace cistern::security {
class AuditLog;
}

namespace cistern::rpc {

// Metadata keys of the identity a call carries.
inline constexpr char kUserHeader[] = "cistern-user";
inline constexpr char kGroupsHeader[] = "cistern-groups";
inline constexpr char kAuthorizationHeader[] = "authorization";

// What a caller presents on its calls.
struct ClientIdentity {
  std::string user;
  std::vector<std::string> groups;
  std::string token;  // sent as "authorization: Bearer <token>" when not empty
};

class ChannelSecurity {
 public:
  // INVALID_ARGUMENT if the TLS material cannot make credentials.
  static absl::StatusOr<std::shared_ptr<const ChannelSecurity>> Create(const ClientIdentity& identity,
                                                                       const security::TlsMaterial& tls);
  // Plaintext, identity of this process's OS user, no token: what a process has before it
  // installs anything (tests, tools).
  static std::shared_ptr<const ChannelSecurity> Insecure();

  const std::shared_ptr<grpc::ChannelCredentials>& credentials() const { return credentials_; }
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
  const std::string& server_name_override() const { return server_name_override_; }
  bool tls() const { return tls_; }

 private:
  ChannelSecurity() = default;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::string server_name_override_;
  bool tls_ = false;
};

// What a server accepts.
struct ServerSecurity {
  security::TlsMaterial tls;
  security::AuthMode mode = security::AuthMode::kNone;
  // TOKEN mode: whether every call needs a valid token (masters) or only the daemon-only
  // methods do (workers, whose data calls are guarded by block capabilities instead).
  bool require_token = true;
  std::shared_ptr<security::TokenStore> tokens;  // user tokens (masters); thread-safe
  std::string daemon_token;                            // from the cluster secret
  security::PermissionOptions permissions;             // who is the superuser
  // Where calls refused here are recorded (the master's audit log), if anywhere; must outlive
  // the servers.
  security::AuditLog* audit = nullptr;
};

// Listening credentials applying `security` (TLS or plaintext, and the auth processor). Handlers
// behind them learn their callers from CallerOf, which applies the process's installed
// ServerSecurity: use these only for servers of a process whose defaults are `security` (or
// that need no identities), else ServerCredentials().
std::shared_ptr<grpc::ServerCredentials> NewServerCredentials(const ServerSecurity& security);

// The caller of a call, by the process's ServerSecurity: the claimed identity in NONE mode, the
// token's in TOKEN mode; a call whose token does not authenticate (possible only on a server
// without the auth processor) is an anonymous caller (empty user).
security::Caller CallerOf(const grpc::ServerContextBase& context);

// Process defaults (see above). Install before the first channel or server is made.
void InstallProcessSecurity(std::shared_ptr<const ChannelSecurity> channel, const ServerSecurity& server);
// From a process's security settings: a client or daemon identity, TLS, and (for servers) the
// rules of its role; refused calls go to `audit` if given.
absl::Status InstallProcessSecurity(const security::SecurityConfig& config, security::ProcessRole role,
                                    security::AuditLog* audit = nullptr);
std::shared_ptr<const ChannelSecurity> DefaultChannelSecurity();
std::shared_ptr<grpc::ServerCredentials> ServerCredentials();
security::AuthMode ProcessAuthMode();

}  // namespace cistern::rpc
