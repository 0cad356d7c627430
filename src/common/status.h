// Small Status helpers. Debian's Abseil (20220623) predates ABSL_RETURN_IF_ERROR, so the project
// keeps its own macros here; every module uses these and nothing else.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cistern {

// Returns `status` with `context` prepended to its message ("context: message"), same code.
absl::Status Annotate(const absl::Status& status, std::string_view context);

// Errors for which a retry of the same call may succeed.
bool IsRetryable(const absl::Status& status);

}  // namespace cistern

#define CISTERN_STATUS_CONCAT_INNER(a, b) a##b
#define CISTERN_STATUS_CONCAT(a, b) CISTERN_STATUS_CONCAT_INNER(a, b)

#define CISTERN_RETURN_IF_ERROR(expr)            \
  do {                                           \
    absl::Status _cistern_status = (expr);       \
    if (!_cistern_status.ok()) return _cistern_status; \
  } while (0)

// Like CISTERN_RETURN_IF_ERROR, adding `context` to the message on the way up.
#define CISTERN_RETURN_IF_ERROR_CONTEXT(expr, context)                      \
  do {                                                                      \
    absl::Status _cistern_status = (expr);                                  \
    if (!_cistern_status.ok()) return ::cistern::Annotate(_cistern_status, (context)); \
  } while (0)

#define CISTERN_ASSIGN_OR_RETURN_IMPL(var, lhs, rexpr) \
  auto var = (rexpr);                                  \
  if (!var.ok()) return std::move(var).status();       \
  lhs = std::move(*var)

#define CISTERN_ASSIGN_OR_RETURN(lhs, rexpr) \
  CISTERN_ASSIGN_OR_RETURN_IMPL(CISTERN_STATUS_CONCAT(_cistern_statusor_, __LINE__), lhs, rexpr)
