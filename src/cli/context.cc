#include "cli/context.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/client_options.h"
#include "common/status.h"

namespace cistern::cli {

absl::StatusOr<std::string> LocalHome(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("CISTERN_LOCAL_HOME");
  if (env != nullptr && *env != '\0') return std::string(env);
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    return absl::FailedPreconditionError("neither --home, CISTERN_LOCAL_HOME nor HOME is set");
  }
  return absl::StrCat(home, "/.cistern/local");
}

std::string ChooseConfFile(const GlobalOptions& global) {
  if (!global.conf_file.empty()) return global.conf_file;
  const char* conf_dir = std::getenv("CISTERN_CONF_DIR");
  if (conf_dir != nullptr && *conf_dir != '\0') return "";
  absl::StatusOr<std::string> home = LocalHome("");
  if (!home.ok()) return "";
  std::string local = absl::StrCat(*home, "/conf/cistern.properties");
  std::error_code ec;
  return std::filesystem::exists(local, ec) ? local : "";
}

absl::StatusOr<const Config*> Context::config() {
  if (!config_) {
    ConfigSources sources;
    sources.conf_file = ChooseConfFile(*global_);
    sources.overrides = global_->conf;
    absl::StatusOr<Config> config = Config::Load(sources);
    if (!config.ok()) {
      config_error_ = true;
      return Annotate(config.status(), "invalid configuration");
    }
    config_ = *std::move(config);
  }
  return &*config_;
}

absl::StatusOr<FileSystem*> Context::fs() {
  if (!fs_) {
    CISTERN_ASSIGN_OR_RETURN(const Config* config, this->config());
    absl::StatusOr<ClientOptions> options = client::ClientOptionsFromConfig(*config);
    if (!options.ok()) {
      config_error_ = true;
      return Annotate(options.status(), "invalid configuration");
    }
    absl::StatusOr<std::unique_ptr<FileSystem>> fs = FileSystem::Connect(*options);
    if (!fs.ok()) {
      config_error_ = true;
      return Annotate(fs.status(), "invalid configuration");
    }
    fs_ = *std::move(fs);
  }
  return fs_.get();
}

}  // namespace cistern::cli
