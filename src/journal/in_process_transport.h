// InProcessRaftNetwork: Raft nodes of one process talking through memory, for tests. Each node
// registers the handler that receives its messages and sends through TransportFor(id). Faults
// are injected on the way: a link can be cut (one direction or both), a node isolated, and a
// fraction of messages dropped or duplicated, all seeded so a failing run repeats.
//
// Delivery is synchronous: Send calls the receiver's handler on the sender's thread (handlers
// only queue), so per-link order is preserved unless duplication is on. A snapshot is copied
// into the receiver's staging directory, also synchronously, unless the link is cut. Apply
// effects travel like messages (cut links and loss apply; they are never duplicated).
//
// Thread safety: thread-safe. A handler must stay valid until Unregister returns.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "journal/raft_transport.h"

namespace cistern::journal {

class InProcessRaftNetwork {
 public:
  explicit InProcessRaftNetwork(uint64_t seed = 1) : rng_(seed) {}

  void Register(raft::NodeId id, RaftMessageHandler* handler);
  // After this returns no message is delivered to `id`'s handler any more.
  void Unregister(raft::NodeId id);
  // A transport sending as node `from`; it may outlive registrations. Owned by the caller, and
  // must not outlive the network.
  std::unique_ptr<RaftTransport> TransportFor(raft::NodeId from);

  // Messages from `from` to `to` are dropped (one direction).
  void Cut(raft::NodeId from, raft::NodeId to);
  // Cuts every link between `id` and any other node, both directions.
  void Isolate(raft::NodeId id);
  // Restores every link.
  void Heal();
  // Each message is dropped with probability `drop` and delivered twice with `duplicate`.
  void SetLoss(double drop, double duplicate);

  int64_t delivered() const;
  int64_t dropped() const;
  int64_t snapshots_delivered() const;

 private:
  class Transport;
  void Deliver(raft::NodeId from, std::vector<raft::Message> messages);
  void DeliverEffects(ApplyEffects effects);
  absl::Status DeliverSnapshot(raft::NodeId from, raft::Message message, const std::string& dir);
  bool LinkUpLocked(raft::NodeId from, raft::NodeId to) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Held while a handler runs, so Unregister waits for deliveries in progress.
  mutable absl::Mutex mu_;
  std::map<raft::NodeId, RaftMessageHandler*> handlers_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<raft::NodeId, raft::NodeId>> cut_ ABSL_GUARDED_BY(mu_);
  std::set<raft::NodeId> isolated_ ABSL_GUARDED_BY(mu_);
  double drop_ ABSL_GUARDED_BY(mu_) = 0;
  double duplicate_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  int64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t snapshots_delivered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cistern::journal
