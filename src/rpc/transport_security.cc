#include "rpc/transport_security.h"

#include <grpc/grpc_security.h>

#include <atomic>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"
#include "security/audit_log.h"
#include "security/secrets.h"
#include "spdlog/spdlog.h"

namespace cistern::rpc {
namespace {

using security::AuthMode;
using security::Caller;

constexpr std::string_view kBearer = "Bearer ";

// ---------------------------------------------------------------------------------------------
// Method rules

enum class MethodClass { kAnyCaller, kDaemonOnly, kSuperuserOnly };

// Full method names, or service prefixes ending in '/' (every method of the service).
MethodClass ClassOf(std::string_view method) {
  static constexpr std::pair<std::string_view, MethodClass> kRules[] = {
      {"/cistern.proto.BlockMaster/RegisterWorker", MethodClass::kDaemonOnly},
      {"/cistern.proto.BlockMaster/WorkerHeartbeat", MethodClass::kDaemonOnly},
      {"/cistern.proto.BlockMaster/CommitBlock", MethodClass::kDaemonOnly},
      {"/cistern.proto.RaftTransportService/", MethodClass::kDaemonOnly},
      {"/cistern.proto.FileSystemMaster/Mount", MethodClass::kSuperuserOnly},
      {"/cistern.proto.FileSystemMaster/Unmount", MethodClass::kSuperuserOnly},
      {"/cistern.proto.MetaMaster/", MethodClass::kSuperuserOnly},
      {"/cistern.proto.JournalAdmin/", MethodClass::kSuperuserOnly},
  };
  for (const auto& [name, cls] : kRules) {
    if (name.back() == '/' ? method.starts_with(name) : method == name) return cls;
  }
  return MethodClass::kAnyCaller;
}

struct Policy {
  explicit Policy(ServerSecurity s) : security(std::move(s)), checker(security.permissions) {}
  const ServerSecurity security;
  const security::PermissionChecker checker;
};

// The headers the rules read, taken from a call's metadata in one pass (the first value of a
// key counts, as a multimap's find would give). Views into the call's metadata.
struct CallHeaders {
  std::string_view method;  // ":path"
  std::string_view user;
  std::string_view groups;
  std::string_view authorization;
};

// Sets `*field` to `value` unless a value of its key came before.
void TakeFirst(std::string_view value, bool* seen, std::string_view* field) {
  if (*seen) return;
  *seen = true;
  *field = value;
}

// The identity a call claims in its metadata.
absl::Status ClaimedIdentity(const CallHeaders& md, Caller* caller) {
  const std::string_view user = md.user;
  if (!user.empty()) {
    if (absl::Status bad = security::CheckPrincipalName(kUserHeader, user); !bad.ok()) return bad;
    caller->user = std::string(user);
  }
  const std::string_view groups = md.groups;
  if (!groups.empty()) {
    for (absl::string_view group : absl::StrSplit(absl::string_view(groups.data(), groups.size()), ',')) {
      if (absl::Status bad = security::CheckPrincipalName(kGroupsHeader, std::string_view(group.data(), group.size()));
          !bad.ok()) {
        return bad;
      }
      caller->groups.emplace_back(group);
    }
  }
  return absl::OkStatus();
}

// Who the caller of a call with metadata `md` is, by the rules of `s` (method rules aside).
// `authenticated`: the call carried a valid token (always false in NONE mode).
struct Identified {
  Caller caller;
  bool authenticated = false;
  bool had_token = false;
};

absl::StatusOr<Identified> Identify(const ServerSecurity& s, const CallHeaders& md) {
  Identified out;
  Caller claimed;
  if (absl::Status bad = ClaimedIdentity(md, &claimed); !bad.ok()) return absl::UnauthenticatedError(bad.message());
  if (s.mode == AuthMode::kNone) {
    out.caller = std::move(claimed);
    return out;
  }
  std::string_view token = md.authorization;
  const bool bearer = token.starts_with(kBearer);
  token = bearer ? token.substr(kBearer.size()) : std::string_view();
  out.had_token = !token.empty();
  std::optional<security::TokenEntry> entry;
  if (!token.empty() && !s.daemon_token.empty() && security::ConstantTimeEquals(token, s.daemon_token)) {
    out.caller = std::move(claimed);
    out.caller.daemon = true;
    out.authenticated = true;
  } else if (!token.empty() && s.tokens != nullptr && (entry = s.tokens->Lookup(token)).has_value()) {
    if (entry->wildcard()) {
      out.caller = std::move(claimed);
    } else {
      out.caller.user = entry->user;
      out.caller.groups = entry->groups;
    }
    out.authenticated = true;
  } else if (s.require_token) {
    return absl::UnauthenticatedError(absl::StrCat(
        token.empty() ? "no token" : "an invalid token",
        " (this cluster runs with security.authentication.type=TOKEN: present a valid token, e.g. with "
        "security.authentication.token.file)"));
  } else {
    out.caller = std::move(claimed);  // a worker: block capabilities decide what this caller may do
  }
  return out;
}

// Decides who is calling `method` and whether it may; the Status is the call's if not OK.
absl::StatusOr<Caller> Authenticate(const Policy& policy, const CallHeaders& md) {
  const ServerSecurity& s = policy.security;
  const std::string_view method = md.method;
  const MethodClass cls = ClassOf(method);
  absl::StatusOr<Identified> identified = Identify(s, md);
  if (!identified.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(std::string(method), ": ", identified.status().message()));
  }
  Caller& caller = identified->caller;
  if (s.mode != AuthMode::kNone && cls == MethodClass::kDaemonOnly && !caller.daemon) {
    if (!identified->authenticated) {
      return absl::UnauthenticatedError(absl::StrCat(
          std::string(method), ": ", identified->had_token ? "an invalid token" : "no token",
          " (this cluster runs with security.authentication.type=TOKEN: masters and workers authenticate with the "
          "cluster secret, security.cluster.secret.file)"));
    }
    return absl::PermissionDeniedError(absl::StrCat(std::string(method),
                                                    " is for Cistern masters and workers only (they authenticate "
                                                    "with the cluster secret); caller ",
                                                    caller.user.empty() ? "(no user)" : caller.user));
  }
  if (cls == MethodClass::kSuperuserOnly) {
    absl::Status refused = policy.checker.CheckSuperuser(caller, absl::StrCat("call ", std::string(method)));
    if (!refused.ok()) return refused;
  }
  return std::move(caller);
}

// The gate in front of every handler. It records nothing in the AuthContext: gRPC shares that
// context between all calls of one connection, so per-call identities there would leak from one
// call to the next. CallerOf derives the identity again from the call's own metadata.
void ProcessAuthMetadata(void* state, grpc_auth_context* context, const grpc_metadata* md, size_t num_md,
                         grpc_process_auth_metadata_done_cb done, void* user_data) {
  const Policy& policy = **static_cast<std::shared_ptr<const Policy>*>(state);
  CallHeaders metadata;
  bool seen_method = false, seen_user = false, seen_groups = false, seen_authorization = false;
  for (size_t i = 0; i < num_md; ++i) {
    const std::string_view key(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].key)),
                               GRPC_SLICE_LENGTH(md[i].key));
    const std::string_view value(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].value)),
                                 GRPC_SLICE_LENGTH(md[i].value));
    if (key == ":path") {
      TakeFirst(value, &seen_method, &metadata.method);
    } else if (key == kUserHeader) {
      TakeFirst(value, &seen_user, &metadata.user);
    } else if (key == kGroupsHeader) {
      TakeFirst(value, &seen_groups, &metadata.groups);
    } else if (key == kAuthorizationHeader) {
      TakeFirst(value, &seen_authorization, &metadata.authorization);
    }
  }
  absl::StatusOr<Caller> caller = Authenticate(policy, metadata);
  if (!caller.ok() && policy.security.audit != nullptr) {
    Caller claimed;
    (void)ClaimedIdentity(metadata, &claimed);
    std::string_view method = metadata.method;
    method.remove_prefix(std::min(method.size(), method.rfind('/') + 1));
    policy.security.audit->Record(claimed, method, "", "", caller.status());
  }
  if (!caller.ok()) {
    const std::string message(caller.status().message());
    done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(caller.status().code()), message.c_str());
    return;
  }
  done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
}

void DestroyPolicy(void* state) { delete static_cast<std::shared_ptr<const Policy>*>(state); }

// Listening credentials built from gRPC's core API, so that plaintext ports get the auth
// processor too (grpc::InsecureServerCredentials() cannot carry one).
class CisternServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CisternServerCredentials(std::shared_ptr<const Policy> policy) : policy_(std::move(policy)) {}

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    spdlog::critical("CisternServerCredentials: SetAuthMetadataProcessor is not supported");
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    const security::TlsMaterial& tls = policy_->security.tls;
    grpc_server_credentials* creds = nullptr;
    if (tls.enabled) {
      grpc_ssl_pem_key_cert_pair pair{tls.key_pem.c_str(), tls.cert_pem.c_str()};
      creds = grpc_ssl_server_credentials_create_ex(
          tls.ca_pem.empty() ? nullptr : tls.ca_pem.c_str(), &pair, 1,
          tls.client_auth ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          nullptr);
    } else {
      creds = grpc_insecure_server_credentials_create();
    }
    if (creds == nullptr) return 0;
    grpc_server_credentials_set_auth_metadata_processor(
        creds, grpc_auth_metadata_processor{&ProcessAuthMetadata, &DestroyPolicy,
                                            new std::shared_ptr<const Policy>(policy_)});
    const int port = grpc_server_add_http2_port(server, address.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  const std::shared_ptr<const Policy> policy_;
};

// ---------------------------------------------------------------------------------------------
// Process defaults

struct Defaults {
  absl::Mutex mu;
  std::shared_ptr<const ChannelSecurity> channel ABSL_GUARDED_BY(mu);
  std::shared_ptr<const Policy> policy ABSL_GUARDED_BY(mu);
  std::shared_ptr<grpc::ServerCredentials> server ABSL_GUARDED_BY(mu);
  // `policy`, for CallerOf on every call without the mutex. Every policy that was ever current
  // is kept in `kept` (never freed): a handler may still be reading the one replaced, and a
  // process installs one, or a few in tests.
  std::atomic<const Policy*> current{nullptr};
  std::vector<std::shared_ptr<const Policy>> kept ABSL_GUARDED_BY(mu);
};

void SetPolicyLocked(Defaults& d, std::shared_ptr<const Policy> policy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  d.kept.push_back(policy);
  d.current.store(policy.get(), std::memory_order_release);
  d.policy = std::move(policy);
}

// The process's server policy; the NONE-mode one, with this process's user as the superuser,
// until one is installed.
std::shared_ptr<const Policy> DefaultPolicyLocked(Defaults& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d.mu) {
  if (d.policy == nullptr) {
    ServerSecurity none;
    none.permissions.superuser = security::ProcessUser().user;
    SetPolicyLocked(d, std::make_shared<const Policy>(none));
  }
  return d.policy;
}

Defaults& ProcessDefaults() {
  static auto* defaults = new Defaults();
  return *defaults;
}

ClientIdentity IdentityOf(const security::SecurityConfig& config) {
  return ClientIdentity{config.user, config.groups, config.token};
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ChannelSecurity>> ChannelSecurity::Create(const ClientIdentity& identity,
                                                                               const security::TlsMaterial& tls) {
  std::shared_ptr<ChannelSecurity> s(new ChannelSecurity());
  s->tls_ = tls.enabled;
  if (tls.enabled) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = tls.ca_pem;
    options.pem_private_key = tls.key_pem;
    options.pem_cert_chain = tls.cert_pem;
    s->credentials_ = grpc::SslCredentials(options);
    s->server_name_override_ = tls.server_name;
  } else {
    s->credentials_ = grpc::InsecureChannelCredentials();
  }
  if (s->credentials_ == nullptr) return absl::InvalidArgumentError("cannot create TLS channel credentials");
  if (!identity.user.empty()) s->metadata_.emplace_back(kUserHeader, identity.user);
  if (!identity.groups.empty()) s->metadata_.emplace_back(kGroupsHeader, absl::StrJoin(identity.groups, ","));
  if (!identity.token.empty()) s->metadata_.emplace_back(kAuthorizationHeader, absl::StrCat(std::string(kBearer), identity.token));
  return std::shared_ptr<const ChannelSecurity>(std::move(s));
}

std::shared_ptr<const ChannelSecurity> ChannelSecurity::Insecure() {
  static const auto* insecure = [] {
    const Caller me = security::ProcessUser();
    auto created = Create(ClientIdentity{me.user, me.groups, ""}, security::TlsMaterial{});
    return new std::shared_ptr<const ChannelSecurity>(*created);
  }();
  return *insecure;
}

std::shared_ptr<grpc::ServerCredentials> NewServerCredentials(const ServerSecurity& security) {
  return std::make_shared<CisternServerCredentials>(std::make_shared<const Policy>(security));
}

security::Caller CallerOf(const grpc::ServerContextBase& context) {
  Defaults& d = ProcessDefaults();
  const Policy* policy = d.current.load(std::memory_order_acquire);
  if (policy == nullptr) {
    absl::MutexLock lock(&d.mu);
    policy = DefaultPolicyLocked(d).get();
  }
  // gRPC's own map of the call's metadata (built once per call, on first use).
  const std::multimap<grpc::string_ref, grpc::string_ref>& md = context.client_metadata();
  const auto header = [&md](std::string_view key) {
    auto it = md.find(grpc::string_ref(key.data(), key.size()));
    return it == md.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
  };
  CallHeaders headers;
  headers.user = header(kUserHeader);
  headers.groups = header(kGroupsHeader);
  headers.authorization = header(kAuthorizationHeader);
  absl::StatusOr<Identified> identified = Identify(policy->security, headers);
  Caller caller = identified.ok() ? std::move(identified->caller) : Caller();  // refused: anonymous
  caller.address = context.peer();
  return caller;
}

void InstallProcessSecurity(std::shared_ptr<const ChannelSecurity> channel, const ServerSecurity& server) {
  Defaults& d = ProcessDefaults();
  absl::MutexLock lock(&d.mu);
  d.channel = std::move(channel);
  SetPolicyLocked(d, std::make_shared<const Policy>(server));
  d.server = std::make_shared<CisternServerCredentials>(d.policy);
}

absl::Status InstallProcessSecurity(const security::SecurityConfig& config, security::ProcessRole role,
                                    security::AuditLog* audit) {
  absl::StatusOr<std::shared_ptr<const ChannelSecurity>> channel = ChannelSecurity::Create(IdentityOf(config), config.tls);
  if (!channel.ok()) return channel.status();
  ServerSecurity server;
  server.tls = config.tls;
  server.mode = config.mode;
  server.require_token = role == security::ProcessRole::kMaster;
  server.tokens = role == security::ProcessRole::kMaster ? config.tokens : nullptr;  // workers: HTTP only
  if (!config.cluster_secret.empty()) server.daemon_token = security::DaemonToken(config.cluster_secret);
  server.permissions = config.permissions;
  server.audit = audit;
  InstallProcessSecurity(*std::move(channel), server);
  return absl::OkStatus();
}

std::shared_ptr<const ChannelSecurity> DefaultChannelSecurity() {
  Defaults& d = ProcessDefaults();
  absl::MutexLock lock(&d.mu);
  if (d.channel == nullptr) d.channel = ChannelSecurity::Insecure();
  return d.channel;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials() {
  Defaults& d = ProcessDefaults();
  absl::MutexLock lock(&d.mu);
  if (d.server == nullptr) d.server = std::make_shared<CisternServerCredentials>(DefaultPolicyLocked(d));
  return d.server;
}

security::AuthMode ProcessAuthMode() {
  Defaults& d = ProcessDefaults();
  if (const Policy* policy = d.current.load(std::memory_order_acquire); policy != nullptr) return policy->security.mode;
  absl::MutexLock lock(&d.mu);
  return DefaultPolicyLocked(d)->security.mode;
}

}  // namespace cistern::rpc
