#include "journal/grpc_raft_transport.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cistern/proto/raft.grpc.pb.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "journal/raft_wire.h"
#include "rpc/channel.h"
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

 private:
  void Run() {
    while (true) {
      proto::RaftMessageBatch batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Peer* p) ABSL_NO_THREAD_SAFETY_ANALYSIS { return p->stopping_ || !p->queue_.empty(); }, this));
        if (stopping_) return;
        size_t bytes = 0;
        while (!queue_.empty() && (batch.messages_size() == 0 || bytes < options_.max_batch_bytes)) {
          for (const raft::Entry& e : queue_.front().entries) bytes += e.data.size() + 24;
          ToProto(queue_.front(), batch.add_messages());
          queue_.pop_front();
        }
      }
      grpc::ClientContext context;
      rpc::SetDeadline(&context, options_.rpc_timeout_ms);
      proto::RaftSendResponse response;
      const grpc::Status status = stub_->Send(&context, batch, &response);
      if (!status.ok() && reachable_) {
        spdlog::warn("raft transport: peer {} at {} unreachable ({} messages dropped): {}", id_, address_,
                     batch.messages_size(), status.error_message());
      } else if (status.ok() && !reachable_) {
        spdlog::info("raft transport: peer {} at {} reachable again", id_, address_);
      }
      reachable_ = status.ok();
    }
  }

  const GrpcRaftTransportOptions& options_;
  const raft::NodeId id_;
  const std::string address_;
  const std::unique_ptr<proto::RaftTransportService::Stub> stub_;
  absl::Mutex mu_;
  std::deque<raft::Message> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool reachable_ = true;  // sender thread only
  std::thread thread_;     // last: starts after everything above is initialized
};

GrpcRaftTransport::GrpcRaftTransport(GrpcRaftTransportOptions options) : options_(std::move(options)) {}

GrpcRaftTransport::~GrpcRaftTransport() { Stop(); }

void GrpcRaftTransport::SetPeers(const std::map<raft::NodeId, std::string>& peers) {
  std::vector<std::unique_ptr<Peer>> removed;
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
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

void GrpcRaftTransport::Stop() {
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    peers.swap(peers_);
  }
  peers.clear();
}

class RaftTransportServiceImpl final : public proto::RaftTransportService::Service {
 public:
  explicit RaftTransportServiceImpl(RaftMessageHandler* handler) : handler_(handler) {}

  grpc::Status Send(grpc::ServerContext*, const proto::RaftMessageBatch* request, proto::RaftSendResponse*) override {
    std::vector<raft::Message> messages;
    messages.reserve(request->messages_size());
    for (const proto::RaftMessage& m : request->messages()) {
      std::optional<raft::Message> message = FromProto(m);
      if (message.has_value()) messages.push_back(*std::move(message));
    }
    handler_->Receive(std::move(messages));
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
  builder.AddListeningPort(bind_address, grpc::InsecureServerCredentials(), &server->port_);
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
