#include "common/config_keys.h"

#include "common/master_peers.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cistern {
namespace conf {

#define CISTERN_CONFIG_KEY(ident, name, type, def, desc, ...) \
  const ConfigKey ident{name, ConfigType::type, def, desc __VA_OPT__(, ) __VA_ARGS__};
#include "common/config_keys.inc"
#undef CISTERN_CONFIG_KEY

}  // namespace conf

const std::vector<const ConfigKey*>& AllConfigKeys() {
  static const auto* keys = new std::vector<const ConfigKey*>{
#define CISTERN_CONFIG_KEY(ident, ...) &conf::ident,
#include "common/config_keys.inc"
#undef CISTERN_CONFIG_KEY
  };
  return *keys;
}

namespace {
std::string OrHome(const Config& config, const ConfigKey& key, std::string_view sub) {
  const std::string& v = config.GetString(key);
  if (!v.empty()) return v;
  return absl::StrCat(config.GetString(conf::kCisternHome), "/", absl::string_view(sub.data(), sub.size()));
}
}  // namespace

std::string LogDir(const Config& config) { return OrHome(config, conf::kLogDir, "logs"); }
std::string MasterMetastoreDir(const Config& config) {
  return OrHome(config, conf::kMasterMetastoreDir, "master/metastore");
}
std::string MasterRaftDir(const Config& config) { return OrHome(config, conf::kMasterRaftDir, "master/raft"); }
std::string MasterRootUfs(const Config& config) { return OrHome(config, conf::kMasterMountRootUfs, "underfs"); }

std::vector<std::string> MasterAddresses(const Config& config) {
  std::vector<std::string> out;
  for (absl::string_view a : absl::StrSplit(config.GetString(conf::kMasterRpcAddresses), ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(a));
  }
  if (out.empty()) {
    // Else the masters of the Raft group (a malformed list is reported by the master itself).
    absl::StatusOr<std::vector<MasterPeer>> peers = MasterPeers(config);
    if (peers.ok()) {
      for (const MasterPeer& peer : *peers) out.push_back(peer.rpc_address());
    }
  }
  if (out.empty()) {
    out.push_back(absl::StrCat(config.GetString(conf::kMasterHostname), ":", config.GetInt(conf::kMasterRpcPort)));
  }
  return out;
}

}  // namespace cistern
