#include "ufs/azure_config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/units.h"
#include "ufs/crypto.h"
#include "ufs/uri.h"

namespace cistern::ufs {

const std::vector<std::string>& AzureOptionKeys() {
  static const auto* keys = new std::vector<std::string>{
      "azure.account",   "azure.account_key", "azure.sas_token",     "azure.connection_string",
      "azure.endpoint",  "azure.block_size",  "azure.list_page_size"};
  return *keys;
}

std::map<std::string, std::string> ParseConnectionString(std::string_view text) {
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(absl::string_view(text.data(), text.size()), ';', absl::SkipWhitespace())) {
    size_t eq = part.find('=');
    if (eq == absl::string_view::npos) continue;
    out[std::string(absl::StripAsciiWhitespace(part.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(part.substr(eq + 1)));
  }
  return out;
}

absl::StatusOr<AzureConfig> ResolveAzureConfig(std::string_view uri, const MountOptions& options, const EnvLookup& env) {
  CISTERN_RETURN_IF_ERROR(CheckKnownOptions(options, "azure.", AzureOptionKeys()));
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  AzureConfig config;

  std::optional<std::string> conn_text = GetOption(options, "azure.connection_string");
  const bool conn_from_options = conn_text.has_value();
  if (!conn_text) conn_text = GetEnv(env, "AZURE_STORAGE_CONNECTION_STRING");
  const std::map<std::string, std::string> conn = conn_text ? ParseConnectionString(*conn_text)
                                                            : std::map<std::string, std::string>{};
  auto conn_get = [&](const char* key) -> std::optional<std::string> {
    auto it = conn.find(key);
    if (it == conn.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };

  // Account: the host part of CONTAINER@HOST names it.
  std::string uri_host;
  if (size_t at = parsed.authority.find('@'); at != std::string::npos) uri_host = parsed.authority.substr(at + 1);
  if (!uri_host.empty()) {
    config.account = uri_host.substr(0, uri_host.find('.'));
  } else if (auto a = GetOption(options, "azure.account")) {
    config.account = *a;
  } else if (auto a = GetEnv(env, "AZURE_STORAGE_ACCOUNT")) {
    config.account = *a;
  } else if (auto a = conn_get("AccountName")) {
    config.account = *a;
  }
  if (config.account.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Azure URI '", std::string(uri), "' names no storage account: use CONTAINER@ACCOUNT.blob.core.windows.net, "
        "or the azure.account option or AZURE_STORAGE_ACCOUNT"));
  }
  for (char c : config.account) {
    if (!absl::ascii_isalnum(c)) {
      return absl::InvalidArgumentError(absl::StrCat("Azure storage account name '", config.account, "' in '",
                                                     std::string(uri), "': only letters and digits are allowed"));
    }
  }

  // Credentials, first match wins.
  std::string key_text;
  if (auto k = GetOption(options, "azure.account_key")) {
    key_text = *k;
    config.credentials_source = "mount option azure.account_key";
  } else if (auto s = GetOption(options, "azure.sas_token")) {
    config.sas_token = *s;
    config.credentials_source = "mount option azure.sas_token";
  } else if (conn_from_options && conn_get("AccountKey")) {
    key_text = *conn_get("AccountKey");
    config.credentials_source = "mount option azure.connection_string";
  } else if (conn_from_options && conn_get("SharedAccessSignature")) {
    config.sas_token = *conn_get("SharedAccessSignature");
    config.credentials_source = "mount option azure.connection_string";
  } else if (!conn_from_options && conn_get("AccountKey")) {
    key_text = *conn_get("AccountKey");
    config.credentials_source = "AZURE_STORAGE_CONNECTION_STRING";
  } else if (!conn_from_options && conn_get("SharedAccessSignature")) {
    config.sas_token = *conn_get("SharedAccessSignature");
    config.credentials_source = "AZURE_STORAGE_CONNECTION_STRING";
  } else if (auto k = GetEnv(env, "AZURE_STORAGE_KEY")) {
    key_text = *k;
    config.credentials_source = "AZURE_STORAGE_KEY";
  } else if (auto s = GetEnv(env, "AZURE_STORAGE_SAS_TOKEN")) {
    config.sas_token = *s;
    config.credentials_source = "AZURE_STORAGE_SAS_TOKEN";
  } else {
    config.credentials_source = "none";
  }
  if (!key_text.empty()) {
    std::optional<std::string> decoded = Base64Decode(key_text);
    if (!decoded || decoded->empty()) {
      // Never echo a secret: name where it came from only.
      return absl::InvalidArgumentError(absl::StrCat("Azure account key from ", config.credentials_source,
                                                     " is not valid base64"));
    }
    config.account_key = *decoded;
  }
  while (!config.sas_token.empty() && config.sas_token.front() == '?') config.sas_token.erase(0, 1);

  // Endpoint.
  std::optional<std::string> endpoint = GetOption(options, "azure.endpoint");
  if (!endpoint) endpoint = conn_get("BlobEndpoint");
  if (!endpoint && conn_get("EndpointSuffix")) {
    endpoint = absl::StrCat(conn_get("DefaultEndpointsProtocol").value_or("https"), "://", config.account, ".blob.",
                            *conn_get("EndpointSuffix"));
  }
  if (!endpoint) {
    const std::string protocol = parsed.scheme == "wasb" ? "http" : "https";
    std::string host = uri_host.empty() ? absl::StrCat(config.account, ".blob.core.windows.net") : uri_host;
    // ABFS names the Data Lake endpoint; this adapter speaks the Blob API of the same account.
    if (size_t dfs = host.find(".dfs."); dfs != std::string::npos) host.replace(dfs, 5, ".blob.");
    endpoint = absl::StrCat(protocol, "://", host);
  }
  CISTERN_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(*endpoint, "Azure endpoint"));
  config.endpoint = e.base + e.path;

  if (auto v = GetOption(options, "azure.block_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.block_size_bytes, ParseSizeBytes(*v));
    // Azure allows blocks up to 4000 MiB and 50,000 of them; small blocks are for tests.
    if (config.block_size_bytes < 1024 || config.block_size_bytes > (4000LL << 20)) {
      return absl::InvalidArgumentError(absl::StrCat("mount option azure.block_size='", *v, "': must be in [1KiB, 4000MiB]"));
    }
  }
  if (auto v = GetOption(options, "azure.list_page_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.list_page_size, ParseIntOption("azure.list_page_size", *v, 1, 5000));
  }
  CISTERN_RETURN_IF_ERROR(ApplyHttpOptions(options, "azure.", &config.http));
  return config;
}

}  // namespace cistern::ufs
