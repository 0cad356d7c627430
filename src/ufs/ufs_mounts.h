// What the processes that reach under-stores on behalf of mounts (workers, the client's
// direct-from-under-store reads) need to know about mounts: which mount a URI belongs to, and
// which mount options are secrets that must stay out of listings and logs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ufs/ufs_options.h"

namespace cistern::ufs {

struct UfsMount {
  uint64_t mount_id = 0;
  std::string uri;  // the mount's under-store URI
  MountOptions options;
};

// Whether `uri` is `base` or below it: "s3://b/p/x" is under "s3://b/p", "s3://b/p2" is not.
// False if either does not parse.
bool UriIsUnder(std::string_view uri, std::string_view base);

// The mount `uri` belongs to: the one with `mount_id` if it is listed (and `uri` is under it),
// else the one whose URI is the longest prefix of `uri`. nullptr if none.
const UfsMount* FindMount(const std::vector<UfsMount>& mounts, std::string_view uri, uint64_t mount_id = 0);

// Options that hold credentials (keys, secrets, tokens, connection strings).
bool IsSecretOption(std::string_view key);
inline constexpr char kRedacted[] = "<redacted>";
// `options` with the value of every secret option replaced by kRedacted.
MountOptions RedactSecrets(const MountOptions& options);

}  // namespace cistern::ufs
