// Read-through from under-stores.
//
// UfsRegistry keeps the under-store adapters: one per mount, made with that mount's options
// (endpoint, region, credentials, ...) from the mount table the master sends (SetMounts), and
// for URIs under no known mount one per store root ("scheme://authority") without options.
// Adapters are created on first use and live as long as the registry.
//
// UfsBlockFetcher brings missing blocks into the BlockStore. Fetch returns either the cached
// block or a StreamingBlock: a view of the block as it arrives from the under-store, so a reader
// is served bytes as soon as they are read, not after the whole block. Concurrent fetches of one
// block share one under-store read (single-flight). The read runs on one of
// `max_concurrent_fetches` fetch threads (further fetches queue), reads the whole block
// sequentially into memory and into a BlockWriter, and commits it to the cache at the end. If
// every reader lets go before the end, the fetch goes on and caches the whole block when
// `cache_partial` is set, and stops (caching nothing) otherwise. A block that cannot be cached
// (no room) is still served from memory.
//
// ReadAhead starts a fetch nobody reads yet (sequential read-ahead of a file's next blocks): it
// is skipped when the block is cached or being fetched, or when `max_read_ahead_blocks`
// read-ahead fetches are queued or running already. It names the block it follows: while that
// block's fetch is still reading, the read-ahead waits for it and then runs on the same fetch
// thread, so a sequential reader's file is read as one stream (as a direct sequential read
// would), without the next block's reads competing with the block being sent; otherwise it is
// queued at once. It is an ordinary fetch otherwise: a reader asking for the block joins it
// (and a waiting one is queued at once), and it caches the whole block whatever its readers do
// (it was started to cache it), unless the fetcher is destroyed first.
//
// ReadUncached (NO_CACHE reads) bypasses the cache but takes a fetch slot too, so under-store
// reads in flight never exceed max_concurrent_fetches.
//
// Counters: cistern_worker_ufs_block_reads_total (+1 per whole block read from an under-store) and
// cistern_worker_ufs_read_bytes_total (bytes read from under-stores); single-flight:
// cistern_worker_ufs_fetches_total (fetches started) and cistern_worker_ufs_fetch_joins_total
// (readers served by a fetch another reader started); read-ahead:
// cistern_worker_ufs_read_ahead_fetches_total (read-ahead fetches started) and
// cistern_worker_ufs_read_ahead_skipped_total (not started: the read-ahead bound was reached).
//
// Thread safety: all classes are thread-safe, except that a StreamingBlock is used by one thread
// at a time. The fetcher's destructor fails queued fetches and joins its threads; StreamingBlocks
// must be destroyed before it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ufs/ufs_mounts.h"
#include "ufs/under_file_system.h"
#include "worker/block_store.h"

namespace cistern {
class Counter;
}

namespace cistern::worker {

class UfsRegistry {
 public:
  // The adapter for `uri`: that of mount `mount_id` if known, else of the mount `uri` is under
  // (longest prefix), else of its store root. The pointer stays valid for the registry's lifetime.
  absl::StatusOr<ufs::UnderFileSystem*> Get(std::string_view uri, uint64_t mount_id = 0);
  // Uses `store` for every URI under `root` ("scheme://authority"), e.g. a slow or failing fake.
  void SetForTest(std::string root, std::unique_ptr<ufs::UnderFileSystem> store);

  // Replaces the mount table. A mount whose URI or options changed gets a new adapter on next
  // use (the old one stays alive for readers that hold it).
  void SetMounts(uint64_t version, std::vector<ufs::UfsMount> mounts);
  // Version of the table last set; 0 = none yet.
  uint64_t mount_table_version() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<ufs::UnderFileSystem>, std::less<>> stores_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<ufs::UnderFileSystem>, std::less<>> overrides_ ABSL_GUARDED_BY(mu_);
  uint64_t mount_table_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ufs::UfsMount> mounts_ ABSL_GUARDED_BY(mu_);
  // Mount id -> the mount its adapter was made for, and the adapter.
  std::map<uint64_t, std::pair<ufs::UfsMount, ufs::UnderFileSystem*>> by_mount_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<ufs::UnderFileSystem>> mount_stores_ ABSL_GUARDED_BY(mu_);
};

// Where a block's bytes live in its under-store.
struct UfsBlockSource {
  std::string ufs_path;  // full URI of the file
  int64_t offset_in_file = 0;
  int64_t block_length = 0;
  uint64_t mount_id = 0;  // 0 = unknown (matched by ufs_path)
};

struct UfsFetcherOptions {
  int max_concurrent_fetches = 16;
  bool cache_partial = true;
  int64_t read_chunk_bytes = 4 << 20;  // granularity of under-store reads
  // Bytes of finished fetches' block buffers kept for the next fetches. A fresh block-sized
  // allocation is a new mapping whose every page the kernel faults in and zeroes, which cost
  // about a third of a fetch thread's time (BENCHMARKS.md); 0 = allocate every time.
  int64_t buffer_pool_bytes = 256 << 20;
  // Read-ahead fetches (ReadAhead) queued or running at once; more are skipped. Each holds one
  // block in memory while it runs. 0 = no read-ahead.
  int max_read_ahead_blocks = 4;
};

// Block-sized buffers reused across fetches (see UfsFetcherOptions::buffer_pool_bytes).
// Thread-safe.
class FetchBufferPool {
 public:
  struct Buffer {
    std::unique_ptr<char[]> data;
    int64_t capacity = 0;
  };
  explicit FetchBufferPool(int64_t max_bytes) : max_bytes_(max_bytes) {}
  // A kept buffer of at least `size` bytes (and at most twice that, so a small block does not
  // hold a big buffer), else a new one. Its contents are undefined.
  Buffer Take(int64_t size);
  // Keeps `buffer` unless that would exceed the pool's bytes (the oldest kept go first).
  void Give(Buffer buffer);
  // Bytes of the buffers kept now.
  int64_t kept_bytes() const;

 private:
  const int64_t max_bytes_;
  mutable absl::Mutex mu_;
  std::deque<Buffer> kept_ ABSL_GUARDED_BY(mu_);
  int64_t kept_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

class UfsBlockFetcher;

// A block being read from its under-store, as seen by one reader. Destroying it lets go of the
// fetch.
class StreamingBlock {
 public:
  ~StreamingBlock();
  StreamingBlock(const StreamingBlock&) = delete;
  StreamingBlock& operator=(const StreamingBlock&) = delete;

  uint64_t block_id() const;
  int64_t length() const;
  // Waits until the bytes at `offset` have arrived (or the fetch failed), then copies up to `n`
  // of the bytes available; 0 at the end of the block. `cancelled`, if given, is polled while
  // waiting: CANCELLED once it returns true.
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf, const std::function<bool()>& cancelled = {});
  // Like ReadAt, but returns a view of up to `n` arrived bytes instead of copying them. The view
  // stays valid while this StreamingBlock, or a KeepAlive() reference, exists.
  absl::StatusOr<std::string_view> Peek(int64_t offset, int64_t n, const std::function<bool()>& cancelled = {});
  // Keeps the block's bytes in memory (for views handed to gRPC, which may outlive this).
  std::shared_ptr<const void> KeepAlive() const { return flight_; }
  // Waits for the whole fetch and returns its outcome (for tests).
  absl::Status WaitForCompletion();

 private:
  friend class UfsBlockFetcher;
  struct Flight;
  StreamingBlock(UfsBlockFetcher* fetcher, std::shared_ptr<Flight> flight);

  UfsBlockFetcher* const fetcher_;
  const std::shared_ptr<Flight> flight_;
};

// What a fetch produced: exactly one of the two is set.
struct FetchedBlock {
  std::unique_ptr<BlockReader> cached;      // the block is in the cache (open, so not evictable)
  std::unique_ptr<StreamingBlock> streaming;  // the block is arriving from the under-store
};

class UfsBlockFetcher {
 public:
  // `store` and `registry` must outlive the fetcher.
  UfsBlockFetcher(BlockStore* store, UfsRegistry* registry, UfsFetcherOptions options = {});
  ~UfsBlockFetcher();

  // Makes block `block_id` available, reading it from `source` unless it is cached or being
  // fetched already. REQUIRES: source.block_length > 0, source.offset_in_file >= 0.
  absl::StatusOr<FetchedBlock> Fetch(uint64_t block_id, const UfsBlockSource& source);

  // Starts fetching `block_id` into the cache in the background after block `after` (see the
  // read-ahead rules above). Returns whether a fetch was started. REQUIRES: as Fetch.
  bool ReadAhead(uint64_t block_id, const UfsBlockSource& source, uint64_t after);

  // Reads [offset, offset + length) of the block straight from the under-store without caching
  // it, passing chunks of at most `chunk_bytes` to `sink` (stops at its first error).
  absl::Status ReadUncached(uint64_t block_id, const UfsBlockSource& source, int64_t offset, int64_t length,
                            int64_t chunk_bytes, const std::function<absl::Status(std::string_view)>& sink);

  // Fetches in progress or queued (for tests and metrics).
  int flights_in_progress() const;

 private:
  friend class StreamingBlock;
  using Flight = StreamingBlock::Flight;

  void FetchLoop();
  // Runs one fetch; returns the read-ahead fetch that waited for it to run next on this thread
  // (nullptr if none).
  std::shared_ptr<Flight> RunFlight(const std::shared_ptr<Flight>& flight);
  // Puts `flight` in the queue unless it is there or running already.
  void QueueLocked(const std::shared_ptr<Flight>& flight) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads [offset, offset + length) of the block in pieces of chunk_bytes, into `dest` if given
  // (else into a buffer of its own), and passes each piece to `sink`.
  absl::Status ReadRange(uint64_t block_id, const UfsBlockSource& source, int64_t offset, int64_t length,
                         int64_t chunk_bytes, char* dest, const std::function<absl::Status(std::string_view)>& sink);
  void Release(const std::shared_ptr<Flight>& flight);
  void AcquireSlot();
  void ReleaseSlot();

  BlockStore* const store_;
  UfsRegistry* const registry_;
  const UfsFetcherOptions options_;
  // Shared with the flights, whose buffers may outlive the fetcher in gRPC's hands.
  const std::shared_ptr<FetchBufferPool> buffers_;
  Counter* const blocks_read_ufs_;
  Counter* const bytes_read_ufs_;
  Counter* const fetches_started_;  // single-flight: one per under-store fetch of a block
  Counter* const fetch_joins_;      // readers that joined a fetch already in flight
  Counter* const read_ahead_started_;
  Counter* const read_ahead_skipped_;

  // Lock order: mu_ before a Flight's mutex before the store's.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Flight>> queue_ ABSL_GUARDED_BY(mu_);
  int read_ahead_in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // read-ahead flights queued or running
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex slots_mu_;
  int free_slots_ ABSL_GUARDED_BY(slots_mu_);

  std::vector<std::thread> threads_;
};

}  // namespace cistern::worker
