#include "common/metrics.h"

namespace cistern {

Counter* MetricsRegistry::GetCounter(std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = counters_.find(name);
  if (it != counters_.end()) return it->second.get();
  auto [inserted, unused] = counters_.emplace(std::string(name), std::make_unique<Counter>());
  return inserted->second.get();
}

std::map<std::string, int64_t> MetricsRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [name, counter] : counters_) out[name] = counter->Get();
  return out;
}

MetricsRegistry& Metrics() {
  static auto* registry = new MetricsRegistry();
  return *registry;
}

}  // namespace cistern
