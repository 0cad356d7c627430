// Parsing and printing of sizes ("64MiB") and durations ("30s") used by configuration, the CLI
// and logs. One place for the unit rules so every component reads values the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cistern {

// Accepts a non-negative integer with an optional unit: B, K/KB/KiB, M/MB/MiB, G/GB/GiB,
// T/TB/TiB, P/PB/PiB (case-insensitive; all binary, 1K = 1024, as Alluxio and JuiceFS read
// them). A bare number is bytes. Fractions are allowed with a unit ("1.5GiB").
absl::StatusOr<int64_t> ParseSizeBytes(std::string_view text);

// Accepts an integer with a unit: ms, s/sec, m/min, h, d. A bare number is milliseconds.
// "-1" is allowed and returned as -1 (used by keys where -1 means "never").
absl::StatusOr<int64_t> ParseDurationMs(std::string_view text);

// "1.5GiB", "512B", "64MiB": the shortest exact-or-one-decimal form.
std::string FormatBytes(int64_t bytes);

// "250ms", "30s", "2m30s", "1h".
std::string FormatDurationMs(int64_t ms);

}  // namespace cistern
