// Always-on invariant checks. A failed AIOPS_CHECK is a bug in our code: it prints file:line and
// the condition to stderr and aborts. Never use it for conditions the environment controls
// (network, disk, input): those are absl::Status errors.
#pragma once

namespace aiops::common {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const char* message);

}  // namespace aiops::common

#define AIOPS_CHECK(cond)                                               \
  do {                                                                  \
    if (!(cond)) [[unlikely]] {                                         \
      ::aiops::common::CheckFailed(__FILE__, __LINE__, #cond, nullptr); \
    }                                                                   \
  } while (false)

#define AIOPS_CHECK_MSG(cond, msg)                                    \
  do {                                                                \
    if (!(cond)) [[unlikely]] {                                       \
      ::aiops::common::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
    }                                                                 \
  } while (false)
