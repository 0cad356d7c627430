// The gRPC-backed FileSystem: metadata calls go to the master through rpc::MasterClient; the
// readers and writers it makes talk to workers through shared rpc::WorkerClients.
//
// Thread safety: thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "cistern/file_system.h"
#include "client/worker_selector.h"
#include "rpc/master_client.h"
#include "rpc/transport_security.h"
#include "rpc/worker_client.h"
#include "ufs/under_file_system.h"

namespace cistern::client {

class FileSystemImpl : public FileSystem {
 public:
  // `security` carries the options' identity and TLS (made by FileSystem::Connect).
  FileSystemImpl(const ClientOptions& options, std::shared_ptr<const rpc::ChannelSecurity> security);

  using FileSystem::GetStatus;
  absl::StatusOr<FileStatus> GetStatus(std::string_view path, const GetStatusOptions& options) override;
  absl::StatusOr<bool> Exists(std::string_view path) override;
  absl::Status ListStatus(std::string_view path, const ListOptions& options,
                          const std::function<absl::Status(const FileStatus&)>& visit) override;
  absl::Status CreateDirectory(std::string_view path, bool recursive) override;
  absl::StatusOr<std::unique_ptr<FileWriter>> Create(std::string_view path, const CreateOptions& options) override;
  absl::StatusOr<std::unique_ptr<FileReader>> Open(std::string_view path, const OpenOptions& options) override;
  absl::Status Delete(std::string_view path, bool recursive) override;
  absl::Status Rename(std::string_view src, std::string_view dst) override;
  absl::StatusOr<FileStatus> SetAttribute(std::string_view path, const SetAttributeOptions& options) override;
  absl::StatusOr<FreeResult> Free(std::string_view path, const FreeOptions& options) override;
  absl::StatusOr<LoadProgress> Load(std::string_view path, const LoadOptions& options) override;
  absl::StatusOr<PersistScheduled> Persist(std::string_view path, bool recursive) override;
  absl::Status Mount(std::string_view path, std::string_view ufs_uri, const MountOptions& options) override;
  absl::Status Unmount(std::string_view path) override;
  absl::StatusOr<SyncResult> SyncMetadata(std::string_view path, bool recursive) override;
  absl::StatusOr<std::vector<MountPoint>> GetMountTable() override;
  absl::StatusOr<std::vector<WorkerSummary>> GetWorkers() override;
  absl::StatusOr<MasterInfo> GetMasterInfo() override;

  // For readers and writers.
  const ClientOptions& options() const { return options_; }
  rpc::MasterClient& master() { return master_; }
  // A client for the worker at `address`, shared by every stream to it.
  std::shared_ptr<rpc::WorkerClient> Worker(const std::string& address);
  // The selector over the current LIVE workers; refetched when older than
  // options().worker_list_ttl_ms or when `refresh` (after a worker failed).
  absl::StatusOr<std::shared_ptr<const WorkerSelector>> Selector(bool refresh);
  // An adapter for `ufs_uri` made with the options of its mount (`mount_id`, else the mount it
  // is under), fetched from the master with their secrets: for reads straight from the
  // under-store when no worker can serve.
  absl::StatusOr<std::unique_ptr<ufs::UnderFileSystem>> OpenUnderStore(const std::string& ufs_uri, uint64_t mount_id);
  // Forgets every cached GetStatus answer; called after each change made through this client.
  void InvalidateMetadataCache();

 private:
  struct CachedStatus {
    FileStatus status;
    int64_t fetched_ms = 0;
    bool for_read = false;  // the master confirmed the caller may read the file
  };

  // GetStatus; `for_read` asks the master to refuse a caller who may not read the file.
  absl::StatusOr<FileStatus> FetchStatus(std::string_view path, const GetStatusOptions& options, bool for_read);

  const ClientOptions options_;
  const std::shared_ptr<const rpc::ChannelSecurity> security_;
  const std::vector<std::string> local_hostnames_;
  rpc::MasterClient master_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<rpc::WorkerClient>> workers_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const WorkerSelector> selector_ ABSL_GUARDED_BY(mu_);
  int64_t selector_fetched_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, CachedStatus> metadata_cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::client
