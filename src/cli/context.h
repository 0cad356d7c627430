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
  absl::StatusOr<const Config*> config();
  absl::StatusOr<FileSystem*> fs();

 private:
  GlobalOptions* const global_;  // filled by the parser; outlives the context
  std::optional<Config> config_;
  std::unique_ptr<FileSystem> fs_;
};

// A leaf command: when its subcommand was parsed, main runs `run`.
struct Command {
  CLI::App* app;
  std::function<absl::Status()> run;
};

void AddFsCommands(CLI::App* root, Context* context, std::vector<Command>* commands);
void AddAdminCommands(CLI::App* root, Context* context, std::vector<Command>* commands);
void AddLocalCommands(CLI::App* root, Context* context, std::vector<Command>* commands);

}  // namespace cistern::cli
