// Block checksums and the small metadata file stored beside every cached block.
//
// A cached block is two files in its tier directory: `<id>` (16 lowercase hex digits) holding
// exactly the block's bytes, and `<id>.meta` holding a fixed 32-byte record:
//
//   offset  size  field (little-endian)
//        0     4  magic "CSBM"
//        4     4  format version, 1
//        8     8  block length in bytes (int64)
//       16     8  XXH64 (seed 0) of the block's bytes
//       24     8  XXH64 (seed 0) of bytes [0, 24) of this record
//
// The trailing self-checksum tells a torn or scribbled record from a valid one. docs/formats.md
// ("Worker block files") is the reference for this layout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cistern::worker {

inline constexpr size_t kBlockMetaBytes = 32;
inline constexpr std::string_view kBlockMetaSuffix = ".meta";

struct BlockMeta {
  int64_t length = 0;
  uint64_t checksum = 0;  // XXH64 of the block's bytes
};

std::string EncodeBlockMeta(const BlockMeta& meta);
// DATA_LOSS when `record` is not a valid record (wrong size, magic, version or self-checksum).
absl::StatusOr<BlockMeta> DecodeBlockMeta(std::string_view record);

// "000000000000002a" for 42: the block's file name.
std::string BlockFileName(uint64_t block_id);
// Inverse of BlockFileName; false for names that are not exactly 16 lowercase hex digits or
// name block 0.
bool ParseBlockFileName(std::string_view name, uint64_t* block_id);
// "000000000000002a.meta" <-> 42, with the same rules.
std::string BlockMetaFileName(uint64_t block_id);
bool ParseBlockMetaFileName(std::string_view name, uint64_t* block_id);

// Streaming XXH64. Not thread-safe.
class BlockHasher {
 public:
  BlockHasher();
  ~BlockHasher();
  BlockHasher(const BlockHasher&) = delete;
  BlockHasher& operator=(const BlockHasher&) = delete;

  void Update(std::string_view data);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

uint64_t HashBytes(std::string_view data);

// Hashes the first `length` bytes of the open file `fd` (pread, so the offset is untouched).
// DATA_LOSS if the file is shorter; `path` names the file in errors.
absl::StatusOr<uint64_t> HashFile(int fd, int64_t length, const std::string& path);

}  // namespace cistern::worker
