#include "common/logging.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config_keys.h"
#include "spdlog/sinks/rotating_file_sink.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace cistern {
namespace {
std::string Pattern(std::string_view node_id) {
  return absl::StrCat("%Y-%m-%d %H:%M:%S.%e %^%L%$ [", absl::string_view(node_id.data(), node_id.size()),
                      "] %t %v");
}
}  // namespace

absl::Status InitLogging(const LoggingOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!options.log_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.log_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create log directory '", options.log_dir, "': ", ec.message()));
    }
    std::string file = absl::StrCat(options.log_dir, "/", options.daemon, ".log");
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          file, static_cast<size_t>(options.max_file_bytes), static_cast<size_t>(options.max_files)));
    } catch (const spdlog::spdlog_ex& e) {
      return absl::FailedPreconditionError(absl::StrCat("cannot open log file '", file, "': ", e.what()));
    }
  }
  auto logger = std::make_shared<spdlog::logger>(options.daemon, sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(Pattern(options.node_id));
  return absl::OkStatus();
}

absl::Status InitDaemonLogging(const Config& config, std::string_view daemon, std::string_view node_id) {
  LoggingOptions options;
  options.daemon = std::string(daemon);
  options.node_id = std::string(node_id);
  options.log_dir = LogDir(config);
  options.level = config.GetString(conf::kLogLevel);
  options.max_file_bytes = config.GetSizeBytes(conf::kLogFileMaxSize);
  options.max_files = static_cast<int>(config.GetInt(conf::kLogFileMaxFiles));
  return InitLogging(options);
}

void SetLogNodeId(std::string_view node_id) { spdlog::set_pattern(Pattern(node_id)); }

absl::Status SetLogLevel(std::string_view level) {
  bool known = false;
  for (std::string_view l : kLogLevels) known |= l == level;
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat("unknown log level '", std::string(level),
                                                   "': want one of trace, debug, info, warn, error"));
  }
  const std::string previous = CurrentLogLevel();
  const spdlog::level::level_enum next = spdlog::level::from_str(std::string(level));
  spdlog::default_logger()->set_level(next);
  spdlog::default_logger()->log(std::max(next, spdlog::level::warn), "log level changed from {} to {}", previous,
                                std::string(level));
  return absl::OkStatus();
}

std::string CurrentLogLevel() {
  const spdlog::level::level_enum level = spdlog::default_logger()->level();
  if (level == spdlog::level::warn) return "warn";  // spdlog's own name is "warning"
  const auto name = spdlog::level::to_string_view(level);
  return std::string(name.data(), name.size());
}

}  // namespace cistern
