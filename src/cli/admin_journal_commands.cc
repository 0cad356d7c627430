// cistern admin journal info
#include "absl/strings/numbers.h"
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

// A call to one master that may take long (a membership change waiting for a snapshot to reach
// the new master, a backup of a large namespace).
rpc::MasterClient LongCallTo(const std::string& address) {
  rpc::MasterClientOptions options;
  options.addresses = {address};
  options.follow_leader = false;
  options.retry_window_ms = 0;
  options.rpc_timeout_ms = 11 * 60 * 1000;
  return rpc::MasterClient(options);
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

// A membership change or transfer, sent to the serving leader. Adding a master may wait for a
// snapshot to reach it, hence the long deadline.
absl::Status Quorum(Context* context, const std::string& action, const std::string& argument) {
  uint64_t id = 0;
  if (action != "add" && (!absl::SimpleAtoi(argument, &id) || id == 0)) {
    return absl::InvalidArgumentError(absl::StrCat("'", argument, "' is not a master id (a positive integer)"));
  }
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  CISTERN_ASSIGN_OR_RETURN(std::string leader, FindLeader(AskEveryMaster(*config)));
  rpc::MasterClient client = LongCallTo(leader);
  absl::Status status;
  if (action == "add") {
    proto::AddMasterRequest request;
    request.set_peer(argument);
    status = client.AddMaster(request).status();
  } else if (action == "remove") {
    proto::RemoveMasterRequest request;
    request.set_id(id);
    status = client.RemoveMaster(request).status();
  } else {
    proto::TransferLeadershipRequest request;
    request.set_id(id);
    status = client.TransferLeadership(request).status();
  }
  CISTERN_RETURN_IF_ERROR(status);
  const char* done = action == "add" ? "added as a voter" : action == "remove" ? "removed" : "is the leader now";
  return PrintOut(absl::StrCat("master ", argument, " ", done, " (asked ", leader, ")\n"));
}

// The serving leader writes the backup on its own host.
absl::Status Backup(Context* context, const std::string& dir) {
  CISTERN_ASSIGN_OR_RETURN(const Config* config, context->config());
  CISTERN_ASSIGN_OR_RETURN(std::string leader, FindLeader(AskEveryMaster(*config)));
  proto::BackupRequest request;
  request.set_dir(dir);
  CISTERN_ASSIGN_OR_RETURN(proto::BackupResponse response, LongCallTo(leader).Backup(request));
  return PrintOut(absl::StrCat("backup at journal index ", response.applied_index(), " written to ", dir, " on ", leader,
                               "\n"));
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
  {
    CLI::App* backup = admin->add_subcommand(
        "backup", "Write a consistent backup of the namespace into a new directory on the leading master's host");
    auto dir = std::make_shared<std::string>();
    backup->add_option("DIR", *dir, "Absolute path on the master's host; must not exist")->required();
    commands->push_back({backup, [=] { return Backup(context, *dir); }});
  }
  CLI::App* quorum = journal->add_subcommand("quorum", "Change the masters of the Raft group, one at a time");
  quorum->require_subcommand(1);
  quorum->fallthrough();
  {
    CLI::App* add = quorum->add_subcommand(
        "add", "Add a master (started with master.raft.join=true): first as a learner, a voter once caught up");
    auto peer = std::make_shared<std::string>();
    add->add_option("PEER", *peer, "The new master as ID@HOST:RPC_PORT:RAFT_PORT")->required();
    commands->push_back({add, [=] { return Quorum(context, "add", *peer); }});
  }
  {
    CLI::App* remove = quorum->add_subcommand("remove", "Remove a master from the group (the leader too)");
    auto id = std::make_shared<std::string>();
    remove->add_option("ID", *id, "The master's id")->required();
    commands->push_back({remove, [=] { return Quorum(context, "remove", *id); }});
  }
  {
    CLI::App* elect = quorum->add_subcommand("elect", "Hand the leadership to a master and wait until it leads");
    auto id = std::make_shared<std::string>();
    elect->add_option("ID", *id, "The master's id")->required();
    commands->push_back({elect, [=] { return Quorum(context, "elect", *id); }});
  }
}

}  // namespace cistern::cli
