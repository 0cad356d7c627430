#include "client/file_writer.h"

#include "absl/strings/str_cat.h"
#include "client/convert.h"
#include "common/block_id.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace cistern::client {

FileWriterImpl::FileWriterImpl(FileSystemImpl* fs, const proto::FileInfo& info, WriteType write_type, uint32_t mode)
    : fs_(fs), file_id_(info.file_id()), write_type_(write_type), mode_(mode), ufs_path_(info.ufs_path()),
      status_(ToFileStatus(info)), splitter_(info.block_size_bytes(), fs->options().chunk_size_bytes) {
  sink_.on_chunk = [this](int64_t index, std::string_view chunk) { return OnChunk(index, chunk); };
  sink_.on_block_end = [this](int64_t index, int64_t length) { return OnBlockEnd(index, length); };
}

FileWriterImpl::~FileWriterImpl() {
  if (!closed_) Abort();
}

absl::Status FileWriterImpl::Init() {
  if (!writes_ufs()) return absl::OkStatus();
  if (ufs_path_.empty()) {
    return absl::InternalError(absl::StrCat("master gave no under-store path for ", status_.path));
  }
  CISTERN_ASSIGN_OR_RETURN(auto selector, fs_->Selector(/*refresh=*/false));
  absl::StatusOr<WorkerEndpoint> worker = selector->ForKey(file_id_);
  if (!worker.ok()) return Annotate(worker.status(), absl::StrCat("writing ", status_.path));
  proto::WriteUfsFileHeader header;
  header.set_ufs_path(ufs_path_);
  header.set_mount_id(status_.mount_id);
  header.set_overwrite(true);
  header.set_mode(mode_);
  CISTERN_ASSIGN_OR_RETURN(ufs_stream_, fs_->Worker(worker->address)->OpenUfsFileWriter(header));
  return absl::OkStatus();
}

absl::Status FileWriterImpl::Fail(absl::Status status) {
  failed_ = true;
  // Abort at once rather than when the caller gets to it, so the incomplete file disappears
  // from the namespace and the worker drops its uncommitted streams.
  Abort();
  return Annotate(status, absl::StrCat("writing ", status_.path));
}

absl::Status FileWriterImpl::OnChunk(int64_t index, std::string_view chunk) {
  if (writes_cache()) {
    if (!block_stream_) {
      const uint64_t block_id = MakeBlockId(file_id_, index);
      CISTERN_ASSIGN_OR_RETURN(auto selector, fs_->Selector(/*refresh=*/false));
      CISTERN_ASSIGN_OR_RETURN(WorkerEndpoint worker, selector->ForKey(block_id));
      proto::WriteBlockHeader header;
      header.set_block_id(block_id);
      header.set_length_hint(0);
      // Until persisted, the cached blocks of an ASYNC_THROUGH file are its only copy.
      header.set_protect(write_type_ == WriteType::kAsyncThrough);
      absl::StatusOr<std::unique_ptr<rpc::BlockWriteStream>> stream = fs_->Worker(worker.address)->OpenBlockWriter(header);
      if (!stream.ok()) {
        fs_->Selector(/*refresh=*/true).IgnoreError();
        return stream.status();
      }
      block_stream_ = *std::move(stream);
      block_worker_ = worker.address;
    }
    CISTERN_RETURN_IF_ERROR(block_stream_->Write(chunk));
  }
  if (ufs_stream_) CISTERN_RETURN_IF_ERROR(ufs_stream_->Write(chunk));
  return absl::OkStatus();
}

absl::Status FileWriterImpl::OnBlockEnd(int64_t index, int64_t length) {
  if (!writes_cache()) return absl::OkStatus();
  if (!block_stream_) {
    return absl::InternalError(absl::StrCat("block ", index, " of ", status_.path, " ended without a stream"));
  }
  absl::StatusOr<proto::WriteBlockResponse> response = block_stream_->Commit();
  block_stream_.reset();
  if (!response.ok()) return response.status();
  if (response->length() != length) {
    return absl::DataLossError(absl::StrCat("worker ", block_worker_, " committed ", response->length(),
                                            " bytes of block ", MakeBlockId(file_id_, index), ", sent ", length));
  }
  return absl::OkStatus();
}

absl::Status FileWriterImpl::Write(std::string_view data) {
  if (closed_ || failed_) {
    return absl::FailedPreconditionError(absl::StrCat("writer of ", status_.path, " is closed or failed"));
  }
  absl::Status status = splitter_.Append(data, sink_);
  if (!status.ok()) return Fail(status);
  return absl::OkStatus();
}

absl::Status FileWriterImpl::Close() {
  if (closed_ || failed_) {
    return absl::FailedPreconditionError(absl::StrCat("writer of ", status_.path, " is closed or failed"));
  }
  absl::Status status = splitter_.Finish(sink_);
  if (!status.ok()) return Fail(status);
  proto::CompleteFileRequest request;
  request.set_file_id(file_id_);
  request.set_length(splitter_.length());
  if (ufs_stream_) {
    absl::StatusOr<proto::WriteUfsFileResponse> ufs = ufs_stream_->Commit();
    ufs_stream_.reset();
    if (!ufs.ok()) return Fail(ufs.status());
    if (ufs->length() != splitter_.length()) {
      return Fail(absl::DataLossError(absl::StrCat("under-store copy ", ufs_path_, " has ", ufs->length(),
                                                   " bytes, wrote ", splitter_.length())));
    }
    *request.mutable_ufs_fingerprint() = ufs->fingerprint();
  }
  absl::StatusOr<proto::CompleteFileResponse> response = fs_->master().CompleteFile(request);
  fs_->InvalidateMetadataCache();
  if (!response.ok()) return Fail(response.status());
  status_ = ToFileStatus(response->info());
  closed_ = true;
  return absl::OkStatus();
}

void FileWriterImpl::Abort() {
  if (closed_) return;
  closed_ = true;
  if (block_stream_) block_stream_->Cancel();
  if (ufs_stream_) ufs_stream_->Cancel();
  // Remove the incomplete file unless someone replaced it meanwhile. Committed blocks are freed
  // by the master once the file is gone.
  proto::GetStatusRequest get;
  get.set_path(status_.path);
  absl::StatusOr<proto::GetStatusResponse> current = fs_->master().GetStatus(get);
  fs_->InvalidateMetadataCache();
  if (current.ok() && current->info().file_id() == file_id_ && !current->info().completed()) {
    proto::DeleteRequest del;
    del.set_path(status_.path);
    absl::StatusOr<proto::DeleteResponse> deleted = fs_->master().Delete(del);
    if (!deleted.ok()) {
      spdlog::warn("could not remove incomplete file {}: {}", status_.path, deleted.status().ToString());
    }
  }
}

}  // namespace cistern::client
