#include "rpc/master_client.h"

#include <chrono>
#include <cstring>
#include <random>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"

namespace cistern::rpc {

MasterClient::MasterClient(MasterClientOptions options) : options_(std::move(options)) {
  if (!options_.addresses.empty()) current_ = options_.addresses.front();
}

std::string MasterClient::current_address() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::string MasterClient::NextAddress(const std::string& after) const {
  const auto& all = options_.addresses;
  auto it = std::find(all.begin(), all.end(), after);
  if (it == all.end() || ++it == all.end()) return all.front();
  return *it;
}

absl::Status MasterClient::Invoke(
    const char* name, const std::function<grpc::Status(const std::string&, grpc::ClientContext*)>& call) {
  if (options_.addresses.empty()) return absl::FailedPreconditionError("no master address configured");
  const int64_t give_up_ms = RealClock()->MonotonicMs() + options_.retry_window_ms;
  // While no master names a leader (an election is running), pause after each round through
  // the list; the pause stays short so a new leader is found soon after it is elected.
  int64_t pause_ms = 20;
  constexpr int64_t kMaxPauseMs = 250;
  std::string address = options_.follow_leader ? current_address() : options_.addresses.front();
  size_t tried_since_pause = 0;
  int redirects = 0;
  while (true) {
    grpc::ClientContext context;
    SetDeadline(&context, options_.rpc_timeout_ms);
    grpc::Status status = call(address, &context);
    const std::string tried = address;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      if (options_.follow_leader) {
        absl::MutexLock lock(&mu_);
        current_ = address;
      }
      return FromGrpcStatus(status, absl::StrCat("master ", address, " ", name));
    }
    if (options_.follow_leader) {
      const std::string leader = LeaderHint(context);
      // A bounded number of redirects in a row, in case two masters name each other while a
      // leadership changes hands.
      if (!leader.empty() && leader != address && redirects < 3) {
        ++redirects;
        address = leader;
        continue;
      }
      redirects = 0;
      address = NextAddress(address);
      if (++tried_since_pause < options_.addresses.size()) continue;
    }
    tried_since_pause = 0;
    if (RealClock()->MonotonicMs() + pause_ms > give_up_ms) {
      return absl::UnavailableError(absl::StrCat("master ", tried, " ", name, ": unreachable: ",
                                                 status.error_message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    pause_ms = std::min<int64_t>(pause_ms * 2, kMaxPauseMs);
  }
}

namespace {

// Mutating requests carry an operation id; one is chosen here when the caller did not, so every
// retry below re-sends the same id and the master applies the operation at most once.
template <typename Request>
Request WithOperationId(const Request& request) {
  Request copy = request;
  if constexpr (requires { copy.operation_id(); }) {
    if (copy.operation_id().empty()) copy.set_operation_id(NewOperationId());
  }
  return copy;
}

}  // namespace

std::string NewOperationId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  // The time first (big-endian microseconds, like a UUIDv7): the master keys its operation
  // records by this id, and ids that sort by time land next to each other in its metastore,
  // which makes writing a record about as cheap as appending one. Uniqueness rests on the
  // random half.
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i) id[i] = static_cast<char>((static_cast<uint64_t>(micros) >> (56 - 8 * i)) & 0xff);
  const uint64_t random = rng();
  std::memcpy(id.data() + 8, &random, 8);
  return id;
}

#define CISTERN_MASTER_UNARY(Service, Method)                                                    \
  absl::StatusOr<proto::Method##Response> MasterClient::Method(const proto::Method##Request& original) { \
    const proto::Method##Request request = WithOperationId(original);                            \
    proto::Method##Response response;                                                            \
    absl::Status status = Invoke(#Method, [&](const std::string& address, grpc::ClientContext* ctx) { \
      response.Clear();                                                                          \
      return proto::Service::NewStub(GetChannel(address, options_.security))->Method(ctx, request, &response); \
    });                                                                                          \
    if (!status.ok()) return status;                                                             \
    return response;                                                                             \
  }

CISTERN_MASTER_UNARY(FileSystemMaster, GetStatus)
CISTERN_MASTER_UNARY(FileSystemMaster, CreateDirectory)
CISTERN_MASTER_UNARY(FileSystemMaster, CreateFile)
CISTERN_MASTER_UNARY(FileSystemMaster, CompleteFile)
CISTERN_MASTER_UNARY(FileSystemMaster, Delete)
CISTERN_MASTER_UNARY(FileSystemMaster, Rename)
CISTERN_MASTER_UNARY(FileSystemMaster, GetMountTable)
CISTERN_MASTER_UNARY(FileSystemMaster, SetAttribute)
CISTERN_MASTER_UNARY(FileSystemMaster, Exists)
CISTERN_MASTER_UNARY(FileSystemMaster, Free)
CISTERN_MASTER_UNARY(FileSystemMaster, Mount)
CISTERN_MASTER_UNARY(FileSystemMaster, Unmount)
CISTERN_MASTER_UNARY(FileSystemMaster, SyncMetadata)
CISTERN_MASTER_UNARY(FileSystemMaster, Persist)
CISTERN_MASTER_UNARY(BlockMaster, RegisterWorker)
CISTERN_MASTER_UNARY(BlockMaster, WorkerHeartbeat)
CISTERN_MASTER_UNARY(BlockMaster, CommitBlock)
CISTERN_MASTER_UNARY(BlockMaster, GetWorkerInfoList)
CISTERN_MASTER_UNARY(MetaMaster, GetMasterInfo)
CISTERN_MASTER_UNARY(JournalAdmin, GetJournalInfo)
CISTERN_MASTER_UNARY(JournalAdmin, Checkpoint)
CISTERN_MASTER_UNARY(JournalAdmin, AddMaster)
CISTERN_MASTER_UNARY(JournalAdmin, RemoveMaster)
CISTERN_MASTER_UNARY(JournalAdmin, TransferLeadership)
CISTERN_MASTER_UNARY(JournalAdmin, Backup)

#undef CISTERN_MASTER_UNARY

absl::Status MasterClient::ListStatus(
    const proto::ListStatusRequest& request,
    const std::function<absl::Status(const proto::ListStatusResponse&)>& visit) {
  absl::Status visit_status;
  bool received = false;
  absl::Status status = Invoke("ListStatus", [&](const std::string& address, grpc::ClientContext* ctx) {
    if (received) {
      // Part of the listing was delivered; a retry would repeat it. Report the failure instead.
      return grpc::Status(grpc::StatusCode::ABORTED, "listing interrupted");
    }
    auto reader = proto::FileSystemMaster::NewStub(GetChannel(address, options_.security))->ListStatus(ctx, request);
    proto::ListStatusResponse page;
    while (reader->Read(&page)) {
      received = true;
      visit_status = visit(page);
      if (!visit_status.ok()) {
        ctx->TryCancel();
        break;
      }
    }
    return reader->Finish();
  });
  if (!visit_status.ok()) return visit_status;
  return status;
}

}  // namespace cistern::rpc
