// S3Config: everything an s3:// adapter needs, resolved from the mount options, the process
// environment and the AWS shared files the way the AWS CLI and SDKs resolve them:
//
//   credentials: s3.access_key + s3.secret_key (+ s3.session_token) mount options, then
//                AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), then the profile
//                s3.profile / AWS_PROFILE / "default" of AWS_SHARED_CREDENTIALS_FILE
//                (~/.aws/credentials), then no credentials (anonymous, unsigned requests).
//   region:      s3.region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region in
//                AWS_CONFIG_FILE (~/.aws/config), else us-east-1.
//   endpoint:    s3.endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else https://s3.REGION.amazonaws.com.
//   path style:  s3.path_style; default true when the endpoint host is an IP address or localhost
//                (no DNS name per bucket can exist there), false otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "ufs/http_client.h"
#include "ufs/ufs_options.h"

namespace cistern::ufs {

// The S3 REST dialect: AWS S3 and compatibles, or Google Cloud Storage's XML API (same
// documents; x-goog- headers, GOOG4 signing or a bearer token, no multi-object delete).
enum class S3Dialect { kS3, kGcs };

struct S3Config {
  S3Dialect dialect = S3Dialect::kS3;
  std::string scheme = "s3";  // of the URIs the adapter accepts
  std::string bearer_token;   // GCS: OAuth 2.0 access token instead of HMAC signing
  std::string endpoint;  // "scheme://host[:port]", no trailing slash
  std::string region;
  bool path_style = false;
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  std::string credentials_source;  // for logs and errors: "mount options", "environment", "profile 'x' in FILE", "none"
  int64_t part_size_bytes = 64LL << 20;
  int64_t list_page_size = 1000;
  HttpOptions http;
};

// Unknown "s3.*" options are INVALID_ARGUMENT (a typo must not silently fall back to defaults);
// other options (for the master, e.g. "sync_interval") are ignored.
absl::StatusOr<S3Config> ResolveS3Config(const std::map<std::string, std::string>& options,
                                         const EnvLookup& env = nullptr);

// The s3.* keys ResolveS3Config understands besides the HTTP ones (HttpOptionSuffixes()).
const std::vector<std::string>& S3OptionKeys();

}  // namespace cistern::ufs
