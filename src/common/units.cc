#include "common/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cistern {
namespace {

// Splits "64MiB" into ("64", "mib"), unit lower-cased, whitespace ignored.
void SplitNumberUnit(std::string_view text, std::string* number, std::string* unit) {
  std::string t(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())));
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.' ||
                          (i == 0 && (t[i] == '-' || t[i] == '+')))) {
    ++i;
  }
  *number = t.substr(0, i);
  *unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(i)));
}

absl::Status BadValue(std::string_view kind, std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", absl::string_view(kind.data(), kind.size()), " '",
                   absl::string_view(text.data(), text.size()), "': ",
                   absl::string_view(why.data(), why.size())));
}

}  // namespace

absl::StatusOr<int64_t> ParseSizeBytes(std::string_view text) {
  std::string number, unit;
  SplitNumberUnit(text, &number, &unit);
  if (number.empty()) return BadValue("size", text, "expected a number with an optional unit such as 64MiB");
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  else if (unit == "t" || unit == "tb" || unit == "tib") shift = 40;
  else if (unit == "p" || unit == "pb" || unit == "pib") shift = 50;
  if (shift < 0) return BadValue("size", text, "unknown unit (use B, KiB, MiB, GiB, TiB, PiB)");
  if (number.find('.') != std::string::npos) {
    double value = 0;
    if (!absl::SimpleAtod(number, &value) || value < 0 || !std::isfinite(value)) {
      return BadValue("size", text, "not a non-negative number");
    }
    double bytes = value * static_cast<double>(int64_t{1} << shift);
    if (bytes >= 9.2e18) return BadValue("size", text, "too large");
    return static_cast<int64_t>(bytes);
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(number, &value) || value < 0) {
    return BadValue("size", text, "not a non-negative integer");
  }
  if (value > (std::numeric_limits<int64_t>::max() >> shift)) return BadValue("size", text, "too large");
  return value << shift;
}

absl::StatusOr<int64_t> ParseDurationMs(std::string_view text) {
  std::string number, unit;
  SplitNumberUnit(text, &number, &unit);
  int64_t value = 0;
  if (number.empty() || !absl::SimpleAtoi(number, &value)) {
    return BadValue("duration", text, "expected an integer with a unit such as 30s, 500ms, 5m");
  }
  if (value == -1 && unit.empty()) return -1;
  if (value < 0) return BadValue("duration", text, "negative durations are not allowed (only -1)");
  int64_t scale = 0;
  if (unit.empty() || unit == "ms") scale = 1;
  else if (unit == "s" || unit == "sec") scale = 1000;
  else if (unit == "m" || unit == "min") scale = 60 * 1000;
  else if (unit == "h") scale = 3600 * 1000;
  else if (unit == "d") scale = 24 * 3600 * 1000;
  if (scale == 0) return BadValue("duration", text, "unknown unit (use ms, s, m, h, d)");
  if (value > std::numeric_limits<int64_t>::max() / scale) return BadValue("duration", text, "too large");
  return value * scale;
}

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  if (v == std::floor(v)) return absl::StrFormat("%.0f%s", v, kUnits[u]);
  return absl::StrFormat("%.1f%s", v, kUnits[u]);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) return absl::StrCat(ms, "ms");
  if (ms < 1000) return absl::StrCat(ms, "ms");
  if (ms % 1000 != 0 && ms < 60000) return absl::StrFormat("%.1fs", ms / 1000.0);
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 86400) { absl::StrAppend(&out, s / 86400, "d"); s %= 86400; }
  if (s >= 3600) { absl::StrAppend(&out, s / 3600, "h"); s %= 3600; }
  if (s >= 60) { absl::StrAppend(&out, s / 60, "m"); s %= 60; }
  if (s > 0 || out.empty()) absl::StrAppend(&out, s, "s");
  return out;
}

}  // namespace cistern
