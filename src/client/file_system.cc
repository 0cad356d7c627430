#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/convert.h"
#include "client/file_reader.h"
#include "client/file_system_impl.h"
#include "client/file_writer.h"
#include "common/clock.h"
#include "common/path.h"
#include "common/status.h"
#include "security/identity.h"
#include "security/security_config.h"
#include "ufs/ufs_mounts.h"

namespace cistern {

absl::StatusOr<std::unique_ptr<FileSystem>> FileSystem::Connect(const ClientOptions& options) {
  if (options.master_addresses.empty()) return absl::InvalidArgumentError("no master address configured");
  if (options.chunk_size_bytes <= 0 || options.default_block_size_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("chunk size (", options.chunk_size_bytes, ") and block size (",
                                                   options.default_block_size_bytes, ") must be positive"));
  }
  // The identity and TLS every call of this FileSystem carries.
  rpc::ClientIdentity identity;
  identity.user = options.user;
  identity.groups = options.groups;
  identity.token = options.token;
  if (identity.user.empty()) {
    const security::Caller me = security::ProcessUser();
    identity.user = me.user;
    if (identity.groups.empty()) identity.groups = me.groups;
  } else if (identity.groups.empty()) {
    identity.groups = security::GroupsOfUser(identity.user);
  }
  CISTERN_RETURN_IF_ERROR(security::CheckPrincipalName("user", identity.user));
  for (const std::string& group : identity.groups) CISTERN_RETURN_IF_ERROR(security::CheckPrincipalName("group", group));
  CISTERN_ASSIGN_OR_RETURN(security::TlsMaterial tls,
                           security::LoadTlsMaterial(options.tls.enabled, options.tls.ca_file, options.tls.cert_file,
                                                     options.tls.key_file, false, options.tls.server_name));
  CISTERN_ASSIGN_OR_RETURN(std::shared_ptr<const rpc::ChannelSecurity> security,
                           rpc::ChannelSecurity::Create(identity, tls));
  return std::unique_ptr<FileSystem>(new client::FileSystemImpl(options, std::move(security)));
}

namespace client {
namespace {

std::vector<std::string> LocalHostnames(const ClientOptions& options) {
  if (!options.local_hostnames.empty()) return options.local_hostnames;
  std::vector<std::string> names = {"localhost", "127.0.0.1"};
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') names.push_back(host);
  return names;
}

// A master older than this client answers new RPCs with an empty UNIMPLEMENTED; say what it is.
absl::Status Explain(const absl::Status& status, std::string_view rpc, std::string_view path) {
  if (status.code() != absl::StatusCode::kUnimplemented) return status;
  return absl::UnimplementedError(absl::StrCat("the master does not implement ", absl::string_view(rpc.data(), rpc.size()),
                                               " (needed for ", absl::string_view(path.data(), path.size()),
                                               "); upgrade cistern-master"));
}

// Bounds the metadata cache so a long-running client that stats many paths stays small.
constexpr size_t kMaxCachedStatuses = 10000;

rpc::MasterClientOptions MasterOptions(const ClientOptions& options,
                                       std::shared_ptr<const rpc::ChannelSecurity> security) {
  rpc::MasterClientOptions m;
  m.addresses = options.master_addresses;
  m.security = std::move(security);
  m.rpc_timeout_ms = options.rpc_timeout_ms;
  m.retry_window_ms = options.retry_window_ms;
  return m;
}

}  // namespace

FileSystemImpl::FileSystemImpl(const ClientOptions& options, std::shared_ptr<const rpc::ChannelSecurity> security)
    : options_(options), security_(std::move(security)), local_hostnames_(LocalHostnames(options)),
      master_(MasterOptions(options, security_)) {}

void FileSystemImpl::InvalidateMetadataCache() {
  if (options_.metadata_cache_ttl_ms <= 0) return;
  absl::MutexLock lock(&mu_);
  metadata_cache_.clear();
}

std::shared_ptr<rpc::WorkerClient> FileSystemImpl::Worker(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& client = workers_[address];
  if (!client) {
    rpc::WorkerClientOptions options;
    options.security = security_;
    options.rpc_timeout_ms = options_.rpc_timeout_ms;
    options.data_timeout_ms = options_.data_timeout_ms;
    client = std::make_shared<rpc::WorkerClient>(address, options);
  }
  return client;
}

absl::StatusOr<std::shared_ptr<const WorkerSelector>> FileSystemImpl::Selector(bool refresh) {
  const int64_t now_ms = RealClock()->MonotonicMs();
  {
    absl::MutexLock lock(&mu_);
    if (!refresh && selector_ != nullptr && now_ms - selector_fetched_ms_ < options_.worker_list_ttl_ms) {
      return selector_;
    }
  }
  // Fetched outside the lock: a slow master must not block readers that have a selector.
  CISTERN_ASSIGN_OR_RETURN(std::vector<WorkerSummary> workers, GetWorkers());
  auto selector = std::make_shared<const WorkerSelector>(workers, local_hostnames_);
  absl::MutexLock lock(&mu_);
  selector_ = selector;
  selector_fetched_ms_ = now_ms;
  return selector;
}

absl::StatusOr<FileStatus> FileSystemImpl::GetStatus(std::string_view path, const GetStatusOptions& options) {
  return FetchStatus(path, options, /*for_read=*/false);
}

absl::StatusOr<FileStatus> FileSystemImpl::FetchStatus(std::string_view path, const GetStatusOptions& options,
                                                       bool for_read) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  // An explicit sync interval asks for the master's judgement, so it bypasses the cache.
  const bool cacheable = options_.metadata_cache_ttl_ms > 0 && !options.sync_interval_ms.has_value() &&
                         options.include_block_locations;
  if (cacheable) {
    const int64_t now_ms = RealClock()->MonotonicMs();
    absl::MutexLock lock(&mu_);
    auto it = metadata_cache_.find(normalized);
    if (it != metadata_cache_.end() && now_ms - it->second.fetched_ms < options_.metadata_cache_ttl_ms &&
        (it->second.for_read || !for_read)) {
      return it->second.status;
    }
  }
  proto::GetStatusRequest request;
  request.set_path(normalized);
  request.set_include_block_locations(options.include_block_locations);
  if (options.sync_interval_ms) request.set_sync_interval_ms(*options.sync_interval_ms);
  request.set_for_read(for_read);
  CISTERN_ASSIGN_OR_RETURN(proto::GetStatusResponse response, master_.GetStatus(request));
  FileStatus status = ToFileStatus(response.info());
  if (cacheable) {
    absl::MutexLock lock(&mu_);
    if (metadata_cache_.size() >= kMaxCachedStatuses) metadata_cache_.clear();
    metadata_cache_[normalized] = CachedStatus{status, RealClock()->MonotonicMs(), for_read};
  }
  return status;
}

absl::StatusOr<bool> FileSystemImpl::Exists(std::string_view path) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::ExistsRequest request;
  request.set_path(normalized);
  absl::StatusOr<proto::ExistsResponse> response = master_.Exists(request);
  if (response.ok()) return response->exists();
  if (response.status().code() != absl::StatusCode::kUnimplemented) return response.status();
  // A master without Exists still answers GetStatus.
  proto::GetStatusRequest get;
  get.set_path(normalized);
  absl::StatusOr<proto::GetStatusResponse> status = master_.GetStatus(get);
  if (status.ok()) return true;
  if (status.status().code() == absl::StatusCode::kNotFound) return false;
  return status.status();
}

absl::StatusOr<FileStatus> FileSystemImpl::SetAttribute(std::string_view path, const SetAttributeOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::SetAttributeRequest request;
  request.set_path(normalized);
  request.set_recursive(options.recursive);
  if (options.mode) {
    if (*options.mode > 07777) {
      return absl::InvalidArgumentError(absl::StrFormat("mode %o of %s has bits beyond 07777", *options.mode, normalized));
    }
    request.set_mode(*options.mode);
  }
  if (options.owner) request.set_owner(*options.owner);
  if (options.group) request.set_group(*options.group);
  if (options.pinned) request.set_pinned(*options.pinned);
  if (options.ttl_ms) {
    if (*options.ttl_ms < 0) {
      return absl::InvalidArgumentError(absl::StrCat("negative TTL ", *options.ttl_ms, " ms for ", normalized));
    }
    request.set_ttl_ms(*options.ttl_ms);
    request.set_ttl_action(ToProto(options.ttl_action));
  }
  if (options.replication_min) request.set_replication_min(*options.replication_min);
  if (options.replication_max) request.set_replication_max(*options.replication_max);
  absl::StatusOr<proto::SetAttributeResponse> response = master_.SetAttribute(request);
  InvalidateMetadataCache();
  if (!response.ok()) return Explain(response.status(), "SetAttribute", normalized);
  return ToFileStatus(response->info());
}

absl::StatusOr<FreeResult> FileSystemImpl::Free(std::string_view path, const FreeOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::FreeRequest request;
  request.set_path(normalized);
  request.set_recursive(options.recursive);
  request.set_forced(options.forced);
  absl::StatusOr<proto::FreeResponse> response = master_.Free(request);
  InvalidateMetadataCache();
  if (!response.ok()) return Explain(response.status(), "Free", normalized);
  return FreeResult{response->freed_files(), response->freed_blocks()};
}

absl::StatusOr<PersistScheduled> FileSystemImpl::Persist(std::string_view path, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::PersistRequest request;
  request.set_path(normalized);
  request.set_recursive(recursive);
  absl::StatusOr<proto::PersistResponse> response = master_.Persist(request);
  InvalidateMetadataCache();
  if (!response.ok()) return Explain(response.status(), "Persist", normalized);
  PersistScheduled scheduled;
  scheduled.file_ids.assign(response->scheduled_file_ids().begin(), response->scheduled_file_ids().end());
  scheduled.bytes = response->scheduled_bytes();
  scheduled.persisted_files = response->persisted_files();
  return scheduled;
}

absl::Status FileSystemImpl::Mount(std::string_view path, std::string_view ufs_uri, const MountOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  if (ufs_uri.empty()) return absl::InvalidArgumentError(absl::StrCat("empty under-store URI for mount ", normalized));
  proto::MountRequest request;
  request.set_path(normalized);
  request.set_ufs_uri(std::string(ufs_uri));
  request.set_read_only(options.read_only);
  request.set_shared(options.shared);
  for (const auto& [key, value] : options.options) (*request.mutable_options())[key] = value;
  absl::Status status = master_.Mount(request).status();
  InvalidateMetadataCache();
  return Explain(status, "Mount", normalized);
}

absl::Status FileSystemImpl::Unmount(std::string_view path) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::UnmountRequest request;
  request.set_path(normalized);
  absl::Status status = master_.Unmount(request).status();
  InvalidateMetadataCache();
  return Explain(status, "Unmount", normalized);
}

absl::StatusOr<SyncResult> FileSystemImpl::SyncMetadata(std::string_view path, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::SyncMetadataRequest request;
  request.set_path(normalized);
  request.set_recursive(recursive);
  absl::StatusOr<proto::SyncMetadataResponse> response = master_.SyncMetadata(request);
  InvalidateMetadataCache();
  if (!response.ok()) return Explain(response.status(), "SyncMetadata", normalized);
  return SyncResult{response->created(), response->updated(), response->removed()};
}

absl::Status FileSystemImpl::ListStatus(std::string_view path, const ListOptions& options,
                                        const std::function<absl::Status(const FileStatus&)>& visit) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::ListStatusRequest request;
  request.set_path(normalized);
  request.set_recursive(options.recursive);
  if (options.sync_interval_ms) request.set_sync_interval_ms(*options.sync_interval_ms);
  return master_.ListStatus(request, [&](const proto::ListStatusResponse& page) {
    for (const proto::FileInfo& info : page.infos()) CISTERN_RETURN_IF_ERROR(visit(ToFileStatus(info)));
    return absl::OkStatus();
  });
}

absl::Status FileSystemImpl::CreateDirectory(std::string_view path, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::CreateDirectoryRequest request;
  request.set_path(normalized);
  request.set_recursive(recursive);
  request.set_allow_exists(recursive);
  absl::Status status = master_.CreateDirectory(request).status();
  InvalidateMetadataCache();
  return status;
}

absl::StatusOr<std::unique_ptr<FileWriter>> FileSystemImpl::Create(std::string_view path,
                                                                   const CreateOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  if (options.block_size_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative block size ", options.block_size_bytes, " for ", normalized));
  }
  const WriteType requested = options.write_type.value_or(options_.default_write_type);
  proto::CreateFileRequest request;
  request.set_path(normalized);
  request.set_recursive(options.recursive);
  request.set_overwrite(options.overwrite);
  request.set_block_size_bytes(options.block_size_bytes > 0 ? options.block_size_bytes
                                                            : options_.default_block_size_bytes);
  request.set_write_type(ToProto(requested));
  request.set_mode(options.mode);
  InvalidateMetadataCache();
  CISTERN_ASSIGN_OR_RETURN(proto::CreateFileResponse response, master_.CreateFile(request));
  const proto::FileInfo& info = response.info();
  if (info.block_size_bytes() <= 0) {
    return absl::InternalError(absl::StrCat("master gave block size ", info.block_size_bytes(), " for ", normalized));
  }
  // The master's resolved write type decides what the file's state will claim; follow it.
  const WriteType write_type = FromProto(info.write_type()).value_or(requested);
  auto writer = std::make_unique<FileWriterImpl>(this, info, write_type, info.mode() != 0 ? info.mode() : 0644);
  absl::Status init = writer->Init();
  if (!init.ok()) {
    writer->Abort();
    return init;
  }
  return std::unique_ptr<FileWriter>(std::move(writer));
}

absl::StatusOr<std::unique_ptr<FileReader>> FileSystemImpl::Open(std::string_view path, const OpenOptions& options) {
  // for_read: the master refuses a caller who may not read the file (a cached status counts
  // only if it was fetched for reading too).
  CISTERN_ASSIGN_OR_RETURN(FileStatus status, FetchStatus(path, GetStatusOptions{}, /*for_read=*/true));
  if (status.is_directory) return absl::FailedPreconditionError(absl::StrCat(status.path, " is a directory"));
  if (!status.completed) {
    return absl::FailedPreconditionError(absl::StrCat(status.path, " is still being written"));
  }
  int64_t covered = 0;
  for (const BlockStatus& b : FileBlocks(status)) covered += b.length;
  if (covered != status.length) {
    return absl::DataLossError(absl::StrCat(status.path, ": blocks cover ", covered, " of ", status.length, " bytes"));
  }
  return std::unique_ptr<FileReader>(
      new FileReaderImpl(this, std::move(status), options.read_type.value_or(options_.default_read_type)));
}

absl::Status FileSystemImpl::Delete(std::string_view path, bool recursive) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized, NormalizePath(path));
  proto::DeleteRequest request;
  request.set_path(normalized);
  request.set_recursive(recursive);
  absl::Status status = master_.Delete(request).status();
  InvalidateMetadataCache();
  return status;
}

absl::Status FileSystemImpl::Rename(std::string_view src, std::string_view dst) {
  CISTERN_ASSIGN_OR_RETURN(std::string normalized_src, NormalizePath(src));
  CISTERN_ASSIGN_OR_RETURN(std::string normalized_dst, NormalizePath(dst));
  proto::RenameRequest request;
  request.set_src_path(normalized_src);
  request.set_dst_path(normalized_dst);
  absl::Status status = master_.Rename(request).status();
  InvalidateMetadataCache();
  return status;
}

absl::StatusOr<std::unique_ptr<ufs::UnderFileSystem>> FileSystemImpl::OpenUnderStore(const std::string& ufs_uri,
                                                                                     uint64_t mount_id) {
  proto::GetMountTableRequest request;
  request.set_with_secrets(true);
  CISTERN_ASSIGN_OR_RETURN(proto::GetMountTableResponse response, master_.GetMountTable(request));
  std::vector<ufs::UfsMount> mounts;
  for (const proto::MountInfo& m : response.mounts()) {
    mounts.push_back(ufs::UfsMount{m.mount_id(), m.ufs_uri(), ufs::MountOptions(m.options().begin(), m.options().end())});
  }
  const ufs::UfsMount* mount = ufs::FindMount(mounts, ufs_uri, mount_id);
  return ufs::CreateUnderFileSystem(ufs_uri, mount != nullptr ? mount->options : ufs::MountOptions{});
}

absl::StatusOr<std::vector<MountPoint>> FileSystemImpl::GetMountTable() {
  CISTERN_ASSIGN_OR_RETURN(proto::GetMountTableResponse response, master_.GetMountTable({}));
  std::vector<MountPoint> mounts;
  for (const proto::MountInfo& m : response.mounts()) mounts.push_back(ToMountPoint(m));
  std::sort(mounts.begin(), mounts.end(), [](const MountPoint& a, const MountPoint& b) { return a.path < b.path; });
  return mounts;
}

absl::StatusOr<std::vector<WorkerSummary>> FileSystemImpl::GetWorkers() {
  CISTERN_ASSIGN_OR_RETURN(proto::GetWorkerInfoListResponse response, master_.GetWorkerInfoList({}));
  std::vector<WorkerSummary> workers;
  for (const proto::WorkerInfo& w : response.workers()) workers.push_back(ToWorkerSummary(w));
  std::sort(workers.begin(), workers.end(),
            [](const WorkerSummary& a, const WorkerSummary& b) { return a.worker_id < b.worker_id; });
  return workers;
}

absl::StatusOr<MasterInfo> FileSystemImpl::GetMasterInfo() {
  CISTERN_ASSIGN_OR_RETURN(proto::GetMasterInfoResponse response, master_.GetMasterInfo({}));
  MasterInfo info = ToMasterInfo(response);
  if (info.address == ":0") info.address = master_.current_address();
  return info;
}

}  // namespace client
}  // namespace cistern
