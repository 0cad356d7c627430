#include "rpc/worker_client.h"

#include "absl/strings/str_cat.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"
#include "common/status.h"

namespace cistern::rpc {

template <typename Request, typename Response>
WriteStream<Request, Response>::WriteStream(std::unique_ptr<grpc::ClientContext> context,
                                            std::unique_ptr<Response> response,
                                            std::unique_ptr<grpc::ClientWriter<Request>> writer,
                                            std::string what)
    : context_(std::move(context)), response_(std::move(response)), writer_(std::move(writer)),
      what_(std::move(what)) {}

template <typename Request, typename Response>
WriteStream<Request, Response>::~WriteStream() {
  Cancel();
}

template <typename Request, typename Response>
absl::Status WriteStream<Request, Response>::Finish() {
  done_ = true;
  return FromGrpcStatus(writer_->Finish(), what_);
}

template <typename Request, typename Response>
absl::Status WriteStream<Request, Response>::Write(std::string_view data) {
  if (done_) return absl::FailedPreconditionError(absl::StrCat(what_, ": stream already finished"));
  Request request;
  request.set_data(std::string(data));
  if (!writer_->Write(request)) {
    // The server ended the call; its status says why.
    absl::Status status = Finish();
    return status.ok() ? absl::AbortedError(absl::StrCat(what_, ": worker closed the stream")) : status;
  }
  return absl::OkStatus();
}

template <typename Request, typename Response>
absl::StatusOr<Response> WriteStream<Request, Response>::Commit() {
  if (done_) return absl::FailedPreconditionError(absl::StrCat(what_, ": stream already finished"));
  Request request;
  request.set_commit(true);
  writer_->Write(request);
  writer_->WritesDone();
  absl::Status status = Finish();
  if (!status.ok()) return status;
  return *response_;
}

template <typename Request, typename Response>
void WriteStream<Request, Response>::Cancel() {
  if (done_) return;
  context_->TryCancel();
  writer_->Finish();
  done_ = true;
}

template class WriteStream<proto::WriteBlockRequest, proto::WriteBlockResponse>;
template class WriteStream<proto::WriteUfsFileRequest, proto::WriteUfsFileResponse>;

WorkerClient::WorkerClient(std::string address, WorkerClientOptions options)
    : address_(std::move(address)), options_(options), channel_(GetChannel(address_, options_.security)),
      stub_(proto::BlockWorker::NewStub(channel_)),
      read_block_method_name_(absl::StrCat("/", proto::BlockWorker::service_full_name(), "/ReadBlock")),
      read_block_method_(read_block_method_name_.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING, channel_) {}

absl::Status WorkerClient::ReadBlock(
    const proto::ReadBlockRequest& request,
    const std::function<absl::Status(std::string_view data, bool from_cache)>& sink) {
  std::unique_ptr<BlockReadStream> stream = OpenBlockReader(request);
  std::string chunk;
  for (int delivered = 0;; ++delivered) {
    CISTERN_ASSIGN_OR_RETURN(bool more, stream->Next(&chunk));
    // An empty range still tells the sink where it was served from.
    if (!more) return delivered > 0 ? absl::OkStatus() : sink({}, stream->from_cache());
    absl::Status status = sink(chunk, stream->from_cache());
    if (!status.ok()) return status;  // the stream's destructor cancels the call
  }
}

BlockReadStream::BlockReadStream(std::unique_ptr<grpc::ClientContext> context,
                                 std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader, std::string what)
    : context_(std::move(context)), reader_(std::move(reader)), what_(std::move(what)) {}

BlockReadStream::~BlockReadStream() { Cancel(); }

absl::StatusOr<bool> BlockReadStream::Fill() {
  while (chunk_offset_ == chunk_.size()) {
    if (done_) return false;
    if (!reader_->Read(&message_)) {
      done_ = true;
      chunk_.Clear();
      chunk_offset_ = 0;
      absl::Status status = FromGrpcStatus(reader_->Finish(), what_);
      if (!status.ok()) return status;
      return false;
    }
    absl::Status parsed = chunk_.Parse(&message_);
    chunk_offset_ = 0;
    if (!parsed.ok()) {
      Cancel();
      return Annotate(parsed, what_);
    }
    if (first_) from_cache_ = chunk_.from_cache();
    first_ = false;
  }
  return true;
}

absl::StatusOr<int64_t> BlockReadStream::Read(char* dst, int64_t n) {
  if (n <= 0) return 0;
  CISTERN_ASSIGN_OR_RETURN(bool more, Fill());
  if (!more) return 0;
  const int64_t take = std::min(n, chunk_.size() - chunk_offset_);
  chunk_.CopyTo(chunk_offset_, take, dst);
  chunk_offset_ += take;
  return take;
}

absl::StatusOr<bool> BlockReadStream::Next(std::string* chunk) {
  if (done_ && chunk_offset_ == chunk_.size()) {
    return absl::FailedPreconditionError(absl::StrCat(what_, ": stream already finished"));
  }
  CISTERN_ASSIGN_OR_RETURN(bool more, Fill());
  if (!more) return false;
  chunk->resize(static_cast<size_t>(chunk_.size() - chunk_offset_));
  chunk_.CopyTo(chunk_offset_, chunk_.size() - chunk_offset_, chunk->data());
  chunk_offset_ = chunk_.size();
  return true;
}

void BlockReadStream::Cancel() {
  if (done_) return;
  done_ = true;
  context_->TryCancel();
  // Drain what is already in flight so Finish does not wait on unread messages.
  while (reader_->Read(&message_)) {
  }
  reader_->Finish();
  chunk_.Clear();
  chunk_offset_ = 0;
}

std::unique_ptr<BlockReadStream> WorkerClient::OpenBlockReader(const proto::ReadBlockRequest& request) {
  auto context = std::make_unique<grpc::ClientContext>();
  SetDeadline(context.get(), options_.data_timeout_ms);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel_.get(), read_block_method_, context.get(),
                                                                    request));
  return std::make_unique<BlockReadStream>(
      std::move(context), std::move(reader),
      absl::StrCat("worker ", address_, " ReadBlock ", request.block_id()));
}

absl::StatusOr<std::unique_ptr<BlockWriteStream>> WorkerClient::OpenBlockWriter(
    const proto::WriteBlockHeader& header) {
  auto context = std::make_unique<grpc::ClientContext>();
  SetDeadline(context.get(), options_.data_timeout_ms);
  auto response = std::make_unique<proto::WriteBlockResponse>();
  auto writer = stub_->WriteBlock(context.get(), response.get());
  proto::WriteBlockRequest first;
  *first.mutable_header() = header;
  std::string what = absl::StrCat("worker ", address_, " WriteBlock ", header.block_id());
  if (!writer->Write(first)) {
    return FromGrpcStatus(writer->Finish(), what);
  }
  return std::make_unique<BlockWriteStream>(std::move(context), std::move(response), std::move(writer), what);
}

absl::StatusOr<std::unique_ptr<UfsFileWriteStream>> WorkerClient::OpenUfsFileWriter(
    const proto::WriteUfsFileHeader& header) {
  auto context = std::make_unique<grpc::ClientContext>();
  SetDeadline(context.get(), options_.data_timeout_ms);
  auto response = std::make_unique<proto::WriteUfsFileResponse>();
  auto writer = stub_->WriteUfsFile(context.get(), response.get());
  proto::WriteUfsFileRequest first;
  *first.mutable_header() = header;
  std::string what = absl::StrCat("worker ", address_, " WriteUfsFile ", header.ufs_path());
  if (!writer->Write(first)) {
    return FromGrpcStatus(writer->Finish(), what);
  }
  return std::make_unique<UfsFileWriteStream>(std::move(context), std::move(response), std::move(writer), what);
}

absl::StatusOr<proto::GetMetricsResponse> WorkerClient::GetMetrics() {
  grpc::ClientContext context;
  SetDeadline(&context, options_.rpc_timeout_ms);
  proto::GetMetricsResponse response;
  grpc::Status status = stub_->GetMetrics(&context, proto::GetMetricsRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status, absl::StrCat("worker ", address_, " GetMetrics"));
  return response;
}

absl::StatusOr<proto::OpenLocalBlockResponse> WorkerClient::OpenLocalBlock(const proto::OpenLocalBlockRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context, options_.rpc_timeout_ms);
  proto::OpenLocalBlockResponse response;
  grpc::Status status = stub_->OpenLocalBlock(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, absl::StrCat("worker ", address_, " OpenLocalBlock ", request.block_id()));
  return response;
}

absl::Status WorkerClient::ReleaseLocalBlock(uint64_t lease_id, int64_t bytes_read) {
  proto::ReleaseLocalBlockRequest request;
  request.set_lease_id(lease_id);
  request.set_bytes_read(bytes_read);
  return ReleaseLocalBlocks(request);
}

absl::Status WorkerClient::ReleaseLocalBlocks(const proto::ReleaseLocalBlockRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context, options_.rpc_timeout_ms);
  proto::ReleaseLocalBlockResponse response;
  return FromGrpcStatus(stub_->ReleaseLocalBlock(&context, request, &response),
                        absl::StrCat("worker ", address_, " ReleaseLocalBlock"));
}

absl::StatusOr<proto::CacheBlockResponse> WorkerClient::CacheBlock(const proto::CacheBlockRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context, options_.data_timeout_ms);
  proto::CacheBlockResponse response;
  grpc::Status status = stub_->CacheBlock(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, absl::StrCat("worker ", address_, " CacheBlock ", request.block_id()));
  return response;
}

}  // namespace cistern::rpc
