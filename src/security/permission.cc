#include "security/permission.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cistern::security {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Describe(const Ownership& inode) {
  return absl::StrFormat("owner %s, group %s, mode %04o", AV(inode.owner), AV(inode.group), inode.mode & 07777);
}

}  // namespace

std::string AccessName(uint32_t access) {
  std::string out;
  for (auto [bit, name] : {std::pair<uint32_t, const char*>{kRead, "read"}, {kWrite, "write"}, {kExecute, "execute"}}) {
    if (access & bit) absl::StrAppend(&out, out.empty() ? "" : "+", name);
  }
  return out;
}

bool PermissionChecker::IsSuperuser(const Caller& caller) const {
  if (caller.internal || caller.daemon) return true;
  if (!options_.superuser.empty() && caller.user == options_.superuser) return true;
  return !options_.supergroup.empty() && caller.InGroup(options_.supergroup);
}

absl::Status PermissionChecker::Check(const Caller& caller, const Ownership& inode, uint32_t access,
                                      std::string_view path) const {
  if (!options_.enabled || IsSuperuser(caller)) return absl::OkStatus();
  uint32_t granted;
  if (caller.user == inode.owner) {
    granted = (inode.mode >> 6) & 7;
  } else if (caller.InGroup(inode.group)) {
    granted = (inode.mode >> 3) & 7;
  } else {
    granted = inode.mode & 7;
  }
  if ((granted & access) == access) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("permission denied: user ", caller.user, " may not ",
                                                  AccessName(access), " '", AV(path), "' (", Describe(inode), ")"));
}

absl::Status PermissionChecker::CheckSticky(const Caller& caller, const Ownership& parent, const Ownership& child,
                                            std::string_view child_path) const {
  if (!options_.enabled || (parent.mode & kStickyBit) == 0 || IsSuperuser(caller)) return absl::OkStatus();
  if (caller.user == child.owner || caller.user == parent.owner) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("permission denied: user ", caller.user, " may not remove '",
                                                  AV(child_path), "' (", Describe(child),
                                                  ") from a sticky directory it does not own"));
}

absl::Status PermissionChecker::CheckOwner(const Caller& caller, const Ownership& inode, std::string_view path,
                                           std::string_view what) const {
  if (!options_.enabled || IsSuperuser(caller) || caller.user == inode.owner) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("permission denied: only the owner or the superuser may ", AV(what),
                                                  " '", AV(path), "' (", Describe(inode), "; caller ", caller.user,
                                                  ")"));
}

absl::Status PermissionChecker::CheckSuperuser(const Caller& caller, std::string_view what) const {
  if (!options_.enabled || IsSuperuser(caller)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("permission denied: only the superuser (",
                                                  options_.superuser.empty() ? "none configured" : options_.superuser,
                                                  ", or a member of group ", options_.supergroup, ") may ", AV(what),
                                                  "; caller is ", caller.user));
}

}  // namespace cistern::security
