// Test-only: a simulated Raft cluster of RawNodes with a network that can drop, duplicate,
// reorder and partition messages, and nodes that crash (losing everything not persisted) and
// restart. Invariants are checked after every step; violations are collected as strings.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/raft.h"

namespace cistern::raft {

class SimCluster {
 public:
  struct Options {
    int nodes = 3;
    uint64_t seed = 1;
    bool pre_vote = true;
    bool check_quorum = true;
    size_t max_entries_per_message = 64;
  };

  explicit SimCluster(Options options) : options_(options), rng_(options.seed) {
    for (int i = 1; i <= options.nodes; ++i) ids_.push_back(static_cast<NodeId>(i));
    for (NodeId id : ids_) {
      disks_[id] = Disk{};
      Restart(id);
    }
  }

  RawNode& node(NodeId id) { return *nodes_.at(id); }
  const std::vector<NodeId>& ids() const { return ids_; }
  bool alive(NodeId id) const { return nodes_.count(id) > 0; }
  std::vector<std::string>& violations() { return violations_; }
  const std::map<Index, Entry>& applied() const { return applied_; }

  void Tick(NodeId id) {
    if (!alive(id)) return;
    node(id).Tick();
    Process(id);
  }

  // Delivers the queued message at `position` (in any order: the network reorders).
  void Deliver(size_t position) {
    if (position >= network_.size()) return;
    Message m = network_[position];
    network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(position));
    if (!alive(m.to) || Cut(m.from, m.to)) return;
    node(m.to).Step(m);
    Process(m.to);
  }
  void DeliverAll(int rounds = 1000) {
    for (int i = 0; i < rounds && !network_.empty(); ++i) Deliver(0);
  }
  size_t in_flight() const { return network_.size(); }
  // Delivers queued messages accepted by `keep` (including those they cause) until none is
  // left; the others are dropped. `stop_after`, if it returns true for a delivered message,
  // ends the loop right after it.
  void DeliverOnly(const std::function<bool(const Message&)>& keep,
                   const std::function<bool(const Message&)>& stop_after = nullptr) {
    while (!network_.empty()) {
      Message m = network_.front();
      network_.pop_front();
      if (!keep(m) || !alive(m.to)) continue;
      node(m.to).Step(m);
      Process(m.to);
      if (stop_after && stop_after(m)) return;
    }
  }
  void DropAll() { network_.clear(); }
  void DropMessage(size_t position) {
    if (position < network_.size()) network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(position));
  }
  void DuplicateMessage(size_t position) {
    if (position < network_.size()) network_.push_back(network_[position]);
  }

  bool Propose(NodeId id, const std::string& data) {
    if (!alive(id) || !node(id).Propose(data).ok()) return false;
    Process(id);
    return true;
  }

  // Loses everything the node did not persist, then starts it from its disk.
  void Crash(NodeId id) { nodes_.erase(id); }
  void Restart(NodeId id) {
    Config config;
    config.id = id;
    config.voters = ids_;
    config.pre_vote = options_.pre_vote;
    config.check_quorum = options_.check_quorum;
    config.max_entries_per_message = options_.max_entries_per_message;
    config.seed = rng_();
    config.applied = disks_[id].applied;
    nodes_[id] = std::make_unique<RawNode>(config, disks_[id].hard_state, disks_[id].log);
    was_leader_[id] = false;
  }

  void Partition(std::set<NodeId> side) { partition_ = std::move(side); }
  void Heal() { partition_.clear(); }
  bool Cut(NodeId a, NodeId b) const {
    if (partition_.empty()) return false;
    return partition_.count(a) != partition_.count(b);
  }

  std::optional<NodeId> Leader() const {
    std::optional<NodeId> leader;
    Term best = 0;
    for (const auto& [id, n] : nodes_) {
      if (n->role() == Role::kLeader && n->term() >= best) {
        best = n->term();
        leader = id;
      }
    }
    return leader;
  }

  // Log matching over the persisted logs: equal (index, term) implies equal prefixes.
  void CheckLogMatching() {
    for (size_t a = 0; a < ids_.size(); ++a) {
      for (size_t b = a + 1; b < ids_.size(); ++b) {
        const auto& la = disks_[ids_[a]].log;
        const auto& lb = disks_[ids_[b]].log;
        size_t n = std::min(la.size(), lb.size());
        size_t match = 0;
        for (size_t i = n; i > 0; --i) {
          if (la[i - 1].term == lb[i - 1].term) {
            match = i;
            break;
          }
        }
        for (size_t i = 0; i < match; ++i) {
          if (!(la[i] == lb[i])) {
            Violation(absl::StrCat("log matching: nodes ", ids_[a], " and ", ids_[b], " agree on index ", match,
                                   " but differ at ", i + 1));
            return;
          }
        }
      }
    }
  }

 private:
  struct Disk {
    HardState hard_state;
    std::vector<Entry> log;
    Index applied = 0;
  };

  void Violation(std::string what) { violations_.push_back(std::move(what)); }

  void Process(NodeId id) {
    RawNode& n = node(id);
    while (n.HasReady()) {
      Ready ready = n.GetReady();
      Disk& disk = disks_[id];
      const Index durable_commit = disk.hard_state.commit;  // what was committed before this Ready
      if (ready.hard_state) {
        if (ready.hard_state->term < disk.hard_state.term) Violation(absl::StrCat("node ", id, ": term went back"));
        disk.hard_state = *ready.hard_state;
      }
      if (!ready.entries.empty()) {
        const Index first = ready.entries.front().index;
        if (first <= durable_commit && first <= disk.log.size()) {
          // Truncating below the commit index would lose a committed entry.
          for (const Entry& e : ready.entries) {
            if (e.index <= durable_commit && e.index <= disk.log.size() && !(disk.log[e.index - 1] == e)) {
              Violation(absl::StrCat("node ", id, ": overwrote committed entry ", e.index));
            }
          }
        }
        disk.log.resize(first - 1);
        disk.log.insert(disk.log.end(), ready.entries.begin(), ready.entries.end());
      }
      for (Message& m : ready.messages) {
        if (!Cut(m.from, m.to)) network_.push_back(std::move(m));
      }
      for (const Entry& e : ready.committed_entries) {
        auto [it, inserted] = applied_.emplace(e.index, e);
        if (!inserted && !(it->second == e)) {
          Violation(absl::StrCat("state machine safety: node ", id, " applied a different entry at index ", e.index));
        }
        disk.applied = e.index;
      }
      n.Advance(ready);
    }
    if (n.role() == Role::kLeader) {
      auto [it, inserted] = leaders_.emplace(n.term(), id);
      if (!inserted && it->second != id) {
        Violation(absl::StrCat("election safety: nodes ", it->second, " and ", id, " both lead term ", n.term()));
      }
      if (!was_leader_[id]) {
        // Leader completeness: a new leader holds every entry applied anywhere.
        for (const auto& [index, entry] : applied_) {
          if (index > n.last_index() || !(n.log()[index] == entry)) {
            Violation(absl::StrCat("leader completeness: leader ", id, " of term ", n.term(), " lacks entry ", index));
            break;
          }
        }
      }
      was_leader_[id] = true;
    } else {
      was_leader_[id] = false;
    }
  }

  const Options options_;
  std::mt19937_64 rng_;
  std::vector<NodeId> ids_;
  std::map<NodeId, std::unique_ptr<RawNode>> nodes_;
  std::map<NodeId, Disk> disks_;
  std::map<NodeId, bool> was_leader_;
  std::deque<Message> network_;
  std::set<NodeId> partition_;
  std::map<Term, NodeId> leaders_;
  std::map<Index, Entry> applied_;
  std::vector<std::string> violations_;
};

}  // namespace cistern::raft
