// UfsWriteRecords: which under-store writes of this worker are in progress, kept on local disk
// so that a worker killed in the middle of one (kill -9, a crash, the host's power) can delete
// the temporary file the write left in the under-store when it starts again.
//
// An adapter that writes a file under a temporary name and renames it into place on Close
// (file://, WebHDFS: UfsOutputStream::temp_uri) leaves that temporary file behind when its
// writer dies. Listings and metadata sync never show such names (ufs::kTempNameMarker), but
// they hold space for ever. So each write (WriteUfsFile of THROUGH / CACHE_THROUGH clients, and
// persistence) is recorded here from just after the temporary file is created until it is
// closed or aborted, one small file per write in `dir` (a directory only this worker uses: in
// its first tier directory, which the worker holds locked). At start CleanUp deletes the
// temporary files of the records left by the previous run. Records are synced (file and
// directory) before the write goes on, so they survive a power loss on a disk tier. A write
// killed between the creation of its temporary file and its record (a few microseconds) is not
// covered: the adapter names the temporary file as it creates it.
//
// Only names with the temporary marker are ever deleted, whatever a record says.
//
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ufs/under_file_system.h"

namespace cistern::worker {

class UfsRegistry;

class UfsWriteRecords {
 public:
  // Creates `dir` if needed.
  static absl::StatusOr<std::unique_ptr<UfsWriteRecords>> Open(std::string dir);

  struct CleanUpResult {
    int deleted = 0;   // temporary files deleted
    int gone = 0;      // records whose temporary file was not there (the write had ended)
    int kept = 0;      // records kept for the next start (the store could not be reached)
  };
  // Deletes the temporary files of the writes recorded by an earlier run and their records.
  // Call before this run records any write.
  CleanUpResult CleanUp(UfsRegistry* ufs);

  // A write in progress; its record is removed when this is destroyed (closed or aborted).
  class Record {
   public:
    explicit Record(std::string path) : path_(std::move(path)) {}
    ~Record();
    Record(const Record&) = delete;
    Record& operator=(const Record&) = delete;

   private:
    const std::string path_;
  };
  // Records `out` (created on mount `mount_id`); null when it has no temporary file, or when
  // the record cannot be written (logged: the write goes on unrecorded).
  std::unique_ptr<Record> Add(uint64_t mount_id, const ufs::UfsOutputStream& out);

  const std::string& dir() const { return dir_; }

 private:
  explicit UfsWriteRecords(std::string dir);

  const std::string dir_;
  const uint64_t run_;  // random per run, so names never collide with an earlier run's
  std::atomic<uint64_t> next_{1};
};

}  // namespace cistern::worker
