// Glob patterns in `cistern fs` paths ("/data/*.bin", "/logs/2026-1?/part-[0-9]*"): the shell
// quoting keeps them for us, and we expand them against the namespace, one directory listing
// per pattern component, the way `hdfs dfs` does. `*`, `?` and `[...]` match within one path
// component (fnmatch without FNM_PATHNAME crossing "/"); a component without them is taken
// literally. Pure: listing goes through a callback, so the expansion is unit-tested.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cistern::cli {

// True if `path` has a glob character (* ? [).
bool HasGlob(std::string_view path);

// Names of the children of directory `dir`; NOT_FOUND if `dir` is missing, FAILED_PRECONDITION
// if it is a file (then it has no children to match).
using ChildLister = std::function<absl::StatusOr<std::vector<std::string>>(const std::string& dir)>;
// Whether `path` exists.
using PathChecker = std::function<absl::StatusOr<bool>(const std::string& path)>;

// The paths matching the normalized absolute `pattern`, sorted. A pattern without glob
// characters returns itself unchecked. NOT_FOUND naming the pattern if nothing matches.
absl::StatusOr<std::vector<std::string>> ExpandGlob(const std::string& pattern, const ChildLister& list,
                                                    const PathChecker& exists);

}  // namespace cistern::cli
