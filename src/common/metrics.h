// Process-wide named counters and gauges, read by GetMetrics RPCs (and, later, /metrics).
// Names are dotted and end with their unit: "worker.bytes_read.cache_bytes".
//
// Thread safety: all methods are thread-safe; Counter updates are lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cistern {

class Counter {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { value_.store(n, std::memory_order_relaxed); }
  int64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class MetricsRegistry {
 public:
  // Returns the counter named `name`, creating it at zero. The pointer stays valid for the
  // registry's lifetime.
  Counter* GetCounter(std::string_view name);
  std::map<std::string, int64_t> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters_ ABSL_GUARDED_BY(mu_);
};

// The process's registry.
MetricsRegistry& Metrics();

}  // namespace cistern
