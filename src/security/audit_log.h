// The master's audit log (master.audit.log.*, docs/security.md): one line per namespace
// operation, in its own size-rotated file, written and flushed before the operation's reply
// leaves, e.g.
//
//   2026-12-01T19:31:17.367Z user=alice groups=staff addr=ipv4:10.0.0.5:41234 op=Rename
//     path="/data/a" dst="/data/b" result=OK
//
// (one line; wrapped here). Paths are quoted with C escapes, so a name holding spaces, quotes
// or newlines cannot forge a field or a line. A refused operation is recorded with its status
// code (PERMISSION_DENIED, ...) and message.
//
// Thread safety: Record is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "security/identity.h"

namespace spdlog {
class logger;
}

namespace cistern::security {

struct AuditLogOptions {
  std::string path;
  int64_t max_file_bytes = 64 << 20;
  int max_files = 10;
};

class AuditLog {
 public:
  // Creates the file's directory if needed; INVALID_ARGUMENT naming the path if it cannot be
  // opened.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options);
  ~AuditLog();

  void Record(const Caller& caller, std::string_view operation, std::string_view path, std::string_view dst,
              const absl::Status& result);
  // The line Record writes (without the timestamp and newline).
  static std::string FormatLine(const Caller& caller, std::string_view operation, std::string_view path,
                                std::string_view dst, const absl::Status& result);

 private:
  explicit AuditLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
  const std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace cistern::security
