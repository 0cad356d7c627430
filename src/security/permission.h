// POSIX permission checks (docs/security.md, "Authorization"): the rules of the master's
// namespace, kept apart from the namespace so they are tested on their own.
//
// A caller is the superuser if it is the master itself, a cluster daemon, the configured
// superuser, or a member of the supergroup; the superuser passes every check. Otherwise the
// owner class applies if the caller owns the inode, else the group class if the caller is in
// the inode's group, else the other class, and the requested bits must all be set in that class
// (as POSIX, a class that does not match does not fall through: an owner with 0077 is denied).
//
// Thread safety: immutable; share freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "security/identity.h"

namespace cistern::security {

// Requested access, as the rwx bits of one class.
enum Access : uint32_t {
  kRead = 4,
  kWrite = 2,
  kExecute = 1,  // traverse a directory; run a file
};
std::string AccessName(uint32_t access);  // "read", "write+execute", ...

inline constexpr uint32_t kStickyBit = 01000;

struct PermissionOptions {
  bool enabled = true;     // false: every check passes (owners are still recorded)
  std::string superuser;   // the master's OS user unless configured
  std::string supergroup = "supergroup";
};

// What is checked: an inode's ownership and mode, and its path for messages.
struct Ownership {
  std::string_view owner;
  std::string_view group;
  uint32_t mode = 0;
};

class PermissionChecker {
 public:
  explicit PermissionChecker(PermissionOptions options) : options_(std::move(options)) {}

  bool enabled() const { return options_.enabled; }
  bool IsSuperuser(const Caller& caller) const;
  const PermissionOptions& options() const { return options_; }

  // OK if `caller` has every bit of `access` on the inode; else PERMISSION_DENIED, e.g.
  // "permission denied: user bob may not write '/a' (owner alice, group staff, mode 0755)".
  absl::Status Check(const Caller& caller, const Ownership& inode, uint32_t access, std::string_view path) const;
  // The sticky-bit rule for removing or renaming `child` out of `parent`: with the sticky bit
  // on the parent, only the child's owner, the parent's owner or the superuser may.
  absl::Status CheckSticky(const Caller& caller, const Ownership& parent, const Ownership& child,
                           std::string_view child_path) const;
  // OK if `caller` owns the inode or is the superuser (chmod, chgrp, completing a file).
  absl::Status CheckOwner(const Caller& caller, const Ownership& inode, std::string_view path,
                          std::string_view what) const;
  // OK for the superuser only (chown, mount, unmount, admin calls).
  absl::Status CheckSuperuser(const Caller& caller, std::string_view what) const;

 private:
  const PermissionOptions options_;
};

}  // namespace cistern::security
