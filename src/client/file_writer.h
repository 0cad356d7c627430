// FileWriter over workers: blocks stream to the worker each block id hashes to (write types
// that cache), and the whole file streams to the under-store through one worker (CACHE_THROUGH
// and THROUGH). Close commits the streams and then completes the file in the master.
#pragma once

#include <memory>
#include <string>

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
  bool writes_cache() const { return write_type_ != WriteType::kThrough; }
  bool writes_ufs() const { return write_type_ == WriteType::kCacheThrough || write_type_ == WriteType::kThrough; }

  absl::Status OnChunk(int64_t index, std::string_view chunk);
  absl::Status OnBlockEnd(int64_t index, int64_t length);
  // Makes the writer unusable after an error, cancelling what is open.
  absl::Status Fail(absl::Status status);

  FileSystemImpl* const fs_;
  const uint64_t file_id_;
  const WriteType write_type_;
  const uint32_t mode_;
  const std::string ufs_path_;
  FileStatus status_;
  const proto::BlockCapability capability_;  // WRITE, from CreateFile; none in NONE mode
  BlockSplitter splitter_;
  BlockSplitter::Sink sink_;

  std::unique_ptr<rpc::BlockWriteStream> block_stream_;  // of the block being written
  std::string block_worker_;
  std::unique_ptr<rpc::UfsFileWriteStream> ufs_stream_;
  bool closed_ = false;
  bool failed_ = false;
};

}  // namespace cistern::client
