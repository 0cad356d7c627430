// Declarations of every configuration key (the list itself is config_keys.inc).
#pragma once

#include "common/config.h"

namespace cistern::conf {

#define CISTERN_CONFIG_KEY(ident, ...) extern const ConfigKey ident;
#include "common/config_keys.inc"
#undef CISTERN_CONFIG_KEY

}  // namespace cistern::conf

namespace cistern {

// Directory keys whose empty value derives from cistern.home.
std::string LogDir(const Config& config);
std::string MasterMetastoreDir(const Config& config);
std::string MasterRootUfs(const Config& config);
std::string MasterRaftDir(const Config& config);
// master.rpc.addresses, else the RPC addresses in master.raft.peers, else
// master.hostname:master.rpc.port.
std::vector<std::string> MasterAddresses(const Config& config);

}  // namespace cistern
