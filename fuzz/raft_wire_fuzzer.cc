// Raft peer messages as they arrive on master.raft.port: bytes -> RaftMessageBatch (protobuf) ->
// the transport's request validation -> raft::Message (journal/raft_wire.h) -> RawNode::Step of
// a follower or of a leader of a three-voter group, driven through Ready/Advance as the journal
// driver does. Whatever a peer (or a stray process) sends must be refused or absorbed: no crash,
// no broken invariant (the core CHECKs its own).
#include <memory>

#include "cistern/proto/raft.pb.h"
#include "fuzz/fuzz_util.h"
#include "journal/raft_wire.h"
#include "raft/raft.h"
#include "rpc/request_validation.h"

namespace {

using cistern::raft::Message;
using cistern::raft::MessageType;
using cistern::raft::RawNode;

void Drain(RawNode* node, bool answer_votes) {
  for (int round = 0; round < 8 && node->HasReady(); ++round) {
    cistern::raft::Ready ready = node->GetReady();
    std::vector<Message> replies;
    if (answer_votes) {
      for (const Message& m : ready.messages) {
        if (m.type != MessageType::kPreVote && m.type != MessageType::kVote) continue;
        Message reply;
        reply.type = m.type == MessageType::kPreVote ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
        reply.from = m.to;
        reply.to = m.from;
        reply.term = m.term;
        replies.push_back(reply);
      }
    }
    node->Advance(ready);
    for (const Message& reply : replies) (void)node->Step(reply);
  }
}

// Node 1 of {1, 2, 3}: a follower, or (`leader`) elected by votes from 2 and 3.
std::unique_ptr<RawNode> NewNode(bool leader) {
  cistern::raft::Config config;
  config.id = 1;
  config.voters = {1, 2, 3};
  auto node = std::make_unique<RawNode>(config, cistern::raft::HardState{}, std::vector<cistern::raft::Entry>{});
  if (leader) {
    for (int tick = 0; tick < 100 && node->role() != cistern::raft::Role::kLeader; ++tick) {
      node->Tick();
      Drain(node.get(), /*answer_votes=*/true);
    }
    (void)node->Propose("entry");
    Drain(node.get(), false);
  }
  return node;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cistern;
  fuzz::InputReader in(data, size);
  const uint8_t mode = in.Byte();
  const std::string_view bytes = in.Rest();
  proto::RaftMessageBatch batch;
  if (!batch.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return 0;
  if (!rpc::ValidateRequest(batch).ok()) return 0;
  std::unique_ptr<RawNode> node = NewNode((mode & 1) != 0);
  for (const proto::RaftMessage& wire : batch.messages()) {
    std::optional<Message> message = journal::FromProto(wire);
    if (!message.has_value()) continue;
    (void)node->Step(*message);
    if (mode & 2) node->Tick();
    Drain(node.get(), false);
  }
  FUZZ_CHECK(node->commit() <= node->last_index());
  return 0;
}
