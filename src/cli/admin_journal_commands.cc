// cistern admin journal info
#include "absl/strings/str_cat.h"
#include "cli/context.h"
#include "cli/fs_util.h"
#include "cli/journal_format.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "rpc/master_client.h"

namespace cistern::cli {
namespace {

// Asks one particular master (no failover, a short deadline: an unreachable master must not
// hold up the report about the others).
rpc::MasterClient OneMaster(const Config& config, const std::string& address) {
  rpc::MasterClientOptions options;
  options.addresses = {address};
  options.follow_leader = false;
  options.retry_window_ms = 0;
  options.rpc_timeout_ms = std::min<int64_t>(config.GetDurationMs(conf::kUserRpcTimeout), 5000);
  return rpc::MasterClient(options);
}

absl::Status Info(Context* context, bool json) {
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  std::vector<JournalMember> members;
  for (const std::string& address : MasterAddresses(*config)) {
    members.push_back({address, OneMaster(*config, address).GetJournalInfo({})});
  }
  return PrintOut(json ? JournalInfoJson(members) + "\n" : FormatJournalInfo(members));
}

}  // namespace

void AddAdminJournalCommands(CLI::App* admin, Context* context, std::vector<Command>* commands) {
  CLI::App* journal = admin->add_subcommand("journal", "The masters' journal (Raft group): state and administration");
  journal->require_subcommand(1);
  journal->fallthrough();
  {
    CLI::App* info = journal->add_subcommand(
        "info", "Show every configured master's journal: role, term, leader, commit and applied index");
    auto json = std::make_shared<bool>(false);
    info->add_flag("--json", *json, "One JSON object");
    commands->push_back({info, [=] { return Info(context, *json); }});
  }
}

}  // namespace cistern::cli
