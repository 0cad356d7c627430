// The checker on small hand-made histories (register and key-value models), its bounds, its
// reports, and a randomized comparison with a brute-force search over all orders.
#include "testing/lincheck.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "testing/lincheck_kv.h"
#include "testing/lincheck_register.h"

namespace cistern::lincheck {
namespace {

using Op = RegisterHistory::value_type;
using Kind = RegisterInput::Kind;

Op Write(int64_t value, int64_t call, int64_t ret, Outcome outcome = Outcome::kOk) {
  return {0, {Kind::kWrite, value, 0}, RegisterOutput{}, outcome, call, ret};
}
Op Read(std::optional<int64_t> value, int64_t call, int64_t ret) {
  return {0, {Kind::kRead, 0, 0}, RegisterOutput{value, true}, Outcome::kOk, call, ret};
}
Op Cas(int64_t expected, int64_t value, bool swapped, int64_t call, int64_t ret, Outcome outcome = Outcome::kOk) {
  return {0, {Kind::kCas, value, expected}, RegisterOutput{std::nullopt, swapped}, outcome, call, ret};
}
Op Unknown(Op op) {
  op.outcome = Outcome::kInfo;
  op.output.reset();
  return op;
}

Verdict VerdictOf(const RegisterHistory& history) { return Check(RegisterModel(), history).verdict; }

TEST(Lincheck, EmptyHistoryIsLinearizable) {
  CheckResult result = Check(RegisterModel(), RegisterHistory{});
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.summary;
  EXPECT_TRUE(result.linearization.empty());
}

TEST(Lincheck, SequentialHistories) {
  EXPECT_EQ(VerdictOf({Read(std::nullopt, 0, 1), Write(1, 2, 3), Read(1, 4, 5)}), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Read(2, 2, 3)}), Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Read(1, 0, 1)}), Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Cas(1, 2, true, 2, 3), Read(2, 4, 5)}), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Cas(3, 2, true, 2, 3)}), Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Cas(3, 2, false, 2, 3), Read(1, 4, 5)}), Verdict::kLinearizable);
}

TEST(Lincheck, OverlappingOperationsMayTakeEffectInEitherOrder) {
  // The read overlaps the write: it may see the old or the new value.
  EXPECT_EQ(VerdictOf({Write(1, 0, 10), Read(std::nullopt, 1, 2)}), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 10), Read(1, 1, 2)}), Verdict::kLinearizable);
  // Two overlapping writes, then reads that pin the order 2 before 1.
  EXPECT_EQ(VerdictOf({Write(1, 0, 10), Write(2, 1, 11), Read(1, 12, 13)}), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 10), Write(2, 1, 11), Read(2, 12, 13)}), Verdict::kLinearizable);
  // Once a read saw the new value, a later read cannot see the old one.
  EXPECT_EQ(VerdictOf({Write(1, 0, 10), Read(1, 1, 2), Read(std::nullopt, 3, 4)}), Verdict::kNotLinearizable);
  // Two concurrent reads may disagree only in the order the write allows.
  EXPECT_EQ(VerdictOf({Write(1, 0, 10), Read(1, 1, 5), Read(std::nullopt, 2, 6)}), Verdict::kLinearizable);
  // Equal times overlap.
  EXPECT_EQ(VerdictOf({Write(1, 0, 5), Read(std::nullopt, 5, 6)}), Verdict::kLinearizable);
}

TEST(Lincheck, RealTimeOrderIsEnforced) {
  // The write returned before the read was called: the read must see it.
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Read(std::nullopt, 2, 3)}), Verdict::kNotLinearizable);
  // A stale read after a newer write completed.
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Write(2, 2, 3), Read(1, 4, 5)}), Verdict::kNotLinearizable);
}

TEST(Lincheck, UnknownOutcomesMayTakeEffectLateOrNever) {
  // Never took effect.
  EXPECT_EQ(VerdictOf({Unknown(Write(1, 0, 0)), Read(std::nullopt, 5, 6), Read(std::nullopt, 7, 8)}),
            Verdict::kLinearizable);
  // Took effect long after the client gave up on it (it never returns).
  EXPECT_EQ(VerdictOf({Unknown(Write(1, 0, 0)), Read(std::nullopt, 5, 6), Read(1, 100, 101)}), Verdict::kLinearizable);
  // But not before its call, and only once.
  EXPECT_EQ(VerdictOf({Read(1, 0, 1), Unknown(Write(1, 2, 0))}), Verdict::kNotLinearizable);
  EXPECT_EQ(VerdictOf({Unknown(Write(1, 0, 0)), Read(1, 5, 6), Read(std::nullopt, 7, 8)}), Verdict::kNotLinearizable);
  // An unknown cas takes effect only if its compare would match at that moment.
  EXPECT_EQ(VerdictOf({Write(1, 0, 1), Unknown(Cas(1, 2, true, 2, 0)), Read(2, 5, 6)}), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Write(3, 0, 1), Unknown(Cas(1, 2, true, 2, 0)), Read(2, 5, 6)}), Verdict::kNotLinearizable);
}

TEST(Lincheck, FailedOperationsDidNotHappen) {
  EXPECT_EQ(VerdictOf({Write(1, 0, 1, Outcome::kFail), Read(std::nullopt, 2, 3)}), Verdict::kLinearizable);
  EXPECT_EQ(VerdictOf({Write(1, 0, 1, Outcome::kFail), Read(1, 2, 3)}), Verdict::kNotLinearizable);
}

TEST(Lincheck, WitnessCoversEveryCompletedOperation) {
  RegisterHistory history = {
      Write(1, 0, 10), Write(2, 1, 11), Read(1, 12, 13), Unknown(Write(3, 14, 0)), Write(1, 20, 21, Outcome::kFail),
      Read(3, 30, 31)};
  CheckResult result = Check(RegisterModel(), history);
  ASSERT_EQ(result.verdict, Verdict::kLinearizable) << result.summary;
  EXPECT_EQ(result.linearization, (std::vector<size_t>{1, 0, 2, 3, 5}));
}

TEST(Lincheck, ViolationReportNamesThePrefixAndWhatCannotFollow) {
  // w1 and r1 happen, w2 overlaps a read that returns the never-written 7.
  RegisterHistory history = {Write(1, 0, 1), Read(1, 2, 3), Write(2, 4, 10), Read(7, 5, 6)};
  CheckResult result = Check(RegisterModel(), history);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.longest_prefix, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(result.next_candidates, (std::vector<size_t>{3}));
  EXPECT_NE(result.report.find("longest linearizable prefix (3 operations)"), std::string::npos) << result.report;
  EXPECT_NE(result.report.find("  #2 client 0 [4, 10] write 2\n"), std::string::npos) << result.report;
  EXPECT_NE(result.report.find("state after it: value 2"), std::string::npos) << result.report;
  EXPECT_NE(result.report.find("#3 client 0 [5, 6] read -> 7  (the model rejects it here)"), std::string::npos)
      << result.report;
}

// Many overlapping writes and a contradiction at the very end: the search has to visit many
// configurations before it can say no.
RegisterHistory HardHistory() {
  RegisterHistory history;
  for (int i = 0; i < 12; ++i) history.push_back(Unknown(Write(i, i, 0)));
  history.push_back(Read(100, 50, 51));
  return history;
}

TEST(Lincheck, StepBudgetGivesUnknownNotAVerdict) {
  CheckOptions options;
  options.max_steps_per_group = 10;
  CheckResult result = Check(RegisterModel(), HardHistory(), options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_NE(result.summary.find("budget of 10 steps"), std::string::npos) << result.summary;
  EXPECT_TRUE(result.linearization.empty());
  EXPECT_EQ(Check(RegisterModel(), HardHistory()).verdict, Verdict::kNotLinearizable);
}

TEST(Lincheck, DeadlineGivesUnknownNotAVerdict) {
  CheckOptions options;
  options.deadline = absl::Now() - absl::Seconds(1);
  CheckResult result = Check(RegisterModel(), HardHistory(), options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_NE(result.summary.find("deadline"), std::string::npos) << result.summary;
}

TEST(Lincheck, MemoryBudgetGivesUnknownNotAVerdict) {
  CheckOptions options;
  options.max_memory_bytes = 1;
  CheckResult result = Check(RegisterModel(), HardHistory(), options);
  EXPECT_EQ(result.verdict, Verdict::kUnknown);
  EXPECT_NE(result.summary.find("memory budget of 1 bytes ran out"), std::string::npos) << result.summary;
}

TEST(Lincheck, AViolationInOneGroupIsFoundWhileAnotherIsStillUndecided) {
  // Key "a" is expensive to decide; key "b" is plainly wrong.
  KvHistory history;
  for (int i = 0; i < 14; ++i) {
    history.push_back({i,
                       {KvInput::Kind::kAppend, "a", std::string(1, static_cast<char>('a' + i))},
                       std::nullopt,
                       Outcome::kInfo,
                       i,
                       0});
  }
  history.push_back({20, {KvInput::Kind::kGet, "a", ""}, KvOutput{"zz"}, Outcome::kOk, 50, 51});
  history.push_back({21, {KvInput::Kind::kPut, "b", "1"}, std::nullopt, Outcome::kOk, 0, 1});
  history.push_back({22, {KvInput::Kind::kGet, "b", ""}, KvOutput{"2"}, Outcome::kOk, 2, 3});
  CheckOptions options;
  options.max_steps_per_group = 1'000'000;
  CheckResult result = Check(KvModel(), history, options);
  ASSERT_EQ(result.verdict, Verdict::kNotLinearizable) << result.summary;
  EXPECT_EQ(result.groups, 2u);
  EXPECT_NE(result.summary.find("group 1 of 2"), std::string::npos) << result.summary;
  EXPECT_EQ(result.next_candidates, (std::vector<size_t>{16}));
}

TEST(Lincheck, GroupByKeysJoinsGroupsTransitively) {
  using internal::GroupByKeys;
  EXPECT_EQ(GroupByKeys({{"a"}, {"b"}, {"a"}, {}, {"c"}}), (std::vector<std::vector<size_t>>{{0, 2}, {1}, {3}, {4}}));
  // Op 3 touches b and c, so b's and c's operations form one group; op 4 then joins a.
  EXPECT_EQ(GroupByKeys({{"a"}, {"b"}, {"c"}, {"c", "b"}, {"a", "c"}}),
            (std::vector<std::vector<size_t>>{{0, 1, 2, 3, 4}}));
  EXPECT_EQ(GroupByKeys({{"x"}, {"y"}, {"z"}, {"z", "y"}}), (std::vector<std::vector<size_t>>{{0}, {1, 2, 3}}));
}

TEST(Lincheck, KvGroupsByKey) {
  KvHistory history = {
      {0, {KvInput::Kind::kAppend, "k", "a"}, std::nullopt, Outcome::kOk, 0, 10},
      {1, {KvInput::Kind::kAppend, "k", "b"}, std::nullopt, Outcome::kOk, 1, 11},
      {2, {KvInput::Kind::kGet, "k", ""}, KvOutput{"ba"}, Outcome::kOk, 12, 13},
      {3, {KvInput::Kind::kPut, "j", "x"}, std::nullopt, Outcome::kOk, 0, 1},
      {3, {KvInput::Kind::kGet, "j", ""}, KvOutput{"x"}, Outcome::kOk, 2, 3},
      {4, {KvInput::Kind::kGet, "i", ""}, KvOutput{""}, Outcome::kOk, 2, 3},
  };
  CheckResult result = Check(KvModel(), history);
  EXPECT_EQ(result.verdict, Verdict::kLinearizable) << result.summary;
  EXPECT_EQ(result.groups, 3u);
  history[2].output = KvOutput{"abc"};
  EXPECT_EQ(Check(KvModel(), history).verdict, Verdict::kNotLinearizable);
}

// An independent decision procedure for tiny histories: try every order of every subset of the
// unknown operations (with all completed ones), checking real time pairwise and replaying.
bool BruteForceLinearizable(const RegisterHistory& history) {
  std::vector<size_t> required, optional;
  for (size_t i = 0; i < history.size(); ++i) {
    if (history[i].outcome == Outcome::kOk) required.push_back(i);
    if (history[i].outcome == Outcome::kInfo) optional.push_back(i);
  }
  auto precedes = [&](size_t a, size_t b) {
    return history[a].outcome == Outcome::kOk && history[a].return_time < history[b].call_time;
  };
  const RegisterModel model;
  for (uint32_t mask = 0; mask < (1u << optional.size()); ++mask) {
    std::vector<size_t> order = required;
    for (size_t k = 0; k < optional.size(); ++k) {
      if (mask & (1u << k)) order.push_back(optional[k]);
    }
    std::sort(order.begin(), order.end());
    do {
      bool ok = true;
      for (size_t i = 0; i < order.size() && ok; ++i) {
        for (size_t j = i + 1; j < order.size() && ok; ++j) ok = !precedes(order[j], order[i]);
      }
      std::optional<RegisterState> state = model.Init();
      for (size_t i = 0; i < order.size() && ok; ++i) {
        state = model.Step(*state, history[order[i]].input, history[order[i]].output);
        ok = state.has_value();
      }
      if (ok) return true;
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return false;
}

TEST(Lincheck, AgreesWithBruteForceOnRandomSmallHistories) {
  std::mt19937 rng(20261201);
  int linearizable = 0, not_linearizable = 0;
  for (int round = 0; round < 3000; ++round) {
    RegisterHistory history;
    const int n = 1 + static_cast<int>(rng() % 7);
    for (int i = 0; i < n; ++i) {
      const int64_t call = rng() % 20;
      const int64_t ret = call + rng() % 8;
      const int64_t value = rng() % 3;
      Op op;
      switch (rng() % 3) {
        case 0:
          op = Write(value, call, ret);
          break;
        case 1:
          op = Read(rng() % 4 == 0 ? std::nullopt : std::optional<int64_t>(value), call, ret);
          break;
        default:
          op = Cas(value, rng() % 3, rng() % 2 == 0, call, ret);
          break;
      }
      const uint32_t fate = rng() % 10;
      if (fate == 0) op.outcome = Outcome::kFail;
      if (fate == 1 && op.input.kind != Kind::kRead) op = Unknown(op);
      op.client = i;
      history.push_back(op);
    }
    const bool expected = BruteForceLinearizable(history);
    CheckResult result = Check(RegisterModel(), history);
    ASSERT_EQ(result.verdict, expected ? Verdict::kLinearizable : Verdict::kNotLinearizable)
        << "round " << round << ": " << result.summary << "\n"
        << result.report;
    (expected ? linearizable : not_linearizable)++;
  }
  // Both verdicts were exercised in earnest.
  EXPECT_GT(linearizable, 500);
  EXPECT_GT(not_linearizable, 500);
}

}  // namespace
}  // namespace cistern::lincheck
