// Test-only: records a history of client operations for lincheck.h while real clients run.
//
//   HistoryRecorder<NamespaceModel> recorder;            // shared by all client threads
//   auto id = recorder.Invoke(client, input);            // just before sending the request
//   absl::Status status = ...the call...;
//   recorder.Ok(id, output);  // or Fail(id): it certainly did not happen; or Info(id): unknown
//   ...
//   CheckResult result = Check(model, recorder.History());
//
// Timestamps come from the monotonic clock and are strictly increasing across all events of one
// recorder (ties are broken by the order events were recorded, under the recorder's lock), so an
// operation completed before another was invoked always precedes it. An operation never
// completed (its client hung or died) is reported as unknown.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "testing/lincheck.h"

namespace cistern::lincheck {

template <SequentialModel M>
class HistoryRecorder {
 public:
  using Input = typename M::Input;
  using Output = typename M::Output;
  using OperationId = size_t;

  HistoryRecorder() : start_(std::chrono::steady_clock::now()) {}

  // Records the call of an operation by `client`; the returned id completes it.
  OperationId Invoke(int client, Input input) {
    absl::MutexLock lock(&mu_);
    Entry entry;
    entry.op.client = client;
    entry.op.input = std::move(input);
    entry.op.outcome = Outcome::kInfo;
    entry.op.call_time = NextTimeLocked();
    ops_.push_back(std::move(entry));
    return ops_.size() - 1;
  }

  // It completed and returned `output`.
  void Ok(OperationId id, Output output) { Complete(id, Outcome::kOk, std::move(output)); }
  // It certainly did not take effect (e.g. refused before anything was sent).
  void Fail(OperationId id) { Complete(id, Outcome::kFail, std::nullopt); }
  // Its outcome is unknown (a timeout, a lost connection): it may take effect at any later time.
  void Info(OperationId id) { Complete(id, Outcome::kInfo, std::nullopt); }

  // Everything recorded so far, in invocation order.
  HistoryOf<M> History() const {
    absl::MutexLock lock(&mu_);
    HistoryOf<M> out;
    out.reserve(ops_.size());
    for (const Entry& entry : ops_) out.push_back(entry.op);
    return out;
  }

  size_t size() const {
    absl::MutexLock lock(&mu_);
    return ops_.size();
  }

 private:
  struct Entry {
    Operation<Input, Output> op;
    bool completed = false;
  };

  void Complete(OperationId id, Outcome outcome, std::optional<Output> output) {
    absl::MutexLock lock(&mu_);
    if (id >= ops_.size() || ops_[id].completed) {
      internal::InvariantFailed(absl::StrCat("operation ", id, " completed twice or never invoked"));
    }
    Entry& entry = ops_[id];
    entry.completed = true;
    entry.op.outcome = outcome;
    entry.op.output = std::move(output);
    entry.op.return_time = NextTimeLocked();
  }

  int64_t NextTimeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
    last_time_ns_ = std::max(last_time_ns_ + 1, now_ns);
    return last_time_ns_;
  }

  const std::chrono::steady_clock::time_point start_;
  mutable absl::Mutex mu_;
  int64_t last_time_ns_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Entry> ops_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::lincheck
