// FileSystemMaster: persistence of files whose bytes are only in worker caches (ASYNC_THROUGH
// files, and files `fs persist` asks for). The PersistenceScheduler decides when and where;
// these methods journal the decisions and do the master's under-store part (moving a complete
// temporary copy into place).
#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/path.h"
#include "common/status.h"
#include "master/file_system_master.h"
#include "spdlog/spdlog.h"
#include "ufs/uri.h"

namespace cistern::master {
namespace {

// Directory (in the root of each mount's under-store) of copies being persisted. The name has
// the under-store temporary marker, so listings and metadata sync never show it.
constexpr std::string_view kPersistTempDir = ".cistern-tmp-persist";

std::string PersistTempDir(const proto::MountInfo& mount) { return ufs::JoinUri(mount.ufs_uri(), kPersistTempDir); }

}  // namespace

std::vector<uint64_t> FileSystemMaster::ProtectedFiles() const {
  absl::StatusOr<std::vector<uint64_t>> ids = store_->PinnedFiles();
  if (!ids.ok()) {
    spdlog::warn("reading pinned files failed: {}", ids.status().ToString());
    ids = std::vector<uint64_t>();
  }
  absl::Status scanned = store_->ForEachPersistJob([&](uint64_t id, const proto::PersistJob&) -> absl::StatusOr<bool> {
    ids->push_back(id);
    return true;
  });
  if (!scanned.ok()) spdlog::warn("reading persistence jobs failed: {}", scanned.ToString());
  std::sort(ids->begin(), ids->end());
  ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  return *std::move(ids);
}

absl::Status FileSystemMaster::ForEachPersistJob(
    const std::function<absl::StatusOr<bool>(uint64_t, const proto::PersistJob&)>& visit) const {
  return store_->ForEachPersistJob(visit);
}

absl::StatusOr<std::optional<proto::PersistJob>> FileSystemMaster::GetPersistJob(uint64_t file_id) const {
  return store_->GetPersistJob(file_id);
}

absl::StatusOr<proto::PersistResponse> FileSystemMaster::Persist(const proto::PersistRequest& request,
                                                                 const security::Caller& caller) {
  CISTERN_ASSIGN_OR_RETURN(std::string path, NormalizePath(request.path()));
  // Persisting writes the under-store: the caller must be allowed to write the path.
  CISTERN_ASSIGN_OR_RETURN(proto::Inode root,
                           ResolveSubtreeRoot(path, request.recursive(), "persist", caller, security::kWrite));
  if (root.kind() == proto::FILE && !root.completed()) {
    return absl::FailedPreconditionError(absl::StrCat("'", path, "' is still being written"));
  }
  CISTERN_RETURN_IF_ERROR(CheckWritable(path));
  proto::PersistResponse response;
  std::vector<proto::Inode> files;
  std::function<absl::Status(const proto::Inode&)> collect = [&](const proto::Inode& inode) -> absl::Status {
    if (inode.kind() == proto::FILE) {
      // Files being written are skipped: an ASYNC_THROUGH file is persisted when complete anyway.
      if (!inode.completed()) return absl::OkStatus();
      if (inode.persistence_state() == proto::PERSISTED) {
        response.set_persisted_files(response.persisted_files() + 1);
      } else {
        files.push_back(inode);
      }
      return absl::OkStatus();
    }
    return store_->ListChildren(inode.id(), "", [&](const proto::Inode& child) -> absl::StatusOr<bool> {
      CISTERN_RETURN_IF_ERROR(collect(child));
      return true;
    });
  };
  CISTERN_RETURN_IF_ERROR(collect(root));
  for (const proto::Inode& file : files) {
    const int64_t now_ms = clock_->NowMs();
    CISTERN_ASSIGN_OR_RETURN(std::optional<proto::PersistJob> job, store_->GetPersistJob(file.id()));
    if (job.has_value() && job->worker_id() != 0) {
      // An attempt is running: nothing to hurry.
      response.add_scheduled_file_ids(file.id());
      response.set_scheduled_bytes(response.scheduled_bytes() + file.length());
      continue;
    }
    if (!job.has_value()) {
      job.emplace();
      job->set_created_ms(now_ms);
    }
    job->set_next_attempt_ms(now_ms);
    proto::JournalEntry entry;
    proto::PersistJobEntry* persist = entry.mutable_persist_job();
    persist->set_file_id(file.id());
    *persist->mutable_job() = *job;
    persist->set_start(true);
    persist->set_time_ms(now_ms);
    // By file id: applying it checks that the file still waits to be persisted.
    absl::Status status = SubmitAndRelease(entry, nullptr).status();
    // Persisted or deleted meanwhile: nothing to do for it.
    if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) continue;
    CISTERN_RETURN_IF_ERROR(status);
    response.add_scheduled_file_ids(file.id());
    response.set_scheduled_bytes(response.scheduled_bytes() + file.length());
  }
  return response;
}

absl::StatusOr<FileSystemMaster::PersistTarget> FileSystemMaster::GetPersistTarget(uint64_t file_id,
                                                                                   int32_t attempt) const {
  CISTERN_ASSIGN_OR_RETURN(std::optional<proto::Inode> inode, store_->GetInode(file_id));
  if (!inode.has_value() || inode->kind() != proto::FILE) {
    return absl::NotFoundError(absl::StrCat("file id ", file_id, " does not exist"));
  }
  if (inode->persistence_state() != proto::TO_BE_PERSISTED || !inode->completed()) {
    return absl::FailedPreconditionError(absl::StrCat("file id ", file_id, " is not waiting to be persisted"));
  }
  PersistTarget target;
  CISTERN_ASSIGN_OR_RETURN(target.path, PathOf(*inode));
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(target.path));
  if (resolved.mount.read_only()) {
    return absl::PermissionDeniedError(
        absl::StrCat("'", target.path, "' is under the read-only mount '", resolved.mount.path(), "'"));
  }
  // A random part keeps attempts of two clusters sharing an under-store apart.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  target.temp_ufs_uri = ufs::JoinUri(PersistTempDir(resolved.mount),
                                     absl::StrFormat("%d-%d-%016x", file_id, attempt, rng()));
  target.mount_id = resolved.mount.mount_id();
  target.inode = *std::move(inode);
  return target;
}

absl::Status FileSystemMaster::SetPersistJob(uint64_t file_id, const proto::PersistJob& job) {
  proto::JournalEntry entry;
  proto::PersistJobEntry* persist = entry.mutable_persist_job();
  persist->set_file_id(file_id);
  *persist->mutable_job() = job;
  persist->set_time_ms(clock_->NowMs());
  return SubmitAndRelease(entry, nullptr).status();
}

absl::Status FileSystemMaster::CompletePersist(uint64_t file_id, const std::string& temp_ufs_uri) {
  // Under the lock of the file's path, so the file cannot be renamed, deleted or replaced
  // between finding its under-store path and journaling it persisted there.
  std::optional<proto::Inode> inode;
  std::string path;
  PathLocks::Held lock;
  for (int attempt = 0;; ++attempt) {
    CISTERN_ASSIGN_OR_RETURN(inode, store_->GetInode(file_id));
    if (!inode.has_value() || inode->kind() != proto::FILE) {
      return absl::FailedPreconditionError(absl::StrCat("file id ", file_id, " no longer exists"));
    }
    CISTERN_ASSIGN_OR_RETURN(path, PathOf(*inode));
    lock = locks_.Lock({path});
    // Renamed between finding its path and locking it: look again.
    CISTERN_ASSIGN_OR_RETURN(inode, store_->GetInode(file_id));
    if (!inode.has_value() || inode->kind() != proto::FILE) {
      return absl::FailedPreconditionError(absl::StrCat("file id ", file_id, " no longer exists"));
    }
    CISTERN_ASSIGN_OR_RETURN(std::string locked_path, PathOf(*inode));
    if (locked_path == path) break;
    lock.Release();
    if (attempt >= 100) return absl::AbortedError(absl::StrCat("file id ", file_id, " keeps being renamed"));
  }
  if (inode->persistence_state() != proto::TO_BE_PERSISTED || !inode->completed()) {
    return absl::FailedPreconditionError(absl::StrCat("file id ", file_id, " is not waiting to be persisted"));
  }
  CISTERN_ASSIGN_OR_RETURN(ResolvedPath resolved, mounts_->Resolve(path));
  if (!absl::StartsWith(temp_ufs_uri, PersistTempDir(resolved.mount) + "/")) {
    return absl::FailedPreconditionError(absl::StrCat("copy '", temp_ufs_uri, "' of '", path,
                                                      "' is not in the temporary directory of its mount"));
  }
  const std::string what = absl::StrCat("persist '", path, "'");
  absl::StatusOr<ufs::UfsStatus> copy = resolved.ufs->GetStatus(temp_ufs_uri);
  if (!copy.ok()) return Annotate(copy.status(), what);
  if (copy->length != inode->length()) {
    return absl::DataLossError(absl::StrCat(what, ": the copy ", temp_ufs_uri, " has ", copy->length,
                                            " bytes, the file ", inode->length()));
  }
  // Whatever is at the file's under-store path is not this file (it is not persisted yet): an
  // earlier version, or the outcome of an attempt interrupted after its move.
  absl::Status removed = resolved.ufs->Delete(resolved.ufs_uri, false);
  if (!removed.ok() && !absl::IsNotFound(removed)) return Annotate(removed, absl::StrCat(what, ": replace ", resolved.ufs_uri));
  CISTERN_RETURN_IF_ERROR_CONTEXT(resolved.ufs->Rename(temp_ufs_uri, resolved.ufs_uri), what);
  absl::StatusOr<ufs::UfsStatus> placed = resolved.ufs->GetStatus(resolved.ufs_uri);
  if (!placed.ok()) return Annotate(placed.status(), what);
  proto::JournalEntry entry;
  proto::PersistFileEntry* persisted = entry.mutable_persist_file();
  persisted->set_file_id(file_id);
  persisted->mutable_ufs_fingerprint()->set_length(placed->length);
  persisted->mutable_ufs_fingerprint()->set_mtime_ms(placed->mtime_ms);
  persisted->mutable_ufs_fingerprint()->set_etag(placed->etag);
  persisted->set_time_ms(clock_->NowMs());
  // If this fails the copy stays in place and the file TO_BE_PERSISTED; a later attempt
  // replaces it.
  return SubmitAndRelease(entry, &lock).status();
}

void FileSystemMaster::DeletePersistTemp(const std::string& temp_ufs_uri) const {
  if (temp_ufs_uri.empty()) return;
  for (const proto::MountInfo& mount : mounts_->List()) {
    if (!absl::StartsWith(temp_ufs_uri, PersistTempDir(mount) + "/")) continue;
    absl::StatusOr<ResolvedPath> resolved = mounts_->Resolve(mount.path());
    if (!resolved.ok()) return;
    absl::Status status = resolved->ufs->Delete(temp_ufs_uri, false);
    if (!status.ok() && !absl::IsNotFound(status)) {
      spdlog::warn("could not delete the temporary copy {}: {}", temp_ufs_uri, status.ToString());
    }
    return;
  }
}

}  // namespace cistern::master
