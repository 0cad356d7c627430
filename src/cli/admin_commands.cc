// cistern admin report
#include <cstdio>

#include "cli/context.h"
#include "cli/format.h"
#include "common/clock.h"
#include "common/status.h"

namespace cistern::cli {
namespace {

absl::Status Report(Context* context) {
  CISTERN_ASSIGN_OR_RETURN(FileSystem * fs, context->fs());
  CISTERN_ASSIGN_OR_RETURN(MasterInfo master, fs->GetMasterInfo());
  CISTERN_ASSIGN_OR_RETURN(std::vector<WorkerSummary> workers, fs->GetWorkers());
  std::string text = FormatReport(master, workers, RealClock()->NowMs());
  std::fwrite(text.data(), 1, text.size(), stdout);
  return absl::OkStatus();
}

}  // namespace

void AddAdminCommands(CLI::App* root, Context* context, std::vector<Command>* commands) {
  CLI::App* admin = root->add_subcommand("admin", "Administer the cluster");
  admin->require_subcommand(1);
  admin->fallthrough();
  CLI::App* report = admin->add_subcommand("report", "Show the master and every worker with its usage");
  commands->push_back({report, [=] { return Report(context); }});
}

}  // namespace cistern::cli
