// BlockAccess: what a worker checks before it serves or accepts a block (docs/security.md,
// "Worker block access"). With capabilities on (TOKEN mode: the worker has the cluster secret),
// every ReadBlock needs a READ capability for the block's file, every WriteBlock a WRITE one, and
// every WriteUfsFile a WRITE one naming that under-store file; the request must stay within what
// the capability describes: a read-through reads exactly this block of this file in this mount
// (so a capability for one file cannot fetch another, nor cache wrong bytes under a block id),
// and a write stays within the file's block size. OpenLocalBlock (a short-circuit lease on the
// block file) needs a READ capability for the block like ReadBlock; CacheBlock (`fs load`) needs
// one covering its under-store source, unless the caller is a Cistern daemon (authenticated by the
// cluster secret, from which the capability key is derived anyway). Blocks a ReadBlock or
// CacheBlock asks to read ahead need what a read-through of each would need. ReadBlock by a daemon (a
// worker persisting a file reads its blocks from peers) passes too, and so does a cache-only
// ReadBlock with a WRITE capability (a writer reading back what it wrote). Without capabilities
// everything passes (NONE mode: a trusted network).
//
// Thread safety: immutable; thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "cistern/proto/worker.pb.h"
#include "common/clock.h"
#include "security/capability.h"
#include "security/identity.h"

namespace cistern::worker {

class BlockAccess {
 public:
  // No checks.
  BlockAccess() = default;
  // Checks against `capabilities`, with `clock` for expiry; both must outlive this.
  BlockAccess(const security::BlockCapabilities* capabilities, Clock* clock)
      : capabilities_(capabilities), clock_(clock) {}

  bool enabled() const { return capabilities_ != nullptr; }

  absl::Status CheckRead(const proto::ReadBlockRequest& request, const security::Caller& caller) const;
  absl::Status CheckOpenLocal(const proto::OpenLocalBlockRequest& request, const security::Caller& caller) const;
  absl::Status CheckCache(const proto::CacheBlockRequest& request, const security::Caller& caller) const;
  // A block a ReadBlock or CacheBlock call asks to read ahead: the same right as a read-through
  // of it with the call's `capability` (so one file's capability cannot fetch another's bytes).
  absl::Status CheckReadAhead(const char* verb, const proto::ReadAheadBlock& block,
                              const proto::BlockCapability& capability, const security::Caller& caller) const;
  // The most bytes the block may hold.
  absl::StatusOr<int64_t> CheckWrite(const proto::WriteBlockHeader& header, int64_t max_block_bytes) const;
  absl::Status CheckUfsWrite(const proto::WriteUfsFileHeader& header) const;

 private:
  // READ on block `block_id` by `cap`; the under-store source, if any, must be exactly this block
  // of the capability's file.
  absl::Status CheckBlockRead(const char* verb, uint64_t block_id, const proto::BlockCapability& cap,
                              const proto::UfsBlockSource* source) const;

  const security::BlockCapabilities* capabilities_ = nullptr;
  Clock* clock_ = nullptr;
};

}  // namespace cistern::worker
