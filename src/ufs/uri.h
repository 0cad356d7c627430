// Under-store URIs: scheme://authority/path. A bare absolute path means file://.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cistern::ufs {

struct Uri {
  std::string scheme;     // "file", "s3", "mem", ...
  std::string authority;  // bucket or host:port; empty for file://
  std::string path;       // absolute, normalized ("/" for the root)

  // "scheme://authority" (the identity of one store).
  std::string Root() const;
  std::string ToString() const;
};

// Rejects (INVALID_ARGUMENT, naming the URI) empty URIs, relative paths, unknown forms and
// paths that NormalizePath rejects.
absl::StatusOr<Uri> ParseUri(std::string_view uri);

// Appends a relative namespace path ("a/b" or "/a/b") to a URI: ("file:///u", "/a") -> "file:///u/a".
std::string JoinUri(std::string_view base_uri, std::string_view relative);

}  // namespace cistern::ufs
