#include "security/audit_log.h"

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/sinks/rotating_file_sink.h"
#include "spdlog/spdlog.h"

namespace cistern::security {
namespace {

std::string Quoted(std::string_view text) {
  return absl::StrCat("\"", absl::CEscape(absl::string_view(text.data(), text.size())), "\"");
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(options.path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        options.path, static_cast<size_t>(std::max<int64_t>(options.max_file_bytes, 4096)),
        static_cast<size_t>(std::max(options.max_files, 1)));
    auto logger = std::make_shared<spdlog::logger>("audit", std::move(sink));
    // Time in UTC with milliseconds, then the line; no level or logger name.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);
    return std::unique_ptr<AuditLog>(new AuditLog(std::move(logger)));
  } catch (const spdlog::spdlog_ex& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot open the audit log '", options.path, "': ", e.what()));
  }
}

AuditLog::~AuditLog() {
  if (logger_) logger_->flush();
}

std::string AuditLog::FormatLine(const Caller& caller, std::string_view operation, std::string_view path,
                                 std::string_view dst, const absl::Status& result) {
  // User and group names hold no spaces or quotes (CheckPrincipalName); escaping them anyway
  // keeps the fields parseable whatever slipped through.
  std::string line = absl::StrCat("user=", caller.internal ? std::string("(master)") : absl::CEscape(caller.user),
                      " groups=", absl::CEscape(absl::StrJoin(caller.groups, ",")),
                      " addr=", caller.address.empty() ? std::string("-") : absl::CEscape(caller.address),
                      caller.daemon ? " daemon=true" : "", " op=", absl::string_view(operation.data(), operation.size()),
                      " path=", Quoted(path));
  if (!dst.empty()) absl::StrAppend(&line, " dst=", Quoted(dst));
  absl::StrAppend(&line, " result=", absl::StatusCodeToString(result.code()));
  if (!result.ok()) absl::StrAppend(&line, " message=", Quoted(std::string(result.message())));
  return line;
}

void AuditLog::Record(const Caller& caller, std::string_view operation, std::string_view path, std::string_view dst,
                      const absl::Status& result) {
  logger_->info(FormatLine(caller, operation, path, dst, result));
}

}  // namespace cistern::security
