// Block ids derive from their file: (inode id << 24) | block index, so a file has at most
// 2^24 blocks and a block id names its file without a lookup.
#pragma once

#include <cstdint>

namespace cistern {

inline constexpr int kBlockIndexBits = 24;
inline constexpr uint64_t kMaxBlocksPerFile = uint64_t{1} << kBlockIndexBits;

constexpr uint64_t MakeBlockId(uint64_t file_id, uint64_t index) {
  return (file_id << kBlockIndexBits) | index;
}
constexpr uint64_t BlockFileId(uint64_t block_id) { return block_id >> kBlockIndexBits; }
constexpr uint64_t BlockIndex(uint64_t block_id) { return block_id & (kMaxBlocksPerFile - 1); }

}  // namespace cistern
