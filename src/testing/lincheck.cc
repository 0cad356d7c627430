#include "testing/lincheck.h"

#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <tuple>

#include "absl/container/flat_hash_map.h"

namespace cistern::lincheck {

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "not linearizable";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "?";
}

namespace internal {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The set of linearized operations, as two bitsets: completed operations and operations with
// an unknown outcome. The completed part keeps a hash up to date as bits flip (Zobrist hashing:
// the XOR of one random word per set bit), so a memo probe costs no pass over the bits.
class OpSet {
 public:
  explicit OpSet(const std::vector<SearchOp>& ops) : slot_(ops.size()) {
    size_t completed = 0, unknown = 0;
    for (size_t op = 0; op < ops.size(); ++op) slot_[op] = ops[op].completed ? completed++ : unknown++;
    completed_.assign((completed + 63) / 64, 0);
    unknown_.assign((unknown + 63) / 64, 0);
    completed_flag_.resize(ops.size());
    for (size_t op = 0; op < ops.size(); ++op) completed_flag_[op] = ops[op].completed;
  }
  void Flip(size_t op) {
    const size_t slot = slot_[op];
    if (completed_flag_[op]) {
      completed_[slot / 64] ^= uint64_t{1} << (slot % 64);
      hash_ ^= Mix(slot);
    } else {
      unknown_[slot / 64] ^= uint64_t{1} << (slot % 64);
    }
  }
  const std::vector<uint64_t>& completed() const { return completed_; }
  const std::vector<uint64_t>& unknown() const { return unknown_; }
  uint64_t hash() const { return hash_; }

 private:
  std::vector<size_t> slot_;  // the op's bit in its part
  std::vector<bool> completed_flag_;
  std::vector<uint64_t> completed_;
  std::vector<uint64_t> unknown_;
  uint64_t hash_ = 0;
};

// Configurations (linearized set, state) already explored, none of which led to a full
// linearization. A configuration is also covered by one with the same state and completed
// operations but only a subset of its unknown-outcome operations: those never have to be placed
// (they never return), so whatever continues the bigger configuration continues the smaller one.
//
// Layout: keys (hash, state, completed bits) live back to back in one arena, and the hash map
// holds only their positions; each key heads a list of the unknown-operation sets seen with it,
// kept minimal (a set is dropped when a subset of it arrives), in a second arena.
class ConfigMemo {
 public:
  ConfigMemo(size_t completed_words, size_t unknown_words)
      : key_stride_(completed_words + 2), unknown_words_(unknown_words) {}
  ConfigMemo(const ConfigMemo&) = delete;  // the functors point at this object
  ConfigMemo& operator=(const ConfigMemo&) = delete;

  size_t bytes() const {
    return (keys_.capacity() + sets_.capacity()) * sizeof(uint64_t) +
           index_.capacity() * (sizeof(std::pair<uint32_t, uint64_t>) + 1);
  }

  // Adds the configuration; false if it is covered by one already there.
  bool Insert(const OpSet& set, int32_t state) {
    const uint64_t hash = Mix(set.hash() ^ (static_cast<uint64_t>(state) * 0x9e3779b97f4a7c15ULL));
    const size_t at = keys_.size();
    keys_.push_back(hash);
    keys_.push_back(static_cast<uint64_t>(state));
    keys_.insert(keys_.end(), set.completed().begin(), set.completed().end());
    auto [it, inserted] = index_.try_emplace(static_cast<uint32_t>(at / key_stride_), kNone);
    if (!inserted) keys_.resize(at);
    const std::vector<uint64_t>& mine = set.unknown();  // unknown_words_ long
    // Covered by a subset? Drop the supersets of `mine` on the way: `mine` covers them now.
    uint64_t* link = &it->second;
    while (*link != kNone) {
      const uint64_t* other = &sets_[*link + 1];
      bool other_subset = true, mine_subset = true;
      for (size_t w = 0; w < unknown_words_; ++w) {
        other_subset = other_subset && (other[w] & ~mine[w]) == 0;
        mine_subset = mine_subset && (mine[w] & ~other[w]) == 0;
      }
      if (other_subset) return false;
      if (mine_subset) {
        *link = sets_[*link];
      } else {
        link = &sets_[*link];
      }
    }
    const uint64_t node = sets_.size();
    sets_.push_back(it->second);
    sets_.insert(sets_.end(), mine.begin(), mine.end());
    it->second = node;
    return true;
  }

 private:
  static constexpr uint64_t kNone = ~uint64_t{0};
  struct Hash {
    const ConfigMemo* memo;
    size_t operator()(uint32_t key) const { return memo->keys_[key * memo->key_stride_]; }
  };
  struct Eq {
    const ConfigMemo* memo;
    bool operator()(uint32_t a, uint32_t b) const {
      const uint64_t* x = &memo->keys_[a * memo->key_stride_];
      const uint64_t* y = &memo->keys_[b * memo->key_stride_];
      return std::equal(x, x + memo->key_stride_, y);
    }
  };

  const size_t key_stride_;
  const size_t unknown_words_;
  std::vector<uint64_t> keys_;
  std::vector<uint64_t> sets_;  // nodes: next node (or kNone), then the unknown-operation bits
  absl::flat_hash_map<uint32_t, uint64_t, Hash, Eq> index_{0, Hash{this}, Eq{this}};  // key -> first node
};

// The history as a doubly linked list of call and return entries in time order. Placing an
// operation in the linearization lifts its call and return out of the list; backtracking puts
// them back (in reverse order, so the saved links are still right).
class EntryList {
 public:
  explicit EntryList(const std::vector<SearchOp>& ops) {
    struct Event {
      int64_t time;
      bool is_return;
      size_t op;
    };
    std::vector<Event> events;
    for (size_t i = 0; i < ops.size(); ++i) {
      events.push_back({ops[i].call_time, false, i});
      if (ops[i].completed) events.push_back({ops[i].return_time, true, i});
    }
    // Calls before returns at equal times: equal times overlap.
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return std::tie(a.time, a.is_return, a.op) < std::tie(b.time, b.is_return, b.op);
    });
    const int32_t n = static_cast<int32_t>(events.size());
    entries_.resize(n + 2);
    std::vector<int32_t> call_entry(ops.size(), -1), return_entry(ops.size(), -1);
    for (int32_t i = 0; i < n; ++i) {
      Entry& e = entries_[i + 1];
      e.op = events[i].op;
      e.is_call = !events[i].is_return;
      (e.is_call ? call_entry : return_entry)[e.op] = i + 1;
    }
    for (int32_t i = 0; i < n + 2; ++i) {
      entries_[i].prev = i - 1;
      entries_[i].next = i + 1;
    }
    for (size_t op = 0; op < ops.size(); ++op) entries_[call_entry[op]].match = return_entry[op];
  }

  int32_t first() const { return entries_[0].next; }
  int32_t next(int32_t e) const { return entries_[e].next; }
  bool is_call(int32_t e) const { return entries_[e].is_call; }
  size_t op(int32_t e) const { return entries_[e].op; }

  void Lift(int32_t call) {
    Unlink(call);
    if (entries_[call].match >= 0) Unlink(entries_[call].match);
  }
  void Unlift(int32_t call) {
    if (entries_[call].match >= 0) Relink(entries_[call].match);
    Relink(call);
  }

 private:
  struct Entry {
    size_t op = 0;
    bool is_call = false;
    int32_t match = -1;  // a call's return entry, -1 if it never returns
    int32_t prev = -1;
    int32_t next = -1;
  };
  void Unlink(int32_t e) {
    entries_[entries_[e].prev].next = entries_[e].next;
    entries_[entries_[e].next].prev = entries_[e].prev;
  }
  void Relink(int32_t e) {
    entries_[entries_[e].prev].next = e;
    entries_[entries_[e].next].prev = e;
  }

  std::vector<Entry> entries_;  // [0] and [size-1] are sentinels
};

// A choice point of the search.
struct Level {
  struct Candidate {
    int32_t call;   // its call entry
    int32_t state;  // the state after it
  };
  std::vector<Candidate> candidates;  // what may be placed next, in the order tried
  size_t next = 0;                    // the next candidate to try
  int32_t placed = -1;                // the call entry placed from here (valid below the top)
  int32_t state = 0;
};

}  // namespace

void InvariantFailed(const std::string& what) {
  std::fprintf(stderr, "lincheck: broken invariant: %s\n", what.c_str());
  std::abort();
}

struct Searcher::Impl {
  Impl(const std::vector<SearchOp>& ops, Transitions* transitions)
      : ops(ops),
        transitions(transitions),
        list(ops),
        linearized(ops),
        memo(linearized.completed().size(), linearized.unknown().size()) {
    for (const SearchOp& op : ops) unplaced_returns += op.completed ? 1 : 0;
    levels.emplace_back();
    levels[0].state = 0;
    CollectCandidates(&levels[0]);
    memo.Insert(linearized, 0);
  }

  // The operations that may come next (those called before the earliest unplaced return) that
  // the model accepts here, in the order to try them:
  //  1. completed operations that leave the state as it is (reads, refused calls): placing one
  //     as early as possible is nearly always right, and a read that waits loses its moment;
  //  2. the others by return time, unknown outcomes last: an operation not yet forced waits
  //     until something needs it, so the search does not wander through orders of effects that
  //     nothing has observed yet.
  // An unknown-outcome operation that changes nothing is left out: it need not happen here (the
  // memo would reject it after a probe).
  // Returns the number of model steps taken.
  int64_t CollectCandidates(Level* level) {
    level->candidates.clear();
    level->next = 0;
    int64_t steps = 0;
    for (int32_t e = list.first(); list.is_call(e); e = list.next(e)) {
      const size_t op = list.op(e);
      ++steps;
      const int32_t next_state = transitions->Step(level->state, op);
      if (next_state < 0 || (!ops[op].completed && next_state == level->state)) continue;
      level->candidates.push_back({e, next_state});
    }
    auto key = [&](const Level::Candidate& c) {
      const SearchOp& op = ops[list.op(c.call)];
      const bool read = op.completed && c.state == level->state;
      return std::make_tuple(!read, op.completed ? op.return_time : std::numeric_limits<int64_t>::max(), c.call);
    };
    std::sort(level->candidates.begin(), level->candidates.end(),
              [&](const Level::Candidate& a, const Level::Candidate& b) { return key(a) < key(b); });
    return steps;
  }

  const std::vector<SearchOp>& ops;
  Transitions* const transitions;
  EntryList list;
  OpSet linearized;
  ConfigMemo memo;
  size_t unplaced_returns = 0;
  // levels[k] is the choice point after k placements; levels beyond `depth` keep their buffers.
  std::vector<Level> levels;
  size_t depth = 0;
};

Searcher::Searcher(const std::vector<SearchOp>& ops, Transitions* transitions)
    : impl_(std::make_unique<Impl>(ops, transitions)) {}

Searcher::~Searcher() = default;

size_t Searcher::memory_bytes() const {
  size_t levels = 0;
  for (const Level& level : impl_->levels)
    levels += sizeof(Level) + level.candidates.capacity() * sizeof(Level::Candidate);
  return impl_->memo.bytes() + impl_->transitions->memory_bytes() + levels;
}

Verdict Searcher::Run(int64_t max_steps, absl::Time deadline, size_t max_memory_bytes) {
  if (verdict_ != Verdict::kUnknown) return verdict_;
  Impl& s = *impl_;
  constexpr int64_t kCheckLimitsEvery = 1024;
  const int64_t stop_at = steps_ + max_steps;
  for (int64_t since_check = 0; s.unplaced_returns > 0; ++since_check) {
    if (steps_ >= stop_at) return Verdict::kUnknown;
    ++steps_;
    if (since_check >= kCheckLimitsEvery) {
      since_check = 0;
      if (absl::Now() > deadline || memory_bytes() > max_memory_bytes) return Verdict::kUnknown;
    }
    Level& level = s.levels[s.depth];
    if (level.next == level.candidates.size()) {
      // Every candidate failed here: undo the choice that led to this level.
      if (s.depth == 0) return verdict_ = Verdict::kNotLinearizable;
      --s.depth;
      const Level& parent = s.levels[s.depth];
      const size_t op = s.list.op(parent.placed);
      s.linearized.Flip(op);
      s.list.Unlift(parent.placed);
      if (s.ops[op].completed) ++s.unplaced_returns;
      continue;
    }
    const Level::Candidate candidate = level.candidates[level.next++];
    const size_t op = s.list.op(candidate.call);
    s.linearized.Flip(op);
    if (!s.memo.Insert(s.linearized, candidate.state)) {
      s.linearized.Flip(op);
      continue;
    }
    const int32_t call = candidate.call;
    const int32_t next_state = candidate.state;
    level.placed = call;
    s.list.Lift(call);
    if (s.ops[op].completed) --s.unplaced_returns;
    ++s.depth;
    if (s.levels.size() == s.depth) s.levels.emplace_back();
    Level& next = s.levels[s.depth];
    next.state = next_state;
    steps_ += s.CollectCandidates(&next);
    if (s.depth > longest_prefix_.size()) longest_prefix_ = Placed();
  }
  longest_prefix_.clear();
  witness_ = Placed();
  return verdict_ = Verdict::kLinearizable;
}

std::vector<size_t> Searcher::Placed() const {
  std::vector<size_t> out;
  for (size_t k = 0; k < impl_->depth; ++k) out.push_back(impl_->list.op(impl_->levels[k].placed));
  return out;
}

std::vector<std::vector<size_t>> GroupByKeys(const std::vector<std::vector<std::string>>& keys) {
  std::vector<size_t> parent(keys.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  absl::flat_hash_map<std::string, size_t> owner;  // key -> first operation naming it
  for (size_t i = 0; i < keys.size(); ++i) {
    for (const std::string& key : keys[i]) {
      auto [it, inserted] = owner.try_emplace(key, i);
      if (inserted) continue;
      const size_t a = find(i), b = find(it->second);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);  // the root stays the group's first op
    }
  }
  std::vector<std::vector<size_t>> groups;
  std::vector<size_t> group_of(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t root = find(i);
    if (root == i) {
      group_of[i] = groups.size();
      groups.emplace_back();
    }
    groups[group_of[root]].push_back(i);
  }
  return groups;
}

bool RespectsRealTime(const std::vector<SearchOp>& ops, const std::vector<size_t>& order) {
  std::vector<bool> seen(ops.size(), false);
  int64_t latest_call = std::numeric_limits<int64_t>::min();
  for (size_t op : order) {
    if (op >= ops.size() || seen[op]) return false;
    seen[op] = true;
    // Some earlier-placed op was called after this one returned.
    if (ops[op].completed && ops[op].return_time < latest_call) return false;
    latest_call = std::max(latest_call, ops[op].call_time);
  }
  for (size_t op = 0; op < ops.size(); ++op) {
    if (ops[op].completed && !seen[op]) return false;
  }
  return true;
}

}  // namespace internal
}  // namespace cistern::lincheck
