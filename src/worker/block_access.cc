#include "worker/block_access.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/block_id.h"
#include "common/status.h"

namespace cistern::worker {

absl::Status BlockAccess::CheckBlockRead(const char* verb, uint64_t block_id, const proto::BlockCapability& cap,
                                         const proto::UfsBlockSource* source) const {
  CISTERN_RETURN_IF_ERROR_CONTEXT(
      capabilities_->Verify(cap, BlockFileId(block_id), proto::BLOCK_READ, clock_->NowMs()),
      absl::StrCat(verb, " ", block_id));
  const int64_t block_size = cap.block_size_bytes();
  const int64_t offset = static_cast<int64_t>(BlockIndex(block_id)) * block_size;
  if (block_size <= 0 || offset >= cap.file_length()) {
    return absl::PermissionDeniedError(absl::StrCat(verb, " ", block_id, ": the capability's file (",
                                                    cap.file_length(), " bytes) has no such block"));
  }
  if (source == nullptr) return absl::OkStatus();
  const int64_t length = std::min(block_size, cap.file_length() - offset);
  if (source->ufs_path() != cap.ufs_path() || source->mount_id() != cap.mount_id() ||
      source->offset_in_file() != offset || source->block_length() != length) {
    return absl::PermissionDeniedError(absl::StrCat(
        verb, " ", block_id, ": the under-store source (", source->ufs_path(), " mount ", source->mount_id(),
        " offset ", source->offset_in_file(), " length ", source->block_length(),
        ") is not this block of the file the capability names (", cap.ufs_path(), " mount ", cap.mount_id(),
        " offset ", offset, " length ", length, ")"));
  }
  return absl::OkStatus();
}

absl::Status BlockAccess::CheckRead(const proto::ReadBlockRequest& request, const security::Caller& caller) const {
  if (!enabled() || caller.daemon) return absl::OkStatus();
  if (request.capability().access() == proto::BLOCK_WRITE && !request.has_ufs()) {
    // A writer reading back a cached block of the file it is writing (to replay it into the
    // under-store copy after a worker failed): the bytes are its own.
    return Annotate(capabilities_->Verify(request.capability(), BlockFileId(request.block_id()), proto::BLOCK_WRITE,
                                          clock_->NowMs()),
                    absl::StrCat("ReadBlock ", request.block_id()));
  }
  return CheckBlockRead("ReadBlock", request.block_id(), request.capability(),
                        request.has_ufs() ? &request.ufs() : nullptr);
}

absl::Status BlockAccess::CheckOpenLocal(const proto::OpenLocalBlockRequest& request,
                                         const security::Caller& caller) const {
  if (!enabled() || caller.daemon) return absl::OkStatus();
  CISTERN_RETURN_IF_ERROR(CheckBlockRead("OpenLocalBlock", request.block_id(), request.capability(), nullptr));
  // The blocks leased ahead in the same call need the same right: one capability names one file,
  // so it cannot lease another file's blocks this way.
  for (uint64_t block_id : request.also_block_ids()) {
    CISTERN_RETURN_IF_ERROR(CheckBlockRead("OpenLocalBlock", block_id, request.capability(), nullptr));
  }
  return absl::OkStatus();
}

absl::Status BlockAccess::CheckCache(const proto::CacheBlockRequest& request, const security::Caller& caller) const {
  if (!enabled() || caller.daemon) return absl::OkStatus();
  // Always with the source: a capability for one file must not load another file's bytes under
  // this block id.
  return CheckBlockRead("CacheBlock", request.block_id(), request.capability(), &request.ufs());
}

absl::Status BlockAccess::CheckReadAhead(const char* verb, const proto::ReadAheadBlock& block,
                                         const proto::BlockCapability& capability,
                                         const security::Caller& caller) const {
  if (!enabled() || caller.daemon) return absl::OkStatus();
  return CheckBlockRead(verb, block.block_id(), capability, &block.ufs());
}

absl::StatusOr<int64_t> BlockAccess::CheckWrite(const proto::WriteBlockHeader& header, int64_t max_block_bytes) const {
  if (!enabled()) return max_block_bytes;
  const uint64_t block_id = header.block_id();
  const proto::BlockCapability& cap = header.capability();
  CISTERN_RETURN_IF_ERROR_CONTEXT(
      capabilities_->Verify(cap, BlockFileId(block_id), proto::BLOCK_WRITE, clock_->NowMs()),
      absl::StrCat("WriteBlock ", block_id));
  const int64_t limit = std::min(max_block_bytes, cap.block_size_bytes());
  if (header.length_hint() > limit) {
    return absl::PermissionDeniedError(absl::StrCat("WriteBlock ", block_id, ": ", header.length_hint(),
                                                    " bytes exceed the file's block size ", limit));
  }
  return limit;
}

absl::Status BlockAccess::CheckUfsWrite(const proto::WriteUfsFileHeader& header) const {
  if (!enabled()) return absl::OkStatus();
  const proto::BlockCapability& cap = header.capability();
  CISTERN_RETURN_IF_ERROR_CONTEXT(
      capabilities_->Verify(cap, cap.file_id(), proto::BLOCK_WRITE, clock_->NowMs()),
      absl::StrCat("WriteUfsFile ", header.ufs_path()));
  if (cap.ufs_path().empty() || header.ufs_path() != cap.ufs_path() || header.mount_id() != cap.mount_id()) {
    return absl::PermissionDeniedError(absl::StrCat("WriteUfsFile ", header.ufs_path(), " (mount ", header.mount_id(),
                                                    "): the capability is for ", cap.ufs_path(), " (mount ",
                                                    cap.mount_id(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace cistern::worker
