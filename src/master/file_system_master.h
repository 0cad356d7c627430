// FileSystemMaster: the namespace operations clients call. It validates requests, does the
// under-store side of a change (mkdir, delete, rename in the UFS) before journaling it, turns
// each change into a JournalEntry, and answers from what applying the entry produced. Reads come
// straight from the metastore, decorated with block locations from the BlockMaster.
//
// Concurrency (docs/namespace.md): a mutation holds PathLocks on the paths it changes (and
// shared on their ancestors) while it checks, changes the under-store and appends its entry,
// so conflicting mutations are ordered and unrelated ones run in parallel; applying re-checks
// every precondition. Reads take no locks.
//
// Thread safety: thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cistern/proto/master.pb.h"
#include "common/clock.h"
#include "journal/journal.h"
#include "master/block_master.h"
#include "master/metadata_sync.h"
#include "master/mount_table.h"
#include "master/namespace_store.h"
#include "master/namespace_permissions.h"
#include "master/path_locks.h"
#include "security/capability.h"
#include "security/identity.h"
#include "security/permission.h"

namespace cistern::master {

struct FileSystemMasterOptions {
  int64_t default_block_size_bytes = 64 << 20;
  int64_t default_sync_interval_ms = -1;  // master.metadata.sync.interval
  int sync_batch_size = 1000;
  proto::WriteType default_write_type = proto::CACHE_THROUGH;
  int listing_page_size = 1000;
  // The master's own identity: owner and group of what it creates for itself (the root mount,
  // internal callers). New inodes of a caller belong to the caller (NamespacePermissions).
  std::string owner;
  std::string group;
  security::PermissionOptions permissions;
  // Signs block capabilities for readers and writers (TOKEN mode); nullptr = none issued.
  // Must outlive the FileSystemMaster.
  const security::BlockCapabilities* capabilities = nullptr;
};

// How a read may proceed. A read on an RPC event thread passes may_block = false: if it would
// have to wait (an under-store call to load or sync metadata, or for what it read to become
// durable) it fails with WouldBlockError() instead and is retried where blocking is allowed.
struct ReadOptions {
  bool may_block = true;
};

// A listing in progress (see FileSystemMaster::StartListing): the directories still to list,
// innermost last, and the name each resumes after.
class ListingCursor {
 public:
  bool done() const { return stack_.empty() && !single_.has_value(); }

 private:
  friend class FileSystemMaster;
  struct Frame {
    uint64_t dir_id = 0;
    std::string path;
    std::string after;  // last name listed; "" = from the first
  };
  std::vector<Frame> stack_;
  security::Caller caller_;  // each directory listed must be readable by it
  std::optional<proto::FileInfo> single_;  // the listing of a file is the file itself
  bool recursive_ = false;
  std::optional<int64_t> sync_interval_;
};

class FileSystemMaster {
 public:
  // All pointers must outlive this.
  FileSystemMaster(NamespaceStore* store, journal::Journal* journal, MountTable* mounts, BlockMaster* blocks,
                   Clock* clock, FileSystemMasterOptions options);

  // Mounts `root_ufs_uri` at "/" unless the root is already mounted (then a different configured
  // URI is reported and the journaled one kept), and makes sure the root's UFS directory exists.
  absl::Status InitializeRootMount(const std::string& root_ufs_uri);

  // Every operation acts for `caller` (the service adapters pass the RPC's authenticated caller;
  // the default is the master itself, exempt from checks, for internal work and tests of this
  // class): permissions are checked as NamespacePermissions describes, new inodes belong to it,
  // and the block capabilities it gets (GetStatus with block locations, CreateFile) name it.
  //
  // Reads load paths from the under-store on first access and re-sync them per the interval.
  absl::StatusOr<proto::FileInfo> GetStatus(const proto::GetStatusRequest& request, ReadOptions options = {},
                                            const security::Caller& caller = security::Caller::Internal());
  absl::StatusOr<bool> Exists(const proto::ExistsRequest& request, ReadOptions options = {},
                              const security::Caller& caller = security::Caller::Internal());
  // A listing in pages of master.listing.page_size entries, in name order; recursive listings
  // are depth-first, each directory followed by its contents. Each page is read afresh, so a
  // long listing is not one snapshot: an entry added or removed meanwhile may or may not
  // appear, but none appears twice. StartListing resolves (and syncs) the path; NextPage
  // fills `page` with the next entries (empty once done). A WouldBlockError leaves the cursor
  // as it was, so the same call can be repeated with blocking allowed.
  absl::StatusOr<ListingCursor> StartListing(const proto::ListStatusRequest& request, ReadOptions options = {},
                                             const security::Caller& caller = security::Caller::Internal());
  absl::Status NextPage(ListingCursor* cursor, proto::ListStatusResponse* page, ReadOptions options = {});
  // The whole listing, page by page, blocking as needed.
  absl::Status ListStatus(const proto::ListStatusRequest& request,
                          const std::function<absl::Status(const proto::ListStatusResponse&)>& page,
                          const security::Caller& caller = security::Caller::Internal());
  absl::StatusOr<proto::FileInfo> CreateDirectory(const proto::CreateDirectoryRequest& request,
                                                  const security::Caller& caller = security::Caller::Internal());
  absl::StatusOr<proto::FileInfo> CreateFile(const proto::CreateFileRequest& request,
                                             const security::Caller& caller = security::Caller::Internal());
  absl::StatusOr<proto::FileInfo> CompleteFile(const proto::CompleteFileRequest& request,
                                               const security::Caller& caller = security::Caller::Internal());
  absl::Status Delete(const proto::DeleteRequest& request,
                      const security::Caller& caller = security::Caller::Internal());
  absl::Status Rename(const proto::RenameRequest& request,
                      const security::Caller& caller = security::Caller::Internal());
  std::vector<proto::MountInfo> GetMountTable() const;
  absl::StatusOr<proto::FileInfo> SetAttribute(const proto::SetAttributeRequest& request,
                                               const security::Caller& caller = security::Caller::Internal());
  absl::StatusOr<proto::FreeResponse> Free(const proto::FreeRequest& request,
                                           const security::Caller& caller = security::Caller::Internal());
  absl::Status Mount(const proto::MountRequest& request,
                     const security::Caller& caller = security::Caller::Internal());
  absl::Status Unmount(const proto::UnmountRequest& request,
                       const security::Caller& caller = security::Caller::Internal());
  absl::StatusOr<proto::SyncMetadataResponse> SyncMetadata(const proto::SyncMetadataRequest& request,
                                                           const security::Caller& caller = security::Caller::Internal());

  // Frees or deletes every path whose TTL expired by now (called periodically).
  absl::Status CheckTtls();

  bool FileExists(uint64_t file_id) const;
  const NamespacePermissions& permissions() const { return permissions_; }
  // Files whose cached blocks workers must never evict: pinned files, and files not yet
  // persisted whose blocks are their only copy (TO_BE_PERSISTED). Sent with heartbeat replies.
  std::vector<uint64_t> ProtectedFiles() const;

  // Persistence (file_system_master_persist.cc; the PersistenceScheduler drives it).
  //
  // Schedules every completed file at or below the path that is not persisted for persistence
  // now (a job in backoff is retried now); persisted files are left alone.
  absl::StatusOr<proto::PersistResponse> Persist(const proto::PersistRequest& request,
                                                 const security::Caller& caller = security::Caller::Internal());
  absl::Status ForEachPersistJob(
      const std::function<absl::StatusOr<bool>(uint64_t, const proto::PersistJob&)>& visit) const;
  absl::StatusOr<std::optional<proto::PersistJob>> GetPersistJob(uint64_t file_id) const;
  // What persisting a TO_BE_PERSISTED file needs: the inode and where attempt `attempt` writes
  // (a temporary path in the under-store of the file's mount, never part of the namespace).
  struct PersistTarget {
    proto::Inode inode;
    std::string path;
    std::string temp_ufs_uri;
    uint64_t mount_id = 0;  // of the mount temp_ufs_uri is under
  };
  absl::StatusOr<PersistTarget> GetPersistTarget(uint64_t file_id, int32_t attempt) const;
  // Journals the job's new state. FAILED_PRECONDITION if the file is no longer TO_BE_PERSISTED.
  absl::Status SetPersistJob(uint64_t file_id, const proto::PersistJob& job);
  // Moves the complete copy at `temp_ufs_uri` to the file's under-store path (where the file is
  // now: it may have been renamed meanwhile) and journals the file PERSISTED. FAILED_PRECONDITION
  // if the file is gone or no longer TO_BE_PERSISTED (the copy is then the caller's to delete).
  absl::Status CompletePersist(uint64_t file_id, const std::string& temp_ufs_uri);
  // Deletes a temporary copy (best effort: a missing one is fine).
  void DeletePersistTemp(const std::string& temp_ufs_uri) const;

 private:
  absl::StatusOr<proto::FileInfo> ToFileInfo(const proto::Inode& inode, const std::string& path,
                                             bool include_blocks) const;
  // ToFileInfo into `info` (an empty message, e.g. a listing page's next entry), taking `path`
  // over: a listing builds each entry in place, without a copy of it or of its path.
  absl::Status FillFileInfo(const proto::Inode& inode, std::string path, bool include_blocks,
                            proto::FileInfo* info) const;
  // Builds the path of an inode by walking parents (for CompleteFile replies).
  absl::StatusOr<std::string> PathOf(const proto::Inode& inode) const;
  absl::Status FillPage(ListingCursor* cursor, proto::ListStatusResponse* page, ReadOptions options);
  // The recorded outcome of a retried operation, if `operation_id` was seen before.
  absl::StatusOr<std::optional<proto::OperationRecord>> EarlierOutcome(const std::string& operation_id) const;
  // The READ capability of `info`'s file for `caller`, if capabilities are on and it may read.
  absl::Status AttachReadCapability(const security::Caller& caller, const proto::Inode& inode,
                                    const std::string& path, proto::FileInfo* info) const;
  // The WRITE capability of a file `caller` just created.
  void AttachWriteCapability(const security::Caller& caller, const proto::Inode& inode, proto::FileInfo* info) const;
  // PERMISSION_DENIED if `path` is under a read-only mount.
  absl::Status CheckWritable(const std::string& path) const;
  // Loads `path` from its under-store if the namespace does not have it yet.
  absl::Status LoadIfMissing(const std::string& path);
  // The root of a subtree operation (free, persist) on the normalized `path`, loaded if missing:
  // a non-empty directory without `recursive` is FAILED_PRECONDITION ("... (<verb> it
  // recursively)").
  absl::StatusOr<proto::Inode> ResolveSubtreeRoot(const std::string& path, bool recursive, absl::string_view verb,
                                                  const security::Caller& caller, uint32_t access);
  // Appends `entry`, releases `locks` (if any), then waits until the entry is durable. With
  // `result_inode`, also reads the inode the entry names (result.inode_id) before releasing.
  absl::StatusOr<proto::JournalResult> SubmitAndRelease(const proto::JournalEntry& entry, PathLocks::Held* locks,
                                                        std::optional<proto::Inode>* result_inode = nullptr);
  // Waits until what a read saw is durable (WouldBlockError without options.may_block).
  absl::Status WaitReadDurable(ReadOptions options = {}) const;

  NamespaceStore* const store_;
  journal::Journal* const journal_;
  MountTable* const mounts_;
  BlockMaster* const blocks_;
  Clock* const clock_;
  const FileSystemMasterOptions options_;
  const NamespacePermissions permissions_;
  PathLocks locks_;
  MetadataSyncer syncer_;
};

}  // namespace cistern::master
