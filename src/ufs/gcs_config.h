// gs:// configuration: Google Cloud Storage through its XML API, which speaks the S3 REST
// documents, so the adapter is the S3 one in its GCS dialect (S3Config::dialect = kGcs).
// Resolved from the mount options, the environment and gsutil's boto file:
//
//   credentials: gcs.bearer_token, gcs.bearer_token_file (an OAuth 2.0 access token), then
//                gcs.hmac_access_id + gcs.hmac_secret (HMAC key, GOOG4-HMAC-SHA256 signing),
//                then GOOGLE_OAUTH_ACCESS_TOKEN, then gs_access_key_id + gs_secret_access_key in
//                the [Credentials] section of $BOTO_CONFIG (~/.boto); else none (public buckets).
//   endpoint:    gcs.endpoint, else https://storage.googleapis.com (path-style requests).
#pragma once

#include "absl/status/statusor.h"
#include "ufs/s3_config.h"
#include "ufs/ufs_options.h"

namespace cistern::ufs {

absl::StatusOr<S3Config> ResolveGcsConfig(const MountOptions& options, const EnvLookup& env = nullptr);

const std::vector<std::string>& GcsOptionKeys();

}  // namespace cistern::ufs
