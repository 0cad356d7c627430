// NamespacePermissions: the POSIX permission rules of the namespace (security/permission.h)
// applied to paths of the metastore, for FileSystemMaster (docs/security.md, "Authorization").
//
//   traverse   execute on every existing directory above a path's last component (all calls)
//   create     write+execute on the directory that gets the new entry (mkdir, create, rename
//              destination); the new inode takes the caller as owner and that directory's group
//   remove     write+execute on the parent, and the sticky-bit rule (delete, rename source);
//              a recursive delete also needs read+write+execute on every directory below
//   read       read on a file (block capabilities, free, sync); read+execute on a directory
//              that is listed
//   chmod/chgrp the owner or the superuser (chgrp only to a group the owner is in); chown the
//              superuser; pin/TTL/replication write on the path
//
// The superuser (PermissionChecker::IsSuperuser) and a disabled checker skip every check, at no
// cost (no extra metastore reads). A missing path passes: the operation itself reports it.
//
// Thread safety: thread-safe (reads only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cistern/proto/master.pb.h"
#include "master/namespace_store.h"
#include "security/identity.h"
#include "security/permission.h"

namespace cistern::master {

security::Ownership OwnershipOf(const proto::Inode& inode);

class NamespacePermissions {
 public:
  // `store` must outlive this.
  NamespacePermissions(const NamespaceStore* store, security::PermissionOptions options)
      : store_(store), checker_(std::move(options)) {}

  const security::PermissionChecker& checker() const { return checker_; }
  // True if no check applies to `caller` (checks disabled, or a superuser).
  bool Exempt(const security::Caller& caller) const;

  absl::Status CheckTraverse(const security::Caller& caller, std::string_view path) const;
  // The same check on a walk of `path` the caller already made (MetadataSyncer::SyncPathWalk),
  // so the path is not walked a second time.
  absl::Status CheckTraverse(const security::Caller& caller, std::string_view path, const PathWalk& walk) const;
  // Traverse, then `access` on the inode at `path` itself.
  absl::Status CheckAccess(const security::Caller& caller, std::string_view path, uint32_t access) const;
  // Traverse, then write+execute on the directory the new entry `path` goes into: its parent,
  // or with `recursive` the deepest directory that exists.
  absl::Status CheckCreate(const security::Caller& caller, std::string_view path, bool recursive) const;
  // Traverse, write+execute on the parent, and the sticky rule; with `recursive`,
  // read+write+execute on every directory below `path` too.
  absl::Status CheckRemove(const security::Caller& caller, std::string_view path, bool recursive) const;
  absl::Status CheckSetAttribute(const security::Caller& caller, const proto::SetAttributeRequest& request,
                                 std::string_view path) const;

  // The owner and group a new inode at `path` gets when `caller` creates it: the caller, and
  // the group of the deepest existing directory above it (BSD and HDFS semantics); the master's
  // own identity (`fallback_*`) for internal callers.
  std::pair<std::string, std::string> NewOwnership(const security::Caller& caller, std::string_view path,
                                                   const std::string& fallback_owner,
                                                   const std::string& fallback_group) const;

 private:
  absl::Status CheckTraverseWalk(const security::Caller& caller, const PathWalk& walk, std::string_view path) const;
  // Visits every inode of the subtree at `root` (itself first), depth first.
  absl::Status ForEachInSubtree(const proto::Inode& root, const std::string& path,
                                const std::function<absl::Status(const proto::Inode&, const std::string&)>& visit) const;

  const NamespaceStore* const store_;
  const security::PermissionChecker checker_;
};

}  // namespace cistern::master
