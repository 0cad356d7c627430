#include "worker/tier_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config_keys.h"
#include "common/status.h"
#include "common/units.h"

namespace cistern::worker {

namespace {

namespace fs = std::filesystem;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(AV(text), ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return out;
}

absl::Status BadValue(const ConfigKey& key, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(AV(key.name), "=", AV(value), ": ", AV(why)));
}

// Creates `dir` if needed and proves it writable by creating and deleting a file in it (access(2)
// says yes to root even on a read-only mount).
absl::Status CheckWritableDir(const ConfigKey& key, const std::string& list, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return BadValue(key, list, absl::StrCat("cannot create directory '", dir, "': ", ec.message()));
  if (!fs::is_directory(dir, ec)) return BadValue(key, list, absl::StrCat("'", dir, "' is not a directory"));
  const std::string probe = absl::StrCat(dir, "/.cistern-probe-", ::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return BadValue(key, list, absl::StrCat("directory '", dir, "' is not writable: ", std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

struct TierKeys {
  std::string_view alias;
  const ConfigKey* dirs;
  const ConfigKey* quota;
};

absl::StatusOr<TierOptions> TierFromConfig(const Config& config, const TierKeys& keys) {
  TierOptions tier;
  tier.alias = std::string(keys.alias);
  std::string dir_list = config.GetString(*keys.dirs);
  const ConfigKey* dir_key = keys.dirs;
  if (keys.alias == kMemTierAlias && dir_list.empty()) {
    dir_list = config.GetString(conf::kWorkerTierMemDir);
    dir_key = &conf::kWorkerTierMemDir;
  }
  const std::vector<std::string> dirs = SplitList(dir_list);
  if (dirs.empty()) {
    return BadValue(*dir_key, dir_list, absl::StrCat("tier ", AV(keys.alias), " is listed in worker.tiers but has no directory"));
  }
  if (std::set<std::string>(dirs.begin(), dirs.end()).size() != dirs.size()) {
    return BadValue(*dir_key, dir_list, "a directory is listed twice");
  }

  std::vector<int64_t> quotas;
  std::string quota_text;
  if (keys.quota->type == ConfigType::kSize) {
    quotas.push_back(config.GetSizeBytes(*keys.quota));
    quota_text = FormatBytes(quotas.back());
  } else {
    quota_text = config.GetString(*keys.quota);
    for (const std::string& item : SplitList(quota_text)) {
      absl::StatusOr<int64_t> bytes = ParseSizeBytes(item);
      if (!bytes.ok()) return BadValue(*keys.quota, quota_text, absl::StrCat("bad size '", item, "'"));
      quotas.push_back(*bytes);
    }
  }
  if (quotas.empty()) return BadValue(*keys.quota, quota_text, absl::StrCat("tier ", AV(keys.alias), " needs a quota"));
  if (quotas.size() != 1 && quotas.size() != dirs.size()) {
    return BadValue(*keys.quota, quota_text,
                    absl::StrCat(quotas.size(), " quotas for ", dirs.size(), " directories (give one per directory, or one for all)"));
  }
  for (int64_t q : quotas) {
    if (q <= 0) return BadValue(*keys.quota, quota_text, "a tier directory's quota must be positive");
  }
  for (size_t i = 0; i < dirs.size(); ++i) {
    CISTERN_RETURN_IF_ERROR(CheckWritableDir(*dir_key, dir_list, dirs[i]));
    tier.dirs.push_back({dirs[i], quotas.size() == 1 ? quotas[0] : quotas[i]});
  }
  return tier;
}

absl::StatusOr<double> ParseFraction(const Config& config, const ConfigKey& key) {
  const std::string& text = config.GetString(key);
  double value = 0;
  if (!absl::SimpleAtod(AV(text), &value) || !(value > 0 && value <= 1)) {
    return BadValue(key, text, "must be a fraction in (0, 1]");
  }
  return value;
}

}  // namespace

BlockStoreOptions BlockStoreOptions::SingleDir(std::string dir, int64_t capacity_bytes) {
  BlockStoreOptions options;
  options.tiers.push_back({std::string(kMemTierAlias), {{std::move(dir), capacity_bytes}}});
  return options;
}

absl::StatusOr<ChecksumVerify> ParseChecksumVerify(std::string_view text) {
  if (text == "always") return ChecksumVerify::kAlways;
  if (text == "first_read") return ChecksumVerify::kFirstRead;
  if (text == "never") return ChecksumVerify::kNever;
  return absl::InvalidArgumentError(absl::StrCat("bad checksum verification mode '", AV(text),
                                                 "' (one of always, first_read, never)"));
}

absl::StatusOr<BlockStoreOptions> BlockStoreOptionsFromConfig(const Config& config) {
  static const TierKeys kTiers[] = {
      {kMemTierAlias, &conf::kWorkerTierMemDirs, &conf::kWorkerTierMemQuota},
      {kSsdTierAlias, &conf::kWorkerTierSsdDirs, &conf::kWorkerTierSsdQuota},
      {kHddTierAlias, &conf::kWorkerTierHddDirs, &conf::kWorkerTierHddQuota},
  };
  BlockStoreOptions options;
  const std::string& tier_list = config.GetString(conf::kWorkerTiers);
  const std::vector<std::string> aliases = SplitList(tier_list);
  if (aliases.empty()) return BadValue(conf::kWorkerTiers, tier_list, "no cache tier");
  std::vector<int> order;
  for (const std::string& alias : aliases) {
    const std::string upper = absl::AsciiStrToUpper(alias);
    int found = -1;
    for (int i = 0; i < 3; ++i) {
      if (kTiers[i].alias == upper) found = i;
    }
    if (found < 0) return BadValue(conf::kWorkerTiers, tier_list, absl::StrCat("unknown tier alias '", alias, "' (MEM, SSD, HDD)"));
    if (!order.empty() && found <= order.back()) {
      return BadValue(conf::kWorkerTiers, tier_list, "tiers must be listed once each, fastest first (MEM, SSD, HDD)");
    }
    order.push_back(found);
  }
  for (int index : order) {
    CISTERN_ASSIGN_OR_RETURN(TierOptions tier, TierFromConfig(config, kTiers[index]));
    options.tiers.push_back(std::move(tier));
  }
  // A directory may serve one tier only: two tiers counting the same files would double them.
  std::set<std::string> seen;
  for (const TierOptions& tier : options.tiers) {
    for (const TierDirOptions& dir : tier.dirs) {
      std::error_code ec;
      std::string canonical = fs::weakly_canonical(dir.path, ec).string();
      if (ec) canonical = dir.path;
      if (!seen.insert(canonical).second) {
        return BadValue(conf::kWorkerTiers, tier_list, absl::StrCat("directory '", dir.path, "' is used by two tiers"));
      }
    }
  }

  CISTERN_ASSIGN_OR_RETURN(options.high_watermark, ParseFraction(config, conf::kWorkerTierEvictHighWatermark));
  CISTERN_ASSIGN_OR_RETURN(options.low_watermark, ParseFraction(config, conf::kWorkerTierEvictLowWatermark));
  if (options.low_watermark >= options.high_watermark) {
    return BadValue(conf::kWorkerTierEvictLowWatermark, config.GetString(conf::kWorkerTierEvictLowWatermark),
                    absl::StrCat("must be below worker.tier.evict.high_watermark (",
                                 config.GetString(conf::kWorkerTierEvictHighWatermark), ")"));
  }
  options.eviction_interval_ms = config.GetDurationMs(conf::kWorkerTierEvictInterval);
  if (options.eviction_interval_ms <= 0) {
    return BadValue(conf::kWorkerTierEvictInterval, FormatDurationMs(options.eviction_interval_ms), "must be positive");
  }
  options.eviction_policy = config.GetString(conf::kWorkerEvictorPolicy);
  options.lrfu_half_life_ms = config.GetDurationMs(conf::kWorkerEvictorLrfuHalfLife);
  if (options.lrfu_half_life_ms <= 0) {
    return BadValue(conf::kWorkerEvictorLrfuHalfLife, FormatDurationMs(options.lrfu_half_life_ms), "must be positive");
  }
  CISTERN_ASSIGN_OR_RETURN(options.checksum_verify,
                           ParseChecksumVerify(config.GetString(conf::kWorkerBlockChecksumVerify)));
  return options;
}

}  // namespace cistern::worker
