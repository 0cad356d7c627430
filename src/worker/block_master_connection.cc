#include "worker/block_master_connection.h"

#include "rpc/master_client.h"

namespace cistern::worker {

namespace {

class GrpcBlockMasterConnection : public BlockMasterConnection {
 public:
  explicit GrpcBlockMasterConnection(rpc::MasterClientOptions options) : client_(std::move(options)) {}

  absl::StatusOr<proto::RegisterWorkerResponse> RegisterWorker(const proto::RegisterWorkerRequest& request) override {
    return client_.RegisterWorker(request);
  }
  absl::StatusOr<proto::WorkerHeartbeatResponse> WorkerHeartbeat(
      const proto::WorkerHeartbeatRequest& request) override {
    return client_.WorkerHeartbeat(request);
  }
  absl::StatusOr<proto::CommitBlockResponse> CommitBlock(const proto::CommitBlockRequest& request) override {
    return client_.CommitBlock(request);
  }

 private:
  rpc::MasterClient client_;
};

}  // namespace

std::unique_ptr<BlockMasterConnection> NewBlockMasterConnection(std::vector<std::string> addresses,
                                                                int64_t rpc_timeout_ms, int64_t retry_window_ms) {
  rpc::MasterClientOptions options;
  options.addresses = std::move(addresses);
  options.rpc_timeout_ms = rpc_timeout_ms;
  options.retry_window_ms = retry_window_ms;
  return std::make_unique<GrpcBlockMasterConnection>(std::move(options));
}

}  // namespace cistern::worker
