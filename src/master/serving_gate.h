// ServingGate: whether this master answers clients and workers now. In a Raft group only the
// leader does (once it has applied everything committed before its term and reset its soft
// state); the gRPC adapters ask the gate before every call and refuse with UNAVAILABLE, naming
// the leader, otherwise. A single master always serves (no gate).
//
// Thread safety: implementations are thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace cistern::master {

class ServingGate {
 public:
  virtual ~ServingGate() = default;
  // OK when this master serves; else UNAVAILABLE saying why, with the leader's client address
  // ("host:port") in *leader_address when it is known.
  virtual absl::Status CheckServing(std::string* leader_address) const = 0;
};

}  // namespace cistern::master
