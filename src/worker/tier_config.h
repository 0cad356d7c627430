// The worker's storage configuration as typed, validated values: the ordered cache tiers (MEM,
// SSD, HDD), each with one or more directories and a byte quota per directory, the eviction
// watermarks and policy, and when block checksums are verified.
//
// BlockStoreOptionsFromConfig reads the worker.tier.* / worker.evictor.* / worker.block.* keys and
// checks what can be checked before opening anything: known aliases in tier order, a directory
// list for every tier, one quota per directory (or one for all), positive quotas, directories that
// exist or can be created and are writable, 0 < low watermark < high watermark <= 1. Errors name
// the key and the offending value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/config.h"

namespace cistern::worker {

inline constexpr std::string_view kMemTierAlias = "MEM";
inline constexpr std::string_view kSsdTierAlias = "SSD";
inline constexpr std::string_view kHddTierAlias = "HDD";

struct TierDirOptions {
  std::string path;
  int64_t capacity_bytes = 0;
};

struct TierOptions {
  std::string alias;  // MEM, SSD or HDD
  std::vector<TierDirOptions> dirs;
};

enum class ChecksumVerify {
  kAlways,     // before every read
  kFirstRead,  // once per block per process (blocks written by this process count as verified)
  kNever,
};

struct BlockStoreOptions {
  // Fastest first. A block evicted from tier i moves to a later tier with room, else is dropped.
  std::vector<TierOptions> tiers;
  // Background eviction starts when a directory's used + reserved bytes exceed
  // high_watermark * capacity and frees space down to low_watermark * capacity.
  double high_watermark = 0.95;
  double low_watermark = 0.85;
  // How often the background evictor checks; 0 = no background thread (tests call
  // RunEvictionPass themselves).
  int64_t eviction_interval_ms = 0;
  std::string eviction_policy = "LRU";  // LRU or LRFU
  int64_t lrfu_half_life_ms = 10 * 60 * 1000;
  ChecksumVerify checksum_verify = ChecksumVerify::kFirstRead;
  // Time source of the eviction policy; must outlive the store.
  Clock* clock = RealClock();

  // One MEM tier with one directory (most tests, and the historical configuration).
  static BlockStoreOptions SingleDir(std::string dir, int64_t capacity_bytes);
};

absl::StatusOr<BlockStoreOptions> BlockStoreOptionsFromConfig(const Config& config);

// "always", "first_read", "never".
absl::StatusOr<ChecksumVerify> ParseChecksumVerify(std::string_view text);

}  // namespace cistern::worker
