#include "worker/worker_metrics.h"
#include "worker/block_worker_service.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "common/status.h"
#include "rpc/block_chunk.h"
#include "worker/local_block_leases.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"
#include "rpc/request_validation.h"
#include "rpc/transport_security.h"
#include "spdlog/spdlog.h"

namespace cistern::worker {

namespace {

// Response chunks stay well below the gRPC message limit.
constexpr int64_t kMaxChunkBytes = rpc::kMaxMessageBytes / 4;
// Shorter ranges are read into buffers: mapping and unmapping cost more than copying a few pages.
constexpr int64_t kMinMappedBytes = 256 << 10;

// The number of bytes to serve for [offset, offset + length) of a block of `block_length`
// bytes; length -1 means to the end.
absl::StatusOr<int64_t> ResolveRange(uint64_t block_id, int64_t offset, int64_t length, int64_t block_length) {
  if (offset > block_length) {
    return absl::InvalidArgumentError(absl::StrCat("ReadBlock offset ", offset, " is beyond the end of block ",
                                                   block_id, " (", block_length, " bytes)"));
  }
  const int64_t available = block_length - offset;
  return length < 0 ? available : std::min(length, available);
}

grpc::Status Reply(const absl::Status& status, std::string_view what) {
  if (!status.ok()) {
    if (status.code() == absl::StatusCode::kInvalidArgument || status.code() == absl::StatusCode::kNotFound ||
        status.code() == absl::StatusCode::kCancelled || status.code() == absl::StatusCode::kAborted) {
      spdlog::debug("{}: {}", what, status.ToString());
    } else {
      spdlog::warn("{}: {}", what, status.ToString());
    }
  }
  return rpc::ToGrpcStatus(status);
}

// The under-store source of a request, checked.
absl::StatusOr<UfsBlockSource> SourceOf(uint64_t block_id, const proto::UfsBlockSource& ufs, const char* rpc) {
  UfsBlockSource source;
  source.ufs_path = ufs.ufs_path();
  source.offset_in_file = ufs.offset_in_file();
  source.block_length = ufs.block_length();
  source.mount_id = ufs.mount_id();
  const std::string what = absl::StrCat(rpc, " ", block_id);
  if (source.ufs_path.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": under-store source has no path"));
  if (source.offset_in_file < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": negative under-store offset ", source.offset_in_file,
                                                   " in ", source.ufs_path));
  }
  if (source.block_length <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad under-store block length ", source.block_length,
                                                   " for ", source.ufs_path));
  }
  return source;
}

// A response carrying a copy of `data` (for the under-store paths that produce transient bytes).
grpc::ByteBuffer EncodeChunk(std::string_view data, bool from_cache) {
  char* buffer = nullptr;
  grpc::Slice slice = rpc::ChunkSlice(data.size(), &buffer);
  if (!data.empty()) std::memcpy(buffer, data.data(), data.size());
  return rpc::EncodeReadBlockChunk(slice, from_cache);
}

// A slice of `bytes` (not a copy) that holds `owner` until gRPC lets go of it.
grpc::Slice SharedSlice(std::string_view bytes, std::shared_ptr<const void> owner) {
  auto* held = new std::shared_ptr<const void>(std::move(owner));
  return grpc::Slice(const_cast<char*>(bytes.data()), bytes.size(),
                     [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); }, held);
}

// The caller of a call (none for in-process calls without a context).
security::Caller CallerOf(const grpc::ServerContext* context) {
  return context != nullptr ? rpc::CallerOf(*context) : security::Caller();
}

absl::Status ClientGone(const std::string& what) {
  return absl::CancelledError(absl::StrCat(what, ": client went away"));
}

}  // namespace

BlockWorkerService::BlockWorkerService(BlockStore* store, UfsBlockFetcher* fetcher, UfsRegistry* ufs,
                                       BlockCommitter* committer, BlockWorkerServiceOptions options)
    : store_(store), fetcher_(fetcher), ufs_(ufs), committer_(committer), options_(std::move(options)),
      blocks_read_cache_(Metrics().GetCounter("cistern_worker_cache_block_reads_total",
                                              "Block read requests served from the cache")),
      bytes_read_cache_(Metrics().GetCounter(kCacheReadBytesTotal, "Bytes served from the cache")),
      bytes_written_cache_(Metrics().GetCounter("cistern_worker_cache_written_bytes_total",
                                                "Bytes of client-written blocks committed to the cache")),
      bytes_written_ufs_(Metrics().GetCounter("cistern_worker_ufs_written_bytes_total",
                                              "Bytes of files written to under-stores (WriteUfsFile commits)")),
      short_circuit_leases_(Metrics().GetCounter("cistern_worker_short_circuit_leases_total",
                                                 "Block files lent to short-circuit readers on this host")),
      short_circuit_calls_(Metrics().GetCounter("cistern_worker_short_circuit_lease_calls_total",
                                                "OpenLocalBlock calls (each may lease several blocks of a file)")),
      short_circuit_bytes_(Metrics().GetCounter("cistern_worker_short_circuit_read_bytes_total",
                                                "Bytes short-circuit readers on this host reported reading from "
                                                "leased block files (also in the cache read bytes)")),
      blocks_loaded_(Metrics().GetCounter("cistern_worker_loaded_blocks_total",
                                          "Blocks cached on request (fs load) without being read")) {
  // Method 0 of BlockWorker is ReadBlock (the order of proto/worker.proto, as the generated
  // WithSplitStreamingMethod_ReadBlock uses it); served with raw ByteBuffer responses.
  MarkMethodStreamed(0, new grpc::internal::SplitServerStreamingHandler<proto::ReadBlockRequest, grpc::ByteBuffer>(
                            [this](grpc::ServerContext* context, ReadBlockStream* stream) {
                              return StreamReadBlock(context, stream);
                            }));
}

// ---------------------------------------------------------------------------------------------
// ReadBlock

grpc::Status BlockWorkerService::StreamReadBlock(grpc::ServerContext* context, ReadBlockStream* stream) {
  proto::ReadBlockRequest request;
  if (!stream->Read(&request)) return Reply(absl::InvalidArgumentError("ReadBlock without a request"), "ReadBlock");
  return Reply(DoReadBlock(context, request, stream), absl::StrCat("ReadBlock ", request.block_id()));
}

absl::Status BlockWorkerService::DoReadBlock(grpc::ServerContext* context, const proto::ReadBlockRequest& request,
                                             ReadBlockStream* writer) {
  CISTERN_RETURN_IF_ERROR(rpc::ValidateRequest(request));
  const security::Caller caller = CallerOf(context);
  CISTERN_RETURN_IF_ERROR(options_.access.CheckRead(request, caller));
  for (const proto::ReadAheadBlock& ahead : request.read_ahead()) {
    CISTERN_RETURN_IF_ERROR(options_.access.CheckReadAhead("ReadBlock", ahead, request.capability(), caller));
  }
  // NO_CACHE reads cache nothing, so they read nothing ahead either.
  const bool read_ahead = request.read_type() != proto::NO_CACHE && request.read_ahead_size() > 0;
  const uint64_t block_id = request.block_id();
  const bool has_source = request.has_ufs();
  UfsBlockSource source;
  if (has_source) {
    CISTERN_ASSIGN_OR_RETURN(source, SourceOf(block_id, request.ufs(), "ReadBlock"));
  }
  const int64_t chunk_bytes = std::min(
      request.chunk_size_bytes() > 0 ? request.chunk_size_bytes() : options_.default_chunk_size_bytes, kMaxChunkBytes);

  absl::StatusOr<std::unique_ptr<BlockReader>> cached = store_->OpenReader(block_id);
  if (cached.ok()) {
    if (request.read_type() == proto::CACHE_PROMOTE) {
      // The open reader keeps serving the old copy; the next read finds the block higher up.
      absl::Status promoted = store_->Promote(block_id);
      if (!promoted.ok()) spdlog::debug("promote block {}: {}", block_id, promoted.ToString());
    }
    if (read_ahead) StartReadAhead(block_id, request.read_ahead());
    return ServeFromCache(std::move(*cached), request.offset(), request.length(), chunk_bytes, writer);
  }
  if (!absl::IsNotFound(cached.status()) && !absl::IsDataLoss(cached.status())) return cached.status();
  if (!has_source) {
    if (absl::IsDataLoss(cached.status())) return cached.status();
    return absl::NotFoundError(absl::StrCat("block ", block_id,
                                            " is not cached on this worker and the request names no under-store source"));
  }
  CISTERN_ASSIGN_OR_RETURN(const int64_t length,
                           ResolveRange(block_id, request.offset(), request.length(), source.block_length));

  if (request.read_type() == proto::NO_CACHE) {
    bool first = true;
    absl::Status status = fetcher_->ReadUncached(
        block_id, source, request.offset(), length, chunk_bytes, [&](std::string_view chunk) -> absl::Status {
          first = false;
          if (!writer->Write(EncodeChunk(chunk, false))) return ClientGone(absl::StrCat("ReadBlock ", block_id));
          return absl::OkStatus();
        });
    CISTERN_RETURN_IF_ERROR(status);
    if (first) writer->Write(EncodeChunk({}, false));  // empty range: one empty message
    return absl::OkStatus();
  }

  CISTERN_ASSIGN_OR_RETURN(FetchedBlock fetched, fetcher_->Fetch(block_id, source));
  // After this block's fetch, which is queued first.
  if (read_ahead) StartReadAhead(block_id, request.read_ahead());
  if (fetched.cached != nullptr) {
    return ServeFromCache(std::move(fetched.cached), request.offset(), request.length(), chunk_bytes, writer);
  }
  return ServeStreaming(context, fetched.streaming.get(), request.offset(), length, chunk_bytes, writer);
}

absl::Status BlockWorkerService::ServeStreaming(grpc::ServerContext* context, StreamingBlock* block, int64_t offset,
                                                int64_t length, int64_t chunk_bytes, ReadBlockStream* writer) {
  const auto cancelled = [context] { return context != nullptr && context->IsCancelled(); };
  const int64_t end = offset + length;
  int64_t pos = offset;
  do {
    const int64_t want = std::min(chunk_bytes, end - pos);
    // Sends what has arrived, up to a chunk, rather than waiting for a full chunk; the bytes go
    // to gRPC in place (they stay valid while the fetch is referenced).
    CISTERN_ASSIGN_OR_RETURN(const std::string_view arrived, block->Peek(pos, want, cancelled));
    const int64_t n = static_cast<int64_t>(arrived.size());
    if (!writer->Write(rpc::EncodeReadBlockChunk(SharedSlice(arrived, block->KeepAlive()), false))) {
      return ClientGone(absl::StrCat("ReadBlock ", block->block_id()));
    }
    pos += n;
    if (n == 0) break;
  } while (pos < end);
  // A reader that got the whole rest of the block finishes when the block is cached (a moment
  // later), so a read that follows is served from the cache.
  if (end == block->length()) block->WaitForCompletion().IgnoreError();
  return absl::OkStatus();
}

absl::Status BlockWorkerService::ServeFromCache(std::shared_ptr<BlockReader> reader, int64_t offset, int64_t length,
                                                int64_t chunk_bytes, ReadBlockStream* writer) {
  const uint64_t block_id = reader->block_id();
  CISTERN_ASSIGN_OR_RETURN(length, ResolveRange(block_id, offset, length, reader->length()));
  blocks_read_cache_->Add(1);
  const int64_t end = offset + length;
  int64_t pos = offset;
  bool first = true;
  if (options_.send_mapped_blocks && reader->in_memory() && length >= kMinMappedBytes) {
    // Mapped a window at a time (whole chunks), so the first bytes do not wait for the page
    // tables of a whole large block.
    const int64_t window_bytes = std::max<int64_t>(1, options_.map_window_bytes / chunk_bytes) * chunk_bytes;
    while (pos < end) {
      const int64_t window_end = std::min(end, pos + window_bytes);
      CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<MappedBlockRange> mapped, reader->Map(pos, window_end - pos));
      const std::string_view bytes = mapped->bytes();
      const int64_t window_start = pos;
      // The slices hold the mapping and the reader (so the block's space stays accounted) until
      // gRPC has sent them; the mapping goes first.
      struct Held {
        std::shared_ptr<BlockReader> reader;
        std::unique_ptr<MappedBlockRange> mapped;
      };
      const auto held = std::make_shared<const Held>(Held{reader, std::move(mapped)});
      do {
        const int64_t n = std::min(chunk_bytes, window_end - pos);
        const std::string_view chunk = bytes.substr(static_cast<size_t>(pos - window_start), static_cast<size_t>(n));
        const bool sent = writer->Write(rpc::EncodeReadBlockChunk(SharedSlice(chunk, held), first));
        first = false;
        if (!sent) return ClientGone(absl::StrCat("ReadBlock ", block_id));
        bytes_read_cache_->Add(n);
        pos += n;
      } while (pos < window_end);
    }
    return absl::OkStatus();
  }
  do {
    const int64_t want = std::min(chunk_bytes, end - pos);
    char* data = nullptr;
    grpc::Slice slice = rpc::ChunkSlice(static_cast<size_t>(want), &data);
    CISTERN_ASSIGN_OR_RETURN(const int64_t n, reader->ReadAt(pos, want, data));
    if (n < want) slice = slice.sub(0, static_cast<size_t>(n));
    const bool sent = writer->Write(rpc::EncodeReadBlockChunk(slice, first));
    first = false;
    if (!sent) return ClientGone(absl::StrCat("ReadBlock ", block_id));
    bytes_read_cache_->Add(n);
    pos += n;
    if (n == 0) break;
  } while (pos < end);
  return absl::OkStatus();
}

void BlockWorkerService::StartReadAhead(uint64_t block_id,
                                        const google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>& blocks) {
  // Each block follows the one before it in the list (the first follows the request's block).
  uint64_t after = block_id;
  for (const proto::ReadAheadBlock& ahead : blocks) {
    // Validated with the request: a source with a path, a length and an offset in range.
    absl::StatusOr<UfsBlockSource> source = SourceOf(ahead.block_id(), ahead.ufs(), "read-ahead of");
    if (source.ok()) fetcher_->ReadAhead(ahead.block_id(), *source, after);
    after = ahead.block_id();
  }
}

// ---------------------------------------------------------------------------------------------
// WriteBlock

grpc::Status BlockWorkerService::WriteBlock(grpc::ServerContext*, grpc::ServerReader<proto::WriteBlockRequest>* reader,
                                            proto::WriteBlockResponse* response) {
  return Reply(DoWriteBlock(reader, response), "WriteBlock");
}

absl::Status BlockWorkerService::DoWriteBlock(grpc::ServerReader<proto::WriteBlockRequest>* reader,
                                              proto::WriteBlockResponse* response) {
  proto::WriteBlockRequest message;
  if (!reader->Read(&message)) return absl::InvalidArgumentError("WriteBlock stream ended before its header");
  if (!message.has_header()) return absl::InvalidArgumentError("WriteBlock: the first message must be a header");
  CISTERN_RETURN_IF_ERROR(rpc::ValidateRequest(message.header()));
  CISTERN_ASSIGN_OR_RETURN(const int64_t max_bytes, options_.access.CheckWrite(message.header(), rpc::kMaxBlockSizeBytes));
  const uint64_t block_id = message.header().block_id();
  const int64_t length_hint = message.header().length_hint();
  if (length_hint < 0) {
    return absl::InvalidArgumentError(absl::StrCat("WriteBlock ", block_id, ": negative length hint ", length_hint));
  }
  // Pinned before it exists, so no eviction can come between its commit and the pin.
  if (message.header().protect()) store_->PinProvisionally(block_id);
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<BlockWriter> writer, store_->CreateWriter(block_id, length_hint));
  bool committed = false;
  while (!committed && reader->Read(&message)) {
    switch (message.payload_case()) {
      case proto::WriteBlockRequest::kData:
        if (writer->bytes_written() + static_cast<int64_t>(message.data().size()) > max_bytes) {
          return absl::InvalidArgumentError(
              absl::StrCat("WriteBlock ", block_id, ": more than ", max_bytes, " bytes (the block size)"));
        }
        CISTERN_RETURN_IF_ERROR_CONTEXT(writer->Append(message.data()), absl::StrCat("WriteBlock ", block_id));
        break;
      case proto::WriteBlockRequest::kCommit:
        committed = message.commit();
        break;
      case proto::WriteBlockRequest::kHeader:
        return absl::InvalidArgumentError(absl::StrCat("WriteBlock ", block_id, ": a second header in the stream"));
      default:
        break;
    }
  }
  if (!committed) {
    // The writer's destructor discards the partial block.
    return absl::AbortedError(absl::StrCat("WriteBlock ", block_id, ": stream ended without commit; ",
                                           writer->bytes_written(), " bytes discarded"));
  }
  CISTERN_ASSIGN_OR_RETURN(const int64_t length, writer->Commit());
  absl::Status status = committer_->CommitBlock(block_id, length, writer->tier());
  if (!status.ok()) {
    // The master does not know the block; a cached copy nobody can find would only take space.
    absl::Status removed = store_->Remove(block_id);
    if (!removed.ok()) spdlog::warn("drop uncommitted block {}: {}", block_id, removed.ToString());
    return Annotate(status, absl::StrCat("WriteBlock ", block_id, ": commit to the master"));
  }
  bytes_written_cache_->Add(length);
  response->set_length(length);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// WriteUfsFile

grpc::Status BlockWorkerService::WriteUfsFile(grpc::ServerContext*,
                                              grpc::ServerReader<proto::WriteUfsFileRequest>* reader,
                                              proto::WriteUfsFileResponse* response) {
  return Reply(DoWriteUfsFile(reader, response), "WriteUfsFile");
}

absl::Status BlockWorkerService::DoWriteUfsFile(grpc::ServerReader<proto::WriteUfsFileRequest>* reader,
                                                proto::WriteUfsFileResponse* response) {
  proto::WriteUfsFileRequest message;
  if (!reader->Read(&message)) return absl::InvalidArgumentError("WriteUfsFile stream ended before its header");
  if (!message.has_header()) return absl::InvalidArgumentError("WriteUfsFile: the first message must be a header");
  CISTERN_RETURN_IF_ERROR(rpc::ValidateRequest(message.header()));
  CISTERN_RETURN_IF_ERROR(options_.access.CheckUfsWrite(message.header()));
  const std::string path = message.header().ufs_path();
  ufs::CreateOptions options;
  options.overwrite = message.header().overwrite();
  options.create_parents = true;
  if (message.header().mode() != 0) options.mode = message.header().mode();
  const std::string what = absl::StrCat("WriteUfsFile ", path);

  absl::StatusOr<ufs::UnderFileSystem*> store = ufs_->Get(path, message.header().mount_id());
  if (!store.ok()) return Annotate(store.status(), what);
  // Recorded before its temporary file can exist; the record goes with the stream at the end.
  absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> out =
      options_.ufs_write_records != nullptr
          ? options_.ufs_write_records->Create(*store, message.header().mount_id(), path, options)
          : (*store)->Create(path, options);
  if (!out.ok()) return Annotate(out.status(), what);
  int64_t written = 0;
  bool committed = false;
  while (!committed && reader->Read(&message)) {
    switch (message.payload_case()) {
      case proto::WriteUfsFileRequest::kData: {
        absl::Status status = (*out)->Write(message.data());
        if (!status.ok()) {
          (*out)->Abort();
          return Annotate(status, what);
        }
        written += static_cast<int64_t>(message.data().size());
        break;
      }
      case proto::WriteUfsFileRequest::kCommit:
        committed = message.commit();
        break;
      case proto::WriteUfsFileRequest::kHeader:
        (*out)->Abort();
        return absl::InvalidArgumentError(absl::StrCat(what, ": a second header in the stream"));
      default:
        break;
    }
  }
  if (!committed) {
    (*out)->Abort();
    return absl::AbortedError(absl::StrCat(what, ": stream ended without commit; ", written, " bytes discarded"));
  }
  absl::StatusOr<ufs::UfsStatus> status = (*out)->Close();
  if (!status.ok()) return Annotate(status.status(), what);
  bytes_written_ufs_->Add(written);
  response->set_length(written);
  response->mutable_fingerprint()->set_length(status->length);
  response->mutable_fingerprint()->set_mtime_ms(status->mtime_ms);
  response->mutable_fingerprint()->set_etag(status->etag);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Short-circuit reads

grpc::Status BlockWorkerService::OpenLocalBlock(grpc::ServerContext* context, const proto::OpenLocalBlockRequest* request,
                                                proto::OpenLocalBlockResponse* response) {
  return Reply(DoOpenLocalBlock(*request, CallerOf(context), response), absl::StrCat("OpenLocalBlock ", request->block_id()));
}

absl::Status BlockWorkerService::DoOpenLocalBlock(const proto::OpenLocalBlockRequest& request,
                                                  const security::Caller& caller,
                                                  proto::OpenLocalBlockResponse* response) {
  if (options_.leases == nullptr) {
    return absl::FailedPreconditionError("short-circuit reads are switched off on this worker (worker.short_circuit.enabled)");
  }
  CISTERN_RETURN_IF_ERROR(rpc::ValidateRequest(request));
  short_circuit_calls_->Add(1);
  // Releases batched onto this call go first, whatever becomes of the new leases.
  for (const proto::ReleaseLocalBlockRequest& release : request.releases()) ReleaseLease(release);
  CISTERN_RETURN_IF_ERROR(options_.access.CheckOpenLocal(request, caller));
  CISTERN_RETURN_IF_ERROR(GrantLease(request.block_id(), request.read_type(), response));
  if (!request.renewal()) blocks_read_cache_->Add(1);
  // Blocks leased ahead: best effort, each on its own (a block not cached here, found corrupt or
  // being moved, or no lease left, is simply not in the reply).
  for (uint64_t block_id : request.also_block_ids()) {
    proto::OpenLocalBlockResponse also;
    absl::Status granted = GrantLease(block_id, request.read_type(), &also);
    if (!granted.ok()) {
      spdlog::debug("OpenLocalBlock {}: block {} not leased ahead: {}", request.block_id(), block_id, granted.ToString());
      continue;
    }
    blocks_read_cache_->Add(1);
    *response->add_also() = std::move(also);
  }
  return absl::OkStatus();
}

absl::Status BlockWorkerService::GrantLease(uint64_t block_id, proto::ReadType read_type,
                                            proto::OpenLocalBlockResponse* response) {
  if (read_type == proto::CACHE_PROMOTE) {
    absl::Status promoted = store_->Promote(block_id);
    if (!promoted.ok() && !absl::IsNotFound(promoted)) spdlog::debug("promote block {}: {}", block_id, promoted.ToString());
  }
  // The store verifies the block's checksum here (per worker.block.checksum.verify) and drops a
  // corrupt one (DATA_LOSS).
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<BlockReader> reader, store_->OpenReader(block_id, /*hold_location=*/true));
  CISTERN_ASSIGN_OR_RETURN(LocalBlockLease lease, options_.leases->Acquire(std::move(reader)));
  response->set_block_id(block_id);
  response->set_path(lease.path);
  response->set_length(lease.length);
  response->set_lease_id(lease.lease_id);
  response->set_lease_ms(lease.lease_ms);
  response->set_device(lease.device);
  response->set_inode(lease.inode);
  short_circuit_leases_->Add(1);
  return absl::OkStatus();
}

void BlockWorkerService::ReleaseLease(const proto::ReleaseLocalBlockRequest& release) {
  // Short-circuit reads are cache reads the worker does not see: counted as the client
  // reports them, at release. Bytes of a lease that expired first (or of a client that died)
  // are not counted, and neither are those reported for a lease this worker never granted.
  const bool held = options_.leases != nullptr && options_.leases->Release(release.lease_id());
  if (held && release.bytes_read() > 0) {
    bytes_read_cache_->Add(release.bytes_read());
    short_circuit_bytes_->Add(release.bytes_read());
  }
}

grpc::Status BlockWorkerService::ReleaseLocalBlock(grpc::ServerContext*, const proto::ReleaseLocalBlockRequest* request,
                                                   proto::ReleaseLocalBlockResponse*) {
  // Every named lease is released, also when the request is refused for a bad byte count.
  ReleaseLease(*request);
  for (const proto::ReleaseLocalBlockRequest& more : request->more()) ReleaseLease(more);
  absl::Status valid = rpc::ValidateRequest(*request);
  if (!valid.ok()) {
    return Reply(absl::InvalidArgumentError(absl::StrCat(valid.message(), " (lease ", request->lease_id(), " released)")),
                 "ReleaseLocalBlock");
  }
  return grpc::Status::OK;
}

// ---------------------------------------------------------------------------------------------
// CacheBlock

grpc::Status BlockWorkerService::CacheBlock(grpc::ServerContext* context, const proto::CacheBlockRequest* request,
                                            proto::CacheBlockResponse* response) {
  return Reply(DoCacheBlock(*request, CallerOf(context), response), absl::StrCat("CacheBlock ", request->block_id()));
}

absl::Status BlockWorkerService::DoCacheBlock(const proto::CacheBlockRequest& request, const security::Caller& caller,
                                              proto::CacheBlockResponse* response) {
  CISTERN_RETURN_IF_ERROR(rpc::ValidateRequest(request));
  CISTERN_RETURN_IF_ERROR(options_.access.CheckCache(request, caller));
  for (const proto::ReadAheadBlock& ahead : request.read_ahead()) {
    CISTERN_RETURN_IF_ERROR(options_.access.CheckReadAhead("CacheBlock", ahead, request.capability(), caller));
  }
  const uint64_t block_id = request.block_id();
  CISTERN_ASSIGN_OR_RETURN(UfsBlockSource source, SourceOf(block_id, request.ufs(), "CacheBlock"));
  if (request.read_ahead_only()) {
    StartReadAhead(block_id, request.read_ahead());
    return absl::OkStatus();
  }
  // Tell the master at once rather than at the next heartbeat: `fs load` then `fs location`
  // shows the block, and a free of it not yet delivered is cancelled (MasterSync keeps the block
  // if the free was already on its way). A free obeyed between finding the block and reporting it
  // removes it: then it is fetched again. A failed report only delays the master's view, since
  // the heartbeat reports the block too.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    CISTERN_ASSIGN_OR_RETURN(FetchedBlock fetched, fetcher_->Fetch(block_id, source));
    if (attempt == 1) StartReadAhead(block_id, request.read_ahead());
    std::unique_ptr<BlockReader> cached = std::move(fetched.cached);
    if (cached != nullptr) {
      response->set_already_cached(true);
    } else {
      response->set_already_cached(false);
      CISTERN_RETURN_IF_ERROR(fetched.streaming->WaitForCompletion());
      fetched.streaming.reset();
      absl::StatusOr<std::unique_ptr<BlockReader>> opened = store_->OpenReader(block_id);
      if (!opened.ok()) {
        return absl::ResourceExhaustedError(absl::StrCat("block ", block_id, " was read from ", source.ufs_path,
                                                         " but there was no room to cache it"));
      }
      cached = std::move(*opened);
      blocks_loaded_->Add(1);
    }
    response->set_length(cached->length());
    absl::Status committed = committer_->CommitBlock(block_id, cached->length(), cached->tier());
    if (!committed.ok()) spdlog::warn("CacheBlock {}: report to the master: {}", block_id, committed.ToString());
    if (store_->Contains(block_id)) return absl::OkStatus();
    if (attempt == kAttempts) {
      return absl::AbortedError(absl::StrCat("block ", block_id, " was freed while it was being cached, ",
                                             kAttempts, " times; try again"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GetMetrics

grpc::Status BlockWorkerService::GetMetrics(grpc::ServerContext*, const proto::GetMetricsRequest*,
                                            proto::GetMetricsResponse* response) {
  for (const auto& [name, value] : Metrics().Snapshot()) (*response->mutable_counters())[name] = value;
  response->set_worker_id(options_.worker_id());
  for (const TierUsageInfo& usage : store_->TierUsages()) {
    proto::TierUsage* tier = response->add_tiers();
    tier->set_alias(usage.alias);
    tier->set_capacity_bytes(usage.capacity_bytes);
    tier->set_used_bytes(usage.used_bytes);
  }
  return grpc::Status::OK;
}

}  // namespace cistern::worker
