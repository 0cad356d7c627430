#include "http/http_server.h"

#include <sys/socket.h>

#include <chrono>
#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace cistern::http {
namespace {

// httplib's default also sets SO_REUSEPORT, which would let a second daemon bind the same port
// silently; refuse instead (as the gRPC servers do).
void SocketOptions(int sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

std::string Request::Param(const std::string& name, const std::string& fallback) const {
  auto it = params.find(name);
  return it == params.end() ? fallback : it->second;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::JsonError(int status, std::string_view message) {
  nlohmann::json j = {{"error", std::string(message)}};
  return Json(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kFailedPrecondition:
      return 412;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(std::string method, std::string path, Handler handler) {
  exact_[{std::move(method), std::move(path)}] = std::move(handler);
}

void HttpServer::HandlePrefix(std::string method, std::string prefix, Handler handler) {
  prefixes_[{std::move(method), std::move(prefix)}] = std::move(handler);
}

Response HttpServer::Dispatch(const Request& request) const {
  const std::string method = request.method == "HEAD" ? "GET" : request.method;
  if (auto it = exact_.find({method, request.path}); it != exact_.end()) return it->second(request);
  const Handler* best = nullptr;
  size_t best_length = 0;
  bool other_method = false;
  for (const auto& [key, handler] : prefixes_) {
    if (!request.path.starts_with(key.second)) continue;
    if (key.first != method) {
      other_method = true;
      continue;
    }
    if (best == nullptr || key.second.size() > best_length) {
      best = &handler;
      best_length = key.second.size();
    }
  }
  if (best != nullptr) return (*best)(request);
  for (const auto& [key, handler] : exact_) other_method |= key.second == request.path;
  if (other_method) return Response::Text(405, absl::StrCat("method ", request.method, " not allowed on ", request.path, "\n"));
  return Response::Text(404, absl::StrCat("no such path: ", request.path, "\n"));
}

absl::Status HttpServer::Start() {
  server_ = std::make_unique<httplib::Server>();
  const int threads = std::max(1, options_.threads);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_socket_options(SocketOptions);
  server_->set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  auto handler = [this](const httplib::Request& in, httplib::Response& out) {
    Request request;
    request.method = in.method;
    request.path = in.path;
    request.params.insert(in.params.begin(), in.params.end());
    request.body = in.body;
    request.authorization = in.get_header_value("Authorization");
    Response response;
    try {
      response = Dispatch(request);
    } catch (const std::exception& e) {
      spdlog::error("HTTP {} {} failed: {}", in.method, in.path, e.what());
      response = Response::Text(500, absl::StrCat("internal error: ", e.what(), "\n"));
    }
    out.status = response.status;
    for (const auto& [name, value] : response.headers) out.set_header(name, value);
    out.set_content(response.body, response.content_type.c_str());
  };
  const char* kAny = R"(/.*)";
  server_->Get(kAny, handler);
  server_->Put(kAny, handler);
  server_->Post(kAny, handler);
  server_->Delete(kAny, handler);
  const std::string where = absl::StrCat(options_.bind_host, ":", options_.port);
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.bind_host);
    if (port_ <= 0) port_ = 0;
  } else if (server_->bind_to_port(options_.bind_host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", where, " (HTTP): port in use or not permitted"));
  }
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_returned_ = true;
  });
  // httplib's stop() does nothing until the listen loop runs, so a Stop right after Start would
  // hang: wait for the loop (it starts at once; the bound is a safety net).
  for (int i = 0; i < 10000 && !server_->is_running() && !listen_returned_; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

Handler Gated(const Authorizer& authorize, Handler handler) {
  if (!authorize) return handler;
  return [authorize, handler = std::move(handler)](const Request& r) {
    absl::Status allowed = authorize(r.authorization);
    if (!allowed.ok()) return Response::JsonError(HttpStatusFor(allowed), std::string(allowed.message()));
    return handler(r);
  };
}

absl::StatusOr<HttpResult> Fetch(std::string_view method, std::string_view address, std::string_view target,
                                 std::string_view body, int64_t timeout_ms, std::string_view bearer_token) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string_view::npos || !absl::SimpleAtoi(std::string(address.substr(colon + 1)), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP address '", std::string(address), "': want host:port"));
  }
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  httplib::Client client(host, port);
  const time_t seconds = static_cast<time_t>(timeout_ms / 1000);
  const time_t micros = static_cast<time_t>((timeout_ms % 1000) * 1000);
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  const std::string path(target);
  const std::string payload(body);
  if (method != "GET" && method != "PUT" && method != "POST" && method != "DELETE") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported HTTP method ", std::string(method)));
  }
  httplib::Headers headers;
  if (!bearer_token.empty()) headers.emplace("Authorization", absl::StrCat("Bearer ", std::string(bearer_token)));
  httplib::Result result = method == "GET"   ? client.Get(path, headers)
                           : method == "PUT"  ? client.Put(path, headers, payload, "text/plain")
                           : method == "POST" ? client.Post(path, headers, payload, "text/plain")
                                              : client.Delete(path, headers);
  if (!result) {
    return absl::UnavailableError(absl::StrCat("HTTP ", std::string(method), " http://", std::string(address), path,
                                               ": ", httplib::to_string(result.error())));
  }
  return HttpResult{result->status, result->get_header_value("Content-Type"), result->body};
}

std::string UrlEncode(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

}  // namespace cistern::http
