// Cluster membership of the Raft core: voters, learners (replicated to, but neither voting nor
// counted in quorums, so a new server catches up before it can affect commitment), and one
// opaque context per member (the driver keeps e.g. the member's address there). Changes are one
// server at a time (ConfChange), carried by log entries of type kConfChange whose data is
// EncodeConfChangeEntry(): the change and the whole membership after it, so a server learning
// the log from any point knows the full configuration. Pure value types and functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "raft/quorum.h"

namespace cistern::raft {

struct Membership {
  std::set<NodeId> voters;
  std::set<NodeId> learners;                // disjoint from voters
  std::map<NodeId, std::string> contexts;  // opaque, set by the change that added the member

  bool IsVoter(NodeId id) const { return voters.count(id) > 0; }
  bool IsLearner(NodeId id) const { return learners.count(id) > 0; }
  bool Contains(NodeId id) const { return IsVoter(id) || IsLearner(id); }
  std::string DebugString() const;
  bool operator==(const Membership&) const = default;
};

enum class ConfChangeType : uint8_t {
  kAddLearner = 1,  // a new non-voting member
  kAddVoter = 2,    // a new voter, or the promotion of a learner
  kRemoveNode = 3,  // a voter or learner leaves
};
const char* ConfChangeTypeName(ConfChangeType type);

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddLearner;
  NodeId node = kNoNode;
  std::string context;  // kAddLearner/kAddVoter: stored for the member (empty keeps the old one)
  bool operator==(const ConfChange&) const = default;
};

// The membership after `change`, or INVALID_ARGUMENT / FAILED_PRECONDITION when the change does
// nothing or is not allowed (adding a member twice, removing a non-member or the last voter).
absl::StatusOr<Membership> ApplyConfChange(const Membership& membership, const ConfChange& change);

// Binary encodings (versioned, little-endian). The decoders check every length and return
// DATA_LOSS with what was wrong, never read out of bounds.
std::string EncodeMembership(const Membership& membership);
absl::StatusOr<Membership> DecodeMembership(std::string_view data);

struct ConfChangeRecord {
  ConfChange change;
  Membership membership;  // in effect once the entry is appended
  bool operator==(const ConfChangeRecord&) const = default;
};
std::string EncodeConfChangeEntry(const ConfChangeRecord& record);
absl::StatusOr<ConfChangeRecord> DecodeConfChangeEntry(std::string_view data);

}  // namespace cistern::raft
