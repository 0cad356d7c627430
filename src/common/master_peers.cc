#include "common/master_peers.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config_keys.h"

namespace cistern {
namespace {

bool ParsePort(absl::string_view text, int* port) {
  return absl::SimpleAtoi(text, port) && *port > 0 && *port < 65536;
}

}  // namespace

std::string MasterPeer::rpc_address() const { return absl::StrCat(host, ":", rpc_port); }
std::string MasterPeer::raft_address() const { return absl::StrCat(host, ":", raft_port); }
std::string MasterPeer::ToString() const { return absl::StrCat(id, "@", host, ":", rpc_port, ":", raft_port); }

absl::StatusOr<std::vector<MasterPeer>> ParseMasterPeers(std::string_view text, int default_raft_port) {
  std::vector<MasterPeer> peers;
  std::set<uint64_t> ids;
  std::set<std::string> addresses;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipWhitespace())) {
    const absl::string_view entry = absl::StripAsciiWhitespace(raw);
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("master peer '", entry, "': ", absl::string_view(why.data(), why.size()),
                                                     " (expected id@host:rpc_port[:raft_port])"));
    };
    const size_t at = entry.find('@');
    if (at == absl::string_view::npos) return bad("no '@'");
    MasterPeer peer;
    if (!absl::SimpleAtoi(entry.substr(0, at), &peer.id) || peer.id == 0) return bad("the id must be a positive integer");
    std::vector<absl::string_view> parts = absl::StrSplit(entry.substr(at + 1), ':');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) return bad("needs a host and ports");
    peer.host = std::string(parts[0]);
    if (!ParsePort(parts[1], &peer.rpc_port)) return bad("bad RPC port");
    peer.raft_port = default_raft_port;
    if (parts.size() == 3 && !ParsePort(parts[2], &peer.raft_port)) return bad("bad Raft port");
    if (!ids.insert(peer.id).second) return bad("duplicate id");
    if (!addresses.insert(peer.rpc_address()).second || !addresses.insert(peer.raft_address()).second) {
      return bad("duplicate address");
    }
    peers.push_back(std::move(peer));
  }
  return peers;
}

std::string FormatMasterPeers(const std::vector<MasterPeer>& peers) {
  return absl::StrJoin(peers, ",", [](std::string* out, const MasterPeer& p) { out->append(p.ToString()); });
}

absl::StatusOr<std::vector<MasterPeer>> MasterPeers(const Config& config) {
  absl::StatusOr<std::vector<MasterPeer>> peers =
      ParseMasterPeers(config.GetString(conf::kMasterRaftPeers), static_cast<int>(config.GetInt(conf::kMasterRaftPort)));
  if (!peers.ok()) return absl::InvalidArgumentError(absl::StrCat("master.raft.peers: ", peers.status().message()));
  return peers;
}

absl::StatusOr<uint64_t> SelfMasterId(const Config& config, const std::vector<MasterPeer>& peers) {
  const int64_t configured = config.GetInt(conf::kMasterRaftId);
  if (configured < 0) return absl::InvalidArgumentError(absl::StrCat("master.raft.id ", configured, " is negative"));
  if (configured > 0) {
    for (const MasterPeer& p : peers) {
      if (p.id == static_cast<uint64_t>(configured)) return p.id;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("master.raft.id ", configured, " is not in master.raft.peers (", FormatMasterPeers(peers), ")"));
  }
  const std::string& host = config.GetString(conf::kMasterHostname);
  const int64_t port = config.GetInt(conf::kMasterRpcPort);
  for (const MasterPeer& p : peers) {
    if (p.host == host && p.rpc_port == port) return p.id;
  }
  return absl::InvalidArgumentError(absl::StrCat("no entry of master.raft.peers (", FormatMasterPeers(peers),
                                                 ") is this master (master.hostname ", host, ", master.rpc.port ", port,
                                                 "); set master.raft.id"));
}

}  // namespace cistern
