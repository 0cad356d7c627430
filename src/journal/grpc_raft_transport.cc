#include "journal/grpc_raft_transport.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cistern/proto/raft.grpc.pb.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "journal/raft_wire.h"
#include "journal/snapshot_store.h"
#include "common/clock.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"
#include "rpc/request_validation.h"
#include "rpc/transport_security.h"
#include "spdlog/spdlog.h"

namespace cistern::journal {

class GrpcRaftTransport::Peer {
 public:
  Peer(const GrpcRaftTransportOptions& options, raft::NodeId id, std::string address)
      : options_(options), id_(id), address_(std::move(address)),
        stub_(proto::RaftTransportService::NewStub(rpc::GetChannel(address_))),
        thread_([this] { Run(); }) {}

  ~Peer() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      // A write to a peer that stopped answering may block until the stream's deadline.
      if (open_stream_ != nullptr) open_stream_->TryCancel();
    }
    thread_.join();
  }

  const std::string& address() const { return address_; }

  void Enqueue(raft::Message message) {
    absl::MutexLock lock(&mu_);
    if (queue_.size() >= options_.max_queued_messages) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(message));
  }

  // Effects are an optimization: beyond max_queued_effects_bytes they are dropped.
  void EnqueueEffects(ApplyEffects effects) {
    absl::MutexLock lock(&mu_);
    const size_t bytes = effects.data != nullptr ? effects.data->size() : 0;
    if (effects_bytes_ + bytes > options_.max_queued_effects_bytes) {
      ++dropped_;
      return;
    }
    effects_bytes_ += bytes;
    effects_queue_.push_back(std::move(effects));
  }

 private:
  void Run() {
    while (true) {
      proto::RaftMessageBatch batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Peer* p) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return p->stopping_ || !p->queue_.empty() || !p->effects_queue_.empty();
            },
            this));
        if (stopping_) break;
        size_t bytes = 0;
        while (!queue_.empty() && (batch.messages_size() == 0 || bytes < options_.max_batch_bytes)) {
          for (const raft::Entry& e : queue_.front().entries) bytes += e.data.size() + 24;
          ToProto(queue_.front(), batch.add_messages());
          queue_.pop_front();
        }
        // Effects after the messages: a follower learns the commit index no later than them.
        while (!effects_queue_.empty() && (bytes == 0 || bytes < options_.max_batch_bytes)) {
          ApplyEffects& e = effects_queue_.front();
          proto::RaftApplyEffects* out = batch.add_effects();
          out->set_from(options_.self);
          out->set_first_index(e.first_index);
          out->set_last_index(e.last_index);
          if (e.data != nullptr) {
            out->set_data(*e.data);
            bytes += e.data->size();
            effects_bytes_ -= e.data->size();
          }
          effects_queue_.pop_front();
        }
      }
      const grpc::Status status = unary_ ? SendUnary(batch) : SendOnStream(batch);
      if (!status.ok() && reachable_) {
        spdlog::warn("raft transport: peer {} at {} unreachable ({} messages dropped): {}", id_, address_,
                     batch.messages_size(), status.error_message());
      } else if (status.ok() && !reachable_) {
        spdlog::info("raft transport: peer {} at {} reachable again", id_, address_);
      }
      reachable_ = status.ok();
    }
    CloseStream();
  }

  grpc::Status SendUnary(const proto::RaftMessageBatch& batch) {
    grpc::ClientContext context;
    rpc::SetDeadline(&context, options_.rpc_timeout_ms);
    proto::RaftSendResponse response;
    return stub_->Send(&context, batch, &response);
  }

  // Writes the batch on the peer's stream (opened on first use, renewed when it breaks or has
  // lived its time). A batch written to a stream that then breaks may be lost: Raft resends.
  grpc::Status SendOnStream(const proto::RaftMessageBatch& batch) {
    if (stream_ != nullptr && std::chrono::steady_clock::now() >= stream_expires_) CloseStream();
    if (stream_ == nullptr) {
      stream_context_ = std::make_unique<grpc::ClientContext>();
      rpc::SetDeadline(stream_context_.get(), options_.stream_lifetime_ms);
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return grpc::Status(grpc::StatusCode::CANCELLED, "the transport is stopping");
        open_stream_ = stream_context_.get();
      }
      stream_response_ = proto::RaftSendResponse();
      stream_ = stub_->Stream(stream_context_.get(), &stream_response_);
      stream_expires_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.stream_lifetime_ms) -
                        std::chrono::milliseconds(std::min<int64_t>(options_.stream_lifetime_ms / 2, 2000));
    }
    if (stream_->Write(batch)) return grpc::Status::OK;
    grpc::Status status = CloseStream();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      // A master of an older version: one call per batch from now on.
      spdlog::info("raft transport: peer {} at {} has no message stream; sending batch by batch", id_, address_);
      unary_ = true;
      return SendUnary(batch);
    }
    return status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the message stream closed") : status;
  }

  grpc::Status CloseStream() {
    if (stream_ == nullptr) return grpc::Status::OK;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) stream_context_->TryCancel();
    }
    stream_->WritesDone();
    grpc::Status status = stream_->Finish();
    {
      absl::MutexLock lock(&mu_);
      open_stream_ = nullptr;
    }
    stream_.reset();
    stream_context_.reset();
    return status;
  }

  const GrpcRaftTransportOptions& options_;
  const raft::NodeId id_;
  const std::string address_;
  const std::unique_ptr<proto::RaftTransportService::Stub> stub_;
  absl::Mutex mu_;
  std::deque<raft::Message> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<ApplyEffects> effects_queue_ ABSL_GUARDED_BY(mu_);
  size_t effects_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ClientContext* open_stream_ ABSL_GUARDED_BY(mu_) = nullptr;  // to cancel from ~Peer
  // Sender thread only.
  bool reachable_ = true;
  bool unary_ = false;  // the peer has no Stream method
  std::unique_ptr<grpc::ClientContext> stream_context_;
  proto::RaftSendResponse stream_response_;
  std::unique_ptr<grpc::ClientWriter<proto::RaftMessageBatch>> stream_;
  std::chrono::steady_clock::time_point stream_expires_;
  std::thread thread_;     // last: starts after everything above is initialized
};

GrpcRaftTransport::GrpcRaftTransport(GrpcRaftTransportOptions options) : options_(std::move(options)) {}

GrpcRaftTransport::~GrpcRaftTransport() { Stop(); }

void GrpcRaftTransport::SetPeers(const std::map<raft::NodeId, std::string>& peers) {
  std::vector<std::unique_ptr<Peer>> removed;
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  addresses_ = peers;
  for (auto it = peers_.begin(); it != peers_.end();) {
    auto wanted = peers.find(it->first);
    if (wanted == peers.end() || wanted->second != it->second->address()) {
      removed.push_back(std::move(it->second));
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [id, address] : peers) {
    if (id == options_.self || peers_.count(id) > 0) continue;
    peers_[id] = std::make_unique<Peer>(options_, id, address);
  }
  // `removed` joins its threads here; they never take mu_.
}

void GrpcRaftTransport::Send(std::vector<raft::Message> messages) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  for (raft::Message& m : messages) {
    auto it = peers_.find(m.to);
    if (it != peers_.end()) it->second->Enqueue(std::move(m));
  }
}

void GrpcRaftTransport::SendEffects(ApplyEffects effects) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  auto it = peers_.find(effects.to);
  if (it != peers_.end()) it->second->EnqueueEffects(std::move(effects));
}

void GrpcRaftTransport::Stop() {
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers;
  std::vector<SnapshotThread> snapshot_threads;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    peers.swap(peers_);
    snapshot_threads.swap(snapshot_threads_);
  }
  peers.clear();
  for (SnapshotThread& t : snapshot_threads) t.thread.join();
}

void GrpcRaftTransport::SendSnapshot(raft::Message message, std::string dir, std::function<void(absl::Status)> done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    auto it = addresses_.find(message.to);
    if (stopped_) {
      refused = absl::UnavailableError("the Raft transport is stopped");
    } else if (it == addresses_.end()) {
      refused = absl::UnavailableError(absl::StrCat("peer ", message.to, " is unknown"));
    } else if (!sending_snapshot_.insert(message.to).second) {
      refused = absl::UnavailableError(absl::StrCat("a snapshot is already being sent to peer ", message.to));
    } else {
      // Join the transfers that ended (their threads only touch mu_ before finishing).
      for (auto t = snapshot_threads_.begin(); t != snapshot_threads_.end();) {
        if (t->finished->load()) {
          t->thread.join();
          t = snapshot_threads_.erase(t);
        } else {
          ++t;
        }
      }
      auto finished = std::make_shared<std::atomic<bool>>(false);
      std::thread thread([this, finished, address = it->second, message = std::move(message), dir = std::move(dir),
                          done = std::move(done)] {
        absl::Status status = StreamSnapshot(address, message, dir);
        {
          absl::MutexLock lock(&mu_);
          sending_snapshot_.erase(message.to);
        }
        done(status);
        finished->store(true);
      });
      snapshot_threads_.push_back(SnapshotThread{std::move(thread), std::move(finished)});
      return;
    }
  }
  done(refused);
}

absl::Status GrpcRaftTransport::StreamSnapshot(const std::string& address, const raft::Message& message,
                                               const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> files = ListFilesRecursively(dir);
  if (!files.ok()) return files.status();
  uint64_t total_bytes = 0;
  std::error_code ec;
  for (const std::string& f : *files) total_bytes += std::filesystem::file_size(std::filesystem::path(dir) / f, ec);
  const int64_t start_ms = RealClock()->MonotonicMs();
  grpc::ClientContext context;
  rpc::SetDeadline(&context, options_.snapshot_base_timeout_ms +
                                 static_cast<int64_t>(total_bytes * 1000 / std::max<int64_t>(options_.snapshot_bytes_per_second, 1)));
  proto::InstallSnapshotResponse response;
  auto stub = proto::RaftTransportService::NewStub(rpc::GetChannel(address));
  std::unique_ptr<grpc::ClientWriter<proto::SnapshotChunk>> writer = stub->InstallSnapshot(&context, &response);
  bool first = true;
  bool broken = false;
  std::string buffer(options_.snapshot_chunk_bytes, '\0');
  for (const std::string& f : *files) {
    std::ifstream in(std::filesystem::path(dir) / f, std::ios::binary);
    if (!in) return absl::UnavailableError(absl::StrCat("cannot read snapshot file '", f, "' (pruned meanwhile?)"));
    uint64_t offset = 0;
    do {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const size_t n = static_cast<size_t>(in.gcount());
      proto::SnapshotChunk chunk;
      if (first) ToProto(message, chunk.mutable_message());
      first = false;
      chunk.set_path(f);
      chunk.set_offset(offset);
      chunk.set_data(buffer.data(), n);
      offset += n;
      if (!writer->Write(chunk)) {
        broken = true;
        break;
      }
    } while (in);
    if (broken) break;
  }
  if (!broken) {
    proto::SnapshotChunk last;
    if (first) ToProto(message, last.mutable_message());
    last.set_last(true);
    broken = !writer->Write(last);
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("snapshot stream to ", address, ": ", status.error_message()));
  }
  if (broken) return absl::UnavailableError(absl::StrCat("snapshot stream to ", address, " broke off"));
  spdlog::info("raft transport: sent the snapshot at index {} ({} files, {} bytes) to {} in {} ms",
               message.snapshot.has_value() ? message.snapshot->index : 0, files->size(), total_bytes, address,
               RealClock()->MonotonicMs() - start_ms);
  return absl::OkStatus();
}

namespace {

// The messages of a received batch, those that convert (FromProto drops unknown kinds).
std::vector<raft::Message> MessagesOf(const proto::RaftMessageBatch& batch) {
  std::vector<raft::Message> messages;
  messages.reserve(batch.messages_size());
  for (const proto::RaftMessage& m : batch.messages()) {
    std::optional<raft::Message> message = FromProto(m);
    if (message.has_value()) messages.push_back(*std::move(message));
  }
  return messages;
}

// Hands a received batch to the node: its messages, then its apply effects.
// The effects' bytes are moved out of the batch, not copied.
void Deliver(proto::RaftMessageBatch* batch, RaftMessageHandler* handler) {
  if (batch->messages_size() > 0) handler->Receive(MessagesOf(*batch));
  for (proto::RaftApplyEffects& e : *batch->mutable_effects()) {
    ApplyEffects effects;
    effects.from = e.from();
    effects.first_index = e.first_index();
    effects.last_index = e.last_index();
    effects.data = std::make_shared<const std::string>(std::move(*e.mutable_data()));
    handler->ReceiveEffects(std::move(effects));
  }
}

// One peer's message stream, read with the callback API: each batch is handed to the node on
// the gRPC thread that read it off the socket, instead of waking a thread blocked in a
// synchronous Read for every batch (one scheduler hand-off fewer per message).
class StreamReader final : public grpc::ServerReadReactor<proto::RaftMessageBatch> {
 public:
  explicit StreamReader(RaftMessageHandler* handler) : handler_(handler) { StartRead(&batch_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the peer closed its side, or the call was cancelled
      Finish(grpc::Status::OK);
      return;
    }
    if (absl::Status invalid = rpc::ValidateRequest(batch_); !invalid.ok()) {
      spdlog::warn("raft transport: rejected a batch (the stream is closed): {}", invalid.ToString());
      Finish(rpc::ToGrpcStatus(invalid));
      return;
    }
    Deliver(&batch_, handler_);
    batch_.Clear();
    StartRead(&batch_);
  }
  void OnDone() override { delete this; }

 private:
  RaftMessageHandler* const handler_;
  proto::RaftMessageBatch batch_;
};

}  // namespace

// Stream is served with the callback API (StreamReader); Send and InstallSnapshot stay synchronous.
class RaftTransportServiceImpl final
    : public proto::RaftTransportService::WithCallbackMethod_Stream<proto::RaftTransportService::Service> {
 public:
  explicit RaftTransportServiceImpl(RaftMessageHandler* handler) : handler_(handler) {}

  grpc::Status Send(grpc::ServerContext*, const proto::RaftMessageBatch* request, proto::RaftSendResponse*) override {
    if (absl::Status invalid = rpc::ValidateRequest(*request); !invalid.ok()) {
      spdlog::warn("raft transport: rejected a batch: {}", invalid.ToString());
      return rpc::ToGrpcStatus(invalid);
    }
    proto::RaftMessageBatch batch(*request);  // the rarely used unary fallback: a copy is fine
    Deliver(&batch, handler_);
    return grpc::Status::OK;
  }

  grpc::ServerReadReactor<proto::RaftMessageBatch>* Stream(grpc::CallbackServerContext*,
                                                           proto::RaftSendResponse*) override {
    return new StreamReader(handler_);
  }

  grpc::Status InstallSnapshot(grpc::ServerContext*, grpc::ServerReader<proto::SnapshotChunk>* reader,
                               proto::InstallSnapshotResponse*) override {
    std::optional<raft::Message> message;
    std::string staging;
    auto fail = [&](grpc::StatusCode code, const std::string& why) {
      if (!staging.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(staging, ec);
      }
      spdlog::warn("raft transport: refused a snapshot: {}", why);
      return grpc::Status(code, why);
    };
    proto::SnapshotChunk chunk;
    std::ofstream out;
    std::string current;
    uint64_t expected_offset = 0;
    bool complete = false;
    while (reader->Read(&chunk)) {
      if (!message.has_value()) {
        if (chunk.has_message()) message = FromProto(chunk.message());
        if (!message.has_value() || message->type != raft::MessageType::kSnapshot || !message->snapshot.has_value()) {
          return fail(grpc::StatusCode::INVALID_ARGUMENT, "the first chunk carries no snapshot message");
        }
        absl::StatusOr<std::string> dir = handler_->NewSnapshotStagingDir();
        if (!dir.ok()) return fail(grpc::StatusCode::UNAVAILABLE, std::string(dir.status().message()));
        staging = *dir;
      }
      if (chunk.last()) {
        complete = true;
        break;
      }
      const std::filesystem::path relative(chunk.path());
      bool inside = !chunk.path().empty() && relative.is_relative();
      for (const auto& part : relative) inside = inside && part != ".." && part != ".";
      if (!inside) return fail(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("bad path '", chunk.path(), "'"));
      if (chunk.path() != current) {
        out.close();
        const std::filesystem::path target = std::filesystem::path(staging) / relative;
        std::error_code ec;
        if (std::filesystem::exists(target, ec)) {
          return fail(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat("file '", chunk.path(), "' sent twice"));
        }
        std::filesystem::create_directories(target.parent_path(), ec);
        out.open(target, std::ios::binary | std::ios::trunc);
        if (!out) return fail(grpc::StatusCode::INTERNAL, absl::StrCat("cannot create '", target.string(), "'"));
        current = chunk.path();
        expected_offset = 0;
      }
      if (chunk.offset() != expected_offset) {
        return fail(grpc::StatusCode::INVALID_ARGUMENT,
                    absl::StrCat("file '", chunk.path(), "': chunk at ", chunk.offset(), ", expected ", expected_offset));
      }
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      if (!out) return fail(grpc::StatusCode::INTERNAL, absl::StrCat("writing '", chunk.path(), "' failed"));
      expected_offset += chunk.data().size();
    }
    out.close();
    if (!complete) return fail(grpc::StatusCode::ABORTED, "the snapshot stream ended before its last chunk");
    if (absl::Status synced = SyncTree(staging); !synced.ok()) {
      return fail(grpc::StatusCode::INTERNAL, std::string(synced.message()));
    }
    handler_->ReceiveSnapshot(*std::move(message), staging);
    return grpc::Status::OK;
  }

 private:
  RaftMessageHandler* const handler_;
};

absl::StatusOr<std::unique_ptr<GrpcRaftServer>> GrpcRaftServer::Start(const std::string& bind_address,
                                                                      RaftMessageHandler* handler) {
  std::unique_ptr<GrpcRaftServer> server(new GrpcRaftServer());
  server->service_ = std::make_unique<RaftTransportServiceImpl>(handler);
  grpc::ServerBuilder builder;
  rpc::ConfigureServerBuilder(&builder);
  builder.AddListeningPort(bind_address, rpc::ServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", bind_address, " for Raft traffic: port in use or not permitted"));
  }
  return server;
}

GrpcRaftServer::~GrpcRaftServer() { Shutdown(); }

void GrpcRaftServer::Shutdown() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_.reset();
}

}  // namespace cistern::journal
