#include "ufs/s3_config.h"

#include <cstdlib>
#include <fstream>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "common/units.h"

namespace cistern::ufs {
namespace {

bool IsIpOrLocalhost(std::string_view host) {
  if (host == "localhost" || host.empty() || host[0] == '[') return true;
  for (char c : host) {
    if (!absl::ascii_isdigit(c) && c != '.') return false;
  }
  return true;
}

}  // namespace

const std::vector<std::string>& S3OptionKeys() {
  static const auto* keys = new std::vector<std::string>{
      "s3.endpoint",      "s3.region",  "s3.path_style", "s3.access_key",    "s3.secret_key",
      "s3.session_token", "s3.profile", "s3.part_size",  "s3.list_page_size"};
  return *keys;
}

absl::StatusOr<S3Config> ResolveS3Config(const std::map<std::string, std::string>& options, const EnvLookup& env_in) {
  auto getenv = [&](const char* name) { return GetEnv(env_in, name); };
  CISTERN_RETURN_IF_ERROR(CheckKnownOptions(options, "s3.", S3OptionKeys()));
  S3Config config;
  const std::string home = getenv("HOME").value_or("");
  const std::string profile = GetOption(options, "s3.profile").value_or(getenv("AWS_PROFILE").value_or("default"));
  const std::string credentials_file =
      getenv("AWS_SHARED_CREDENTIALS_FILE").value_or(home.empty() ? "" : home + "/.aws/credentials");
  const std::string config_file = getenv("AWS_CONFIG_FILE").value_or(home.empty() ? "" : home + "/.aws/config");

  // Credentials.
  auto opt_key = GetOption(options, "s3.access_key");
  auto opt_secret = GetOption(options, "s3.secret_key");
  if (opt_key.has_value() != opt_secret.has_value()) {
    return absl::InvalidArgumentError("mount options s3.access_key and s3.secret_key must be given together");
  }
  if (opt_key) {
    config.access_key = *opt_key;
    config.secret_key = *opt_secret;
    config.session_token = GetOption(options, "s3.session_token").value_or("");
    config.credentials_source = "mount options";
  } else if (auto k = getenv("AWS_ACCESS_KEY_ID"), s = getenv("AWS_SECRET_ACCESS_KEY"); k && s) {
    config.access_key = *k;
    config.secret_key = *s;
    config.session_token = getenv("AWS_SESSION_TOKEN").value_or("");
    config.credentials_source = "environment";
  } else {
    std::optional<Ini> creds = credentials_file.empty() ? std::nullopt : ReadIniFile(credentials_file);
    if (creds && creds->count(profile) > 0) {
      const auto& section = creds->at(profile);
      auto pk = GetOption(section, "aws_access_key_id");
      auto ps = GetOption(section, "aws_secret_access_key");
      if (!pk || !ps) {
        return absl::InvalidArgumentError(absl::StrCat("profile '", profile, "' in ", credentials_file,
                                                       " lacks aws_access_key_id or aws_secret_access_key"));
      }
      config.access_key = *pk;
      config.secret_key = *ps;
      config.session_token = GetOption(section, "aws_session_token").value_or("");
      config.credentials_source = absl::StrCat("profile '", profile, "' in ", credentials_file);
    } else if (GetOption(options, "s3.profile")) {
      return absl::NotFoundError(absl::StrCat("mount option s3.profile='", profile, "': no such profile in '",
                                              credentials_file, "'"));
    } else {
      config.credentials_source = "none";
    }
  }

  // Region.
  if (auto r = GetOption(options, "s3.region")) {
    config.region = *r;
  } else if (auto r = getenv("AWS_REGION")) {
    config.region = *r;
  } else if (auto r = getenv("AWS_DEFAULT_REGION")) {
    config.region = *r;
  } else {
    std::optional<Ini> cfg = config_file.empty() ? std::nullopt : ReadIniFile(config_file);
    const std::string section = profile == "default" ? "default" : "profile " + profile;
    if (cfg && cfg->count(section) > 0 && GetOption(cfg->at(section), "region")) {
      config.region = *GetOption(cfg->at(section), "region");
    } else {
      config.region = "us-east-1";
    }
  }

  // Endpoint and addressing style.
  std::optional<std::string> endpoint = GetOption(options, "s3.endpoint");
  if (!endpoint) endpoint = getenv("AWS_ENDPOINT_URL_S3");
  if (!endpoint) endpoint = getenv("AWS_ENDPOINT_URL");
  const bool custom_endpoint = endpoint.has_value();
  config.endpoint = endpoint.value_or(absl::StrCat("https://s3.", config.region, ".amazonaws.com"));
  while (!config.endpoint.empty() && config.endpoint.back() == '/') config.endpoint.pop_back();
  size_t scheme_end = config.endpoint.find("://");
  if (scheme_end == std::string::npos ||
      (config.endpoint.compare(0, scheme_end, "http") != 0 && config.endpoint.compare(0, scheme_end, "https") != 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 endpoint '", config.endpoint, "': expected http://host[:port] or https://host[:port]"));
  }
  std::string host = config.endpoint.substr(scheme_end + 3);
  if (host.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("S3 endpoint '", config.endpoint, "' must not have a path"));
  }
  if (host.find(':') != std::string::npos && host[0] != '[') host = host.substr(0, host.find(':'));
  if (auto ps = GetOption(options, "s3.path_style")) {
    CISTERN_ASSIGN_OR_RETURN(config.path_style, ParseBoolOption("s3.path_style", *ps));
  } else {
    config.path_style = custom_endpoint && IsIpOrLocalhost(host);
  }

  // Tuning.
  if (auto v = GetOption(options, "s3.part_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.part_size_bytes, ParseSizeBytes(*v));
    // AWS requires 5 MiB; smaller parts are allowed for S3-compatible test servers.
    if (config.part_size_bytes < 1024 || config.part_size_bytes > (5LL << 30)) {
      return absl::InvalidArgumentError(absl::StrCat("mount option s3.part_size='", *v, "': must be in [1KiB, 5GiB]"));
    }
  }
  if (auto v = GetOption(options, "s3.list_page_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.list_page_size, ParseIntOption("s3.list_page_size", *v, 1, 1000));
  }
  CISTERN_RETURN_IF_ERROR(ApplyHttpOptions(options, "s3.", &config.http));
  if (!config.access_key.empty()) {
    config.http.aws_sigv4 = absl::StrCat("aws:amz:", config.region, ":s3");
    config.http.user_pwd = absl::StrCat(config.access_key, ":", config.secret_key);
  }
  return config;
}

}  // namespace cistern::ufs
