#include "worker/block_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"
#include "worker/block_store_internal.h"

namespace cistern::worker {

using internal::BlockEntry;

// ---------------------------------------------------------------------------------------------
// BlockReader

BlockReader::BlockReader(BlockStore* store, std::shared_ptr<BlockEntry> entry, int fd, bool holds_location)
    : store_(store), entry_(std::move(entry)), block_id_(entry_->block_id), length_(entry_->length), fd_(fd),
      path_(entry_->dir->BlockPath(block_id_)), holds_location_(holds_location) {}

BlockReader::~BlockReader() {
  ::close(fd_);
  store_->ReleaseReader(entry_, holds_location_);
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> BlockReader::DeviceAndInode() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat block ", block_id_), path_);
  return std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
}

const std::string& BlockReader::tier() const { return entry_->dir->alias(); }

absl::StatusOr<int64_t> BlockReader::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id_, ": bad read offset ", offset, " or length ", n));
  }
  if (offset >= length_) return 0;
  n = std::min(n, length_ - offset);
  int64_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, buf + done, static_cast<size_t>(n - done), offset + done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read block ", block_id_, " from"), entry_->dir->BlockPath(block_id_));
    }
    if (r == 0) {
      return absl::DataLossError(absl::StrCat("block ", block_id_, " file ", entry_->dir->BlockPath(block_id_),
                                              " is shorter than its length ", length_));
    }
    done += r;
  }
  return done;
}

bool BlockReader::in_memory() const { return entry_->dir->in_memory(); }

MappedBlockRange::~MappedBlockRange() { ::munmap(base_, mapped_bytes_); }

absl::StatusOr<std::unique_ptr<MappedBlockRange>> BlockReader::Map(int64_t offset, int64_t n) const {
  if (offset < 0 || n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id_, ": bad map offset ", offset, " or length ", n));
  }
  n = std::max<int64_t>(0, std::min(n, length_ - offset));
  if (n == 0) return std::make_unique<MappedBlockRange>(nullptr, 0, std::string_view());
  // A mapped page past the end of the file would fault when the kernel copies it out.
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat block ", block_id_), path_);
  if (st.st_size < length_) {
    return absl::DataLossError(absl::StrCat("block ", block_id_, " file ", path_, " is shorter than its length ", length_));
  }
  static const int64_t page = ::sysconf(_SC_PAGESIZE);
  const int64_t start = offset / page * page;
  const size_t mapped = static_cast<size_t>(offset + n - start);
  void* base = ::mmap(nullptr, mapped, PROT_READ, MAP_SHARED | MAP_POPULATE, fd_, start);
  if (base == MAP_FAILED) return ErrnoStatus(errno, absl::StrCat("map block ", block_id_), path_);
  return std::make_unique<MappedBlockRange>(
      base, mapped, std::string_view(static_cast<const char*>(base) + (offset - start), static_cast<size_t>(n)));
}

// ---------------------------------------------------------------------------------------------
// BlockWriter

BlockWriter::BlockWriter(BlockStore* store, StorageDir* dir, uint64_t block_id, std::string tmp_path, int fd,
                         int64_t reserved)
    : store_(store), dir_(dir), block_id_(block_id), tmp_path_(std::move(tmp_path)),
      tmp_meta_path_(tmp_path_ + std::string(kBlockMetaSuffix)), fd_(fd), reserved_(reserved) {}

BlockWriter::~BlockWriter() { Abort(); }

absl::Status BlockWriter::Append(std::string_view data) {
  if (done_) return absl::FailedPreconditionError(absl::StrCat("block ", block_id_, ": writer already finished"));
  const int64_t size = static_cast<int64_t>(data.size());
  if (written_ + size > reserved_) {
    const int64_t more = written_ + size - reserved_;
    CISTERN_RETURN_IF_ERROR(store_->Reserve(dir_, block_id_, more));
    reserved_ += more;
  }
  // Written and hashed in pieces that stay in the CPU cache between the write's copy and the
  // hash, so the hash does not read the bytes from memory again.
  constexpr size_t kPiece = 512 << 10;
  size_t done = 0;
  size_t hashed = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd_, data.data() + done, std::min(kPiece, data.size() - done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("write block ", block_id_, " to"), tmp_path_);
    }
    done += static_cast<size_t>(w);
    hasher_.Update(data.substr(hashed, done - hashed));
    hashed = done;
  }
  written_ += size;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BlockWriter::Commit() {
  if (done_) return absl::FailedPreconditionError(absl::StrCat("block ", block_id_, ": writer already finished"));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    absl::Status status = ErrnoStatus(errno, absl::StrCat("close block ", block_id_), tmp_path_);
    Abort();
    return status;
  }
  const uint64_t checksum = hasher_.Digest();
  absl::Status status = WriteNewFile(tmp_meta_path_, EncodeBlockMeta({written_, checksum}));
  if (!status.ok()) {
    Abort();
    return status;
  }
  absl::StatusOr<int64_t> length = store_->Publish(this, checksum);
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
  ::unlink(tmp_meta_path_.c_str());
  store_->Unreserve(dir_, reserved_);
  reserved_ = 0;
}

// ---------------------------------------------------------------------------------------------
// BlockStore: opening and recovery

BlockStore::BlockStore(BlockStoreOptions options, std::unique_ptr<EvictionPolicy> policy)
    : options_(std::move(options)), policy_(std::move(policy)),
      blocks_cached_(Metrics().GetGauge("cistern_worker_cached_blocks", "Blocks in the cache, all tiers")),
      blocks_evicted_(Metrics().GetCounter("cistern_worker_evicted_blocks_total",
                                           "Blocks dropped from the cache by eviction (moves to a lower tier excluded)")),
      blocks_corrupt_(Metrics().GetCounter("cistern_worker_corrupt_blocks_total",
                                           "Cached blocks dropped because their checksum did not match")),
      blocks_promoted_(Metrics().GetCounter("cistern_worker_promoted_blocks_total",
                                            "Blocks moved to a higher tier (CACHE_PROMOTE reads)")),
      blocks_demoted_(Metrics().GetCounter("cistern_worker_demoted_blocks_total",
                                           "Blocks moved to a lower tier by eviction")) {}

BlockStore::~BlockStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (evictor_.joinable()) evictor_.join();
}

absl::StatusOr<std::unique_ptr<BlockStore>> BlockStore::Open(BlockStoreOptions options) {
  if (options.tiers.empty()) return absl::InvalidArgumentError("the block store needs at least one tier");
  for (const TierOptions& tier : options.tiers) {
    if (tier.dirs.empty()) return absl::InvalidArgumentError(absl::StrCat("tier ", tier.alias, " has no directory"));
  }
  if (!(options.low_watermark > 0 && options.low_watermark < options.high_watermark && options.high_watermark <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("bad eviction watermarks: low ", options.low_watermark, ", high ",
                                                   options.high_watermark, " (need 0 < low < high <= 1)"));
  }
  if (options.clock == nullptr) options.clock = RealClock();
  CISTERN_ASSIGN_OR_RETURN(std::unique_ptr<EvictionPolicy> policy,
                           NewEvictionPolicy(options.eviction_policy, options.lrfu_half_life_ms));
  std::unique_ptr<BlockStore> store(new BlockStore(std::move(options), std::move(policy)));
  CISTERN_RETURN_IF_ERROR(store->Load());
  if (store->options_.eviction_interval_ms > 0) {
    store->evictor_ = std::thread([s = store.get()] { s->EvictorLoop(); });
  }
  return store;
}

absl::Status BlockStore::Load() {
  struct Found {
    StorageDir* dir;
    StorageDir::FoundBlock block;
  };
  std::vector<Found> found;
  for (size_t t = 0; t < options_.tiers.size(); ++t) {
    const TierOptions& tier = options_.tiers[t];
    tier_aliases_.push_back(tier.alias);
    tiers_.emplace_back();
    for (const TierDirOptions& dir_options : tier.dirs) {
      absl::StatusOr<std::unique_ptr<StorageDir>> dir =
          StorageDir::Open(tier.alias, static_cast<int>(t), dir_options.path, dir_options.capacity_bytes);
      if (!dir.ok()) return Annotate(dir.status(), absl::StrCat("open ", tier.alias, " tier directory ", dir_options.path));
      int removed = 0;
      absl::StatusOr<std::vector<StorageDir::FoundBlock>> blocks = (*dir)->Recover(&removed);
      if (!blocks.ok()) return Annotate(blocks.status(), absl::StrCat("recover ", tier.alias, " tier directory ", dir_options.path));
      for (StorageDir::FoundBlock& block : *blocks) found.push_back({dir->get(), block});
      tiers_.back().push_back(dir->get());
      dirs_.push_back(std::move(*dir));
    }
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return std::tie(a.block.mtime_ns, a.block.block_id) < std::tie(b.block.mtime_ns, b.block.block_id);
  });

  absl::MutexLock lock(&mu_);
  for (const Found& f : found) {
    auto it = index_.find(f.block.block_id);
    if (it != index_.end()) {
      // A crash during a move or a replacement left two copies: the newer one wins.
      EntryPtr older = it->second;
      DetachLocked(older);
      older->dir->DeleteBlockFiles(older->block_id).IgnoreError();
    }
    auto entry = std::make_shared<BlockEntry>(f.block.block_id, f.block.meta.length, f.block.meta.checksum, f.dir);
    f.dir->used_bytes += entry->length;
    InsertLocked(entry);
  }
  // Quotas may have shrunk since these blocks were written.
  for (const auto& dir : dirs_) {
    for (const EntryPtr& entry : EvictionOrderLocked(dir.get())) {
      if (dir->used_bytes <= dir->capacity_bytes()) break;
      DropLocked(entry);
    }
  }
  delta_ = BlockDelta();
  blocks_cached_->Set(static_cast<double>(index_.size()));
  for (const auto& dir : dirs_) {
    spdlog::info("{} tier {}: {} cached blocks, {} of {} used", dir->alias(), dir->path(),
                 dir_blocks_[dir.get()].size(), FormatBytes(dir->used_bytes), FormatBytes(dir->capacity_bytes()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Reading

absl::StatusOr<std::unique_ptr<BlockReader>> BlockStore::OpenReader(uint64_t block_id, bool hold_location) {
  EntryPtr entry;
  int fd = -1;
  bool verify = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(block_id);
    if (it == index_.end()) return absl::NotFoundError(absl::StrCat("block ", block_id, " is not cached"));
    entry = it->second;
    if (hold_location && entry->moving) {
      return absl::UnavailableError(absl::StrCat("block ", block_id, " is being moved between tiers"));
    }
    const std::string path = entry->dir->BlockPath(block_id);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err != ENOENT) return ErrnoStatus(err, absl::StrCat("open block ", block_id), path);
      // Deleted behind our back: the cache no longer has it.
      DropLocked(entry);
      blocks_corrupt_->Add(1);
      return absl::NotFoundError(absl::StrCat("block ", block_id, " file ", path, " vanished; dropped"));
    }
    entry->readers++;
    if (hold_location) entry->location_holds++;
    TouchLocked(entry.get());
    verify = options_.checksum_verify == ChecksumVerify::kAlways ||
             (options_.checksum_verify == ChecksumVerify::kFirstRead && !entry->verified);
  }
  std::unique_ptr<BlockReader> reader(new BlockReader(this, entry, fd, hold_location));
  if (verify) {
    const std::string path = entry->dir->BlockPath(block_id);
    absl::StatusOr<uint64_t> checksum = HashFile(fd, entry->length, path);
    if (!checksum.ok() || *checksum != entry->checksum) {
      const std::string why = checksum.ok() ? absl::StrCat("checksum ", *checksum, " != recorded ", entry->checksum)
                                            : std::string(checksum.status().message());
      reader.reset();
      return DropCorrupt(entry, why);
    }
    absl::MutexLock lock(&mu_);
    entry->verified = true;
  }
  return reader;
}

absl::Status BlockStore::DropCorrupt(const EntryPtr& entry, std::string_view why) {
  const std::string path = entry->dir->BlockPath(entry->block_id);
  spdlog::warn("block {} in {} is corrupt ({}); dropping it", entry->block_id, path, why);
  {
    absl::MutexLock lock(&mu_);
    if (entry->attached) DropLocked(entry);
  }
  blocks_corrupt_->Add(1);
  return absl::DataLossError(absl::StrCat("block ", entry->block_id, " in ", path, " is corrupt (", std::string(why), "); dropped"));
}

void BlockStore::ReleaseReader(const EntryPtr& entry, bool holds_location) {
  absl::MutexLock lock(&mu_);
  if (holds_location) entry->location_holds--;
  ReleaseReaderLocked(entry);
}

void BlockStore::ReleaseReaderLocked(const EntryPtr& entry) {
  entry->readers--;
  if (entry->readers == 0 && !entry->attached) entry->dir->used_bytes -= entry->length;
}

// ---------------------------------------------------------------------------------------------
// Writing

absl::StatusOr<std::unique_ptr<BlockWriter>> BlockStore::CreateWriter(uint64_t block_id, int64_t length_hint) {
  if (block_id == 0) return absl::InvalidArgumentError("block id 0 is not a valid block id");
  if (length_hint < 0) {
    return absl::InvalidArgumentError(absl::StrCat("block ", block_id, ": negative length hint ", length_hint));
  }
  const int last_tier = static_cast<int>(tiers_.size()) - 1;
  StorageDir* dir = nullptr;
  int64_t reserved = 0;
  {
    absl::MutexLock lock(&mu_);
    if (length_hint > 0) {
      dir = ChooseDirLocked(length_hint, 0, last_tier);
      if (dir != nullptr) {
        dir->reserved_bytes += length_hint;
        reserved = length_hint;
      } else {
        // Nowhere has room without eviction: make room in the first directory that can.
        for (const auto& candidate : dirs_) {
          if (ReserveLocked(candidate.get(), block_id, length_hint).ok()) {
            dir = candidate.get();
            reserved = length_hint;
            break;
          }
        }
      }
    }
    if (dir == nullptr) dir = ChooseDirLocked(1, 0, last_tier);
    if (dir == nullptr) dir = tiers_[0][0];
  }
  std::string tmp_path = dir->NewTempPath(block_id);
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    absl::Status status = ErrnoStatus(errno, absl::StrCat("create block ", block_id), tmp_path);
    Unreserve(dir, reserved);
    return status;
  }
  return std::unique_ptr<BlockWriter>(new BlockWriter(this, dir, block_id, std::move(tmp_path), fd, reserved));
}

absl::Status BlockStore::Reserve(StorageDir* dir, uint64_t block_id, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  return ReserveLocked(dir, block_id, bytes);
}

void BlockStore::Unreserve(StorageDir* dir, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  dir->reserved_bytes -= bytes;
}

absl::StatusOr<int64_t> BlockStore::Publish(BlockWriter* writer, uint64_t checksum) {
  const uint64_t block_id = writer->block_id_;
  const int64_t length = writer->written_;
  StorageDir* dir = writer->dir_;
  const std::string path = dir->BlockPath(block_id);
  const std::string meta_path = dir->MetaPath(block_id);
  absl::MutexLock lock(&mu_);
  auto it = index_.find(block_id);
  if (it != index_.end()) {
    // Replaced: the old copy's files go first, so a crash never pairs new data with an old record.
    EntryPtr old = it->second;
    DetachLocked(old);
    old->dir->DeleteBlockFiles(block_id).IgnoreError();
  }
  // Renaming under mu_ orders it with Remove's unlink of the same paths. The block file goes
  // first: a crash between the renames leaves an orphan block, which recovery deletes.
  if (::rename(writer->tmp_path_.c_str(), path.c_str()) != 0) {
    absl::Status status = ErrnoStatus(errno, absl::StrCat("publish block ", block_id, " as"), path);
    if (it != index_.end()) NoteRemovedLocked(block_id);
    return status;
  }
  if (::rename(writer->tmp_meta_path_.c_str(), meta_path.c_str()) != 0) {
    absl::Status status = ErrnoStatus(errno, absl::StrCat("publish checksum record of block ", block_id, " as"), meta_path);
    ::unlink(path.c_str());
    if (it != index_.end()) NoteRemovedLocked(block_id);
    return status;
  }
  dir->reserved_bytes -= writer->reserved_;
  writer->reserved_ = 0;
  dir->used_bytes += length;
  auto entry = std::make_shared<BlockEntry>(block_id, length, checksum, dir);
  entry->verified = true;
  InsertLocked(entry);
  NoteAddedLocked(*entry);
  blocks_cached_->Set(static_cast<double>(index_.size()));
  MaybeWakeEvictorLocked(dir);
  return length;
}

absl::Status BlockStore::Remove(uint64_t block_id) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(block_id);
  if (it == index_.end()) return absl::OkStatus();
  EntryPtr entry = it->second;
  DetachLocked(entry);
  // Readers keep their open descriptors; the space is counted until they close.
  absl::Status status = entry->dir->DeleteBlockFiles(block_id);
  NoteRemovedLocked(block_id);
  blocks_cached_->Set(static_cast<double>(index_.size()));
  return status;
}

// ---------------------------------------------------------------------------------------------
// Index helpers

void BlockStore::TouchLocked(BlockEntry* entry) {
  policy_->RecordAccess(&entry->stats, ++access_seq_, options_.clock->MonotonicMs());
}

void BlockStore::InsertLocked(const EntryPtr& entry) {
  if (entry->stats.last_access_seq == 0) TouchLocked(entry.get());
  index_[entry->block_id] = entry;
  dir_blocks_[entry->dir].insert(entry->block_id);
}

void BlockStore::DetachLocked(const EntryPtr& entry) {
  auto it = index_.find(entry->block_id);
  if (it != index_.end() && it->second == entry) index_.erase(it);
  dir_blocks_[entry->dir].erase(entry->block_id);
  entry->attached = false;
  if (entry->readers == 0) entry->dir->used_bytes -= entry->length;
}

void BlockStore::DropLocked(const EntryPtr& entry) {
  DetachLocked(entry);
  entry->dir->DeleteBlockFiles(entry->block_id).IgnoreError();
  NoteRemovedLocked(entry->block_id);
  blocks_cached_->Set(static_cast<double>(index_.size()));
}

bool BlockStore::Contains(uint64_t block_id) const {
  absl::MutexLock lock(&mu_);
  return index_.contains(block_id);
}

std::string BlockStore::TierOf(uint64_t block_id) const {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(block_id);
  return it == index_.end() ? std::string() : it->second->dir->alias();
}

std::vector<CachedBlockInfo> BlockStore::ListBlocksLocked() const {
  std::vector<CachedBlockInfo> blocks;
  blocks.reserve(index_.size());
  for (const auto& [id, entry] : index_) blocks.push_back({id, entry->length, entry->dir->alias()});
  std::sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) { return a.block_id < b.block_id; });
  return blocks;
}

std::vector<CachedBlockInfo> BlockStore::ListBlocks() const {
  absl::MutexLock lock(&mu_);
  return ListBlocksLocked();
}

std::vector<CachedBlockInfo> BlockStore::ListBlocksAndClearDelta() {
  absl::MutexLock lock(&mu_);
  delta_ = BlockDelta();
  return ListBlocksLocked();
}

TierUsageInfo BlockStore::Usage() const {
  TierUsageInfo total;
  total.alias = absl::StrJoin(tier_aliases_, ",");
  for (const TierUsageInfo& tier : TierUsages()) {
    total.capacity_bytes += tier.capacity_bytes;
    total.used_bytes += tier.used_bytes;
    total.reserved_bytes += tier.reserved_bytes;
  }
  return total;
}

std::vector<TierUsageInfo> BlockStore::TierUsages() const {
  absl::MutexLock lock(&mu_);
  std::vector<TierUsageInfo> out;
  for (size_t t = 0; t < tiers_.size(); ++t) {
    TierUsageInfo usage;
    usage.alias = tier_aliases_[t];
    for (const StorageDir* dir : tiers_[t]) {
      usage.capacity_bytes += dir->capacity_bytes();
      usage.used_bytes += dir->used_bytes;
      usage.reserved_bytes += dir->reserved_bytes;
    }
    out.push_back(std::move(usage));
  }
  return out;
}

std::vector<DirUsageInfo> BlockStore::DirUsages() const {
  absl::MutexLock lock(&mu_);
  std::vector<DirUsageInfo> out;
  for (const auto& dir : dirs_) {
    out.push_back({dir->alias(), dir->path(), dir->capacity_bytes(), dir->used_bytes, dir->reserved_bytes});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Deltas for the master

void BlockStore::NoteAddedLocked(const BlockEntry& entry) {
  delta_.removed.erase(entry.block_id);
  delta_.added[entry.block_id] = CachedBlockInfo{entry.block_id, entry.length, entry.dir->alias()};
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
  for (auto& [id, info] : delta.added) {
    if (!delta_.added.contains(id) && !delta_.removed.contains(id)) delta_.added[id] = std::move(info);
  }
  for (uint64_t id : delta.removed) {
    if (!delta_.added.contains(id) && !delta_.removed.contains(id)) delta_.removed.insert(id);
  }
}

}  // namespace cistern::worker
