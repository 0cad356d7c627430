// WorkerClient: typed calls to one cistern-worker. Block data travels as streams of chunks.
//
// Thread safety: WorkerClient is thread-safe; each WriteStream is used by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cistern/proto/worker.grpc.pb.h"
#include "cistern/proto/worker.pb.h"
#include "grpcpp/impl/rpc_method.h"
#include "rpc/block_chunk.h"

namespace cistern::rpc {

// An open client-streaming write (WriteBlock or WriteUfsFile): data chunks, then Commit.
// Destroying it without Commit cancels the call, and the worker discards what it received.
template <typename Request, typename Response>
class WriteStream {
 public:
  WriteStream(std::unique_ptr<grpc::ClientContext> context, std::unique_ptr<Response> response,
              std::unique_ptr<grpc::ClientWriter<Request>> writer, std::string what);
  ~WriteStream();

  absl::Status Write(std::string_view data);
  absl::StatusOr<Response> Commit();
  void Cancel();

 private:
  absl::Status Finish();

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Response> response_;
  std::unique_ptr<grpc::ClientWriter<Request>> writer_;
  const std::string what_;
  bool done_ = false;
};

using BlockWriteStream = WriteStream<proto::WriteBlockRequest, proto::WriteBlockResponse>;
using UfsFileWriteStream = WriteStream<proto::WriteUfsFileRequest, proto::WriteUfsFileResponse>;

// An open server-streaming ReadBlock call, pulled as the caller asks, so a reader can hand out
// data as its caller asks for it. Chunks are copied from gRPC's receive buffers straight into
// the caller's memory (see block_chunk.h). Destroying it before the end cancels the call.
class BlockReadStream {
 public:
  BlockReadStream(std::unique_ptr<grpc::ClientContext> context,
                  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader, std::string what);
  ~BlockReadStream();

  // Copies up to `n` bytes of the stream into `dst` (at most the rest of the current chunk);
  // returns 0 (and OK) at the end of the range, or the call's error. The first chunk also sets
  // from_cache().
  absl::StatusOr<int64_t> Read(char* dst, int64_t n);
  // Replaces *chunk with the rest of the current chunk (or the next one); returns false (and OK)
  // at the end of the range.
  absl::StatusOr<bool> Next(std::string* chunk);
  bool from_cache() const { return from_cache_; }
  void Cancel();

 private:
  // Makes sure the current chunk has unread bytes; false at the end of the stream.
  absl::StatusOr<bool> Fill();

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader_;
  const std::string what_;
  grpc::ByteBuffer message_;
  ReadBlockChunk chunk_;
  int64_t chunk_offset_ = 0;
  bool first_ = true;
  bool from_cache_ = false;
  bool done_ = false;
};

class ChannelSecurity;

struct WorkerClientOptions {
  int64_t rpc_timeout_ms = 30000;    // unary calls
  int64_t data_timeout_ms = 600000;  // one whole block stream
  std::shared_ptr<const ChannelSecurity> security;  // TLS and identity; nullptr = the process default
};

class WorkerClient {
 public:
  WorkerClient(std::string address, WorkerClientOptions options);

  const std::string& address() const { return address_; }

  // Streams the requested range to `sink` chunk by chunk. Stops (and cancels the call) at the
  // first error `sink` returns.
  absl::Status ReadBlock(const proto::ReadBlockRequest& request,
                         const std::function<absl::Status(std::string_view data, bool from_cache)>& sink);
  // Starts a ReadBlock call whose chunks the caller pulls with Next. Errors of the call itself
  // (block missing, worker down) surface from the first Next.
  std::unique_ptr<BlockReadStream> OpenBlockReader(const proto::ReadBlockRequest& request);
  absl::StatusOr<std::unique_ptr<BlockWriteStream>> OpenBlockWriter(const proto::WriteBlockHeader& header);
  absl::StatusOr<std::unique_ptr<UfsFileWriteStream>> OpenUfsFileWriter(const proto::WriteUfsFileHeader& header);
  absl::StatusOr<proto::GetMetricsResponse> GetMetrics();
  absl::StatusOr<proto::OpenLocalBlockResponse> OpenLocalBlock(const proto::OpenLocalBlockRequest& request);
  // `bytes_read`: what the client read under the lease (reported to the worker's counters).
  absl::Status ReleaseLocalBlock(uint64_t lease_id, int64_t bytes_read = 0);
  // Several leases in one call (`request.more` after the first).
  absl::Status ReleaseLocalBlocks(const proto::ReleaseLocalBlockRequest& request);
  // Waits up to the data timeout (fetching a block may take long).
  absl::StatusOr<proto::CacheBlockResponse> CacheBlock(const proto::CacheBlockRequest& request);

 private:
  const std::string address_;
  const WorkerClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<proto::BlockWorker::Stub> stub_;
  // ReadBlock called with raw ByteBuffer responses (the stub would parse them into protos).
  const std::string read_block_method_name_;
  const grpc::internal::RpcMethod read_block_method_;
};

}  // namespace cistern::rpc
