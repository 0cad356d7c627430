// LocalBlockFile: a short-circuit read of one block. A worker on this client's host lends its
// cached block file (BlockWorker.OpenLocalBlock) under a lease, and the client reads the file
// directly with pread, without the network. The file is checked to be the one the worker has
// open (same device and inode, same length), so a path that means another file here (another
// mount namespace, another host with the same name) is refused rather than read.
//
// The lease keeps the block from being evicted or moved while it lasts; the reader renews it
// (by opening the block again) before it runs out, and releases it on destruction, reporting
// the bytes it read so the worker counts them as cache reads. Bytes stay readable through the
// open descriptor even if the worker drops the block meanwhile (an explicit free or delete), as
// with an open gRPC stream.
//
// Integrity: the worker checks the block against its checksum when it grants a lease, by the
// same rule as for gRPC reads (worker.block.checksum.verify), and drops a corrupt block; the
// client then gets DATA_LOSS from Open, or from ReadAt when a renewal finds the block corrupt,
// and reads over the network instead (where the block is read through from the under-store).
// The client does not hash the file again itself: that would read every block twice.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "cistern/proto/common.pb.h"
#include "rpc/worker_client.h"

namespace cistern::client {

class LocalBlockFile {
 public:
  // Leases `block_id` from `worker` and opens its file. `capability` (READ on the block's file;
  // empty in NONE mode) goes with every lease request. The worker's error (FAILED_PRECONDITION:
  // switched off; NOT_FOUND: not cached; PERMISSION_DENIED: no valid capability) or
  // FAILED_PRECONDITION when the file cannot be opened or is not the worker's; the caller then
  // reads over the network.
  static absl::StatusOr<std::unique_ptr<LocalBlockFile>> Open(std::shared_ptr<rpc::WorkerClient> worker,
                                                              uint64_t block_id, int64_t length,
                                                              proto::ReadType read_type,
                                                              const proto::BlockCapability& capability);
  ~LocalBlockFile();
  LocalBlockFile(const LocalBlockFile&) = delete;
  LocalBlockFile& operator=(const LocalBlockFile&) = delete;

  uint64_t block_id() const { return block_id_; }
  int64_t length() const { return length_; }
  // Reads up to `n` bytes at block offset `offset` into `buf` (fewer only at the end of the
  // block); renews the lease first when it is two thirds through. DATA_LOSS when the renewal
  // found the block corrupt (and from then on).
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf);

 private:
  LocalBlockFile(std::shared_ptr<rpc::WorkerClient> worker, uint64_t block_id, int64_t length,
                 proto::ReadType read_type, const proto::BlockCapability& capability);
  // Takes a lease and opens the file it names (replacing the current ones on success).
  absl::Status Lease(bool renewal);
  void Close();

  const std::shared_ptr<rpc::WorkerClient> worker_;
  const uint64_t block_id_;
  const int64_t length_;
  const proto::ReadType read_type_;
  const proto::BlockCapability capability_;
  int fd_ = -1;
  uint64_t lease_id_ = 0;
  int64_t renew_at_mono_ms_ = 0;
  int64_t bytes_read_ = 0;   // under the current lease, reported when it is released
  absl::Status corrupt_;     // set when a renewal found the block corrupt
};

}  // namespace cistern::client
