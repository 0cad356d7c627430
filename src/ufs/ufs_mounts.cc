#include "ufs/ufs_mounts.h"

#include "ufs/uri.h"

namespace cistern::ufs {

bool UriIsUnder(std::string_view uri, std::string_view base) {
  absl::StatusOr<Uri> u = ParseUri(uri), b = ParseUri(base);
  if (!u.ok() || !b.ok() || u->scheme != b->scheme || u->authority != b->authority) return false;
  if (b->path == "/" || u->path == b->path) return true;
  return u->path.compare(0, b->path.size() + 1, b->path + "/") == 0;
}

const UfsMount* FindMount(const std::vector<UfsMount>& mounts, std::string_view uri, uint64_t mount_id) {
  const UfsMount* best = nullptr;
  for (const UfsMount& m : mounts) {
    if (!UriIsUnder(uri, m.uri)) continue;
    if (mount_id != 0 && m.mount_id == mount_id) return &m;
    if (best == nullptr || m.uri.size() > best->uri.size()) best = &m;
  }
  return best;
}

bool IsSecretOption(std::string_view key) {
  for (std::string_view suffix : {"secret_key", "session_token", "account_key", "sas_token", "connection_string",
                                  "hmac_secret", "bearer_token", "delegation_token", "password"}) {
    if (key.size() >= suffix.size() && key.substr(key.size() - suffix.size()) == suffix) return true;
  }
  return false;
}

MountOptions RedactSecrets(const MountOptions& options) {
  MountOptions out = options;
  for (auto& [key, value] : out) {
    if (IsSecretOption(key)) value = kRedacted;
  }
  return out;
}

}  // namespace cistern::ufs
