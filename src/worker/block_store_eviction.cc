// BlockStore: placement, eviction, moves between tiers and pins. (Reading, writing and the
// index are in block_store.cc.)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/block_id.h"
#include "common/metrics.h"
#include "common/status.h"
#include "spdlog/spdlog.h"
#include "worker/block_store.h"
#include "worker/block_store_internal.h"

namespace cistern::worker {

using internal::BlockEntry;

namespace {

int64_t FreeBytes(const StorageDir& dir) { return dir.capacity_bytes() - dir.used_bytes - dir.reserved_bytes; }

// Copies `length` bytes of `src_fd` into a new file at `dst_path`, returning their XXH64.
absl::StatusOr<uint64_t> CopyAndHash(int src_fd, int64_t length, const std::string& src_path,
                                     const std::string& dst_path) {
  int dst = ::open(dst_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (dst < 0) return ErrnoStatus(errno, "create", dst_path);
  std::string buffer(1 << 20, '\0');
  BlockHasher hasher;
  absl::Status status;
  int64_t done = 0;
  while (status.ok() && done < length) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(buffer.size(), length - done));
    ssize_t n = ::pread(src_fd, buffer.data(), want, done);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoStatus(errno, "read", src_path);
      break;
    }
    if (n == 0) {
      status = absl::DataLossError(absl::StrCat("'", src_path, "' ends at ", done, " bytes, expected ", length));
      break;
    }
    const std::string_view chunk(buffer.data(), static_cast<size_t>(n));
    for (size_t written = 0; written < chunk.size();) {
      ssize_t w = ::write(dst, chunk.data() + written, chunk.size() - written);
      if (w < 0) {
        if (errno == EINTR) continue;
        status = ErrnoStatus(errno, "write", dst_path);
        break;
      }
      written += static_cast<size_t>(w);
    }
    hasher.Update(chunk);
    done += n;
  }
  if (::close(dst) != 0 && status.ok()) status = ErrnoStatus(errno, "close", dst_path);
  if (!status.ok()) {
    ::unlink(dst_path.c_str());
    return status;
  }
  return hasher.Digest();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Placement and synchronous eviction

StorageDir* BlockStore::ChooseDirLocked(int64_t bytes, int first_tier, int last_tier) const {
  for (int t = std::max(first_tier, 0); t <= last_tier && t < static_cast<int>(tiers_.size()); ++t) {
    StorageDir* best = nullptr;
    for (StorageDir* dir : tiers_[t]) {
      if (FreeBytes(*dir) >= bytes && (best == nullptr || FreeBytes(*dir) > FreeBytes(*best))) best = dir;
    }
    if (best != nullptr) return best;
  }
  return nullptr;
}

bool BlockStore::IsPinnedLocked(uint64_t block_id) const {
  return pinned_blocks_.contains(block_id) || pinned_files_.contains(BlockFileId(block_id)) ||
         provisional_pins_.contains(block_id);
}

bool BlockStore::EvictableLocked(const BlockEntry& entry) const {
  return entry.attached && entry.readers == 0 && !entry.moving && !IsPinnedLocked(entry.block_id);
}

std::vector<BlockStore::EntryPtr> BlockStore::EvictionOrderLocked(const StorageDir* dir) const {
  std::vector<std::tuple<double, uint64_t, EntryPtr>> ranked;
  auto it = dir_blocks_.find(dir);
  if (it == dir_blocks_.end()) return {};
  const int64_t now_ms = options_.clock->MonotonicMs();
  for (uint64_t id : it->second) {
    const EntryPtr& entry = index_.at(id);
    if (EvictableLocked(*entry)) {
      ranked.emplace_back(policy_->Priority(entry->stats, now_ms), entry->stats.last_access_seq, entry);
    }
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  std::vector<EntryPtr> out;
  out.reserve(ranked.size());
  for (auto& r : ranked) out.push_back(std::move(std::get<2>(r)));
  return out;
}

absl::Status BlockStore::ReserveLocked(StorageDir* dir, uint64_t block_id, int64_t bytes) {
  const int64_t capacity = dir->capacity_bytes();
  if (dir->used_bytes + dir->reserved_bytes + bytes > capacity) {
    std::vector<EntryPtr> order = EvictionOrderLocked(dir);
    int64_t evictable = 0;
    for (const EntryPtr& entry : order) evictable += entry->length;
    // Fail before evicting anything if eviction cannot make enough room.
    if (dir->used_bytes - evictable + dir->reserved_bytes + bytes > capacity) {
      return absl::ResourceExhaustedError(absl::StrCat(
          dir->alias(), " tier directory ", dir->path(), " has no room for ", bytes, " more bytes of block ", block_id,
          ": capacity ", capacity, " bytes, ", dir->used_bytes, " used (", evictable,
          " evictable, the rest being read, moved or pinned), ", dir->reserved_bytes,
          " reserved by writes in progress"));
    }
    for (const EntryPtr& entry : order) {
      if (dir->used_bytes + dir->reserved_bytes + bytes <= capacity) break;
      DropLocked(entry);
      blocks_evicted_->Add(1);
      spdlog::debug("evicted block {} ({} bytes) from {}", entry->block_id, entry->length, dir->path());
    }
  }
  dir->reserved_bytes += bytes;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Background eviction

void BlockStore::MaybeWakeEvictorLocked(const StorageDir* dir) {
  if (options_.eviction_interval_ms <= 0) return;
  if (dir->used_bytes + dir->reserved_bytes > options_.high_watermark * dir->capacity_bytes()) {
    evict_requested_ = true;
  }
}

void BlockStore::EvictorLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || evict_requested_; };
      mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(options_.eviction_interval_ms));
      if (stopping_) return;
      evict_requested_ = false;
    }
    RunEvictionPass();
  }
}

int BlockStore::RunEvictionPass() {
  int evicted = 0;
  for (const auto& dir_ptr : dirs_) {
    StorageDir* dir = dir_ptr.get();
    std::vector<EntryPtr> victims;
    {
      absl::MutexLock lock(&mu_);
      const int64_t in_use = dir->used_bytes + dir->reserved_bytes;
      if (in_use <= options_.high_watermark * dir->capacity_bytes()) continue;
      int64_t excess = in_use - static_cast<int64_t>(options_.low_watermark * dir->capacity_bytes());
      for (EntryPtr& entry : EvictionOrderLocked(dir)) {
        if (excess <= 0) break;
        excess -= entry->length;
        entry->moving = true;  // claimed: nobody else evicts or moves it meanwhile
        victims.push_back(std::move(entry));
      }
    }
    for (const EntryPtr& victim : victims) {
      bool moved = false;
      for (int t = dir->tier_index() + 1; t < static_cast<int>(tiers_.size()) && !moved; ++t) {
        absl::Status status = MoveClaimed(victim, t);
        moved = status.ok();
        if (moved) blocks_demoted_->Add(1);
        if (!status.ok() && !absl::IsResourceExhausted(status)) break;  // removed, corrupt or I/O error
      }
      absl::MutexLock lock(&mu_);
      victim->moving = false;
      if (!moved && EvictableLocked(*victim)) {
        DropLocked(victim);
        blocks_evicted_->Add(1);
      }
      if (moved || !victim->attached) ++evicted;
    }
  }
  return evicted;
}

// ---------------------------------------------------------------------------------------------
// Moves between tiers

absl::Status BlockStore::MoveBlock(uint64_t block_id, int tier_index) {
  if (tier_index < 0 || tier_index >= static_cast<int>(tiers_.size())) {
    return absl::InvalidArgumentError(absl::StrCat("no tier ", tier_index, " (", tiers_.size(), " tiers)"));
  }
  EntryPtr entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(block_id);
    if (it == index_.end()) return absl::NotFoundError(absl::StrCat("block ", block_id, " is not cached"));
    entry = it->second;
    if (entry->dir->tier_index() == tier_index) return absl::OkStatus();
    if (entry->moving) return absl::UnavailableError(absl::StrCat("block ", block_id, " is being moved already"));
    if (entry->location_holds > 0) {
      return absl::UnavailableError(absl::StrCat("block ", block_id, " is leased to a short-circuit reader"));
    }
    entry->moving = true;
  }
  absl::Status status = MoveClaimed(entry, tier_index);
  absl::MutexLock lock(&mu_);
  entry->moving = false;
  return status;
}

absl::Status BlockStore::Promote(uint64_t block_id) {
  int from = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(block_id);
    if (it == index_.end()) return absl::NotFoundError(absl::StrCat("block ", block_id, " is not cached"));
    from = it->second->dir->tier_index();
    if (from == 0) return absl::OkStatus();
    if (ChooseDirLocked(it->second->length, 0, from - 1) == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("no tier above ", it->second->dir->alias(),
                                                       " has room for block ", block_id));
    }
  }
  absl::Status status = absl::ResourceExhaustedError(absl::StrCat("no tier above has room for block ", block_id));
  for (int t = 0; t < from; ++t) {
    status = MoveBlock(block_id, t);
    if (status.ok()) {
      blocks_promoted_->Add(1);
      return status;
    }
    if (!absl::IsResourceExhausted(status)) return status;
  }
  return status;
}

absl::Status BlockStore::MoveClaimed(const EntryPtr& entry, int tier_index) {
  const uint64_t block_id = entry->block_id;
  StorageDir* const source = entry->dir;
  StorageDir* target = nullptr;
  int fd = -1;
  {
    absl::MutexLock lock(&mu_);
    if (!entry->attached) return absl::AbortedError(absl::StrCat("block ", block_id, " was removed"));
    target = ChooseDirLocked(entry->length, tier_index, tier_index);
    if (target == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tier ", tier_aliases_[tier_index], " has no room for block ", block_id));
    }
    // Opened under mu_: while the entry is attached its file exists.
    const std::string path = source->BlockPath(block_id);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open block ", block_id, " to move it"), path);
    target->reserved_bytes += entry->length;
    entry->readers++;  // keeps its bytes counted in `source` should it be removed meanwhile
  }
  const std::string tmp_path = target->NewTempPath(block_id);
  const std::string tmp_meta_path = tmp_path + std::string(kBlockMetaSuffix);
  absl::StatusOr<uint64_t> checksum = CopyAndHash(fd, entry->length, source->BlockPath(block_id), tmp_path);
  ::close(fd);
  absl::Status status = checksum.status();
  bool corrupt = false;
  if (status.ok() && *checksum != entry->checksum) {
    corrupt = true;
    status = absl::DataLossError(absl::StrCat("block ", block_id, " in ", source->BlockPath(block_id),
                                              " is corrupt (checksum ", *checksum, " != recorded ", entry->checksum,
                                              "); dropped"));
  } else if (!status.ok()) {
    corrupt = absl::IsDataLoss(status);
  }
  if (status.ok()) status = WriteNewFile(tmp_meta_path, EncodeBlockMeta({entry->length, entry->checksum}));

  absl::MutexLock lock(&mu_);
  ReleaseReaderLocked(entry);
  auto discard = [&] {
    ::unlink(tmp_path.c_str());
    ::unlink(tmp_meta_path.c_str());
    target->reserved_bytes -= entry->length;
  };
  if (!status.ok()) {
    discard();
    if (corrupt && entry->attached) {
      DropLocked(entry);
      blocks_corrupt_->Add(1);
      spdlog::warn("{}", std::string(status.message()));
    }
    return status;
  }
  if (!entry->attached) {
    discard();
    return absl::AbortedError(absl::StrCat("block ", block_id, " was removed while being moved"));
  }
  // Both copies are complete for a moment; recovery keeps the newer if we crash now.
  const std::string path = target->BlockPath(block_id);
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, absl::StrCat("move block ", block_id, " to"), path);
    discard();
    return status;
  }
  if (::rename(tmp_meta_path.c_str(), target->MetaPath(block_id).c_str()) != 0) {
    status = ErrnoStatus(errno, absl::StrCat("move checksum record of block ", block_id, " to"), target->MetaPath(block_id));
    ::unlink(path.c_str());
    discard();
    return status;
  }
  DetachLocked(entry);
  source->DeleteBlockFiles(block_id).IgnoreError();
  target->reserved_bytes -= entry->length;
  target->used_bytes += entry->length;
  auto moved = std::make_shared<BlockEntry>(block_id, entry->length, entry->checksum, target);
  moved->stats = entry->stats;
  moved->verified = true;  // just hashed
  InsertLocked(moved);
  NoteAddedLocked(*moved);
  MaybeWakeEvictorLocked(target);
  spdlog::debug("moved block {} from {} to {}", block_id, source->path(), target->path());
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Pins

void BlockStore::PinBlock(uint64_t block_id) {
  absl::MutexLock lock(&mu_);
  pinned_blocks_.insert(block_id);
}

void BlockStore::UnpinBlock(uint64_t block_id) {
  absl::MutexLock lock(&mu_);
  pinned_blocks_.erase(block_id);
}

void BlockStore::SetPinnedFiles(absl::flat_hash_set<uint64_t> file_ids) {
  absl::MutexLock lock(&mu_);
  pinned_files_ = std::move(file_ids);
}

void BlockStore::PinProvisionally(uint64_t block_id) {
  absl::MutexLock lock(&mu_);
  provisional_pins_[block_id] = ++provisional_epoch_;
}

uint64_t BlockStore::ProvisionalPinEpoch() const {
  absl::MutexLock lock(&mu_);
  return provisional_epoch_;
}

void BlockStore::ReleaseProvisionalPins(uint64_t epoch) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(provisional_pins_, [epoch](const auto& pin) { return pin.second <= epoch; });
}

bool BlockStore::IsPinned(uint64_t block_id) const {
  absl::MutexLock lock(&mu_);
  return IsPinnedLocked(block_id);
}

}  // namespace cistern::worker
