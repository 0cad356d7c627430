// gRPC adapters of the master's services: they translate between protos and the domain objects
// (FileSystemMaster, BlockMaster) and between absl::Status and grpc::Status. No logic lives here.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cistern/proto/master.grpc.pb.h"
#include "common/thread_pool.h"
#include "master/block_master.h"
#include "master/file_system_master.h"
#include "master/namespace_store.h"
#include "journal/journal.h"
#include "master/serving_gate.h"

namespace cistern::master {

// FileSystemMaster on gRPC's callback API. Reads are answered on gRPC's own event threads when
// they need neither an under-store nor a wait for durability (the common case), so a metadata
// read costs no thread hand-off. Everything that may block (mutations: path locks, under-store
// calls, journal commits; reads that must load or wait) runs on `blocking`, a fixed pool, and
// finishes its call from there. (The synchronous API would instead run handlers on threads
// that gRPC creates and destroys as load varies, which dominated a create's cost.)
using FileSystemMasterBase = proto::FileSystemMaster::WithCallbackMethod_GetStatus<
    proto::FileSystemMaster::WithCallbackMethod_ListStatus<
    proto::FileSystemMaster::WithCallbackMethod_CreateDirectory<
    proto::FileSystemMaster::WithCallbackMethod_CreateFile<
    proto::FileSystemMaster::WithCallbackMethod_CompleteFile<
    proto::FileSystemMaster::WithCallbackMethod_Delete<
    proto::FileSystemMaster::WithCallbackMethod_Rename<
    proto::FileSystemMaster::WithCallbackMethod_GetMountTable<
    proto::FileSystemMaster::WithCallbackMethod_SetAttribute<
    proto::FileSystemMaster::WithCallbackMethod_Exists<
    proto::FileSystemMaster::WithCallbackMethod_Free<
    proto::FileSystemMaster::WithCallbackMethod_Mount<
    proto::FileSystemMaster::WithCallbackMethod_Unmount<
    proto::FileSystemMaster::WithCallbackMethod_SyncMetadata<
    proto::FileSystemMaster::WithCallbackMethod_Persist<proto::FileSystemMaster::Service>>>>>>>>>>>>>>>;

class FileSystemMasterService final : public FileSystemMasterBase {
 public:
  // `fs`, `blocking` and `gate` (may be null: always serve) must outlive the service (and the
  // server's shutdown).
  FileSystemMasterService(FileSystemMaster* fs, ThreadPool* blocking, const ServingGate* gate = nullptr)
      : fs_(fs), blocking_(blocking), gate_(gate) {}

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext*, const proto::GetStatusRequest*,
                                      proto::GetStatusResponse*) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext*, const proto::ExistsRequest*,
                                   proto::ExistsResponse*) override;
  grpc::ServerWriteReactor<proto::ListStatusResponse>* ListStatus(grpc::CallbackServerContext*,
                                                                  const proto::ListStatusRequest*) override;
  grpc::ServerUnaryReactor* CreateDirectory(grpc::CallbackServerContext*, const proto::CreateDirectoryRequest*,
                                            proto::CreateDirectoryResponse*) override;
  grpc::ServerUnaryReactor* CreateFile(grpc::CallbackServerContext*, const proto::CreateFileRequest*,
                                       proto::CreateFileResponse*) override;
  grpc::ServerUnaryReactor* CompleteFile(grpc::CallbackServerContext*, const proto::CompleteFileRequest*,
                                         proto::CompleteFileResponse*) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext*, const proto::DeleteRequest*,
                                   proto::DeleteResponse*) override;
  grpc::ServerUnaryReactor* Rename(grpc::CallbackServerContext*, const proto::RenameRequest*,
                                   proto::RenameResponse*) override;
  grpc::ServerUnaryReactor* GetMountTable(grpc::CallbackServerContext*, const proto::GetMountTableRequest*,
                                          proto::GetMountTableResponse*) override;
  grpc::ServerUnaryReactor* SetAttribute(grpc::CallbackServerContext*, const proto::SetAttributeRequest*,
                                         proto::SetAttributeResponse*) override;
  grpc::ServerUnaryReactor* Free(grpc::CallbackServerContext*, const proto::FreeRequest*,
                                 proto::FreeResponse*) override;
  grpc::ServerUnaryReactor* Mount(grpc::CallbackServerContext*, const proto::MountRequest*,
                                  proto::MountResponse*) override;
  grpc::ServerUnaryReactor* Unmount(grpc::CallbackServerContext*, const proto::UnmountRequest*,
                                    proto::UnmountResponse*) override;
  grpc::ServerUnaryReactor* SyncMetadata(grpc::CallbackServerContext*, const proto::SyncMetadataRequest*,
                                         proto::SyncMetadataResponse*) override;
  grpc::ServerUnaryReactor* Persist(grpc::CallbackServerContext*, const proto::PersistRequest*,
                                    proto::PersistResponse*) override;

 private:
  class ListReactor;
  // Runs `handler` (returning the call's grpc::Status) on the blocking pool and finishes the
  // call with its result; UNAVAILABLE at once if the pool is saturated.
  template <typename Handler>
  grpc::ServerUnaryReactor* OnBlockingPool(grpc::CallbackServerContext* context, Handler handler);
  // Runs `read(ReadOptions)` here without blocking; if it would block, again on the pool.
  template <typename Read>
  grpc::ServerUnaryReactor* ReadHereOrOnPool(grpc::CallbackServerContext* context, Read read);

  FileSystemMaster* const fs_;
  ThreadPool* const blocking_;
  const ServingGate* const gate_;
};

class BlockMasterService final : public proto::BlockMaster::Service {
 public:
  explicit BlockMasterService(BlockMaster* blocks, const ServingGate* gate = nullptr) : blocks_(blocks), gate_(gate) {}

  grpc::Status RegisterWorker(grpc::ServerContext*, const proto::RegisterWorkerRequest*,
                              proto::RegisterWorkerResponse*) override;
  grpc::Status WorkerHeartbeat(grpc::ServerContext*, const proto::WorkerHeartbeatRequest*,
                               proto::WorkerHeartbeatResponse*) override;
  grpc::Status CommitBlock(grpc::ServerContext*, const proto::CommitBlockRequest*, proto::CommitBlockResponse*) override;
  grpc::Status GetWorkerInfoList(grpc::ServerContext*, const proto::GetWorkerInfoListRequest*,
                                 proto::GetWorkerInfoListResponse*) override;

 private:
  BlockMaster* const blocks_;
  const ServingGate* const gate_;
};

struct MasterIdentity {
  std::string cluster_id;
  proto::NetAddress address;
  int64_t start_time_ms = 0;
};

class MetaMasterService final : public proto::MetaMaster::Service {
 public:
  // All pointers must outlive the service.
  MetaMasterService(MasterIdentity identity, const NamespaceStore* store, const journal::Journal* journal,
                    const FileSystemMaster* fs, const ServingGate* gate = nullptr)
      : identity_(std::move(identity)), store_(store), journal_(journal), fs_(fs), gate_(gate) {}

  grpc::Status GetMasterInfo(grpc::ServerContext*, const proto::GetMasterInfoRequest*,
                             proto::GetMasterInfoResponse*) override;

  // The HTTP port, known only once the HTTP server is up (after the gRPC server).
  void set_http_port(int port) { http_port_ = port; }

 private:
  const MasterIdentity identity_;
  std::atomic<int> http_port_{0};
  const NamespaceStore* const store_;
  const journal::Journal* const journal_;
  const FileSystemMaster* const fs_;
  const ServingGate* const gate_;
};

}  // namespace cistern::master
