// AzureConfig: what a wasb:// / abfs:// adapter needs, resolved from the mount URI, the mount
// options and the environment the way the Azure CLI resolves them:
//
//   account:     the URI's host part (CONTAINER@ACCOUNT.blob.core.windows.net -> ACCOUNT), else
//                azure.account, AZURE_STORAGE_ACCOUNT, the connection string's AccountName.
//   credentials: azure.account_key (Shared Key), azure.sas_token, azure.connection_string
//                (AccountKey= or SharedAccessSignature=), then AZURE_STORAGE_CONNECTION_STRING,
//                AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN; else none (anonymous: public containers).
//   endpoint:    azure.endpoint, the connection string's BlobEndpoint (or its protocol and
//                EndpointSuffix), else PROTOCOL://ACCOUNT.blob.core.windows.net, where PROTOCOL is
//                http for wasb:// and https for wasbs://, abfs://, abfss://. An endpoint with a path
//                (Azurite's http://127.0.0.1:10000/devstoreaccount1) addresses blobs under that path.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "ufs/http_client.h"
#include "ufs/ufs_options.h"

namespace cistern::ufs {

struct AzureConfig {
  std::string account;
  std::string endpoint;       // "scheme://host[:port][/path]", no trailing slash
  std::string account_key;    // decoded Shared Key bytes; empty when not used
  std::string sas_token;      // query string without the leading '?'; empty when not used
  std::string credentials_source;  // for logs and errors: "mount options", "environment", "none", ...
  int64_t block_size_bytes = 16LL << 20;
  int64_t list_page_size = 1000;
  HttpOptions http;
};

// `uri` is the mount URI (its authority may name the account). Unknown azure.* options are
// INVALID_ARGUMENT.
absl::StatusOr<AzureConfig> ResolveAzureConfig(std::string_view uri, const MountOptions& options,
                                               const EnvLookup& env = nullptr);

const std::vector<std::string>& AzureOptionKeys();

// Parses "Key=Value;Key=Value" (Azure connection strings). Keys as written.
std::map<std::string, std::string> ParseConnectionString(std::string_view text);

}  // namespace cistern::ufs
