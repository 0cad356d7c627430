// MountTable: the namespace paths mounted on under-stores, cached from the metastore, and the
// under-store adapter of each mount. Resolve maps a namespace path to its under-store URI via the
// longest mount-point prefix.
//
// Thread safety: thread-safe. Reload is called after a journaled mount change is applied.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/common.pb.h"
#include "master/namespace_store.h"
#include "ufs/under_file_system.h"

namespace cistern::master {

struct ResolvedPath {
  proto::MountInfo mount;
  std::string ufs_uri;               // the path's location in the under-store
  std::shared_ptr<ufs::UnderFileSystem> ufs;
};

class MountTable {
 public:
  // `store` must outlive the table.
  explicit MountTable(const NamespaceStore* store);

  absl::Status Reload();
  // FAILED_PRECONDITION if no mount covers `path` (only before the root is mounted).
  absl::StatusOr<ResolvedPath> Resolve(std::string_view normalized_path) const;
  // Resolve's under-store URI and mount point only, without copying the mount's settings (for
  // the hot read paths); false if no mount covers the path.
  bool Locate(std::string_view normalized_path, std::string* ufs_uri, std::string* mount_path,
              uint64_t* mount_id) const;
  // The `sync_interval` option of the mount covering the path, if it has one.
  std::optional<int64_t> SyncIntervalOption(std::string_view normalized_path) const;
  std::vector<proto::MountInfo> List() const;
  bool empty() const;

 private:
  struct Entry {
    proto::MountInfo info;
    std::shared_ptr<ufs::UnderFileSystem> ufs;
    std::optional<int64_t> sync_interval_ms;  // the parsed `sync_interval` option
  };
  const Entry* Covering(std::string_view path) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const NamespaceStore* const store_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> by_path_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::master
