// BlockWorkerService: the gRPC adapter of the worker's BlockWorker service (proto/worker.proto).
//
//  * ReadBlock serves a range of a cached block (after moving it to a higher tier first for
//    CACHE_PROMOTE). On a miss with an under-store source it streams the block through
//    UfsBlockFetcher as it arrives (one under-store read for concurrent readers), which caches it
//    (NO_CACHE reads only the range, uncached); a miss without a source is NOT_FOUND. A cached
//    block that fails its checksum is dropped and read from the under-store when the request
//    names one, else the read fails with DATA_LOSS.
//  * WriteBlock caches a block: nothing is visible until commit; on commit the block is
//    published, reported through the BlockCommitter, and only then acknowledged. If the commit
//    to the master fails the block is dropped again.
//  * WriteUfsFile writes a whole under-store file, visible only on commit.
//  * GetMetrics returns the process counters, the worker id and tier usage.
//  * OpenLocalBlock / ReleaseLocalBlock lease cached block files to short-circuit readers on
//    this host (LocalBlockLeases), CACHE_PROMOTE moving the block up first. The lease is
//    granted on a reader opened like ReadBlock's, so the block passes the same checksum check
//    (a corrupt block is dropped, counted, and the call fails with DATA_LOSS).
//  * CacheBlock brings a block into the cache from its under-store without sending it
//    (`fs load`), sharing the read-through fetch of concurrent readers.
//  * ReadBlock and CacheBlock may name further blocks of the file to read ahead (a sequential
//    reader's next blocks): the worker starts fetching them into the cache in the background
//    (UfsBlockFetcher::ReadAhead), after the request's own block, so their under-store reads
//    overlap this block's transfer. NO_CACHE reads read nothing ahead. A CacheBlock with
//    read_ahead_only starts the read-ahead alone and returns at once (a reader's hint).
//  * With capabilities on (options.access), ReadBlock, WriteBlock, WriteUfsFile, OpenLocalBlock
//    and CacheBlock first check the request's block capability (worker/block_access.h):
//    PERMISSION_DENIED without one (daemons may ReadBlock and CacheBlock without).
//
// Counters: cistern_worker_cache_block_reads_total / cistern_worker_cache_read_bytes_total (per request served from
// the cache / bytes sent from it; a short-circuit lease counts as a block read when granted,
// not when renewed, and its bytes when the client releases it and reports them, also in
// cistern_worker_short_circuit_read_bytes_total; cistern_worker_short_circuit_lease_calls_total counts the
// OpenLocalBlock calls, which lease several blocks each for a sequential reader),
// cistern_worker_cache_written_bytes_total and
// cistern_worker_ufs_written_bytes_total (bytes of committed writes); the UFS read counters are kept
// by UfsBlockFetcher.
//
// Thread safety: thread-safe (gRPC calls handlers concurrently).
#pragma once

#include <cstdint>
#include <functional>

#include "cistern/proto/worker.grpc.pb.h"
#include "worker/block_access.h"
#include "worker/block_committer.h"
#include "worker/block_store.h"
#include "worker/ufs_fetcher.h"
#include "worker/ufs_write_records.h"

namespace cistern {
class Counter;
}

namespace cistern::worker {

class LocalBlockLeases;

struct BlockWorkerServiceOptions {
  // Chunk size of ReadBlock responses when the request leaves it 0.
  int64_t default_chunk_size_bytes = 1 << 20;
  // Returns the worker id the master assigned (0 = not yet registered).
  std::function<uint64_t()> worker_id = [] { return uint64_t{0}; };
  // Which block capabilities ReadBlock, WriteBlock and WriteUfsFile require (none by default).
  BlockAccess access;
  // Short-circuit leases (OpenLocalBlock); null = short-circuit reads switched off. Must
  // outlive the service.
  LocalBlockLeases* leases = nullptr;
  // Where WriteUfsFile records its writes in progress, so that the temporary files of writes a
  // kill interrupts are deleted at the next start; null = not recorded. Must outlive the service.
  UfsWriteRecords* ufs_write_records = nullptr;
  // Sends ranges of 256 KiB or more of cached blocks on a memory file system (a MEM tier on
  // tmpfs) from a read-only mapping of the block file instead of reading each chunk into a
  // buffer first: the kernel copies the bytes from the page cache into the socket, one copy
  // fewer per byte (BENCHMARKS.md, "Warm and short-circuit reads"). Only for plaintext servers:
  // the kernel's copy of a page past the end of a file truncated behind the worker's back fails
  // the connection, while TLS, which reads the bytes in this process, would take a SIGBUS.
  bool send_mapped_blocks = true;
  // Bytes of a block mapped at a time by send_mapped_blocks (rounded down to whole chunks, at
  // least one), so the first bytes do not wait for the page tables of a whole large block.
  int64_t map_window_bytes = 16 << 20;
};

class BlockWorkerService final : public proto::BlockWorker::Service {
 public:
  // The pointers must outlive the service.
  BlockWorkerService(BlockStore* store, UfsBlockFetcher* fetcher, UfsRegistry* ufs, BlockCommitter* committer,
                     BlockWorkerServiceOptions options);

  // ReadBlock is served by StreamReadBlock (registered in the constructor), which writes each
  // response as a ByteBuffer pointing at the block's bytes (rpc/block_chunk.h) instead of
  // serializing protos.
  using ReadBlockStream = grpc::ServerSplitStreamer<proto::ReadBlockRequest, grpc::ByteBuffer>;
  grpc::Status StreamReadBlock(grpc::ServerContext* context, ReadBlockStream* stream);
  grpc::Status WriteBlock(grpc::ServerContext* context, grpc::ServerReader<proto::WriteBlockRequest>* reader,
                          proto::WriteBlockResponse* response) override;
  grpc::Status WriteUfsFile(grpc::ServerContext* context, grpc::ServerReader<proto::WriteUfsFileRequest>* reader,
                            proto::WriteUfsFileResponse* response) override;
  grpc::Status GetMetrics(grpc::ServerContext* context, const proto::GetMetricsRequest* request,
                          proto::GetMetricsResponse* response) override;
  grpc::Status OpenLocalBlock(grpc::ServerContext* context, const proto::OpenLocalBlockRequest* request,
                              proto::OpenLocalBlockResponse* response) override;
  grpc::Status ReleaseLocalBlock(grpc::ServerContext* context, const proto::ReleaseLocalBlockRequest* request,
                                 proto::ReleaseLocalBlockResponse* response) override;
  grpc::Status CacheBlock(grpc::ServerContext* context, const proto::CacheBlockRequest* request,
                          proto::CacheBlockResponse* response) override;

 private:
  absl::Status DoReadBlock(grpc::ServerContext* context, const proto::ReadBlockRequest& request,
                           ReadBlockStream* writer);
  absl::Status ServeFromCache(std::shared_ptr<BlockReader> reader, int64_t offset, int64_t length, int64_t chunk_bytes,
                              ReadBlockStream* writer);
  // Starts background fetches of the blocks a request asks to read ahead (checked already);
  // best effort: UfsBlockFetcher::ReadAhead skips what is cached, in flight or over its bound.
  void StartReadAhead(uint64_t block_id, const google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>& blocks);
  absl::Status ServeStreaming(grpc::ServerContext* context, StreamingBlock* block, int64_t offset, int64_t length,
                              int64_t chunk_bytes, ReadBlockStream* writer);
  // Leases one cached block (after the caller's capability was checked) into `response`.
  absl::Status GrantLease(uint64_t block_id, proto::ReadType read_type, proto::OpenLocalBlockResponse* response);
  // Ends a lease, counting the bytes the client reports for it (negative counts are not counted).
  void ReleaseLease(const proto::ReleaseLocalBlockRequest& release);
  absl::Status DoOpenLocalBlock(const proto::OpenLocalBlockRequest& request, const security::Caller& caller,
                                proto::OpenLocalBlockResponse* response);
  absl::Status DoCacheBlock(const proto::CacheBlockRequest& request, const security::Caller& caller,
                            proto::CacheBlockResponse* response);
  absl::Status DoWriteBlock(grpc::ServerReader<proto::WriteBlockRequest>* reader, proto::WriteBlockResponse* response);
  absl::Status DoWriteUfsFile(grpc::ServerReader<proto::WriteUfsFileRequest>* reader,
                              proto::WriteUfsFileResponse* response);

  BlockStore* const store_;
  UfsBlockFetcher* const fetcher_;
  UfsRegistry* const ufs_;
  BlockCommitter* const committer_;
  const BlockWorkerServiceOptions options_;
  Counter* const blocks_read_cache_;
  Counter* const bytes_read_cache_;
  Counter* const bytes_written_cache_;
  Counter* const bytes_written_ufs_;
  Counter* const short_circuit_leases_;
  Counter* const short_circuit_calls_;
  Counter* const short_circuit_bytes_;
  Counter* const blocks_loaded_;
};

}  // namespace cistern::worker
