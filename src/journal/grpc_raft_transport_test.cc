// Three RaftJournals talking over real gRPC on loopback ports: they elect a leader, replicate
// (followers installing the leader's apply effects), and carry on after the leader's node goes
// away.
#include "journal/grpc_raft_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/synchronization/notification.h"
#include "cistern/proto/raft.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "journal/raft_wire.h"
#include "rpc/channel.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "journal/raft_journal.h"
#include "journal/raft_journal_test_util.h"
#include "journal/raft_wire.h"
#include "cistern/proto/raft.grpc.pb.h"
#include "rpc/channel.h"
#include "rpc/transport_security.h"
#include "security/secrets.h"

namespace cistern::journal {
namespace {

bool WaitUntil(const std::function<bool()>& condition, int64_t timeout_ms) {
  const int64_t deadline = RealClock()->MonotonicMs() + timeout_ms;
  while (!condition()) {
    if (RealClock()->MonotonicMs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

struct GrpcNode {
  MemStorage storage;
  TestStateMachine sm;
  std::unique_ptr<GrpcRaftTransport> transport;
  std::unique_ptr<RaftJournal> journal;
  std::unique_ptr<GrpcRaftServer> server;

  void Stop() {
    if (server) server->Shutdown();
    if (journal) journal->Stop();
    if (transport) transport->Stop();
  }
};

TEST(GrpcRaftTransportTest, ThreeNodesElectReplicateAndSurviveTheLeaderGoing) {
  const std::vector<raft::NodeId> voters = {1, 2, 3};
  std::map<raft::NodeId, std::unique_ptr<GrpcNode>> nodes;
  std::map<raft::NodeId, std::string> addresses;
  for (raft::NodeId id : voters) {
    auto node = std::make_unique<GrpcNode>();
    GrpcRaftTransportOptions transport_options;
    transport_options.self = id;
    transport_options.rpc_timeout_ms = 500;
    node->transport = std::make_unique<GrpcRaftTransport>(transport_options);
    RaftJournalOptions options;
    options.id = id;
    options.voters = voters;
    options.tick_interval_ms = 20;
    options.election_ticks = 10;
    options.seed = id;
    options.ship_apply_effects = true;
    options.follower_apply_delay_ms = 20;
    auto journal = RaftJournal::Open(options, &node->storage, &node->sm, node->transport.get(), RealClock());
    ASSERT_TRUE(journal.ok()) << journal.status();
    node->journal = *std::move(journal);
    auto server = GrpcRaftServer::Start("127.0.0.1:0", node->journal.get());
    ASSERT_TRUE(server.ok()) << server.status();
    node->server = *std::move(server);
    addresses[id] = absl::StrCat("127.0.0.1:", node->server->port());
    nodes[id] = std::move(node);
  }
  for (auto& [id, node] : nodes) {
    node->transport->SetPeers(addresses);
    node->journal->Start();
  }
  auto leader_of = [&](raft::NodeId skip) {
    raft::NodeId leader = raft::kNoNode;
    WaitUntil([&] {
      for (auto& [id, node] : nodes) {
        if (id != skip && node->journal->status().serving) leader = id;
      }
      return leader != raft::kNoNode;
    }, 30000);
    return leader;
  };
  const raft::NodeId leader = leader_of(raft::kNoNode);
  ASSERT_NE(leader, raft::kNoNode);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(nodes[leader]->journal->Submit(Mkdir(absl::StrCat("/g", i))).ok());
  }
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& [id, node] : nodes) {
      if (node->sm.paths().size() != 30) return false;
    }
    return true;
  }, 20000));
  for (auto& [id, node] : nodes) {
    if (id != leader) EXPECT_GT(node->sm.entries_installed(), 0u) << "follower " << id << " installed no effects";
  }

  nodes[leader]->Stop();
  const raft::NodeId next = leader_of(leader);
  ASSERT_NE(next, raft::kNoNode);
  ASSERT_TRUE(WaitUntil([&] { return nodes[next]->journal->Submit(Mkdir("/after")).ok(); }, 20000));
  for (auto& [id, node] : nodes) node->Stop();
  EXPECT_EQ(nodes[next]->sm.paths().back(), "/after");
}

// Counts the messages that reach the node.
class CountingHandler final : public RaftMessageHandler {
 public:
  void Receive(std::vector<raft::Message> messages) override { received += static_cast<int>(messages.size()); }
  absl::StatusOr<std::string> NewSnapshotStagingDir() override {
    return absl::FailedPreconditionError("this test takes no snapshots");
  }
  void ReceiveSnapshot(raft::Message, std::string) override { ++received; }
  std::atomic<int> received{0};
};

raft::Message HeartbeatTo(raft::NodeId to, uint64_t seq) {
  raft::Message m;
  m.type = raft::MessageType::kHeartbeat;
  m.from = 1;
  m.to = to;
  m.term = 1;
  m.seq = seq;
  return m;
}

// The sender keeps one stream per peer, renews it when it has lived its time, and opens a new
// one after the old one broke (here: the peer's server restarted on the same port).
TEST(GrpcRaftTransportTest, RenewsItsStreamAndReconnectsAfterThePeerRestarts) {
  CountingHandler first;
  auto server = GrpcRaftServer::Start("127.0.0.1:0", &first);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  GrpcRaftTransportOptions options;
  options.self = 1;
  options.rpc_timeout_ms = 500;
  options.stream_lifetime_ms = 300;  // several renewals below
  GrpcRaftTransport transport(options);
  transport.SetPeers({{2, absl::StrCat("127.0.0.1:", port)}});
  // Sent one by one over more than three stream lifetimes: a renewal loses nothing.
  for (int i = 0; i < 60; ++i) {
    transport.Send({HeartbeatTo(2, static_cast<uint64_t>(i + 1))});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(WaitUntil([&] { return first.received.load() == 60; }, 10000)) << first.received.load();

  (*server)->Shutdown();
  for (int i = 0; i < 5; ++i) transport.Send({HeartbeatTo(2, 100)});  // lost: nobody listens
  CountingHandler second;
  auto restarted = GrpcRaftServer::Start(absl::StrCat("127.0.0.1:", port), &second);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_TRUE(WaitUntil([&] {
    transport.Send({HeartbeatTo(2, 200)});
    return second.received.load() > 0;
  }, 20000));
  const int64_t start_ms = RealClock()->MonotonicMs();
  transport.Stop();
  EXPECT_LT(RealClock()->MonotonicMs() - start_ms, 5000);
  (*restarted)->Shutdown();
}

// A peer that accepts connections but never answers: writes to it stall, and stopping the
// transport still returns at once (the stalled stream is cancelled) instead of after the stream's
// 30 s deadline.
TEST(GrpcRaftTransportTest, StopsPromptlyWhileAWriteToASilentPeerIsStuck) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 16), 0);  // never accepted: the kernel completes the handshake only
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  GrpcRaftTransportOptions options;
  options.self = 1;
  auto transport = std::make_unique<GrpcRaftTransport>(options);
  transport->SetPeers({{2, absl::StrCat("127.0.0.1:", ntohs(address.sin_port))}});
  for (int i = 0; i < 20; ++i) transport->Send({HeartbeatTo(2, static_cast<uint64_t>(i + 1))});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t start_ms = RealClock()->MonotonicMs();
  transport->Stop();
  transport.reset();
  EXPECT_LT(RealClock()->MonotonicMs() - start_ms, 5000);
  close(listener);
}

// In TOKEN mode (docs/security.md) Raft traffic needs the cluster's daemon token: a process
// without the cluster secret cannot ask a master for its vote.
TEST(GrpcRaftTransportTest, AProcessWithoutTheClusterSecretCannotVote) {
  const std::string secret = "raft-cluster-secret-0123456789";
  rpc::ServerSecurity token_mode;
  token_mode.mode = security::AuthMode::kToken;
  token_mode.daemon_token = security::DaemonToken(secret);
  token_mode.permissions.superuser = "root";
  rpc::InstallProcessSecurity(rpc::ChannelSecurity::Insecure(), token_mode);
  CountingHandler handler;
  auto server = GrpcRaftServer::Start("127.0.0.1:0", &handler);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  // A vote request from a stranger (node 7, term 100).
  const auto vote_request = [] {
    raft::Message vote;
    vote.type = raft::MessageType::kVote;
    vote.from = 7;
    vote.to = 1;
    vote.term = 100;
    proto::RaftMessageBatch batch;
    ToProto(vote, batch.add_messages());
    return batch;
  };
  const auto ask_for_vote = [&](const std::string& token) {
    auto security = rpc::ChannelSecurity::Create(rpc::ClientIdentity{"master", {}, token}, security::TlsMaterial{});
    EXPECT_TRUE(security.ok());
    const proto::RaftMessageBatch batch = vote_request();
    grpc::ClientContext context;
    rpc::SetDeadline(&context, 10000);
    proto::RaftSendResponse response;
    return proto::RaftTransportService::NewStub(rpc::GetChannel(address, *security))->Send(&context, batch, &response);
  };
  // The same on the message stream the senders use.
  const auto ask_on_stream = [&](const std::string& token) {
    auto security = rpc::ChannelSecurity::Create(rpc::ClientIdentity{"master", {}, token}, security::TlsMaterial{});
    EXPECT_TRUE(security.ok());
    const proto::RaftMessageBatch batch = vote_request();
    grpc::ClientContext context;
    rpc::SetDeadline(&context, 10000);
    proto::RaftSendResponse response;
    auto stream = proto::RaftTransportService::NewStub(rpc::GetChannel(address, *security))->Stream(&context, &response);
    stream->Write(batch);
    stream->WritesDone();
    return stream->Finish();
  };
  EXPECT_EQ(ask_for_vote("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ask_for_vote(security::DaemonToken("another-secret-0123456789")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ask_on_stream("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ask_on_stream(security::DaemonToken("another-secret-0123456789")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(handler.received.load(), 0);
  const grpc::Status accepted = ask_for_vote(security::DaemonToken(secret));
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_EQ(handler.received.load(), 1);
  const grpc::Status streamed = ask_on_stream(security::DaemonToken(secret));
  EXPECT_TRUE(streamed.ok()) << streamed.error_message();
  EXPECT_EQ(handler.received.load(), 2);
  (*server)->Shutdown();
  rpc::InstallProcessSecurity(rpc::ChannelSecurity::Insecure(), rpc::ServerSecurity{});
}

}  // namespace
}  // namespace cistern::journal

namespace cistern::journal {
namespace {

// Records what arrives; snapshots are staged under `root`.
class RecordingHandler : public RaftMessageHandler {
 public:
  explicit RecordingHandler(std::string root) : root_(std::move(root)) {}
  void Receive(std::vector<raft::Message>) override {}
  absl::StatusOr<std::string> NewSnapshotStagingDir() override {
    const std::string dir = absl::StrCat(root_, "/staging-", next_++);
    std::filesystem::create_directories(dir);
    return dir;
  }
  void ReceiveSnapshot(raft::Message message, std::string dir) override {
    absl::MutexLock lock(&mu_);
    received_.emplace_back(std::move(message), std::move(dir));
  }
  std::vector<std::pair<raft::Message, std::string>> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  const std::string root_;
  std::atomic<int> next_{0};
  absl::Mutex mu_;
  std::vector<std::pair<raft::Message, std::string>> received_ ABSL_GUARDED_BY(mu_);
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

TEST(GrpcRaftTransportTest, StreamsASnapshotDirectoryInChunksAndRefusesPathsOutsideIt) {
  const std::string root = absl::StrCat(::testing::TempDir(), "/grpc-snapshot-", ::getpid());
  std::filesystem::remove_all(root);
  const std::string source = root + "/source";
  std::filesystem::create_directories(source + "/data/sub");
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>(i % 251);
  std::ofstream(source + "/data/big.sst", std::ios::binary) << big;
  std::ofstream(source + "/data/sub/CURRENT") << "MANIFEST-1\n";
  std::ofstream(source + "/data/empty", std::ios::binary);
  std::ofstream(source + "/meta", std::ios::binary) << "m";

  RecordingHandler handler(root + "/receiver");
  auto server = GrpcRaftServer::Start("127.0.0.1:0", &handler);
  ASSERT_TRUE(server.ok()) << server.status();
  GrpcRaftTransportOptions options;
  options.self = 1;
  options.snapshot_chunk_bytes = 1 << 20;
  GrpcRaftTransport transport(options);
  transport.SetPeers({{2, absl::StrCat("127.0.0.1:", (*server)->port())}});
  raft::Message message;
  message.type = raft::MessageType::kSnapshot;
  message.from = 1;
  message.to = 2;
  message.term = 3;
  raft::SnapshotMeta meta;
  meta.index = 42;
  meta.term = 3;
  meta.membership.voters = {1, 2};
  message.snapshot = meta;
  absl::Notification done;
  absl::Status result;
  transport.SendSnapshot(message, source, [&](absl::Status status) {
    result = status;
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(result.ok()) << result;
  auto received = handler.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].first.snapshot, message.snapshot);
  const std::string& dir = received[0].second;
  EXPECT_EQ(ReadAll(dir + "/data/big.sst"), big);
  EXPECT_EQ(ReadAll(dir + "/data/sub/CURRENT"), "MANIFEST-1\n");
  EXPECT_TRUE(std::filesystem::exists(dir + "/data/empty"));
  EXPECT_EQ(ReadAll(dir + "/meta"), "m");

  // A stream naming a path outside the staging directory is refused, and leaves nothing.
  auto stub = proto::RaftTransportService::NewStub(rpc::GetChannel(absl::StrCat("127.0.0.1:", (*server)->port())));
  grpc::ClientContext context;
  rpc::SetDeadline(&context, 10000);
  proto::InstallSnapshotResponse response;
  auto writer = stub->InstallSnapshot(&context, &response);
  proto::SnapshotChunk chunk;
  ToProto(message, chunk.mutable_message());
  chunk.set_path("../escaped");
  chunk.set_data("x");
  writer->Write(chunk);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_FALSE(std::filesystem::exists(root + "/receiver/escaped"));
  EXPECT_EQ(handler.received().size(), 1u);
  transport.Stop();
  (*server)->Shutdown();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace cistern::journal
