#include "http/http_server.h"

#include <atomic>
#include <stdexcept>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "http/daemon_endpoints.h"

namespace cistern::http {
namespace {

std::string Address(const HttpServer& server) { return absl::StrCat("127.0.0.1:", server.port()); }

TEST(HttpServerTest, RoutesExactAndPrefixPathsWithParameters) {
  HttpServer server(HttpServerOptions{"127.0.0.1", 0});
  server.Handle("GET", "/hello", [](const Request& r) { return Response::Text(200, "hi " + r.Param("name", "?")); });
  server.HandlePrefix("GET", "/files/", [](const Request& r) { return Response::Text(200, "prefix " + r.path); });
  server.HandlePrefix("GET", "/files/deep/", [](const Request& r) { return Response::Text(200, "deeper " + r.path); });
  server.Handle("PUT", "/echo", [](const Request& r) { return Response::Json(201, r.body); });
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.port(), 0);

  auto r = Fetch("GET", Address(server), "/hello?name=" + UrlEncode("a b&c"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi a b&c");
  r = Fetch("GET", Address(server), "/files/x%20y");
  EXPECT_EQ(r->body, "prefix /files/x y");
  r = Fetch("GET", Address(server), "/files/deep/z");
  EXPECT_EQ(r->body, "deeper /files/deep/z");
  r = Fetch("PUT", Address(server), "/echo", "{\"a\":1}");
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body, "{\"a\":1}");
  r = Fetch("GET", Address(server), "/nothing");
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(absl::StrContains(r->body, "/nothing"));
  r = Fetch("PUT", Address(server), "/hello", "x");
  EXPECT_EQ(r->status, 405);
}

TEST(HttpServerTest, AHandlerExceptionIsA500AndTheServerGoesOn) {
  HttpServer server(HttpServerOptions{"127.0.0.1", 0});
  server.Handle("GET", "/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  server.Handle("GET", "/ok", [](const Request&) { return Response::Text(200, "ok"); });
  ASSERT_TRUE(server.Start().ok());
  auto r = Fetch("GET", Address(server), "/throw");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(absl::StrContains(r->body, "boom"));
  EXPECT_EQ(Fetch("GET", Address(server), "/ok")->status, 200);
}

TEST(HttpServerTest, OversizedBodiesAreRefused) {
  HttpServerOptions options{"127.0.0.1", 0};
  options.max_body_bytes = 1000;
  HttpServer server(options);
  server.Handle("PUT", "/x", [](const Request& r) { return Response::Text(200, absl::StrCat(r.body.size())); });
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(Fetch("PUT", Address(server), "/x", std::string(999, 'a'))->status, 200);
  EXPECT_EQ(Fetch("PUT", Address(server), "/x", std::string(5000, 'a'))->status, 413);
}

TEST(HttpServerTest, APortInUseIsAnErrorNamingIt) {
  HttpServer first(HttpServerOptions{"127.0.0.1", 0});
  ASSERT_TRUE(first.Start().ok());
  HttpServer second(HttpServerOptions{"127.0.0.1", first.port()});
  absl::Status status = second.Start();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), absl::StrCat(first.port()))) << status;
}

TEST(HttpServerTest, FetchFailuresAreUnavailableAndBadAddressesInvalid) {
  HttpServer server(HttpServerOptions{"127.0.0.1", 0});
  ASSERT_TRUE(server.Start().ok());
  const std::string address = Address(server);
  server.Stop();
  EXPECT_TRUE(absl::IsUnavailable(Fetch("GET", address, "/", {}, 1000).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Fetch("GET", "nohostport", "/").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Fetch("GET", "host:99999", "/").status()));
}

TEST(DaemonEndpointsTest, MetricsHealthReadinessAndLogLevel) {
  ASSERT_TRUE(InitLogging(LoggingOptions{"test", "test", "", "info"}).ok());
  Metrics().GetCounter("cistern_test_http_requests_total", "Test counter")->Add(41);
  std::atomic<bool> ready{false};
  HttpServer server(HttpServerOptions{"127.0.0.1", 0});
  AddDaemonEndpoints(&server, [&] {
    return ready ? absl::OkStatus() : absl::UnavailableError("not registered with the master yet");
  });
  ASSERT_TRUE(server.Start().ok());
  const std::string address = Address(server);

  auto metrics = Fetch("GET", address, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(metrics->body, "cistern_test_http_requests_total 41\n")) << metrics->body;

  EXPECT_EQ(Fetch("GET", address, "/healthz")->body, "ok\n");
  auto readyz = Fetch("GET", address, "/readyz");
  EXPECT_EQ(readyz->status, 503);
  EXPECT_EQ(readyz->body, "not ready: not registered with the master yet\n");
  ready = true;
  EXPECT_EQ(Fetch("GET", address, "/readyz")->status, 200);

  EXPECT_EQ(Fetch("GET", address, "/api/v1/log-level")->body, "{\"level\":\"info\"}\n");
  auto set = Fetch("PUT", address, "/api/v1/log-level", "debug\n");
  EXPECT_EQ(set->status, 200) << set->body;
  EXPECT_EQ(CurrentLogLevel(), "debug");
  set = Fetch("PUT", address, "/api/v1/log-level?level=WARN");
  EXPECT_EQ(set->body, "{\"level\":\"warn\"}\n");
  EXPECT_EQ(CurrentLogLevel(), "warn");
  auto bad = Fetch("PUT", address, "/api/v1/log-level", "loud");
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(absl::StrContains(bad->body, "'loud'")) << bad->body;
  EXPECT_EQ(CurrentLogLevel(), "warn");
}

}  // namespace
}  // namespace cistern::http
