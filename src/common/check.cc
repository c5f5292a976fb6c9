#include "common/check.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>

namespace aiops::common {

void CheckFailed(const char* file, int line, const char* condition, const char* message) {
  fmt::print(stderr, "{}:{}: AIOPS_CHECK failed: {}{}{}\n", file, line, condition,
             message != nullptr ? ": " : "", message != nullptr ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace aiops::common
