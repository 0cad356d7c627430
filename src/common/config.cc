#include "common/config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"

namespace cistern {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Parses `text` for `key`; on success stores the numeric form in *number.
absl::Status ParseValue(const ConfigKey& key, std::string_view text, int64_t* number) {
  switch (key.type) {
    case ConfigType::kString:
      return absl::OkStatus();
    case ConfigType::kInt: {
      if (!absl::SimpleAtoi(AV(text), number)) return absl::InvalidArgumentError("not an integer");
      return absl::OkStatus();
    }
    case ConfigType::kBool: {
      std::string lower = absl::AsciiStrToLower(AV(text));
      if (lower == "true" || lower == "1" || lower == "yes") *number = 1;
      else if (lower == "false" || lower == "0" || lower == "no") *number = 0;
      else return absl::InvalidArgumentError("not a boolean (true or false)");
      return absl::OkStatus();
    }
    case ConfigType::kSize: {
      CISTERN_ASSIGN_OR_RETURN(*number, ParseSizeBytes(text));
      return absl::OkStatus();
    }
    case ConfigType::kDuration: {
      CISTERN_ASSIGN_OR_RETURN(*number, ParseDurationMs(text));
      return absl::OkStatus();
    }
    case ConfigType::kEnum: {
      for (absl::string_view allowed : absl::StrSplit(AV(key.allowed), ',')) {
        if (allowed == AV(text)) return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrCat("not one of ", AV(key.allowed)));
    }
  }
  return absl::InternalError("unknown config type");
}

}  // namespace

std::string_view ConfigTypeName(ConfigType type) {
  switch (type) {
    case ConfigType::kString: return "string";
    case ConfigType::kInt: return "int";
    case ConfigType::kBool: return "bool";
    case ConfigType::kSize: return "size";
    case ConfigType::kDuration: return "duration";
    case ConfigType::kEnum: return "enum";
  }
  return "?";
}

const ConfigKey* FindConfigKey(std::string_view name) {
  for (const ConfigKey* key : AllConfigKeys()) {
    if (key->name == name) return key;
  }
  return nullptr;
}

std::string ConfigEnvName(std::string_view key) {
  std::string out = "CISTERN_";
  for (char c : key) out.push_back(c == '.' ? '_' : static_cast<char>(absl::ascii_toupper(c)));
  return out;
}

Config::Config() {
  for (const ConfigKey* key : AllConfigKeys()) {
    Value v;
    v.text = std::string(key->default_value);
    v.origin = "default";
    absl::Status st = ParseValue(*key, v.text, &v.number);
    if (!st.ok()) {
      spdlog::critical("bad default for config key {}: {}", key->name, st.ToString());
      std::abort();
    }
    values_.emplace(std::string(key->name), std::move(v));
  }
}

absl::Status Config::Set(std::string_view key_name, std::string_view value, std::string_view origin) {
  const ConfigKey* key = FindConfigKey(key_name);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(origin), ": unknown configuration key '", AV(key_name),
                     "' (see conf/cistern.properties for the list of keys)"));
  }
  std::string text(absl::StripAsciiWhitespace(AV(value)));
  Value v;
  absl::Status st = ParseValue(*key, text, &v.number);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(AV(origin), ": bad value '", text, "' for ",
                                                   AV(ConfigTypeName(key->type)), " key '",
                                                   AV(key->name), "': ", st.message()));
  }
  v.text = std::move(text);
  v.origin = std::string(origin);
  values_[std::string(key->name)] = std::move(v);
  return absl::OkStatus();
}

absl::Status Config::ApplyProperties(std::string_view text, std::string_view origin) {
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(AV(text), '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    size_t sep = line.find_first_of("=:");
    if (sep == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(AV(origin), ":", line_no, ": expected key=value, got '", line, "'"));
    }
    absl::string_view k = absl::StripAsciiWhitespace(line.substr(0, sep));
    absl::string_view v = absl::StripAsciiWhitespace(line.substr(sep + 1));
    CISTERN_RETURN_IF_ERROR(Set(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()),
                                absl::StrCat(AV(origin), ":", line_no)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> Config::Load(const ConfigSources& sources) {
  Config config;
  std::string file = sources.conf_file;
  bool explicit_file = !file.empty();
  if (!explicit_file) {
    const char* dir = std::getenv("CISTERN_CONF_DIR");
    if (dir != nullptr && *dir != '\0') file = absl::StrCat(dir, "/cistern.properties");
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      if (explicit_file || std::getenv("CISTERN_CONF_DIR") != nullptr) {
        return absl::NotFoundError(absl::StrCat("cannot read configuration file '", file, "'"));
      }
    } else {
      std::stringstream buf;
      buf << in.rdbuf();
      CISTERN_RETURN_IF_ERROR(config.ApplyProperties(buf.str(), file));
    }
  }
  if (sources.read_environment) {
    for (const ConfigKey* key : AllConfigKeys()) {
      std::string env = ConfigEnvName(key->name);
      const char* value = std::getenv(env.c_str());
      if (value != nullptr) CISTERN_RETURN_IF_ERROR(config.Set(key->name, value, absl::StrCat("environment ", env)));
    }
  }
  for (const std::string& kv : sources.overrides) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--conf '", kv, "': expected key=value"));
    }
    CISTERN_RETURN_IF_ERROR(config.Set(std::string_view(kv).substr(0, eq), std::string_view(kv).substr(eq + 1), "--conf"));
  }
  return config;
}

const Config::Value& Config::Lookup(const ConfigKey& key, ConfigType expected) const {
  if (key.type != expected) {
    spdlog::critical("config key {} read as {} but declared {}", key.name, ConfigTypeName(expected),
                     ConfigTypeName(key.type));
    std::abort();
  }
  auto it = values_.find(key.name);
  if (it == values_.end()) {
    spdlog::critical("config key {} is not registered", key.name);
    std::abort();
  }
  return it->second;
}

const std::string& Config::GetString(const ConfigKey& key) const {
  if (key.type == ConfigType::kEnum) return Lookup(key, ConfigType::kEnum).text;
  return Lookup(key, ConfigType::kString).text;
}
int64_t Config::GetInt(const ConfigKey& key) const { return Lookup(key, ConfigType::kInt).number; }
bool Config::GetBool(const ConfigKey& key) const { return Lookup(key, ConfigType::kBool).number != 0; }
int64_t Config::GetSizeBytes(const ConfigKey& key) const { return Lookup(key, ConfigType::kSize).number; }
int64_t Config::GetDurationMs(const ConfigKey& key) const { return Lookup(key, ConfigType::kDuration).number; }

std::vector<std::pair<std::string, std::string>> Config::Dump() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ConfigKey* key : AllConfigKeys()) out.emplace_back(std::string(key->name), values_.at(std::string(key->name)).text);
  return out;
}

std::string Config::Origin(const ConfigKey& key) const {
  auto it = values_.find(key.name);
  return it == values_.end() ? "" : it->second.origin;
}

}  // namespace cistern
