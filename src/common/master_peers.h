// The masters of a Raft group as configured in master.raft.peers:
//   id@host:rpc_port[:raft_port], comma-separated (raft_port defaults to master.raft.port).
// One list serves the masters (who their peers are, where to send Raft traffic) and clients and
// workers (where the masters' RPC ports are).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace cistern {

struct MasterPeer {
  uint64_t id = 0;
  std::string host;
  int rpc_port = 0;
  int raft_port = 0;

  std::string rpc_address() const;   // host:rpc_port
  std::string raft_address() const;  // host:raft_port
  std::string ToString() const;      // id@host:rpc_port:raft_port
  bool operator==(const MasterPeer&) const = default;
};

// INVALID_ARGUMENT naming the offending entry: malformed, id 0, a port outside 1..65535, or a
// duplicate id or address.
absl::StatusOr<std::vector<MasterPeer>> ParseMasterPeers(std::string_view text, int default_raft_port);
std::string FormatMasterPeers(const std::vector<MasterPeer>& peers);

// master.raft.peers of `config` (empty when unset).
absl::StatusOr<std::vector<MasterPeer>> MasterPeers(const Config& config);
// This master's id: master.raft.id if set (it must be listed), else the peer whose host and RPC
// port are master.hostname and master.rpc.port. INVALID_ARGUMENT when neither names a peer.
absl::StatusOr<uint64_t> SelfMasterId(const Config& config, const std::vector<MasterPeer>& peers);

}  // namespace cistern
