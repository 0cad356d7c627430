// HttpServer: the small HTTP server every daemon runs beside its gRPC port (metrics, health,
// the master's web UI and JSON API). A thin wrapper over cpp-httplib so that no other file
// includes it: handlers see plain Request/Response structs, routes are exact paths or path
// prefixes, and an exception thrown by a handler becomes a 500 instead of leaving the module.
//
// Bounded: a fixed pool of `threads` request threads, request bodies up to `max_body_bytes`
// (413 beyond), httplib's read/write timeouts (5 s) and keep-alive limits.
//
// Thread safety: register routes before Start; handlers run concurrently on the pool's
// threads. Stop (or the destructor) stops accepting, finishes requests in progress and joins.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace cistern::http {

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // without the query string, percent-decoded
  std::multimap<std::string, std::string> params;  // query (and form) parameters, decoded
  std::string body;
  std::string authorization;  // the Authorization header, if any

  // The first value of parameter `name`, or `fallback`.
  std::string Param(const std::string& name, const std::string& fallback = "") const;
  bool HasParam(const std::string& name) const { return params.contains(name); }
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
  // An error as {"error": message} with `status`.
  static Response JsonError(int status, std::string_view message);
};

// The HTTP status for an absl::Status code (NOT_FOUND -> 404, INVALID_ARGUMENT -> 400, ...).
int HttpStatusFor(const absl::Status& status);

using Handler = std::function<Response(const Request&)>;

// Who may call a route: given a request's Authorization header, OK or the refusal
// (UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, as {"error": ...}).
using Authorizer = std::function<absl::Status(const std::string& authorization)>;
// `handler` behind `authorize`; an empty `authorize` lets everyone through (NONE mode).
Handler Gated(const Authorizer& authorize, Handler handler);

struct HttpServerOptions {
  std::string bind_host = "0.0.0.0";
  int port = 0;  // 0 = any free port (see port())
  int threads = 4;
  int64_t max_body_bytes = 1 << 20;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `method` is GET, PUT, POST or DELETE; `path` is matched exactly. A GET route also answers
  // HEAD. REQUIRES: before Start.
  void Handle(std::string method, std::string path, Handler handler);
  // Every path starting with `prefix` (longest prefix wins; exact routes win over prefixes).
  void HandlePrefix(std::string method, std::string prefix, Handler handler);

  // Binds and starts serving. UNAVAILABLE naming the address if it cannot bind.
  absl::Status Start();
  void Stop();

  // The bound port (after Start).
  int port() const { return port_; }

 private:
  Response Dispatch(const Request& request) const;

  const HttpServerOptions options_;
  // Constant after Start.
  std::map<std::pair<std::string, std::string>, Handler> exact_;
  std::map<std::pair<std::string, std::string>, Handler> prefixes_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
};

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

// One HTTP/1.1 request to `address` ("host:port"); `target` is path plus query; a non-empty
// `bearer_token` is sent as "Authorization: Bearer <token>". Transport failures are UNAVAILABLE
// naming the address; any HTTP status is a result, not an error.
absl::StatusOr<HttpResult> Fetch(std::string_view method, std::string_view address, std::string_view target,
                                 std::string_view body = {}, int64_t timeout_ms = 5000,
                                 std::string_view bearer_token = {});

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view value);

}  // namespace cistern::http
