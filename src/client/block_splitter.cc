#include "client/block_splitter.h"

#include <algorithm>

#include "common/status.h"

namespace cistern::client {

BlockSplitter::BlockSplitter(int64_t block_size, int64_t chunk_size)
    : block_size_(block_size), chunk_size_(std::min(chunk_size, block_size)) {}

absl::Status BlockSplitter::FlushChunk(const Sink& sink) {
  if (pending_.empty()) return absl::OkStatus();
  absl::Status status = sink.on_chunk(block_index_, pending_);
  pending_.clear();
  return status;
}

absl::Status BlockSplitter::Append(std::string_view data, const Sink& sink) {
  while (!data.empty()) {
    const int64_t room_in_block = block_size_ - block_bytes_;
    if (pending_.empty() && static_cast<int64_t>(data.size()) >= chunk_size_ && room_in_block >= chunk_size_) {
      // A whole chunk is at hand: pass it on without copying it into the buffer.
      CISTERN_RETURN_IF_ERROR(sink.on_chunk(block_index_, data.substr(0, chunk_size_)));
      data.remove_prefix(chunk_size_);
      block_bytes_ += chunk_size_;
      length_ += chunk_size_;
    } else {
      const int64_t n = std::min<int64_t>({static_cast<int64_t>(data.size()), room_in_block,
                                           chunk_size_ - static_cast<int64_t>(pending_.size())});
      pending_.append(data.substr(0, n));
      data.remove_prefix(n);
      block_bytes_ += n;
      length_ += n;
      if (static_cast<int64_t>(pending_.size()) == chunk_size_ || block_bytes_ == block_size_) {
        CISTERN_RETURN_IF_ERROR(FlushChunk(sink));
      }
    }
    if (block_bytes_ == block_size_) {
      CISTERN_RETURN_IF_ERROR(sink.on_block_end(block_index_, block_bytes_));
      ++block_index_;
      block_bytes_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status BlockSplitter::Finish(const Sink& sink) {
  CISTERN_RETURN_IF_ERROR(FlushChunk(sink));
  if (block_bytes_ > 0) {
    CISTERN_RETURN_IF_ERROR(sink.on_block_end(block_index_, block_bytes_));
    ++block_index_;
    block_bytes_ = 0;
  }
  return absl::OkStatus();
}

}  // namespace cistern::client
