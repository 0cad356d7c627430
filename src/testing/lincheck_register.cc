#include "testing/lincheck_register.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cistern::lincheck {

std::optional<RegisterState> RegisterModel::Step(const State& state, const Input& input,
                                                 const std::optional<Output>& output) const {
  switch (input.kind) {
    case Input::Kind::kRead:
      if (output.has_value() && output->value != state.value) return std::nullopt;
      return state;
    case Input::Kind::kWrite:
      return State{input.value};
    case Input::Kind::kCas: {
      const bool matches = state.value == input.expected;
      if (output.has_value() && output->swapped != matches) return std::nullopt;
      return matches ? State{input.value} : state;
    }
  }
  return std::nullopt;
}

namespace {
std::string Value(const std::optional<int64_t>& value) {
  return value.has_value() ? absl::StrCat(*value) : std::string("nil");
}
}  // namespace

std::string RegisterModel::Describe(const Input& input, const std::optional<Output>& output) const {
  switch (input.kind) {
    case Input::Kind::kRead:
      return absl::StrCat("read -> ", output.has_value() ? Value(output->value) : "?");
    case Input::Kind::kWrite:
      return absl::StrCat("write ", input.value);
    case Input::Kind::kCas:
      return absl::StrCat("cas ", input.expected, " -> ", input.value,
                          output.has_value() ? (output->swapped ? ": swapped" : ": not swapped") : "");
  }
  return "?";
}

std::string RegisterModel::DescribeState(const State& state) const {
  return absl::StrCat("value ", Value(state.value));
}

namespace {

absl::Status BadLine(size_t number, absl::string_view line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("line ", number, " '", line, "': ", why));
}

struct Open {
  size_t index;  // into the history
  RegisterInput::Kind kind;
};

}  // namespace

absl::StatusOr<RegisterHistory> ParseJepsenEtcdLog(absl::string_view text, bool failed_cas_completed) {
  RegisterHistory history;
  std::map<int64_t, Open> open;  // process -> its operation in flight
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    // INFO jepsen.util - PROCESS :TYPE :F VALUE...
    if (f.size() < 7 || f[1] != "jepsen.util" || f[2] != "-") return BadLine(number, line, "not a jepsen.util line");
    int64_t process = 0;
    if (!absl::SimpleAtoi(f[3], &process)) return BadLine(number, line, "bad process number");
    const absl::string_view type = f[4], fn = f[5];
    std::string value = absl::StrJoin(f.begin() + 6, f.end(), " ");
    RegisterInput input;
    if (fn == ":read") {
      input.kind = RegisterInput::Kind::kRead;
    } else if (fn == ":write") {
      input.kind = RegisterInput::Kind::kWrite;
    } else if (fn == ":cas") {
      input.kind = RegisterInput::Kind::kCas;
    } else {
      return BadLine(number, line, "unknown function");
    }
    const bool timed_out = value == ":timed-out";
    std::optional<int64_t> number_value;  // read / write value
    if (!timed_out && input.kind != RegisterInput::Kind::kCas && value != "nil") {
      int64_t v = 0;
      if (!absl::SimpleAtoi(value, &v)) return BadLine(number, line, "bad value");
      number_value = v;
    }
    if (!timed_out && input.kind == RegisterInput::Kind::kCas) {
      std::vector<absl::string_view> pair =
          absl::StrSplit(absl::StripSuffix(absl::StripPrefix(value, "["), "]"), ' ', absl::SkipEmpty());
      if (pair.size() != 2 || !absl::SimpleAtoi(pair[0], &input.expected) || !absl::SimpleAtoi(pair[1], &input.value)) {
        return BadLine(number, line, "bad cas arguments");
      }
    }
    if (input.kind == RegisterInput::Kind::kWrite && number_value.has_value()) input.value = *number_value;

    const int64_t time = static_cast<int64_t>(number);
    if (type == ":invoke") {
      if (timed_out || (input.kind == RegisterInput::Kind::kWrite && !number_value.has_value())) {
        return BadLine(number, line, "invoke without an argument");
      }
      if (open.count(process) > 0) return BadLine(number, line, "process already has an operation in flight");
      open[process] = {history.size(), input.kind};
      history.push_back({static_cast<int>(process), input, std::nullopt, Outcome::kInfo, time, 0});
      continue;
    }
    auto it = open.find(process);
    if (it == open.end()) return BadLine(number, line, "completion without an invoke");
    if (it->second.kind != input.kind) return BadLine(number, line, "completes an operation of another kind");
    auto& op = history[it->second.index];
    open.erase(it);
    if (!timed_out && input.kind != RegisterInput::Kind::kRead &&
        (op.input.value != input.value || op.input.expected != input.expected)) {
      return BadLine(number, line, "arguments differ from the invoke's");
    }
    if (type == ":ok") {
      if (timed_out) return BadLine(number, line, "ok without a value");
      op.outcome = Outcome::kOk;
      op.return_time = time;
      op.output = RegisterOutput{number_value, true};
    } else if (type == ":fail") {
      if (input.kind == RegisterInput::Kind::kCas && !timed_out && failed_cas_completed) {
        op.outcome = Outcome::kOk;
        op.return_time = time;
        op.output = RegisterOutput{std::nullopt, false};
      } else {
        op.outcome = Outcome::kFail;
        op.return_time = time;
      }
    } else if (type == ":info") {
      op.outcome = Outcome::kInfo;
    } else {
      return BadLine(number, line, "unknown type");
    }
  }
  return history;  // operations still open stay kInfo
}

}  // namespace cistern::lincheck
