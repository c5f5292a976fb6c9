// Propagation macros for absl::Status / absl::StatusOr (the pinned Abseil 20220623 has none).
// Depends on absl only.
#pragma once

#include <utility>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define AIOPS_RETURN_IF_ERROR(expr)                               \
  do {                                                            \
    if (absl::Status aiops_status = (expr); !aiops_status.ok()) { \
      return aiops_status;                                        \
    }                                                             \
  } while (false)

#define AIOPS_STATUS_CONCAT_INNER(a, b) a##b
#define AIOPS_STATUS_CONCAT(a, b) AIOPS_STATUS_CONCAT_INNER(a, b)

// `lhs = *rexpr` when `rexpr` (an absl::StatusOr) is OK, else returns its status.
#define AIOPS_ASSIGN_OR_RETURN(lhs, rexpr) \
  AIOPS_ASSIGN_OR_RETURN_IMPL(AIOPS_STATUS_CONCAT(aiops_statusor_, __LINE__), lhs, rexpr)
// `statusor` names a variable and `lhs` is a declaration: neither can be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define AIOPS_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)
