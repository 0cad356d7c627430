// Cuts the byte stream of a file being written into blocks of block_size bytes, and each block
// into chunks of at most chunk_size bytes (one stream message each). The writer forwards each
// chunk to the block's worker as soon as it is full, so it holds at most one chunk in memory.
//
// Pure (no I/O), so the block arithmetic is tested on its own. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cistern::client {

class BlockSplitter {
 public:
  struct Sink {
    // `chunk` is the next piece of block `index`; chunks of a block arrive in order, and every
    // chunk of block i arrives before any of block i+1.
    std::function<absl::Status(int64_t index, std::string_view chunk)> on_chunk;
    // Block `index` is complete with `length` bytes; called after its last chunk.
    std::function<absl::Status(int64_t index, int64_t length)> on_block_end;
  };

  // REQUIRES: block_size > 0, chunk_size > 0.
  BlockSplitter(int64_t block_size, int64_t chunk_size);

  // Takes `data`, emitting every chunk that fills up and every block that completes. Stops at
  // the first error of `sink`.
  absl::Status Append(std::string_view data, const Sink& sink);
  // Emits the buffered partial chunk and ends a partial last block. An empty file has no blocks.
  absl::Status Finish(const Sink& sink);

  int64_t length() const { return length_; }
  // Number of blocks the bytes so far occupy.
  int64_t block_count() const { return (length_ + block_size_ - 1) / block_size_; }

 private:
  absl::Status FlushChunk(const Sink& sink);

  const int64_t block_size_;
  const int64_t chunk_size_;
  std::string pending_;      // bytes of block_index_ not yet emitted
  int64_t block_index_ = 0;  // block the next byte belongs to
  int64_t block_bytes_ = 0;  // bytes of block_index_ taken so far (emitted + pending)
  int64_t length_ = 0;
};

}  // namespace cistern::client
