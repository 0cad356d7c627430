// Three RaftJournals talking over real gRPC on loopback ports: they elect a leader, replicate,
// and carry on after the leader's node goes away.
#include "journal/grpc_raft_transport.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "journal/raft_journal.h"
#include "journal/raft_journal_test_util.h"

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

  nodes[leader]->Stop();
  const raft::NodeId next = leader_of(leader);
  ASSERT_NE(next, raft::kNoNode);
  ASSERT_TRUE(WaitUntil([&] { return nodes[next]->journal->Submit(Mkdir("/after")).ok(); }, 20000));
  for (auto& [id, node] : nodes) node->Stop();
  EXPECT_EQ(nodes[next]->sm.paths().back(), "/after");
}

}  // namespace
}  // namespace cistern::journal
