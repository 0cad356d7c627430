#include "common/daemon.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/version.h"

namespace cistern {

Config LoadDaemonConfigOrExit(int argc, char** argv, std::string_view daemon) {
  CLI::App app{std::string(daemon) + ": Cistern daemon", std::string(daemon)};
  ConfigSources sources;
  bool version = false;
  app.add_option("--conf", sources.overrides, "Override a configuration key (key=value); repeatable");
  app.add_option("--conf-file", sources.conf_file,
                 "Properties file to read instead of $CISTERN_CONF_DIR/cistern.properties");
  app.add_flag("--version", version, "Print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e) == 0 ? 0 : kExitBadConfig);
  }
  if (version) {
    std::printf("%s %s\n", std::string(daemon).c_str(), kVersion);
    std::exit(0);
  }
  absl::StatusOr<Config> config = Config::Load(sources);
  if (!config.ok()) {
    std::fprintf(stderr, "%s: invalid configuration: %s\n", std::string(daemon).c_str(),
                 std::string(config.status().message()).c_str());
    std::exit(kExitBadConfig);
  }
  return *std::move(config);
}

}  // namespace cistern
