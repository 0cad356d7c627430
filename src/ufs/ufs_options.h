// Per-mount option parsing shared by the under-store adapters. Every adapter owns one prefix
// ("s3.", "azure.", "gcs.", "webhdfs."); an unknown key under its prefix is INVALID_ARGUMENT (a typo
// must not silently fall back to a default) and keys under other prefixes are ignored (they belong
// to the master, e.g. "sync_interval", or to another adapter).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ufs/http_client.h"

namespace cistern::ufs {

using MountOptions = std::map<std::string, std::string>;

// Reads an environment variable; nullptr when unset. Tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;
// `env` itself, or the process environment when `env` is empty.
EnvLookup OrProcessEnv(const EnvLookup& env);
// The variable's value; nullopt when unset or empty.
std::optional<std::string> GetEnv(const EnvLookup& env, const char* name);

// The option's value; nullopt when absent or empty.
std::optional<std::string> GetOption(const MountOptions& options, const std::string& key);

// The HTTP tuning keys every HTTP adapter accepts under its prefix, without the prefix:
// connect_timeout, stall_timeout, request_timeout, max_attempts, retry_base, retry_max.
const std::vector<std::string>& HttpOptionSuffixes();

// INVALID_ARGUMENT naming the key and the accepted ones if an option starting with `prefix` is
// neither in `keys` nor PREFIX + one of HttpOptionSuffixes().
absl::Status CheckKnownOptions(const MountOptions& options, std::string_view prefix,
                               const std::vector<std::string>& keys);

absl::StatusOr<bool> ParseBoolOption(const std::string& key, const std::string& value);
absl::StatusOr<int64_t> ParseIntOption(const std::string& key, const std::string& value, int64_t min, int64_t max);

// Applies PREFIX + HttpOptionSuffixes() options to `http`.
absl::Status ApplyHttpOptions(const MountOptions& options, std::string_view prefix, HttpOptions* http);

// An INI file as the AWS and Google tools write them ("[section]", "key = value", comments
// starting with '#' or ';'): section -> lower-case key -> value. nullopt if it cannot be read.
using Ini = std::map<std::string, std::map<std::string, std::string>>;
std::optional<Ini> ReadIniFile(const std::string& path);

// Splits "http(s)://host[:port][/path]" into its scheme+authority and path ("" or "/..."), with
// the trailing '/' removed; INVALID_ARGUMENT naming `what` otherwise.
struct Endpoint {
  std::string base;  // "http://host:port"
  std::string path;  // "" or "/account"
  std::string host;  // without the port
};
absl::StatusOr<Endpoint> ParseEndpoint(std::string_view url, std::string_view what);

}  // namespace cistern::ufs
