#include "common/edge_health.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "support/captured_log.h"

namespace aiops::common {
namespace {

using testing::CapturedLog;

EdgeHealth::Options On(FakeClock& clock) {
  EdgeHealth::Options options;
  options.clock = &clock;
  options.component = "kube";
  return options;
}

TEST(EdgeHealthTest, TheFirstFailureIsAWarningWithItsCauseThenRemindersThenTheRecovery) {
  FakeClock clock;
  CapturedLog log;
  EdgeHealth edge("apiserver", On(clock));
  edge.Success();
  EXPECT_TRUE(log.Lines().empty()) << "a healthy edge is quiet";

  edge.Failure(absl::UnavailableError("connect to https://127.0.0.1:1: refused"));
  for (int i = 0; i < 20; ++i) {
    clock.Advance(absl::Seconds(2));
    edge.Failure(absl::UnavailableError("connect to https://127.0.0.1:1: refused"));
  }
  clock.Advance(absl::Seconds(30));  // 70 s after the first failure
  edge.Failure(absl::DeadlineExceededError("timed out"));
  ASSERT_TRUE(edge.failing());
  clock.Advance(absl::Seconds(5));
  edge.Success();
  EXPECT_FALSE(edge.failing());

  const std::vector<nlohmann::json> lines = log.Lines();
  ASSERT_EQ(3u, lines.size()) << log.Lines().size();
  EXPECT_EQ("warn", lines[0]["level"]);
  EXPECT_EQ("kube", lines[0]["component"]);
  EXPECT_EQ("apiserver", lines[0]["edge"]);
  EXPECT_EQ("UNAVAILABLE: connect to https://127.0.0.1:1: refused", lines[0]["cause"]);
  EXPECT_NE(std::string::npos, lines[0]["msg"].get<std::string>().find("failing"));
  // One reminder after a minute (at 60 s), naming the count.
  EXPECT_NE(std::string::npos, lines[1]["msg"].get<std::string>().find("still failing after 1m"))
      << lines[1];
  EXPECT_EQ("22", lines[2]["failures"]);
  EXPECT_NE(std::string::npos, lines[2]["msg"].get<std::string>().find("recovered after 1m15s"))
      << lines[2];
  EXPECT_EQ("DEADLINE_EXCEEDED: timed out", lines[2]["last_cause"]);

  const EdgeHealth::Snapshot s = edge.snapshot();
  EXPECT_EQ(22u, s.failures);
  EXPECT_EQ(2u, s.successes);
  EXPECT_FALSE(s.failing);
}

TEST(EdgeHealthTest, AFlappingEdgeWritesOneLinePerIntervalAndCountsWhatItDidNotSay) {
  FakeClock clock;
  CapturedLog log;
  EdgeHealth edge("watch pods", On(clock));
  for (int i = 0; i < 10; ++i) {  // fail and recover every second for 10 s
    edge.Failure(absl::UnavailableError("reset"));
    clock.Advance(absl::Milliseconds(500));
    edge.Success();
    clock.Advance(absl::Milliseconds(500));
  }
  clock.Advance(absl::Seconds(30));
  edge.Failure(absl::UnavailableError("reset again"));

  const std::vector<nlohmann::json> lines = log.Lines();
  // failing, recovered, then (after the interval) failing again with the changes not said.
  ASSERT_EQ(3u, lines.size());
  EXPECT_NE(std::string::npos, lines[1]["msg"].get<std::string>().find("recovered"));
  EXPECT_EQ("18", lines[2]["unlogged_changes"]) << lines[2];
  EXPECT_EQ(11u, edge.snapshot().failures);
}

TEST(EdgeHealthTest, APermanentFailureIsAnErrorSaidAtOnceEvenWithinTheInterval) {
  FakeClock clock;
  CapturedLog log;
  EdgeHealth edge("watch deployments", On(clock));
  edge.Failure(absl::UnavailableError("reset"));
  clock.Advance(absl::Seconds(1));
  edge.Failure(absl::PermissionDeniedError("deployments.apps is forbidden"), /*permanent=*/true);
  clock.Advance(absl::Seconds(1));
  edge.Failure(absl::PermissionDeniedError("deployments.apps is forbidden"), /*permanent=*/true);

  const std::vector<nlohmann::json> lines = log.Lines();
  ASSERT_EQ(2u, lines.size());
  EXPECT_EQ("warn", lines[0]["level"]);
  EXPECT_EQ("error", lines[1]["level"]);
  EXPECT_NE(std::string::npos, lines[1]["msg"].get<std::string>().find("retrying cannot fix it"));
  EXPECT_TRUE(edge.snapshot().permanent);
}

TEST(EdgeHealthTest, AllListsTheLiveEdgesByName) {
  FakeClock clock;
  CapturedLog log;
  auto b = std::make_unique<EdgeHealth>("test-b", On(clock));
  EdgeHealth a("test-a", On(clock));
  b->Failure(absl::InternalError("x"));
  std::vector<std::string> names;
  bool b_failing = false;
  for (const EdgeHealth::Snapshot& s : EdgeHealth::All()) {
    names.push_back(s.name);
    b_failing = b_failing || (s.name == "test-b" && s.failing);
  }
  EXPECT_EQ((std::vector<std::string>{"test-a", "test-b"}), names);
  EXPECT_TRUE(b_failing);
  b.reset();
  ASSERT_EQ(1u, EdgeHealth::All().size());
}

}  // namespace
}  // namespace aiops::common
