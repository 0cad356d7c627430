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

// An open server-streaming ReadBlock call, pulled one chunk at a time so a reader can hand out
// data as its caller asks for it. Destroying it before the end cancels the call.
class BlockReadStream {
 public:
  BlockReadStream(std::unique_ptr<grpc::ClientContext> context,
                  std::unique_ptr<grpc::ClientReader<proto::ReadBlockResponse>> reader, std::string what);
  ~BlockReadStream();

  // Replaces *chunk with the next chunk; returns false (and OK) at the end of the range, or
  // the call's error. The first chunk also sets from_cache().
  absl::StatusOr<bool> Next(std::string* chunk);
  bool from_cache() const { return from_cache_; }
  void Cancel();

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<proto::ReadBlockResponse>> reader_;
  const std::string what_;
  proto::ReadBlockResponse response_;
  bool first_ = true;
  bool from_cache_ = false;
  bool done_ = false;
};

struct WorkerClientOptions {
  int64_t rpc_timeout_ms = 30000;    // unary calls
  int64_t data_timeout_ms = 600000;  // one whole block stream
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

 private:
  const std::string address_;
  const WorkerClientOptions options_;
  const std::unique_ptr<proto::BlockWorker::Stub> stub_;
};

}  // namespace cistern::rpc
