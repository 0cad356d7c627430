// Start-up shared by cistern-master and cistern-worker: command-line flags, configuration
// loading and the exit codes every daemon uses.
//
//   <daemon> [--conf key=value]... [--conf-file PATH] [--version]
//
// A bad flag or configuration prints one line naming the key and value to stderr and exits with
// kExitBadConfig; --version prints the version and exits 0.
#pragma once

#include <string_view>

#include "common/config.h"

namespace cistern {

inline constexpr int kExitBadConfig = 2;
// Start-up failed for another reason (port in use, metastore locked, ...).
inline constexpr int kExitStartupFailed = 1;
// The master's journal stopped after a storage failure (fail-stop).
inline constexpr int kExitJournalFailure = 3;

// Parses the daemon flags and loads the configuration. Does not return on --version, --help or
// errors (exits with the codes above).
Config LoadDaemonConfigOrExit(int argc, char** argv, std::string_view daemon);

}  // namespace cistern
