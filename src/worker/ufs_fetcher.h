// Read-through from under-stores.
//
// UfsRegistry keeps one UnderFileSystem per store root ("scheme://authority"), created on first
// use. UfsBlockFetcher reads whole blocks from their under-store into the BlockStore with
// single-flight: concurrent fetches of the same block share one under-store read; the caller
// that performed it gets the bytes, the others then read the cached block (or, if it could not
// be cached, the same bytes).
//
// Counters: worker.blocks_read.ufs (+1 per block read from an under-store) and
// worker.bytes_read.ufs_bytes (bytes read from under-stores).
//
// Thread safety: both classes are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ufs/under_file_system.h"
#include "worker/block_store.h"

namespace cistern {
class Counter;
}

namespace cistern::worker {

class UfsRegistry {
 public:
  // The adapter for `uri`'s store. The pointer stays valid for the registry's lifetime.
  absl::StatusOr<ufs::UnderFileSystem*> Get(std::string_view uri);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<ufs::UnderFileSystem>, std::less<>> stores_ ABSL_GUARDED_BY(mu_);
};

// Where a block's bytes live in its under-store.
struct UfsBlockSource {
  std::string ufs_path;  // full URI of the file
  int64_t offset_in_file = 0;
  int64_t block_length = 0;
};

// What a fetch produced: exactly one of the two is set.
struct FetchedBlock {
  std::unique_ptr<BlockReader> cached;         // the block is in the cache (pinned)
  std::shared_ptr<const std::string> data;     // the whole block as read from the under-store
};

class UfsBlockFetcher {
 public:
  // `store` and `registry` must outlive the fetcher.
  UfsBlockFetcher(BlockStore* store, UfsRegistry* registry);

  // Makes block `block_id` available, reading it from `source` unless it is cached or being
  // fetched by another caller. REQUIRES: source.block_length > 0, source.offset_in_file >= 0.
  absl::StatusOr<FetchedBlock> Fetch(uint64_t block_id, const UfsBlockSource& source);

  // Reads [offset, offset + length) of the block straight from the under-store without caching
  // it, passing chunks of at most `chunk_bytes` to `sink` (stops at its first error).
  absl::Status ReadUncached(uint64_t block_id, const UfsBlockSource& source, int64_t offset, int64_t length,
                            int64_t chunk_bytes, const std::function<absl::Status(std::string_view)>& sink);

 private:
  struct Flight;

  absl::StatusOr<std::shared_ptr<const std::string>> ReadWholeBlock(uint64_t block_id, const UfsBlockSource& source);
  void CacheBlock(uint64_t block_id, const std::string& data);

  BlockStore* const store_;
  UfsRegistry* const registry_;
  Counter* const blocks_read_ufs_;
  Counter* const bytes_read_ufs_;

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::worker
