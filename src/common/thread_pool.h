// ThreadPool: a fixed set of named threads running queued tasks in FIFO order, for work that
// may block (under-store calls, journal commits) and so must not run on an RPC framework's own
// event threads. The queue is bounded: a pool that is that far behind refuses new work instead
// of growing without limit.
//
// Thread safety: thread-safe. The destructor runs every task already queued, then joins.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace cistern {

class ThreadPool {
 public:
  // `name` (at most 15 bytes are kept) names the threads, e.g. in top and perf.
  ThreadPool(std::string name, int threads, size_t max_queued);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`; false (and `task` is dropped unrun) if max_queued tasks are already waiting.
  bool TrySchedule(absl::AnyInvocable<void() &&> task);

  int threads() const { return static_cast<int>(threads_.size()); }
  size_t queued() const;

 private:
  void Work();

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // constant after construction
};

}  // namespace cistern
