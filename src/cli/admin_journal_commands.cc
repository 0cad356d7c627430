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

std::vector<JournalMember> AskEveryMaster(const Config& config) {
  std::vector<JournalMember> members;
  for (const std::string& address : MasterAddresses(config)) {
    members.push_back({address, OneMaster(config, address).GetJournalInfo({})});
  }
  return members;
}

// The configured address of the serving leader; UNAVAILABLE naming what each master said.
absl::StatusOr<std::string> FindLeader(const std::vector<JournalMember>& members) {
  std::string seen;
  for (const JournalMember& m : members) {
    if (m.info.ok() && m.info->serving()) return m.address;
    absl::StrAppend(&seen, seen.empty() ? "" : "; ", m.address, ": ",
                    m.info.ok() ? absl::StrCat(m.info->role(), ", term ", m.info->term())
                                : std::string(m.info.status().message()));
  }
  return absl::UnavailableError(absl::StrCat("no master serves as the leader (", seen, ")"));
}

absl::Status Checkpoint(Context* context, bool all) {
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  const std::vector<JournalMember> members = AskEveryMaster(*config);
  std::vector<std::string> targets;
  if (all) {
    for (const JournalMember& m : members) targets.push_back(m.address);
  } else {
    CISTERN_ASSIGN_OR_RETURN(std::string leader, FindLeader(members));
    targets.push_back(leader);
  }
  absl::Status first_error;
  for (const std::string& address : targets) {
    rpc::MasterClient client = OneMaster(*config, address);
    absl::StatusOr<proto::CheckpointResponse> done = client.Checkpoint({});
    if (done.ok()) {
      CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrCat(address, ": snapshot at index ", done->snapshot_index(),
                                                    ", log compacted\n")));
    } else {
      CISTERN_RETURN_IF_ERROR(PrintOut(absl::StrCat(address, ": failed: ", done.status().message(), "\n")));
      if (first_error.ok()) first_error = Annotate(done.status(), address);
    }
  }
  return first_error;
}

absl::Status Info(Context* context, bool json) {
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  const std::vector<JournalMember> members = AskEveryMaster(*config);
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
  {
    CLI::App* checkpoint = journal->add_subcommand(
        "checkpoint", "Snapshot the namespace on the leader now and compact its Raft log");
    auto all = std::make_shared<bool>(false);
    checkpoint->add_flag("--all", *all, "On every master, not only the leader");
    commands->push_back({checkpoint, [=] { return Checkpoint(context, *all); }});
  }
}

}  // namespace cistern::cli
