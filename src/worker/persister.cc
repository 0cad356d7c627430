#include "worker/persister.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/units.h"
#include "rpc/worker_client.h"
#include "spdlog/spdlog.h"

namespace cistern::worker {

Persister::Persister(BlockStore* store, UfsRegistry* ufs, PersisterOptions options)
    : store_(store), ufs_(ufs), options_(std::move(options)),
      files_persisted_(Metrics().GetCounter("cistern_worker_persisted_files_total",
                                            "Files this worker wrote to their under-store for persistence")),
      persist_failures_(Metrics().GetCounter("cistern_worker_persist_failures_total",
                                             "Persistence attempts that failed on this worker")),
      bytes_persisted_(Metrics().GetCounter("cistern_worker_persisted_bytes_total",
                                            "Bytes this worker wrote to under-stores for persistence")) {
  for (int i = 0; i < std::max(1, options_.max_concurrent); ++i) threads_.emplace_back([this] { Loop(); });
}

Persister::~Persister() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void Persister::Submit(proto::PersistFileCommand command) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || !active_.insert(command.file_id()).second) return;
  queue_.push_back(std::move(command));
}

std::vector<uint64_t> Persister::InProgress() const {
  absl::MutexLock lock(&mu_);
  return {active_.begin(), active_.end()};
}

std::vector<proto::PersistResult> Persister::TakeResults() {
  absl::MutexLock lock(&mu_);
  std::vector<proto::PersistResult> out;
  out.swap(results_);
  return out;
}

void Persister::RestoreResults(std::vector<proto::PersistResult> results) {
  absl::MutexLock lock(&mu_);
  for (proto::PersistResult& r : results) results_.push_back(std::move(r));
}

bool Persister::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void Persister::Loop() {
  while (true) {
    proto::PersistFileCommand command;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      command = std::move(queue_.front());
      queue_.pop_front();
    }
    proto::PersistResult result = Run(command);
    absl::MutexLock lock(&mu_);
    active_.erase(command.file_id());
    results_.push_back(std::move(result));
  }
}

proto::PersistResult Persister::Run(const proto::PersistFileCommand& command) {
  proto::PersistResult result;
  result.set_file_id(command.file_id());
  result.set_attempt(command.attempt());
  result.set_ufs_path(command.ufs_path());
  const std::string what = absl::StrCat("persist file id ", command.file_id(), " to ", command.ufs_path());
  auto fail = [&](const absl::Status& status) {
    persist_failures_->Add(1);
    const absl::Status annotated = Annotate(status, what);
    spdlog::warn("{}", annotated.ToString());
    result.set_error(std::string(annotated.message()));
    return result;
  };
  absl::StatusOr<ufs::UnderFileSystem*> store = ufs_->Get(command.ufs_path(), command.mount_id());
  if (!store.ok()) return fail(store.status());
  ufs::CreateOptions create;
  create.overwrite = true;
  create.create_parents = true;
  if (command.mode() != 0) create.mode = command.mode();
  // Recorded before its temporary file can exist; the record goes with the stream at the end.
  absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> out =
      options_.ufs_write_records != nullptr
          ? options_.ufs_write_records->Create(*store, command.mount_id(), command.ufs_path(), create)
          : (*store)->Create(command.ufs_path(), create);
  if (!out.ok()) return fail(out.status());
  std::string buffer;
  int64_t written = 0;
  int64_t emitted = 0;
  const int64_t start_ms = RealClock()->MonotonicMs();
  for (const proto::BlockInfo& block : command.blocks()) {
    if (block.offset() != written || block.length() <= 0) {
      (*out)->Abort();
      return fail(absl::InvalidArgumentError(absl::StrCat("block ", block.block_id(), " at offset ", block.offset(),
                                                          " with length ", block.length(), " does not follow byte ",
                                                          written)));
    }
    absl::Status copied = CopyBlock(block, out->get(), &buffer, start_ms, &emitted);
    if (!copied.ok()) {
      (*out)->Abort();
      return fail(copied);
    }
    written += block.length();
  }
  if (written != command.length()) {
    (*out)->Abort();
    return fail(absl::InvalidArgumentError(absl::StrCat("blocks cover ", written, " of ", command.length(), " bytes")));
  }
  absl::StatusOr<ufs::UfsStatus> closed = (*out)->Close();
  if (!closed.ok()) return fail(closed.status());
  result.mutable_ufs_fingerprint()->set_length(closed->length);
  result.mutable_ufs_fingerprint()->set_mtime_ms(closed->mtime_ms);
  result.mutable_ufs_fingerprint()->set_etag(closed->etag);
  files_persisted_->Add(1);
  bytes_persisted_->Add(written);
  spdlog::info("persisted file id {} ({}) to {}", command.file_id(), FormatBytes(written), command.ufs_path());
  return result;
}

absl::Status Persister::Throttle(int64_t written, int64_t start_ms) {
  const int64_t rate = options_.rate_limit_bytes_per_sec;
  const int64_t due_ms = rate > 0 ? start_ms + written * 1000 / rate : 0;
  absl::MutexLock lock(&mu_);
  if (rate > 0) {
    const int64_t wait_ms = due_ms - RealClock()->MonotonicMs();
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (wait_ms > 0) mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(wait_ms));
  }
  if (stopping_) return absl::UnavailableError("worker shutting down");
  return absl::OkStatus();
}

absl::Status Persister::Emit(ufs::UfsOutputStream* out, std::string_view data, int64_t start_ms, int64_t* written) {
  CISTERN_RETURN_IF_ERROR(Throttle(*written, start_ms));
  CISTERN_RETURN_IF_ERROR(out->Write(data));
  *written += static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

absl::Status Persister::CopyBlock(const proto::BlockInfo& block, ufs::UfsOutputStream* out, std::string* buffer,
                                  int64_t start_ms, int64_t* written) {
  if (buffer->size() < static_cast<size_t>(options_.chunk_bytes)) buffer->resize(static_cast<size_t>(options_.chunk_bytes));
  absl::StatusOr<std::unique_ptr<BlockReader>> local = store_->OpenReader(block.block_id());
  if (local.ok()) {
    if ((*local)->length() != block.length()) {
      return absl::DataLossError(absl::StrCat("cached block ", block.block_id(), " has ", (*local)->length(),
                                              " bytes, the file's block ", block.length()));
    }
    for (int64_t pos = 0; pos < block.length();) {
      CISTERN_ASSIGN_OR_RETURN(int64_t n, (*local)->ReadAt(pos, options_.chunk_bytes, buffer->data()));
      if (n == 0) return absl::DataLossError(absl::StrCat("cached block ", block.block_id(), " ended at ", pos));
      CISTERN_RETURN_IF_ERROR(Emit(out, std::string_view(buffer->data(), static_cast<size_t>(n)), start_ms, written));
      pos += n;
    }
    return absl::OkStatus();
  }
  absl::Status error = local.status();
  for (const proto::BlockLocation& location : block.locations()) {
    const std::string address = absl::StrCat(location.address().host(), ":", location.address().rpc_port());
    if (address == options_.self_address || !options_.peer) continue;
    int64_t copied = 0;
    absl::Status status = CopyFromPeer(block, address, out, buffer, start_ms, written, &copied);
    if (status.ok()) return status;
    error = status;
    // Bytes already in the output cannot be taken back: only a peer that sent nothing is
    // replaced by the next.
    if (copied > 0) break;
  }
  return Annotate(error, absl::StrCat("read block ", block.block_id()));
}

absl::Status Persister::CopyFromPeer(const proto::BlockInfo& block, const std::string& address,
                                     ufs::UfsOutputStream* out, std::string* buffer, int64_t start_ms,
                                     int64_t* written, int64_t* copied) {
  proto::ReadBlockRequest request;
  request.set_block_id(block.block_id());
  request.set_offset(0);
  request.set_length(-1);
  request.set_read_type(proto::NO_CACHE);
  request.set_chunk_size_bytes(static_cast<int32_t>(std::min<int64_t>(options_.chunk_bytes, 1 << 30)));
  std::unique_ptr<rpc::BlockReadStream> stream = options_.peer(address)->OpenBlockReader(request);
  while (true) {
    CISTERN_ASSIGN_OR_RETURN(int64_t n, stream->Read(buffer->data(), static_cast<int64_t>(buffer->size())));
    if (n == 0) break;
    if (*copied + n > block.length()) {
      return absl::DataLossError(absl::StrCat("worker ", address, " sent more than the ", block.length(), " bytes of block ",
                                              block.block_id()));
    }
    CISTERN_RETURN_IF_ERROR(Emit(out, std::string_view(buffer->data(), static_cast<size_t>(n)), start_ms, written));
    *copied += n;
  }
  if (*copied != block.length()) {
    return absl::DataLossError(absl::StrCat("worker ", address, " sent ", *copied, " of the ", block.length(),
                                            " bytes of block ", block.block_id()));
  }
  return absl::OkStatus();
}

}  // namespace cistern::worker
