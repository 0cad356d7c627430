#include "raft/quorum.h"

#include <algorithm>
#include <vector>

namespace cistern::raft {

Index MajorityConfig::CommittedIndex(const AckedIndexFn& acked) const {
  if (voters_.empty()) return kInfiniteIndex;
  std::vector<Index> indexes;
  indexes.reserve(voters_.size());
  for (NodeId id : voters_) indexes.push_back(acked(id).value_or(0));
  std::sort(indexes.begin(), indexes.end(), std::greater<Index>());
  // The (n/2+1)-th largest index is held by a majority.
  return indexes[voters_.size() / 2];
}

VoteResult MajorityConfig::Vote(const VoteFn& votes) const {
  if (voters_.empty()) return VoteResult::kWon;
  size_t yes = 0, missing = 0;
  for (NodeId id : voters_) {
    std::optional<bool> v = votes(id);
    if (!v.has_value()) {
      ++missing;
    } else if (*v) {
      ++yes;
    }
  }
  const size_t quorum = voters_.size() / 2 + 1;
  if (yes >= quorum) return VoteResult::kWon;
  if (yes + missing >= quorum) return VoteResult::kPending;
  return VoteResult::kLost;
}

std::set<NodeId> JointConfig::AllVoters() const {
  std::set<NodeId> all = incoming_.voters();
  all.insert(outgoing_.voters().begin(), outgoing_.voters().end());
  return all;
}

Index JointConfig::CommittedIndex(const AckedIndexFn& acked) const {
  return std::min(incoming_.CommittedIndex(acked), outgoing_.CommittedIndex(acked));
}

VoteResult JointConfig::Vote(const VoteFn& votes) const {
  const VoteResult a = incoming_.Vote(votes);
  const VoteResult b = outgoing_.Vote(votes);
  if (a == b) return a;
  if (a == VoteResult::kLost || b == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace cistern::raft
