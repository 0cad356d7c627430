#include "master/namespace_permissions.h"

#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"

namespace cistern::master {

using security::Caller;

security::Ownership OwnershipOf(const proto::Inode& inode) {
  return security::Ownership{inode.owner(), inode.group(), inode.mode()};
}

namespace {

// The path of the first `n` components of `walk`'s path.
std::string Prefix(const std::vector<std::string>& components, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) absl::StrAppend(&out, "/", components[i]);
  return out.empty() ? "/" : out;
}

// The end of the component after offset `from` of a normalized path (its '/' or the end).
size_t ComponentEnd(std::string_view path, size_t from) {
  const size_t slash = path.find('/', from + 1);
  return slash == std::string_view::npos ? path.size() : slash;
}

}  // namespace

bool NamespacePermissions::Exempt(const Caller& caller) const {
  return !checker_.enabled() || checker_.IsSuperuser(caller);
}

absl::Status NamespacePermissions::CheckTraverseWalk(const Caller& caller, const PathWalk& walk,
                                                     std::string_view path) const {
  // Every existing inode that is an ancestor of the last component: inodes[0..components-1].
  // The path of inodes[i] is a prefix of `path` (normalized), so no string is built.
  const size_t ancestors = std::min(walk.inodes.size(), walk.components);
  size_t end = 0;  // where the path of inodes[i] ends in `path`
  for (size_t i = 0; i < ancestors; ++i) {
    const proto::Inode& dir = *walk.inodes[i];
    if (dir.kind() != proto::DIRECTORY) break;  // the operation reports the file in the way
    if (i > 0) end = ComponentEnd(path, end);
    const std::string_view dir_path = i == 0 ? std::string_view("/") : path.substr(0, end);
    CISTERN_RETURN_IF_ERROR(checker_.Check(caller, OwnershipOf(dir), security::kExecute, dir_path));
  }
  return absl::OkStatus();
}

absl::Status NamespacePermissions::CheckTraverse(const Caller& caller, std::string_view path) const {
  if (Exempt(caller)) return absl::OkStatus();
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, store_->Walk(path));
  return CheckTraverseWalk(caller, walk, path);
}

absl::Status NamespacePermissions::CheckTraverse(const Caller& caller, std::string_view path,
                                                 const PathWalk& walk) const {
  if (Exempt(caller)) return absl::OkStatus();
  return CheckTraverseWalk(caller, walk, path);
}

absl::Status NamespacePermissions::CheckAccess(const Caller& caller, std::string_view path, uint32_t access) const {
  if (Exempt(caller)) return absl::OkStatus();
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, store_->Walk(path));
  CISTERN_RETURN_IF_ERROR(CheckTraverseWalk(caller, walk, path));
  if (!walk.found()) return absl::OkStatus();
  return checker_.Check(caller, OwnershipOf(walk.last()), access, path);
}

absl::Status NamespacePermissions::CheckCreate(const Caller& caller, std::string_view path, bool recursive) const {
  if (Exempt(caller)) return absl::OkStatus();
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, store_->Walk(path));
  CISTERN_RETURN_IF_ERROR(CheckTraverseWalk(caller, walk, path));
  if (walk.components == 0) return absl::OkStatus();  // the root exists
  // The directory the new entry goes into: the parent, or (recursive) the deepest that exists.
  const size_t parent = walk.components - 1;
  size_t holder = std::min(walk.inodes.size() - 1, parent);
  if (!recursive && holder != parent) return absl::OkStatus();  // parent missing: NOT_FOUND follows
  const proto::Inode& dir = *walk.inodes[holder];
  if (dir.kind() != proto::DIRECTORY) return absl::OkStatus();
  return checker_.Check(caller, OwnershipOf(dir), security::kWrite | security::kExecute,
                        Prefix(SplitPath(path), holder));
}

absl::Status NamespacePermissions::ForEachInSubtree(
    const proto::Inode& root, const std::string& path,
    const std::function<absl::Status(const proto::Inode&, const std::string&)>& visit) const {
  CISTERN_RETURN_IF_ERROR(visit(root, path));
  if (root.kind() != proto::DIRECTORY) return absl::OkStatus();
  return store_->ListChildren(root.id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
    CISTERN_RETURN_IF_ERROR(ForEachInSubtree(child, JoinPath(path, child.name()), visit));
    return true;
  });
}

absl::Status NamespacePermissions::CheckRemove(const Caller& caller, std::string_view path, bool recursive) const {
  if (Exempt(caller)) return absl::OkStatus();
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, store_->Walk(path));
  CISTERN_RETURN_IF_ERROR(CheckTraverseWalk(caller, walk, path));
  if (!walk.found() || walk.components == 0) return absl::OkStatus();
  const proto::Inode& parent = *walk.inodes[walk.components - 1];
  const proto::Inode& target = walk.last();
  const std::string parent_path = ParentPath(path);
  CISTERN_RETURN_IF_ERROR(
      checker_.Check(caller, OwnershipOf(parent), security::kWrite | security::kExecute, parent_path));
  CISTERN_RETURN_IF_ERROR(checker_.CheckSticky(caller, OwnershipOf(parent), OwnershipOf(target), path));
  if (!recursive || target.kind() != proto::DIRECTORY) return absl::OkStatus();
  return ForEachInSubtree(target, std::string(path), [&](const proto::Inode& inode, const std::string& p) {
    if (inode.kind() != proto::DIRECTORY) return absl::OkStatus();
    return checker_.Check(caller, OwnershipOf(inode), security::kRead | security::kWrite | security::kExecute, p);
  });
}

absl::Status NamespacePermissions::CheckSetAttribute(const Caller& caller, const proto::SetAttributeRequest& request,
                                                     std::string_view path) const {
  if (Exempt(caller)) return absl::OkStatus();
  if (request.has_owner()) {
    CISTERN_RETURN_IF_ERROR(checker_.CheckSuperuser(caller, absl::StrCat("change the owner of '", std::string(path), "'")));
  }
  if (request.has_group() && !caller.InGroup(request.group())) {
    return absl::PermissionDeniedError(absl::StrCat("permission denied: user ", caller.user,
                                                    " may not give '", std::string(path), "' to group ",
                                                    request.group(), ", which it is not a member of"));
  }
  const bool ownership_change = request.has_mode() || request.has_group();
  const bool write_change = request.has_pinned() || request.has_ttl_ms() || request.has_replication_min() ||
                            request.has_replication_max();
  CISTERN_ASSIGN_OR_RETURN(PathWalk walk, store_->Walk(path));
  CISTERN_RETURN_IF_ERROR(CheckTraverseWalk(caller, walk, path));
  if (!walk.found()) return absl::OkStatus();
  const auto check_one = [&](const proto::Inode& inode, const std::string& p) -> absl::Status {
    if (ownership_change) {
      CISTERN_RETURN_IF_ERROR(checker_.CheckOwner(caller, OwnershipOf(inode), p,
                                                  request.has_mode() ? "change the mode of" : "change the group of"));
    }
    if (write_change) CISTERN_RETURN_IF_ERROR(checker_.Check(caller, OwnershipOf(inode), security::kWrite, p));
    return absl::OkStatus();
  };
  if (!request.recursive()) return check_one(walk.last(), std::string(path));
  return ForEachInSubtree(walk.last(), std::string(path), check_one);
}

std::pair<std::string, std::string> NamespacePermissions::NewOwnership(const Caller& caller, std::string_view path,
                                                                       const std::string& fallback_owner,
                                                                       const std::string& fallback_group) const {
  if (caller.internal || caller.user.empty()) return {fallback_owner, fallback_group};
  std::string group = fallback_group;
  absl::StatusOr<PathWalk> walk = store_->Walk(path);
  if (walk.ok() && !walk->inodes.empty()) {
    // The deepest existing directory above the new entry.
    size_t holder = std::min(walk->inodes.size(), std::max<size_t>(walk->components, 1)) - 1;
    while (holder > 0 && walk->inodes[holder]->kind() != proto::DIRECTORY) --holder;
    group = walk->inodes[holder]->group();
  }
  return {caller.user, group};
}

}  // namespace cistern::master
