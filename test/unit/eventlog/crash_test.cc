// Kills a child that appends with synced group commit (SIGKILL at random moments, 50 rounds) and
// checks after each reopen: every acknowledged append is present, the log is dense and the hash
// chain verifies. AIOPS_SEED reproduces a run.
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#include <absl/time/clock.h>
#include <gtest/gtest.h>

#include "eventlog/rocks_event_log.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace aiops::eventlog {
namespace {

struct Acked {
  uint64_t max_last = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
};

// Runs the child for `run_for`, then SIGKILLs it; returns the acknowledgements it printed.
Acked RunAndKill(const std::string& dir, unsigned seed, absl::Duration run_for) {
  int fds[2];
  EXPECT_EQ(0, pipe2(fds, O_CLOEXEC));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::string child = AIOPS_CRASH_CHILD;
  std::string seed_text = std::to_string(seed);
  std::string dir_copy = dir;
  char* argv[] = {child.data(), dir_copy.data(), seed_text.data(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(0, posix_spawn(&pid, child.c_str(), &actions, nullptr, argv, environ));
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);

  std::string output;
  const absl::Time kill_at = absl::Now() + run_for;
  char buf[4096];
  for (;;) {
    const absl::Duration left = kill_at - absl::Now();
    if (left <= absl::ZeroDuration()) {
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) > 0) {
      const ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) {
        break;  // the child died on its own: the test fails below on its exit status
      }
      output.append(buf, static_cast<size_t>(n));
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child exited by itself (status " << status << ")";
  // Whatever the child wrote before dying was acknowledged; drain the pipe.
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
    output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);

  Acked acked;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof()) {
      break;  // a line cut by the kill is not an acknowledgement
    }
    uint64_t first = 0;
    uint64_t last = 0;
    std::istringstream(line) >> first >> last;
    acked.ranges.emplace_back(first, last);
    acked.max_last = std::max(acked.max_last, last);
  }
  return acked;
}

TEST(EventLogCrashTest, AcknowledgedAppendsSurviveSigkillAndTheLogStaysDenseAndChained) {
  const char* seed_env = std::getenv("AIOPS_SEED");
  const unsigned seed = seed_env != nullptr
                            ? static_cast<unsigned>(std::stoul(seed_env))
                            : static_cast<unsigned>(absl::ToUnixMicros(absl::Now()));
  SCOPED_TRACE(::testing::Message() << "AIOPS_SEED=" << seed);
  std::mt19937 rng(seed);
  const std::string dir =
      (std::filesystem::path(::testing::TempDir()) / ("crash-log-" + std::to_string(getpid())))
          .string();
  std::filesystem::remove_all(dir);

  constexpr int kRounds = 50;
  uint64_t acknowledged_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const auto run_for = absl::Milliseconds(std::uniform_int_distribution<int>(20, 250)(rng));
    const Acked acked = RunAndKill(dir, seed + static_cast<unsigned>(round), run_for);
    acknowledged_total += acked.ranges.size();

    RocksLogOptions options;
    options.path = dir;
    options.open_check = RocksLogOptions::OpenCheck::kChain;
    auto log = RocksEventLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_GE((*log)->LastSequence(), acked.max_last);
    for (const auto& [first, last] : acked.ranges) {
      auto records = (*log)->ReadRaw(first, last - first + 1);
      ASSERT_TRUE(records.ok()) << records.status();
      ASSERT_EQ(last - first + 1, records->size()) << "acknowledged range " << first << "-" << last;
    }
    auto report = VerifyLog(**log);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ((*log)->LastSequence(), report->records);
  }
  EXPECT_GT(acknowledged_total, 0U) << "the child never acknowledged an append";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aiops::eventlog
