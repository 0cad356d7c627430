#include "client/file_writer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/convert.h"
#include "common/block_id.h"
#include "common/clock.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"

namespace cistern::client {
namespace {

// Failures another worker may not have: the worker or the path to it failed, or it had no room.
bool IsWorkerFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

// Writes `bytes` to `stream` in messages of at most `chunk` bytes.
template <typename Stream>
absl::Status WriteInChunks(Stream* stream, std::string_view bytes, int64_t chunk) {
  for (size_t at = 0; at < bytes.size(); at += static_cast<size_t>(chunk)) {
    CISTERN_RETURN_IF_ERROR(stream->Write(bytes.substr(at, static_cast<size_t>(chunk))));
  }
  return absl::OkStatus();
}

}  // namespace

FileWriterImpl::FileWriterImpl(FileSystemImpl* fs, const proto::FileInfo& info, WriteType write_type, uint32_t mode)
    : fs_(fs), file_id_(info.file_id()), write_type_(write_type), mode_(mode), ufs_path_(info.ufs_path()),
      status_(ToFileStatus(info)), capability_(info.capability()), splitter_(info.block_size_bytes(), fs->options().chunk_size_bytes) {
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
  return Retrying(
      &ufs_stream_, ufs_worker_, [&] { return OpenUfsStream(); }, [] { return absl::OkStatus(); }, /*repeat=*/false);
}

absl::Status FileWriterImpl::Fail(absl::Status status) {
  failed_ = true;
  // Abort at once rather than when the caller gets to it, so the incomplete file disappears
  // from the namespace and the worker drops its uncommitted streams.
  Abort();
  return Annotate(status, absl::StrCat("writing ", status_.path));
}

bool FileWriterImpl::ShouldRetry(const absl::Status& error, uint64_t failed) {
  if (failed == 0 || !IsWorkerFailure(error) || fs_->options().write_retry_buffer_bytes <= 0) return false;
  if (std::find(failed_workers_.begin(), failed_workers_.end(), failed) == failed_workers_.end()) {
    failed_workers_.push_back(failed);
  }
  fs_->Selector(/*refresh=*/true).IgnoreError();
  const int64_t now_ms = RealClock()->MonotonicMs();
  if (retry_deadline_ms_ == 0) {
    retry_deadline_ms_ = now_ms + fs_->options().retry_window_ms;
  } else if (now_ms > retry_deadline_ms_) {
    return false;
  }
  spdlog::warn("writing {}: worker {} failed ({}); retrying on another worker", status_.path, failed, error.ToString());
  return true;
}

void FileWriterImpl::Keep(Replay* replay, std::string_view chunk) {
  replay->length += static_cast<int64_t>(chunk.size());
  if (!replay->complete) return;
  if (replay->length > fs_->options().write_retry_buffer_bytes) {
    replay->complete = false;
    std::string().swap(replay->bytes);
    return;
  }
  replay->bytes.append(chunk);
}

absl::StatusOr<std::string_view> FileWriterImpl::Replayable(const Replay& replay, std::string_view what) const {
  if (replay.complete) return std::string_view(replay.bytes);
  if (replay.length == static_cast<int64_t>(chunk_.size())) return chunk_;  // nothing before this chunk
  return absl::FailedPreconditionError(absl::StrCat(
      std::string(what), " cannot be written again: more of it was written than the retry buffer keeps (",
      FormatBytes(fs_->options().write_retry_buffer_bytes), ", user.file.write.retry_buffer)"));
}

template <typename Stream>
absl::Status FileWriterImpl::Retrying(std::unique_ptr<Stream>* stream, const WorkerEndpoint& worker,
                                      const std::function<absl::Status()>& open,
                                      const std::function<absl::Status()>& step, bool repeat) {
  while (true) {
    bool opened = false;
    absl::Status status;
    if (*stream == nullptr) {
      status = open();
      opened = true;
    }
    if (status.ok() && (!opened || repeat)) status = step();
    if (status.ok()) return status;
    const uint64_t failed = worker.worker_id;
    stream->reset();  // cancels it: the worker drops what it received
    if (!ShouldRetry(status, failed)) return status;
  }
}

absl::StatusOr<WorkerEndpoint> FileWriterImpl::PickWorker(uint64_t key) {
  CISTERN_ASSIGN_OR_RETURN(auto selector, fs_->Selector(/*refresh=*/false));
  absl::StatusOr<WorkerEndpoint> worker = selector->ForKey(key, failed_workers_);
  if (worker.ok() || failed_workers_.empty()) return worker;
  // Every live worker failed this writer: ask them again after a pause (one may have been
  // restarted, or the failure was passing); ShouldRetry's deadline bounds how long.
  absl::SleepFor(absl::Milliseconds(200));
  CISTERN_ASSIGN_OR_RETURN(selector, fs_->Selector(/*refresh=*/true));
  return selector->ForKey(key);
}

absl::Status FileWriterImpl::RenewCapabilityIfNearExpiry() {
  // Renew within the last 30 s (or sooner when its whole lifetime is shorter): enough for a
  // stream to open on a loaded host with its clock a little ahead of the worker's.
  constexpr int64_t kMarginMs = 30'000;
  if (capability_.mac().empty() || RealClock()->NowMs() + kMarginMs < capability_.expiry_ms()) return absl::OkStatus();
  proto::GetStatusRequest request;
  request.set_path(status_.path);
  request.set_for_write(true);
  absl::StatusOr<proto::GetStatusResponse> response = fs_->master().GetStatus(request);
  if (!response.ok()) return Annotate(response.status(), absl::StrCat("renew the write capability of ", status_.path));
  if (response->info().file_id() != file_id_) {
    return absl::NotFoundError(absl::StrCat(status_.path, " was replaced while it was being written"));
  }
  if (!response->info().has_capability()) {
    return absl::PermissionDeniedError(absl::StrCat("the master gave no fresh write capability for ", status_.path));
  }
  capability_ = response->info().capability();
  return absl::OkStatus();
}

absl::Status FileWriterImpl::OpenBlockStream(int64_t index) {
  block_worker_ = WorkerEndpoint();
  CISTERN_ASSIGN_OR_RETURN(std::string_view replay, Replayable(block_bytes_, absl::StrCat("block ", index)));
  const uint64_t block_id = MakeBlockId(file_id_, static_cast<uint64_t>(index));
  CISTERN_ASSIGN_OR_RETURN(block_worker_, PickWorker(block_id));
  proto::WriteBlockHeader header;
  header.set_block_id(block_id);
  header.set_length_hint(0);
  // Until persisted, the cached blocks of an ASYNC_THROUGH file are its only copy.
  header.set_protect(write_type_ == WriteType::kAsyncThrough);
  CISTERN_RETURN_IF_ERROR(RenewCapabilityIfNearExpiry());
  if (!capability_.mac().empty()) *header.mutable_capability() = capability_;
  CISTERN_ASSIGN_OR_RETURN(block_stream_, fs_->Worker(block_worker_.address)->OpenBlockWriter(header));
  return WriteInChunks(block_stream_.get(), replay, fs_->options().chunk_size_bytes);
}

absl::Status FileWriterImpl::ReplayCommittedBlocks(rpc::UfsFileWriteStream* stream) {
  std::string buffer(static_cast<size_t>(fs_->options().chunk_size_bytes), '\0');
  for (const CommittedBlock& block : committed_) {
    CISTERN_RETURN_IF_ERROR(RenewCapabilityIfNearExpiry());
    proto::ReadBlockRequest request;
    request.set_block_id(MakeBlockId(file_id_, static_cast<uint64_t>(block.index)));
    request.set_offset(0);
    request.set_length(-1);
    request.set_chunk_size_bytes(static_cast<int32_t>(fs_->options().chunk_size_bytes));
    // The WRITE capability lets its holder read back the cached blocks it wrote (BlockAccess).
    if (!capability_.mac().empty()) *request.mutable_capability() = capability_;
    std::unique_ptr<rpc::BlockReadStream> reader = fs_->Worker(block.worker.address)->OpenBlockReader(request);
    int64_t copied = 0;
    while (true) {
      absl::StatusOr<int64_t> n = reader->Read(buffer.data(), static_cast<int64_t>(buffer.size()));
      if (!n.ok()) {
        // The only copy of a committed block is gone: the under-store copy cannot be made.
        return absl::DataLossError(absl::StrCat("block ", block.index, ", committed on worker ", block.worker.address,
                                                ", cannot be read back for the under-store copy: ",
                                                n.status().message()));
      }
      if (*n == 0) break;
      CISTERN_RETURN_IF_ERROR(stream->Write(std::string_view(buffer.data(), static_cast<size_t>(*n))));
      copied += *n;
    }
    if (copied != block.length) {
      return absl::DataLossError(absl::StrCat("block ", block.index, " read back from worker ", block.worker.address,
                                              " has ", copied, " bytes, ", block.length, " were committed"));
    }
  }
  return absl::OkStatus();
}

absl::Status FileWriterImpl::OpenUfsStream() {
  ufs_worker_ = WorkerEndpoint();
  // Everything written so far: the file as kept while it fits the retry buffer, else (for
  // CACHE_THROUGH) the committed blocks read back from their workers and the block being
  // written.
  const bool read_back = write_type_ == WriteType::kCacheThrough && !file_bytes_.complete;
  const Replay& kept = read_back ? block_bytes_ : file_bytes_;
  CISTERN_ASSIGN_OR_RETURN(std::string_view replay, Replayable(kept, "the under-store copy"));
  CISTERN_ASSIGN_OR_RETURN(ufs_worker_, PickWorker(file_id_));
  proto::WriteUfsFileHeader header;
  header.set_ufs_path(ufs_path_);
  header.set_mount_id(status_.mount_id);
  header.set_overwrite(true);
  header.set_mode(mode_);
  CISTERN_RETURN_IF_ERROR(RenewCapabilityIfNearExpiry());
  if (!capability_.mac().empty()) *header.mutable_capability() = capability_;
  CISTERN_ASSIGN_OR_RETURN(ufs_stream_, fs_->Worker(ufs_worker_.address)->OpenUfsFileWriter(header));
  if (read_back) CISTERN_RETURN_IF_ERROR(ReplayCommittedBlocks(ufs_stream_.get()));
  return WriteInChunks(ufs_stream_.get(), replay, fs_->options().chunk_size_bytes);
}

absl::Status FileWriterImpl::OnChunk(int64_t index, std::string_view chunk) {
  chunk_ = chunk;
  if (writes_ufs()) Keep(&file_bytes_, chunk);
  if (writes_cache()) {
    Keep(&block_bytes_, chunk);
    CISTERN_RETURN_IF_ERROR(Retrying(
        &block_stream_, block_worker_, [&] { return OpenBlockStream(index); },
        [&] { return block_stream_->Write(chunk); }, /*repeat=*/false));
  }
  if (writes_ufs()) {
    CISTERN_RETURN_IF_ERROR(Retrying(
        &ufs_stream_, ufs_worker_, [&] { return OpenUfsStream(); }, [&] { return ufs_stream_->Write(chunk); },
        /*repeat=*/false));
  }
  chunk_ = {};
  return absl::OkStatus();
}

absl::Status FileWriterImpl::OnBlockEnd(int64_t index, int64_t length) {
  if (!writes_cache()) return absl::OkStatus();
  CISTERN_RETURN_IF_ERROR(Retrying(
      &block_stream_, block_worker_, [&] { return OpenBlockStream(index); },
      [&]() -> absl::Status {
        absl::StatusOr<proto::WriteBlockResponse> response = block_stream_->Commit();
        if (!response.ok()) return response.status();
        if (response->length() != length) {
          return absl::DataLossError(absl::StrCat("worker ", block_worker_.address, " committed ", response->length(),
                                                  " bytes of block ", MakeBlockId(file_id_, index), ", sent ", length));
        }
        return absl::OkStatus();
      },
      /*repeat=*/true));
  block_stream_.reset();
  committed_.push_back(CommittedBlock{index, length, block_worker_});
  block_bytes_ = Replay();
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
  if (writes_ufs()) {
    proto::WriteUfsFileResponse committed;
    status = Retrying(
        &ufs_stream_, ufs_worker_, [&] { return OpenUfsStream(); },
        [&]() -> absl::Status {
          absl::StatusOr<proto::WriteUfsFileResponse> ufs = ufs_stream_->Commit();
          if (!ufs.ok()) return ufs.status();
          if (ufs->length() != splitter_.length()) {
            return absl::DataLossError(absl::StrCat("under-store copy ", ufs_path_, " has ", ufs->length(),
                                                    " bytes, wrote ", splitter_.length()));
          }
          committed = *std::move(ufs);
          return absl::OkStatus();
        },
        /*repeat=*/true);
    ufs_stream_.reset();
    if (!status.ok()) return Fail(status);
    *request.mutable_ufs_fingerprint() = committed.fingerprint();
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
