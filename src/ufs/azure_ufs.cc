#include "ufs/azure_ufs.h"

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/path.h"
#include "common/status.h"
#include "spdlog/spdlog.h"
#include "ufs/azure_xml.h"
#include "ufs/crypto.h"
#include "ufs/http_client.h"
#include "ufs/s3_xml.h"
#include "ufs/uri.h"

namespace cistern::ufs {
namespace {

constexpr char kApiVersion[] = "2021-12-02";
constexpr int kMaxBlocks = 50'000;

struct Location {
  std::string container;
  std::string key;  // "" for the container root; never starts or ends with '/'
  std::string uri;  // as given, for messages
};

absl::StatusOr<Location> Locate(std::string_view uri) {
  CISTERN_ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme != "wasb" && parsed.scheme != "wasbs" && parsed.scheme != "abfs" && parsed.scheme != "abfss") {
    return absl::InvalidArgumentError(absl::StrCat("not an Azure Blob URI: '", std::string(uri), "'"));
  }
  std::string container = parsed.authority.substr(0, parsed.authority.find('@'));
  if (container.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Azure URI without a container: '", std::string(uri), "'"));
  }
  Location loc{container, parsed.path.substr(1), std::string(uri)};
  if (loc.key.size() > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("Azure blob name longer than 1024 characters: '", loc.uri, "'"));
  }
  return loc;
}

std::string DirPrefix(const std::string& key) { return key.empty() ? "" : key + "/"; }

std::string HttpDateNow() {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(), absl::UTCTimeZone());
}

absl::Status ErrorFor(const HttpResponse& r, std::string_view op, std::string_view uri) {
  std::string code = r.Header("x-ms-error-code");
  std::optional<azurexml::Error> e = azurexml::ParseError(r.body);
  if (code.empty() && e) code = e->code;
  std::string detail = e && !e->message.empty() ? e->message.substr(0, e->message.find('\n')) : "";
  std::string msg = absl::StrCat("Azure ", std::string(op), " '", std::string(uri), "': HTTP ", r.status,
                                 code.empty() ? "" : " ", code, detail.empty() ? "" : ": ", detail,
                                 r.attempts > 1 ? absl::StrCat(" (after ", r.attempts, " attempts)") : "");
  if (code == "BlobNotFound" || code == "ContainerNotFound" || code == "ResourceNotFound") return absl::NotFoundError(msg);
  if (code == "BlobAlreadyExists") return absl::AlreadyExistsError(msg);
  if (code == "ServerBusy" || code == "InternalError" || code == "OperationTimedOut") return absl::UnavailableError(msg);
  return absl::Status(HttpStatusToCode(r.status), msg);
}

class AzureUnderFileSystem;

class AzureReader : public RandomAccessReader {
 public:
  AzureReader(AzureUnderFileSystem* fs, Location loc, int64_t length, std::string etag_header)
      : fs_(fs), loc_(std::move(loc)), length_(length), etag_header_(std::move(etag_header)) {}
  absl::StatusOr<int64_t> ReadAt(int64_t offset, int64_t n, char* buf) override;

 private:
  AzureUnderFileSystem* const fs_;
  const Location loc_;
  const int64_t length_;
  const std::string etag_header_;
};

class AzureOutputStream : public UfsOutputStream {
 public:
  AzureOutputStream(AzureUnderFileSystem* fs, Location loc, CreateOptions options, int64_t block_size)
      : fs_(fs), loc_(std::move(loc)), options_(options), block_size_(block_size) {}
  ~AzureOutputStream() override { Abort(); }
  absl::Status Write(std::string_view data) override;
  absl::StatusOr<UfsStatus> Close() override;
  void Abort() override {
    done_ = true;
    buffer_.clear();
    buffer_.shrink_to_fit();
  }

 private:
  absl::Status StageBlock();
  absl::Status Fail(absl::Status status) {
    Abort();
    error_ = status;
    return status;
  }

  AzureUnderFileSystem* const fs_;
  const Location loc_;
  const CreateOptions options_;
  const int64_t block_size_;
  // Block ids are unique per stream (a random tag) so two writers staging blocks on one blob do
  // not commit each other's blocks; every id of a blob must have the same length.
  const std::string id_tag_ = absl::StrFormat("%016x", absl::ToUnixNanos(absl::Now()) ^ reinterpret_cast<uintptr_t>(this));
  std::string buffer_;
  std::vector<std::string> block_ids_;
  absl::Status error_;
  bool done_ = false;
};

class AzureUnderFileSystem : public UnderFileSystem {
 public:
  explicit AzureUnderFileSystem(AzureConfig config) : config_(std::move(config)), http_(config_.http) {
    const size_t scheme_end = config_.endpoint.find("://") + 3;
    const size_t slash = config_.endpoint.find('/', scheme_end);
    endpoint_path_ = slash == std::string::npos ? "" : config_.endpoint.substr(slash);
    spdlog::info("azure under-store: account {} endpoint {}, credentials from {}, block size {}", config_.account,
                 config_.endpoint, config_.credentials_source, config_.block_size_bytes);
  }

  Capabilities capabilities() const override { return Capabilities{true, false}; }

  absl::StatusOr<std::unique_ptr<RandomAccessReader>> Open(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri));
    if (loc.key.empty()) return absl::InvalidArgumentError(absl::StrCat("open '", loc.uri, "': is a container root"));
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status == 404 || IsHadoopFolder(head)) {
      return absl::NotFoundError(absl::StrCat("open '", loc.uri, "': no such blob"));
    }
    return std::unique_ptr<RandomAccessReader>(new AzureReader(this, loc, ContentLength(head), head.Header("etag")));
  }

  absl::StatusOr<std::unique_ptr<UfsOutputStream>> Create(std::string_view uri, const CreateOptions& options) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri));
    if (loc.key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot create a file at the container root '", loc.uri, "'"));
    }
    if (!options.overwrite) {
      CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
      if (head.status != 404) return absl::AlreadyExistsError(absl::StrCat("'", loc.uri, "' already exists"));
    }
    return std::unique_ptr<UfsOutputStream>(new AzureOutputStream(this, loc, options, config_.block_size_bytes));
  }

  absl::StatusOr<UfsStatus> GetStatus(std::string_view uri) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri));
    if (loc.key.empty()) {
      CISTERN_RETURN_IF_ERROR(List(loc, "", "/", "", 1).status());
      UfsStatus root;
      root.is_directory = true;
      root.mode = 0755;
      return root;
    }
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status != 404) {
      if (IsHadoopFolder(head)) return DirStatus(loc, head);
      return FileStatus(loc, head);
    }
    CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage page, List(loc, DirPrefix(loc.key), "", "", 1));
    if (page.blobs.empty()) return absl::NotFoundError(absl::StrCat("'", loc.uri, "' does not exist"));
    UfsStatus dir = DirStatus(loc, head);
    if (page.blobs[0].name == DirPrefix(loc.key)) dir.mtime_ms = page.blobs[0].mtime_ms;
    return dir;
  }

  absl::Status ListDirectory(std::string_view uri, const std::function<absl::Status(const UfsStatus&)>& visit) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri));
    const std::string prefix = DirPrefix(loc.key);
    std::string marker;
    bool saw_any = false;
    // A Hadoop folder marker "x" and the prefix "x/" name one directory; they need not arrive on
    // the same page.
    std::set<std::string> dirs_seen;
    auto visit_dir = [&](const std::string& name) -> absl::Status {
      if (name.empty() || !dirs_seen.insert(name).second) return absl::OkStatus();
      UfsStatus child;
      child.name = name;
      child.is_directory = true;
      child.mode = 0755;
      return visit(child);
    };
    do {
      CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage page, List(loc, prefix, "/", marker, config_.list_page_size));
      saw_any |= !page.blobs.empty() || !page.prefixes.empty();
      for (const azurexml::ListedBlob& b : page.blobs) {
        if (b.name == prefix) continue;  // the directory's own marker
        if (b.hdi_folder) {
          CISTERN_RETURN_IF_ERROR(visit_dir(b.name.substr(prefix.size())));
          continue;
        }
        UfsStatus child;
        child.name = b.name.substr(prefix.size());
        child.length = b.size;
        child.mtime_ms = b.mtime_ms;
        child.etag = b.etag;
        child.mode = 0644;
        CISTERN_RETURN_IF_ERROR(visit(child));
      }
      for (const std::string& p : page.prefixes) {
        CISTERN_RETURN_IF_ERROR(visit_dir(p.substr(prefix.size(), p.size() - prefix.size() - 1)));
      }
      marker = page.next_marker;
    } while (!marker.empty());
    if (!saw_any && !loc.key.empty()) {
      // An empty Hadoop folder has only its marker, which is not under the prefix.
      CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
      if (head.status == 200 && IsHadoopFolder(head)) return absl::OkStatus();
      return absl::NotFoundError(absl::StrCat("list '", loc.uri, "': no such directory"));
    }
    return absl::OkStatus();
  }

  absl::Status Mkdirs(std::string_view uri, uint32_t mode) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri));
    if (loc.key.empty()) return GetStatus(uri).status();
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status != 404) {
      if (IsHadoopFolder(head)) return absl::OkStatus();
      return absl::AlreadyExistsError(absl::StrCat("mkdirs '", loc.uri, "': a file exists there"));
    }
    return PutMarker(loc.container, DirPrefix(loc.key));
  }

  absl::Status Delete(std::string_view uri, bool recursive) override {
    CISTERN_ASSIGN_OR_RETURN(Location loc, Locate(uri));
    if (loc.key.empty()) return absl::InvalidArgumentError(absl::StrCat("cannot delete the container root '", loc.uri, "'"));
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    const bool hadoop_folder = head.status != 404 && IsHadoopFolder(head);
    if (head.status != 404 && !hadoop_folder) {
      CISTERN_RETURN_IF_ERROR(DeleteBlob(loc.container, loc.key, loc.uri));
      return KeepParent(loc);
    }
    const std::string prefix = DirPrefix(loc.key);
    CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage first, List(loc, prefix, "", "", 2));
    if (first.blobs.empty() && !hadoop_folder) {
      return absl::NotFoundError(absl::StrCat("delete '", loc.uri, "': no such file or directory"));
    }
    const bool empty = first.blobs.empty() || (first.blobs.size() == 1 && first.blobs[0].name == prefix);
    if (!recursive && !empty) {
      return absl::FailedPreconditionError(absl::StrCat("delete '", loc.uri, "': directory is not empty"));
    }
    // Azure has no multi-blob delete outside the batch API: delete page after page, one by one.
    while (true) {
      CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage page, List(loc, prefix, "", "", 1000));
      if (page.blobs.empty()) break;
      for (const auto& b : page.blobs) {
        CISTERN_RETURN_IF_ERROR(DeleteBlob(loc.container, b.name, absl::StrCat(loc.uri, " (", b.name, ")")));
      }
    }
    if (hadoop_folder) CISTERN_RETURN_IF_ERROR(DeleteBlob(loc.container, loc.key, loc.uri));
    return KeepParent(loc);
  }

  absl::Status Rename(std::string_view src_uri, std::string_view dst_uri) override {
    CISTERN_ASSIGN_OR_RETURN(Location src, Locate(src_uri));
    CISTERN_ASSIGN_OR_RETURN(Location dst, Locate(dst_uri));
    if (src.key.empty() || dst.key.empty() || src.container != dst.container || src.key == dst.key ||
        absl::StartsWith(dst.key, DirPrefix(src.key))) {
      return absl::InvalidArgumentError(absl::StrCat("cannot rename '", src.uri, "' to '", dst.uri, "'"));
    }
    CISTERN_ASSIGN_OR_RETURN(HttpResponse src_head, Head(src));
    const bool src_is_file = src_head.status != 404 && !IsHadoopFolder(src_head);
    if (!src_is_file) {
      CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage probe, List(src, DirPrefix(src.key), "", "", 1));
      if (probe.blobs.empty() && src_head.status == 404) {
        return absl::NotFoundError(absl::StrCat("rename '", src.uri, "': no such file or directory"));
      }
    }
    CISTERN_ASSIGN_OR_RETURN(HttpResponse dst_head, Head(dst));
    if (dst_head.status != 404) return absl::AlreadyExistsError(absl::StrCat("rename to '", dst.uri, "': destination exists"));
    CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage dst_dir, List(dst, DirPrefix(dst.key), "", "", 1));
    if (!dst_dir.blobs.empty()) return absl::AlreadyExistsError(absl::StrCat("rename to '", dst.uri, "': destination exists"));

    if (src_is_file) {
      CISTERN_RETURN_IF_ERROR(Copy(src.container, src.key, dst.key));
      CISTERN_RETURN_IF_ERROR(DeleteBlob(src.container, src.key, src.uri));
      return KeepParent(src);
    }
    const std::string src_prefix = DirPrefix(src.key), dst_prefix = DirPrefix(dst.key);
    std::vector<std::string> copied;
    std::string marker;
    do {
      CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage page, List(src, src_prefix, "", marker, 1000));
      for (const auto& b : page.blobs) {
        CISTERN_RETURN_IF_ERROR(Copy(src.container, b.name, dst_prefix + b.name.substr(src_prefix.size())));
        copied.push_back(b.name);
      }
      marker = page.next_marker;
    } while (!marker.empty());
    if (src_head.status != 404) {  // a Hadoop folder marker: the new name gets an ordinary marker
      CISTERN_RETURN_IF_ERROR(PutMarker(dst.container, dst_prefix));
      copied.push_back(src.key);
    }
    for (const std::string& name : copied) CISTERN_RETURN_IF_ERROR(DeleteBlob(src.container, name, src.uri));
    return KeepParent(src);
  }

  // ---- Used by the reader and the output stream. ----

  struct Call {
    std::string method = "GET";
    std::string container;
    std::string key;
    std::vector<std::pair<std::string, std::string>> query;  // decoded
    std::map<std::string, std::string> headers;              // lower-case names
    std::string_view body;
    char* sink = nullptr;
    int64_t sink_capacity = 0;
    bool stop_when_full = false;
  };

  std::string EncodedPath(const std::string& container, const std::string& key) const {
    std::string path = absl::StrCat(endpoint_path_, "/", UrlEncode(container, false));
    if (!key.empty()) absl::StrAppend(&path, "/", UrlEncode(key, true));
    return path;
  }

  std::string BlobUrl(const std::string& container, const std::string& key) const {
    const size_t scheme_end = config_.endpoint.find("://") + 3;
    const size_t slash = config_.endpoint.find('/', scheme_end);
    return config_.endpoint.substr(0, slash) + EncodedPath(container, key);
  }

  absl::StatusOr<HttpResponse> Send(Call call) {
    std::sort(call.query.begin(), call.query.end());
    const std::string path = EncodedPath(call.container, call.key);
    std::string url = BlobUrl(call.container, call.key);
    std::string q;
    for (const auto& [k, v] : call.query) absl::StrAppend(&q, q.empty() ? "" : "&", UrlEncode(k, false), "=", UrlEncode(v, false));
    if (!config_.sas_token.empty()) absl::StrAppend(&q, q.empty() ? "" : "&", config_.sas_token);
    if (!q.empty()) absl::StrAppend(&url, "?", q);
    call.headers["x-ms-date"] = HttpDateNow();
    call.headers["x-ms-version"] = kApiVersion;
    if (call.method == "PUT" || call.method == "POST") {
      call.headers["content-length"] = absl::StrCat(call.body.size());
      if (call.headers.count("content-type") == 0) call.headers["content-type"] = "application/octet-stream";
    }
    HttpRequest request;
    request.method = call.method;
    request.url = url;
    for (const auto& [name, value] : call.headers) {
      if (name == "content-length") continue;  // libcurl sends it for the body it is given
      request.headers.push_back(absl::StrCat(name, ": ", value));
    }
    if (!config_.account_key.empty()) {
      const std::string to_sign = AzureStringToSign(call.method, call.headers, config_.account, path, call.query);
      request.headers.push_back(absl::StrCat("Authorization: SharedKey ", config_.account, ":",
                                             Base64Encode(HmacSha256(config_.account_key, to_sign))));
    }
    request.body = call.body;
    request.sink = call.sink;
    request.sink_capacity = call.sink_capacity;
    request.stop_when_full = call.stop_when_full;
    return http_.Send(request);
  }

  absl::StatusOr<HttpResponse> Head(const Location& loc) {
    Call call;
    call.method = "HEAD";
    call.container = loc.container;
    call.key = loc.key;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status == 404 && r.Header("x-ms-error-code") == "ContainerNotFound") return ErrorFor(r, "HEAD", loc.uri);
    if (r.status != 200 && r.status != 404) return ErrorFor(r, "HEAD", loc.uri);
    return r;
  }

  static bool IsHadoopFolder(const HttpResponse& head) {
    return absl::AsciiStrToLower(head.Header("x-ms-meta-hdi_isfolder")) == "true";
  }

  static int64_t ContentLength(const HttpResponse& head) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(head.Header("content-length"), &n)) return 0;
    return n;
  }

  static UfsStatus FileStatus(const Location& loc, const HttpResponse& head) {
    UfsStatus s;
    s.name = BaseName("/" + loc.key);
    s.length = ContentLength(head);
    s.etag = s3xml::StripQuotes(head.Header("etag"));
    s.mode = 0644;
    auto mtime = s3xml::ParseHttpDateMs(head.Header("last-modified"));
    if (mtime.ok()) s.mtime_ms = *mtime;
    return s;
  }

  static UfsStatus DirStatus(const Location& loc, const HttpResponse& head) {
    UfsStatus dir;
    dir.name = BaseName("/" + loc.key);
    dir.is_directory = true;
    dir.mode = 0755;
    auto mtime = s3xml::ParseHttpDateMs(head.Header("last-modified"));
    if (head.status == 200 && mtime.ok()) dir.mtime_ms = *mtime;
    return dir;
  }

  absl::StatusOr<UfsStatus> StatFile(const Location& loc) {
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(loc));
    if (head.status == 404) return absl::NotFoundError(absl::StrCat("'", loc.uri, "' does not exist after upload"));
    return FileStatus(loc, head);
  }

  absl::StatusOr<azurexml::ListPage> List(const Location& loc, const std::string& prefix, const std::string& delimiter,
                                          const std::string& marker, int64_t max_results) {
    Call call;
    call.container = loc.container;
    call.query = {{"restype", "container"}, {"comp", "list"}, {"maxresults", absl::StrCat(max_results)},
                  {"include", "metadata"}};
    if (!prefix.empty()) call.query.emplace_back("prefix", prefix);
    if (!delimiter.empty()) call.query.emplace_back("delimiter", delimiter);
    if (!marker.empty()) call.query.emplace_back("marker", marker);
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status != 200) return ErrorFor(r, "List Blobs", loc.uri);
    return azurexml::ParseListBlobs(r.body);
  }

  // Put Blob of a whole block blob. `if_none_match` makes it fail if the blob exists.
  absl::Status PutBlob(const Location& loc, std::string_view data, bool if_none_match, const std::string& content_type = "") {
    Call call;
    call.method = "PUT";
    call.container = loc.container;
    call.key = loc.key;
    call.headers["x-ms-blob-type"] = "BlockBlob";
    if (!content_type.empty()) call.headers["content-type"] = content_type;
    if (if_none_match) call.headers["if-none-match"] = "*";
    call.body = data;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status == 201) return absl::OkStatus();
    if (if_none_match && (r.status == 409 || r.status == 412) && r.Header("x-ms-error-code") != "ContainerNotFound") {
      return absl::AlreadyExistsError(absl::StrCat("'", loc.uri, "' already exists (HTTP ", r.status, " ",
                                                   r.Header("x-ms-error-code"), ")"));
    }
    return ErrorFor(r, "Put Blob", loc.uri);
  }

  absl::Status PutBlock(const Location& loc, const std::string& block_id, std::string_view data) {
    Call call;
    call.method = "PUT";
    call.container = loc.container;
    call.key = loc.key;
    call.query = {{"comp", "block"}, {"blockid", block_id}};
    call.body = data;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status != 201) return ErrorFor(r, "Put Block", loc.uri);
    return absl::OkStatus();
  }

  absl::Status PutBlockList(const Location& loc, const std::vector<std::string>& ids, bool if_none_match) {
    const std::string body = azurexml::BuildBlockList(ids);
    Call call;
    call.method = "PUT";
    call.container = loc.container;
    call.key = loc.key;
    call.query = {{"comp", "blocklist"}};
    call.headers["content-type"] = "application/xml";
    if (if_none_match) call.headers["if-none-match"] = "*";
    call.body = body;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status == 201) return absl::OkStatus();
    if (if_none_match && (r.status == 409 || r.status == 412)) {
      return absl::AlreadyExistsError(absl::StrCat("'", loc.uri, "' already exists (HTTP ", r.status, " ",
                                                   r.Header("x-ms-error-code"), ")"));
    }
    return ErrorFor(r, "Put Block List", loc.uri);
  }

  absl::Status PutMarker(const std::string& container, const std::string& dir_key) {
    Location loc{container, dir_key, absl::StrCat("container ", container, " directory marker ", dir_key)};
    absl::Status s = PutBlob(loc, "", false, "application/x-directory");
    return s;
  }

  absl::Status KeepParent(const Location& loc) {
    size_t slash = loc.key.rfind('/');
    if (slash == std::string::npos) return absl::OkStatus();
    const std::string parent = loc.key.substr(0, slash + 1);
    CISTERN_ASSIGN_OR_RETURN(azurexml::ListPage page, List(loc, parent, "", "", 1));
    if (!page.blobs.empty()) return absl::OkStatus();
    // A Hadoop folder marker keeps the directory too.
    CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(Location{loc.container, loc.key.substr(0, slash), loc.uri}));
    if (head.status == 200 && IsHadoopFolder(head)) return absl::OkStatus();
    return PutMarker(loc.container, parent);
  }

  absl::Status DeleteBlob(const std::string& container, const std::string& key, const std::string& uri) {
    Call call;
    call.method = "DELETE";
    call.container = container;
    call.key = key;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status != 202 && r.status != 200 && r.status != 404) return ErrorFor(r, "Delete Blob", uri);
    if (r.status == 404 && r.Header("x-ms-error-code") == "ContainerNotFound") return ErrorFor(r, "Delete Blob", uri);
    return absl::OkStatus();
  }

  // Copy Blob within the account; waits for a copy the service runs in the background.
  absl::Status Copy(const std::string& container, const std::string& src_key, const std::string& dst_key) {
    const std::string what = absl::StrCat("copy '", container, "/", src_key, "' to '", container, "/", dst_key, "'");
    std::string source = BlobUrl(container, src_key);
    if (!config_.sas_token.empty()) absl::StrAppend(&source, "?", config_.sas_token);
    Call call;
    call.method = "PUT";
    call.container = container;
    call.key = dst_key;
    call.headers["x-ms-copy-source"] = source;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, Send(std::move(call)));
    if (r.status != 202 && r.status != 201) return ErrorFor(r, "Copy Blob", what);
    std::string state = r.Header("x-ms-copy-status");
    const Location dst{container, dst_key, what};
    for (int64_t wait_ms = 50; state == "pending"; wait_ms = std::min<int64_t>(wait_ms * 2, 2000)) {
      absl::SleepFor(absl::Milliseconds(wait_ms));
      CISTERN_ASSIGN_OR_RETURN(HttpResponse head, Head(dst));
      if (head.status == 404) return absl::AbortedError(absl::StrCat(what, ": the destination vanished while copying"));
      state = head.Header("x-ms-copy-status");
    }
    if (!state.empty() && state != "success") {
      return absl::AbortedError(absl::StrCat(what, ": copy status '", state, "'"));
    }
    return absl::OkStatus();
  }

  const AzureConfig& config() const { return config_; }

 private:
  const AzureConfig config_;
  std::string endpoint_path_;  // "" or "/devstoreaccount1" (Azurite)
  HttpClient http_;
};

absl::StatusOr<int64_t> AzureReader::ReadAt(int64_t offset, int64_t n, char* buf) {
  if (offset < 0 || n < 0) return absl::InvalidArgumentError(absl::StrCat("bad read range ", offset, "+", n, " of '", loc_.uri, "'"));
  if (offset >= length_ || n == 0) return 0;
  const int64_t count = std::min(n, length_ - offset);
  int64_t done = 0;
  while (done < count) {
    const int64_t first = offset + done, last = offset + count - 1;
    AzureUnderFileSystem::Call call;
    call.container = loc_.container;
    call.key = loc_.key;
    call.headers["x-ms-range"] = absl::StrCat("bytes=", first, "-", last);
    if (!etag_header_.empty()) call.headers["if-match"] = etag_header_;
    call.sink = buf + done;
    call.sink_capacity = count - done;
    call.stop_when_full = true;
    CISTERN_ASSIGN_OR_RETURN(HttpResponse r, fs_->Send(std::move(call)));
    if (r.status == 412) {
      return absl::FailedPreconditionError(absl::StrCat("read '", loc_.uri, "': the blob changed since it was opened"));
    }
    if (r.status != 206 && !(r.status == 200 && first == 0)) return ErrorFor(r, "Get Blob", loc_.uri);
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

absl::Status AzureOutputStream::Write(std::string_view data) {
  if (!error_.ok()) return error_;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("write to closed file '", loc_.uri, "'"));
  while (!data.empty()) {
    const size_t take = std::min<size_t>(data.size(), static_cast<size_t>(block_size_) - buffer_.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (static_cast<int64_t>(buffer_.size()) == block_size_) CISTERN_RETURN_IF_ERROR(StageBlock());
  }
  return absl::OkStatus();
}

absl::Status AzureOutputStream::StageBlock() {
  if (block_ids_.size() >= static_cast<size_t>(kMaxBlocks)) {
    return Fail(absl::ResourceExhaustedError(absl::StrCat("write '", loc_.uri, "': more than ", kMaxBlocks,
                                                          " blocks; raise azure.block_size (now ", block_size_, ")")));
  }
  const std::string id = Base64Encode(absl::StrFormat("cistern-%s-%06d", id_tag_, block_ids_.size()));
  absl::Status staged = fs_->PutBlock(loc_, id, buffer_);
  if (!staged.ok()) return Fail(Annotate(staged, absl::StrCat("stage block ", block_ids_.size() + 1)));
  block_ids_.push_back(id);
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<UfsStatus> AzureOutputStream::Close() {
  if (!error_.ok()) return error_;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("file '", loc_.uri, "' already closed"));
  absl::Status committed;
  if (block_ids_.empty()) {
    committed = fs_->PutBlob(loc_, buffer_, !options_.overwrite);
  } else {
    if (!buffer_.empty()) CISTERN_RETURN_IF_ERROR(StageBlock());
    committed = fs_->PutBlockList(loc_, block_ids_, !options_.overwrite);
  }
  if (!committed.ok()) return Fail(committed);
  done_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
  return fs_->StatFile(loc_);
}

}  // namespace

std::string AzureStringToSign(const std::string& method, const std::map<std::string, std::string>& headers,
                              const std::string& account, const std::string& encoded_path,
                              const std::vector<std::pair<std::string, std::string>>& query) {
  auto h = [&](const char* name) -> std::string {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  };
  std::string length = h("content-length");
  if (length == "0") length.clear();  // version 2015-02-21 and later sign an empty body as ""
  std::string out = absl::StrCat(method, "\n", h("content-encoding"), "\n", h("content-language"), "\n", length, "\n",
                                 h("content-md5"), "\n", h("content-type"), "\n", h("date"), "\n",
                                 h("if-modified-since"), "\n", h("if-match"), "\n", h("if-none-match"), "\n",
                                 h("if-unmodified-since"), "\n", h("range"), "\n");
  for (const auto& [name, value] : headers) {  // std::map: sorted by (lower-case) name
    if (absl::StartsWith(name, "x-ms-")) absl::StrAppend(&out, name, ":", absl::StripAsciiWhitespace(value), "\n");
  }
  absl::StrAppend(&out, "/", account, encoded_path);
  std::map<std::string, std::vector<std::string>> params;
  for (const auto& [k, v] : query) params[absl::AsciiStrToLower(k)].push_back(v);
  for (auto& [k, values] : params) {
    std::sort(values.begin(), values.end());
    absl::StrAppend(&out, "\n", k, ":", absl::StrJoin(values, ","));
  }
  return out;
}

std::unique_ptr<UnderFileSystem> NewAzureUnderFileSystem(AzureConfig config) {
  return std::make_unique<AzureUnderFileSystem>(std::move(config));
}

absl::StatusOr<std::unique_ptr<UnderFileSystem>> NewAzureUnderFileSystem(std::string_view uri, const MountOptions& options) {
  CISTERN_ASSIGN_OR_RETURN(AzureConfig config, ResolveAzureConfig(uri, options));
  return NewAzureUnderFileSystem(std::move(config));
}

}  // namespace cistern::ufs
