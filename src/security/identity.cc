#include "security/identity.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cistern::security {

bool Caller::InGroup(std::string_view group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

std::string Caller::ToString() const {
  if (internal) return "the master itself";
  std::string out = user.empty() ? "(no user)" : user;
  if (daemon) absl::StrAppend(&out, " (cluster daemon)");
  if (!groups.empty()) absl::StrAppend(&out, " (groups ", absl::StrJoin(groups, ","), ")");
  if (!address.empty()) absl::StrAppend(&out, " from ", address);
  return out;
}

const Caller& Caller::Internal() {
  static const Caller* internal = [] {
    auto* c = new Caller();
    c->user = "(master)";
    c->internal = true;
    return c;
  }();
  return *internal;
}

namespace {

std::string GroupName(gid_t gid) {
  std::vector<char> buffer(16384);
  struct group entry;
  struct group* found = nullptr;
  if (::getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) return found->gr_name;
  return std::to_string(gid);
}

std::vector<std::string> GroupsOf(const char* user, gid_t primary) {
  std::vector<gid_t> gids(64);
  int count = static_cast<int>(gids.size());
  if (::getgrouplist(user, primary, gids.data(), &count) < 0) {
    gids.resize(static_cast<size_t>(count));
    if (::getgrouplist(user, primary, gids.data(), &count) < 0) count = 0;
  }
  gids.resize(static_cast<size_t>(std::max(count, 0)));
  std::vector<std::string> names = {GroupName(primary)};
  for (gid_t gid : gids) {
    if (gid == primary) continue;
    std::string name = GroupName(gid);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  }
  return names;
}

}  // namespace

Caller ProcessUser() {
  Caller caller;
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  std::vector<char> buffer(16384);
  struct passwd entry;
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    caller.user = found->pw_name;
    caller.groups = GroupsOf(found->pw_name, gid);
  } else {
    caller.user = std::to_string(uid);
    caller.groups = {GroupName(gid)};
  }
  return caller;
}

std::vector<std::string> GroupsOfUser(const std::string& user) {
  std::vector<char> buffer(16384);
  struct passwd entry;
  struct passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return {};
  return GroupsOf(found->pw_name, found->pw_gid);
}

absl::Status CheckPrincipalName(std::string_view what, std::string_view name) {
  const auto quote = [&] {
    return absl::StrCat("'", absl::CHexEscape(absl::string_view(name.data(), std::min<size_t>(name.size(), 64))),
                        name.size() > 64 ? "..." : "", "'");
  };
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(absl::string_view(what.data(), what.size()), " = '': must not be empty"));
  }
  if (name.size() > kMaxPrincipalBytes) {
    return absl::InvalidArgumentError(absl::StrCat(absl::string_view(what.data(), what.size()), " = ", quote(), " (",
                                                   name.size(), " bytes): longer than ", kMaxPrincipalBytes, " bytes"));
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f || c == ',' || c == ':') {
      return absl::InvalidArgumentError(
          absl::StrCat(absl::string_view(what.data(), what.size()), " = ", quote(),
                       ": a user or group name has no spaces, control characters, ',' or ':'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cistern::security
