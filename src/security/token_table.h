// The tokens a master accepts in TOKEN mode (security.authentication.tokens.file). One line per
// token, '#' starts a comment:
//
//   TOKEN  USER  [GROUP[,GROUP...]]
//
// A caller presenting TOKEN is USER with those groups. USER "*" makes TOKEN a shared secret:
// its holders are who they say they are (the user and groups their client sends), as in NONE
// mode but only for those who know the secret. Tokens are at least kMinSecretBytes long and
// unique; the table keeps only their SHA-256 digests.
//
// Thread safety: TokenTable is immutable after Parse; share freely. TokenStore is thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cistern::security {

struct TokenEntry {
  std::string user;                 // "*" = the caller's claimed identity
  std::vector<std::string> groups;  // ignored for "*"
  bool wildcard() const { return user == "*"; }
};

class TokenTable {
 public:
  // INVALID_ARGUMENT naming `origin`, the line and the problem (never the token itself).
  static absl::StatusOr<TokenTable> Parse(std::string_view text, std::string_view origin);
  // Reads and parses a file, which must not be readable by other users (ReadSecretFile's rule).
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The entry of `token`, or nullptr.
  const TokenEntry* Lookup(std::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, TokenEntry> entries_;  // by SHA-256 of the token
};

// The tokens a daemon accepts, from its tokens file and kept current while it runs: the first
// lookup after each check interval stats the file and re-reads it if it changed (by device,
// inode, size, modification and change time), so adding or revoking a token needs no restart
// (and no thread: a daemon no one calls needs no current table). A changed
// file that cannot be loaded (unreadable, readable by others, a bad line) leaves the previous
// table in force and is logged as an error, once per change: a typo must not lock every user
// out, nor let anyone in. Replace the file atomically (write a new one, rename it over the old)
// so that no lookup sees a half-written file.
class TokenStore {
 public:
  // Loads `path` (TokenTable::Load's errors). check_interval_ms <= 0: read once, never again.
  static absl::StatusOr<std::shared_ptr<TokenStore>> Open(const std::string& path, int64_t check_interval_ms);
  // A table that never changes (in-process servers, tests).
  static std::shared_ptr<TokenStore> Fixed(TokenTable table);

  // A copy of the entry of `token` (the table may be replaced meanwhile), or nullopt. May
  // re-read the file first (see above).
  std::optional<TokenEntry> Lookup(std::string_view token) ABSL_LOCKS_EXCLUDED(mu_, reload_mu_);
  // Re-reads the file now if it changed since it was last read: OK if unchanged or reloaded,
  // else the error (the previous table stays).
  absl::Status ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_, reload_mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // How many times the table was replaced since Open.
  int64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }

 private:
  // What identifies one version of the file.
  struct FileVersion {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = -1;
    int64_t ctime_ns = -1;
    bool operator==(const FileVersion&) const = default;
  };
  static FileVersion VersionOf(const std::string& path);

  TokenStore(std::string path, int64_t check_interval_ms, std::shared_ptr<const TokenTable> table);
  absl::Status ReloadIfChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;  // empty: Fixed
  const int64_t check_interval_ms_;
  std::atomic<int64_t> next_check_ms_{0};  // steady clock
  std::atomic<int64_t> reloads_{0};
  absl::Mutex reload_mu_;                       // one reader of the file at a time
  FileVersion loaded_ ABSL_GUARDED_BY(reload_mu_);  // the version the table came from
  FileVersion failed_ ABSL_GUARDED_BY(reload_mu_);  // the last version that could not be loaded
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cistern::security
