#include "worker/local_block_leases.h"

#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cistern::worker {

LocalBlockLeases::LocalBlockLeases(LocalBlockLeasesOptions options)
    : options_(options), next_id_(std::random_device{}() | 1) {
  if (options_.sweeper_thread) {
    sweeper_ = std::thread([this] {
      const absl::Duration every = absl::Milliseconds(std::max<int64_t>(options_.lease_ms / 4, 10));
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      while (!mu_.AwaitWithTimeout(absl::Condition(&stopping), every)) {
        std::vector<Entry> expired;
        TakeExpiredLocked(options_.clock->MonotonicMs(), &expired);
        mu_.Unlock();
        expired.clear();  // closes the readers without the lock held
        mu_.Lock();
      }
    });
  }
}

LocalBlockLeases::~LocalBlockLeases() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (sweeper_.joinable()) sweeper_.join();
}

absl::StatusOr<LocalBlockLease> LocalBlockLeases::Acquire(std::unique_ptr<BlockReader> reader) {
  absl::StatusOr<std::pair<uint64_t, uint64_t>> identity = reader->DeviceAndInode();
  if (!identity.ok()) return identity.status();
  LocalBlockLease lease;
  lease.path = reader->path();
  lease.length = reader->length();
  lease.device = identity->first;
  lease.inode = identity->second;
  lease.lease_ms = options_.lease_ms;
  std::vector<Entry> expired;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = options_.clock->MonotonicMs();
    TakeExpiredLocked(now, &expired);
    if (static_cast<int>(leases_.size()) >= options_.max_leases) {
      return absl::ResourceExhaustedError(
          absl::StrCat("all ", options_.max_leases, " short-circuit leases of this worker are out"));
    }
    lease.lease_id = next_id_++;
    leases_[lease.lease_id] = Entry{std::move(reader), now + options_.lease_ms};
  }
  return lease;
}

bool LocalBlockLeases::Release(uint64_t lease_id) {
  Entry released;
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return false;
  released = std::move(it->second);
  leases_.erase(it);
  // `released` closes its reader after the lock is dropped (destroyed after `lock`).
  return true;
}

int LocalBlockLeases::ExpireNow() {
  std::vector<Entry> expired;
  absl::MutexLock lock(&mu_);
  TakeExpiredLocked(options_.clock->MonotonicMs(), &expired);
  return static_cast<int>(expired.size());
}

void LocalBlockLeases::TakeExpiredLocked(int64_t now_ms, std::vector<Entry>* expired) {
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.expires_mono_ms <= now_ms) {
      expired->push_back(std::move(it->second));
      it = leases_.erase(it);
    } else {
      ++it;
    }
  }
}

int LocalBlockLeases::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(leases_.size());
}

}  // namespace cistern::worker
