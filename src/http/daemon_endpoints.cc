#include "http/daemon_endpoints.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "nlohmann/json.hpp"

namespace cistern::http {
namespace {

Response LogLevelJson() { return Response::Json(200, nlohmann::json({{"level", CurrentLogLevel()}}).dump() + "\n"); }

}  // namespace

void AddDaemonEndpoints(HttpServer* server, std::function<absl::Status()> ready, Authorizer authorize) {
  server->Handle("GET", "/metrics", [](const Request&) {
    Response r = Response::Text(200, Metrics().PrometheusText());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  server->Handle("GET", "/healthz", [](const Request&) { return Response::Text(200, "ok\n"); });
  server->Handle("GET", "/readyz", [ready = std::move(ready)](const Request&) {
    absl::Status status = ready();
    if (status.ok()) return Response::Text(200, "ready\n");
    return Response::Text(503, absl::StrCat("not ready: ", status.message(), "\n"));
  });
  server->Handle("GET", "/api/v1/log-level", [](const Request&) { return LogLevelJson(); });
  server->Handle("PUT", "/api/v1/log-level", Gated(authorize, [](const Request& request) {
    std::string level = request.HasParam("level") ? request.Param("level") : request.body;
    absl::StripAsciiWhitespace(&level);
    absl::Status status = SetLogLevel(absl::AsciiStrToLower(level));
    if (!status.ok()) return Response::JsonError(400, std::string(status.message()));
    return LogLevelJson();
  }));
}

}  // namespace cistern::http
