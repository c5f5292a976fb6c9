// StopSignalScope: while it lives, SIGINT and SIGTERM run `handler` (which should only set a
// lock-free atomic flag that a follow loop polls); the previous handlers are restored when it
// ends. Process-wide: one scope at a time.
#pragma once

#include <csignal>

namespace aiops::common {

class StopSignalScope {
 public:
  explicit StopSignalScope(void (*handler)(int)) {
    struct sigaction action = {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;
  StopSignalScope(StopSignalScope&&) = delete;
  StopSignalScope& operator=(StopSignalScope&&) = delete;

 private:
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

}  // namespace aiops::common
