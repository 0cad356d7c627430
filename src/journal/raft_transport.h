// How Raft messages travel between masters. The driver (RaftJournal) hands each Ready's messages
// to a RaftTransport; a transport's receiving side hands what arrives to the node's
// RaftMessageHandler. Delivery is best effort: messages may be lost, duplicated or reordered, and
// Raft recovers (the leader retransmits), so neither side ever blocks on the network.
//
// Implementations: GrpcRaftTransport (grpc_raft_transport.h, the masters' own port) and
// InProcessRaftNetwork (in_process_transport.h, tests, with fault injection).
//
// Thread safety: implementations are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "raft/raft.h"

namespace cistern::journal {

// What a leader's state machine wrote for its committed entries first_index..last_index
// (StateMachine::ApplyBatchWithEffects; opaque here). Not part of Raft: a follower may install it
// instead of applying the same entries, or ignore it, so it may be lost like any message.
struct ApplyEffects {
  raft::NodeId from = raft::kNoNode;
  raft::NodeId to = raft::kNoNode;
  raft::Index first_index = 0;
  raft::Index last_index = 0;
  std::shared_ptr<const std::string> data;  // shared by the copies sent to each follower
};

class RaftTransport {
 public:
  virtual ~RaftTransport() = default;
  // Queues `messages` (each names its destination in `to`) and returns at once.
  virtual void Send(std::vector<raft::Message> messages) = 0;
  // Streams every file under `dir` (a stored snapshot) to message.to, then delivers `message`
  // (the kSnapshot naming it) with them. Returns at once; `done` runs (on a transport thread)
  // when the transfer finished or failed. One transfer per peer at a time: another request for
  // the same peer fails at once.
  virtual void SendSnapshot(raft::Message message, std::string dir, std::function<void(absl::Status)> done) = 0;
  // Queues `effects` for effects.to, best effort like Send. A transport without it drops them.
  virtual void SendEffects(ApplyEffects effects) {}
};

class RaftMessageHandler {
 public:
  virtual ~RaftMessageHandler() = default;
  // Takes messages addressed to this node. Must not block for long: it runs on a transport
  // thread (or, in process, on the sender's driver thread).
  virtual void Receive(std::vector<raft::Message> messages) = 0;
  // Where the files of an incoming snapshot go: a new, empty directory.
  virtual absl::StatusOr<std::string> NewSnapshotStagingDir() = 0;
  // A snapshot arrived complete (and synced) in `dir`, from NewSnapshotStagingDir; the handler
  // owns the directory from now on. `message` is the kSnapshot naming it.
  virtual void ReceiveSnapshot(raft::Message message, std::string dir) = 0;
  // A leader's apply effects arrived (see ApplyEffects). Must not block for long.
  virtual void ReceiveEffects(ApplyEffects effects) {}
};

}  // namespace cistern::journal
