#include "ufs/webhdfs_ufs.h"

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/path.h"
#include "common/status.h"
#include "common/units.h"
#include "spdlog/spdlog.h"
#include "ufs/uri.h"
#include "ufs/webhdfs_json.h"

namespace cistern::ufs {

const std::vector<std::string>& WebHdfsOptionKeys() {
  static const auto* keys =
      new std::vector<std::string>{"webhdfs.endpoint", "webhdfs.user", "webhdfs.delegation_token", "webhdfs.chunk_size"};
  return *keys;
}

absl::StatusOr<WebHdfsConfig> ResolveWebHdfsConfig(std::string_view uri, const MountOptions& options,
                                                   const EnvLookup& env) {
  CISTERN_RETURN_IF_ERROR(CheckKnownOptions(options, "webhdfs.", WebHdfsOptionKeys()));
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  WebHdfsConfig config;
  config.scheme = parsed.scheme;
  std::optional<std::string> endpoint = GetOption(options, "webhdfs.endpoint");
  if (!endpoint) {
    if (parsed.authority.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("'", std::string(uri), "' names no NameNode: use ", parsed.scheme,
                                                     "://HOST:PORT/PATH or the webhdfs.endpoint option"));
    }
    if (parsed.scheme == "hdfs") {
      // hdfs://host:8020 names the RPC port; WebHDFS is served on the NameNode's HTTP port.
      endpoint = absl::StrCat("http://", parsed.authority.substr(0, parsed.authority.rfind(':')), ":9870");
    } else {
      endpoint = absl::StrCat(parsed.scheme == "swebhdfs" ? "https://" : "http://", parsed.authority);
    }
  }
  CISTERN_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(*endpoint, "WebHDFS endpoint"));
  if (!e.path.empty()) return absl::InvalidArgumentError(absl::StrCat("WebHDFS endpoint '", *endpoint, "' must not have a path"));
  config.endpoint = e.base;
  if (auto u = GetOption(options, "webhdfs.user")) {
    config.user = *u;
  } else if (auto u = GetEnv(env, "HADOOP_USER_NAME")) {
    config.user = *u;
  } else if (auto u = GetEnv(env, "USER")) {
    config.user = *u;
  }
  config.delegation_token = GetOption(options, "webhdfs.delegation_token").value_or("");
  if (auto v = GetOption(options, "webhdfs.chunk_size")) {
    CISTERN_ASSIGN_OR_RETURN(config.chunk_size_bytes, ParseSizeBytes(*v));
    if (config.chunk_size_bytes < 1024 || config.chunk_size_bytes > (2LL << 30)) {
      return absl::InvalidArgumentError(absl::StrCat("mount option webhdfs.chunk_size='", *v, "': must be in [1KiB, 2GiB]"));
    }
  }
  CISTERN_RETURN_IF_ERROR(ApplyHttpOptions(options, "webhdfs.", &config.http));
  return config;
}

absl::Status WebHdfsError(long http_status, std::string_view body, std::string_view op, std::string_view path,
                          int attempts) {
  const webhdfsjson::RemoteException remote = webhdfsjson::ParseRemoteException(body);
  const std::string& exception = remote.exception;
  const std::string& detail = remote.message;
  std::string msg = absl::StrCat("WebHDFS ", std::string(op), " '", std::string(path), "': HTTP ", http_status,
                                 exception.empty() ? "" : " ", exception, detail.empty() ? "" : ": ", detail,
                                 attempts > 1 ? absl::StrCat(" (after ", attempts, " attempts)") : "");
  if (exception == "FileNotFoundException") return absl::NotFoundError(msg);
  if (exception == "AccessControlException" || exception == "SecurityException" || exception == "InvalidToken" ||
      exception == "AuthorizationException") {
    return absl::PermissionDeniedError(msg);
  }
  if (exception == "FileAlreadyExistsException") return absl::AlreadyExistsError(msg);
  if (exception == "PathIsNotEmptyDirectoryException" || exception == "ParentNotDirectoryException") {
    return absl::FailedPreconditionError(msg);
  }
  if (exception == "StandbyException" || exception == "RetriableException" || exception == "SafeModeException") {
    return absl::UnavailableError(msg);
  }
  if (exception == "UnsupportedOperationException") return absl::UnimplementedError(msg);
  if (exception == "IllegalArgumentException" || exception == "InvalidPathException") return absl::InvalidArgumentError(msg);
  if (exception == "QuotaExceededException" || exception == "NSQuotaExceededException" ||
      exception == "DSQuotaExceededException") {
    return absl::ResourceExhaustedError(msg);
  }
  return absl::Status(HttpStatusToCode(http_status), msg);
}

namespace {

bool IsTemporaryName(std::string_view name) {
  return name.size() > 1 && name[0] == '.' && name.find(kTempNameMarker) != std::string_view::npos;
}

// Retry what the HTTP client retries, plus the NameNode's "try again" exceptions (IOExceptions,
// which WebHDFS sends as 403).
bool Retryable(const HttpResponse& r) {
  if (HttpClient::DefaultRetryable(r.status)) return true;
  return r.status == 403 && (absl::StrContains(r.body, "StandbyException") || absl::StrContains(r.body, "RetriableException") ||
                             absl::StrContains(r.body, "SafeModeException"));
}

struct HdfsStatus {
  UfsStatus status;
  bool exists = false;
};

class WebHdfsUnderFileSystem;

class WebHdfsReader : public RandomAccessReader {
 public:
  WebHdfsReader(WebHdfsUnderFileSystem* fs, std::string path, std::string uri, int64_t length)
      : fs_(fs), path_(std::move(path)), uri_(std::move(uri)), length_(length) {}
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override;

 private:
  WebHdfsUnderFileSystem* const fs_;
  const std::string path_, uri_;
  const int64_t length_;
};

class WebHdfsOutputStream : public UfsOutputStream {
 public:
  WebHdfsOutputStream(WebHdfsUnderFileSystem* fs, std::string path, std::string tmp, std::string uri,
                      CreateOptions options, int64_t chunk)
      : fs_(fs), path_(std::move(path)), tmp_(std::move(tmp)), uri_(std::move(uri)), options_(options), chunk_(chunk) {}
  ~WebHdfsOutputStream() override { Abort(); }
  absl::Status Write(std::string_view data) override;
  absl::StatusOr<UfsStatus> Close() override;
  void Abort() override;
  std::string temp_uri() const override {
    absl::StatusOr<Uri> target = ParseUri(uri_);
    if (!target.ok()) return {};
    return Uri{target->scheme, target->authority, tmp_}.ToString();
  }

 private:
  absl::Status Flush();
  absl::Status Fail(absl::Status status) {
    Abort();
    error_ = status;
    return status;
  }

  WebHdfsUnderFileSystem* const fs_;
  const std::string path_, tmp_, uri_;
  const CreateOptions options_;
  const int64_t chunk_;
  std::string buffer_;
  int64_t written_ = 0;  // bytes in the temporary file
  bool created_ = false;
  bool done_ = false;
  absl::Status error_;
};

class WebHdfsUnderFileSystem : public UnderFileSystem {
 public:
  explicit WebHdfsUnderFileSystem(WebHdfsConfig config) : config_(std::move(config)), http_(config_.http) {
    spdlog::info("webhdfs under-store: NameNode {} user '{}'{}, chunk size {}", config_.endpoint, config_.user,
                 config_.delegation_token.empty() ? "" : " with a delegation token", config_.chunk_size_bytes);
  }

  Capabilities capabilities() const override { return Capabilities{false, true}; }

  absl::StatusOr<std::string> PathOf(std::string_view uri) const {
    CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
    if (parsed.scheme != config_.scheme) {
      return absl::InvalidArgumentError(absl::StrCat("not a ", config_.scheme, ":// URI: '", std::string(uri), "'"));
    }
    return parsed.path;
  }

  absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    CISTERN_ASSIGN_OR_RETURN(HdfsStatus st, Stat(path, uri));
    if (!st.exists) return absl::NotFoundError(absl::StrCat("open '", std::string(uri), "': no such file"));
    if (st.status.is_directory) return absl::FailedPreconditionError(absl::StrCat("open '", std::string(uri), "': is a directory"));
    return std::unique_ptr<RandomAccessReader>(new WebHdfsReader(this, path, std::string(uri), st.status.length));
  }

  absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view uri, const CreateOptions& options) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    if (path == "/") return absl::InvalidArgumentError(absl::StrCat("cannot create a file at the root '", std::string(uri), "'"));
    // Before anything is asked of the NameNode.
    if (!options.temp_nonce.empty()) CISTERN_RETURN_IF_ERROR(ValidateTempNonce(options.temp_nonce));
    CISTERN_ASSIGN_OR_RETURN(HdfsStatus st, Stat(path, uri));
    if (st.exists && (!options.overwrite || st.status.is_directory)) {
      return absl::AlreadyExistsError(absl::StrCat("'", std::string(uri), "' already exists"));
    }
    std::string nonce = options.temp_nonce;
    if (nonce.empty()) {
      thread_local std::mt19937_64 rng(std::random_device{}());
      nonce = absl::StrFormat("%016x", rng());
    }
    const std::string tmp = TempPathFor(path, nonce);
    return std::unique_ptr<UfsOutputStream>(
        new WebHdfsOutputStream(this, path, tmp, std::string(uri), options, config_.chunk_size_bytes));
  }

  // The temporary file is created by the first CREATE (on the first full chunk, or at Close),
  // never before Create returns.
  absl::StatusOr<std::string> TempUri(std::string_view uri, std::string_view nonce) const override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    if (path == "/") {
      return absl::InvalidArgumentError(absl::StrCat("cannot create a file at the root '", std::string(uri), "'"));
    }
    CISTERN_RETURN_IF_ERROR(ValidateTempNonce(nonce));
    CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
    return Uri{parsed.scheme, parsed.authority, TempPathFor(path, nonce)}.ToString();
  }

  absl::StatusOr<UfsStatus> GetStatus(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    CISTERN_ASSIGN_OR_RETURN(HdfsStatus st, Stat(path, uri));
    if (!st.exists) return absl::NotFoundError(absl::StrCat("'", std::string(uri), "' does not exist"));
    return st.status;
  }

  absl::Status ListDirectory(std::string_view uri, const std::function<absl::Status(const UfsStatus&)>& visit) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    std::string start_after;
    while (true) {
      std::vector<std::pair<std::string, std::string>> params;
      if (!start_after.empty()) params.emplace_back("startAfter", start_after);
      CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("GET", path, list_batch_ ? "LISTSTATUS_BATCH" : "LISTSTATUS", params));
      if (r.status == 400 && list_batch_ && start_after.empty() &&
          (absl::StrContains(r.body, "UnsupportedOperationException") || absl::StrContains(r.body, "LISTSTATUS_BATCH"))) {
        list_batch_ = false;  // an older NameNode (before Hadoop 2.8): one unpaged LISTSTATUS
        continue;
      }
      if (r.status != 200) return WebHdfsError(r.status, r.body, "LISTSTATUS", std::string(uri), r.attempts);
      absl::StatusOr<webhdfsjson::ListPage> page = webhdfsjson::ParseListing(r.body);
      if (!page.ok()) return Annotate(page.status(), absl::StrCat("WebHDFS LISTSTATUS '", std::string(uri), "'"));
      const int64_t remaining = page->remaining;
      if (page->entries.empty() && remaining > 0) {
        return absl::DataLossError(absl::StrCat("WebHDFS LISTSTATUS '", std::string(uri), "': empty page with ",
                                                remaining, " entries remaining"));
      }
      for (const UfsStatus& entry : page->entries) {
        if (entry.name.empty()) {
          return absl::FailedPreconditionError(absl::StrCat("list '", std::string(uri), "': not a directory"));
        }
        start_after = entry.name;
        if (IsTemporaryName(entry.name)) continue;
        CISTERN_RETURN_IF_ERROR(visit(entry));
      }
      if (remaining <= 0) return absl::OkStatus();
    }
  }

  absl::Status Mkdirs(std::string_view uri, uint32_t mode) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    return MkdirsPath(path, mode, uri);
  }

  absl::Status Delete(std::string_view uri, bool recursive) override {
    CISTERN_ASSIGN_OR_RETURN(std::string path, PathOf(uri));
    if (path == "/") return absl::InvalidArgumentError(absl::StrCat("cannot delete the root '", std::string(uri), "'"));
    CISTERN_ASSIGN_OR_RETURN(HdfsStatus st, Stat(path, uri));
    if (!st.exists) return absl::NotFoundError(absl::StrCat("delete '", std::string(uri), "': no such file or directory"));
    CISTERN_ASSIGN_OR_RETURN(bool deleted, DeletePath(path, recursive, uri));
    if (!deleted) return absl::NotFoundError(absl::StrCat("delete '", std::string(uri), "': vanished meanwhile"));
    return absl::OkStatus();
  }

  absl::Status Rename(std::string_view src_uri, std::string_view dst_uri) override {
    CISTERN_ASSIGN_OR_RETURN(std::string src, PathOf(src_uri));
    CISTERN_ASSIGN_OR_RETURN(std::string dst, PathOf(dst_uri));
    if (src == "/" || dst == "/" || src == dst || absl::StartsWith(dst, src + "/")) {
      return absl::InvalidArgumentError(absl::StrCat("cannot rename '", std::string(src_uri), "' to '", std::string(dst_uri), "'"));
    }
    CISTERN_ASSIGN_OR_RETURN(HdfsStatus s, Stat(src, src_uri));
    if (!s.exists) return absl::NotFoundError(absl::StrCat("rename '", std::string(src_uri), "': no such file or directory"));
    CISTERN_ASSIGN_OR_RETURN(HdfsStatus d, Stat(dst, dst_uri));
    if (d.exists) return absl::AlreadyExistsError(absl::StrCat("rename to '", std::string(dst_uri), "': destination exists"));
    CISTERN_RETURN_IF_ERROR(MkdirsPath(ParentPath(dst), 0755, dst_uri));
    CISTERN_ASSIGN_OR_RETURN(bool renamed, RenamePath(src, dst, src_uri));
    if (!renamed) {
      return absl::AbortedError(absl::StrCat("rename '", std::string(src_uri), "' to '", std::string(dst_uri),
                                             "': the NameNode refused (changed concurrently)"));
    }
    return absl::OkStatus();
  }

  // ---- Used by the reader and the output stream. ----

  std::string Url(const std::string& path, const std::string& op,
                  const std::vector<std::pair<std::string, std::string>>& params) const {
    std::string url = absl::StrCat(config_.endpoint, "/webhdfs/v1", UrlEncode(path, true), "?op=", op);
    if (!config_.delegation_token.empty()) {
      absl::StrAppend(&url, "&delegation=", UrlEncode(config_.delegation_token, false));
    } else if (!config_.user.empty()) {
      absl::StrAppend(&url, "&user.name=", UrlEncode(config_.user, false));
    }
    for (const auto& [k, v] : params) absl::StrAppend(&url, "&", UrlEncode(k, false), "=", UrlEncode(v, false));
    return url;
  }

  absl::StatusOr<HttpResponse> Send(HttpRequest request) {
    if (request.method == "PUT" || request.method == "POST") request.headers.push_back("Content-Type: application/octet-stream");
    return http_.Send(request, Retryable);
  }

  absl::StatusOr<HttpResponse> Call(const std::string& method, const std::string& path, const std::string& op,
                                    const std::vector<std::pair<std::string, std::string>>& params = {}) {
    HttpRequest request;
    request.method = method;
    request.url = Url(path, op, params);
    return Send(std::move(request));
  }

  // The first step of OPEN, CREATE and APPEND: the DataNode URL the NameNode redirects to.
  absl::StatusOr<std::string> Redirect(const std::string& method, const std::string& path, const std::string& op,
                                       const std::vector<std::pair<std::string, std::string>>& params,
                                       std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call(method, path, op, params));
    if (r.status != 307 && r.status != 302) return WebHdfsError(r.status, r.body, op, uri, r.attempts);
    std::string location = r.Header("location");
    if (location.empty()) {
      return absl::DataLossError(absl::StrCat("WebHDFS ", op, " '", std::string(uri), "': redirect without a Location"));
    }
    return location;
  }

  absl::StatusOr<bool> Boolean(const HttpResponse& r, const std::string& op, std::string_view uri) {
    if (r.status != 200) return WebHdfsError(r.status, r.body, op, uri, r.attempts);
    absl::StatusOr<bool> value = webhdfsjson::ParseBoolean(r.body);
    if (!value.ok()) return Annotate(value.status(), absl::StrCat("WebHDFS ", op, " '", std::string(uri), "'"));
    return *value;
  }

  absl::StatusOr<HdfsStatus> Stat(const std::string& path, std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("GET", path, "GETFILESTATUS"));
    HdfsStatus out;
    if (r.status == 404) {
      absl::Status e = WebHdfsError(r.status, r.body, "GETFILESTATUS", uri, r.attempts);
      if (absl::IsNotFound(e)) return out;
      return e;
    }
    if (r.status != 200) return WebHdfsError(r.status, r.body, "GETFILESTATUS", uri, r.attempts);
    absl::StatusOr<UfsStatus> status = webhdfsjson::ParseFileStatus(r.body, path == "/" ? "" : BaseName(path));
    if (!status.ok()) return Annotate(status.status(), absl::StrCat("WebHDFS GETFILESTATUS '", std::string(uri), "'"));
    out.exists = true;
    out.status = *std::move(status);
    return out;
  }

  absl::Status MkdirsPath(const std::string& path, uint32_t mode, std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("PUT", path, "MKDIRS", {{"permission", absl::StrFormat("%o", mode & 07777)}}));
    CISTERN_ASSIGN_OR_RETURN(bool made, Boolean(r, "MKDIRS", uri));
    if (!made) return absl::AbortedError(absl::StrCat("WebHDFS MKDIRS '", std::string(uri), "' returned false"));
    return absl::OkStatus();
  }

  absl::StatusOr<bool> DeletePath(const std::string& path, bool recursive, std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("DELETE", path, "DELETE", {{"recursive", recursive ? "true" : "false"}}));
    if (r.status == 403 && absl::StrContains(r.body, "PathIsNotEmptyDirectoryException")) {
      return absl::FailedPreconditionError(absl::StrCat("delete '", std::string(uri), "': directory is not empty"));
    }
    return Boolean(r, "DELETE", uri);
  }

  absl::StatusOr<bool> RenamePath(const std::string& src, const std::string& dst, std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("PUT", src, "RENAME", {{"destination", dst}}));
    return Boolean(r, "RENAME", uri);
  }

  // CREATE (overwriting: the temporary file is ours) of `path` with `data`.
  absl::Status CreateWith(const std::string& path, std::string_view data, uint32_t mode, std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(std::string location,
                             Redirect("PUT", path, "CREATE", {{"overwrite", "true"}, {"permission", absl::StrFormat("%o", mode & 07777)}}, uri));
    HttpRequest put;
    put.method = "PUT";
    put.url = location;
    put.body = data;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(put)));
    if (r.status != 201 && r.status != 200) return WebHdfsError(r.status, r.body, "CREATE", uri, r.attempts);
    return absl::OkStatus();
  }

  // APPEND `data` to `path`, which holds `before` bytes. An APPEND is not idempotent: after a
  // failed attempt the file's length tells whether the data landed before trying again.
  absl::Status AppendTo(const std::string& path, int64_t before, std::string_view data, std::string_view uri) {
    absl::Status last;
    for (int attempt = 1; attempt <= std::max(1, config_.http.max_attempts); ++attempt) {
      if (attempt > 1) {
        CISTERN_ASSIGN_OR_RETURN(HdfsStatus st, Stat(path, uri));
        const int64_t have = st.exists ? st.status.length : -1;
        if (have == before + static_cast<int64_t>(data.size())) return absl::OkStatus();
        if (have != before) {
          return absl::DataLossError(absl::StrCat("WebHDFS APPEND '", std::string(uri), "': after a failed attempt the file holds ",
                                                  have, " bytes, neither ", before, " nor ", before + static_cast<int64_t>(data.size())));
        }
        absl::SleepFor(absl::Milliseconds(std::min<int64_t>(config_.http.retry_max_ms, config_.http.retry_base_ms << (attempt - 2))));
      }
      CISTERN_ASSIGN_OR_RETURN(std::string location, Redirect("POST", path, "APPEND", {}, uri));
      HttpRequest post;
      post.method = "POST";
      post.url = location;
      post.body = data;
      post.max_attempts = 1;
      absl::StatusOr<HttpResponse> r = Send(std::move(post));
      if (r.ok() && r->status == 200) return absl::OkStatus();
      last = r.ok() ? WebHdfsError(r->status, r->body, "APPEND", uri, 1) : r.status();
      if (r.ok() && !Retryable(*r)) return last;
    }
    return last;
  }

  absl::StatusOr<HttpResponse> ReadRange(const std::string& path, int64_t offset, int64_t length, char* sink,
                                         std::string_view uri) {
    CISTERN_ASSIGN_OR_RETURN(std::string location, Redirect("GET", path, "OPEN",
                                                            {{"offset", absl::StrCat(offset)}, {"length", absl::StrCat(length)}}, uri));
    HttpRequest get;
    get.url = location;
    get.sink = sink;
    get.sink_capacity = length;
    get.stop_when_full = true;
    return Send(std::move(get));
  }

 private:
  const WebHdfsConfig config_;
  HttpClient http_;
  std::atomic<bool> list_batch_{true};
};

absl::StatusOr<int64_t> WebHdfsReader::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) return absl::InvalidArgumentError(absl::StrCat("bad read range ", offset, "+", n, " of '", uri_, "'"));
  if (offset >= length_ || n == 0) return 0;
  const int64_t count = std::min(n, length_ - offset);
  int64_t done = 0;
  while (done < count) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, fs_->ReadRange(path_, offset + done, count - done, buf + done, uri_));
    if (r.status != 200) return WebHdfsError(r.status, r.body, "OPEN", uri_, r.attempts);
    if (r.sink_bytes == 0) {
      return absl::FailedPreconditionError(absl::StrCat("read '", uri_, "' at ", offset + done,
                                                        ": the file is shorter than when it was opened"));
    }
    done += r.sink_bytes;
  }
  return count;
}

absl::Status WebHdfsOutputStream::Write(std::string_view data) {
  if (!error_.ok()) return error_;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("write to closed file '", uri_, "'"));
  while (!data.empty()) {
    const size_t take = std::min<size_t>(data.size(), static_cast<size_t>(chunk_) - buffer_.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (static_cast<int64_t>(buffer_.size()) == chunk_) CISTERN_RETURN_IF_ERROR(Flush());
  }
  return absl::OkStatus();
}

absl::Status WebHdfsOutputStream::Flush() {
  absl::Status s = created_ ? fs_->AppendTo(tmp_, written_, buffer_, uri_) : fs_->CreateWith(tmp_, buffer_, options_.mode, uri_);
  if (!s.ok()) return Fail(s);
  created_ = true;
  written_ += static_cast<int64_t>(buffer_.size());
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<UfsStatus> WebHdfsOutputStream::Close() {
  if (!error_.ok()) return error_;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("file '", uri_, "' already closed"));
  if (!buffer_.empty() || !created_) CISTERN_RETURN_IF_ERROR(Flush());
  if (options_.overwrite) {
    absl::StatusOr<bool> removed = fs_->DeletePath(path_, false, uri_);
    if (!removed.ok()) return Fail(removed.status());
  }
  absl::StatusOr<bool> renamed = fs_->RenamePath(tmp_, path_, uri_);
  if (!renamed.ok()) return Fail(renamed.status());
  if (!*renamed) {
    return Fail(absl::AlreadyExistsError(absl::StrCat("'", uri_, "' already exists (created concurrently)")));
  }
  done_ = true;
  created_ = false;  // the temporary file is the target now
  buffer_.clear();
  buffer_.shrink_to_fit();
  return fs_->GetStatus(uri_);
}

void WebHdfsOutputStream::Abort() {
  if (created_) {
    absl::StatusOr<bool> removed = fs_->DeletePath(tmp_, false, uri_);
    if (!removed.ok()) {
      spdlog::warn("WebHDFS: could not delete the temporary file {} of an aborted write of {}: {}", tmp_, uri_,
                   removed.status().ToString());
    }
    created_ = false;
  }
  done_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
}

}  // namespace

std::unique_ptr<UnderFileSystem> NewWebHdfsUnderFileSystem(WebHdfsConfig config) {
  return std::make_unique<WebHdfsUnderFileSystem>(std::move(config));
}

absl::StatusOr<std::unique_ptr<UnderFileSystem>> NewWebHdfsUnderFileSystem(std::string_view uri, const MountOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(WebHdfsConfig config, ResolveWebHdfsConfig(uri, options));
  return NewWebHdfsUnderFileSystem(std::move(config));
}

}  // namespace cistern::ufs
