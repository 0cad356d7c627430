#include "worker/worker_metrics.h"
#include "worker/ufs_fetcher.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "spdlog/spdlog.h"
#include "ufs/metered_ufs.h"
#include "ufs/uri.h"

namespace cistern::worker {

absl::StatusOr<ufs::UnderFileSystem*> UfsRegistry::Get(std::string_view uri, uint64_t mount_id) {
  CISTERN_ASSIGN_OR_RETURN(ufs::Uri parsed, ufs::ParseUri(uri));
  const std::string root = parsed.Root();
  absl::MutexLock lock(&mu_);
  if (auto o = overrides_.find(root); o != overrides_.end()) return o->second.get();
  if (const ufs::UfsMount* mount = ufs::FindMount(mounts_, uri, mount_id)) {
    auto made = by_mount_.find(mount->mount_id);
    if (made != by_mount_.end() && made->second.first.uri == mount->uri &&
        made->second.first.options == mount->options) {
      return made->second.second;
    }
    absl::StatusOr<std::unique_ptr<ufs::UnderFileSystem>> store = ufs::CreateUnderFileSystem(mount->uri, mount->options);
    if (!store.ok()) {
      return Annotate(store.status(), absl::StrCat("under-store of mount ", mount->mount_id, " (", mount->uri, ")"));
    }
    // Metered like the stores below, labelled by store root: a worker has the mount table's
    // URIs and options but not mount points.
    std::unique_ptr<ufs::UnderFileSystem> metered = ufs::NewMeteredUnderFileSystem(*std::move(store), root);
    ufs::UnderFileSystem* raw = metered.get();
    mount_stores_.push_back(std::move(metered));
    by_mount_[mount->mount_id] = {*mount, raw};
    return raw;
  }
  auto it = stores_.find(root);
  if (it != stores_.end()) return it->second.get();
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<ufs::UnderFileSystem> created, ufs::CreateUnderFileSystem(uri));
  std::unique_ptr<ufs::UnderFileSystem> store = ufs::NewMeteredUnderFileSystem(std::move(created), root);
  ufs::UnderFileSystem* raw = store.get();
  stores_.emplace(root, std::move(store));
  return raw;
}

void UfsRegistry::SetMounts(uint64_t version, std::vector<ufs::UfsMount> mounts) {
  absl::MutexLock lock(&mu_);
  spdlog::info("mount table version {}: {} mounts", version, mounts.size());
  mount_table_version_ = version;
  mounts_ = std::move(mounts);
}

uint64_t UfsRegistry::mount_table_version() const {
  absl::MutexLock lock(&mu_);
  return mount_table_version_;
}

void UfsRegistry::SetForTest(std::string root, std::unique_ptr<ufs::UnderFileSystem> store) {
  absl::MutexLock lock(&mu_);
  overrides_[std::move(root)] = std::move(store);
}

FetchBufferPool::Buffer FetchBufferPool::Take(int64_t size) {
  {
    absl::MutexLock lock(&mu_);
    for (auto it = kept_.begin(); it != kept_.end(); ++it) {
      if (it->capacity >= size && it->capacity <= 2 * size) {
        Buffer buffer = std::move(*it);
        kept_.erase(it);
        kept_bytes_ -= buffer.capacity;
        return buffer;
      }
    }
  }
  // Uninitialized: zero-filling a block costs more than reading it from a fast store.
  return Buffer{std::unique_ptr<char[]>(new char[static_cast<size_t>(size)]), size};
}

void FetchBufferPool::Give(Buffer buffer) {
  if (buffer.data == nullptr || buffer.capacity > max_bytes_) return;
  absl::MutexLock lock(&mu_);
  while (!kept_.empty() && kept_bytes_ + buffer.capacity > max_bytes_) {
    kept_bytes_ -= kept_.front().capacity;
    kept_.pop_front();
  }
  kept_bytes_ += buffer.capacity;
  kept_.push_back(std::move(buffer));
}

int64_t FetchBufferPool::kept_bytes() const {
  absl::MutexLock lock(&mu_);
  return kept_bytes_;
}

// One under-store read of a block, shared by its readers.
struct StreamingBlock::Flight {
  Flight(uint64_t id, UfsBlockSource src, std::shared_ptr<FetchBufferPool> pool, bool ahead)
      : block_id(id), source(std::move(src)), buffers(std::move(pool)), read_ahead(ahead) {}
  // The last reference (a reader, or gRPC holding sent bytes) hands the buffer back.
  ~Flight() { buffers->Give(std::move(buffer)); }
  const uint64_t block_id;
  const UfsBlockSource source;
  const std::shared_ptr<FetchBufferPool> buffers;
  // Started by ReadAhead: caches the whole block whatever its readers do.
  const bool read_ahead;

  absl::Mutex mu;
  absl::CondVar changed;
  // Taken from the pool by the fetch thread before `available` first grows; bytes
  // [0, available) of buffer.data are final, so readers copy them while the fetch thread
  // writes later bytes.
  FetchBufferPool::Buffer buffer;
  int64_t available ABSL_GUARDED_BY(mu) = 0;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
  int readers ABSL_GUARDED_BY(mu) = 0;
  // Every reader let go and partial blocks are not cached: stop reading.
  bool abandoned ABSL_GUARDED_BY(mu) = false;

  // Guarded by the fetcher's mu_ (the annotation cannot name it):
  bool queued = false;          // in the queue or running (else waiting for a predecessor)
  bool reads_finished = false;  // no more under-store reads: read-aheads after it go to the queue
  std::vector<std::shared_ptr<Flight>> successors;  // read-aheads waiting for its reads to end
};

// ---------------------------------------------------------------------------------------------
// StreamingBlock

StreamingBlock::StreamingBlock(UfsBlockFetcher* fetcher, std::shared_ptr<Flight> flight)
    : fetcher_(fetcher), flight_(std::move(flight)) {}

StreamingBlock::~StreamingBlock() { fetcher_->Release(flight_); }

uint64_t StreamingBlock::block_id() const { return flight_->block_id; }
int64_t StreamingBlock::length() const { return flight_->source.block_length; }

absl::StatusOr<int64_t> StreamingBlock::ReadAt(int64_t offset, int64_t n, char* buf,
                                                const std::function<bool()>& cancelled) {
  CISTERN_ASSIGN_OR_RETURN(std::string_view view, Peek(offset, n, cancelled));
  std::memcpy(buf, view.data(), view.size());
  return static_cast<int64_t>(view.size());
}

absl::StatusOr<std::string_view> StreamingBlock::Peek(int64_t offset, int64_t n,
                                                      const std::function<bool()>& cancelled) {
  if (offset < 0 || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id(), ": bad read offset ", offset, " or length ", n));
  }
  if (offset >= length() || n == 0) return std::string_view();
  Flight& f = *flight_;
  absl::MutexLock lock(&f.mu);
  while (f.available <= offset && !f.done) {
    if (cancelled && cancelled()) {
      return absl::CancelledError(absl::StrCat("read of block ", block_id(), " cancelled while waiting for the under-store"));
    }
    f.changed.WaitWithTimeout(&f.mu, absl::Milliseconds(50));
  }
  if (f.available > offset) {
    const int64_t take = std::min(n, f.available - offset);
    return std::string_view(f.buffer.data.get() + offset, static_cast<size_t>(take));
  }
  if (!f.status.ok()) return f.status;
  return absl::InternalError(absl::StrCat("fetch of block ", block_id(), " ended at ", f.available, " of ", length(), " bytes"));
}

absl::Status StreamingBlock::WaitForCompletion() {
  Flight& f = *flight_;
  absl::MutexLock lock(&f.mu);
  while (!f.done) f.changed.Wait(&f.mu);
  return f.status;
}

// ---------------------------------------------------------------------------------------------
// UfsBlockFetcher

UfsBlockFetcher::UfsBlockFetcher(BlockStore* store, UfsRegistry* registry, UfsFetcherOptions options)
    : store_(store), registry_(registry), options_(options),
      buffers_(std::make_shared<FetchBufferPool>(options.buffer_pool_bytes)),
      blocks_read_ufs_(Metrics().GetCounter("cistern_worker_ufs_block_reads_total",
                                            "Whole blocks read from under-stores (read-through fetches)")),
      bytes_read_ufs_(Metrics().GetCounter(kUfsReadBytesTotal,
                                           "Bytes read from under-stores (read-through and NO_CACHE reads)")),
      fetches_started_(Metrics().GetCounter("cistern_worker_ufs_fetches_total",
                                            "Block fetches from under-stores started (single-flight: one per block)")),
      fetch_joins_(Metrics().GetCounter("cistern_worker_ufs_fetch_joins_total",
                                        "Reads of a missing block that joined a fetch already in flight")),
      read_ahead_started_(Metrics().GetCounter("cistern_worker_ufs_read_ahead_fetches_total",
                                               "Block fetches started ahead of readers (sequential read-ahead)")),
      read_ahead_skipped_(Metrics().GetCounter("cistern_worker_ufs_read_ahead_skipped_total",
                                               "Read-ahead fetches not started: worker.ufs.read_ahead.max_blocks "
                                               "were in flight already")),
      free_slots_(std::max(1, options.max_concurrent_fetches)) {
  for (int i = 0; i < std::max(1, options_.max_concurrent_fetches); ++i) {
    threads_.emplace_back([this] { FetchLoop(); });
  }
}

UfsBlockFetcher::~UfsBlockFetcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  // Left: queued fetches and read-aheads still waiting for a predecessor (none is running).
  std::deque<std::shared_ptr<Flight>> queued;
  {
    absl::MutexLock lock(&mu_);
    queued.swap(queue_);
    for (auto& [block_id, flight] : flights_) {
      if (!flight->queued) queued.push_back(flight);
    }
    flights_.clear();
  }
  for (const auto& flight : queued) {
    absl::MutexLock lock(&flight->mu);
    flight->status = absl::UnavailableError(absl::StrCat("worker shutting down before fetching block ", flight->block_id));
    flight->done = true;
    flight->changed.SignalAll();
  }
}

int UfsBlockFetcher::flights_in_progress() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(flights_.size());
}

absl::StatusOr<FetchedBlock> UfsBlockFetcher::Fetch(uint64_t block_id, const UfsBlockSource& source) {
  // A block found cached may be evicted (or found corrupt) before it is opened: look again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::UnavailableError(absl::StrCat("worker shutting down; block ", block_id, " not fetched"));
      auto it = flights_.find(block_id);
      if (it != flights_.end()) {
        std::shared_ptr<Flight> flight = it->second;
        absl::MutexLock flight_lock(&flight->mu);
        if (!flight->abandoned) {
          flight->readers++;
          fetch_joins_->Increment();
          QueueLocked(flight);  // a read-ahead waiting for its predecessor: a reader wants it now
          return FetchedBlock{nullptr, std::unique_ptr<StreamingBlock>(new StreamingBlock(this, flight))};
        }
      }
      // A fetch commits the block before it leaves flights_, so here the block is either
      // cached or nobody is fetching it.
      if (!store_->Contains(block_id)) {
        auto flight = std::make_shared<Flight>(block_id, source, buffers_, /*ahead=*/false);
        {
          absl::MutexLock flight_lock(&flight->mu);
          flight->readers = 1;
        }
        flights_[block_id] = flight;
        QueueLocked(flight);
        fetches_started_->Increment();
        return FetchedBlock{nullptr, std::unique_ptr<StreamingBlock>(new StreamingBlock(this, flight))};
      }
    }
    absl::StatusOr<std::unique_ptr<BlockReader>> reader = store_->OpenReader(block_id);
    if (reader.ok()) return FetchedBlock{std::move(*reader), nullptr};
    if (!absl::IsNotFound(reader.status()) && !absl::IsDataLoss(reader.status())) return reader.status();
  }
  return absl::UnavailableError(
      absl::StrCat("block ", block_id, " was evicted repeatedly while being fetched from ", source.ufs_path));
}

void UfsBlockFetcher::QueueLocked(const std::shared_ptr<Flight>& flight) {
  if (flight->queued) return;
  flight->queued = true;
  queue_.push_back(flight);
}

bool UfsBlockFetcher::ReadAhead(uint64_t block_id, const UfsBlockSource& source, uint64_t after) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || flights_.contains(block_id) || store_->Contains(block_id)) return false;
  if (read_ahead_in_flight_ >= options_.max_read_ahead_blocks) {
    read_ahead_skipped_->Increment();
    return false;
  }
  auto flight = std::make_shared<Flight>(block_id, source, buffers_, /*ahead=*/true);
  flights_[block_id] = flight;
  auto predecessor = flights_.find(after);
  if (predecessor != flights_.end() && !predecessor->second->reads_finished) {
    predecessor->second->successors.push_back(std::move(flight));
  } else {
    QueueLocked(flight);
  }
  read_ahead_in_flight_++;
  fetches_started_->Increment();
  read_ahead_started_->Increment();
  return true;
}

void UfsBlockFetcher::Release(const std::shared_ptr<Flight>& flight) {
  absl::MutexLock lock(&flight->mu);
  flight->readers--;
  if (flight->readers == 0 && !flight->done && !options_.cache_partial && !flight->read_ahead) {
    flight->abandoned = true;
  }
}

void UfsBlockFetcher::FetchLoop() {
  while (true) {
    std::shared_ptr<Flight> flight;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      flight = std::move(queue_.front());
      queue_.pop_front();
    }
    // A sequential reader's next blocks follow on this thread, one stream per file.
    while (flight != nullptr) flight = RunFlight(flight);
  }
}

std::shared_ptr<StreamingBlock::Flight> UfsBlockFetcher::RunFlight(const std::shared_ptr<Flight>& flight) {
  const uint64_t block_id = flight->block_id;
  const int64_t length = flight->source.block_length;
  absl::Status status;
  std::unique_ptr<BlockWriter> writer;
  {
    absl::MutexLock lock(&flight->mu);
    if (flight->abandoned) status = absl::CancelledError(absl::StrCat("every reader of block ", block_id, " left"));
  }
  if (status.ok()) {
    {
      absl::MutexLock lock(&flight->mu);
      flight->buffer = buffers_->Take(length);
    }
    absl::StatusOr<std::unique_ptr<BlockWriter>> created = store_->CreateWriter(block_id, length);
    if (created.ok()) {
      writer = std::move(*created);
    } else {
      spdlog::warn("block {} will not be cached after read-through: {}", block_id, created.status().ToString());
    }
  }
  if (status.ok() && writer == nullptr && flight->read_ahead) {
    // Read ahead only to be cached: without room, reading it would only fill memory, unless a
    // reader has joined meanwhile.
    absl::MutexLock lock(&flight->mu);
    if (flight->readers == 0) {
      flight->abandoned = true;  // a reader coming now starts a fetch of its own
      status = absl::ResourceExhaustedError(absl::StrCat("no room to cache read-ahead block ", block_id));
    }
  }
  if (status.ok()) {
    AcquireSlot();
    int64_t pos = 0;
    // Read straight into the flight's memory, where readers find the bytes.
    status = ReadRange(block_id, flight->source, 0, length, options_.read_chunk_bytes, flight->buffer.data.get(),
                       [&](std::string_view chunk) -> absl::Status {
                         pos += static_cast<int64_t>(chunk.size());
                         {
                           // Readers get the bytes first; the cache copy (a write and a hash)
                           // is made while they send them.
                           absl::MutexLock lock(&flight->mu);
                           flight->available = pos;
                           flight->changed.SignalAll();
                           if (flight->abandoned) {
                             return absl::CancelledError(absl::StrCat("every reader of block ", block_id, " left"));
                           }
                         }
                         if (writer != nullptr) {
                           absl::Status cached = writer->Append(chunk);
                           if (!cached.ok()) {
                             spdlog::warn("block {} will not be cached after read-through: {}", block_id,
                                          cached.ToString());
                             writer.reset();
                             // A read-ahead nobody reads yet was only worth it for the cache.
                             absl::MutexLock lock(&flight->mu);
                             if (flight->read_ahead && flight->readers == 0) {
                               flight->abandoned = true;
                               return Annotate(cached, absl::StrCat("read-ahead of block ", block_id, " stopped"));
                             }
                           }
                         }
                         return absl::OkStatus();
                       });
    ReleaseSlot();
  }
  // The reads are over: the read-ahead that waited for them goes next (on this thread after the
  // commit below, unless the fetcher is stopping), any others to the queue.
  std::shared_ptr<Flight> next;
  {
    absl::MutexLock lock(&mu_);
    flight->reads_finished = true;
    for (std::shared_ptr<Flight>& successor : flight->successors) {
      if (successor->queued) continue;  // a reader asked for it: queued already
      if (next == nullptr && !stopping_) {
        successor->queued = true;
        next = std::move(successor);
      } else {
        QueueLocked(successor);
      }
    }
    flight->successors.clear();
  }
  if (writer != nullptr) {
    if (status.ok()) {
      absl::StatusOr<int64_t> committed = writer->Commit();
      if (!committed.ok()) {
        spdlog::warn("block {} not cached after read-through: {}", block_id, committed.status().ToString());
      }
    }
    writer.reset();  // aborts an unfinished write
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = flights_.find(block_id);
    if (it != flights_.end() && it->second == flight) flights_.erase(it);
    if (flight->read_ahead) read_ahead_in_flight_--;
  }
  {
    absl::MutexLock lock(&flight->mu);
    flight->status = status;
    flight->done = true;
    flight->changed.SignalAll();
  }
  return next;
}

void UfsBlockFetcher::AcquireSlot() {
  absl::MutexLock lock(&slots_mu_);
  auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(slots_mu_) { return free_slots_ > 0; };
  slots_mu_.Await(absl::Condition(&free));
  free_slots_--;
}

void UfsBlockFetcher::ReleaseSlot() {
  absl::MutexLock lock(&slots_mu_);
  free_slots_++;
}

absl::Status UfsBlockFetcher::ReadUncached(uint64_t block_id, const UfsBlockSource& source, int64_t offset,
                                           int64_t length, int64_t chunk_bytes,
                                           const std::function<absl::Status(std::string_view)>& sink) {
  AcquireSlot();
  absl::Status status = ReadRange(block_id, source, offset, length, chunk_bytes, nullptr, sink);
  ReleaseSlot();
  return status;
}

absl::Status UfsBlockFetcher::ReadRange(uint64_t block_id, const UfsBlockSource& source, int64_t offset,
                                        int64_t length, int64_t chunk_bytes, char* dest,
                                        const std::function<absl::Status(std::string_view)>& sink) {
  const std::string context = absl::StrCat("read block ", block_id, " from ", source.ufs_path);
  absl::StatusOr<ufs::UnderFileSystem*> store = registry_->Get(source.ufs_path, source.mount_id);
  if (!store.ok()) return Annotate(store.status(), context);
  absl::StatusOr<std::unique_ptr<ufs::RandomAccessReader>> file = (*store)->Open(source.ufs_path);
  if (!file.ok()) return Annotate(file.status(), context);
  const int64_t chunk = std::min(chunk_bytes, std::max<int64_t>(length, 1));
  std::string buffer;
  if (dest == nullptr) buffer.resize(static_cast<size_t>(chunk));
  int64_t done = 0;
  while (done < length) {
    const int64_t want = std::min<int64_t>(chunk, length - done);
    const int64_t file_offset = source.offset_in_file + offset + done;
    char* into = dest != nullptr ? dest + done : buffer.data();
    absl::StatusOr<int64_t> n = (*file)->ReadAt(file_offset, want, into);
    if (!n.ok()) return Annotate(n.status(), context);
    if (*n == 0) {
      // The file is shorter than the master believes: stale metadata, never cache a short block.
      return absl::FailedPreconditionError(absl::StrCat(
          context, ": under-store file ends at offset ", file_offset, ", but the block spans [",
          source.offset_in_file, ", ", source.offset_in_file + source.block_length, ")"));
    }
    bytes_read_ufs_->Add(*n);
    CISTERN_RETURN_IF_ERROR(sink(std::string_view(into, static_cast<size_t>(*n))));
    done += *n;
  }
  blocks_read_ufs_->Add(1);
  return absl::OkStatus();
}

}  // namespace cistern::worker
