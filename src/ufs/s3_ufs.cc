#include "ufs/s3_ufs.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/path.h"
#include "common/status.h"
#include "spdlog/spdlog.h"
#include "ufs/crypto.h"
#include "ufs/http_client.h"
#include "ufs/s3_xml.h"
#include "ufs/uri.h"

namespace cistern::ufs {
namespace {

constexpr int kMaxParts = 10'000;
constexpr int64_t kMaxSingleCopyBytes = 5LL << 30;

struct Location {
  std::string bucket;
  std::string key;  // "" for the bucket root; never starts or ends with '/'
  std::string uri;  // as given, for messages
};

absl::StatusOr<Location> Locate(std::string_view uri, const std::string& scheme) {
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme != scheme) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", scheme, ":// URI: '", std::string(uri), "'"));
  }
  if (parsed.authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(scheme, ":// URI without a bucket: '", std::string(uri), "'"));
  }
  Location loc{parsed.authority, parsed.path.substr(1), std::string(uri)};
  if (loc.key.size() > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("S3 key longer than 1024 bytes: '", std::string(uri), "'"));
  }
  return loc;
}

std::string DirPrefix(const std::string& key) { return key.empty() ? "" : key + "/"; }

// The request query: parameters sorted by name and values encoded, as SigV4's canonical form
// wants (libcurl 7.88 signs the query as given).
std::string Query(std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) absl::StrAppend(&out, out.empty() ? "?" : "&", UrlEncode(k, false), "=", UrlEncode(v, false));
  return out;
}

absl::Status ErrorFor(const HttpResponse& r, std::string_view op, std::string_view uri) {
  std::optional<s3xml::Error> e = s3xml::ParseError(r.body);
  std::string code = e ? e->code : "";
  const std::string service = uri.substr(0, 5) == "gs://" ? "GCS " : "S3 ";
  std::string msg = absl::StrCat(service, std::string(op), " '", std::string(uri), "': HTTP ", r.status, code.empty() ? "" : " ", code,
                                 e && !e->message.empty() ? ": " : "", e ? e->message : "",
                                 r.attempts > 1 ? absl::StrCat(" (after ", r.attempts, " attempts)") : "");
  if (code == "NoSuchKey" || code == "NoSuchBucket" || code == "NoSuchUpload") return absl::NotFoundError(msg);
  if (code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" || code == "ServiceUnavailable") {
    return absl::UnavailableError(msg);
  }
  return absl::Status(HttpStatusToCode(r.status), msg);
}

// Some S3 calls (CompleteMultipartUpload, CopyObject) can fail after "200 OK" with an <Error> body.
bool RetryableOrErrorBody(const HttpResponse& r) {
  if (HttpClient::DefaultRetryable(r.status)) return true;
  if (r.status == 200) {
    auto e = s3xml::ParseError(r.body);
    return e.has_value() && (e->code == "InternalError" || e->code == "SlowDown" || e->code == "ServiceUnavailable");
  }
  return false;
}

class S3UnderFileSystem;

class S3Reader : public RandomAccessReader {
 public:
  S3Reader(S3UnderFileSystem* fs, Location loc, int64_t length, std::string etag_header)
      : fs_(fs), loc_(std::move(loc)), length_(length), etag_header_(std::move(etag_header)) {}
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override;

 private:
  S3UnderFileSystem* const fs_;
  const Location loc_;
  const int64_t length_;
  const std::string etag_header_;  // as the server sent it, for If-Match
};

class S3OutputStream : public UfsOutputStream {
 public:
  S3OutputStream(S3UnderFileSystem* fs, Location loc, CreateOptions options, int64_t part_size)
      : fs_(fs), loc_(std::move(loc)), options_(options), part_size_(part_size) {}
  ~S3OutputStream() override { Abort(); }
  absl::Status Write(std::string_view data) override;
  absl::StatusOr<UfsStatus> Close() override;
  void Abort() override;

 private:
  absl::Status FlushPart();
  absl::Status Fail(absl::Status status) {
    Abort();
    error_ = status;
    return status;
  }

  S3UnderFileSystem* const fs_;
  const Location loc_;
  const CreateOptions options_;
  const int64_t part_size_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<std::string> part_etags_;
  absl::Status error_;
  bool done_ = false;
};

class S3UnderFileSystem : public UnderFileSystem {
 public:
  explicit S3UnderFileSystem(S3Config config) : config_(std::move(config)), http_(config_.http) {
    spdlog::info("{} under-store: endpoint {} region {} {}-style, credentials from {}, part size {}", config_.scheme,
                 config_.endpoint, config_.region, config_.path_style ? "path" : "virtual-host", config_.credentials_source,
                 config_.part_size_bytes);
  }

  Capabilities capabilities() const override { return Capabilities{true, false}; }

  absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri, config_.scheme));
    if (loc.key.empty()) return absl::InvalidArgumentError(absl::StrCat("open '", loc.uri, "': is a bucket root"));
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status == 404) return absl::NotFoundError(absl::StrCat("open '", loc.uri, "': no such object"));
    return std::unique_ptr<RandomAccessReader>(
        new S3Reader(this, loc, ContentLength(head), head.Header("etag")));
  }

  absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view uri, const CreateOptions& options) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri, config_.scheme));
    if (loc.key.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot create a file at the bucket root '", loc.uri, "'"));
    if (!options.overwrite) CISTERN_RETURN_IF_ERROR(CheckAbsent(loc));
    return std::unique_ptr<UfsOutputStream>(new S3OutputStream(this, loc, options, config_.part_size_bytes));
  }

  absl::StatusOr<UfsStatus> GetStatus(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri, config_.scheme));
    if (loc.key.empty()) {
      CISTERN_RETURN_IF_ERROR(List(loc, "", "/", "", 1).status());
      UfsStatus root;
      root.is_directory = true;
      root.mode = 0755;
      return root;
    }
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status != 404) return FileStatus(loc, head);
    CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage page, List(loc, DirPrefix(loc.key), "", "", 1));
    if (page.objects.empty() && page.common_prefixes.empty()) {
      return absl::NotFoundError(absl::StrCat("'", loc.uri, "' does not exist"));
    }
    UfsStatus dir;
    dir.name = BaseName("/" + loc.key);
    dir.is_directory = true;
    dir.mode = 0755;
    if (!page.objects.empty() && page.objects[0].key == DirPrefix(loc.key)) dir.mtime_ms = page.objects[0].mtime_ms;
    return dir;
  }

  absl::Status ListDirectory(std::string_view uri, const std::function<absl::Status(const UfsStatus&)>& visit) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri, config_.scheme));
    const std::string prefix = DirPrefix(loc.key);
    std::string token;
    bool saw_any = false;
    do {
      CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage page, List(loc, prefix, "/", token, config_.list_page_size));
      saw_any |= !page.objects.empty() || !page.common_prefixes.empty();
      for (const s3xml::ListedObject& o : page.objects) {
        if (o.key == prefix) continue;  // the directory's own marker
        UfsStatus child;
        child.name = o.key.substr(prefix.size());
        child.length = o.size;
        child.mtime_ms = o.mtime_ms;
        child.etag = o.etag;
        child.mode = 0644;
        CISTERN_RETURN_IF_ERROR(visit(child));
      }
      for (const std::string& p : page.common_prefixes) {
        UfsStatus child;
        child.name = p.substr(prefix.size(), p.size() - prefix.size() - 1);
        if (child.name.empty()) continue;  // a key with "//": no usable name
        child.is_directory = true;
        child.mode = 0755;
        CISTERN_RETURN_IF_ERROR(visit(child));
      }
      token = page.truncated ? page.next_continuation_token : "";
    } while (!token.empty());
    if (!saw_any && !loc.key.empty()) {
      return absl::NotFoundError(absl::StrCat("list '", loc.uri, "': no such directory"));
    }
    return absl::OkStatus();
  }

  absl::Status Mkdirs(std::string_view uri, uint32_t mode) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri, config_.scheme));
    if (loc.key.empty()) return GetStatus(uri).status();
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status != 404) return absl::AlreadyExistsError(absl::StrCat("mkdirs '", loc.uri, "': a file exists there"));
    return PutMarker(loc.bucket, DirPrefix(loc.key));
  }

  absl::Status Delete(std::string_view uri, bool recursive) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri, config_.scheme));
    if (loc.key.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot delete the bucket root '", loc.uri, "'"));
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status != 404) {
      CISTERN_RETURN_IF_ERROR(DeleteObject(loc.bucket, loc.key, loc.uri));
      return KeepParent(loc);
    }
    const std::string prefix = DirPrefix(loc.key);
    CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage first, List(loc, prefix, "", "", 2));
    if (first.objects.empty()) return absl::NotFoundError(absl::StrCat("delete '", loc.uri, "': no such file or directory"));
    const bool only_marker = first.objects.size() == 1 && first.objects[0].key == prefix;
    if (!recursive && !only_marker) {
      return absl::FailedPreconditionError(absl::StrCat("delete '", loc.uri, "': directory is not empty"));
    }
    // Delete page after page until nothing is left under the prefix.
    while (true) {
      CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage page, List(loc, prefix, "", "", 1000));
      if (page.objects.empty()) break;
      std::vector<std::string> keys;
      for (const auto& o : page.objects) keys.push_back(o.key);
      CISTERN_RETURN_IF_ERROR(DeleteKeys(loc, keys));
    }
    return KeepParent(loc);
  }

  absl::Status Rename(std::string_view src_uri, std::string_view dst_uri) override {
    CISTERN_ASSIGN_OR_RETURN(Location src, Locate(src_uri, config_.scheme));
    CISTERN_ASSIGN_OR_RETURN(Location dst, Locate(dst_uri, config_.scheme));
    if (src.key.empty() || dst.key.empty() || src.bucket != dst.bucket || src.key == dst.key ||
        absl::StartsWith(dst.key, DirPrefix(src.key))) {
      return absl::InvalidArgumentError(absl::StrCat("cannot rename '", src.uri, "' to '", dst.uri, "'"));
    }
    CISTERN_ASSIGN_OR_RETURN(HttpResponse src_head, Head(src));
    if (src_head.status == 404) {
      // Probe the source directory first so a missing source is NOT_FOUND whatever the destination.
      CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage probe, List(src, DirPrefix(src.key), "", "", 1));
      if (probe.objects.empty()) return absl::NotFoundError(absl::StrCat("rename '", src.uri, "': no such file or directory"));
    }
    CISTERN_RETURN_IF_ERROR(CheckAbsent(dst));
    CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage dst_dir, List(dst, DirPrefix(dst.key), "", "", 1));
    if (!dst_dir.objects.empty()) return absl::AlreadyExistsError(absl::StrCat("rename to '", dst.uri, "': destination exists"));

    if (src_head.status != 404) {
      CISTERN_RETURN_IF_ERROR(Copy(src, src.key, dst.key, ContentLength(src_head)));
      CISTERN_RETURN_IF_ERROR(DeleteObject(src.bucket, src.key, src.uri));
      return KeepParent(src);
    }
    // A directory: copy every object under the prefix, then delete the originals.
    const std::string src_prefix = DirPrefix(src.key), dst_prefix = DirPrefix(dst.key);
    std::vector<std::string> copied;
    std::string token;
    do {
      CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage page, List(src, src_prefix, "", token, 1000));
      for (const auto& o : page.objects) {
        CISTERN_RETURN_IF_ERROR(Copy(src, o.key, dst_prefix + o.key.substr(src_prefix.size()), o.size));
        copied.push_back(o.key);
      }
      token = page.truncated ? page.next_continuation_token : "";
    } while (!token.empty());
    for (size_t i = 0; i < copied.size(); i += 1000) {
      std::vector<std::string> batch(copied.begin() + i, copied.begin() + std::min(copied.size(), i + 1000));
      CISTERN_RETURN_IF_ERROR(DeleteKeys(src, batch));
    }
    return KeepParent(src);
  }

  // ---- Used by the reader and the output stream. ----

  std::string Url(const std::string& bucket, const std::string& key, const std::string& query) const {
    const size_t scheme_end = config_.endpoint.find("://") + 3;
    // Bucket-level requests go to "/bucket", as the AWS tools send them; some servers sign
    // "/bucket/" differently.
    if (config_.path_style && key.empty()) return absl::StrCat(config_.endpoint, "/", UrlEncode(bucket, false), query);
    if (config_.path_style) {
      return absl::StrCat(config_.endpoint, "/", UrlEncode(bucket, false), "/", UrlEncode(key, true), query);
    }
    return absl::StrCat(config_.endpoint.substr(0, scheme_end), bucket, ".", config_.endpoint.substr(scheme_end), "/",
                        UrlEncode(key, true), query);
  }

  absl::StatusOr<HttpResponse> Call(const std::string& method, const std::string& bucket, const std::string& key,
                                    const std::string& query, std::vector<std::string> headers = {},
                                    std::string_view body = {}, std::string_view content_type = "",
                                    char* sink = nullptr, int64_t sink_capacity = 0,
                                    const std::function<bool(const HttpResponse&)>& retryable = nullptr) {
    return CallRequest(method, bucket, key, query, std::move(headers), body, content_type, sink, sink_capacity,
                       retryable, false);
  }

  absl::StatusOr<HttpResponse> CallRequest(const std::string& method, const std::string& bucket, const std::string& key,
                                           const std::string& query, std::vector<std::string> headers,
                                           std::string_view body, std::string_view content_type, char* sink,
                                           int64_t sink_capacity,
                                           const std::function<bool(const HttpResponse&)>& retryable,
                                           bool stop_when_full) {
    HttpRequest request;
    request.method = method;
    request.url = Url(bucket, key, query);
    request.headers = std::move(headers);
    request.headers.push_back(absl::StrCat(HeaderPrefix(), "content-sha256: ", Sha256Hex(body)));
    if (!config_.session_token.empty()) request.headers.push_back("x-amz-security-token: " + config_.session_token);
    if (!config_.bearer_token.empty()) request.headers.push_back("Authorization: Bearer " + config_.bearer_token);
    if (method == "PUT" || method == "POST") {
      // libcurl would default to a form content type, which some servers take literally.
      request.headers.push_back(absl::StrCat("Content-Type: ", content_type.empty() ? std::string("application/octet-stream") : std::string(content_type)));
    }
    request.body = body;
    request.sink = sink;
    request.sink_capacity = sink_capacity;
    request.stop_when_full = stop_when_full;
    return http_.Send(request, retryable);
  }

  // "x-amz-" (S3) or "x-goog-" (GCS's XML API): the prefix of the store's own headers.
  std::string HeaderPrefix() const { return config_.dialect == S3Dialect::kGcs ? "x-goog-" : "x-amz-"; }
  bool gcs() const { return config_.dialect == S3Dialect::kGcs; }

  absl::StatusOr<HttpResponse> Head(const Location& loc) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("HEAD", loc.bucket, loc.key, ""));
    if (r.status != 200 && r.status != 404) return ErrorFor(r, "HEAD", loc.uri);
    return r;
  }

  static int64_t ContentLength(const HttpResponse& head) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(head.Header("content-length"), &n)) return 0;
    return n;
  }

  absl::StatusOr<UfsStatus> FileStatus(const Location& loc, const HttpResponse& head) {
    UfsStatus s;
    s.name = BaseName("/" + loc.key);
    s.length = ContentLength(head);
    s.etag = s3xml::StripQuotes(head.Header("etag"));
    s.mode = 0644;
    auto mtime = s3xml::ParseHttpDateMs(head.Header("last-modified"));
    if (mtime.ok()) s.mtime_ms = *mtime;
    return s;
  }

  absl::StatusOr<UfsStatus> StatFile(const Location& loc) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status == 404) return absl::NotFoundError(absl::StrCat("'", loc.uri, "' does not exist after upload"));
    return FileStatus(loc, head);
  }

  absl::Status CheckAbsent(const Location& loc) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status != 404) return absl::AlreadyExistsError(absl::StrCat("'", loc.uri, "' already exists"));
    return absl::OkStatus();
  }

  absl::StatusOr<s3xml::ListPage> List(const Location& loc, const std::string& prefix, const std::string& delimiter,
                                       const std::string& token, int64_t max_keys) {
    std::vector<std::pair<std::string, std::string>> params = {
        {"list-type", "2"}, {"prefix", prefix}, {"max-keys", absl::StrCat(max_keys)}, {"encoding-type", "url"}};
    if (!delimiter.empty()) params.emplace_back("delimiter", delimiter);
    if (!token.empty()) params.emplace_back("continuation-token", token);
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("GET", loc.bucket, "", Query(params)));
    if (r.status != 200) return ErrorFor(r, "list", loc.uri);
    return s3xml::ParseListObjectsV2(r.body);
  }

  absl::Status PutMarker(const std::string& bucket, const std::string& dir_key) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("PUT", bucket, dir_key, "", {}, "", "application/x-directory"));
    if (r.status != 200) return ErrorFor(r, "PUT directory marker", absl::StrCat(config_.scheme, "://", bucket, "/", dir_key));
    return absl::OkStatus();
  }

  // After the last object under a directory went away, its marker keeps it (and so the mount
  // and the namespace above it) in existence.
  absl::Status KeepParent(const Location& loc) {
    size_t slash = loc.key.rfind('/');
    if (slash == std::string::npos) return absl::OkStatus();
    const std::string parent = loc.key.substr(0, slash + 1);
    CISTERN_ASSIGN_OR_RETURN(s3xml::ListPage page, List(loc, parent, "", "", 1));
    if (!page.objects.empty()) return absl::OkStatus();
    return PutMarker(loc.bucket, parent);
  }

  absl::Status DeleteObject(const std::string& bucket, const std::string& key, const std::string& uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("DELETE", bucket, key, ""));
    if (r.status != 204 && r.status != 200 && r.status != 404) return ErrorFor(r, "DELETE", uri);
    return absl::OkStatus();
  }

  absl::Status DeleteKeys(const Location& loc, const std::vector<std::string>& keys) {
    if (gcs()) {  // GCS's XML API has no multi-object delete
      for (const std::string& key : keys) {
        CISTERN_RETURN_IF_ERROR(DeleteObject(loc.bucket, key, absl::StrCat(config_.scheme, "://", loc.bucket, "/", key)));
      }
      return absl::OkStatus();
    }
    const std::string body = s3xml::BuildDeleteObjects(keys);
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("POST", loc.bucket, "", Query({{"delete", ""}}),
                                                 {"Content-MD5: " + Md5Base64(body)}, body, "application/xml"));
    if (r.status != 200) return ErrorFor(r, "DeleteObjects", loc.uri);
    CISTERN_ASSIGN_OR_RETURN(std::vector<s3xml::Error> errors, s3xml::ParseDeleteResult(r.body));
    if (!errors.empty()) {
      return absl::UnavailableError(absl::StrCat("S3 DeleteObjects under '", loc.uri, "': ", errors.size(),
                                                 " keys not deleted, first '", errors[0].key, "': ", errors[0].code, " ",
                                                 errors[0].message));
    }
    return absl::OkStatus();
  }

  absl::Status Copy(const Location& loc, const std::string& src_key, const std::string& dst_key, int64_t size) {
    const std::string source = absl::StrCat(HeaderPrefix(), "copy-source: /", UrlEncode(loc.bucket, false), "/",
                                            UrlEncode(src_key, true));
    const std::string what = absl::StrCat(config_.scheme, "://", loc.bucket, "/", src_key, "' to '", config_.scheme,
                                          "://", loc.bucket, "/", dst_key);
    // GCS copies objects of any size in one request (it has no UploadPartCopy).
    if (size <= kMaxSingleCopyBytes || gcs()) {
      CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("PUT", loc.bucket, dst_key, "", {source}, "", "", nullptr, 0,
                                                   RetryableOrErrorBody));
      if (r.status != 200 || s3xml::ParseError(r.body)) return ErrorFor(r, "copy", what);
      return absl::OkStatus();
    }
    // Above 5 GiB S3 copies only part by part (UploadPartCopy).
    CISTERN_ASSIGN_OR_RETURN(std::string upload_id, InitiateUpload(loc.bucket, dst_key, what));
    const int64_t part = std::max(config_.part_size_bytes, (size + kMaxParts - 1) / kMaxParts);
    std::vector<std::string> etags;
    absl::Status status;
    for (int64_t off = 0; off < size && status.ok(); off += part) {
      const int64_t end = std::min(size, off + part) - 1;
      auto r = Call("PUT", loc.bucket, dst_key,
                    Query({{"partNumber", absl::StrCat(etags.size() + 1)}, {"uploadId", upload_id}}),
                    {source, absl::StrCat("x-amz-copy-source-range: bytes=", off, "-", end)});
      if (!r.ok()) {
        status = r.status();
      } else if (r->status != 200) {
        status = ErrorFor(*r, "UploadPartCopy", what);
      } else {
        auto etag = s3xml::ParseCopyPartEtag(r->body);
        if (etag.ok()) etags.push_back(*etag); else status = etag.status();
      }
    }
    if (status.ok()) status = CompleteUpload(loc.bucket, dst_key, upload_id, etags, what);
    if (!status.ok()) AbortUpload(loc.bucket, dst_key, upload_id);
    return status;
  }

  absl::StatusOr<std::string> InitiateUpload(const std::string& bucket, const std::string& key, const std::string& uri) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("POST", bucket, key, Query({{"uploads", ""}}), {}, "", "application/octet-stream"));
    if (r.status != 200) return ErrorFor(r, "CreateMultipartUpload", uri);
    return s3xml::ParseUploadId(r.body);
  }

  absl::Status CompleteUpload(const std::string& bucket, const std::string& key, const std::string& upload_id,
                              const std::vector<std::string>& etags, const std::string& uri) {
    const std::string body = s3xml::BuildCompleteMultipartUpload(etags);
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Call("POST", bucket, key, Query({{"uploadId", upload_id}}), {}, body,
                                                 "application/xml", nullptr, 0, RetryableOrErrorBody));
    if (r.status != 200 || s3xml::ParseError(r.body)) return ErrorFor(r, "CompleteMultipartUpload", uri);
    return absl::OkStatus();
  }

  void AbortUpload(const std::string& bucket, const std::string& key, const std::string& upload_id) {
    auto r = Call("DELETE", bucket, key, Query({{"uploadId", upload_id}}));
    if (!r.ok() || (r->status != 204 && r->status != 200 && r->status != 404)) {
      spdlog::warn("{} AbortMultipartUpload {}://{}/{} upload {} failed ({}); a lifecycle rule must clean its parts",
                   gcs() ? "GCS" : "S3", config_.scheme, bucket, key, upload_id, r.ok() ? absl::StrCat("HTTP ", r->status) : r.status().ToString());
    }
  }

 private:
  const S3Config config_;
  HttpClient http_;
};

absl::StatusOr<int64_t> S3Reader::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) return absl::InvalidArgumentError(absl::StrCat("bad read range ", offset, "+", n, " of '", loc_.uri, "'"));
  if (offset >= length_ || n == 0) return 0;
  const int64_t count = std::min(n, length_ - offset);
  int64_t done = 0;
  while (done < count) {
    const int64_t first = offset + done, last = offset + count - 1;
    std::vector<std::string> headers = {absl::StrCat("Range: bytes=", first, "-", last)};
    // Fail rather than mix bytes of two versions of an object that was replaced since Open.
    if (!etag_header_.empty()) headers.push_back("If-Match: " + etag_header_);
    // Some servers send more than a Range asks for ("bytes=0-0" as the whole object): keep only
    // what was asked, after checking where the returned range starts.
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, fs_->CallRequest("GET", loc_.bucket, loc_.key, "", headers, {}, "",
                                                              buf + done, count - done, nullptr, true));
    if (r.status == 412) {
      return absl::FailedPreconditionError(absl::StrCat("read '", loc_.uri, "': the object changed since it was opened"));
    }
    if (r.status != 206 && !(r.status == 200 && first == 0)) return ErrorFor(r, "GET", loc_.uri);
    const std::string range = r.Header("content-range");
    if (r.status == 206 && !absl::StartsWith(range, absl::StrCat("bytes ", first, "-"))) {
      return absl::DataLossError(absl::StrCat("read '", loc_.uri, "': asked for bytes ", first, "-", last,
                                              ", the server sent '", range, "'"));
    }
    if (r.sink_bytes == 0) {
      return absl::DataLossError(absl::StrCat("read '", loc_.uri, "' at ", first, ": the server sent no bytes"));
    }
    done += r.sink_bytes;
  }
  return count;
}

absl::Status S3OutputStream::Write(std::string_view data) {
  if (!error_.ok()) return error_;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("write to closed file '", loc_.uri, "'"));
  while (!data.empty()) {
    const size_t take = std::min<size_t>(data.size(), static_cast<size_t>(part_size_) - buffer_.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (static_cast<int64_t>(buffer_.size()) == part_size_) CISTERN_RETURN_IF_ERROR(FlushPart());
  }
  return absl::OkStatus();
}

absl::Status S3OutputStream::FlushPart() {
  if (part_etags_.size() >= static_cast<size_t>(kMaxParts)) {
    return Fail(absl::ResourceExhaustedError(absl::StrCat("write '", loc_.uri, "': more than ", kMaxParts,
                                                          " parts; raise s3.part_size (now ", part_size_, ")")));
  }
  if (upload_id_.empty()) {
    auto id = fs_->InitiateUpload(loc_.bucket, loc_.key, loc_.uri);
    if (!id.ok()) return Fail(id.status());
    upload_id_ = *id;
  }
  auto r = fs_->Call("PUT", loc_.bucket, loc_.key,
                     Query({{"partNumber", absl::StrCat(part_etags_.size() + 1)}, {"uploadId", upload_id_}}), {}, buffer_);
  if (!r.ok()) return Fail(Annotate(r.status(), absl::StrCat("upload part ", part_etags_.size() + 1, " of '", loc_.uri, "'")));
  if (r->status != 200) return Fail(ErrorFor(*r, absl::StrCat("UploadPart ", part_etags_.size() + 1), loc_.uri));
  std::string etag = r->Header("etag");
  if (etag.empty()) return Fail(absl::DataLossError(absl::StrCat("UploadPart of '", loc_.uri, "': no ETag in the response")));
  part_etags_.push_back(etag);
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<UfsStatus> S3OutputStream::Close() {
  if (!error_.ok()) return error_;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("file '", loc_.uri, "' already closed"));
  if (!options_.overwrite) {
    absl::Status absent = fs_->CheckAbsent(loc_);
    if (!absent.ok()) return Fail(absent);
  }
  if (upload_id_.empty()) {
    std::vector<std::string> headers;
    // GCS creates only if absent with generation precondition 0: no race with another writer.
    const bool only_if_absent = fs_->gcs() && !options_.overwrite;
    if (only_if_absent) headers.push_back("x-goog-if-generation-match: 0");
    auto r = fs_->Call("PUT", loc_.bucket, loc_.key, "", headers, buffer_);
    if (!r.ok()) return Fail(Annotate(r.status(), absl::StrCat("PUT '", loc_.uri, "'")));
    if (only_if_absent && r->status == 412) {
      return Fail(absl::AlreadyExistsError(absl::StrCat("'", loc_.uri, "' already exists (created concurrently)")));
    }
    if (r->status != 200) return Fail(ErrorFor(*r, "PUT", loc_.uri));
  } else {
    if (!buffer_.empty()) CISTERN_RETURN_IF_ERROR(FlushPart());
    absl::Status completed = fs_->CompleteUpload(loc_.bucket, loc_.key, upload_id_, part_etags_, loc_.uri);
    if (!completed.ok()) return Fail(completed);
    upload_id_.clear();
  }
  done_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
  return fs_->StatFile(loc_);
}

void S3OutputStream::Abort() {
  if (!upload_id_.empty()) {
    fs_->AbortUpload(loc_.bucket, loc_.key, upload_id_);
    upload_id_.clear();
  }
  done_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
}

}  // namespace

std::unique_ptr<UnderFileSystem> NewS3UnderFileSystem(S3Config config) {
  return std::make_unique<S3UnderFileSystem>(std::move(config));
}

absl::StatusOr<std::unique_ptr<UnderFileSystem>> NewS3UnderFileSystem(const std::map<std::string, std::string>& options) {
  CISTERN_ASSIGN_OR_RETURN(S3Config config, ResolveS3Config(options));
  return NewS3UnderFileSystem(std::move(config));
}

}  // namespace cistern::ufs
