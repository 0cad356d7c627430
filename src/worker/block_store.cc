#include "worker/block_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"

namespace cistern::worker {

namespace fs = std::filesystem;

namespace internal {

// One committed block. Fields other than the constants are guarded by BlockStore::mu_.
struct BlockEntry {
  BlockEntry(uint64_t id, int64_t len) : block_id(id), length(len) {}
  const uint64_t block_id;
  const int64_t length;
  int readers = 0;
  bool attached = true;  // still in the index (not removed, evicted or replaced)
  std::list<uint64_t>::iterator lru_pos;
};

}  // namespace internal

using internal::BlockEntry;

namespace {

constexpr const char* kLockFileName = ".lock";

absl::Status ErrnoStatus(int err, const std::string& what, const std::string& path) {
  std::string message = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

}  // namespace

std::string BlockFileName(uint64_t block_id) { return absl::StrFormat("%016x", block_id); }

bool ParseBlockFileName(std::string_view name, uint64_t* block_id) {
  if (name.size() != 16) return false;
  uint64_t value = 0;
  for (char c : name) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  if (value == 0) return false;
  *block_id = value;
  return true;
}

// ---------------------------------------------------------------------------------------------
// BlockReader

BlockReader::BlockReader(BlockStore* store, std::shared_ptr<BlockEntry> entry, int fd)
    : store_(store), entry_(std::move(entry)), block_id_(entry_->block_id), length_(entry_->length),
      fd_(fd) {}

BlockReader::~BlockReader() {
  ::close(fd_);
  store_->ReleaseReader(entry_);
}

absl::StatusOr<int64_t> BlockReader::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id_, ": bad read offset ", offset,
                                                   " or length ", n));
  }
  if (offset >= length_) return 0;
  n = std::min(n, length_ - offset);
  int64_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, buf + done, static_cast<size_t>(n - done), offset + done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read block ", block_id_, " from"), store_->BlockPath(block_id_));
    }
    if (r == 0) {
      return absl::DataLossError(absl::StrCat("block ", block_id_, " file ", store_->BlockPath(block_id_),
                                              " is shorter than its length ", length_));
    }
    done += r;
  }
  return done;
}

// ---------------------------------------------------------------------------------------------
// BlockWriter

BlockWriter::BlockWriter(BlockStore* store, uint64_t block_id, std::string tmp_path, int fd, int64_t reserved)
    : store_(store), block_id_(block_id), tmp_path_(std::move(tmp_path)), fd_(fd), reserved_(reserved) {}

BlockWriter::~BlockWriter() { Abort(); }

absl::Status BlockWriter::Append(std::string_view data) {
  if (done_) {
    return absl::FailedPreconditionError(absl::StrCat("block ", block_id_, ": writer already finished"));
  }
  const int64_t size = static_cast<int64_t>(data.size());
  if (written_ + size > reserved_) {
    const int64_t more = written_ + size - reserved_;
    CISTERN_RETURN_IF_ERROR(store_->Reserve(block_id_, more));
    reserved_ += more;
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd_, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write block ", block_id_, " to"), tmp_path_);
    }
    done += static_cast<size_t>(w);
  }
  written_ += size;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BlockWriter::Commit() {
  if (done_) {
    return absl::FailedPreconditionError(absl::StrCat("block ", block_id_, ": writer already finished"));
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    absl::Status status = ErrnoStatus(errno, absl::StrCat("close block ", block_id_), tmp_path_);
    Abort();
    return status;
  }
  fd_ = -1;
  absl::StatusOr<int64_t> length = store_->Publish(this);
  if (!length.ok()) {
    Abort();
    return length.status();
  }
  done_ = true;
  return length;
}

void BlockWriter::Abort() {
  if (done_) return;
  done_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_path_.c_str());
  store_->Unreserve(reserved_);
  reserved_ = 0;
}

// ---------------------------------------------------------------------------------------------
// BlockStore

BlockStore::BlockStore(BlockStoreOptions options)
    : options_(std::move(options)), tmp_dir_(options_.dir + "/tmp"),
      blocks_cached_(Metrics().GetCounter("worker.blocks_cached")),
      blocks_evicted_(Metrics().GetCounter("worker.blocks_evicted")) {}

BlockStore::~BlockStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<BlockStore>> BlockStore::Open(const BlockStoreOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("MEM tier directory is empty");
  if (options.capacity_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("MEM tier quota must be positive, got ", options.capacity_bytes, " bytes"));
  }
  std::unique_ptr<BlockStore> store(new BlockStore(options));
  CISTERN_RETURN_IF_ERROR_CONTEXT(store->Load(), absl::StrCat("open MEM tier ", options.dir));
  return store;
}

absl::Status BlockStore::Load() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory '", options_.dir, "': ", ec.message()));
  const std::string lock_path = options_.dir + "/" + kLockFileName;
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoStatus(errno, "create lock file", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("directory '", options_.dir, "' is in use by another worker (", lock_path, " is locked)"));
  }
  // Temporary files are writes that never committed (a crash or an aborted stream).
  fs::remove_all(tmp_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove '", tmp_dir_, "': ", ec.message()));
  fs::create_directory(tmp_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("create directory '", tmp_dir_, "': ", ec.message()));

  struct Found {
    int64_t mtime_ns;
    uint64_t block_id;
    int64_t length;
  };
  std::vector<Found> found;
  fs::directory_iterator it(options_.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("list '", options_.dir, "': ", ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (name == "tmp" || name == kLockFileName) continue;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    uint64_t block_id = 0;
    if (S_ISREG(st.st_mode) && ParseBlockFileName(name, &block_id)) {
      found.push_back({static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                       block_id, static_cast<int64_t>(st.st_size)});
    } else if (S_ISDIR(st.st_mode)) {
      spdlog::warn("MEM tier {}: ignoring directory {}", options_.dir, path.string());
    } else {
      spdlog::warn("MEM tier {}: removing {} (not a block file)", options_.dir, path.string());
      ::unlink(path.c_str());
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list '", options_.dir, "': ", ec.message()));
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return std::tie(a.mtime_ns, a.block_id) < std::tie(b.mtime_ns, b.block_id);
  });

  absl::MutexLock lock(&mu_);
  for (const Found& f : found) {
    auto entry = std::make_shared<BlockEntry>(f.block_id, f.length);
    entry->lru_pos = lru_.insert(lru_.end(), f.block_id);
    index_.emplace(f.block_id, std::move(entry));
    used_bytes_ += f.length;
  }
  // The quota may have shrunk since these blocks were written.
  while (used_bytes_ > options_.capacity_bytes && !lru_.empty()) {
    EvictLocked(index_.at(lru_.front()));
  }
  delta_ = BlockDelta();
  blocks_cached_->Set(static_cast<int64_t>(index_.size()));
  spdlog::info("MEM tier {}: {} cached blocks, {} of {} used", options_.dir, index_.size(),
               FormatBytes(used_bytes_), FormatBytes(options_.capacity_bytes));
  return absl::OkStatus();
}

std::string BlockStore::BlockPath(uint64_t block_id) const {
  return absl::StrCat(options_.dir, "/", BlockFileName(block_id));
}

absl::StatusOr<std::unique_ptr<BlockReader>> BlockStore::OpenReader(uint64_t block_id) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(block_id);
  if (it == index_.end()) return absl::NotFoundError(absl::StrCat("block ", block_id, " is not cached"));
  const std::string path = BlockPath(block_id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open block ", block_id), path);
  std::shared_ptr<BlockEntry> entry = it->second;
  entry->readers++;
  lru_.splice(lru_.end(), lru_, entry->lru_pos);
  return std::unique_ptr<BlockReader>(new BlockReader(this, std::move(entry), fd));
}

void BlockStore::ReleaseReader(const std::shared_ptr<BlockEntry>& entry) {
  absl::MutexLock lock(&mu_);
  entry->readers--;
  if (entry->readers == 0 && !entry->attached) used_bytes_ -= entry->length;
}

absl::StatusOr<std::unique_ptr<BlockWriter>> BlockStore::CreateWriter(uint64_t block_id, int64_t length_hint) {
  if (block_id == 0) return absl::InvalidArgumentError("block id 0 is not a valid block id");
  if (length_hint < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id, ": negative length hint ", length_hint));
  }
  std::string tmp_path;
  {
    absl::MutexLock lock(&mu_);
    tmp_path = absl::StrCat(tmp_dir_, "/", BlockFileName(block_id), ".", next_tmp_++);
  }
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create block ", block_id), tmp_path);
  int64_t reserved = 0;
  if (length_hint > 0) {
    absl::MutexLock lock(&mu_);
    if (ReserveLocked(block_id, length_hint).ok()) reserved = length_hint;
  }
  return std::unique_ptr<BlockWriter>(new BlockWriter(this, block_id, std::move(tmp_path), fd, reserved));
}

absl::Status BlockStore::Reserve(uint64_t block_id, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  return ReserveLocked(block_id, bytes);
}

absl::Status BlockStore::ReserveLocked(uint64_t block_id, int64_t bytes) {
  const int64_t capacity = options_.capacity_bytes;
  if (used_bytes_ + reserved_bytes_ + bytes > capacity) {
    int64_t evictable = 0;
    for (uint64_t id : lru_) {
      const auto& entry = index_.at(id);
      if (entry->readers == 0) evictable += entry->length;
    }
    // Fail before evicting anything if eviction cannot make enough room.
    if (used_bytes_ - evictable + reserved_bytes_ + bytes > capacity) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "MEM tier ", options_.dir, " has no room for ", bytes, " more bytes of block ", block_id,
          ": capacity ", capacity, " bytes, ", used_bytes_, " used (", evictable, " evictable, the rest being read), ",
          reserved_bytes_, " reserved by writes in progress"));
    }
    auto it = lru_.begin();
    while (used_bytes_ + reserved_bytes_ + bytes > capacity) {
      std::shared_ptr<BlockEntry> entry = index_.at(*it);
      ++it;
      if (entry->readers == 0) EvictLocked(entry);
    }
  }
  reserved_bytes_ += bytes;
  return absl::OkStatus();
}

void BlockStore::Unreserve(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  reserved_bytes_ -= bytes;
}

absl::StatusOr<int64_t> BlockStore::Publish(BlockWriter* writer) {
  const uint64_t block_id = writer->block_id_;
  const int64_t length = writer->written_;
  const std::string path = BlockPath(block_id);
  absl::MutexLock lock(&mu_);
  // Renaming under mu_ orders it with Remove's unlink of the same path.
  if (::rename(writer->tmp_path_.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("publish block ", block_id, " as"), path);
  }
  auto it = index_.find(block_id);
  if (it != index_.end()) DetachLocked(it->second);  // replaced; the rename dropped its file
  reserved_bytes_ -= writer->reserved_;
  writer->reserved_ = 0;
  used_bytes_ += length;
  auto entry = std::make_shared<BlockEntry>(block_id, length);
  entry->lru_pos = lru_.insert(lru_.end(), block_id);
  index_.emplace(block_id, std::move(entry));
  NoteAddedLocked(block_id, length);
  blocks_cached_->Set(static_cast<int64_t>(index_.size()));
  return length;
}

void BlockStore::DetachLocked(const std::shared_ptr<BlockEntry>& entry) {
  index_.erase(entry->block_id);
  lru_.erase(entry->lru_pos);
  entry->attached = false;
  if (entry->readers == 0) used_bytes_ -= entry->length;
}

void BlockStore::EvictLocked(const std::shared_ptr<BlockEntry>& entry) {
  const uint64_t block_id = entry->block_id;
  DetachLocked(entry);
  ::unlink(BlockPath(block_id).c_str());
  NoteRemovedLocked(block_id);
  blocks_evicted_->Add(1);
  blocks_cached_->Set(static_cast<int64_t>(index_.size()));
  spdlog::debug("evicted block {} ({} bytes)", block_id, entry->length);
}

absl::Status BlockStore::Remove(uint64_t block_id) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(block_id);
  if (it == index_.end()) return absl::OkStatus();
  std::shared_ptr<BlockEntry> entry = it->second;
  DetachLocked(entry);
  // Readers keep their open descriptors; the space is counted until they close.
  const std::string path = BlockPath(block_id);
  absl::Status status;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) status = ErrnoStatus(errno, "remove block file", path);
  NoteRemovedLocked(block_id);
  blocks_cached_->Set(static_cast<int64_t>(index_.size()));
  return status;
}

bool BlockStore::Contains(uint64_t block_id) const {
  absl::MutexLock lock(&mu_);
  return index_.contains(block_id);
}

std::vector<CachedBlockInfo> BlockStore::ListBlocks() const {
  absl::MutexLock lock(&mu_);
  std::vector<CachedBlockInfo> blocks;
  blocks.reserve(index_.size());
  for (uint64_t id : lru_) blocks.push_back({id, index_.at(id)->length});
  return blocks;
}

std::vector<CachedBlockInfo> BlockStore::ListBlocksAndClearDelta() {
  absl::MutexLock lock(&mu_);
  delta_ = BlockDelta();
  std::vector<CachedBlockInfo> blocks;
  blocks.reserve(index_.size());
  for (uint64_t id : lru_) blocks.push_back({id, index_.at(id)->length});
  return blocks;
}

TierUsageInfo BlockStore::Usage() const {
  absl::MutexLock lock(&mu_);
  return TierUsageInfo{std::string(kMemTierAlias), options_.capacity_bytes, used_bytes_, reserved_bytes_};
}

int64_t BlockStore::reserved_bytes() const {
  absl::MutexLock lock(&mu_);
  return reserved_bytes_;
}

void BlockStore::NoteAddedLocked(uint64_t block_id, int64_t length) {
  delta_.removed.erase(block_id);
  delta_.added[block_id] = length;
}

void BlockStore::NoteRemovedLocked(uint64_t block_id) {
  delta_.added.erase(block_id);
  delta_.removed.insert(block_id);
}

BlockDelta BlockStore::TakeDelta() {
  absl::MutexLock lock(&mu_);
  BlockDelta out = std::move(delta_);
  delta_ = BlockDelta();
  return out;
}

void BlockStore::RestoreDelta(BlockDelta delta) {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, length] : delta.added) {
    if (!delta_.added.contains(id) && !delta_.removed.contains(id)) delta_.added[id] = length;
  }
  for (uint64_t id : delta.removed) {
    if (!delta_.added.contains(id) && !delta_.removed.contains(id)) delta_.removed.insert(id);
  }
}

}  // namespace cistern::worker
