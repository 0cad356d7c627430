#include "worker/ufs_fetcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/metrics.h"
#include "common/status.h"
#include "spdlog/spdlog.h"
#include "ufs/uri.h"

namespace cistern::worker {

namespace {
// Granularity of under-store reads.
constexpr int64_t kUfsReadBytes = 4 << 20;
}  // namespace

absl::StatusOr<ufs::UnderFileSystem*> UfsRegistry::Get(std::string_view uri) {
  CISTERN_ASSIGN_OR_RETURN(ufs::Uri parsed, ufs::ParseUri(uri));
  const std::string root = parsed.Root();
  absl::MutexLock lock(&mu_);
  auto it = stores_.find(root);
  if (it != stores_.end()) return it->second.get();
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<ufs::UnderFileSystem> store, ufs::CreateUnderFileSystem(uri));
  ufs::UnderFileSystem* raw = store.get();
  stores_.emplace(root, std::move(store));
  return raw;
}

struct UfsBlockFetcher::Flight {
  absl::Notification done;
  // Written by the leader before `done` is notified, read-only afterwards.
  absl::Status status;
  std::shared_ptr<const std::string> data;
};

UfsBlockFetcher::UfsBlockFetcher(BlockStore* store, UfsRegistry* registry)
    : store_(store), registry_(registry), blocks_read_ufs_(Metrics().GetCounter("worker.blocks_read.ufs")),
      bytes_read_ufs_(Metrics().GetCounter("worker.bytes_read.ufs_bytes")) {}

absl::StatusOr<FetchedBlock> UfsBlockFetcher::Fetch(uint64_t block_id, const UfsBlockSource& source) {
  // A waiter may find the block gone again (evicted right after the fetch); it then starts over.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = flights_.find(block_id);
      if (it != flights_.end()) {
        flight = it->second;
      } else {
        flight = std::make_shared<Flight>();
        flights_.emplace(block_id, flight);
        leader = true;
      }
    }

    if (!leader) {
      flight->done.WaitForNotification();
      absl::StatusOr<std::unique_ptr<BlockReader>> reader = store_->OpenReader(block_id);
      if (reader.ok()) return FetchedBlock{std::move(*reader), nullptr};
      if (!flight->status.ok()) return flight->status;
      if (flight->data != nullptr) return FetchedBlock{nullptr, flight->data};
      continue;
    }

    FetchedBlock result;
    // A fetch that finished just before this flight began has already cached the block.
    absl::StatusOr<std::unique_ptr<BlockReader>> reader = store_->OpenReader(block_id);
    if (reader.ok()) {
      result.cached = std::move(*reader);
    } else {
      absl::StatusOr<std::shared_ptr<const std::string>> data = ReadWholeBlock(block_id, source);
      if (data.ok()) {
        CacheBlock(block_id, **data);
        flight->data = *data;
        result.data = *data;
      } else {
        flight->status = data.status();
      }
    }
    {
      absl::MutexLock lock(&mu_);
      flights_.erase(block_id);
    }
    flight->done.Notify();
    if (!flight->status.ok()) return flight->status;
    return result;
  }
  return absl::UnavailableError(
      absl::StrCat("block ", block_id, " was evicted repeatedly while being fetched from ", source.ufs_path));
}

absl::StatusOr<std::shared_ptr<const std::string>> UfsBlockFetcher::ReadWholeBlock(uint64_t block_id,
                                                                                   const UfsBlockSource& source) {
  auto data = std::make_shared<std::string>();
  data->resize(static_cast<size_t>(source.block_length));
  absl::Status status = ReadUncached(block_id, source, 0, source.block_length, kUfsReadBytes,
                                     [&, pos = size_t{0}](std::string_view chunk) mutable {
                                       std::copy(chunk.begin(), chunk.end(), data->begin() + pos);
                                       pos += chunk.size();
                                       return absl::OkStatus();
                                     });
  if (!status.ok()) return status;
  return std::shared_ptr<const std::string>(std::move(data));
}

absl::Status UfsBlockFetcher::ReadUncached(uint64_t block_id, const UfsBlockSource& source, int64_t offset,
                                           int64_t length, int64_t chunk_bytes,
                                           const std::function<absl::Status(std::string_view)>& sink) {
  const std::string context = absl::StrCat("read block ", block_id, " from ", source.ufs_path);
  absl::StatusOr<ufs::UnderFileSystem*> store = registry_->Get(source.ufs_path);
  if (!store.ok()) return Annotate(store.status(), context);
  absl::StatusOr<std::unique_ptr<ufs::RandomAccessReader>> file = (*store)->Open(source.ufs_path);
  if (!file.ok()) return Annotate(file.status(), context);
  std::string buffer(static_cast<size_t>(std::min(chunk_bytes, std::max<int64_t>(length, 1))), '\0');
  int64_t done = 0;
  while (done < length) {
    const int64_t want = std::min<int64_t>(static_cast<int64_t>(buffer.size()), length - done);
    const int64_t file_offset = source.offset_in_file + offset + done;
    absl::StatusOr<int64_t> n = (*file)->ReadAt(file_offset, want, buffer.data());
    if (!n.ok()) return Annotate(n.status(), context);
    if (*n == 0) {
      // The file is shorter than the master believes: stale metadata, never cache a short block.
      return absl::FailedPreconditionError(absl::StrCat(
          context, ": under-store file ends at offset ", file_offset, ", but the block spans [",
          source.offset_in_file, ", ", source.offset_in_file + source.block_length, ")"));
    }
    bytes_read_ufs_->Add(*n);
    CISTERN_RETURN_IF_ERROR(sink(std::string_view(buffer.data(), static_cast<size_t>(*n))));
    done += *n;
  }
  blocks_read_ufs_->Add(1);
  return absl::OkStatus();
}

void UfsBlockFetcher::CacheBlock(uint64_t block_id, const std::string& data) {
  auto cache = [&]() -> absl::Status {
    CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<BlockWriter> writer,
                             store_->CreateWriter(block_id, static_cast<int64_t>(data.size())));
    CISTERN_RETURN_IF_ERROR(writer->Append(data));
    return writer->Commit().status();
  };
  absl::Status status = cache();
  // Readers are served from the fetched bytes either way.
  if (!status.ok()) spdlog::warn("block {} not cached after read-through: {}", block_id, status.ToString());
}

}  // namespace cistern::worker
