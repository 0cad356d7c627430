#include "cli/journal_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace cistern::cli {

std::string FormatJournalInfo(const std::vector<JournalMember>& members) {
  std::string out = absl::StrFormat("%-22s %4s %-13s %6s %6s %10s %10s %10s %10s %s\n", "MASTER", "ID", "ROLE", "TERM",
                                    "LEADER", "COMMIT", "APPLIED", "LAST", "SNAPSHOT", "SERVING");
  for (const JournalMember& m : members) {
    if (!m.info.ok()) {
      absl::StrAppend(&out, absl::StrFormat("%-22s unreachable: %s\n", m.address, m.info.status().message()));
      continue;
    }
    const proto::GetJournalInfoResponse& i = *m.info;
    const std::string leader = i.journal() == "local" ? "-" : (i.leader_id() == 0 ? "?" : absl::StrCat(i.leader_id()));
    absl::StrAppend(&out, absl::StrFormat("%-22s %4s %-13s %6d %6s %10d %10d %10d %10d %s%s\n", m.address,
                                          i.journal() == "local" ? "-" : absl::StrCat(i.id()), i.role(), i.term(), leader,
                                          i.commit_index(), i.applied_index(), i.last_index(), i.snapshot_index(),
                                          i.serving() ? "yes" : "no",
                                          i.error().empty() ? "" : absl::StrCat("  (stopped: ", i.error(), ")")));
  }
  return out;
}

std::string JournalInfoJson(const std::vector<JournalMember>& members) {
  nlohmann::json out = nlohmann::json::array();
  for (const JournalMember& m : members) {
    if (!m.info.ok()) {
      out.push_back({{"address", m.address}, {"error", std::string(m.info.status().message())}});
      continue;
    }
    const proto::GetJournalInfoResponse& i = *m.info;
    nlohmann::json voters = nlohmann::json::array();
    for (const proto::JournalPeerInfo& v : i.voters()) {
      voters.push_back({{"id", v.id()},
                        {"rpc_address", v.rpc_address()},
                        {"raft_address", v.raft_address()},
                        {"voter", v.voter()}});
    }
    nlohmann::json j = {{"address", m.address},         {"journal", i.journal()},
                        {"id", i.id()},                 {"role", i.role()},
                        {"term", i.term()},             {"leader_id", i.leader_id()},
                        {"leader_address", i.leader_address()}, {"commit_index", i.commit_index()},
                        {"applied_index", i.applied_index()},   {"last_index", i.last_index()},
                        {"serving", i.serving()},       {"voters", voters},
                        {"first_index", i.first_index()}, {"snapshot_index", i.snapshot_index()},
                        {"log_syncs", i.log_syncs()}, {"apply_batches", i.apply_batches()},
                        {"entries_from_effects", i.entries_from_effects()}};
    if (!i.error().empty()) j["error"] = i.error();
    out.push_back(std::move(j));
  }
  return nlohmann::json{{"masters", out}}.dump();
}

}  // namespace cistern::cli
