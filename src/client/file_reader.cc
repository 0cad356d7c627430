#include "client/file_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/convert.h"
#include "common/clock.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace cistern::client {

std::vector<BlockStatus> FileBlocks(const FileStatus& status) {
  if (!status.blocks.empty()) return status.blocks;
  std::vector<BlockStatus> blocks;
  for (size_t i = 0; i < status.block_ids.size(); ++i) {
    BlockStatus b;
    b.block_id = status.block_ids[i];
    b.offset = static_cast<int64_t>(i) * status.block_size_bytes;
    b.length = std::min(status.block_size_bytes, status.length - b.offset);
    blocks.push_back(b);
  }
  return blocks;
}

void SetUfsSource(const FileStatus& status, const BlockStatus& block, proto::UfsBlockSource* source) {
  source->set_ufs_path(status.ufs_path);
  source->set_mount_id(status.mount_id);
  source->set_offset_in_file(block.offset);
  source->set_block_length(block.length);
}

void AddReadAhead(const FileStatus& status, const std::vector<BlockStatus>& blocks, size_t index, int depth,
                  const std::function<bool(const BlockStatus&)>& same_worker,
                  google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>* read_ahead) {
  for (size_t next = index + 1; next <= index + static_cast<size_t>(std::max(depth, 0)) && next < blocks.size();
       ++next) {
    const BlockStatus& block = blocks[next];
    // A cached block is read from where it is; one another worker would serve is fetched there.
    if (!block.locations.empty() || !same_worker(block)) continue;
    proto::ReadAheadBlock* ahead = read_ahead->Add();
    ahead->set_block_id(block.block_id);
    SetUfsSource(status, block, ahead->mutable_ufs());
  }
}

FileReaderImpl::FileReaderImpl(FileSystemImpl* fs, FileStatus status, ReadType read_type)
    : fs_(fs), status_(std::move(status)), read_type_(read_type), blocks_(FileBlocks(status_)) {
  if (!status_.capability.empty()) capability_.ParseFromString(status_.capability);
}

absl::Status FileReaderImpl::RenewCapability(const absl::Status& error) {
  constexpr int kMaxRenewals = 3;
  if (capability_.mac().empty() || capability_renewals_ >= kMaxRenewals ||
      RealClock()->NowMs() < capability_.expiry_ms()) {
    return error;
  }
  ++capability_renewals_;
  proto::GetStatusRequest request;
  request.set_path(status_.path);
  request.set_include_block_locations(true);
  CISTERN_ASSIGN_OR_RETURN(proto::GetStatusResponse response, fs_->master().GetStatus(request));
  if (response.info().file_id() != status_.file_id) {
    return absl::NotFoundError(absl::StrCat(status_.path, " was replaced while it was being read"));
  }
  if (!response.info().has_capability()) return error;  // no longer readable by this user
  capability_ = response.info().capability();
  return absl::OkStatus();
}

FileReaderImpl::~FileReaderImpl() { CloseStream(); }

void FileReaderImpl::CloseStream() {
  stream_.reader.reset();
  stream_pos_ = -1;
}

size_t FileReaderImpl::BlockAt(int64_t offset) const {
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), offset,
                             [](int64_t o, const BlockStatus& b) { return o < b.offset; });
  return it == blocks_.begin() ? 0 : static_cast<size_t>(it - blocks_.begin() - 1);
}

absl::StatusOr<FileReaderImpl::Stream> FileReaderImpl::OpenStream(size_t index, int64_t offset, int64_t length,
                                                                  const std::vector<uint64_t>& exclude, bool refresh) {
  const BlockStatus& block = blocks_[index];
  CISTERN_ASSIGN_OR_RETURN(auto selector, fs_->Selector(refresh));
  absl::StatusOr<WorkerEndpoint> worker = selector->ForBlock(block.block_id, block.locations, exclude);
  if (!worker.ok()) return Annotate(worker.status(), absl::StrCat("reading ", status_.path));
  proto::ReadBlockRequest request;
  request.set_block_id(block.block_id);
  request.set_offset(offset - block.offset);
  request.set_length(length);
  request.set_read_type(ToProto(read_type_));
  request.set_chunk_size_bytes(static_cast<int32_t>(fs_->options().chunk_size_bytes));
  if (!capability_.mac().empty()) *request.mutable_capability() = capability_;
  // Only a persisted file has a complete under-store copy to read through from.
  if (status_.persistence_state == PersistenceState::kPersisted) {
    SetUfsSource(status_, block, request.mutable_ufs());
    // A reader streaming through the file has the worker fetch the next blocks meanwhile.
    if (length < 0 && ArrivedSequentially(index)) FillReadAhead(index, worker->worker_id, request.mutable_read_ahead());
  }
  Stream stream;
  stream.reader = fs_->Worker(worker->address)->OpenBlockReader(request);
  stream.worker_id = worker->worker_id;
  stream.address = worker->address;
  return stream;
}

void FileReaderImpl::FillReadAhead(size_t index, uint64_t worker_id,
                                   google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>* read_ahead) {
  read_ahead_asked_ = index;
  if (status_.persistence_state != PersistenceState::kPersisted || read_type_ == ReadType::kNoCache ||
      fs_->options().read_ahead_blocks <= 0) {
    return;
  }
  absl::StatusOr<std::shared_ptr<const WorkerSelector>> selector = fs_->Selector(/*refresh=*/false);
  if (!selector.ok()) return;
  AddReadAhead(status_, blocks_, index, fs_->options().read_ahead_blocks,
               [&](const BlockStatus& next) {
                 absl::StatusOr<WorkerEndpoint> serving =
                     (*selector)->ForBlock(next.block_id, next.locations, failed_workers_);
                 return serving.ok() && serving->worker_id == worker_id;
               },
               read_ahead);
}

void FileReaderImpl::ReadAheadAtMiddle(size_t index) {
  const BlockStatus& block = blocks_[index];
  if (read_ahead_asked_ == index || pos_ - block.offset < block.length / 2) return;
  const bool local = local_ != nullptr && local_->block_id() == block.block_id;
  if (!local && !stream_.reader) return;
  proto::CacheBlockRequest request;
  request.set_block_id(block.block_id);
  request.set_read_ahead_only(true);
  FillReadAhead(index, local ? local_worker_id_ : stream_.worker_id, request.mutable_read_ahead());
  if (request.read_ahead_size() == 0) return;
  SetUfsSource(status_, block, request.mutable_ufs());
  if (!capability_.mac().empty()) *request.mutable_capability() = capability_;
  // A hint: the worker answers at once, and a failure only costs the read-ahead.
  absl::Status sent = local ? leasers_.at(local_worker_id_)->Cache(request)
                            : fs_->Worker(stream_.address)->CacheBlock(request).status();
  if (!sent.ok()) spdlog::debug("reading {}: read-ahead after block {}: {}", status_.path, block.block_id, sent.ToString());
}

bool FileReaderImpl::CanRetry(size_t index, const std::vector<uint64_t>& exclude) const {
  if (status_.persistence_state == PersistenceState::kPersisted) return true;
  for (const BlockLocation& l : blocks_[index].locations) {
    if (std::find(exclude.begin(), exclude.end(), l.worker_id) == exclude.end()) return true;
  }
  return false;
}

absl::StatusOr<int64_t> FileReaderImpl::ReadUfs(int64_t offset, char* buf, int64_t n) {
  if (!ufs_reader_) {
    CISTERN_ASSIGN_OR_RETURN(ufs_, fs_->OpenUnderStore(status_.ufs_path, status_.mount_id));
    absl::StatusOr<std::unique_ptr<ufs::RandomAccessReader>> reader = ufs_->Open(status_.ufs_path);
    if (!reader.ok()) return Annotate(reader.status(), absl::StrCat("reading ", status_.path, " from the under-store"));
    ufs_reader_ = *std::move(reader);
  }
  int64_t done = 0;
  while (done < n) {
    CISTERN_ASSIGN_OR_RETURN(int64_t got, ufs_reader_->ReadAt(offset + done, n - done, buf + done));
    if (got == 0) {
      return absl::DataLossError(absl::StrCat("under-store copy ", status_.ufs_path, " of ", status_.path,
                                              " ended at ", offset + done, ", expected ", status_.length, " bytes"));
    }
    done += got;
  }
  return done;
}

LocalBlockFile* FileReaderImpl::ColdLocalFile(size_t index) {
  const BlockStatus& block = blocks_[index];
  if (!fs_->options().short_circuit_cold_reads || no_cold_short_circuit_ || read_type_ == ReadType::kNoCache ||
      status_.persistence_state != PersistenceState::kPersisted || status_.ufs_path.empty() ||
      !ArrivedSequentially(index)) {
    return nullptr;
  }
  absl::StatusOr<std::shared_ptr<const WorkerSelector>> selector = fs_->Selector(/*refresh=*/false);
  if (!selector.ok()) return nullptr;
  // The worker a network read of the block would go to: only if it is on this host.
  absl::StatusOr<WorkerEndpoint> worker = (*selector)->ForBlock(block.block_id, {}, failed_workers_);
  if (!worker.ok() || !worker->local ||
      std::find(no_short_circuit_.begin(), no_short_circuit_.end(), worker->worker_id) != no_short_circuit_.end()) {
    return nullptr;
  }
  std::unique_ptr<LocalBlockLeaser>& leaser = leasers_[worker->worker_id];
  if (leaser == nullptr) leaser = std::make_unique<LocalBlockLeaser>(fs_->Worker(worker->address), ToProto(read_type_));
  proto::CacheBlockRequest request;
  request.set_block_id(block.block_id);
  SetUfsSource(status_, block, request.mutable_ufs());
  if (!capability_.mac().empty()) *request.mutable_capability() = capability_;
  FillReadAhead(index, worker->worker_id, request.mutable_read_ahead());
  absl::StatusOr<std::unique_ptr<LocalBlockFile>> file = LocalBlockFile::CacheAndOpen(leaser.get(), request, block.length);
  if (file.ok()) {
    local_ = *std::move(file);
    local_worker_id_ = worker->worker_id;
    return local_.get();
  }
  if (absl::IsFailedPrecondition(file.status()) || absl::IsUnimplemented(file.status())) {
    no_short_circuit_.push_back(worker->worker_id);
  } else if (!absl::IsPermissionDenied(file.status()) && !absl::IsUnauthenticated(file.status())) {
    // No room, the under-store failed, the worker is down...: the network read (which fails
    // over, renews capabilities and serves a block that does not fit from memory) takes it
    // from here, for the rest of the file.
    no_cold_short_circuit_ = true;
  }
  spdlog::debug("reading {}: no cold short-circuit read of block {}: {}", status_.path, block.block_id,
                file.status().ToString());
  return nullptr;
}

LocalBlockFile* FileReaderImpl::LocalFile(size_t index, size_t last, bool sequential) {
  const BlockStatus& block = blocks_[index];
  if (local_ != nullptr && local_->block_id() == block.block_id) return local_.get();
  local_.reset();
  if (!fs_->options().short_circuit_enabled) return nullptr;
  if (block.locations.empty()) return sequential ? ColdLocalFile(index) : nullptr;
  absl::StatusOr<std::shared_ptr<const WorkerSelector>> selector = fs_->Selector(/*refresh=*/false);
  if (!selector.ok()) return nullptr;
  auto skipped = [](const std::vector<uint64_t>& ids, uint64_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  for (const BlockLocation& location : block.locations) {
    if (skipped(failed_workers_, location.worker_id) || skipped(no_short_circuit_, location.worker_id)) continue;
    for (const WorkerEndpoint& worker : (*selector)->live_workers()) {
      if (worker.worker_id != location.worker_id || !worker.local) continue;
      std::unique_ptr<LocalBlockLeaser>& leaser = leasers_[worker.worker_id];
      if (leaser == nullptr) leaser = std::make_unique<LocalBlockLeaser>(fs_->Worker(worker.address), ToProto(read_type_));
      std::vector<uint64_t> ahead;
      for (size_t next = index + 1; next <= last && next < blocks_.size(); ++next) {
        const std::vector<BlockLocation>& at = blocks_[next].locations;
        if (std::any_of(at.begin(), at.end(), [&](const BlockLocation& l) { return l.worker_id == worker.worker_id; })) {
          ahead.push_back(blocks_[next].block_id);
        }
      }
      absl::StatusOr<std::unique_ptr<LocalBlockFile>> file =
          LocalBlockFile::Open(leaser.get(), block.block_id, block.length, capability_, ahead);
      if (file.ok()) {
        local_ = *std::move(file);
        local_worker_id_ = worker.worker_id;
        return local_.get();
      }
      // Switched off there, or its files are not ours to read: do not ask that worker again. (A
      // refused capability is left to the network read, which renews an expired one.)
      if (absl::IsFailedPrecondition(file.status()) || absl::IsUnimplemented(file.status())) {
        no_short_circuit_.push_back(worker.worker_id);
      }
      spdlog::debug("reading {}: no short-circuit read of block {}: {}", status_.path, block.block_id,
                    file.status().ToString());
    }
  }
  return nullptr;
}

absl::Status FileReaderImpl::Failover(size_t index, const absl::Status& error) {
  if (IsRefusal(error)) {
    CloseStream();
    CISTERN_RETURN_IF_ERROR(RenewCapability(error));
    CISTERN_ASSIGN_OR_RETURN(Stream stream, OpenStream(index, pos_, -1, failed_workers_, /*refresh=*/false));
    stream_ = std::move(stream);
    stream_block_ = index;
    stream_pos_ = pos_;
    return absl::OkStatus();
  }
  const uint64_t failed = stream_.worker_id;
  CloseStream();
  fs_->Selector(/*refresh=*/true).IgnoreError();
  if (std::find(failed_workers_.begin(), failed_workers_.end(), failed) == failed_workers_.end()) {
    failed_workers_.push_back(failed);
  }
  const int64_t now_ms = RealClock()->MonotonicMs();
  if (failover_deadline_ms_ == 0) failover_deadline_ms_ = now_ms + fs_->options().retry_window_ms;
  // Another worker is always tried once; more only within the retry window.
  const bool first_failover = failed_workers_.size() == 1;
  if (!CanRetry(index, failed_workers_) || (!first_failover && now_ms > failover_deadline_ms_)) {
    if (CanReadUfsDirectly()) {
      spdlog::warn("reading {}: {}; reading from the under-store", status_.path, error.ToString());
      ufs_direct_ = true;
      return absl::OkStatus();
    }
    return error;
  }
  absl::StatusOr<Stream> stream = OpenStream(index, pos_, -1, failed_workers_, /*refresh=*/false);
  if (!stream.ok()) {
    if (CanReadUfsDirectly()) {
      spdlog::warn("reading {}: {}; no other worker ({}), reading from the under-store", status_.path,
                   error.ToString(), stream.status().ToString());
      ufs_direct_ = true;
      return absl::OkStatus();
    }
    return error;
  }
  spdlog::warn("reading {}: {}; continuing on worker {}", status_.path, error.ToString(), stream->worker_id);
  stream_ = *std::move(stream);
  stream_block_ = index;
  stream_pos_ = pos_;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> FileReaderImpl::Read(char* buf, int64_t n) {
  if (n <= 0 || pos_ >= status_.length) return 0;
  failover_deadline_ms_ = 0;
  const size_t index = BlockAt(pos_);
  const BlockStatus& block = blocks_[index];
  const int64_t block_end = block.offset + block.length;
  if (!ufs_direct_) {
    if (LocalBlockFile* local =
            LocalFile(index, index + static_cast<size_t>(fs_->options().short_circuit_lease_ahead), /*sequential=*/true)) {
      CloseStream();
      absl::StatusOr<int64_t> got = local->ReadAt(pos_ - block.offset, std::min(n, block_end - pos_), buf);
      if (got.ok()) {
        pos_ += *got;
        ReadAheadAtMiddle(index);
        if (pos_ == block_end) {
          sequential_end_ = pos_;
          local_.reset();  // done with the block: its lease goes back with the next call
        }
        if (pos_ == status_.length) {
          // At the end of the file: give every lease back now, not when the reader is closed.
          for (auto& [worker_id, leaser] : leasers_) leaser->Flush();
        }
        return *got;
      }
      spdlog::warn("reading {}: short-circuit read failed ({}); reading over the network", status_.path,
                   got.status().ToString());
      local_.reset();
    }
  }
  if (!ufs_direct_ && (stream_pos_ != pos_ || stream_block_ != index || !stream_.reader)) {
    CloseStream();
    absl::StatusOr<Stream> stream = OpenStream(index, pos_, -1, failed_workers_, /*refresh=*/false);
    if (stream.ok()) {
      stream_ = *std::move(stream);
      stream_block_ = index;
      stream_pos_ = pos_;
    } else if (CanReadUfsDirectly()) {
      spdlog::warn("reading {}: {}; reading from the under-store", status_.path, stream.status().ToString());
      ufs_direct_ = true;
    } else {
      return stream.status();
    }
  }
  int64_t copied = 0;
  while (copied < n && pos_ < block_end) {
    if (ufs_direct_) {
      CISTERN_ASSIGN_OR_RETURN(int64_t got, ReadUfs(pos_, buf + copied, std::min(n - copied, block_end - pos_)));
      copied += got;
      pos_ += got;
      continue;
    }
    absl::StatusOr<int64_t> got = stream_.reader->Read(buf + copied, std::min(n - copied, block_end - pos_));
    absl::Status error;
    if (!got.ok()) {
      error = got.status();
    } else if (*got == 0) {
      error = absl::DataLossError(absl::StrCat("block ", block.block_id, " of ", status_.path, " ended at offset ",
                                               pos_ - block.offset, " of ", block.length));
    }
    if (!error.ok()) {
      CISTERN_RETURN_IF_ERROR(Failover(index, error));
      continue;
    }
    copied += *got;
    pos_ += *got;
  }
  if (ufs_direct_) return copied;
  stream_pos_ = pos_;
  ReadAheadAtMiddle(index);
  if (pos_ == block_end) {
    sequential_end_ = pos_;
    // Collect the end of the call so the worker sees a completed read, not a cancellation.
    char extra = 0;
    absl::StatusOr<int64_t> more = stream_.reader->Read(&extra, 1);
    if (more.ok() && *more > 0) spdlog::warn("block {} of {}: worker sent more than the block", block.block_id, status_.path);
    CloseStream();
  }
  return copied;
}

absl::StatusOr<int64_t> FileReaderImpl::ReadAt(int64_t offset, char* buf, int64_t n) {
  if (offset < 0) return absl::InvalidArgumentError(absl::StrCat("negative read offset ", offset, " in ", status_.path));
  n = std::min(n, status_.length - offset);
  if (n <= 0) return 0;
  if (ufs_direct_) return ReadUfs(offset, buf, n);
  int64_t copied = 0;
  const int64_t deadline_ms = RealClock()->MonotonicMs() + fs_->options().retry_window_ms;
  while (copied < n) {
    const int64_t at = offset + copied;
    const size_t index = BlockAt(at);
    const BlockStatus& block = blocks_[index];
    const int64_t want = std::min(n - copied, block.offset + block.length - at);
    // A positioned read leases ahead only the blocks it covers.
    if (LocalBlockFile* local = LocalFile(index, BlockAt(offset + n - 1), /*sequential=*/false)) {
      absl::StatusOr<int64_t> got = local->ReadAt(at - block.offset, want, buf + copied);
      if (got.ok() && *got == want) {
        copied += want;
        continue;
      }
      local_.reset();
    }
    absl::Status error;
    bool from_ufs = false;
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<Stream> stream = OpenStream(index, at, want, failed_workers_, /*refresh=*/attempt > 0);
      if (!stream.ok()) {
        if (error.ok()) error = stream.status();
        from_ufs = CanReadUfsDirectly();
        break;
      }
      int64_t got = 0;
      error = absl::OkStatus();
      while (true) {
        // One byte of room beyond `want` detects a worker sending more than asked.
        char extra = 0;
        char* into = got < want ? buf + copied + got : &extra;
        absl::StatusOr<int64_t> read = stream->reader->Read(into, got < want ? want - got : 1);
        if (!read.ok()) {
          error = read.status();
          break;
        }
        if (*read == 0) break;
        got += *read;
      }
      if (error.ok() && got != want) {
        error = absl::DataLossError(absl::StrCat("block ", block.block_id, " of ", status_.path, ": got ", got,
                                                 " bytes at offset ", at - block.offset, ", expected ", want));
      }
      if (error.ok()) break;
      if (IsRefusal(error)) {
        CISTERN_RETURN_IF_ERROR(RenewCapability(error));
        continue;
      }
      failed_workers_.push_back(stream->worker_id);
      fs_->Selector(/*refresh=*/true).IgnoreError();
      if (!CanRetry(index, failed_workers_) || (attempt > 0 && RealClock()->MonotonicMs() > deadline_ms)) {
        from_ufs = CanReadUfsDirectly();
        break;
      }
      spdlog::warn("reading {}: {}; retrying on another worker", status_.path, error.ToString());
    }
    if (from_ufs) {
      spdlog::warn("reading {}: {}; reading from the under-store", status_.path, error.ToString());
      ufs_direct_ = true;
      CISTERN_ASSIGN_OR_RETURN(int64_t got, ReadUfs(at, buf + copied, n - copied));
      return copied + got;
    }
    if (!error.ok()) return error;
    copied += want;
  }
  return copied;
}

absl::Status FileReaderImpl::Seek(int64_t position) {
  if (position < 0 || position > status_.length) {
    return absl::OutOfRangeError(absl::StrCat("seek to ", position, " outside ", status_.path, " of length ",
                                              status_.length));
  }
  // The open stream stays usable if reading resumes where it stopped.
  pos_ = position;
  return absl::OkStatus();
}

}  // namespace cistern::client
