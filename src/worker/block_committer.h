// BlockCommitter: how the worker tells the master about a block a client just wrote, before it
// acknowledges the write (so readers find the block at once). MasterSync implements it over
// the BlockMaster service; tests substitute a recording implementation.
//
// Thread safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace cistern::worker {

class BlockCommitter {
 public:
  virtual ~BlockCommitter() = default;
  virtual absl::Status CommitBlock(uint64_t block_id, int64_t length, std::string_view tier) = 0;
};

}  // namespace cistern::worker
