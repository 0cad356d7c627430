// Private to block_store*.cc: the in-memory record of one committed block.
#pragma once

#include <cstdint>

#include "worker/eviction_policy.h"
#include "worker/storage_dir.h"

namespace cistern::worker::internal {

// One committed block. The constants never change (a moved block gets a new entry); the other
// fields are guarded by BlockStore::mu_.
struct BlockEntry {
  BlockEntry(uint64_t id, int64_t len, uint64_t sum, StorageDir* d)
      : block_id(id), length(len), checksum(sum), dir(d) {}
  const uint64_t block_id;
  const int64_t length;
  const uint64_t checksum;
  StorageDir* const dir;
  int readers = 0;        // open BlockReaders, plus a move in progress
  int location_holds = 0;  // readers that keep the block where it is (short-circuit leases)
  bool attached = true;   // still in the index (not removed, evicted, moved or replaced)
  bool moving = false;    // claimed by a move or an eviction pass
  bool verified = false;  // checksum known good since this process started
  AccessStats stats;
};

}  // namespace cistern::worker::internal
