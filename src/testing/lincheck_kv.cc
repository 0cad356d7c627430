#include "testing/lincheck_kv.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cistern::lincheck {

std::optional<KvState> KvModel::Step(const State& state, const Input& input,
                                     const std::optional<Output>& output) const {
  auto it = state.values.find(input.key);
  const absl::string_view current = it == state.values.end() ? absl::string_view() : absl::string_view(it->second);
  switch (input.kind) {
    case Input::Kind::kGet:
      if (output.has_value() && output->value != current) return std::nullopt;
      return state;
    case Input::Kind::kPut:
    case Input::Kind::kAppend: {
      std::string value = input.kind == Input::Kind::kPut ? input.value : absl::StrCat(current, input.value);
      State next = state;
      if (value.empty()) {
        next.values.erase(input.key);
      } else {
        next.values[input.key] = std::move(value);
      }
      return next;
    }
  }
  return std::nullopt;
}

namespace {
std::string Quoted(absl::string_view value) {
  constexpr size_t kShown = 60;
  if (value.size() <= kShown) return absl::StrCat("\"", value, "\"");
  return absl::StrCat("\"...", value.substr(value.size() - kShown), "\" (", value.size(), " bytes)");
}
}  // namespace

std::string KvModel::Describe(const Input& input, const std::optional<Output>& output) const {
  switch (input.kind) {
    case Input::Kind::kGet:
      return absl::StrCat("get ", input.key, " -> ", output.has_value() ? Quoted(output->value) : "?");
    case Input::Kind::kPut:
      return absl::StrCat("put ", input.key, " ", Quoted(input.value));
    case Input::Kind::kAppend:
      return absl::StrCat("append ", input.key, " ", Quoted(input.value));
  }
  return "?";
}

std::string KvModel::DescribeState(const State& state) const {
  if (state.values.empty()) return "all keys empty";
  std::string out;
  for (const auto& [key, value] : state.values) absl::StrAppend(&out, out.empty() ? "" : ", ", key, "=", Quoted(value));
  return out;
}

namespace {

// One scalar of the EDN subset the histories use.
struct EdnValue {
  enum class Kind { kNil, kInteger, kKeyword, kString };
  Kind kind = Kind::kNil;
  std::string text;  // keyword without ':', string unescaped, integer digits
};

// Parses "{:k v, :k v ...}" with scalar values into key -> value.
absl::StatusOr<std::map<std::string, EdnValue>> ParseEdnMap(absl::string_view s) {
  std::map<std::string, EdnValue> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == '\t' || s[i] == '\r')) ++i;
  };
  auto word = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != ',' && s[i] != '}' && s[i] != '\t' && s[i] != '\r') ++i;
    return std::string(s.substr(start, i - start));
  };
  skip();
  if (i >= s.size() || s[i] != '{') return absl::InvalidArgumentError("expected '{'");
  ++i;
  while (true) {
    skip();
    if (i >= s.size()) return absl::InvalidArgumentError("missing '}'");
    if (s[i] == '}') {
      ++i;
      break;
    }
    if (s[i] != ':') return absl::InvalidArgumentError(absl::StrCat("expected a keyword at column ", i + 1));
    ++i;
    std::string key = word();
    skip();
    if (i >= s.size()) return absl::InvalidArgumentError(absl::StrCat("no value for :", key));
    EdnValue value;
    if (s[i] == '"') {
      value.kind = EdnValue::Kind::kString;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.text.push_back(s[i++]);
      }
      if (i >= s.size()) return absl::InvalidArgumentError(absl::StrCat("unterminated string for :", key));
      ++i;
    } else if (s[i] == ':') {
      ++i;
      value.kind = EdnValue::Kind::kKeyword;
      value.text = word();
    } else {
      value.text = word();
      int64_t ignored = 0;
      if (value.text == "nil") {
        value.kind = EdnValue::Kind::kNil;
      } else if (absl::SimpleAtoi(value.text, &ignored)) {
        value.kind = EdnValue::Kind::kInteger;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unsupported value '", value.text, "' for :", key));
      }
    }
    if (!out.emplace(key, std::move(value)).second) return absl::InvalidArgumentError(absl::StrCat("duplicate :", key));
  }
  skip();
  if (i != s.size()) return absl::InvalidArgumentError(absl::StrCat("text after '}' at column ", i + 1));
  return out;
}

absl::Status BadLine(size_t number, absl::string_view line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("line ", number, " '", line, "': ", why));
}

}  // namespace

absl::StatusOr<KvHistory> ParseKvHistory(absl::string_view text) {
  KvHistory history;
  std::map<int64_t, size_t> open;  // process -> index of its operation in flight
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    absl::StatusOr<std::map<std::string, EdnValue>> parsed = ParseEdnMap(line);
    if (!parsed.ok()) return BadLine(number, line, parsed.status().message());
    std::map<std::string, EdnValue>& m = *parsed;
    auto field = [&](const char* name, EdnValue::Kind kind) -> const EdnValue* {
      auto it = m.find(name);
      return it != m.end() && it->second.kind == kind ? &it->second : nullptr;
    };
    const EdnValue* process = field("process", EdnValue::Kind::kInteger);
    const EdnValue* type = field("type", EdnValue::Kind::kKeyword);
    const EdnValue* f = field("f", EdnValue::Kind::kKeyword);
    const EdnValue* key = field("key", EdnValue::Kind::kString);
    if (process == nullptr || type == nullptr || f == nullptr || key == nullptr) {
      return BadLine(number, line, "needs :process (integer), :type, :f (keywords) and :key (string)");
    }
    const EdnValue* value = field("value", EdnValue::Kind::kString);
    if (value == nullptr && field("value", EdnValue::Kind::kNil) == nullptr) {
      return BadLine(number, line, ":value must be a string or nil");
    }
    KvInput input;
    input.key = key->text;
    if (f->text == "get") {
      input.kind = KvInput::Kind::kGet;
    } else if (f->text == "put") {
      input.kind = KvInput::Kind::kPut;
    } else if (f->text == "append") {
      input.kind = KvInput::Kind::kAppend;
    } else {
      return BadLine(number, line, "unknown :f");
    }
    if (input.kind != KvInput::Kind::kGet) {
      if (value == nullptr) return BadLine(number, line, "put / append needs a string :value");
      input.value = value->text;
    }
    int64_t pid = 0;
    (void)absl::SimpleAtoi(process->text, &pid);
    const int64_t time = static_cast<int64_t>(number);
    if (type->text == "invoke") {
      if (!open.emplace(pid, history.size()).second) {
        return BadLine(number, line, "process already has an operation in flight");
      }
      history.push_back({static_cast<int>(pid), std::move(input), std::nullopt, Outcome::kInfo, time, 0});
      continue;
    }
    auto it = open.find(pid);
    if (it == open.end()) return BadLine(number, line, "completion without an invoke");
    auto& op = history[it->second];
    open.erase(it);
    if (op.input.kind != input.kind || op.input.key != input.key) {
      return BadLine(number, line, "completes an operation of another kind or key");
    }
    if (type->text == "ok") {
      op.outcome = Outcome::kOk;
      op.return_time = time;
      if (input.kind == KvInput::Kind::kGet) op.output = KvOutput{value != nullptr ? value->text : ""};
    } else if (type->text == "fail") {
      op.outcome = Outcome::kFail;
      op.return_time = time;
    } else if (type->text == "info") {
      op.outcome = Outcome::kInfo;
    } else {
      return BadLine(number, line, "unknown :type");
    }
  }
  return history;
}

}  // namespace cistern::lincheck
