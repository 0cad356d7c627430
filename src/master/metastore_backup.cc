#include "master/metastore_backup.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kv/kv_store.h"
#include "master/namespace_store.h"
#include "spdlog/spdlog.h"

namespace cistern::master {
namespace {

namespace fs = std::filesystem;

bool NonEmptyDir(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && !fs::is_empty(dir, ec);
}

}  // namespace

absl::StatusOr<uint64_t> WriteBackup(journal::StateMachine* state_machine, const std::string& dir) {
  const fs::path path(dir);
  if (dir.empty() || !path.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat("backup directory '", dir, "' must be an absolute path"));
  }
  std::error_code ec;
  if (fs::exists(path, ec)) return absl::AlreadyExistsError(absl::StrCat("backup directory '", dir, "' exists already"));
  if (!fs::is_directory(path.parent_path(), ec)) {
    return absl::NotFoundError(absl::StrCat("parent directory '", path.parent_path().string(), "' of backup '", dir,
                                            "' does not exist on the master"));
  }
  const std::string partial = dir + ".partial";
  fs::remove_all(partial, ec);
  absl::StatusOr<uint64_t> index = state_machine->CreateSnapshot(partial, /*raft_meta=*/"");
  if (!index.ok()) {
    fs::remove_all(partial, ec);
    return index.status();
  }
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove_all(partial, ec);
    return absl::InternalError(absl::StrCat("cannot move the backup into place as '", dir, "': ", ec.message()));
  }
  spdlog::info("wrote a backup of the namespace at applied index {} to {}", *index, dir);
  return *index;
}

absl::Status RestoreMetastoreIfEmpty(const std::string& backup_dir, const std::string& metastore_dir,
                                     const std::string& raft_dir) {
  if (NonEmptyDir(metastore_dir)) {
    spdlog::info("master.metastore.restore_from ignored: the metastore {} exists already", metastore_dir);
    return absl::OkStatus();
  }
  if (NonEmptyDir(fs::path(raft_dir) / "log")) {
    return absl::FailedPreconditionError(absl::StrCat("cannot restore into '", metastore_dir, "': Raft state in '",
                                                      raft_dir, "' exists without it; remove both to restore"));
  }
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(backup_dir) / "CURRENT", ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", backup_dir, "' is not a backup (written by `cistern admin backup`): no RocksDB CURRENT file"));
  }
  const std::string staging = metastore_dir + ".restoring";
  fs::remove_all(staging, ec);
  fs::create_directories(fs::path(staging).parent_path(), ec);
  fs::copy(backup_dir, staging, fs::copy_options::recursive, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot copy backup '", backup_dir, "' to '", staging, "': ", ec.message()));
  }
  uint64_t applied = 0;
  {
    CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<kv::KvStore> kv,
                             kv::KvStore::Open(kv::KvStoreOptions{staging, NamespaceColumnFamilies(), /*sync_writes=*/true}));
    NamespaceStore store(kv.get(), 0);
    CISTERN_ASSIGN_OR_RETURN(applied, store.GetMetaUint64(kMetaAppliedIndex));
    CISTERN_ASSIGN_OR_RETURN(std::string cluster, store.GetMetaString(kMetaClusterId));
    kv::KvWriteBatch batch;
    batch.Put(kMetaCf, kMetaAppliedIndex, kv::EncodeUint64(0));
    batch.Delete(kMetaCf, kMetaRaftSnapshot);
    CISTERN_RETURN_IF_ERROR(kv->Write(batch));
    spdlog::info("restoring cluster {} from backup {} (applied index {} there; the journal starts again from 0)",
                 cluster, backup_dir, applied);
  }
  fs::remove_all(metastore_dir, ec);
  fs::rename(staging, metastore_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot move the restored metastore into '", metastore_dir, "': ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace cistern::master
