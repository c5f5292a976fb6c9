// Runs a child process to completion and captures its output (test support only; the product
// never spawns processes). Thread-compatible: each call is independent.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>

namespace aiops::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal number when the child was killed by a signal
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::map<std::string, std::string> env;  // added to (or overriding) the parent's environment
  std::string stdin_data;
  absl::Duration timeout = absl::Minutes(5);  // the child is killed (SIGKILL) when it expires
};

// Runs argv[0] (looked up in PATH) with `argv`. Returns kInvalidArgument for an empty argv,
// kNotFound when the program cannot be started, kDeadlineExceeded on time-out (with the
// captured output in the message). A non-zero exit is not an error: check exit_code.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options = {});

// A child process running in the background (an `aiops run` daemon under test), its stdout and
// stderr appended to `log_path`. The destructor kills it (SIGKILL) if it still runs.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  absl::Status Start(const std::vector<std::string>& argv, const std::string& log_path,
                     const std::map<std::string, std::string>& env = {});
  bool Running();
  void Signal(int signal) const;
  // Waits for the exit: the exit code (128 + signal when killed), or kDeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace aiops::testing
