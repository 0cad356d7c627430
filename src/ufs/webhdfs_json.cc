#include "ufs/webhdfs_json.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace cistern::ufs::webhdfsjson {
namespace {

using Json = nlohmann::json;

absl::Status Malformed(std::string_view what, std::string_view body) {
  return absl::DataLossError(absl::StrCat("malformed ", std::string(what), " response '",
                                          std::string(body.substr(0, 200)), "'"));
}

// Members are read defensively: a server may send any JSON, and nlohmann::json throws (or, on
// a const object, asserts) when a member is missing or of another type.
const Json* Member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string StringMember(const Json& j, const char* key) {
  const Json* m = Member(j, key);
  return m != nullptr && m->is_string() ? m->get<std::string>() : std::string();
}

int64_t IntMember(const Json& j, const char* key) {
  const Json* m = Member(j, key);
  if (m == nullptr) return 0;
  if (m->is_number_integer()) return m->get<int64_t>();
  if (m->is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(m->get<uint64_t>(), INT64_MAX));
  return 0;
}

UfsStatus FromJson(const Json& s, std::string name) {
  UfsStatus out;
  out.name = std::move(name);
  out.is_directory = StringMember(s, "type") == "DIRECTORY";
  out.length = IntMember(s, "length");
  out.mtime_ms = IntMember(s, "modificationTime");
  uint32_t mode = 0;
  const std::string perm = StringMember(s, "permission");
  for (size_t i = 0; i < perm.size() && i < 5; ++i) {
    if (perm[i] < '0' || perm[i] > '7') break;
    mode = mode * 8 + static_cast<uint32_t>(perm[i] - '0');
  }
  out.mode = mode;
  return out;
}

}  // namespace

absl::StatusOr<UfsStatus> ParseFileStatus(std::string_view body, std::string name) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
  if (!doc.is_object() || !doc.contains("FileStatus") || !doc["FileStatus"].is_object()) {
    return Malformed("GETFILESTATUS", body);
  }
  return FromJson(doc["FileStatus"], std::move(name));
}

absl::StatusOr<ListPage> ParseListing(std::string_view body) {
  const Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
  const Json* statuses = nullptr;
  ListPage page;
  if (const Json* listing = Member(doc, "DirectoryListing"); listing != nullptr) {
    page.remaining = IntMember(*listing, "remainingEntries");
    // A count below zero is no count: a caller paging on it would misjudge the end.
    if (page.remaining < 0) return Malformed("LISTSTATUS_BATCH", body);
    if (const Json* partial = Member(*listing, "partialListing"); partial != nullptr) {
      if (const Json* wrapper = Member(*partial, "FileStatuses"); wrapper != nullptr) {
        statuses = Member(*wrapper, "FileStatus");
      }
    }
  } else if (const Json* wrapper = Member(doc, "FileStatuses"); wrapper != nullptr) {
    statuses = Member(*wrapper, "FileStatus");
  }
  if (statuses == nullptr || !statuses->is_array()) return Malformed("LISTSTATUS", body);
  for (const Json& s : *statuses) {
    if (!s.is_object()) return Malformed("LISTSTATUS", body);
    page.entries.push_back(FromJson(s, StringMember(s, "pathSuffix")));
  }
  return page;
}

absl::StatusOr<bool> ParseBoolean(std::string_view body) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
  if (!doc.is_object() || !doc.contains("boolean") || !doc["boolean"].is_boolean()) return Malformed("boolean", body);
  return doc["boolean"].get<bool>();
}

RemoteException ParseRemoteException(std::string_view body) {
  RemoteException out;
  Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_object() && doc.contains("RemoteException") && doc["RemoteException"].is_object()) {
    const Json& e = doc["RemoteException"];
    if (e.contains("exception") && e["exception"].is_string()) out.exception = e["exception"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) out.message = e["message"].get<std::string>();
  }
  out.message = out.message.substr(0, out.message.find('\n'));
  return out;
}

}  // namespace cistern::ufs::webhdfsjson
