// Test-only: a simulated Raft cluster of RawNodes, each with a simulated driver that follows the
// Ready contract (install snapshot -> persist -> send -> apply -> advance) over a simulated disk,
// and a network that can drop, duplicate, reorder and partition messages (both ways or one way).
// Nodes crash (losing everything not persisted; a crash can hit between the steps of a Ready,
// and the state machine may lose its unsynced tail) and restart from their disks. Snapshots are
// the state machine's content (a hash chain over applied entries) streamed with kSnapshot
// messages; the sender is told the outcome (ReportSnapshot).
//
// Invariants are checked as the cluster runs and violations collected as strings:
//   election safety     at most one leader per term;
//   log matching        every persisted (index, term) names one entry and one previous term, so
//                       equal (index, term) implies equal prefixes (plus a full pairwise check
//                       of the in-memory logs by CheckLogMatching());
//   leader completeness every leader of a later term than the one an applied entry was
//                       committed in (bounded by the applier's term) holds it or a snapshot
//                       covering it, checked when elected and when the entry is applied;
//   state-machine safety every node applies the same entry at an index, and every installed
//                       snapshot equals the applied prefix;
//   reads               a ReadState's index covers every entry applied anywhere before the read
//                       was issued;
//   proposals           an applied entry is the proposal whose EntryId names its index and term;
//   durability          terms and commit indexes on disk never go back, no committed entry is
//                       overwritten, a leader is a voter when elected.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raft/raft.h"

namespace cistern::raft {

class SimCluster {
 public:
  struct Options {
    int nodes = 3;  // the initial voters: ids 1..nodes
    uint64_t seed = 1;
    bool pre_vote = true;
    bool check_quorum = true;
    size_t max_entries_per_message = 64;
    int spare_nodes = 0;  // ids nodes+1..nodes+spare run from the start, outside the cluster
    ReadMode read_mode = ReadMode::kReadIndex;
    int election_ticks = 10;
    size_t max_inflight_messages = 16;
  };

  // What a read request observed.
  struct ReadRecord {
    NodeId node = kNoNode;
    Index bar = 0;  // the highest index applied anywhere when it was issued
    std::vector<Index> indexes;  // every ReadState received for it
  };

  explicit SimCluster(Options options) : options_(options), rng_(options.seed) {
    for (int i = 1; i <= options.nodes + options.spare_nodes; ++i) ids_.push_back(static_cast<NodeId>(i));
    chain_[0] = 0;
    for (int i = 1; i <= options.nodes; ++i) committed_configs_[0].voters.insert(static_cast<NodeId>(i));
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
  Index max_applied() const { return applied_.empty() ? 0 : applied_.rbegin()->first; }
  const std::map<std::string, ReadRecord>& reads() const { return reads_; }
  // The index a node's state machine has applied (survives crashes as its disk does).
  Index sm_applied(NodeId id) const { return disks_.at(id).sm_applied; }
  const SnapshotMeta& disk_snapshot(NodeId id) const { return disks_.at(id).snapshot; }
  int snapshots_installed() const { return snapshots_installed_; }

  // When set, consulted at each crash point of a node's Ready loop; true crashes the node there.
  std::function<bool(NodeId, const char* point)> crash_in_ready;
  // When set, a crash rolls the state machine back to an index in [snapshot, applied] it picks.
  std::function<Index(Index lo, Index hi)> sm_rollback;

  void Tick(NodeId id) {
    if (!alive(id)) return;
    node(id).Tick();
    Process(id);
  }
  void TickAll() {
    for (NodeId id : ids_) Tick(id);
  }

  // Delivers the queued message at `position` (in any order: the network reorders).
  void Deliver(size_t position) {
    if (position >= network_.size()) return;
    Packet p = std::move(network_[position]);
    network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(position));
    DeliverPacket(std::move(p));
  }
  void DeliverAll(int rounds = 5000) {
    for (int i = 0; i < rounds && !network_.empty(); ++i) Deliver(0);
  }
  size_t in_flight() const { return network_.size(); }
  const Message& message(size_t position) const { return network_[position].m; }
  // Delivers queued messages accepted by `keep` (including those they cause) until none is
  // left; the others are dropped. `stop_after`, if it returns true for a delivered message,
  // ends the loop right after it.
  void DeliverOnly(const std::function<bool(const Message&)>& keep,
                   const std::function<bool(const Message&)>& stop_after = nullptr) {
    for (int delivered = 0; !network_.empty(); ++delivered) {
      if (delivered == 100000) {
        Violation("the network never quiesces: messages keep causing messages");
        return;
      }
      Packet p = std::move(network_.front());
      network_.pop_front();
      if (!keep(p.m)) {
        Dropped(p);
        continue;
      }
      const Message m = p.m;
      DeliverPacket(std::move(p));
      if (stop_after && stop_after(m)) return;
    }
  }
  void DropAll() {
    while (!network_.empty()) DropMessage(0);
  }
  void DropMessage(size_t position) {
    if (position >= network_.size()) return;
    Packet p = std::move(network_[position]);
    network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(position));
    Dropped(p);
  }
  void DuplicateMessage(size_t position) {
    if (position < network_.size()) network_.push_back(network_[position]);
  }

  bool Propose(NodeId id, const std::string& data) { return ProposeId(id, data).has_value(); }
  std::optional<EntryId> ProposeId(NodeId id, const std::string& data) {
    if (!alive(id)) return std::nullopt;
    auto r = node(id).Propose(data);
    if (!r.ok()) return std::nullopt;
    proposals_[data] = *r;
    Process(id);
    return *r;
  }
  absl::Status ProposeConfChange(NodeId id, const ConfChange& change) {
    if (!alive(id)) return absl::UnavailableError("down");
    auto r = node(id).ProposeConfChange(change);
    if (r.ok()) Process(id);
    return r.status();
  }
  absl::Status TransferLeadership(NodeId id, NodeId target) {
    if (!alive(id)) return absl::UnavailableError("down");
    absl::Status s = node(id).TransferLeadership(target);
    Process(id);
    return s;
  }
  // Issues a read with a fresh context at `id`; returns the context (empty if refused).
  std::string ReadIndex(NodeId id) {
    if (!alive(id)) return {};
    std::string context = absl::StrCat("r", next_read_++);
    if (!node(id).ReadIndex(context).ok()) return {};
    reads_[context] = ReadRecord{id, max_applied(), {}};
    Process(id);
    return context;
  }
  // The driver takes a snapshot of the state machine at its applied index and compacts.
  absl::Status Compact(NodeId id, Index keep_entries = 0) {
    if (!alive(id)) return absl::UnavailableError("down");
    Disk& disk = disks_[id];
    const Index index = node(id).applied();
    if (index <= disk.snapshot.index) return absl::OkStatus();
    auto meta = node(id).SnapshotMetaAt(index);
    if (meta.status().code() == absl::StatusCode::kFailedPrecondition) return absl::OkStatus();  // not yet
    if (!meta.ok()) return meta.status();
    if (!(meta->membership == CommittedMembershipAt(index))) {
      Violation(absl::StrCat("node ", id, ": snapshot at ", index, " has membership ", meta->membership.DebugString()));
    }
    disk.snapshot = *meta;
    disk.snapshot_hash = disk.sm_hash;
    if (disk.sm_applied != index) Violation(absl::StrCat("node ", id, ": state machine at ", disk.sm_applied, " not ", index));
    DropDiskLogThrough(disk, index);
    return node(id).Compact(*meta, keep_entries);
  }
  void ReportUnreachable(NodeId id, NodeId peer) {
    if (!alive(id)) return;
    node(id).ReportUnreachable(peer);
    Process(id);
  }

  // Loses everything the node did not persist, then (Restart) starts it from its disk.
  void Crash(NodeId id) {
    if (!alive(id)) return;
    nodes_.erase(id);
    staged_.erase(id);
    ++incarnation_[id];
    Disk& disk = disks_[id];
    if (sm_rollback && disk.sm_applied > disk.snapshot.index) {
      // The state machine's own writes since its last sync are lost too; the log replays them.
      const Index to = sm_rollback(disk.snapshot.index, disk.sm_applied);
      disk.sm_applied = to;
      disk.sm_hash = to == disk.snapshot.index ? disk.snapshot_hash : chain_.at(to);
    }
  }
  void Restart(NodeId id) {
    if (alive(id)) return;
    Config config;
    config.id = id;
    if (id <= static_cast<NodeId>(options_.nodes)) {
      for (int i = 1; i <= options_.nodes; ++i) config.voters.push_back(static_cast<NodeId>(i));
    }
    config.pre_vote = options_.pre_vote;
    config.check_quorum = options_.check_quorum;
    config.max_entries_per_message = options_.max_entries_per_message;
    config.max_inflight_messages = options_.max_inflight_messages;
    config.read_mode = options_.read_mode;
    config.election_ticks = options_.election_ticks;
    config.seed = rng_();
    const Disk& disk = disks_[id];
    config.applied = disk.sm_applied;
    auto n = RawNode::Create(config, PersistedState{disk.hard_state, disk.snapshot, disk.log});
    if (!n.ok()) {
      Violation(absl::StrCat("node ", id, " cannot restart: ", n.status().ToString()));
      return;
    }
    nodes_[id] = *std::move(n);
    was_leader_[id] = false;
    Process(id);
  }

  void Partition(std::set<NodeId> side) {
    partition_ = std::move(side);
    one_way_.clear();
  }
  // Messages from `from` to `to` are lost (the other direction still works).
  void CutOneWay(NodeId from, NodeId to) { one_way_.insert({from, to}); }
  void Heal() {
    partition_.clear();
    one_way_.clear();
  }
  bool Cut(NodeId from, NodeId to) const {
    if (one_way_.count({from, to})) return true;
    if (partition_.empty()) return false;
    return partition_.count(from) != partition_.count(to);
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

  // One line per node: role, term, vote, leader, log and commit positions, membership.
  std::string DebugState() const {
    std::string out;
    for (NodeId id : ids_) {
      auto it = nodes_.find(id);
      if (it == nodes_.end()) {
        absl::StrAppend(&out, "  node ", id, ": down\n");
        continue;
      }
      const RawNode& n = *it->second;
      absl::StrAppend(&out, "  node ", id, ": ", RoleName(n.role()), " term ", n.term(), " vote ", n.vote(), " leader ",
                      n.leader(), " log [", n.first_index(), ", ", n.last_index(), "] last term ", n.log().back().term,
                      " commit ", n.commit(), " applied ", n.applied(), " ", n.membership().DebugString(), "\n");
      if (n.role() != Role::kLeader) continue;
      for (NodeId peer : ids_) {
        const Progress* pr = n.progress(peer);
        if (pr == nullptr || peer == id) continue;
        static const char* kStates[] = {"probe", "replicate", "snapshot"};
        absl::StrAppend(&out, "    -> ", peer, ": ", kStates[static_cast<int>(pr->state())], " match ", pr->match(), " next ",
                        pr->next(), " inflight ", pr->inflight(), " pending snapshot ", pr->pending_snapshot(),
                        pr->recent_active ? " active" : " inactive", "\n");
      }
    }
    absl::StrAppend(&out, "  ", network_.size(), " messages in flight; partition {", absl::StrJoin(partition_, ","),
                    "}, ", one_way_.size(), " one-way cuts\n");
    return out;
  }

  // Log matching over the in-memory logs of live nodes, pairwise: where two logs have an entry
  // with the same index and term, every entry both hold up to there is equal.
  void CheckLogMatching() {
    for (auto a = nodes_.begin(); a != nodes_.end(); ++a) {
      for (auto b = std::next(a); b != nodes_.end(); ++b) {
        const RawNode& na = *a->second;
        const RawNode& nb = *b->second;
        const Index lo = std::max(na.first_index(), nb.first_index());
        const Index hi = std::min(na.last_index(), nb.last_index());
        Index match = 0;
        for (Index i = hi; i >= lo && i > 0; --i) {
          if (na.TermAt(i) == nb.TermAt(i)) {
            match = i;
            break;
          }
        }
        for (Index i = lo; i <= match; ++i) {
          if (!(EntryOf(na, i) == EntryOf(nb, i))) {
            Violation(absl::StrCat("log matching: nodes ", a->first, " and ", b->first, " agree on index ", match,
                                   " but differ at ", i));
            return;
          }
        }
      }
    }
  }

  // Leader completeness at any time: every live leader holds every applied entry of an earlier
  // term than its own (entries it compacted are covered by its snapshot).
  void CheckLeaders() {
    for (const auto& [id, n] : nodes_) {
      if (n->role() != Role::kLeader) continue;
      for (const auto& [index, bound] : commit_bound_) {
        if (n->term() > bound) CheckLeaderHolds(id, *n, index);
      }
    }
  }

 private:
  struct Disk {
    HardState hard_state;
    SnapshotMeta snapshot;
    uint64_t snapshot_hash = 0;
    std::vector<Entry> log;  // entries after snapshot.index
    Index sm_applied = 0;    // the state machine
    uint64_t sm_hash = 0;
  };
  struct Packet {
    Message m;
    uint64_t incarnation = 0;  // of the sender
    uint64_t snapshot_hash = 0;
  };

  static const Entry& EntryOf(const RawNode& n, Index i) { return n.log()[i - n.log()[0].index]; }
  static uint64_t Mix(uint64_t h, const Entry& e) {
    h ^= std::hash<std::string>()(e.data) + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h = h * 0xff51afd7ed558ccdull ^ (e.term * 31 + e.index + static_cast<uint64_t>(e.type));
    return h ^ (h >> 33);
  }

  void Violation(std::string what) { violations_.push_back(std::move(what)); }

  void DropDiskLogThrough(Disk& disk, Index index) {
    auto it = std::find_if(disk.log.begin(), disk.log.end(), [&](const Entry& e) { return e.index > index; });
    disk.log.erase(disk.log.begin(), it);
  }

  void Dropped(const Packet& p) {
    // The sender's driver learns that a snapshot did not get through.
    if (p.m.type == MessageType::kSnapshot) reports_.push_back({p.m.from, p.m.to, SnapshotStatus::kFailed, p.incarnation});
    FlushReports();
  }

  // Snapshot outcomes reach the sender's core later, never in the middle of one of its Ready
  // loops (the driver streams asynchronously).
  struct Report {
    NodeId from, to;
    SnapshotStatus status;
    uint64_t incarnation;
  };
  void FlushReports() {
    if (depth_ > 0 || flushing_) return;
    flushing_ = true;
    while (!reports_.empty()) {
      const Report r = reports_.front();
      reports_.pop_front();
      if (!alive(r.from) || incarnation_[r.from] != r.incarnation) continue;
      node(r.from).ReportSnapshot(r.to, r.status);
      Process(r.from);
    }
    flushing_ = false;
  }

  void DeliverPacket(Packet p) {
    if (!alive(p.m.to) || Cut(p.m.from, p.m.to)) {
      Dropped(p);
      return;
    }
    if (p.m.type == MessageType::kSnapshot) staged_[p.m.to][p.m.snapshot->index] = {*p.m.snapshot, p.snapshot_hash};
    const Message& m = p.m;
    absl::Status s = node(m.to).Step(m);
    if (!s.ok()) Violation(absl::StrCat("node ", m.to, " refused ", MessageTypeName(m.type), ": ", s.ToString()));
    Process(m.to);
    if (m.type == MessageType::kSnapshot) reports_.push_back({m.from, m.to, SnapshotStatus::kFinished, p.incarnation});
    FlushReports();
  }

  bool CrashAt(NodeId id, const char* point) {
    if (crash_in_ready && crash_in_ready(id, point)) {
      Crash(id);
      return true;
    }
    return false;
  }

  void Persist(NodeId id, const Ready& ready) {
    Disk& disk = disks_[id];
    if (ready.snapshot.has_value()) {
      const SnapshotMeta& s = *ready.snapshot;
      auto staged = staged_[id].find(s.index);
      if (staged == staged_[id].end() || !(staged->second.first == s)) {
        Violation(absl::StrCat("node ", id, ": Ready asks to install snapshot ", s.index, " that was not received"));
        return;
      }
      const uint64_t hash = staged->second.second;
      auto c = chain_.find(s.index);
      if (c == chain_.end() || c->second != hash) {
        Violation(absl::StrCat("state machine safety: node ", id, " installs a snapshot at ", s.index,
                               " that differs from the applied prefix"));
      }
      if (s.index <= disk.hard_state.commit && s.index <= disk.sm_applied) {
        Violation(absl::StrCat("node ", id, ": installs snapshot ", s.index, " at or below its commit index"));
      }
      disk.snapshot = s;
      disk.snapshot_hash = hash;
      disk.log.clear();  // the whole stored log goes: it may conflict with the snapshot
      disk.sm_applied = s.index;
      disk.sm_hash = hash;
      staged_[id].clear();
      ++snapshots_installed_;
    }
    const Index durable_commit = std::max(disk.hard_state.commit, disk.sm_applied);  // before this Ready
    if (ready.hard_state.has_value()) {
      if (ready.hard_state->term < disk.hard_state.term) Violation(absl::StrCat("node ", id, ": term went back"));
      if (ready.hard_state->commit < disk.hard_state.commit) {
        Violation(absl::StrCat("node ", id, ": commit went back from ", disk.hard_state.commit, " to ",
                               ready.hard_state->commit));
      }
      disk.hard_state = *ready.hard_state;
    }
    if (!ready.entries.empty()) {
      const Index first = ready.entries.front().index;
      const Index disk_last = disk.log.empty() ? disk.snapshot.index : disk.log.back().index;
      if (first <= disk.snapshot.index || first > disk_last + 1) {
        Violation(absl::StrCat("node ", id, ": entries from ", first, " do not follow the stored log (snapshot ",
                               disk.snapshot.index, ", last ", disk_last, ")"));
        return;
      }
      for (const Entry& e : ready.entries) {
        if (e.index <= disk_last && e.index <= durable_commit) {
          const Entry& old = disk.log[e.index - disk.snapshot.index - 1];
          if (!(old == e)) Violation(absl::StrCat("node ", id, ": overwrote committed entry ", e.index));
        }
      }
      disk.log.resize(first - disk.snapshot.index - 1);
      Term prev_term = disk.log.empty() ? disk.snapshot.term : disk.log.back().term;
      for (const Entry& e : ready.entries) {
        Register(id, e, prev_term);
        prev_term = e.term;
        disk.log.push_back(e);
      }
    }
  }

  // Log matching, incrementally: one entry and one predecessor term per (index, term).
  void Register(NodeId id, const Entry& e, Term prev_term) {
    auto [it, inserted] = registry_.emplace(std::make_pair(e.index, e.term), std::make_pair(Mix(0, e), prev_term));
    if (!inserted && it->second != std::make_pair(Mix(0, e), prev_term)) {
      Violation(absl::StrCat("log matching: node ", id, " stores a different entry (or predecessor) at index ", e.index,
                             " term ", e.term));
    }
  }

  void Apply(NodeId id, const Entry& e) {
    Disk& disk = disks_[id];
    if (e.index != disk.sm_applied + 1) {
      Violation(absl::StrCat("node ", id, ": applies ", e.index, " after ", disk.sm_applied));
      return;
    }
    const uint64_t hash = Mix(disk.sm_hash, e);
    auto [c, fresh] = chain_.emplace(e.index, hash);
    if (!fresh && c->second != hash) {
      Violation(absl::StrCat("state machine safety: node ", id, " reaches a different state at index ", e.index));
    }
    disk.sm_applied = e.index;
    disk.sm_hash = hash;
    auto [it, inserted] = applied_.emplace(e.index, e);
    if (!inserted && !(it->second == e)) {
      Violation(absl::StrCat("state machine safety: node ", id, " applied a different entry at index ", e.index));
    }
    if (inserted && e.type == EntryType::kConfChange) {
      auto record = DecodeConfChangeEntry(e.data);
      if (!record.ok()) Violation(absl::StrCat("node ", id, " applied an undecodable configuration entry ", e.index));
      if (record.ok()) committed_configs_[e.index] = record->membership;
    }
    if (inserted) {
      auto p = proposals_.find(e.data);
      if (e.type == EntryType::kNormal && p != proposals_.end() && !(p->second == EntryId{e.term, e.index})) {
        Violation(absl::StrCat("proposal ", e.data, " was told index ", p->second.index, " term ", p->second.term,
                               " but applied at ", e.index, " term ", e.term));
      }
    }
    // The entry was committed in a term no later than the applier's current one; every leader
    // of a later term must hold it (Leader Completeness).
    const Term bound = node(id).term();
    auto [b, first] = commit_bound_.emplace(e.index, bound);
    if (first || bound < b->second) {
      b->second = bound;
      for (const auto& [lid, n] : nodes_) {
        if (n->role() == Role::kLeader && n->term() > bound) CheckLeaderHolds(lid, *n, e.index);
      }
    }
  }

  // The committed membership in effect at `index` (which must be applied somewhere).
  const Membership& CommittedMembershipAt(Index index) const {
    return std::prev(committed_configs_.upper_bound(index))->second;
  }

  // A node's membership is the one its latest configuration entry carries, or, when that is
  // before its log (the base it got from a snapshot, a compaction or the bootstrap), the
  // cluster's committed membership there.
  void CheckMembership(NodeId id, const RawNode& n) {
    const Index k = n.membership_index();
    if (k >= n.first_index()) {
      auto record = DecodeConfChangeEntry(EntryOf(n, k).data);
      if (EntryOf(n, k).type != EntryType::kConfChange || !record.ok() || !(record->membership == n.membership())) {
        Violation(absl::StrCat("node ", id, ": membership ", n.membership().DebugString(), " is not the one entry ", k,
                               " sets"));
      }
      return;
    }
    if (k == 0 && id > static_cast<NodeId>(options_.nodes) && n.membership().voters.empty()) return;  // joining
    if (k > max_applied()) return;
    if (!(CommittedMembershipAt(k) == n.membership())) {
      Violation(absl::StrCat("node ", id, ": membership ", n.membership().DebugString(), " at its base index ", k,
                             " but the cluster's there is ", CommittedMembershipAt(k).DebugString()));
    }
  }

  void CheckLeaderHolds(NodeId id, const RawNode& n, Index index) {
    if (index < n.first_index()) return;  // covered by its snapshot (checked when installed/taken)
    if (index > n.last_index() || !(EntryOf(n, index) == applied_.at(index))) {
      Violation(absl::StrCat("leader completeness: leader ", id, " of term ", n.term(), " lacks entry ", index));
    }
  }

  void Process(NodeId id) {
    ++depth_;
    ProcessReadies(id);
    --depth_;
    FlushReports();
  }

  void ProcessReadies(NodeId id) {
    for (int rounds = 0; alive(id) && node(id).HasReady(); ++rounds) {
      if (rounds == 1000) {
        Violation(absl::StrCat("node ", id, ": HasReady() stays true after 1000 Ready rounds"));
        return;
      }
      Ready ready = node(id).GetReady();
      if (CrashAt(id, "before persist")) return;
      Persist(id, ready);
      if (CrashAt(id, "before send")) return;
      for (Message& m : ready.messages) {
        Packet p{std::move(m), incarnation_[id], 0};
        if (p.m.type == MessageType::kSnapshot) {
          // The driver streams its latest durable snapshot (at least what the core named).
          const Disk& disk = disks_[id];
          if (p.m.snapshot->index > disk.snapshot.index) {
            Violation(absl::StrCat("node ", id, " sends snapshot ", p.m.snapshot->index, " it does not hold"));
          }
          p.m.snapshot = disk.snapshot;
          p.snapshot_hash = disk.snapshot_hash;
        }
        if (Cut(p.m.from, p.m.to)) {
          Dropped(p);
        } else {
          network_.push_back(std::move(p));
        }
        if (!alive(id)) return;
      }
      if (CrashAt(id, "before apply")) return;
      for (const Entry& e : ready.committed_entries) Apply(id, e);
      for (const ReadState& rs : ready.read_states) {
        auto r = reads_.find(rs.context);
        if (r == reads_.end()) {
          Violation(absl::StrCat("node ", id, ": ReadState for unknown context ", rs.context));
          continue;
        }
        if (rs.index < r->second.bar) {
          Violation(absl::StrCat("linearizable read: ", rs.context, " at node ", id, " got index ", rs.index,
                                 " but index ", r->second.bar, " was applied before it was issued"));
        }
        r->second.indexes.push_back(rs.index);
      }
      if (CrashAt(id, "before advance")) return;
      node(id).Advance(ready);
    }
    if (!alive(id)) return;
    RawNode& n = node(id);
    CheckMembership(id, n);
    if (n.role() == Role::kLeader) {
      auto [it, inserted] = leaders_.emplace(n.term(), id);
      if (!inserted && it->second != id) {
        Violation(absl::StrCat("election safety: nodes ", it->second, " and ", id, " both lead term ", n.term()));
      }
      if (!was_leader_[id]) {
        for (const auto& [index, bound] : commit_bound_) {
          if (n.term() > bound) CheckLeaderHolds(id, n, index);
        }
        // Only a voter is elected, or a server whose removal is not committed yet.
        bool removal_pending = false;
        if (n.membership_index() > n.commit() && n.membership_index() >= n.first_index()) {
          auto record = DecodeConfChangeEntry(EntryOf(n, n.membership_index()).data);
          removal_pending = record.ok() && record->change.type == ConfChangeType::kRemoveNode && record->change.node == id;
        }
        if (!n.membership().IsVoter(id) && !removal_pending) {
          Violation(absl::StrCat("node ", id, " was elected leader of term ", n.term(), " without being a voter"));
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
  std::map<NodeId, uint64_t> incarnation_;
  std::map<NodeId, std::map<Index, std::pair<SnapshotMeta, uint64_t>>> staged_;  // received snapshot data
  std::map<NodeId, bool> was_leader_;
  std::deque<Packet> network_;
  std::set<NodeId> partition_;
  std::set<std::pair<NodeId, NodeId>> one_way_;
  std::map<Term, NodeId> leaders_;
  std::map<Index, Entry> applied_;
  std::map<Index, Term> commit_bound_;
  std::map<Index, Membership> committed_configs_;  // from applied configuration entries; [0] bootstrap  // applied index -> a term it was committed in or before
  std::map<Index, uint64_t> chain_;  // state-machine hash after each index
  std::map<std::pair<Index, Term>, std::pair<uint64_t, Term>> registry_;
  std::map<std::string, EntryId> proposals_;
  std::map<std::string, ReadRecord> reads_;
  uint64_t next_read_ = 0;
  int snapshots_installed_ = 0;
  std::deque<Report> reports_;
  int depth_ = 0;  // Ready loops in progress
  bool flushing_ = false;
  std::vector<std::string> violations_;
};

// Ticks every live node and delivers everything until a leader exists (or gives up).
inline std::optional<NodeId> ElectLeader(SimCluster& c, int max_rounds = 300) {
  for (int r = 0; r < max_rounds; ++r) {
    if (auto leader = c.Leader()) return leader;
    c.TickAll();
    c.DeliverAll();
  }
  return c.Leader();
}

// Rounds of ticking every node and delivering everything.
inline void Settle(SimCluster& c, int rounds = 20) {
  for (int r = 0; r < rounds; ++r) {
    c.TickAll();
    c.DeliverAll();
  }
}

// A node other than `a` (and `b`) among the first `n` ids.
inline NodeId Other(NodeId a, NodeId b = kNoNode, int n = 3) {
  for (NodeId id = 1; id <= static_cast<NodeId>(n); ++id) {
    if (id != a && id != b) return id;
  }
  return kNoNode;
}

}  // namespace cistern::raft
