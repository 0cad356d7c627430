#include "ufs/uri.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::ufs {

std::string Uri::Root() const { return absl::StrCat(scheme, "://", authority); }
std::string Uri::ToString() const { return absl::StrCat(scheme, "://", authority, path); }

absl::StatusOr<Uri> ParseUri(std::string_view text) {
  std::string shown(text);
  if (text.empty()) return absl::InvalidArgumentError("invalid under-store URI '': empty");
  Uri uri;
  std::string_view rest;
  if (text[0] == '/') {
    uri.scheme = "file";
    rest = text;
  } else {
    size_t colon = text.find("://");
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid under-store URI '", shown, "': expected scheme://authority/path or an absolute path"));
    }
    uri.scheme = absl::AsciiStrToLower(absl::string_view(text.data(), colon));
    for (char c : uri.scheme) {
      if (!absl::ascii_isalnum(c) && c != '+' && c != '-' && c != '.') {
        return absl::InvalidArgumentError(absl::StrCat("invalid under-store URI '", shown, "': bad scheme"));
      }
    }
    std::string_view after = text.substr(colon + 3);
    size_t slash = after.find('/');
    uri.authority = std::string(after.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view("/") : after.substr(slash);
  }
  auto normalized = NormalizePath(rest);
  if (!normalized.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid under-store URI '", shown, "': ", normalized.status().message()));
  }
  uri.path = *std::move(normalized);
  return uri;
}

std::string JoinUri(std::string_view base_uri, std::string_view relative) {
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  std::string out(base_uri);
  if (relative.empty()) return out;
  if (out.empty() || out.back() != '/') out.push_back('/');
  absl::StrAppend(&out, absl::string_view(relative.data(), relative.size()));
  return out;
}

}  // namespace cistern::ufs
