#include "client/worker_selector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace cistern::client {

uint64_t MixHash(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

WorkerSelector::WorkerSelector(const std::vector<WorkerSummary>& workers) {
  for (const WorkerSummary& w : workers) {
    if (w.state == WorkerState::kLive) workers_.push_back(WorkerEndpoint{w.worker_id, w.address});
  }
  std::sort(workers_.begin(), workers_.end(),
            [](const WorkerEndpoint& a, const WorkerEndpoint& b) { return a.worker_id < b.worker_id; });
  ring_.reserve(workers_.size() * kVirtualNodes);
  for (size_t i = 0; i < workers_.size(); ++i) {
    for (uint64_t v = 0; v < kVirtualNodes; ++v) {
      ring_.emplace_back(MixHash(MixHash(workers_[i].worker_id) ^ (v * 0x632be59bd9b4e019ULL)), i);
    }
  }
  std::sort(ring_.begin(), ring_.end());
}

absl::StatusOr<WorkerEndpoint> WorkerSelector::ForKey(uint64_t key, const std::vector<uint64_t>& exclude) const {
  auto excluded = [&](size_t index) {
    return std::find(exclude.begin(), exclude.end(), workers_[index].worker_id) != exclude.end();
  };
  if (!ring_.empty()) {
    const uint64_t h = MixHash(key);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(h, size_t{0}));
    // Walk clockwise from the key's point to the first worker not excluded.
    for (size_t step = 0; step < ring_.size(); ++step, ++it) {
      if (it == ring_.end()) it = ring_.begin();
      if (!excluded(it->second)) return workers_[it->second];
    }
  }
  return absl::UnavailableError(absl::StrCat("no live worker available for key ", key, " (", workers_.size(),
                                             " live, ", exclude.size(), " excluded)"));
}

absl::StatusOr<WorkerEndpoint> WorkerSelector::ForBlock(uint64_t block_id, const std::vector<BlockLocation>& locations,
                                                        const std::vector<uint64_t>& exclude) const {
  for (const BlockLocation& l : locations) {
    if (std::find(exclude.begin(), exclude.end(), l.worker_id) == exclude.end()) {
      return WorkerEndpoint{l.worker_id, l.address};
    }
  }
  return ForKey(block_id, exclude);
}

}  // namespace cistern::client
