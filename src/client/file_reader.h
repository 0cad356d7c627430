// FileReader over workers. A sequential read keeps one ReadBlock stream open per block, from
// the position where reading started to the end of the block, handing out its chunks as the
// caller asks; a positioned read uses a ranged ReadBlock of just the bytes asked for.
//
// Short-circuit: when a worker on this host caches the block (and ClientOptions allow it), the
// reader reads the worker's block file directly under a lease (LocalBlockFile), and falls back
// to the network when the worker refuses or the file is not usable here. A sequential reader
// of a persisted file whose block no worker caches, and that a worker on this host would serve,
// has that worker cache it first (with read-ahead of the next blocks) and reads it the same way
// (ClientOptions::short_circuit_cold_reads).
//
// Failures: when a worker fails mid-read and another can serve the block (the file is
// persisted, or another worker caches the block), the read resumes on another worker, skipping
// every worker that failed this reader, until ClientOptions::retry_window_ms has passed. When no
// worker is left and the file is PERSISTED, the reader reads straight from the under-store
// (ClientOptions::ufs_fallback_enabled) for the rest of its life.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cistern/file_system.h"
#include "client/file_system_impl.h"
#include "client/local_block_file.h"
#include "rpc/worker_client.h"
#include "ufs/under_file_system.h"

namespace cistern::client {

// The blocks of `status`: its block list when the master sent one, else derived from block_ids
// and the block size (without locations).
std::vector<BlockStatus> FileBlocks(const FileStatus& status);

// Where `block` of the persisted file `status` lives in the under-store.
void SetUfsSource(const FileStatus& status, const BlockStatus& block, proto::UfsBlockSource* source);

// The read-ahead a sequential reader of the persisted file `status` asks for with block
// `index`: those of blocks index + 1 .. index + depth that no worker caches and that
// `same_worker` says the worker serving block `index` would serve, added to `read_ahead`.
void AddReadAhead(const FileStatus& status, const std::vector<BlockStatus>& blocks, size_t index, int depth,
                  const std::function<bool(const BlockStatus&)>& same_worker,
                  google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>* read_ahead);

class FileReaderImpl : public FileReader {
 public:
  // `fs` must outlive the reader. REQUIRES: `status` is a completed file.
  FileReaderImpl(FileSystemImpl* fs, FileStatus status, ReadType read_type);
  ~FileReaderImpl() override;

  absl::StatusOr<int64_t> Read(char* buf, int64_t n) override;
  absl::StatusOr<int64_t> ReadAt(int64_t offset, char* buf, int64_t n) override;
  absl::Status Seek(int64_t position) override;
  int64_t position() const override { return pos_; }
  int64_t length() const override { return status_.length; }
  const FileStatus& status() const override { return status_; }

 private:
  struct Stream {
    std::unique_ptr<rpc::BlockReadStream> reader;
    uint64_t worker_id = 0;
    std::string address;
  };

  // Index of the block holding byte `offset`. REQUIRES: 0 <= offset < length().
  size_t BlockAt(int64_t offset) const;
  // Opens a stream of block `index` from file offset `offset` for `length` bytes (-1 = to the
  // block's end) on a worker not in `exclude`.
  absl::StatusOr<Stream> OpenStream(size_t index, int64_t offset, int64_t length,
                                    const std::vector<uint64_t>& exclude, bool refresh);
  // Whether a failed worker may be replaced by another: the under-store can give another worker
  // the bytes, or another worker caches the block.
  bool CanRetry(size_t index, const std::vector<uint64_t>& exclude) const;
  bool CanReadUfsDirectly() const {
    return fs_->options().ufs_fallback_enabled && status_.persistence_state == PersistenceState::kPersisted &&
           !status_.ufs_path.empty();
  }
  // After the sequential stream failed with `error`: opens a stream on another worker at pos_,
  // or switches to the under-store, or returns the error to give up.
  absl::Status Failover(size_t index, const absl::Status& error);
  // A worker refused the block (PERMISSION_DENIED, UNAUTHENTICATED): not a worker failure, so
  // no other worker or the under-store is tried. If this reader's block capability has expired,
  // gets a fresh one from the master (at most a few times) and returns OK to retry; else
  // returns `error`.
  absl::Status RenewCapability(const absl::Status& error);
  static bool IsRefusal(const absl::Status& error) {
    return absl::IsPermissionDenied(error) || absl::IsUnauthenticated(error);
  }
  // The short-circuit file of block `index`, if a worker on this host lends it (kept open for the
  // next read of the same block); nullptr to read over the network. Blocks index + 1 up to
  // `last` (inclusive) that the same worker holds are leased ahead in the same call.
  // `sequential` (a Read, not a ReadAt): a block no worker caches may be read this way too,
  // once the local worker has cached it (ColdLocalFile).
  LocalBlockFile* LocalFile(size_t index, size_t last, bool sequential);
  // A cold block of a persisted file, for a reader that arrived at it sequentially on the host
  // of the worker that would serve it: that worker caches it (with read-ahead of the next
  // blocks) and lends its file; nullptr to read over the network (the worker refused, or had no
  // room). A reader's first block streams over the network instead, so a reader that stops
  // early (a head, a footer) gets its first bytes as they arrive, not after the whole block.
  LocalBlockFile* ColdLocalFile(size_t index);
  // Whether reading block `index` at pos_ continues a sequential read through the block before.
  bool ArrivedSequentially(size_t index) const {
    return index > 0 && pos_ == blocks_[index].offset && sequential_end_ == pos_;
  }
  // Names the blocks to read ahead after block `index` (see AddReadAhead; those worker
  // `worker_id` would serve) and marks block `index`'s read-ahead as asked for. Nothing for a
  // file that is not persisted, NO_CACHE reads, or user.file.read_ahead.blocks = 0.
  void FillReadAhead(size_t index, uint64_t worker_id,
                     google::protobuf::RepeatedPtrField<proto::ReadAheadBlock>* read_ahead);
  // After a sequential read in block `index`: past its middle, asks the worker serving it to
  // read the next blocks ahead (once per block, unless asked when the block was opened).
  void ReadAheadAtMiddle(size_t index);
  // Reads [offset, offset + n) straight from the under-store; REQUIRES CanReadUfsDirectly().
  absl::StatusOr<int64_t> ReadUfs(int64_t offset, char* buf, int64_t n);
  void CloseStream();

  FileSystemImpl* const fs_;
  const FileStatus status_;
  const ReadType read_type_;
  const std::vector<BlockStatus> blocks_;
  proto::BlockCapability capability_;  // from the master with the status; none in NONE mode
  int capability_renewals_ = 0;
  int64_t pos_ = 0;

  // The sequential stream: block stream_block_, its next byte at file offset stream_pos_.
  Stream stream_;
  size_t stream_block_ = 0;
  int64_t stream_pos_ = -1;  // file offset of chunk_[chunk_offset_]; -1 = no stream
  std::vector<uint64_t> failed_workers_;  // workers that failed this reader; never asked again
  // Short-circuit leases, by local worker id (before local_: its file releases through them).
  std::map<uint64_t, std::unique_ptr<LocalBlockLeaser>> leasers_;
  std::unique_ptr<LocalBlockFile> local_;     // the short-circuit file last used
  uint64_t local_worker_id_ = 0;              // the worker that lent local_
  int64_t sequential_end_ = -1;   // file offset where the last Read that finished a block ended
  size_t read_ahead_asked_ = SIZE_MAX;  // the block whose read-ahead was asked for last
  std::vector<uint64_t> no_short_circuit_;    // local workers that refused short-circuit reads
  bool no_cold_short_circuit_ = false;        // a cold short-circuit read failed: not tried again
  int64_t failover_deadline_ms_ = 0;      // monotonic; 0 = no failure in the current call
  bool ufs_direct_ = false;               // no worker could serve: reading from the under-store
  std::unique_ptr<ufs::UnderFileSystem> ufs_;
  std::unique_ptr<ufs::RandomAccessReader> ufs_reader_;
};

}  // namespace cistern::client
