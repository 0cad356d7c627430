#include "ufs/ufs_options.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/units.h"

namespace cistern::ufs {

EnvLookup OrProcessEnv(const EnvLookup& env) {
  if (env) return env;
  return [](const char* name) -> const char* { return std::getenv(name); };
}

std::optional<std::string> GetEnv(const EnvLookup& env, const char* name) {
  const char* v = OrProcessEnv(env)(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::string> GetOption(const MountOptions& options, const std::string& key) {
  auto it = options.find(key);
  if (it == options.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

const std::vector<std::string>& HttpOptionSuffixes() {
  static const auto* keys = new std::vector<std::string>{"connect_timeout", "stall_timeout", "request_timeout",
                                                         "max_attempts",    "retry_base",    "retry_max"};
  return *keys;
}

absl::Status CheckKnownOptions(const MountOptions& options, std::string_view prefix_view,
                               const std::vector<std::string>& keys) {
  const std::string prefix(prefix_view);
  std::vector<std::string> all = keys;
  for (const std::string& s : HttpOptionSuffixes()) all.push_back(absl::StrCat(prefix, s));
  for (const auto& [key, value] : options) {
    if (!absl::StartsWith(key, prefix)) continue;
    bool known = false;
    for (const std::string& k : all) known |= k == key;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("unknown mount option '", key, "' (", prefix.substr(0, prefix.size() - 1),
                                                     " options: ", absl::StrJoin(all, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ParseBoolOption(const std::string& key, const std::string& value) {
  std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return absl::InvalidArgumentError(absl::StrCat("mount option ", key, "='", value, "': expected true or false"));
}

absl::StatusOr<int64_t> ParseIntOption(const std::string& key, const std::string& value, int64_t min, int64_t max) {
  int64_t v;
  if (!absl::SimpleAtoi(value, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("mount option ", key, "='", value, "': expected an integer in [", min, ", ", max, "]"));
  }
  return v;
}

absl::Status ApplyHttpOptions(const MountOptions& options, std::string_view prefix, HttpOptions* http) {
  const std::string p(prefix);
  if (auto v = GetOption(options, p + "max_attempts")) {
    CISTERN_ASSIGN_OR_RETURN(int64_t n, ParseIntOption(p + "max_attempts", *v, 1, 100));
    http->max_attempts = static_cast<int>(n);
  }
  struct Duration {
    const char* suffix;
    int64_t* field;
  };
  for (Duration d : {Duration{"connect_timeout", &http->connect_timeout_ms},
                     Duration{"stall_timeout", &http->stall_timeout_ms},
                     Duration{"request_timeout", &http->request_timeout_ms},
                     Duration{"retry_base", &http->retry_base_ms}, Duration{"retry_max", &http->retry_max_ms}}) {
    const std::string key = p + d.suffix;
    if (auto v = GetOption(options, key)) {
      auto ms = ParseDurationMs(*v);
      if (!ms.ok()) return Annotate(ms.status(), absl::StrCat("mount option ", key));
      *d.field = *ms;
    }
  }
  return absl::OkStatus();
}

std::optional<Ini> ReadIniFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  Ini ini;
  std::string section, line;
  while (std::getline(in, line)) {
    absl::string_view s = absl::StripAsciiWhitespace(line);
    if (s.empty() || s[0] == '#' || s[0] == ';') continue;
    if (s.front() == '[' && s.back() == ']') {
      section = std::string(absl::StripAsciiWhitespace(s.substr(1, s.size() - 2)));
      continue;
    }
    size_t eq = s.find('=');
    if (eq == absl::string_view::npos) continue;
    ini[section][absl::AsciiStrToLower(absl::StripAsciiWhitespace(s.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(s.substr(eq + 1)));
  }
  return ini;
}

absl::StatusOr<Endpoint> ParseEndpoint(std::string_view url_in, std::string_view what) {
  std::string url(url_in);
  while (!url.empty() && url.back() == '/') url.pop_back();
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " '", std::string(url_in),
                                                   "': expected http://host[:port] or https://host[:port]"));
  }
  Endpoint e;
  const size_t slash = url.find('/', scheme_end + 3);
  e.base = url.substr(0, slash);
  e.path = slash == std::string::npos ? "" : url.substr(slash);
  std::string host = e.base.substr(scheme_end + 3);
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " '", std::string(url_in), "': no host"));
  }
  if (host[0] != '[' && host.find(':') != std::string::npos) host = host.substr(0, host.find(':'));
  e.host = host;
  return e;
}

}  // namespace cistern::ufs
