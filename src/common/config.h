// Typed configuration. Every key is declared once (config_keys.cc) with its type, default and
// description; a Config holds validated values for all of them. Sources, later winning:
// defaults, $CISTERN_CONF_DIR/cistern.properties (or an explicit file), environment variables
// (CISTERN_ + key upper-cased with '.' -> '_', e.g. CISTERN_MASTER_RPC_PORT), then --conf
// key=value overrides. An unknown key or a bad value is an error naming both.
//
// Thread safety: a Config is immutable after Load and may be shared freely.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern {

enum class ConfigType { kString, kInt, kBool, kSize, kDuration, kEnum };

struct ConfigKey {
  std::string_view name;
  ConfigType type;
  std::string_view default_value;
  std::string_view description;
  // For kEnum: the allowed values, comma separated.
  std::string_view allowed = {};
};

// Every declared key, in declaration order.
const std::vector<const ConfigKey*>& AllConfigKeys();
const ConfigKey* FindConfigKey(std::string_view name);
std::string_view ConfigTypeName(ConfigType type);

struct ConfigSources {
  // Properties file to read; empty = $CISTERN_CONF_DIR/cistern.properties if that exists.
  std::string conf_file;
  bool read_environment = true;
  // key=value pairs applied last (from --conf flags).
  std::vector<std::string> overrides;
};

class Config {
 public:
  // Defaults only; never fails.
  Config();

  static absl::StatusOr<Config> Load(const ConfigSources& sources);

  // Parses a properties file's text ("key = value" lines, '#' and '!' comments).
  // `origin` names the file in error messages.
  absl::Status ApplyProperties(std::string_view text, std::string_view origin);
  // Validates and sets one key; `origin` says where it came from (for error messages).
  absl::Status Set(std::string_view key, std::string_view value, std::string_view origin);

  // Typed getters. REQUIRES: `key` is declared with the matching type (a mismatch is a bug
  // and aborts).
  const std::string& GetString(const ConfigKey& key) const;
  int64_t GetInt(const ConfigKey& key) const;
  bool GetBool(const ConfigKey& key) const;
  int64_t GetSizeBytes(const ConfigKey& key) const;
  int64_t GetDurationMs(const ConfigKey& key) const;

  // The raw text of every key (for `cistern conf` and logging at start-up).
  std::vector<std::pair<std::string, std::string>> Dump() const;
  // Where the value of `key` came from: "default", a file name, "env", "--conf".
  std::string Origin(const ConfigKey& key) const;

 private:
  struct Value {
    std::string text;
    int64_t number = 0;  // parsed for int, size, duration, bool
    std::string origin;
  };
  const Value& Lookup(const ConfigKey& key, ConfigType expected) const;

  std::map<std::string, Value, std::less<>> values_;
};

// Environment variable name for a key: "master.rpc.port" -> "CISTERN_MASTER_RPC_PORT".
std::string ConfigEnvName(std::string_view key);

}  // namespace cistern
