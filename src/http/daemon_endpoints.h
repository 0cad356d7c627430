// The endpoints every daemon's HTTP port serves (docs/operations.md):
//
//   GET /metrics             the process registry in the Prometheus text format
//   GET /healthz             200 "ok" while the process runs (liveness)
//   GET /readyz              200 "ready", or 503 with the reason (readiness: see `ready`)
//   GET /api/v1/log-level    {"level": "info"}
//   PUT /api/v1/log-level    body (or ?level=) trace|debug|info|warn|error: changes the level
//                            of the running process; 400 naming a bad value. Behind
//                            `authorize` (TOKEN mode: the superuser's or a daemon's token)
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "http/http_server.h"

namespace cistern::http {

// `ready` returns OK when the daemon can serve, else a status whose message says why not. It
// runs on an HTTP thread for every /readyz request, so it must be cheap and thread-safe.
// `authorize` gates the routes that change state (empty: open, NONE mode).
void AddDaemonEndpoints(HttpServer* server, std::function<absl::Status()> ready, Authorizer authorize = {});

}  // namespace cistern::http
