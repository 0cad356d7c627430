// Progress: what a leader knows about one follower's log, and the flow control of appends to it
// (etcd-raft's tracker): kProbe sends one append at a time until the follower's position is
// found; kReplicate pipelines up to a limit of appends in flight; kSnapshot waits while the
// driver streams a snapshot. Pure value type; owned by RawNode.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>

#include "raft/quorum.h"

namespace cistern::raft {

class Progress {
 public:
  enum class State { kProbe, kReplicate, kSnapshot };

  Progress(Index next, bool learner) : next_(next), learner_(learner) {}

  State state() const { return state_; }
  Index match() const { return match_; }
  Index next() const { return next_; }
  Index pending_snapshot() const { return pending_snapshot_; }
  bool learner() const { return learner_; }
  void set_learner(bool learner) { learner_ = learner; }
  size_t inflight() const { return inflight_.size(); }

  // Heard from since the last check-quorum round.
  bool recent_active = false;
  // The latest heartbeat round (RawNode's sequence) the follower answered, for ReadIndex and the lease.
  uint64_t acked_seq = 0;

  void BecomeProbe() {
    // After a snapshot, the follower holds at least what it covered.
    next_ = state_ == State::kSnapshot ? std::max(match_ + 1, pending_snapshot_ + 1) : match_ + 1;
    state_ = State::kProbe;
    probe_sent_ = false;
    pending_snapshot_ = 0;
    inflight_.clear();
  }
  void BecomeReplicate() {
    state_ = State::kReplicate;
    next_ = match_ + 1;
    probe_sent_ = false;
    pending_snapshot_ = 0;
    inflight_.clear();
  }
  void BecomeSnapshot(Index snapshot_index) {
    state_ = State::kSnapshot;
    pending_snapshot_ = snapshot_index;
    probe_sent_ = false;
    inflight_.clear();
  }
  // The driver could not deliver the snapshot: probe again from what is known.
  void SnapshotFailed() { pending_snapshot_ = 0; }

  // The follower acknowledged entries up to `index`; false if that is old news.
  bool MaybeUpdate(Index index) {
    const bool updated = index > match_;
    if (updated) match_ = index;
    next_ = std::max(next_, index + 1);
    probe_sent_ = false;
    while (!inflight_.empty() && inflight_.front() <= index) inflight_.pop_front();
    return updated;
  }
  // The follower rejected an append after `rejected`; `hint` is where the logs may agree. False
  // if the rejection is stale (answers an append sent before a newer decision).
  bool MaybeDecrTo(Index rejected, Index hint) {
    if (state_ == State::kReplicate) {
      if (rejected <= match_) return false;
      next_ = match_ + 1;
      return true;
    }
    if (next_ - 1 != rejected) return false;
    next_ = std::max(std::min(rejected, hint + 1), match_ + 1);
    probe_sent_ = false;
    return true;
  }

  // An append carrying entries up to `last` (none if last < next) was sent.
  void SentAppend(Index last) {
    if (state_ == State::kReplicate) {
      if (last >= next_) {
        next_ = last + 1;
        inflight_.push_back(last);
      }
    } else if (state_ == State::kProbe) {
      probe_sent_ = true;
    }
  }

  bool IsPaused(size_t max_inflight) const {
    switch (state_) {
      case State::kProbe: return probe_sent_;
      case State::kReplicate: return inflight_.size() >= max_inflight;
      case State::kSnapshot: return true;
    }
    return true;
  }
  // A heartbeat response: let one more append go out (appends may have been lost).
  void OnHeartbeatResponse(size_t max_inflight) {
    probe_sent_ = false;
    if (state_ == State::kReplicate && inflight_.size() >= max_inflight) inflight_.pop_front();
  }

 private:
  State state_ = State::kProbe;
  Index match_ = 0;
  Index next_ = 1;
  Index pending_snapshot_ = 0;
  bool probe_sent_ = false;
  bool learner_ = false;
  std::deque<Index> inflight_;  // last index of each append in flight (kReplicate)
};

}  // namespace cistern::raft
