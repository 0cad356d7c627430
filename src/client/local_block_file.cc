#include "client/local_block_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status.h"

namespace cistern::client {

LocalBlockFile::LocalBlockFile(std::shared_ptr<rpc::WorkerClient> worker, uint64_t block_id, int64_t length,
                               proto::ReadType read_type, const proto::BlockCapability& capability)
    : worker_(std::move(worker)), block_id_(block_id), length_(length), read_type_(read_type),
      capability_(capability) {}

LocalBlockFile::~LocalBlockFile() { Close(); }

absl::StatusOr<std::unique_ptr<LocalBlockFile>> LocalBlockFile::Open(std::shared_ptr<rpc::WorkerClient> worker,
                                                                     uint64_t block_id, int64_t length,
                                                                     proto::ReadType read_type,
                                                                     const proto::BlockCapability& capability) {
  std::unique_ptr<LocalBlockFile> file(new LocalBlockFile(std::move(worker), block_id, length, read_type, capability));
  CISTERN_RETURN_IF_ERROR(file->Lease(/*renewal=*/false));
  return file;
}

void LocalBlockFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // Best effort: an unreleased lease expires on its own (its bytes then go uncounted).
  if (lease_id_ != 0) worker_->ReleaseLocalBlock(lease_id_, bytes_read_).IgnoreError();
  lease_id_ = 0;
  bytes_read_ = 0;
}

absl::Status LocalBlockFile::Lease(bool renewal) {
  const int64_t start_ms = RealClock()->MonotonicMs();
  proto::OpenLocalBlockRequest request;
  request.set_block_id(block_id_);
  request.set_read_type(read_type_);
  request.set_renewal(renewal);
  if (!capability_.mac().empty()) *request.mutable_capability() = capability_;
  CISTERN_ASSIGN_OR_RETURN(proto::OpenLocalBlockResponse lease, worker_->OpenLocalBlock(request));
  auto refuse = [&](std::string why) {
    worker_->ReleaseLocalBlock(lease.lease_id()).IgnoreError();
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
  renew_at_mono_ms_ = start_ms + lease.lease_ms() * 2 / 3;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> LocalBlockFile::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id_, ": bad read offset ", offset, " or length ", n));
  }
  if (!corrupt_.ok()) return corrupt_;
  const int64_t now_ms = RealClock()->MonotonicMs();
  if (now_ms >= renew_at_mono_ms_) {
    absl::Status renewed = Lease(/*renewal=*/true);
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
