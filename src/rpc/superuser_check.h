// Checks whether a bearer token is the superuser's by asking the masters, for daemons that hold
// no tokens file themselves (a worker's HTTP log-level endpoint; docs/security.md, "HTTP
// endpoints"). The masters are the one place tokens live: a worker that asks them follows every
// change of the tokens file (including revocations) without a copy of its own, and learns
// nothing it could misuse (it never sees the table, only a verdict on the token it was handed).
//
// How: a superuser-only call (MetaMaster/GetMasterInfo; every MetaMaster method is for the
// superuser only) made with the token itself as the call's credential, so the master's auth
// processor judges it before any handler by exactly the rules of every other superuser call
// (and its audit log records refusals). A shared-secret token is judged as naming
// `claimed_user`. A master that is not the leader still judges the token first: its
// UNAUTHENTICATED or PERMISSION_DENIED is final; its "not the leader" sends the check on to the
// next master, and only the answer of a master that serves makes it OK.
//
// Thread safety: thread-safe; immutable after Create.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "security/security_config.h"

namespace cistern::rpc {

class ChannelSecurity;

class SuperuserCheck {
 public:
  // `masters`: host:port of every master; `tls`: this process's TLS material (its channels to
  // the masters); `timeout_ms`: deadline of each call.
  static absl::StatusOr<SuperuserCheck> Create(std::vector<std::string> masters, std::string claimed_user,
                                               const security::TlsMaterial& tls, int64_t timeout_ms);

  // OK if `token` is the superuser's (or a shared-secret token); UNAUTHENTICATED if the masters
  // do not know it, PERMISSION_DENIED if it is another user's; UNAVAILABLE naming the masters
  // tried when none answered. Asks the masters in turn until one decides.
  absl::Status Check(std::string_view token) const;

 private:
  SuperuserCheck() = default;
  std::vector<std::string> masters_;
  std::shared_ptr<const ChannelSecurity> channel_;  // TLS and the claimed user, no token
  int64_t timeout_ms_ = 0;
};

}  // namespace cistern::rpc
