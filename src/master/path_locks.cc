#include "master/path_locks.h"

#include "absl/hash/hash.h"
#include "common/path.h"

namespace cistern::master {

PathLocks::Shard& PathLocks::ShardOf(const std::string& path) {
  return shards_[absl::Hash<std::string>{}(path) % kShards];
}

PathLocks::Entry* PathLocks::Acquire(const std::string& path) {
  Shard& shard = ShardOf(path);
  absl::MutexLock lock(&shard.mu);
  std::unique_ptr<Entry>& entry = shard.entries[path];
  if (entry == nullptr) entry = std::make_unique<Entry>();
  ++entry->users;
  return entry.get();
}

void PathLocks::Release(const std::string& path) {
  Shard& shard = ShardOf(path);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(path);
  if (it != shard.entries.end() && --it->second->users == 0) shard.entries.erase(it);
}

PathLocks::Held PathLocks::Lock(const std::vector<std::string>& paths) {
  // path -> exclusive; std::map orders by bytes, and a proper ancestor is a prefix, so sorts
  // first.
  std::map<std::string, bool> wanted;
  for (const std::string& path : paths) {
    wanted[path] = true;
    for (std::string parent = path; parent != "/";) {
      parent = ParentPath(parent);
      wanted.emplace(parent, false);  // shared, unless the path itself is also changed
    }
  }
  Held held;
  held.locks_ = this;
  held.held_.reserve(wanted.size());
  for (const auto& [path, exclusive] : wanted) {
    Entry* entry = Acquire(path);
    if (exclusive) {
      entry->mu.WriterLock();
    } else {
      entry->mu.ReaderLock();
    }
    held.held_.push_back(Held::One{path, entry, exclusive});
  }
  return held;
}

size_t PathLocks::EntriesForTest() {
  size_t total = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    total += shard.entries.size();
  }
  return total;
}

PathLocks::Held& PathLocks::Held::operator=(Held&& other) noexcept {
  if (this != &other) {
    Release();
    locks_ = other.locks_;
    held_ = std::move(other.held_);
    other.locks_ = nullptr;
  }
  return *this;
}

void PathLocks::Held::Release() {
  if (locks_ == nullptr) return;
  for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
    if (it->exclusive) {
      it->entry->mu.WriterUnlock();
    } else {
      it->entry->mu.ReaderUnlock();
    }
    locks_->Release(it->path);
  }
  held_.clear();
  locks_ = nullptr;
}

}  // namespace cistern::master
