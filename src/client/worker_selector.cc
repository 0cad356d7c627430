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

namespace {

// The host part of "host:port" (IPv6 "[::1]:port" keeps its brackets).
std::string_view HostOf(std::string_view address) {
  const size_t colon = address.rfind(':');
  return colon == std::string_view::npos ? address : address.substr(0, colon);
}

}  // namespace

WorkerSelector::WorkerSelector(const std::vector<WorkerSummary>& workers,
                               const std::vector<std::string>& local_hostnames)
    : local_hostnames_(local_hostnames) {
  for (const WorkerSummary& w : workers) {
    if (w.state != WorkerState::kLive) continue;
    const bool local = std::find(local_hostnames.begin(), local_hostnames.end(), w.host) != local_hostnames.end();
    workers_.push_back(WorkerEndpoint{w.worker_id, w.address, local});
  }
  std::sort(workers_.begin(), workers_.end(),
            [](const WorkerEndpoint& a, const WorkerEndpoint& b) { return a.worker_id < b.worker_id; });
  ring_ = MakeRing(/*local_only=*/false);
  local_ring_ = MakeRing(/*local_only=*/true);
}

WorkerSelector::Ring WorkerSelector::MakeRing(bool local_only) const {
  Ring ring;
  ring.reserve(workers_.size() * kVirtualNodes);
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (local_only && !workers_[i].local) continue;
    for (uint64_t v = 0; v < kVirtualNodes; ++v) {
      ring.emplace_back(MixHash(MixHash(workers_[i].worker_id) ^ (v * 0x632be59bd9b4e019ULL)), i);
    }
  }
  std::sort(ring.begin(), ring.end());
  return ring;
}

absl::StatusOr<WorkerEndpoint> WorkerSelector::ForKey(uint64_t key, const std::vector<uint64_t>& exclude) const {
  return Walk(ring_, key, exclude);
}

absl::StatusOr<WorkerEndpoint> WorkerSelector::Walk(const Ring& ring, uint64_t key,
                                                    const std::vector<uint64_t>& exclude) const {
  auto excluded = [&](size_t index) {
    return std::find(exclude.begin(), exclude.end(), workers_[index].worker_id) != exclude.end();
  };
  if (!ring.empty()) {
    const uint64_t h = MixHash(key);
    auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(h, size_t{0}));
    // Walk clockwise from the key's point to the first worker not excluded.
    for (size_t step = 0; step < ring.size(); ++step, ++it) {
      if (it == ring.end()) it = ring.begin();
      if (!excluded(it->second)) return workers_[it->second];
    }
  }
  return absl::UnavailableError(absl::StrCat("no live worker available for key ", key, " (", workers_.size(),
                                             " live, ", exclude.size(), " excluded)"));
}

absl::StatusOr<WorkerEndpoint> WorkerSelector::ForBlock(uint64_t block_id, const std::vector<BlockLocation>& locations,
                                                        const std::vector<uint64_t>& exclude) const {
  auto usable = [&](const BlockLocation& l) {
    return std::find(exclude.begin(), exclude.end(), l.worker_id) == exclude.end();
  };
  auto is_local = [&](const BlockLocation& l) {
    const std::string_view host = HostOf(l.address);
    return std::find(local_hostnames_.begin(), local_hostnames_.end(), host) != local_hostnames_.end();
  };
  for (const BlockLocation& l : locations) {
    if (usable(l) && is_local(l)) return WorkerEndpoint{l.worker_id, l.address, true};
  }
  for (const BlockLocation& l : locations) {
    if (usable(l)) return WorkerEndpoint{l.worker_id, l.address, false};
  }
  absl::StatusOr<WorkerEndpoint> local = Walk(local_ring_, block_id, exclude);
  if (local.ok()) return local;
  return ForKey(block_id, exclude);
}

}  // namespace cistern::client
