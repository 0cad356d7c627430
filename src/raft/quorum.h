// Quorum arithmetic of Raft, for plain majority configurations and joint ones (the old and new
// halves of a membership change), as in etcd-raft's quorum package. Pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>

namespace cistern::raft {

using NodeId = uint64_t;
using Index = uint64_t;

inline constexpr NodeId kNoNode = 0;

inline constexpr Index kInfiniteIndex = std::numeric_limits<Index>::max();

enum class VoteResult { kPending, kLost, kWon };

// What a voter has acknowledged, or std::nullopt when not known.
using AckedIndexFn = std::function<std::optional<Index>(NodeId)>;
using VoteFn = std::function<std::optional<bool>(NodeId)>;

class MajorityConfig {
 public:
  MajorityConfig() = default;
  explicit MajorityConfig(std::set<NodeId> voters) : voters_(std::move(voters)) {}

  const std::set<NodeId>& voters() const { return voters_; }
  // The largest index acknowledged by a majority (an unknown index counts as 0). The empty
  // configuration commits everything (kInfiniteIndex), so it is neutral in a joint config.
  Index CommittedIndex(const AckedIndexFn& acked) const;
  // Won with a majority of yes votes, lost once that is impossible, else pending. The empty
  // configuration wins.
  VoteResult Vote(const VoteFn& votes) const;

 private:
  std::set<NodeId> voters_;
};

class JointConfig {
 public:
  JointConfig() = default;
  JointConfig(MajorityConfig incoming, MajorityConfig outgoing)
      : incoming_(std::move(incoming)), outgoing_(std::move(outgoing)) {}

  const MajorityConfig& incoming() const { return incoming_; }
  const MajorityConfig& outgoing() const { return outgoing_; }
  std::set<NodeId> AllVoters() const;
  // Both halves must agree: the smaller of their committed indexes.
  Index CommittedIndex(const AckedIndexFn& acked) const;
  VoteResult Vote(const VoteFn& votes) const;

 private:
  MajorityConfig incoming_;
  MajorityConfig outgoing_;
};

}  // namespace cistern::raft
