#include "support/subprocess.h"

#include <gtest/gtest.h>

#include <signal.h>

namespace aiops::testing {
namespace {

TEST(SubprocessTest, CapturesStdoutStderrAndExitCode) {
  auto r = RunProcess({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(3, r->exit_code);
  EXPECT_EQ("out\n", r->out);
  EXPECT_EQ("err\n", r->err);
}

TEST(SubprocessTest, FeedsStdinAndPassesEnvironment) {
  ProcessOptions options;
  options.stdin_data = std::string(200'000, 'x');  // larger than a pipe buffer
  options.env["AIOPS_SUBPROCESS_TEST"] = "42";
  auto r = RunProcess({"sh", "-c", "wc -c; echo $AIOPS_SUBPROCESS_TEST"}, options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ("200000\n42\n", r->out);
}

TEST(SubprocessTest, ReportsSignalsAsExitCodeAbove128) {
  auto r = RunProcess({"sh", "-c", "kill -9 $$"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(128 + SIGKILL, r->exit_code);
}

TEST(SubprocessTest, KillsTheChildOnTimeout) {
  ProcessOptions options;
  options.timeout = absl::Milliseconds(200);
  auto r = RunProcess({"sleep", "30"}, options);
  EXPECT_EQ(absl::StatusCode::kDeadlineExceeded, r.status().code());
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  auto r = RunProcess({"/nonexistent/aiops-no-such-program"});
  EXPECT_EQ(absl::StatusCode::kNotFound, r.status().code()) << r.status();
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, RunProcess({}).status().code());
}

}  // namespace
}  // namespace aiops::testing
