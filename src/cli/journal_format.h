// Text and JSON of `cistern admin journal info`: one line per configured master.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cistern/proto/raft.pb.h"

namespace cistern::cli {

struct JournalMember {
  std::string address;  // the configured client address asked
  absl::StatusOr<proto::GetJournalInfoResponse> info;
};

// A table (ends with a newline): address, id, role, term, leader, commit, applied and last
// index, whether it serves; an unreachable master shows its error.
std::string FormatJournalInfo(const std::vector<JournalMember>& members);
// One JSON document, no trailing newline.
std::string JournalInfoJson(const std::vector<JournalMember>& members);

}  // namespace cistern::cli
