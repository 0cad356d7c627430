// Pieces of `cistern local` that do not start processes, kept apart so they are unit-tested.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace cistern::cli {

// The cistern.properties written into <home>/conf on the first `cistern local start`.
std::string LocalProperties(const std::string& home, uid_t uid);

// What `cistern local start` prints once the cluster serves: how to point commands at it,
// examples, where logs and data live, how to stop it.
std::string LocalUsage(const std::string& home, const std::string& master_address, const std::string& worker_address,
                       const std::string& mem_dir);

// True if `pid` is a live (not zombie) process whose program is named `daemon`; guards against a
// stale pid file whose pid now belongs to another process.
bool ProcessIsDaemon(pid_t pid, std::string_view daemon);

}  // namespace cistern::cli
