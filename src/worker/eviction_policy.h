// EvictionPolicy: which cached blocks leave a tier directory first. The store keeps an
// AccessStats per block, calls RecordAccess when the block is written and on every read, and
// evicts unpinned, unread blocks in increasing Priority order (ties: older access first).
//
//  * LRU: priority is the access sequence number; the least recently used block goes first.
//  * LRFU (Lee et al., 2001): every access adds 1 to a "combined recency and frequency" value
//    that halves every `half_life_ms` of clock time; the block with the smallest current value
//    goes first. A long half-life approaches LFU, a short one LRU.
//
// Thread safety: policies are immutable; the caller serializes updates of one AccessStats.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"

namespace cistern::worker {

struct AccessStats {
  uint64_t last_access_seq = 0;  // set by the store: a counter over all accesses
  int64_t last_access_ms = 0;
  double crf = 0;  // LRFU's value as of last_access_ms
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  // Records an access at `now_ms` with store-wide sequence number `seq`.
  virtual void RecordAccess(AccessStats* stats, uint64_t seq, int64_t now_ms) const = 0;
  // Lower is evicted first.
  virtual double Priority(const AccessStats& stats, int64_t now_ms) const = 0;
};

std::unique_ptr<EvictionPolicy> NewLruPolicy();
// REQUIRES: half_life_ms > 0.
std::unique_ptr<EvictionPolicy> NewLrfuPolicy(int64_t half_life_ms);
// "LRU" or "LRFU" (case-insensitive); INVALID_ARGUMENT names anything else.
absl::StatusOr<std::unique_ptr<EvictionPolicy>> NewEvictionPolicy(std::string_view name, int64_t lrfu_half_life_ms);

}  // namespace cistern::worker
