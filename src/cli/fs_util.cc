#include "cli/fs_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/glob.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::cli {

absl::Status NamePath(const absl::Status& status, std::string_view path) {
  if (status.ok() || absl::StrContains(status.message(), absl::string_view(path.data(), path.size()))) return status;
  return Annotate(status, path);
}

absl::Status ErrnoError(std::string_view what, const std::string& path) {
  const int err = errno;
  return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(absl::string_view(what.data(), what.size()), " ", path, ": ", std::strerror(err)));
}

absl::StatusOr<std::vector<std::string>> ExpandPath(FileSystem* fs, const std::string& pattern) {
  if (!HasGlob(pattern)) return std::vector<std::string>{pattern};
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(pattern));
  auto list = [fs](const std::string& dir) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> names;
    bool is_file = false;
    CISTERN_RETURN_IF_ERROR(fs->ListStatus(dir, {}, [&](const FileStatus& entry) {
      if (entry.path == dir && !entry.is_directory) is_file = true;
      names.push_back(entry.name);
      return absl::OkStatus();
    }));
    if (is_file) return absl::FailedPreconditionError(absl::StrCat(dir, " is a file"));
    return names;
  };
  auto exists = [fs](const std::string& path) { return fs->Exists(path); };
  return ExpandGlob(normalized, list, exists);
}

absl::StatusOr<std::vector<std::string>> ExpandPaths(FileSystem* fs, const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const std::string& p : patterns) {
    CISTERN_ASSIGN_OR_RETURN(std::vector<std::string> paths, ExpandPath(fs, p));
    out.insert(out.end(), paths.begin(), paths.end());
  }
  return out;
}

std::optional<std::string> LocalPathOf(std::string_view arg) {
  if (arg.substr(0, 7) == "file://") return std::string(arg.substr(7));
  if (arg.substr(0, 6) == "local:") return std::string(arg.substr(6));
  return std::nullopt;
}

absl::StatusOr<uint32_t> ParseOctalMode(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return absl::InvalidArgumentError(absl::StrCat("bad mode '", absl::string_view(text.data(), text.size()),
                                                   "' (expected octal such as 755 or 0644)"));
  }
  uint32_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') {
      return absl::InvalidArgumentError(absl::StrCat("bad mode '", absl::string_view(text.data(), text.size()),
                                                     "' (expected octal such as 755 or 0644)"));
    }
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (mode > 07777) {
    return absl::InvalidArgumentError(absl::StrCat("bad mode '", absl::string_view(text.data(), text.size()),
                                                   "' (at most 7777)"));
  }
  return mode;
}

absl::Status PrintOut(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    return absl::InternalError("cannot write to stdout");
  }
  return absl::OkStatus();
}

}  // namespace cistern::cli
