// Namespace paths: absolute, '/'-separated, normalized. Every path from outside goes through
// NormalizePath before use, so the rest of the code sees only canonical paths.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern {

inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxPathLength = 4096;

// "/a//b/./c/" -> "/a/b/c"; "/a/../b" -> "/b". Rejects (INVALID_ARGUMENT, naming the path)
// empty and relative paths, NUL bytes, ".." above the root, components over kMaxNameLength and
// paths over kMaxPathLength.
absl::StatusOr<std::string> NormalizePath(std::string_view path);

// Components of a normalized path: "/" -> {}, "/a/b" -> {"a", "b"}.
std::vector<std::string> SplitPath(std::string_view normalized);
// "/a/b" -> "/a"; "/a" -> "/"; "/" -> "/".
std::string ParentPath(std::string_view normalized);
// "/a/b" -> "b"; "/" -> "".
std::string BaseName(std::string_view normalized);
// JoinPath("/a", "b") -> "/a/b"; JoinPath("/", "b") -> "/b".
std::string JoinPath(std::string_view parent, std::string_view name);
// True if `path` is `ancestor` or below it (both normalized).
bool IsSameOrDescendant(std::string_view path, std::string_view ancestor);

}  // namespace cistern
