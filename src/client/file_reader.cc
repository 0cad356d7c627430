#include "client/file_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/convert.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace cistern::client {

std::vector<BlockStatus> FileBlocks(const FileStatus& status) {
  if (!status.blocks.empty()) return status.blocks;
  std::vector<BlockStatus> blocks;
  for (size_t i = 0; i < status.block_ids.size(); ++i) {
    BlockStatus b;
    b.block_id = status.block_ids[i];
    b.offset = static_cast<int64_t>(i) * status.block_size_bytes;
    b.length = std::min(status.block_size_bytes, status.length - b.offset);
    blocks.push_back(b);
  }
  return blocks;
}

FileReaderImpl::FileReaderImpl(FileSystemImpl* fs, FileStatus status, ReadType read_type)
    : fs_(fs), status_(std::move(status)), read_type_(read_type), blocks_(FileBlocks(status_)) {}

FileReaderImpl::~FileReaderImpl() { CloseStream(); }

void FileReaderImpl::CloseStream() {
  stream_.reader.reset();
  stream_pos_ = -1;
  chunk_.clear();
  chunk_offset_ = 0;
}

size_t FileReaderImpl::BlockAt(int64_t offset) const {
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), offset,
                             [](int64_t o, const BlockStatus& b) { return o < b.offset; });
  return it == blocks_.begin() ? 0 : static_cast<size_t>(it - blocks_.begin() - 1);
}

absl::StatusOr<FileReaderImpl::Stream> FileReaderImpl::OpenStream(size_t index, int64_t offset, int64_t length,
                                                                  const std::vector<uint64_t>& exclude, bool refresh) {
  const BlockStatus& block = blocks_[index];
  CISTERN_ASSIGN_OR_RETURN(auto selector, fs_->Selector(refresh));
  absl::StatusOr<WorkerEndpoint> worker = selector->ForBlock(block.block_id, block.locations, exclude);
  if (!worker.ok()) return Annotate(worker.status(), absl::StrCat("reading ", status_.path));
  proto::ReadBlockRequest request;
  request.set_block_id(block.block_id);
  request.set_offset(offset - block.offset);
  request.set_length(length);
  request.set_read_type(ToProto(read_type_));
  request.set_chunk_size_bytes(static_cast<int32_t>(fs_->options().chunk_size_bytes));
  // Only a persisted file has a complete under-store copy to read through from.
  if (status_.persistence_state == PersistenceState::kPersisted) {
    proto::UfsBlockSource* ufs = request.mutable_ufs();
    ufs->set_ufs_path(status_.ufs_path);
    ufs->set_offset_in_file(block.offset);
    ufs->set_block_length(block.length);
  }
  Stream stream;
  stream.reader = fs_->Worker(worker->address)->OpenBlockReader(request);
  stream.worker_id = worker->worker_id;
  return stream;
}

absl::StatusOr<int64_t> FileReaderImpl::Read(char* buf, int64_t n) {
  if (n <= 0 || pos_ >= status_.length) return 0;
  const size_t index = BlockAt(pos_);
  const BlockStatus& block = blocks_[index];
  const int64_t block_end = block.offset + block.length;
  if (stream_pos_ != pos_ || stream_block_ != index || !stream_.reader) {
    CloseStream();
    CISTERN_ASSIGN_OR_RETURN(stream_, OpenStream(index, pos_, -1, {}, /*refresh=*/false));
    stream_block_ = index;
    stream_pos_ = pos_;
    stream_retried_ = false;
  }
  int64_t copied = 0;
  while (copied < n && pos_ < block_end) {
    if (chunk_offset_ == chunk_.size()) {
      chunk_offset_ = 0;
      chunk_.clear();
      absl::StatusOr<bool> more = stream_.reader->Next(&chunk_);
      absl::Status error;
      if (!more.ok()) {
        error = more.status();
      } else if (!*more) {
        error = absl::DataLossError(absl::StrCat("block ", block.block_id, " of ", status_.path, " ended at offset ",
                                                 pos_ - block.offset, " of ", block.length));
      }
      if (!error.ok()) {
        chunk_.clear();
        if (CanRetry() && !stream_retried_) {
          spdlog::warn("reading {}: {}; retrying on another worker", status_.path, error.ToString());
          const uint64_t failed = stream_.worker_id;
          stream_.reader.reset();
          CISTERN_ASSIGN_OR_RETURN(stream_, OpenStream(index, pos_, -1, {failed}, /*refresh=*/true));
          stream_retried_ = true;
          continue;
        }
        CloseStream();
        fs_->Selector(/*refresh=*/true).IgnoreError();
        return error;
      }
      continue;
    }
    const int64_t take = std::min<int64_t>({n - copied, static_cast<int64_t>(chunk_.size() - chunk_offset_),
                                            block_end - pos_});
    std::memcpy(buf + copied, chunk_.data() + chunk_offset_, take);
    chunk_offset_ += take;
    copied += take;
    pos_ += take;
  }
  stream_pos_ = pos_;
  if (pos_ == block_end) {
    // Collect the end of the call so the worker sees a completed read, not a cancellation.
    std::string rest;
    absl::StatusOr<bool> more = stream_.reader->Next(&rest);
    if (more.ok() && *more) spdlog::warn("block {} of {}: worker sent more than the block", block.block_id, status_.path);
    CloseStream();
  }
  return copied;
}

absl::StatusOr<int64_t> FileReaderImpl::ReadAt(int64_t offset, char* buf, int64_t n) {
  if (offset < 0) return absl::InvalidArgumentError(absl::StrCat("negative read offset ", offset, " in ", status_.path));
  n = std::min(n, status_.length - offset);
  int64_t copied = 0;
  while (copied < n) {
    const int64_t at = offset + copied;
    const size_t index = BlockAt(at);
    const BlockStatus& block = blocks_[index];
    const int64_t want = std::min(n - copied, block.offset + block.length - at);
    std::vector<uint64_t> exclude;
    absl::Status error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      CISTERN_ASSIGN_OR_RETURN(Stream stream, OpenStream(index, at, want, exclude, /*refresh=*/attempt > 0));
      int64_t got = 0;
      std::string chunk;
      error = absl::OkStatus();
      while (true) {
        absl::StatusOr<bool> more = stream.reader->Next(&chunk);
        if (!more.ok()) {
          error = more.status();
          break;
        }
        if (!*more) break;
        const int64_t take = std::min<int64_t>(chunk.size(), want - got);
        std::memcpy(buf + copied + got, chunk.data(), take);
        got += take;
      }
      if (error.ok() && got != want) {
        error = absl::DataLossError(absl::StrCat("block ", block.block_id, " of ", status_.path, ": got ", got,
                                                 " bytes at offset ", at - block.offset, ", expected ", want));
      }
      if (error.ok() || !CanRetry()) break;
      exclude.push_back(stream.worker_id);
    }
    if (!error.ok()) {
      fs_->Selector(/*refresh=*/true).IgnoreError();
      return error;
    }
    copied += want;
  }
  return copied;
}

absl::Status FileReaderImpl::Seek(int64_t position) {
  if (position < 0 || position > status_.length) {
    return absl::OutOfRangeError(absl::StrCat("seek to ", position, " outside ", status_.path, " of length ",
                                              status_.length));
  }
  // The open stream stays usable if reading resumes where it stopped.
  pos_ = position;
  return absl::OkStatus();
}

}  // namespace cistern::client
