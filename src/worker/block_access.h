// BlockAccess: what a worker checks before it serves or accepts a block (docs/security.md,
// "Worker block access"). With capabilities on (TOKEN mode: the worker has the cluster secret),
// every ReadBlock needs a READ capability for the block's file, every WriteBlock a WRITE one, and
// every WriteUfsFile a WRITE one naming that under-store file; the request must stay within what
// the capability describes: a read-through reads exactly this block of this file in this mount
// (so a capability for one file cannot fetch another, nor cache wrong bytes under a block id),
// and a write stays within the file's block size. Without capabilities everything passes (NONE
// mode: a trusted network).
//
// Thread safety: immutable; thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "cistern/proto/worker.pb.h"
#include "common/clock.h"
#include "security/capability.h"

namespace cistern::worker {

class BlockAccess {
 public:
  // No checks.
  BlockAccess() = default;
  // Checks against `capabilities`, with `clock` for expiry; both must outlive this.
  BlockAccess(const security::BlockCapabilities* capabilities, Clock* clock)
      : capabilities_(capabilities), clock_(clock) {}

  bool enabled() const { return capabilities_ != nullptr; }

  absl::Status CheckRead(const proto::ReadBlockRequest& request) const;
  // The most bytes the block may hold.
  absl::StatusOr<int64_t> CheckWrite(const proto::WriteBlockHeader& header, int64_t max_block_bytes) const;
  absl::Status CheckUfsWrite(const proto::WriteUfsFileHeader& header) const;

 private:
  const security::BlockCapabilities* capabilities_ = nullptr;
  Clock* clock_ = nullptr;
};

}  // namespace cistern::worker
