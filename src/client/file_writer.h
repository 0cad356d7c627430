// FileWriter over workers: blocks stream to the worker each block id hashes to (write types
// that cache), and the whole file streams to the under-store through one worker (CACHE_THROUGH
// and THROUGH). Close commits the streams and then completes the file in the master.
//
// Worker failures. The writer keeps the bytes of the block being written (up to
// ClientOptions::write_retry_buffer_bytes) until the block is committed. When a block stream
// fails with an error worth retrying, the writer opens the block on another worker (one that
// has not failed this writer while there is one, else any after a pause) and writes the kept
// bytes again; committed blocks stay where they are. When the under-store stream fails, it
// starts it again on another worker and replays the file. CACHE_THROUGH and THROUGH keep the
// whole file while it fits the retry buffer and replay it from there; beyond that, THROUGH
// (which caches nothing) cannot replay, and CACHE_THROUGH reads the committed blocks back from
// their workers, then the kept bytes of the block being written. (A small CACHE_THROUGH file
// so survives the death of a worker that had both its under-store stream and the only copy of
// a committed block; memory: up to the retry buffer plus one block per writer.)
// Retries go on until ClientOptions::retry_window_ms after the first failure (one retry is always
// made); when no worker is left, the bytes are not kept, or a committed block cannot be read
// back, the write fails cleanly: the writer aborts, and the incomplete file disappears.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cistern/file_system.h"
#include "cistern/proto/common.pb.h"
#include "client/block_splitter.h"
#include "client/file_system_impl.h"
#include "rpc/worker_client.h"

namespace cistern::client {

class FileWriterImpl : public FileWriter {
 public:
  // `fs` must outlive the writer. `info` is the file as CreateFile returned it.
  FileWriterImpl(FileSystemImpl* fs, const proto::FileInfo& info, WriteType write_type, uint32_t mode);
  ~FileWriterImpl() override;

  // Opens the under-store stream when the write type needs one. Called once by Create.
  absl::Status Init();

  absl::Status Write(std::string_view data) override;
  absl::Status Close() override;
  void Abort() override;
  int64_t bytes_written() const override { return splitter_.length(); }
  const FileStatus& status() const override { return status_; }

 private:
  struct CommittedBlock {
    int64_t index = 0;
    int64_t length = 0;
    WorkerEndpoint worker;
  };
  // Bytes written to a stream so far, kept for a replay while they fit the retry buffer.
  struct Replay {
    std::string bytes;     // all of them while `complete`
    int64_t length = 0;    // how many there are
    bool complete = true;  // false: they did not fit, and were dropped
  };

  bool writes_cache() const { return write_type_ != WriteType::kThrough; }
  bool writes_ufs() const { return write_type_ == WriteType::kCacheThrough || write_type_ == WriteType::kThrough; }

  absl::Status OnChunk(int64_t index, std::string_view chunk);
  absl::Status OnBlockEnd(int64_t index, int64_t length);
  // Counts `chunk` in `replay` and keeps it while it fits the retry buffer.
  void Keep(Replay* replay, std::string_view chunk);
  // What a stream reopened now must carry of `replay`, or FAILED_PRECONDITION if the bytes were
  // not kept (`chunk`, the one being written, is enough when it is the first).
  absl::StatusOr<std::string_view> Replayable(const Replay& replay, std::string_view what) const;
  // Makes the writer unusable after an error, cancelling what is open.
  absl::Status Fail(absl::Status status);

  // After `error` on a stream of `failed` (0 = no worker yet): whether to try another worker, and
  // records the failure. Starts the retry deadline at the first failure.
  bool ShouldRetry(const absl::Status& error, uint64_t failed);
  // Opens block `index` on a worker not failed yet and writes the block so far.
  // The ring's worker for `key` among those that have not failed this writer; when all have,
  // any live worker after a short pause.
  absl::StatusOr<WorkerEndpoint> PickWorker(uint64_t key);
  absl::Status OpenBlockStream(int64_t index);
  // Workers check the WRITE capability when a stream opens: shortly before it expires (a write
  // longer than security.block.capability.lifetime) ask the master for a fresh one.
  absl::Status RenewCapabilityIfNearExpiry();
  // Opens the under-store stream on a worker not failed yet and writes the file so far.
  absl::Status OpenUfsStream();
  absl::Status ReplayCommittedBlocks(rpc::UfsFileWriteStream* stream);
  // Runs `step` on `*stream`, opening it with `open` first if it is closed. After a failure
  // worth retrying it closes the stream, and opens it again on another worker (`open` writes
  // every byte so far, so a write `step` is then done) until ShouldRetry says stop; a `repeat`
  // step (a commit) runs again on the reopened stream.
  template <typename Stream>
  absl::Status Retrying(std::unique_ptr<Stream>* stream, const WorkerEndpoint& worker,
                        const std::function<absl::Status()>& open, const std::function<absl::Status()>& step,
                        bool repeat);

  FileSystemImpl* const fs_;
  const uint64_t file_id_;
  const WriteType write_type_;
  const uint32_t mode_;
  const std::string ufs_path_;
  FileStatus status_;
  proto::BlockCapability capability_;  // WRITE, from CreateFile, renewed; none in NONE mode
  BlockSplitter splitter_;
  BlockSplitter::Sink sink_;

  std::unique_ptr<rpc::BlockWriteStream> block_stream_;  // of the block being written
  WorkerEndpoint block_worker_;
  Replay block_bytes_;     // of the block being written
  std::vector<CommittedBlock> committed_;
  std::unique_ptr<rpc::UfsFileWriteStream> ufs_stream_;
  WorkerEndpoint ufs_worker_;
  Replay file_bytes_;      // the whole file, for a replay of the under-store stream
  std::string_view chunk_;  // the chunk being written (valid during OnChunk)
  std::vector<uint64_t> failed_workers_;  // never asked again by this writer
  int64_t retry_deadline_ms_ = 0;         // monotonic; 0 = nothing failed yet
  bool closed_ = false;
  bool failed_ = false;
};

}  // namespace cistern::client
