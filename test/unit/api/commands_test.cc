// The CLI over the API, run in-process against a live server (and offline on the log folder):
// `aiops incident list|show`, `aiops approve|reject`, `aiops log tail --server`.
#include "server/api/commands.h"

#include <cstdio>
#include <sstream>
#include <streambuf>
#include <thread>

#include <absl/synchronization/mutex.h>
#include <absl/time/clock.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api_harness.h"
#include "server/cli.h"
#include <stdlib.h>

namespace aiops::api::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int code = 0;
  std::string out;
  std::string err;
};

class CommandsTest : public ApiHarness {
 protected:
  void SetUp() override {
    ApiHarness::SetUp();
    token_file_ = dir_ + "/token";
    std::FILE* f = std::fopen(token_file_.c_str(), "w");
    std::fputs(kToken, f);
    std::fputs("\n", f);
    std::fclose(f);
    unsetenv(kTokenEnv);
  }

  Result Aiops(std::vector<std::string> args, bool with_server = true) {
    if (with_server) {
      args.insert(args.end(), {"--server", address(), "--token-file", token_file_});
    }
    std::vector<std::string_view> views(args.begin(), args.end());
    std::ostringstream out;
    std::ostringstream err;
    Result r;
    r.code = server::RunCli(views, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  std::string token_file_;
};

TEST_F(CommandsTest, IncidentListPrintsATableOrJson) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  Result r = Aiops({"incident", "list"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("NAME"));
  EXPECT_THAT(r.out, HasSubstr("Deployment/production/api-gateway"));
  EXPECT_THAT(r.out, HasSubstr("Deployment/payments/billing"));
  EXPECT_THAT(r.out, HasSubstr("Analyzing"));

  r = Aiops({"incident", "list", "--namespace", "payments", "--json"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  const nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  ASSERT_EQ(1U, json["incidents"].size());
  EXPECT_EQ("billing", json["incidents"][0]["resource"]["name"]);

  r = Aiops({"incident", "list", "--state", "Resolved"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("no incidents in state Resolved"));

  r = Aiops({"incident", "list", "--state", "Sleeping"});
  EXPECT_EQ(server::kExitUsage, r.code);
  EXPECT_THAT(r.err, HasSubstr("Sleeping"));
}

TEST_F(CommandsTest, IncidentShowPrintsTheTimelineWithCauses) {
  const std::string issue = OpenIssueWaitingForApproval();
  Result r = Aiops({"incident", "show", issue});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Issue " + issue));
  EXPECT_THAT(r.out, HasSubstr(issue + "-plan-1  WaitingApproval  RestartDeployment"));
  EXPECT_THAT(r.out, HasSubstr("Timeline ("));
  EXPECT_THAT(r.out, HasSubstr("alert HighRestartCount (warning) on production/api-gateway"));
  EXPECT_THAT(r.out, HasSubstr("approval of " + issue + "-plan-1 requested"));
  EXPECT_THAT(r.out, HasSubstr("← caused by #"));

  r = Aiops({"incident", "show", issue, "--json"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  const nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded());
  EXPECT_EQ(issue, json["issue"]["name"]);
  EXPECT_FALSE(json["timeline"].empty());

  r = Aiops({"incident", "show", "nope"});
  EXPECT_EQ(server::kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("no incident 'nope'"));

  r = Aiops({"incident", "show"});
  EXPECT_EQ(server::kExitUsage, r.code);
  EXPECT_THAT(r.err, HasSubstr("which incident?"));
}

TEST_F(CommandsTest, IncidentCommandsWorkOfflineOnTheLogFolder) {
  const std::string issue = OpenIssueWaitingForApproval();
  // The runner still holds the log read-write: the CLI opens it read-only beside it.
  Result r = Aiops({"incident", "list", "--data-dir", dir_ + "/log"}, /*with_server=*/false);
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr(issue));
  EXPECT_THAT(r.out, HasSubstr(issue + "-plan-1 (WaitingApproval)"));
  r = Aiops({"incident", "show", issue, "--data-dir", dir_ + "/log"}, /*with_server=*/false);
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("← caused by #"));
  // Same text as through the server.
  const Result online = Aiops({"incident", "show", issue});
  EXPECT_EQ(online.out, r.out);

  r = Aiops({"incident", "list", "--data-dir", dir_ + "/missing"}, /*with_server=*/false);
  EXPECT_EQ(server::kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("aiops incident list:"));
}

TEST_F(CommandsTest, ApproveAndRejectGoThroughTheApi) {
  const std::string issue = OpenIssueWaitingForApproval();
  const std::string plan = issue + "-plan-1";
  Result r = Aiops({"approve", plan, "--approver", "carol", "--reason", "go"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("approved plan " + plan + " as carol"));
  EXPECT_THAT(r.out, HasSubstr("the plan is now Executing"));
  EXPECT_EQ("carol", Plan(plan).approver());

  r = Aiops({"reject", plan, "--approver", "dave"});
  EXPECT_EQ(server::kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("not WaitingApproval"));

  r = Aiops({"approve", "ghost-plan-1", "--approver", "carol"});
  EXPECT_EQ(server::kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("ghost-plan-1"));

  r = Aiops({"approve"});
  EXPECT_EQ(server::kExitUsage, r.code);
  EXPECT_THAT(r.err, HasSubstr("which plan?"));
}

TEST_F(CommandsTest, TheTokenComesFromTheEnvironmentAndAWrongOneIsReported) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  Result r = Aiops({"incident", "list", "--server", address()}, /*with_server=*/false);
  EXPECT_EQ(server::kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("refused the call"));
  EXPECT_THAT(r.err, HasSubstr("AIOPS_TOKEN"));

  setenv(kTokenEnv, kToken, 1);
  r = Aiops({"incident", "list", "--server", address()}, /*with_server=*/false);
  unsetenv(kTokenEnv);
  EXPECT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("api-gateway"));
}

TEST_F(CommandsTest, AnUnreachableServerIsReported) {
  StopServer();
  const Result r = Aiops({"incident", "list"});
  EXPECT_EQ(server::kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the operator at " + address()));
}

TEST_F(CommandsTest, LogTailThroughTheServerPrintsLikeTheLocalTail) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  const uint64_t last = log_->LastSequence();
  Result r = Aiops({"log", "tail", "--from", "1"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_EQ(last, static_cast<uint64_t>(std::count(r.out.begin(), r.out.end(), '\n')));
  EXPECT_THAT(r.out, HasSubstr("alert_observed"));
  EXPECT_THAT(r.out, HasSubstr("issue_opened"));

  r = Aiops({"log", "tail", "--limit", "2", "--json"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<uint64_t> sequences;
  while (std::getline(lines, line)) {
    const nlohmann::json json = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << line;
    sequences.push_back(std::stoull(json["sequence"].get<std::string>()));
  }
  EXPECT_EQ((std::vector<uint64_t>{last - 1, last}), sequences);

  r = Aiops({"log", "tail", "--from", "2", "--limit", "3"});
  ASSERT_EQ(server::kExitOk, r.code) << r.err;
  EXPECT_EQ(3, std::count(r.out.begin(), r.out.end(), '\n'));

  r = Aiops({"log", "tail", "--from", "x"});
  EXPECT_EQ(server::kExitUsage, r.code);
}

// An ostream whose contents can be read while another thread writes.
class SharedBuffer : public std::streambuf {
 public:
  std::string Contents() {
    absl::MutexLock lock(&mu_);
    return data_;
  }

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      absl::MutexLock lock(&mu_);
      data_.push_back(static_cast<char>(c));
    }
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    absl::MutexLock lock(&mu_);
    data_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  absl::Mutex mu_;
  std::string data_;
};

TEST_F(CommandsTest, LogTailFollowPrintsNewEventsUntilStopped) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  SharedBuffer buffer;
  std::ostream out(&buffer);
  std::ostringstream err;
  int code = -1;
  const std::vector<std::string> args = {"log",      "tail",    "--follow",     "--limit",  "1",
                                         "--server", address(), "--token-file", token_file_};
  std::thread tail([&] {
    std::vector<std::string_view> views(args.begin(), args.end());
    code = server::RunCli(views, out, err);
  });
  auto wait_for = [&](const std::string& text) {
    for (int i = 0; i < 200 && buffer.Contents().find(text) == std::string::npos; ++i) {
      absl::SleepFor(absl::Milliseconds(25));
    }
    return buffer.Contents().find(text) != std::string::npos;
  };
  EXPECT_TRUE(wait_for("analysis_requested"));  // the last event before the call
  ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  EXPECT_TRUE(wait_for("OOMKilled"));
  RequestRemoteTailStop();
  tail.join();
  EXPECT_EQ(server::kExitOk, code) << err.str();
  EXPECT_THAT(buffer.Contents(), Not(HasSubstr("HighRestartCount")));  // only the last one
}

TEST_F(CommandsTest, HelpListsTheNewCommands) {
  const Result r = Aiops({"--help"}, /*with_server=*/false);
  EXPECT_THAT(r.out, HasSubstr("incident"));
  EXPECT_THAT(r.out, HasSubstr("approve"));
  EXPECT_THAT(r.out, HasSubstr("reject"));
  const Result incident = Aiops({"incident", "--help"}, /*with_server=*/false);
  EXPECT_EQ(server::kExitOk, incident.code);
  EXPECT_THAT(incident.out, HasSubstr("--data-dir"));
}

}  // namespace
}  // namespace aiops::api::testing
