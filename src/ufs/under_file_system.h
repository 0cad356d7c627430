// UnderFileSystem: the one narrow interface every under-store adapter implements (in the manner
// of LevelDB's Env). Paths are full URIs of the adapter's scheme ("file:///data/x",
// "s3://bucket/key"); a bare absolute path is a file:// URI.
//
// Thread safety: an UnderFileSystem and its readers may be used from many threads at once. An
// output stream is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cistern::ufs {

// Names containing this marker are temporary files of Cistern in an under-store (an adapter's
// writes not yet committed, copies being persisted); they are never part of the namespace.
inline constexpr std::string_view kTempNameMarker = ".cistern-tmp-";

// Checks a caller's CreateOptions::temp_nonce: 1 to 64 ASCII letters, digits, '-' or '_' (so
// that it can only make a name, never a path). INVALID_ARGUMENT naming the nonce otherwise.
absl::Status ValidateTempNonce(std::string_view nonce);
// The temporary file beside `path` (a normalized absolute path) of the adapters that write
// one: "/d/.NAME.cistern-tmp-NONCE" for "/d/NAME".
std::string TempPathFor(std::string_view path, std::string_view nonce);

struct UfsStatus {
  std::string name;  // last path component
  bool is_directory = false;
  int64_t length = 0;
  int64_t mtime_ms = 0;
  std::string etag;  // content version where the store has one; empty otherwise
  uint32_t mode = 0;
};

struct CreateOptions {
  bool overwrite = false;
  bool create_parents = true;
  uint32_t mode = 0644;
  // An adapter that writes a temporary file names it with this nonce (see
  // UnderFileSystem::TempUri), so that a caller can record the name before the file exists
  // (worker/ufs_write_records.h); it picks a random one when empty. A nonce ValidateTempNonce
  // rejects fails Create with INVALID_ARGUMENT. The caller keeps nonces unique (a name taken
  // by another write in progress is ALREADY_EXISTS where the store can tell, else clobbered).
  // Adapters without a temporary file ignore it.
  std::string temp_nonce;
};

// A file being written. Nothing is visible at the final path until Close succeeds; a stream
// destroyed without Close is aborted and leaves nothing behind.
class UfsOutputStream {
 public:
  virtual ~UfsOutputStream() = default;
  virtual absl::Status Write(std::string_view data) = 0;
  // Makes the file durable and visible; returns its status (for the fingerprint).
  virtual absl::StatusOr<UfsStatus> Close() = 0;
  virtual void Abort() = 0;
  // The URI of the temporary file the stream writes until Close renames it into place (its
  // name has kTempNameMarker): UnderFileSystem::TempUri of the stream's path and nonce; empty
  // when the store has none (an object store's upload only becomes visible when it completes).
  virtual std::string temp_uri() const { return {}; }
};

class RandomAccessReader {
 public:
  virtual ~RandomAccessReader() = default;
  // Reads up to `n` bytes at `offset` into `buf`; returns the count, 0 at end of file.
  virtual absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) = 0;
};

struct Capabilities {
  bool object_store = false;   // no real directories; rename is copy + delete
  bool atomic_rename = true;
};

class UnderFileSystem {
 public:
  virtual ~UnderFileSystem() = default;

  virtual Capabilities capabilities() const = 0;

  virtual absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view path) = 0;
  virtual absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view path,
                                                                   const CreateOptions& options) = 0;
  // The URI of the temporary file Create(path, {.temp_nonce = nonce}) would write, computed
  // without touching the store; empty when the adapter writes none (object stores). Lets a
  // writer record the name durably before the file can exist, so that a writer killed at any
  // moment leaves nothing unrecorded (worker/ufs_write_records.h). INVALID_ARGUMENT for a bad
  // path or nonce (ValidateTempNonce).
  virtual absl::StatusOr<std::string> TempUri(std::string_view path, std::string_view nonce) const {
    (void)path;
    absl::Status valid = ValidateTempNonce(nonce);
    if (!valid.ok()) return valid;
    return std::string();
  }
  // NOT_FOUND if nothing is at `path`.
  virtual absl::StatusOr<UfsStatus> GetStatus(std::string_view path) = 0;
  // Calls `visit` for each direct child of the directory `path`, in no particular order,
  // without holding the whole listing in memory. Stops at the first error `visit` returns.
  virtual absl::Status ListDirectory(std::string_view path,
                                     const std::function<absl::Status(const UfsStatus&)>& visit) = 0;
  // Creates `path` and any missing parents; OK if it already is a directory.
  virtual absl::Status Mkdirs(std::string_view path, uint32_t mode) = 0;
  // Deletes a file, or a directory (with its contents if `recursive`). NOT_FOUND if absent.
  virtual absl::Status Delete(std::string_view path, bool recursive) = 0;
  // Moves `src` to `dst`; `dst` must not exist.
  virtual absl::Status Rename(std::string_view src, std::string_view dst) = 0;
};

// Creates the adapter for `uri`'s scheme. `options` are per-mount settings.
absl::StatusOr<std::unique_ptr<UnderFileSystem>> CreateUnderFileSystem(
    std::string_view uri, const std::map<std::string, std::string>& options = {});

}  // namespace cistern::ufs
