// Logging setup shared by all daemons: spdlog's default logger writes to stderr and to a
// size-rotated file, and every line carries the node id ("master@host:7700", "worker-3").
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/config.h"

namespace cistern {

struct LoggingOptions {
  std::string daemon;    // file name stem: <log_dir>/<daemon>.log
  std::string node_id;   // shown in every line
  std::string log_dir;   // empty = no file
  std::string level = "info";
  int64_t max_file_bytes = 64 << 20;
  int max_files = 10;
};

absl::Status InitLogging(const LoggingOptions& options);
// Reads log.dir, log.level and the rotation keys from `config`.
absl::Status InitDaemonLogging(const Config& config, std::string_view daemon, std::string_view node_id);
// Changes the node id shown in each line (e.g. once a worker learns its id).
void SetLogNodeId(std::string_view node_id);

// The levels log.level accepts, lowest first.
inline constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
// Changes the minimum level of the running process (INVALID_ARGUMENT naming the value if it is
// not one of kLogLevels). Logs the change at warn level, so it shows whatever the new level.
absl::Status SetLogLevel(std::string_view level);
// The current minimum level, one of kLogLevels (or "critical"/"off" if set otherwise).
std::string CurrentLogLevel();

}  // namespace cistern
