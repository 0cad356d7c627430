// LocalBlockFile: a short-circuit read of one block. A worker on this client's host lends its
// cached block file (BlockWorker.OpenLocalBlock) under a lease, and the client reads the file
// directly with pread, without the network. The file is checked to be the one the worker has
// open (same device and inode, same length), so a path that means another file here (another
// mount namespace, another host with the same name) is refused rather than read.
//
// The lease keeps the block from being evicted or moved while it lasts; the reader renews it
// (by opening the block again) before it runs out, and gives it back on destruction, reporting
// the bytes it read so the worker counts them as cache reads. Bytes stay readable through the
// open descriptor even if the worker drops the block meanwhile (an explicit free or delete), as
// with an open gRPC stream.
//
// Leases come from a LocalBlockLeaser (one per reader and worker), which saves RPCs for a
// sequential reader: it leases a block together with the reader's next blocks in one call
// (lease-ahead), and batches the releases of finished blocks onto its next call; whatever is
// left it releases in one call when it is destroyed. A sequential reader of a file cached on
// its host thus makes about one RPC per lease_ahead + 1 blocks instead of two per block.
//
// Integrity: the worker checks each block against its checksum when it grants its lease (also
// a lease granted ahead), by the same rule as for gRPC reads (worker.block.checksum.verify), and
// drops a corrupt block; the client then gets DATA_LOSS (or NOT_FOUND, once dropped) from Open,
// or DATA_LOSS from ReadAt when a renewal finds the block corrupt, and reads over the network
// instead (where the block is read through from the under-store). The client does not hash the
// file again itself: that would read every block twice.
//
// Cold blocks (CacheAndOpen): a block no worker caches yet is read the same way once the local
// worker has cached it from the under-store (BlockWorker.CacheBlock, one under-store read shared
// with concurrent readers), naming the reader's next blocks to read ahead so the worker fetches
// them while the client reads this one. The bytes then never cross a socket; the lease, the
// capability and the checksum are checked as for any short-circuit read, and the worker's
// capacity bounds what it caches (RESOURCE_EXHAUSTED when it has no room: read over the network,
// which serves the bytes from the worker's memory).
//
// Thread safety: one thread at a time (a leaser and the files leased through it together).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "cistern/proto/common.pb.h"
#include "cistern/proto/worker.pb.h"
#include "rpc/worker_client.h"

namespace cistern::client {

class LocalBlockLeaser {
 public:
  LocalBlockLeaser(std::shared_ptr<rpc::WorkerClient> worker, proto::ReadType read_type);
  // Releases every lease still held or queued (one call).
  ~LocalBlockLeaser();
  LocalBlockLeaser(const LocalBlockLeaser&) = delete;
  LocalBlockLeaser& operator=(const LocalBlockLeaser&) = delete;

  struct Grant {
    proto::OpenLocalBlockResponse lease;
    int64_t renew_at_mono_ms = 0;  // two thirds into the lease, counted from the request
  };
  // A lease on `block_id`: one granted ahead if it has one not yet two thirds through, else a
  // new one from the worker, asked together with the blocks of `ahead` it holds no lease for
  // (best effort: the worker leaves out those it cannot lease) and carrying the queued releases
  // and those of leases held ahead for blocks not in `ahead` (the reader went elsewhere).
  // `renewal`: the caller holds a lease on the block already (not counted as another read).
  absl::StatusOr<Grant> Lease(uint64_t block_id, const std::vector<uint64_t>& ahead, bool renewal,
                              const proto::BlockCapability& capability);
  // Queues the release of a lease the caller is done with, to go with the next call.
  void Release(uint64_t lease_id, int64_t bytes_read);
  // Has the worker cache a block from its under-store (with the request's read-ahead); OK once
  // it is cached.
  absl::Status Cache(const proto::CacheBlockRequest& request);
  // Releases the queued leases and those granted ahead and not used, in one call.
  void Flush();
  // Leases granted ahead and not taken yet (for tests).
  size_t ahead_size() const { return ahead_.size(); }

 private:
  const std::shared_ptr<rpc::WorkerClient> worker_;
  const proto::ReadType read_type_;
  std::map<uint64_t, Grant> ahead_;  // by block id
  std::vector<proto::ReleaseLocalBlockRequest> releases_;
};

class LocalBlockFile {
 public:
  // Leases `block_id` through `leaser` (which must outlive the file) and opens its file; `ahead`
  // are the reader's next blocks on the same worker, to lease in the same call (see
  // LocalBlockLeaser::Lease). `capability` (READ on the block's file; empty in NONE mode) goes
  // with every lease request. The worker's error (FAILED_PRECONDITION: switched off; NOT_FOUND:
  // not cached; PERMISSION_DENIED: no valid capability) or FAILED_PRECONDITION when the file
  // cannot be opened or is not the worker's; the caller then reads over the network.
  static absl::StatusOr<std::unique_ptr<LocalBlockFile>> Open(LocalBlockLeaser* leaser, uint64_t block_id,
                                                              int64_t length,
                                                              const proto::BlockCapability& capability,
                                                              const std::vector<uint64_t>& ahead = {});
  // A cold block: has the leaser's worker cache block `request.block_id()` of `length` bytes
  // (request: its under-store source, read-ahead and capability), then opens it as Open does.
  // The worker's CacheBlock error (e.g. RESOURCE_EXHAUSTED: no room) or Open's.
  static absl::StatusOr<std::unique_ptr<LocalBlockFile>> CacheAndOpen(LocalBlockLeaser* leaser,
                                                                      const proto::CacheBlockRequest& request,
                                                                      int64_t length,
                                                                      const std::vector<uint64_t>& ahead = {});
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
  LocalBlockFile(LocalBlockLeaser* leaser, uint64_t block_id, int64_t length, const proto::BlockCapability& capability);
  // Takes a lease and opens the file it names (replacing the current ones on success).
  absl::Status Lease(bool renewal, const std::vector<uint64_t>& ahead);
  void Close();

  LocalBlockLeaser* const leaser_;
  const uint64_t block_id_;
  const int64_t length_;
  const proto::BlockCapability capability_;
  int fd_ = -1;
  uint64_t lease_id_ = 0;
  int64_t renew_at_mono_ms_ = 0;
  int64_t bytes_read_ = 0;   // under the current lease, reported when it is released
  absl::Status corrupt_;     // set when a renewal found the block corrupt
};

}  // namespace cistern::client
