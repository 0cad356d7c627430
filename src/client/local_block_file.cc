#include "client/local_block_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status.h"
#include "rpc/request_validation.h"

namespace cistern::client {

// ---------------------------------------------------------------------------------------------
// LocalBlockLeaser

LocalBlockLeaser::LocalBlockLeaser(std::shared_ptr<rpc::WorkerClient> worker, proto::ReadType read_type)
    : worker_(std::move(worker)), read_type_(read_type) {}

LocalBlockLeaser::~LocalBlockLeaser() { Flush(); }

absl::StatusOr<LocalBlockLeaser::Grant> LocalBlockLeaser::Lease(uint64_t block_id, const std::vector<uint64_t>& ahead,
                                                                bool renewal, const proto::BlockCapability& capability) {
  const int64_t start_ms = RealClock()->MonotonicMs();
  if (auto it = ahead_.find(block_id); it != ahead_.end()) {
    Grant grant = std::move(it->second);
    ahead_.erase(it);
    if (!renewal && start_ms < grant.renew_at_mono_ms) return grant;
    Release(grant.lease.lease_id(), 0);  // too old to start on: ask for a fresh one
  }
  // Leases held ahead for blocks the reader no longer heads for (it moved elsewhere) go back
  // with this call, so at most `ahead` of them are held at a time (a renewal keeps them).
  for (auto it = ahead_.begin(); it != ahead_.end();) {
    if (!renewal && std::find(ahead.begin(), ahead.end(), it->first) == ahead.end()) {
      Release(it->second.lease.lease_id(), 0);
      it = ahead_.erase(it);
    } else {
      ++it;
    }
  }
  proto::OpenLocalBlockRequest request;
  request.set_block_id(block_id);
  request.set_read_type(read_type_);
  request.set_renewal(renewal);
  for (uint64_t id : ahead) {
    if (request.also_block_ids_size() >= rpc::kMaxLocalBlockLeasesPerCall) break;
    if (id != block_id && ahead_.count(id) == 0) request.add_also_block_ids(id);
  }
  while (!releases_.empty() && request.releases_size() < rpc::kMaxLocalBlockReleasesPerCall) {
    *request.add_releases() = std::move(releases_.back());
    releases_.pop_back();
  }
  if (!capability.mac().empty()) *request.mutable_capability() = capability;
  // The releases went with the request whatever its outcome: the worker releases them before it
  // looks at the new leases, and a lease whose release is lost expires on its own.
  CISTERN_ASSIGN_OR_RETURN(proto::OpenLocalBlockResponse response, worker_->OpenLocalBlock(request));
  const int64_t renew_at = start_ms + response.lease_ms() * 2 / 3;
  for (proto::OpenLocalBlockResponse& also : *response.mutable_also()) {
    const bool asked = std::find(request.also_block_ids().begin(), request.also_block_ids().end(), also.block_id()) !=
                       request.also_block_ids().end();
    if (!asked || ahead_.count(also.block_id()) != 0) {
      Release(also.lease_id(), 0);
      continue;
    }
    Grant grant;
    grant.lease = std::move(also);
    grant.renew_at_mono_ms = renew_at;
    ahead_.emplace(grant.lease.block_id(), std::move(grant));
  }
  response.clear_also();
  Grant grant;
  grant.lease = std::move(response);
  grant.renew_at_mono_ms = renew_at;
  return grant;
}

void LocalBlockLeaser::Release(uint64_t lease_id, int64_t bytes_read) {
  proto::ReleaseLocalBlockRequest release;
  release.set_lease_id(lease_id);
  release.set_bytes_read(bytes_read);
  releases_.push_back(std::move(release));
}

absl::Status LocalBlockLeaser::Cache(const proto::CacheBlockRequest& request) {
  return worker_->CacheBlock(request).status();
}

void LocalBlockLeaser::Flush() {
  for (auto& [block_id, grant] : ahead_) Release(grant.lease.lease_id(), 0);
  ahead_.clear();
  while (!releases_.empty()) {
    proto::ReleaseLocalBlockRequest request = std::move(releases_.back());
    releases_.pop_back();
    while (!releases_.empty() && request.more_size() < rpc::kMaxLocalBlockReleasesPerCall) {
      *request.add_more() = std::move(releases_.back());
      releases_.pop_back();
    }
    // Best effort: an unreleased lease expires on its own (its bytes then go uncounted).
    worker_->ReleaseLocalBlocks(request).IgnoreError();
  }
}

// ---------------------------------------------------------------------------------------------
// LocalBlockFile

LocalBlockFile::LocalBlockFile(LocalBlockLeaser* leaser, uint64_t block_id, int64_t length,
                               const proto::BlockCapability& capability)
    : leaser_(leaser), block_id_(block_id), length_(length), capability_(capability) {}

LocalBlockFile::~LocalBlockFile() { Close(); }

absl::StatusOr<std::unique_ptr<LocalBlockFile>> LocalBlockFile::Open(LocalBlockLeaser* leaser, uint64_t block_id,
                                                                     int64_t length,
                                                                     const proto::BlockCapability& capability,
                                                                     const std::vector<uint64_t>& ahead) {
  std::unique_ptr<LocalBlockFile> file(new LocalBlockFile(leaser, block_id, length, capability));
  CISTERN_RETURN_IF_ERROR(file->Lease(/*renewal=*/false, ahead));
  return file;
}

absl::StatusOr<std::unique_ptr<LocalBlockFile>> LocalBlockFile::CacheAndOpen(LocalBlockLeaser* leaser,
                                                                             const proto::CacheBlockRequest& request,
                                                                             int64_t length,
                                                                             const std::vector<uint64_t>& ahead) {
  CISTERN_RETURN_IF_ERROR(leaser->Cache(request));
  // The block may be evicted between the two calls; Open then fails with NOT_FOUND.
  return Open(leaser, request.block_id(), length, request.capability(), ahead);
}

void LocalBlockFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (lease_id_ != 0) leaser_->Release(lease_id_, bytes_read_);
  lease_id_ = 0;
  bytes_read_ = 0;
}

absl::Status LocalBlockFile::Lease(bool renewal, const std::vector<uint64_t>& ahead) {
  CISTERN_ASSIGN_OR_RETURN(LocalBlockLeaser::Grant grant, leaser_->Lease(block_id_, ahead, renewal, capability_));
  const proto::OpenLocalBlockResponse& lease = grant.lease;
  auto refuse = [&](std::string why) {
    leaser_->Release(lease.lease_id(), 0);
    return absl::FailedPreconditionError(absl::StrCat("short-circuit read of block ", block_id_, " from ", lease.path(),
                                                      ": ", why));
  };
  if (lease.length() != length_) {
    return refuse(absl::StrCat("the worker's block has ", lease.length(), " bytes, the file's ", length_));
  }
  const int fd = ::open(lease.path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return refuse(std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_dev) != lease.device() ||
      static_cast<uint64_t>(st.st_ino) != lease.inode() || st.st_size != length_) {
    ::close(fd);
    return refuse("not the worker's file (another host or mount namespace?)");
  }
  Close();
  fd_ = fd;
  lease_id_ = lease.lease_id();
  renew_at_mono_ms_ = grant.renew_at_mono_ms;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> LocalBlockFile::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id_, ": bad read offset ", offset, " or length ", n));
  }
  if (!corrupt_.ok()) return corrupt_;
  const int64_t now_ms = RealClock()->MonotonicMs();
  if (now_ms >= renew_at_mono_ms_) {
    absl::Status renewed = Lease(/*renewal=*/true, {});
    if (absl::IsDataLoss(renewed)) {
      // The worker checked the block again and dropped it: the open file is no longer trusted.
      corrupt_ = renewed;
      return corrupt_;
    }
    // Otherwise renewing is best effort (the open file stays readable without a lease); try
    // again later.
    if (!renewed.ok()) renew_at_mono_ms_ = now_ms + 1000;
  }
  n = std::min(n, length_ - offset);
  int64_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, buf + done, static_cast<size_t>(n - done), offset + done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat("short-circuit read of block ", block_id_, ": ", std::strerror(errno)));
    }
    if (r == 0) {
      return absl::DataLossError(absl::StrCat("short-circuit read of block ", block_id_, ": file ends at ",
                                              offset + done, " of ", length_, " bytes"));
    }
    done += r;
  }
  bytes_read_ += done;
  return done;
}

}  // namespace cistern::client
