// The Raft transport between masters over gRPC, on a port of its own (master.raft.port), so
// client load on the master's RPC port never delays heartbeats.
//
// GrpcRaftTransport (sending): one queue and one sender thread per peer. Each call carries
// everything queued for that peer since the previous call (per-peer batching) and has a deadline,
// so a partitioned peer costs at most one stuck call per deadline; a full queue drops messages
// (Raft retransmits). Messages to unknown peers are dropped.
//
// Snapshots are streamed (InstallSnapshot: every file in chunks) on a thread per transfer, one
// transfer per peer at a time, with a deadline that grows with the snapshot's size.
//
// GrpcRaftServer (receiving): the RaftTransportService; each batch goes to the node's
// RaftMessageHandler (a stream's batches on the gRPC thread that read them: the stream is served
// with the callback API, so no reader thread is woken per batch); a snapshot stream is written
// into a staging directory the handler names, checked (paths stay inside it, chunks in order,
// the stream complete), synced, and handed over.
//
// Thread safety: thread-safe. SetPeers may be called at any time (membership changes).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <vector>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "journal/raft_transport.h"

namespace grpc {
class Server;
}

namespace cistern::journal {

struct GrpcRaftTransportOptions {
  raft::NodeId self = raft::kNoNode;
  int64_t rpc_timeout_ms = 1000;           // deadline of one Send call
  // Batches go on a stream per peer, renewed after this long (so a stream stuck across a
  // partition is given up) or when it breaks.
  int64_t stream_lifetime_ms = 30000;
  size_t max_queued_messages = 4096;       // per peer
  size_t max_batch_bytes = 8 << 20;        // entry bytes per call (a batch always carries one message)
  size_t max_queued_effects_bytes = 32 << 20;  // apply effects queued per peer; more are dropped
  size_t snapshot_chunk_bytes = 1 << 20;   // per message of a snapshot stream
  // The deadline of a snapshot stream: this much, plus one second per this many bytes.
  int64_t snapshot_base_timeout_ms = 60000;
  int64_t snapshot_bytes_per_second = 4 << 20;
};

class GrpcRaftTransport : public RaftTransport {
 public:
  explicit GrpcRaftTransport(GrpcRaftTransportOptions options);
  ~GrpcRaftTransport() override;

  // Raft addresses ("host:port") of the other nodes; peers no longer listed are stopped.
  void SetPeers(const std::map<raft::NodeId, std::string>& peers);
  void Send(std::vector<raft::Message> messages) override;
  void SendSnapshot(raft::Message message, std::string dir, std::function<void(absl::Status)> done) override;
  void SendEffects(ApplyEffects effects) override;
  // Stops every sender thread (and waits for snapshot transfers); later sends are dropped.
  void Stop();

 private:
  class Peer;
  absl::Status StreamSnapshot(const std::string& address, const raft::Message& message, const std::string& dir);

  const GrpcRaftTransportOptions options_;
  absl::Mutex mu_;
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
  std::map<raft::NodeId, std::string> addresses_ ABSL_GUARDED_BY(mu_);
  std::set<raft::NodeId> sending_snapshot_ ABSL_GUARDED_BY(mu_);
  struct SnapshotThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<SnapshotThread> snapshot_threads_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

class RaftTransportServiceImpl;

class GrpcRaftServer {
 public:
  // Serves RaftTransportService on `bind_address` ("host:port", port 0 = any) and hands every
  // batch to `handler`, which must outlive the server (or Shutdown). UNAVAILABLE if the port
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcRaftServer>> Start(const std::string& bind_address,
                                                               RaftMessageHandler* handler);
  ~GrpcRaftServer();

  int port() const { return port_; }
  // Stops accepting and waits briefly for calls in progress; idempotent.
  void Shutdown();

 private:
  GrpcRaftServer() = default;

  std::unique_ptr<RaftTransportServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace cistern::journal
