// BlockMasterConnection: the three BlockMaster calls a worker makes, behind an interface so
// MasterSync is tested against an in-process fake. NewBlockMasterConnection returns the gRPC
// implementation (over rpc::MasterClient, with its deadline and retry window).
//
// Thread safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cistern/proto/master.pb.h"

namespace cistern::worker {

class BlockMasterConnection {
 public:
  virtual ~BlockMasterConnection() = default;
  virtual absl::StatusOr<proto::RegisterWorkerResponse> RegisterWorker(const proto::RegisterWorkerRequest& request) = 0;
  virtual absl::StatusOr<proto::WorkerHeartbeatResponse> WorkerHeartbeat(
      const proto::WorkerHeartbeatRequest& request) = 0;
  virtual absl::StatusOr<proto::CommitBlockResponse> CommitBlock(const proto::CommitBlockRequest& request) = 0;
};

// `addresses` are host:port of every master. Each call has a deadline of rpc_timeout_ms and is
// retried while the master is unreachable for up to retry_window_ms.
std::unique_ptr<BlockMasterConnection> NewBlockMasterConnection(std::vector<std::string> addresses,
                                                                int64_t rpc_timeout_ms, int64_t retry_window_ms);

}  // namespace cistern::worker
