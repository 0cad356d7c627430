#include "ufs/gcs_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/units.h"

namespace cistern::ufs {

const std::vector<std::string>& GcsOptionKeys() {
  static const auto* keys = new std::vector<std::string>{
      "gcs.endpoint",  "gcs.hmac_access_id", "gcs.hmac_secret",   "gcs.bearer_token",
      "gcs.bearer_token_file", "gcs.part_size", "gcs.list_page_size"};
  return *keys;
}

absl::StatusOr<S3Config> ResolveGcsConfig(const MountOptions& options, const EnvLookup& env) {
  CISTERN_RETURN_IF_ERROR(CheckKnownOptions(options, "gcs.", GcsOptionKeys()));
  S3Config config;
  config.dialect = S3Dialect::kGcs;
  config.scheme = "gs";
  config.region = "auto";
  config.path_style = true;

  auto opt_id = GetOption(options, "gcs.hmac_access_id");
  auto opt_secret = GetOption(options, "gcs.hmac_secret");
  if (opt_id.has_value() != opt_secret.has_value()) {
    return absl::InvalidArgumentError("mount options gcs.hmac_access_id and gcs.hmac_secret must be given together");
  }
  if (auto t = GetOption(options, "gcs.bearer_token")) {
    config.bearer_token = *t;
    config.credentials_source = "mount option gcs.bearer_token";
  } else if (auto f = GetOption(options, "gcs.bearer_token_file")) {
    std::ifstream in(*f);
    if (!in) return absl::NotFoundError(absl::StrCat("mount option gcs.bearer_token_file='", *f, "': cannot read it"));
    std::stringstream text;
    text << in.rdbuf();
    config.bearer_token = std::string(absl::StripAsciiWhitespace(text.str()));
    if (config.bearer_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("mount option gcs.bearer_token_file='", *f, "': the file is empty"));
    }
    config.credentials_source = absl::StrCat("token file ", *f);
  } else if (opt_id) {
    config.access_key = *opt_id;
    config.secret_key = *opt_secret;
    config.credentials_source = "mount options (HMAC key)";
  } else if (auto t = GetEnv(env, "GOOGLE_OAUTH_ACCESS_TOKEN")) {
    config.bearer_token = *t;
    config.credentials_source = "GOOGLE_OAUTH_ACCESS_TOKEN";
  } else {
    const std::string home = GetEnv(env, "HOME").value_or("");
    const std::string boto = GetEnv(env, "BOTO_CONFIG").value_or(home.empty() ? "" : home + "/.boto");
    std::optional<Ini> ini = boto.empty() ? std::nullopt : ReadIniFile(boto);
    std::optional<std::string> id, secret;
    if (ini && ini->count("Credentials") > 0) {
      id = GetOption(ini->at("Credentials"), "gs_access_key_id");
      secret = GetOption(ini->at("Credentials"), "gs_secret_access_key");
    }
    if (id && secret) {
      config.access_key = *id;
      config.secret_key = *secret;
      config.credentials_source = absl::StrCat("HMAC key in ", boto);
    } else {
      config.credentials_source = "none";
    }
  }

  CISTERN_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(GetOption(options, "gcs.endpoint").value_or("https://storage.googleapis.com"),
                                                     "GCS endpoint"));
  if (!e.path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("GCS endpoint '", e.base, e.path, "' must not have a path"));
  }
  config.endpoint = e.base;
  if (auto v = GetOption(options, "gcs.part_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.part_size_bytes, ParseSizeBytes(*v));
    // GCS requires 5 MiB parts (but the last); smaller ones are for test servers.
    if (config.part_size_bytes < 1024 || config.part_size_bytes > (5LL << 30)) {
      return absl::InvalidArgumentError(absl::StrCat("mount option gcs.part_size='", *v, "': must be in [1KiB, 5GiB]"));
    }
  }
  if (auto v = GetOption(options, "gcs.list_page_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.list_page_size, ParseIntOption("gcs.list_page_size", *v, 1, 1000));
  }
  CISTERN_RETURN_IF_ERROR(ApplyHttpOptions(options, "gcs.", &config.http));
  if (!config.access_key.empty()) {
    // libcurl's SigV4 with Google's names: GOOG4-HMAC-SHA256, x-goog-date, scope
    // DATE/auto/storage/goog4_request, signing key derived from "GOOG4" + secret.
    config.http.aws_sigv4 = "goog:goog:auto:storage";
    config.http.user_pwd = absl::StrCat(config.access_key, ":", config.secret_key);
  }
  return config;
}

}  // namespace cistern::ufs
