// UfsWriteRecords: which under-store writes of this worker are in progress, kept on local disk
// so that a worker killed in the middle of one (kill -9, a crash, the host's power) can delete
// the temporary file the write left in the under-store when it starts again.
//
// An adapter that writes a file under a temporary name and renames it into place on Close
// (file://, WebHDFS: UnderFileSystem::TempUri) leaves that temporary file behind when its
// writer dies. Listings and metadata sync never show such names (ufs::kTempNameMarker), but
// they hold space for ever. So each write (WriteUfsFile of THROUGH / CACHE_THROUGH clients, and
// persistence) goes through Create here, which records it before the temporary file can exist:
// it picks the temporary file's name (a nonce unique to this run and write, passed to the
// adapter in CreateOptions::temp_nonce; TempUri says which name the adapter will use with it),
// writes the record to a small file in `dir` (a directory only this worker uses: in its first
// tier directory, which the worker holds locked) and syncs it and its directory, and only then
// asks the adapter to create the file. The record goes when the stream is closed or aborted
// (destroyed), after the adapter has removed or renamed the temporary file. So at every
// moment a temporary file of this worker's writes has a durable record (also across a power
// loss, on a disk tier; a MEM tier loses its records with everything else); a write whose
// record cannot be written is refused. At start CleanUp deletes the temporary files the
// records of the previous run name; a record whose file never appeared (killed between the
// record and the create, or before a WebHDFS write's first chunk) or was already renamed or
// removed counts as "gone".
//
// Only names with the temporary marker are ever deleted, whatever a record says.
//
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
    int gone = 0;      // records whose temporary file was not there (never created, or the write had ended)
    int kept = 0;      // records kept for the next start (the store could not be reached)
  };
  // Deletes the temporary files of the writes recorded by an earlier run and their records.
  // Call before this run records any write.
  CleanUpResult CleanUp(UfsRegistry* ufs);

  // store->Create(uri, options) on mount `mount_id`, recorded first when the adapter writes a
  // temporary file (options.temp_nonce is replaced by this write's own). The record is removed
  // when the returned stream is destroyed, after the adapter's stream (and so its temporary
  // file) is gone. Fails, creating nothing, when the record cannot be written and synced.
  absl::StatusOr<std::unique_ptr<ufs::UfsOutputStream>> Create(ufs::UnderFileSystem* store, uint64_t mount_id,
                                                               std::string_view uri, ufs::CreateOptions options);

  const std::string& dir() const { return dir_; }

 private:
  explicit UfsWriteRecords(std::string dir);

  // Writes and syncs the record of `temp_uri`; returns its path.
  absl::StatusOr<std::string> Write(uint64_t mount_id, const std::string& temp_uri, uint64_t seq);

  const std::string dir_;
  const uint64_t run_;  // random per run, so names never collide with an earlier run's (or another worker's)
  std::atomic<uint64_t> next_{1};
};

}  // namespace cistern::worker
