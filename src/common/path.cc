#include "common/path.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cistern {
namespace {
absl::Status Bad(std::string_view path, std::string_view why) {
  std::string shown(path);
  for (char& c : shown) {
    if (c == '\0') c = '?';
  }
  if (shown.size() > 300) shown = shown.substr(0, 300) + "...";
  return absl::InvalidArgumentError(
      absl::StrCat("invalid path '", shown, "': ", absl::string_view(why.data(), why.size())));
}
}  // namespace

absl::StatusOr<std::string> NormalizePath(std::string_view path) {
  if (path.empty()) return Bad(path, "path is empty");
  if (path[0] != '/') return Bad(path, "path must be absolute (start with '/')");
  if (path.find('\0') != std::string_view::npos) return Bad(path, "path contains a NUL byte");
  if (path.size() > kMaxPathLength) return Bad(path, absl::StrCat("path is longer than ", kMaxPathLength, " bytes"));
  std::vector<std::string_view> parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return Bad(path, "'..' goes above the root");
      parts.pop_back();
      continue;
    }
    if (part.size() > kMaxNameLength) {
      return Bad(path, absl::StrCat("a name is longer than ", kMaxNameLength, " bytes"));
    }
    parts.push_back(part);
  }
  if (parts.empty()) return std::string("/");
  std::string out;
  for (std::string_view p : parts) absl::StrAppend(&out, "/", absl::string_view(p.data(), p.size()));
  return out;
}

std::vector<std::string> SplitPath(std::string_view normalized) {
  std::vector<std::string> out;
  for (absl::string_view p : absl::StrSplit(absl::string_view(normalized.data(), normalized.size()), '/', absl::SkipEmpty())) {
    out.emplace_back(p);
  }
  return out;
}

std::string ParentPath(std::string_view normalized) {
  size_t pos = normalized.rfind('/');
  if (pos == std::string_view::npos || pos == 0) return "/";
  return std::string(normalized.substr(0, pos));
}

std::string BaseName(std::string_view normalized) {
  size_t pos = normalized.rfind('/');
  if (pos == std::string_view::npos) return std::string(normalized);
  return std::string(normalized.substr(pos + 1));
}

std::string JoinPath(std::string_view parent, std::string_view name) {
  if (parent.empty() || parent == "/") return absl::StrCat("/", absl::string_view(name.data(), name.size()));
  return absl::StrCat(absl::string_view(parent.data(), parent.size()), "/", absl::string_view(name.data(), name.size()));
}

bool IsSameOrDescendant(std::string_view path, std::string_view ancestor) {
  if (ancestor == "/") return true;
  if (path.size() < ancestor.size() || path.substr(0, ancestor.size()) != ancestor) return false;
  return path.size() == ancestor.size() || path[ancestor.size()] == '/';
}

}  // namespace cistern
