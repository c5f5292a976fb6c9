#include "support/subprocess.h"

#include <cerrno>
#include <system_error>

#include <absl/strings/str_cat.h>
#include <absl/time/clock.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace aiops::testing {
namespace {

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
};

absl::StatusOr<Pipe> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", ErrnoText(errno)));
  }
  return Pipe{fds[0], fds[1]};
}

}  // namespace

// The parent's environment with `extra` added or overriding, as KEY=VALUE strings.
std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos) {
      env_map[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    }
  }
  for (const auto& [k, v] : extra) {
    env_map[k] = v;
  }
  std::vector<std::string> env_strings;
  env_strings.reserve(env_map.size());
  for (const auto& [k, v] : env_map) {
    env_strings.push_back(absl::StrCat(k, "=", v));
  }
  return env_strings;
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options) {
  if (argv.empty()) {
    return absl::InvalidArgumentError("RunProcess: empty argv");
  }
  std::vector<std::string> env_strings = ChildEnvironment(options.env);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  c_argv.reserve(args.size() + 1);
  for (std::string& a : args) {
    c_argv.push_back(a.data());
  }
  c_argv.push_back(nullptr);

  auto in = MakePipe();
  auto out = MakePipe();
  auto err = MakePipe();
  if (!in.ok() || !out.ok() || !err.ok()) {
    return absl::InternalError("RunProcess: could not create pipes");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in->read_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out->write_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err->write_fd, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, c_argv[0], &actions, nullptr, c_argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in->read_fd);
  close(out->write_fd);
  close(err->write_fd);
  if (rc != 0) {
    close(in->write_fd);
    close(out->read_fd);
    close(err->read_fd);
    return absl::NotFoundError(absl::StrCat("cannot start '", argv[0], "': ", ErrnoText(rc)));
  }

  // Feed stdin and drain both outputs without blocking on any one of them.
  ProcessResult result;
  size_t stdin_written = 0;
  int stdin_fd = in->write_fd;
  if (options.stdin_data.empty()) {
    close(stdin_fd);
    stdin_fd = -1;
  } else {
    fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  }
  const absl::Time deadline = absl::Now() + options.timeout;
  bool timed_out = false;
  int open_outputs = 2;
  pollfd fds[3] = {{out->read_fd, POLLIN, 0}, {err->read_fd, POLLIN, 0}, {stdin_fd, POLLOUT, 0}};
  char buf[16384];
  while (open_outputs > 0) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    const int n = poll(fds, 3, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t got = read(fds[i].fd, buf, sizeof(buf));
        if (got > 0) {
          (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          close(fds[i].fd);
          fds[i].fd = -1;
          --open_outputs;
        }
      }
    }
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t put = write(fds[2].fd, options.stdin_data.data() + stdin_written,
                                options.stdin_data.size() - stdin_written);
      if (put > 0) {
        stdin_written += static_cast<size_t>(put);
      }
      if (put < 0 || stdin_written == options.stdin_data.size()) {
        close(fds[2].fd);
        fds[2].fd = -1;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) {
      close(p.fd);
    }
  }
  if (timed_out) {
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "'", argv[0], "' did not finish within ", absl::FormatDuration(options.timeout),
        "; stdout: ", result.out, "; stderr: ", result.err));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && Running()) {
    Signal(SIGKILL);
    (void)Wait(absl::Seconds(10));
  }
}

absl::Status ChildProcess::Start(const std::vector<std::string>& argv, const std::string& log_path,
                                 const std::map<std::string, std::string>& env) {
  if (argv.empty()) {
    return absl::InvalidArgumentError("ChildProcess: empty argv");
  }
  std::vector<std::string> env_strings = ChildEnvironment(env);
  std::vector<char*> envp;
  for (std::string& e : env_strings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (std::string& a : args) {
    c_argv.push_back(a.data());
  }
  c_argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, c_argv[0], &actions, nullptr, c_argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot start ", argv[0], ": ", ErrnoText(rc)));
  }
  pid_ = pid;
  exit_code_ = -1;
  return absl::OkStatus();
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exit_code_ >= 0) {
    return false;
  }
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

void ChildProcess::Signal(int signal) const {
  if (pid_ > 0 && exit_code_ < 0) {
    kill(pid_, signal);
  }
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("process ", pid_, " still runs"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return exit_code_;
}

}  // namespace aiops::testing
