// What every `cistern` command shares: the global flags, the configuration they select, and a
// lazily connected FileSystem.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cistern/file_system.h"
#include "common/config.h"

namespace cistern::cli {

struct GlobalOptions {
  std::vector<std::string> conf;  // --conf key=value
  std::string conf_file;          // --conf-file PATH
};

// The local cluster's home: `flag` if set, else $CISTERN_LOCAL_HOME, else $HOME/.cistern/local.
absl::StatusOr<std::string> LocalHome(const std::string& flag);

// The properties file to read: --conf-file, else nothing (Config reads $CISTERN_CONF_DIR) when
// CISTERN_CONF_DIR is set, else the local cluster's conf file if it exists.
std::string ChooseConfFile(const GlobalOptions& global);

class Context {
 public:
  explicit Context(GlobalOptions* global) : global_(global) {}

  const GlobalOptions& global() const { return *global_; }
  // The configuration; an invalid one also sets config_error().
  absl::StatusOr<const Config*> config();
  absl::StatusOr<FileSystem*> fs();

  // True once config() failed: main exits 2 (a usage error), not 1.
  bool config_error() const { return config_error_; }
  // The exit code of a command that succeeded but answers with its code (`fs test`).
  void set_exit_code(int code) { exit_code_ = code; }
  int exit_code() const { return exit_code_; }

 private:
  GlobalOptions* const global_;  // filled by the parser; outlives the context
  std::optional<Config> config_;
  std::unique_ptr<FileSystem> fs_;
  bool config_error_ = false;
  int exit_code_ = 0;
};

// A leaf command: when its subcommand was parsed, main runs `run`.
struct Command {
  CLI::App* app;
  std::function<absl::Status()> run;
};

void AddFsCommands(CLI::App* root, Context* context, std::vector<Command>* commands);
void AddAdminCommands(CLI::App* root, Context* context, std::vector<Command>* commands);
void AddAdminJournalCommands(CLI::App* admin, Context* context, std::vector<Command>* commands);
void AddFsCopyCommands(CLI::App* fs, Context* context, std::vector<Command>* commands);
void AddFsCacheCommands(CLI::App* fs, Context* context, std::vector<Command>* commands);
void AddLocalCommands(CLI::App* root, Context* context, std::vector<Command>* commands);

// Exit codes of `cistern`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // the command failed (message on stderr)
inline constexpr int kExitUsage = 2;  // bad arguments or bad configuration

}  // namespace cistern::cli
