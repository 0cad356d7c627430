// The master's web UI and the JSON API behind it, on the master's HTTP port (next to the daemon
// endpoints of http/daemon_endpoints.h). docs/operations.md documents every endpoint:
//
//   GET /                         the web UI (static HTML/JS/CSS embedded in the binary, /ui/...)
//   GET /api/v1/overview          master, masters, leader, worker counts, capacity, hit ratio
//   GET /api/v1/workers           every worker with its tiers
//   GET /api/v1/files?path=P[&limit=N]   P's status and, for a directory, its first N children
//   GET /api/v1/file?path=P       P's status with block locations
//   GET /api/v1/mounts            the mount table with each mount's cache usage (last scan)
//   GET /api/v1/config            the configuration in effect, with each value's origin
//
// In TOKEN mode the /api/v1 routes need `Authorization: Bearer <token>` of the superuser (or a
// daemon): they show the whole namespace and configuration without per-path checks.
//
// Handlers call the domain objects directly (no RPC to itself, no gRPC headers here); errors are
// {"error": message} with the HTTP status of the absl code.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

#include "common/config.h"
#include "http/http_server.h"

namespace cistern::journal {
class Journal;
}

namespace cistern::master {

class BlockMaster;
class CacheUsageScanner;
class FileSystemMaster;
class NamespaceStore;

struct MasterHttpContext {
  const Config* config = nullptr;
  FileSystemMaster* fs = nullptr;
  const BlockMaster* blocks = nullptr;
  const NamespaceStore* store = nullptr;
  const journal::Journal* journal = nullptr;
  const CacheUsageScanner* scanner = nullptr;
  std::string cluster_id;
  std::string address;  // host:rpc_port of this master
  const http::HttpServer* http = nullptr;  // for its port
  int64_t start_time_ms = 0;
  // Who may call the JSON API: given a request's Authorization header, OK or the refusal
  // (UNAUTHENTICATED: 401, PERMISSION_DENIED: 403). Unset = everyone (NONE mode).
  http::Authorizer authorize;
};

// Registers the UI and the API on `server`. Everything in `context` must outlive the server.
void AddMasterHttpHandlers(http::HttpServer* server, MasterHttpContext context);

}  // namespace cistern::master
