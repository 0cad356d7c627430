// Who is calling: the identity every Cistern RPC carries (docs/security.md). A Caller is made
// once per call at the RPC edge (rpc/transport_security.h: authenticated in TOKEN mode, taken
// as claimed in NONE mode) and handed to the domain code, which checks permissions against it
// and records it in the audit log.
//
// Thread safety: plain values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace cistern::security {

struct Caller {
  std::string user;
  std::vector<std::string> groups;  // the first is the primary group
  std::string address;              // the peer as gRPC names it ("ipv4:10.0.0.5:41234"); "" in-process
  // A Cistern master or worker: authenticated by the cluster secret in TOKEN mode. Daemons act
  // with the superuser's rights (a worker persisting a file, a master forwarding a call).
  bool daemon = false;
  // The master itself (TTL expiry, recovery, tests of domain code): never subject to checks.
  bool internal = false;

  bool InGroup(std::string_view group) const;
  // "alice (groups staff,dev) from ipv4:10.0.0.5:41234", for messages and logs.
  std::string ToString() const;

  static const Caller& Internal();
};

// The OS user this process runs as (effective uid) and its groups, from the user and group
// databases; names fall back to the numeric ids when an entry is missing.
Caller ProcessUser();
// The groups of `user` in this host's group database (primary first); empty if unknown.
std::vector<std::string> GroupsOfUser(const std::string& user);

// A user or group name: 1..255 bytes, none of them a control character, whitespace, ',' or ':'
// (they separate names in request metadata and token files). INVALID_ARGUMENT naming `what`.
absl::Status CheckPrincipalName(std::string_view what, std::string_view name);
inline constexpr size_t kMaxPrincipalBytes = 255;

}  // namespace cistern::security
