// Test-only: a key-value store with get, put and append per key, and a parser for the
// key-value histories in ../shared/testdata/linearizability/kv/. Operations on different keys
// are independent, so the checker splits a history by key (P-compositionality).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "testing/lincheck.h"

namespace cistern::lincheck {

struct KvInput {
  enum class Kind { kGet, kPut, kAppend };
  Kind kind = Kind::kGet;
  std::string key;
  std::string value;  // kPut: the new value; kAppend: the suffix
};

struct KvOutput {
  std::string value;  // kGet: the value read ("" for a key never written)
};

struct KvState {
  std::map<std::string, std::string> values;  // keys holding "" are absent

  friend bool operator==(const KvState&, const KvState&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const KvState& s) {
    return H::combine(std::move(h), s.values);
  }
};

class KvModel {
 public:
  using State = KvState;
  using Input = KvInput;
  using Output = KvOutput;

  State Init() const { return {}; }
  std::optional<State> Step(const State& state, const Input& input, const std::optional<Output>& output) const;
  std::vector<std::string> PartitionKeys(const Input& input) const { return {input.key}; }
  std::string Describe(const Input& input, const std::optional<Output>& output) const;
  std::string DescribeState(const State& state) const;
};

using KvHistory = HistoryOf<KvModel>;

// Parses one operation event per line, an EDN map such as
//   {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
// with :type invoke / ok / fail / info and :f get / put / append (:value nil for an invoked get;
// an ok get's :value is what it read). Each process has at most one operation open; operations
// still open at the end have an unknown outcome. Times are line numbers. INVALID_ARGUMENT naming
// the line for anything else.
absl::StatusOr<KvHistory> ParseKvHistory(absl::string_view text);

}  // namespace cistern::lincheck
