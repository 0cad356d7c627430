// The Cistern client API: a FileSystem connected to a cluster's masters, from which files are
// created (FileWriter), read (FileReader), listed, renamed and deleted.
//
// Paths are absolute namespace paths ("/data/a.bin"); every call normalizes them first and
// rejects relative or malformed paths with INVALID_ARGUMENT naming the path. Errors are
// absl::Status with the codes of absl/status/status.h: NOT_FOUND, ALREADY_EXISTS,
// FAILED_PRECONDITION (e.g. deleting a non-empty directory without `recursive`),
// INVALID_ARGUMENT, UNAVAILABLE (a master or worker could not be reached within the retry
// window). Messages name the path or peer involved.
//
// Data never passes through the master: a writer streams each block to one worker (and, for
// CACHE_THROUGH and THROUGH, the whole file to the under-store through one worker); a reader
// streams each block from a worker that caches it, or from the worker the block hashes to,
// which reads it through from the under-store.
//
// Thread safety: FileSystem is thread-safe and meant to be shared. A FileWriter or FileReader is
// used by one thread at a time; it must not outlive the FileSystem that made it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cistern {

// How a new file's bytes are stored.
enum class WriteType {
  kMustCache,     // only in a worker's cache; lost if evicted
  kCacheThrough,  // cached and written to the under-store
  kThrough,       // only written to the under-store; cached when first read
  kAsyncThrough,  // cached now, persisted later (the master schedules it)
};

// What a read does on a cache miss.
enum class ReadType {
  kCache,         // cache the block read from the under-store
  kNoCache,       // read through without caching
  kCachePromote,  // like kCache, and move cached blocks to the top tier
};

enum class PersistenceState { kUnknown, kNotPersisted, kToBePersisted, kPersisted };

// "MUST_CACHE", "CACHE_THROUGH", "THROUGH", "ASYNC_THROUGH" and back (exact upper-case words).
std::string_view WriteTypeName(WriteType type);
absl::StatusOr<WriteType> ParseWriteType(std::string_view name);
// "CACHE", "NO_CACHE", "CACHE_PROMOTE" and back.
std::string_view ReadTypeName(ReadType type);
absl::StatusOr<ReadType> ParseReadType(std::string_view name);
// "NOT_PERSISTED", "TO_BE_PERSISTED", "PERSISTED", or "UNKNOWN".
std::string_view PersistenceStateName(PersistenceState state);

// What happens to a path when its time to live expires.
enum class TtlAction {
  kDelete,  // delete it from Cistern and the under-store
  kFree,    // drop its cached blocks, keep the file
};
// "DELETE", "FREE" and back (case-insensitive when parsing).
std::string_view TtlActionName(TtlAction action);
absl::StatusOr<TtlAction> ParseTtlAction(std::string_view name);

// What the master last saw of a file in its under-store.
struct UfsFingerprint {
  int64_t length = 0;
  int64_t mtime_ms = 0;
  std::string etag;
};

// Where persisting a file stands (files TO_BE_PERSISTED: ASYNC_THROUGH files until their
// under-store copy is complete, and files `fs persist` was asked for).
struct PersistJobStatus {
  int attempts = 0;             // attempts started so far
  std::string last_error;       // why the last attempt failed; empty if none did
  uint64_t worker_id = 0;       // worker running the current attempt; 0 = none running
  int64_t attempt_started_ms = 0;
  int64_t next_attempt_ms = 0;  // when the next attempt may start (wall ms); 0 = once the file is complete
};

struct BlockLocation {
  uint64_t worker_id = 0;
  std::string address;  // host:port of the worker
  std::string tier;     // MEM, SSD, HDD
};

struct BlockStatus {
  uint64_t block_id = 0;
  int64_t offset = 0;  // of the block's first byte in its file
  int64_t length = 0;
  std::vector<BlockLocation> locations;  // workers caching the block (may be empty)
};

struct FileStatus {
  uint64_t file_id = 0;
  std::string path;  // full namespace path
  std::string name;  // last component; "" for the root
  bool is_directory = false;
  int64_t length = 0;
  int64_t block_size_bytes = 0;
  uint32_t mode = 0;  // permission bits, e.g. 0644
  std::string owner;
  std::string group;
  int64_t creation_time_ms = 0;
  int64_t modification_time_ms = 0;
  bool completed = false;  // false while a writer has the file open
  PersistenceState persistence_state = PersistenceState::kUnknown;
  std::optional<WriteType> write_type;  // unset for directories and files of unknown origin
  std::string ufs_path;                 // full URI in the under-store
  bool pinned = false;
  int in_cache_percentage = 0;
  int64_t cached_bytes = 0;  // bytes of the file cached on some worker (files only)
  std::string mount_point;  // namespace path of the mount this path is under
  uint64_t mount_id = 0;    // id of that mount
  std::vector<uint64_t> block_ids;
  int64_t ttl_ms = 0;  // time to live after creation; 0 = none
  TtlAction ttl_action = TtlAction::kDelete;
  int replication_min = 0;
  int replication_max = 0;    // 0 = unlimited
  int64_t last_sync_ms = 0;   // when the master last compared the path with its under-store; 0 = never
  UfsFingerprint ufs_fingerprint;
  std::optional<PersistJobStatus> persist_job;  // set while TO_BE_PERSISTED
  // Filled by GetStatus; empty in listings.
  std::vector<BlockStatus> blocks;
  // Opaque: the block capability the master issued with this status (clusters with
  // security.authentication.type=TOKEN, for a caller who may read the file); readers opened
  // from this status hand it to workers.
  std::string capability;
};

enum class WorkerState { kUnknown, kLive, kLost };

struct TierCapacity {
  std::string alias;  // MEM, SSD, HDD
  int64_t capacity_bytes = 0;
  int64_t used_bytes = 0;
};

struct WorkerSummary {
  uint64_t worker_id = 0;
  std::string host;
  int rpc_port = 0;
  int http_port = 0;    // metrics, health, log level; 0 = not reported
  std::string address;  // host:port
  WorkerState state = WorkerState::kUnknown;
  int64_t capacity_bytes = 0;
  int64_t used_bytes = 0;
  int64_t block_count = 0;
  int64_t last_heartbeat_ms = 0;  // wall time of the last heartbeat the master received
  int64_t registered_ms = 0;
  std::vector<TierCapacity> tiers;  // top tier first, as the worker reports them
};

struct MountPoint {
  std::string path;     // namespace path
  std::string ufs_uri;  // under-store URI
  bool read_only = false;
  bool shared = false;
  std::map<std::string, std::string> options;
};

struct MasterInfo {
  std::string address;  // host:port the master announces
  std::string version;
  std::string cluster_id;
  int64_t start_time_ms = 0;
  uint64_t applied_index = 0;
  int64_t inode_count = 0;
};

struct CreateOptions {
  std::optional<WriteType> write_type;  // unset = ClientOptions::default_write_type
  int64_t block_size_bytes = 0;         // 0 = ClientOptions::default_block_size_bytes
  bool overwrite = false;               // replace an existing file (never a directory)
  bool recursive = false;               // create missing parent directories
  uint32_t mode = 0;                    // 0 = 0644
};

struct OpenOptions {
  std::optional<ReadType> read_type;  // unset = ClientOptions::default_read_type
};

struct GetStatusOptions {
  // How stale the master's view of the path may be before it re-checks the under-store: -1
  // never, 0 always, N ms. Unset = the mount's or the master's default.
  std::optional<int64_t> sync_interval_ms;
  bool include_block_locations = true;
};

struct ListOptions {
  bool recursive = false;  // the whole subtree, in the order the master streams it
  std::optional<int64_t> sync_interval_ms;  // as in GetStatusOptions
};

// Attributes to change; unset fields stay as they are.
struct SetAttributeOptions {
  bool recursive = false;  // also everything below a directory
  std::optional<uint32_t> mode;
  std::optional<std::string> owner;
  std::optional<std::string> group;
  std::optional<bool> pinned;
  std::optional<int64_t> ttl_ms;  // 0 removes the TTL
  TtlAction ttl_action = TtlAction::kDelete;  // used when ttl_ms is set
  std::optional<int> replication_min;
  std::optional<int> replication_max;
};

struct FreeOptions {
  bool recursive = false;  // free everything below a directory
  bool forced = false;     // also pinned files and files not persisted (their data is then lost)
};

struct FreeResult {
  int64_t freed_files = 0;
  int64_t freed_blocks = 0;
};

// How far a Load has come. Totals count what was not cached when the load started.
struct LoadProgress {
  int64_t files_total = 0;    // files with blocks to load
  int64_t files_done = 0;     // of those, files whose every block is loaded
  int64_t bytes_total = 0;    // bytes of the blocks to load
  int64_t bytes_done = 0;
  int64_t files_cached = 0;   // files found fully cached already
  int64_t bytes_cached = 0;   // bytes found cached already
  int64_t blocks_failed = 0;  // blocks that could not be loaded (see the returned status)
};

struct LoadOptions {
  bool recursive = false;  // load everything below a directory
  int parallelism = 4;     // blocks loaded at the same time
  // Called on the calling thread as the load goes (a few times a second) and once at the end.
  std::function<void(const LoadProgress&)> progress;
};

struct PersistScheduled {
  std::vector<uint64_t> file_ids;  // files not persisted yet, now scheduled (or already running)
  int64_t bytes = 0;               // their bytes
  int64_t persisted_files = 0;     // files persisted already (nothing to do)
};

struct MountOptions {
  bool read_only = false;
  bool shared = false;
  std::map<std::string, std::string> options;  // adapter options; "sync_interval" sets the mount's default
};

struct SyncResult {
  int64_t created = 0;
  int64_t updated = 0;
  int64_t removed = 0;
};

struct ClientOptions {
  std::vector<std::string> master_addresses;  // host:port of every master
  int64_t rpc_timeout_ms = 30000;             // one metadata call
  int64_t data_timeout_ms = 600000;           // one block read or write stream
  int64_t retry_window_ms = 10000;            // how long an unreachable master is retried
  int64_t chunk_size_bytes = 1 << 20;         // bytes per message of data streams
  int64_t default_block_size_bytes = 64 << 20;
  WriteType default_write_type = WriteType::kCacheThrough;
  ReadType default_read_type = ReadType::kCache;
  int64_t worker_list_ttl_ms = 2000;  // how long a fetched worker list is reused
  // When no worker can serve a block of a PERSISTED file, read it straight from the under-store.
  bool ufs_fallback_enabled = true;
  // Read blocks cached by a worker on this host straight from its block files (short-circuit),
  // falling back to the network when the worker refuses or the files are not reachable here.
  bool short_circuit_enabled = true;
  // A sequential short-circuit reader leases this many further blocks of the file (those on the
  // same worker) in the same call as the block it reads, and batches its releases onto the next
  // call: about one RPC per lease_ahead + 1 blocks. The blocks stay pinned on the worker until
  // read or until the reader closes (never past the worker's lease time). 0 = one per call.
  int short_circuit_lease_ahead = 4;
  // A sequential reader of a PERSISTED file names this many next blocks (those the same worker
  // would serve) when it opens a block's stream; the worker fetches those it lacks from the
  // under-store in the background, so a cold sequential read's under-store reads overlap the
  // transfer of the block before. 0 = no read-ahead.
  int read_ahead_blocks = 2;
  // A sequential reader on the host of the worker that would serve a block no worker caches
  // has that worker cache it (with read-ahead) and reads its file directly (short-circuit),
  // instead of streaming it over a socket. Needs short_circuit_enabled.
  bool short_circuit_cold_reads = true;
  // A writer keeps up to this many bytes of the block being written (for THROUGH: of the file)
  // to write them again on another worker when its worker fails; 0 = a worker failure fails
  // the write. Memory per open writer.
  int64_t write_retry_buffer_bytes = 64 << 20;
  // How long a GetStatus answer is reused without asking the master; 0 = never. Any change made
  // through this FileSystem clears the cache.
  int64_t metadata_cache_ttl_ms = 0;
  // Host names that mean "this host": workers there are preferred for reads. Empty = this
  // host's name (gethostname), "localhost" and "127.0.0.1".
  std::vector<std::string> local_hostnames;

  // Who this client is and how it reaches the cluster (docs/security.md). The user and groups
  // are sent with every call: in NONE mode the cluster trusts them as sent; in TOKEN mode the
  // token decides (a per-user token names its user; a shared secret lets the holder name it).
  std::string user;                 // empty = the OS user this process runs as
  std::vector<std::string> groups;  // empty = the user's groups on this host
  std::string token;                // TOKEN mode: sent as "authorization: Bearer <token>"
  struct Tls {
    bool enabled = false;
    std::string ca_file;    // PEM CAs the servers' certificates must chain to; empty = system roots
    std::string cert_file;  // PEM client certificate (mutual TLS), with key_file
    std::string key_file;
    std::string server_name;  // name expected in servers' certificates; empty = the dialled host
  } tls;
};

// Writes one new file. Bytes are cut into blocks of the file's block size; each block streams
// to its worker as it is written, so memory use is one chunk, not one block. Nothing is visible
// to readers until Close succeeds.
class FileWriter {
 public:
  // Aborts unless Close succeeded.
  virtual ~FileWriter() = default;

  // Appends `data`. After an error the writer is unusable; call Abort (or destroy it).
  virtual absl::Status Write(std::string_view data) = 0;
  // Commits every block and the under-store copy, then completes the file in the master.
  // REQUIRES: called at most once.
  virtual absl::Status Close() = 0;
  // Cancels every stream and removes the incomplete file; nothing the writer wrote remains.
  virtual void Abort() = 0;
  // Bytes accepted so far.
  virtual int64_t bytes_written() const = 0;
  // The file as the master last described it (after Close: completed, with its blocks).
  virtual const FileStatus& status() const = 0;
};

// Reads one completed file, sequentially (Read, Seek) or at given positions (ReadAt).
class FileReader {
 public:
  virtual ~FileReader() = default;

  // Reads up to `n` bytes at the current position into `buf` and advances; returns 0 at the end
  // of the file. Sequential reads of a block use one worker stream from the position where
  // they started to the end of the block.
  virtual absl::StatusOr<int64_t> Read(char* buf, int64_t n) = 0;
  // Reads up to `n` bytes at `offset` (fewer only at the end of the file) without moving the
  // current position.
  virtual absl::StatusOr<int64_t> ReadAt(int64_t offset, char* buf, int64_t n) = 0;
  // Moves the current position. REQUIRES: 0 <= position <= length().
  virtual absl::Status Seek(int64_t position) = 0;
  virtual int64_t position() const = 0;
  virtual int64_t length() const = 0;
  virtual const FileStatus& status() const = 0;
};

class FileSystem {
 public:
  // Makes a client for the cluster in `options`. Does not contact the master: an unreachable
  // master shows in the first call.
  static absl::StatusOr<std::unique_ptr<FileSystem>> Connect(const ClientOptions& options);

  virtual ~FileSystem() = default;

  // The file or directory at `path`, with its blocks and their locations.
  virtual absl::StatusOr<FileStatus> GetStatus(std::string_view path, const GetStatusOptions& options) = 0;
  absl::StatusOr<FileStatus> GetStatus(std::string_view path) { return GetStatus(path, GetStatusOptions{}); }
  // Whether anything is at `path` (false, not NOT_FOUND, when nothing is).
  virtual absl::StatusOr<bool> Exists(std::string_view path) = 0;
  // Calls `visit` for each entry under the directory `path` (for a file: the file itself) in
  // name order, as pages arrive from the master; the listing is never held whole. Stops at the
  // first error `visit` returns and returns it.
  virtual absl::Status ListStatus(std::string_view path, const ListOptions& options,
                                  const std::function<absl::Status(const FileStatus&)>& visit) = 0;
  // Creates the directory `path`; with `recursive`, also missing parents, and an existing
  // directory is not an error.
  virtual absl::Status CreateDirectory(std::string_view path, bool recursive) = 0;
  // Creates `path` for writing. ALREADY_EXISTS unless options.overwrite.
  virtual absl::StatusOr<std::unique_ptr<FileWriter>> Create(std::string_view path, const CreateOptions& options) = 0;
  // Opens the completed file `path`. FAILED_PRECONDITION for a directory or incomplete file.
  virtual absl::StatusOr<std::unique_ptr<FileReader>> Open(std::string_view path, const OpenOptions& options) = 0;
  // Deletes `path` (and its under-store copy). A non-empty directory needs `recursive`.
  virtual absl::Status Delete(std::string_view path, bool recursive) = 0;
  // Renames `src` to `dst`; `dst` must not exist and its parent must.
  virtual absl::Status Rename(std::string_view src, std::string_view dst) = 0;
  // Changes the attributes set in `options` of `path` (and, if recursive, of everything below
  // it); returns the path's new status.
  virtual absl::StatusOr<FileStatus> SetAttribute(std::string_view path, const SetAttributeOptions& options) = 0;
  // Drops the cached blocks of `path`; the namespace and the under-store are unchanged.
  // FAILED_PRECONDITION for pinned or unpersisted files unless options.forced.
  virtual absl::StatusOr<FreeResult> Free(std::string_view path, const FreeOptions& options) = 0;
  // Caches the blocks of `path` (a file, or with options.recursive a directory's files) that no
  // worker caches, on the worker a read from this host would use, without reading them here.
  // Blocks of files that are neither cached nor persisted cannot be loaded: they are counted in
  // blocks_failed and the call ends FAILED_PRECONDITION naming one; any other failure of a block
  // is its error (after one more try on another worker).
  virtual absl::StatusOr<LoadProgress> Load(std::string_view path, const LoadOptions& options) = 0;
  // Schedules the files of `path` (a file, or with `recursive` a directory's files) that are not
  // persisted for persistence now; their GetStatus shows kToBePersisted and then kPersisted.
  virtual absl::StatusOr<PersistScheduled> Persist(std::string_view path, bool recursive) = 0;
  // Mounts the under-store `ufs_uri` at the namespace path `path` (which must not exist).
  virtual absl::Status Mount(std::string_view path, std::string_view ufs_uri, const MountOptions& options) = 0;
  // Removes the mount at `path` and the namespace below it; the under-store is untouched.
  virtual absl::Status Unmount(std::string_view path) = 0;
  // Compares `path` (and with `recursive` its subtree) with the under-store now and applies the
  // differences to the namespace.
  virtual absl::StatusOr<SyncResult> SyncMetadata(std::string_view path, bool recursive) = 0;
  virtual absl::StatusOr<std::vector<MountPoint>> GetMountTable() = 0;
  // Every worker the master knows, LIVE and LOST, sorted by worker id.
  virtual absl::StatusOr<std::vector<WorkerSummary>> GetWorkers() = 0;
  virtual absl::StatusOr<MasterInfo> GetMasterInfo() = 0;
};

}  // namespace cistern
