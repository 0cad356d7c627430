// cistern: the command-line client. `cistern fs ...` works on files, `cistern admin ...` on the
// cluster, `cistern local ...` runs a one-host cluster. Errors print one line
// "cistern: <message>" to stderr and exit 1; usage errors and configuration errors exit 2.
// docs/cli.md documents every command (cli_docs_test keeps the two in step).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/context.h"
#include "common/process.h"
#include "common/version.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace cistern;
  TuneMallocForBlockData();  // reads and writes, FUSE mounts and local clusters move block data
  CLI::App app{"Command-line client of a Cistern cluster", "cistern"};
  app.require_subcommand(1);
  app.fallthrough();
  cli::GlobalOptions global;
  app.add_option("--conf", global.conf, "Override a configuration key (key=value); repeatable")
      ->allow_extra_args(false);
  app.add_option("--conf-file", global.conf_file,
                 "Properties file to read instead of $CISTERN_CONF_DIR/cistern.properties");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log the client's warnings (e.g. a worker failing over) to stderr");
  cli::Context context(&global);
  std::vector<cli::Command> commands;
  cli::AddFsCommands(&app, &context, &commands);
  cli::AddAdminCommands(&app, &context, &commands);
  cli::AddLocalCommands(&app, &context, &commands);
  CLI::App* version = app.add_subcommand("version", "Print the version of this client");
  commands.push_back({version, [] {
                        std::printf("cistern %s\n", kVersion);
                        return absl::OkStatus();
                      }});

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  // Library logs never mix with command output on stdout; quiet unless asked.
  spdlog::set_default_logger(spdlog::stderr_color_mt("cistern"));
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::err);
  for (const cli::Command& command : commands) {
    if (!command.app->parsed()) continue;
    absl::Status status = command.run();
    std::fflush(stdout);
    if (!status.ok()) {
      std::fprintf(stderr, "cistern: %s\n", std::string(status.message()).c_str());
      if (context.config_error()) return cli::kExitUsage;
      return context.exit_code() != cli::kExitOk ? context.exit_code() : cli::kExitError;
    }
    return context.exit_code();
  }
  std::fprintf(stderr, "cistern: no command given (see cistern --help)\n");
  return cli::kExitUsage;
}
