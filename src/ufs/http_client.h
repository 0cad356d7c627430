// HttpClient: the HTTP transport of the object-store adapters (S3 and the like), over libcurl.
// Reuses connections (a pool of curl handles, each keeping its own keep-alive connections),
// bounds every attempt with timeouts, and retries transport errors and retryable statuses
// (500, 502, 503, 504, 429) with exponential backoff and jitter, a bounded number of times.
//
// Thread safety: Send may be called from many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cistern::ufs {

struct HttpOptions {
  int64_t connect_timeout_ms = 10'000;
  // An attempt that moves fewer than 1 byte/s for this long fails (a stalled or dead server).
  int64_t stall_timeout_ms = 30'000;
  // Upper bound of one attempt; 0 = none (large transfers are bounded by stall_timeout_ms).
  int64_t request_timeout_ms = 0;
  int max_attempts = 5;  // first try included
  int64_t retry_base_ms = 100;
  int64_t retry_max_ms = 5'000;
  // libcurl CURLOPT_AWS_SIGV4 provider string ("aws:amz:us-east-1:s3") and "key:secret"; empty = unsigned.
  std::string aws_sigv4;
  std::string user_pwd;
  size_t max_idle_handles = 16;
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string url;             // path and query already encoded
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // sent for PUT and POST (may be empty)
  // When set, a 2xx response body goes here (at most sink_capacity bytes; more is an error);
  // otherwise into HttpResponse::body.
  char* sink = nullptr;
  int64_t sink_capacity = 0;
  // With a sink: a body longer than sink_capacity is cut there (the connection is dropped) and
  // the response is still returned, instead of failing. For servers that ignore part of a Range.
  bool stop_when_full = false;
  // Attempts for this request; 0 = HttpOptions::max_attempts. 1 for requests that must not be
  // repeated blindly (e.g. a WebHDFS APPEND, whose caller checks what landed before retrying).
  int max_attempts = 0;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  int64_t sink_bytes = 0;
  int attempts = 0;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`, retrying as described above. Returns the final response whatever its status
  // (the caller maps HTTP errors), or UNAVAILABLE / DEADLINE_EXCEEDED when no response came after
  // the last attempt, INVALID_ARGUMENT for a malformed URL. `retryable`, when given, replaces the
  // default status check (e.g. to retry S3's "200 OK with an error body").
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request,
                                    const std::function<bool(const HttpResponse&)>& retryable = nullptr);

  const HttpOptions& options() const { return options_; }

  static bool DefaultRetryable(long status);

 private:
  absl::StatusOr<HttpResponse> SendOnce(const HttpRequest& request);
  void* Acquire();
  void Release(void* handle);

  const HttpOptions options_;
  absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);  // CURL*
};

// The Status code for an HTTP error status, the same for every adapter: 400 INVALID_ARGUMENT,
// 401/403 PERMISSION_DENIED, 404 NOT_FOUND, 405/501 UNIMPLEMENTED, 409 ABORTED, 412
// FAILED_PRECONDITION, 416 OUT_OF_RANGE, 429/500/502/503/504 UNAVAILABLE, others UNKNOWN.
absl::StatusCode HttpStatusToCode(long status);

// RFC 3986 percent-encoding of every byte except unreserved characters (A-Z a-z 0-9 - . _ ~),
// and except '/' when `keep_slash` (object keys in URL paths).
std::string UrlEncode(std::string_view text, bool keep_slash);

}  // namespace cistern::ufs
