#include "security/token_table.h"

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "security/identity.h"
#include "security/secrets.h"
#include "spdlog/spdlog.h"

namespace cistern::security {

absl::StatusOr<TokenTable> TokenTable::Parse(std::string_view text, std::string_view origin) {
  TokenTable table;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    absl::string_view line = raw.substr(0, raw.find('#'));
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(absl::string_view(origin.data(), origin.size()), ":", line_no);
    if (fields.size() < 2 || fields.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected 'TOKEN USER [GROUP,...]', found ", fields.size(), " fields"));
    }
    if (fields[0].size() < kMinSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the token has ", fields[0].size(),
                                                     " bytes; at least ", kMinSecretBytes, " are needed"));
    }
    TokenEntry entry;
    entry.user = std::string(fields[1]);
    if (!entry.wildcard()) CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("user", entry.user), where);
    if (fields.size() == 3) {
      for (absl::string_view group : absl::StrSplit(fields[2], ',')) {
        CISTERN_RETURN_IF_ERROR_CONTEXT(CheckPrincipalName("group", std::string_view(group.data(), group.size())),
                                        where);
        entry.groups.emplace_back(group);
      }
    }
    if (!table.entries_.emplace(Sha256(std::string_view(fields[0].data(), fields[0].size())), std::move(entry)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": this token appears on an earlier line too"));
    }
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path, "' does not exist"));
  }
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file '", path, "' is readable or writable by every user; restrict it (chmod 600)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read token file '", path, "'"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Parse(buffer.str(), path);
}

const TokenEntry* TokenTable::Lookup(std::string_view token) const {
  auto it = entries_.find(Sha256(token));
  return it == entries_.end() ? nullptr : &it->second;
}

namespace {
int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

TokenStore::TokenStore(std::string path, int64_t check_interval_ms, std::shared_ptr<const TokenTable> table)
    : path_(std::move(path)), check_interval_ms_(check_interval_ms), table_(std::move(table)) {}

TokenStore::FileVersion TokenStore::VersionOf(const std::string& path) {
  FileVersion v;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return v;  // missing: a version of its own
  v.dev = st.st_dev;
  v.ino = st.st_ino;
  v.size = st.st_size;
  v.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  v.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  return v;
}

absl::StatusOr<std::shared_ptr<TokenStore>> TokenStore::Open(const std::string& path, int64_t check_interval_ms) {
  // The version is taken before the read: a change racing the read is seen at the next check.
  const FileVersion version = VersionOf(path);
  absl::StatusOr<TokenTable> table = TokenTable::Load(path);
  if (!table.ok()) return table.status();
  std::shared_ptr<TokenStore> store(
      new TokenStore(path, check_interval_ms, std::make_shared<const TokenTable>(*std::move(table))));
  absl::MutexLock lock(&store->reload_mu_);
  store->loaded_ = version;
  store->next_check_ms_ = SteadyNowMs() + check_interval_ms;
  return store;
}

std::shared_ptr<TokenStore> TokenStore::Fixed(TokenTable table) {
  return std::shared_ptr<TokenStore>(new TokenStore("", 0, std::make_shared<const TokenTable>(std::move(table))));
}

std::optional<TokenEntry> TokenStore::Lookup(std::string_view token) {
  if (!path_.empty() && check_interval_ms_ > 0) {
    const int64_t now = SteadyNowMs();
    // One caller checks the file; the others go on with the current table meanwhile.
    if (now >= next_check_ms_.load(std::memory_order_relaxed) && reload_mu_.TryLock()) {
      next_check_ms_.store(now + check_interval_ms_, std::memory_order_relaxed);
      ReloadIfChangedLocked().IgnoreError();  // logged there
      reload_mu_.Unlock();
    }
  }
  std::shared_ptr<const TokenTable> table;
  {
    absl::ReaderMutexLock lock(&mu_);
    table = table_;
  }
  const TokenEntry* entry = table->Lookup(token);
  if (entry == nullptr) return std::nullopt;
  return *entry;
}

absl::Status TokenStore::ReloadIfChanged() {
  if (path_.empty()) return absl::OkStatus();
  absl::MutexLock lock(&reload_mu_);
  return ReloadIfChangedLocked();
}

absl::Status TokenStore::ReloadIfChangedLocked() {
  const FileVersion version = VersionOf(path_);
  if (version == loaded_) return absl::OkStatus();
  absl::StatusOr<TokenTable> table = TokenTable::Load(path_);
  if (!table.ok()) {
    if (!(version == failed_)) {
      spdlog::error("tokens file '{}' changed but cannot be loaded, keeping the {} tokens loaded before: {}", path_,
                    size(), std::string(table.status().message()));
      failed_ = version;
    }
    return table.status();
  }
  const size_t count = table->size();
  {
    absl::MutexLock lock(&mu_);
    table_ = std::make_shared<const TokenTable>(*std::move(table));
  }
  loaded_ = version;
  failed_ = FileVersion();
  reloads_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("tokens file '{}' reloaded: {} tokens", path_, count);
  return absl::OkStatus();
}

size_t TokenStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return table_->size();
}

}  // namespace cistern::security
