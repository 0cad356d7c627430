// Test-only: a linearizability checker for recorded histories of concurrent operations.
//
// A history lists operations with the times of their call and (if known) their return. `Check`
// decides whether the operations can be put in one total order that respects real time (an
// operation that returned before another was called comes first) and that a sequential model
// accepts, each operation producing the output it was observed to produce. The search is Wing &
// Gong's, with Lowe's memoization of (set of linearized operations, model state) pairs already
// explored; a model that names the keys each operation touches gets P-compositionality: the
// history is split into groups of operations sharing keys (transitively), and each group is
// checked on its own. How the search is ordered and pruned: docs/testing.md.
//
// Outcomes: `kOk` operations completed with an output; `kFail` operations definitely did not take
// effect and are dropped; `kInfo` operations have an unknown outcome: they may have taken effect
// at any moment after their call (so they never "return"), or not at all.
//
// The search is bounded (steps per group, memory, a deadline); running out gives `kUnknown`,
// never a verdict. A `kLinearizable` verdict carries a witness order per group, which `Check`
// replays through the model and against real time before it answers.
//
// A model is a class with
//   using State = ...; using Input = ...; using Output = ...;
//   State Init() const;
//   // The state after `input` takes effect in `state` producing `output` (nullopt: the output
//   // is unknown, accept any), or nullopt if the model cannot produce that output there.
//   std::optional<State> Step(const State&, const Input&, const std::optional<Output>&) const;
// where State has operator== and an AbslHashValue overload. Optional members:
//   std::vector<std::string> PartitionKeys(const Input&) const;   // enables P-compositionality
//   std::string Describe(const Input&, const std::optional<Output>&) const;  // for reports
//   std::string DescribeState(const State&) const;
// Step must be deterministic: one successor state per (state, input, output); a model represents
// what an unknown output leaves open inside its state (the namespace model keeps "file id
// unknown" until a later read reveals it). PartitionKeys must name everything an operation
// reads or writes: operations with no key in common must not affect each other, or each group
// is in effect checked against a weaker model.
//
// Thread safety: Check is a pure function of its arguments; models must be safe to call from
// the thread running Check.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cistern::lincheck {

enum class Outcome {
  kOk,    // completed; `output` holds what it returned
  kFail,  // definitely did not take effect: ignored
  kInfo,  // unknown: may take effect at any time after its call, or never
};

// Times only need to be ordered consistently: operation A precedes B iff A.return_time <
// B.call_time; equal times count as overlapping.
template <typename Input, typename Output>
struct Operation {
  int client = 0;  // who issued it; for reports only
  Input input{};
  std::optional<Output> output;  // kOk: what it returned (nullopt: completed, output not observed)
  Outcome outcome = Outcome::kInfo;
  int64_t call_time = 0;
  int64_t return_time = 0;  // kOk only; >= call_time
};

template <typename M>
using HistoryOf = std::vector<Operation<typename M::Input, typename M::Output>>;

template <typename M>
concept SequentialModel = requires(const M& m, const typename M::State& s, const typename M::Input& in,
                                   const std::optional<typename M::Output>& out) {
  { m.Init() } -> std::convertible_to<typename M::State>;
  { m.Step(s, in, out) } -> std::same_as<std::optional<typename M::State>>;
  { s == s } -> std::convertible_to<bool>;
};

template <typename M>
concept PartitionedModel = SequentialModel<M> && requires(const M& m, const typename M::Input& in) {
  { m.PartitionKeys(in) } -> std::same_as<std::vector<std::string>>;
};

template <typename M>
concept DescribedModel = SequentialModel<M> &&
    requires(const M& m, const typename M::State& s, const typename M::Input& in,
             const std::optional<typename M::Output>& out) {
  { m.Describe(in, out) } -> std::convertible_to<std::string>;
  { m.DescribeState(s) } -> std::convertible_to<std::string>;
};

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };
std::string_view VerdictName(Verdict verdict);

struct CheckOptions {
  // Search steps (model steps plus backtracks) allowed per group; 0 = unbounded.
  int64_t max_steps_per_group = 20'000'000;
  // Memory for the groups being searched: their memos (about one bit per operation and
  // configuration explored, in 8-byte words) and state tables (each state's top-level object
  // counted); 0 = unbounded.
  size_t max_memory_bytes = size_t{1} << 30;
  absl::Time deadline = absl::InfiniteFuture();
  // Split a PartitionedModel's history by keys (off: one group, to cross-check the splitting).
  bool partition = true;
};

struct CheckResult {
  Verdict verdict = Verdict::kUnknown;
  // One line: verdict, operations, groups, steps; for kUnknown, why the search stopped.
  std::string summary;
  // kNotLinearizable: the longest linearizable prefix found in the failing group, the model state
  // after it, and each operation that could come next with why it cannot.
  std::string report;
  // kNotLinearizable, as indices into the checked history: that prefix in linearization order,
  // and the operations that could come next (overlapping the first pending return), none of
  // which leads to a full linearization; the first is the pending operation that returned
  // earliest.
  std::vector<size_t> longest_prefix;
  std::vector<size_t> next_candidates;
  // kLinearizable: each group's witness order in turn (all its completed operations, and the
  // unknown ones it places). Groups are independent: any real-time-respecting interleaving of
  // their orders is a linearization of the whole history.
  std::vector<size_t> linearization;
  int64_t steps = 0;
  size_t groups = 0;
  size_t largest_group = 0;
};

namespace internal {

struct SearchOp {
  int64_t call_time = 0;
  int64_t return_time = 0;
  bool completed = false;  // false: pending to the end of the history
};

// Model steps over interned state ids (0 is the initial state).
class Transitions {
 public:
  virtual ~Transitions() = default;
  // The state after `op` in `state`, or -1 if the model rejects it there.
  virtual int32_t Step(int32_t state, size_t op) = 0;
  // What the states and cached transitions take, roughly.
  virtual size_t memory_bytes() const = 0;
};

// The search over one group, resumable: Run continues where the last call stopped, so the
// checker can share its budget among groups and stop at the first violation.
class Searcher {
 public:
  // `ops` and `transitions` must outlive the searcher.
  Searcher(const std::vector<SearchOp>& ops, Transitions* transitions);
  ~Searcher();
  Searcher(const Searcher&) = delete;
  Searcher& operator=(const Searcher&) = delete;

  // Searches for up to `max_steps` more steps (candidates tried plus backtracks); kUnknown if
  // undecided by then, by `deadline`, or when the memo outgrows `max_memory_bytes`.
  Verdict Run(int64_t max_steps, absl::Time deadline, size_t max_memory_bytes);
  int64_t steps() const { return steps_; }
  size_t memory_bytes() const;
  // kLinearizable: a witness order (indices into ops).
  const std::vector<size_t>& witness() const { return witness_; }
  // Otherwise: the longest linearizable prefix reached so far.
  const std::vector<size_t>& longest_prefix() const { return longest_prefix_; }

 private:
  struct Impl;
  std::vector<size_t> Placed() const;

  std::unique_ptr<Impl> impl_;
  Verdict verdict_ = Verdict::kUnknown;
  int64_t steps_ = 0;
  std::vector<size_t> witness_;
  std::vector<size_t> longest_prefix_;
};

// Groups operations that share a key, transitively; an operation without keys is alone. Groups
// are ordered by their first operation, each in increasing index order.
std::vector<std::vector<size_t>> GroupByKeys(const std::vector<std::vector<std::string>>& keys);

// True if `order` lists every completed op of `ops` and no op comes before one that returned
// before it was called.
bool RespectsRealTime(const std::vector<SearchOp>& ops, const std::vector<size_t>& order);

// A bug in the checker itself: prints `what` and aborts.
[[noreturn]] void InvariantFailed(const std::string& what);

// Interns model states as dense ids and caches transitions, so the search compares integers.
template <SequentialModel M>
class StateSpace : public Transitions {
 public:
  using State = typename M::State;
  using Op = Operation<typename M::Input, typename M::Output>;

  // `model` and the operations must outlive this object.
  StateSpace(const M& model, std::vector<const Op*> ops) : model_(model), ops_(std::move(ops)) {
    Intern(model_.Init());
  }

  int32_t Step(int32_t state, size_t op) override {
    const uint64_t key = (static_cast<uint64_t>(state) << 32) | op;
    if (auto it = transitions_.find(key); it != transitions_.end()) return it->second;
    std::optional<State> next = model_.Step(*states_[state], ops_[op]->input, ops_[op]->output);
    const int32_t id = next.has_value() ? Intern(*std::move(next)) : -1;
    transitions_.emplace(key, id);
    return id;
  }

  size_t memory_bytes() const override {
    return ids_.size() * (sizeof(State) + sizeof(int32_t) + 2 * sizeof(void*)) +
           transitions_.capacity() * (sizeof(std::pair<uint64_t, int32_t>) + 1);
  }

 private:
  int32_t Intern(State state) {
    auto [it, inserted] = ids_.try_emplace(std::move(state), static_cast<int32_t>(states_.size()));
    if (inserted) states_.push_back(&it->first);
    return it->second;
  }

  const M& model_;
  const std::vector<const Op*> ops_;
  absl::node_hash_map<State, int32_t> ids_;  // node map: states_ points into it
  std::vector<const State*> states_;
  absl::flat_hash_map<uint64_t, int32_t> transitions_;
};

// One group of a history and its search. Once decided linearizable the search is released
// and only its witness kept.
template <SequentialModel M>
struct Group {
  using Op = Operation<typename M::Input, typename M::Output>;

  Group(const M& model, const HistoryOf<M>& history, std::vector<size_t> indices) : members(std::move(indices)) {
    for (size_t i : members) {
      ops.push_back(&history[i]);
      search_ops.push_back({history[i].call_time, history[i].return_time, history[i].outcome == Outcome::kOk});
    }
    space = std::make_unique<StateSpace<M>>(model, ops);
    search = std::make_unique<Searcher>(search_ops, space.get());
  }

  bool searching() const { return search != nullptr && verdict == Verdict::kUnknown && gave_up.empty(); }

  std::vector<size_t> members;  // indices into the history
  std::vector<const Op*> ops;
  std::vector<SearchOp> search_ops;
  std::unique_ptr<StateSpace<M>> space;
  std::unique_ptr<Searcher> search;
  Verdict verdict = Verdict::kUnknown;
  int64_t steps = 0;
  size_t bytes = 0;     // the search's memory after its last slice
  std::string gave_up;  // why the search stopped undecided
  std::vector<size_t> witness;
};

template <SequentialModel M>
std::string DescribeOp(const M& model, const Operation<typename M::Input, typename M::Output>& op, size_t index) {
  std::string what;
  if constexpr (DescribedModel<M>) {
    what = model.Describe(op.input, op.output);
  } else {
    what = "operation";
  }
  std::string when = op.outcome == Outcome::kOk ? absl::StrCat("[", op.call_time, ", ", op.return_time, "]")
                                                : absl::StrCat("[", op.call_time, ", unknown outcome]");
  return absl::StrCat("#", index, " client ", op.client, " ", when, " ", what);
}

// Fills the kNotLinearizable parts of `result` from group `g`.
template <SequentialModel M>
void ExplainViolation(const M& model, const Group<M>& group, size_t g, size_t groups, CheckResult* result) {
  const std::vector<size_t>& prefix = group.search->longest_prefix();
  const size_t n = group.members.size();
  std::vector<bool> placed(n, false);
  typename M::State state = model.Init();
  for (size_t op : prefix) {
    placed[op] = true;
    result->longest_prefix.push_back(group.members[op]);
    std::optional<typename M::State> next = model.Step(state, group.ops[op]->input, group.ops[op]->output);
    if (!next.has_value()) InvariantFailed("the longest prefix found does not replay");
    state = *std::move(next);
  }
  // What could come next: every unplaced operation called before the earliest unplaced return.
  int64_t first_return = std::numeric_limits<int64_t>::max();
  size_t blocking = n;
  for (size_t op = 0; op < n; ++op) {
    if (!placed[op] && group.search_ops[op].completed && group.search_ops[op].return_time < first_return) {
      first_return = group.search_ops[op].return_time;
      blocking = op;
    }
  }
  // Unknown-outcome operations that would change nothing are left out, as in the search.
  std::vector<size_t> candidates;
  if (blocking < n) candidates.push_back(blocking);
  for (size_t op = 0; op < n; ++op) {
    if (placed[op] || op == blocking || group.search_ops[op].call_time > first_return) continue;
    if (!group.search_ops[op].completed) {
      std::optional<typename M::State> after = model.Step(state, group.ops[op]->input, group.ops[op]->output);
      if (after.has_value() && *after == state) continue;
    }
    candidates.push_back(op);
  }
  std::string& report = result->report;
  absl::StrAppend(&report, "group ", g, " of ", groups, " (", n,
                  " operations) is not linearizable; longest linearizable prefix (", prefix.size(), " operations):\n");
  constexpr size_t kShownPrefix = 30;
  const size_t skip = prefix.size() > kShownPrefix ? prefix.size() - kShownPrefix : 0;
  if (skip > 0) absl::StrAppend(&report, "  ... ", skip, " earlier operations\n");
  for (size_t k = skip; k < prefix.size(); ++k) {
    absl::StrAppend(&report, "  ", DescribeOp(model, *group.ops[prefix[k]], group.members[prefix[k]]), "\n");
  }
  if constexpr (DescribedModel<M>) absl::StrAppend(&report, "state after it: ", model.DescribeState(state), "\n");
  absl::StrAppend(&report, "none of these can come next:\n");
  constexpr size_t kShownCandidates = 30;
  for (size_t op : candidates) {
    result->next_candidates.push_back(group.members[op]);
    if (result->next_candidates.size() > kShownCandidates) continue;
    const bool accepted = model.Step(state, group.ops[op]->input, group.ops[op]->output).has_value();
    absl::StrAppend(
        &report, "  ", DescribeOp(model, *group.ops[op], group.members[op]),
        accepted ? "  (allowed here, but no linearization continues from there)" : "  (the model rejects it here)",
        "\n");
  }
  if (candidates.size() > kShownCandidates) {
    absl::StrAppend(&report, "  ... and ", candidates.size() - kShownCandidates, " more\n");
  }
}

}  // namespace internal

template <SequentialModel M>
CheckResult Check(const M& model, const HistoryOf<M>& history, const CheckOptions& options = {}) {
  std::vector<size_t> live;  // history indices of the operations that may have happened
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].outcome != Outcome::kFail) live.push_back(i);
  }
  std::vector<std::vector<size_t>> partition;
  if constexpr (PartitionedModel<M>) {
    if (options.partition) {
      std::vector<std::vector<std::string>> keys;
      keys.reserve(live.size());
      for (size_t i : live) keys.push_back(model.PartitionKeys(history[i].input));
      partition = internal::GroupByKeys(keys);
      for (auto& members : partition) {
        for (size_t& member : members) member = live[member];
      }
    }
  }
  if (partition.empty() && !live.empty()) partition.push_back(live);

  CheckResult result;
  std::vector<std::unique_ptr<internal::Group<M>>> groups;
  for (auto& members : partition) {
    result.largest_group = std::max(result.largest_group, members.size());
    groups.push_back(std::make_unique<internal::Group<M>>(model, history, std::move(members)));
  }
  result.groups = groups.size();

  // Round robin with doubling slices: a violation in any group settles the verdict, so no
  // group may use up the budget before the others had a fair share.
  const int64_t budget =
      options.max_steps_per_group > 0 ? options.max_steps_per_group : std::numeric_limits<int64_t>::max();
  const size_t memory = options.max_memory_bytes > 0 ? options.max_memory_bytes : std::numeric_limits<size_t>::max();
  size_t searching_bytes = 0;  // what the groups' searches hold, as of their last slice
  for (int64_t slice = 1 << 14;; slice = std::min(slice, budget / 2) * 2) {
    bool searching = false;
    for (size_t g = 0; g < groups.size(); ++g) {
      internal::Group<M>& group = *groups[g];
      if (!group.searching()) continue;
      const size_t others_bytes = searching_bytes - group.bytes;
      if (absl::Now() > options.deadline) {
        group.gave_up = "the deadline passed";
      } else if (others_bytes >= memory) {
        group.gave_up = absl::StrCat("the memory budget of ", memory, " bytes was held by other groups");
      } else {
        group.verdict =
            group.search->Run(std::min(slice, budget - group.search->steps()), options.deadline, memory - others_bytes);
        group.steps = group.search->steps();
        searching_bytes = others_bytes + (group.bytes = group.search->memory_bytes());
        if (group.verdict == Verdict::kUnknown) {
          if (group.steps >= budget) {
            group.gave_up = absl::StrCat("its budget of ", budget, " steps ran out");
          } else if (absl::Now() > options.deadline) {
            group.gave_up = "the deadline passed";
          } else if (searching_bytes > memory) {
            group.gave_up = absl::StrCat("the memory budget of ", memory, " bytes ran out");
          }
        }
      }
      if (group.verdict == Verdict::kNotLinearizable) {
        for (const auto& other : groups) result.steps += other->steps;
        result.verdict = Verdict::kNotLinearizable;
        internal::ExplainViolation(model, group, g, groups.size(), &result);
        result.summary = absl::StrCat("not linearizable: group ", g, " of ", groups.size(), "; ", history.size(),
                                      " operations, ", result.steps, " steps");
        return result;
      }
      if (group.verdict == Verdict::kLinearizable) {
        group.witness = group.search->witness();
        // Defend the verdict: the witness must replay through the model and respect real time.
        std::optional<typename M::State> state = model.Init();
        for (size_t op : group.witness) {
          state = model.Step(*state, group.ops[op]->input, group.ops[op]->output);
          if (!state.has_value()) break;
        }
        if (!state.has_value() || !internal::RespectsRealTime(group.search_ops, group.witness)) {
          internal::InvariantFailed(absl::StrCat("the witness found for group ", g, " does not replay"));
        }
      }
      if (!group.searching() && group.search != nullptr) {
        // Decided, or undecided for good: free its memory for the others.
        searching_bytes -= group.bytes;
        group.bytes = 0;
        group.search.reset();
        group.space.reset();
      }
      searching = searching || group.searching();
    }
    if (!searching) break;
  }
  std::string undecided;
  for (size_t g = 0; g < groups.size(); ++g) {
    result.steps += groups[g]->steps;
    if (groups[g]->verdict == Verdict::kUnknown && undecided.empty()) {
      undecided = absl::StrCat("group ", g, " undecided, ", groups[g]->gave_up);
    }
  }
  if (!undecided.empty()) {
    result.summary = absl::StrCat("unknown: ", undecided, "; ", history.size(), " operations, ", groups.size(),
                                  " groups, ", result.steps, " steps");
    return result;
  }
  for (const auto& group : groups) {
    for (size_t op : group->witness) result.linearization.push_back(group->members[op]);
  }
  result.verdict = Verdict::kLinearizable;
  result.summary = absl::StrCat("linearizable: ", history.size(), " operations, ", groups.size(), " groups, ",
                                result.steps, " steps");
  return result;
}

}  // namespace cistern::lincheck
