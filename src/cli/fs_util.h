// Helpers shared by the `cistern fs` commands: error wording, glob expansion against the
// namespace, local-path conventions, and the small parsers of command arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cistern/file_system.h"

namespace cistern::cli {

// Makes sure the message names `path`: the master's messages do, transport errors may not.
absl::Status NamePath(const absl::Status& status, std::string_view path);

// "<what> <path>: <strerror(errno)>", NOT_FOUND for ENOENT.
absl::Status ErrnoError(std::string_view what, const std::string& path);

// The namespace paths `pattern` stands for: itself, or its glob matches (see glob.h).
absl::StatusOr<std::vector<std::string>> ExpandPath(FileSystem* fs, const std::string& pattern);
// ExpandPath of each argument, concatenated.
absl::StatusOr<std::vector<std::string>> ExpandPaths(FileSystem* fs, const std::vector<std::string>& patterns);

// A local-path argument: "file:///abs/path" or "local:path" (relative paths allowed). Returns
// the local path, or nullopt when `arg` names a Cistern path.
std::optional<std::string> LocalPathOf(std::string_view arg);

// Octal permission bits such as "755" or "0644"; INVALID_ARGUMENT naming the text otherwise.
absl::StatusOr<uint32_t> ParseOctalMode(std::string_view text);

// Writes `text` to stdout; INTERNAL if stdout fails (e.g. a closed pipe).
absl::Status PrintOut(std::string_view text);

}  // namespace cistern::cli
