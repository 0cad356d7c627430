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

#include <vector>

#include "raft/raft.h"

namespace cistern::journal {

class RaftTransport {
 public:
  virtual ~RaftTransport() = default;
  // Queues `messages` (each names its destination in `to`) and returns at once.
  virtual void Send(std::vector<raft::Message> messages) = 0;
};

class RaftMessageHandler {
 public:
  virtual ~RaftMessageHandler() = default;
  // Takes messages addressed to this node. Must not block for long: it runs on a transport
  // thread (or, in process, on the sender's driver thread).
  virtual void Receive(std::vector<raft::Message> messages) = 0;
};

}  // namespace cistern::journal
