// Test-only: a single register with read, write and compare-and-set (the model of Jepsen's etcd
// test), and a parser for the Jepsen logs of that test (../shared/testdata/linearizability/
// jepsen-etcd/). See lincheck.h for the checker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "testing/lincheck.h"

namespace cistern::lincheck {

struct RegisterInput {
  enum class Kind { kRead, kWrite, kCas };
  Kind kind = Kind::kRead;
  int64_t value = 0;     // kWrite: the value written; kCas: the new value
  int64_t expected = 0;  // kCas: the value compared against
};

struct RegisterOutput {
  std::optional<int64_t> value;  // kRead: the value read (nullopt: nil, never written)
  bool swapped = true;           // kCas: false if the register held another value
};

struct RegisterState {
  std::optional<int64_t> value;  // nullopt: never written

  friend bool operator==(const RegisterState&, const RegisterState&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const RegisterState& s) {
    return H::combine(std::move(h), s.value.has_value(), s.value.value_or(0));
  }
};

// Starts empty (reads return nil until the first write).
class RegisterModel {
 public:
  using State = RegisterState;
  using Input = RegisterInput;
  using Output = RegisterOutput;

  State Init() const { return {}; }
  std::optional<State> Step(const State& state, const Input& input, const std::optional<Output>& output) const;
  std::string Describe(const Input& input, const std::optional<Output>& output) const;
  std::string DescribeState(const State& state) const;
};

using RegisterHistory = HistoryOf<RegisterModel>;

// Parses a Jepsen etcd log: lines "INFO  jepsen.util - P\t:TYPE\t:F\tVALUE" (tabs or spaces),
// TYPE one of invoke / ok / fail / info, F one of read / write / cas, VALUE nil, an integer, "[a
// b]" (cas) or :timed-out. Each process has at most one operation open; its next ok / fail /
// info line completes it. Times are line numbers.
//   :ok      completed (a read's value is its output; an ok cas swapped)
//   :fail    did not take effect (a timed-out read; a cas whose compare failed, see below)
//   :info    unknown outcome; also any operation still open at the end of the log
// A failed cas is kept as a completed cas that did not swap when `failed_cas_completed` is set
// (it then also asserts the register differed from the expected value at that moment);
// otherwise it is dropped, which is Jepsen's own reading of :fail.
// INVALID_ARGUMENT naming the line for anything else.
absl::StatusOr<RegisterHistory> ParseJepsenEtcdLog(absl::string_view text, bool failed_cas_completed = false);

}  // namespace cistern::lincheck
