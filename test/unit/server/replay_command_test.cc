// `aiops replay` on a real log written by the runner; the pipeline config parser.
#include "server/replay_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eventlog/rocks_event_log.h"
#include "projections/naming.h"
#include "server/cli.h"
#include "server/pipeline_config.h"
#include "server/runner.h"
#include "support/test_dir.h"

namespace aiops::server {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Aiops(std::vector<std::string> args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(views, out, err);
  return {code, out.str(), err.str()};
}

v1::Event Input(int64_t t) {
  v1::Event e;
  e.set_logical_time_ms(t);
  e.set_producer("test");
  return e;
}

class ReplayCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = aiops::testing::FreshTestDir("replay-cmd");
    eventlog::RocksLogOptions options;
    options.path = dir_ + "/log";
    options.sync = false;
    auto log = eventlog::RocksEventLog::Open(options);
    ASSERT_TRUE(log.ok());
    auto runner = Runner::Start(**log);
    ASSERT_TRUE(runner.ok());
    // An incident from alert to resolution.
    v1::Event alert = Input(1'771'276'354'000);
    alert.mutable_alert_observed()->set_type("OOMKilled");
    alert.mutable_alert_observed()->set_deployment("api");
    alert.mutable_alert_observed()->set_namespace_("prod");
    ASSERT_TRUE((*runner)->Submit(alert).ok());
    std::string issue;
    (*runner)->ReadState(
        [&](const projections::PipelineState& s) { issue = s.issues.begin()->first; });
    v1::Event analysis = Input(1'771'276'355'000);
    analysis.mutable_analysis_completed()->set_issue_name(issue);
    analysis.mutable_analysis_completed()->set_attempt(1);
    analysis.mutable_analysis_completed()->add_suggested_actions()->set_type("RestartDeployment");
    ASSERT_TRUE((*runner)->Submit(analysis).ok());
    v1::Event done = Input(1'771'276'356'000);
    done.mutable_action_succeeded()->set_plan_name(issue + "-plan-1");
    ASSERT_TRUE((*runner)->Submit(done).ok());
    v1::Event verified = Input(1'771'276'357'000);
    verified.mutable_verification_passed()->set_plan_name(issue + "-plan-1");
    ASSERT_TRUE((*runner)->Submit(verified).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(ReplayCommandTest, RebuildsTheStateAndSummarizesIt) {
  const CliRun r = Aiops({"replay", "--dir", dir_ + "/log"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(4 inputs)"));
  EXPECT_THAT(r.out, HasSubstr("issues: 1 (Resolved 1)"));
  EXPECT_THAT(r.out, HasSubstr("plans: 1 (Completed 1)"));
  EXPECT_THAT(r.out, HasSubstr("state digest: "));
}

TEST_F(ReplayCommandTest, VerifyAuditsEveryDecision) {
  const CliRun r = Aiops({"replay", "--dir", dir_ + "/log", "--verify"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("verify: OK: all 4 inputs re-decided identically"));
}

TEST_F(ReplayCommandTest, UntilStopsEarly) {
  const CliRun r = Aiops({"replay", "--dir", dir_ + "/log", "--until", "3", "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(3, j["lastSequence"]);
  EXPECT_EQ(1, j["inputs"]);
}

TEST_F(ReplayCommandTest, APrunedLogIsReplayedFromTheStateSnapshot) {
  const CliRun full = Aiops({"replay", "--dir", dir_ + "/log", "--json"});
  ASSERT_EQ(kExitOk, full.code) << full.err;
  const nlohmann::json before = nlohmann::json::parse(full.out);
  // Prune the alert's batch, sequences 1-5 (the export keeps a snapshot of the state there).
  const CliRun pruned = Aiops({"log", "export", "--dir", dir_ + "/log", "--out",
                               dir_ + "/part.export", "--to", "5", "--prune"});
  ASSERT_EQ(kExitOk, pruned.code) << pruned.err;

  CliRun r = Aiops({"replay", "--dir", dir_ + "/log", "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_THAT(r.err, HasSubstr("starting from the state snapshot at sequence 5"));
  const nlohmann::json after = nlohmann::json::parse(r.out);
  EXPECT_EQ(before["stateDigest"], after["stateDigest"]);
  EXPECT_EQ(before["lastSequence"], after["lastSequence"]);
  r = Aiops({"replay", "--dir", dir_ + "/log", "--verify"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("verify: OK: all 3 inputs re-decided identically"));
  // --until before the snapshot: that state cannot be rebuilt any more.
  r = Aiops({"replay", "--dir", dir_ + "/log", "--until", "6"});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  r = Aiops({"replay", "--dir", dir_ + "/log", "--until", "4"});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("the history before sequence 6 was pruned and no usable snapshot"));
}

TEST_F(ReplayCommandTest, WhatIfShowsWhereADryRunConfigDecidesDifferently) {
  const std::string config = dir_ + "/dry.json";
  std::ofstream(config) << R"({"dryRun": {"global": true}})";
  const CliRun r = Aiops({"replay", "--dir", dir_ + "/log", "--what-if", config});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_THAT(r.out, HasSubstr("what-if: "));
  EXPECT_THAT(r.out, HasSubstr("issues: 1 (Escalated 1)"));
  EXPECT_THAT(r.out, HasSubstr("-> what-if ["));
}

// Issue #20.7: a log recorded under cluster id "prod", replayed --what-if with a file that
// changes nothing (no cluster id in it, or the daemon's own config file): no decision differs.
TEST(ReplayWhatIfTest, TheClusterIdIsNotADecisionAndTheDaemonConfigFileIsAccepted) {
  const std::string dir = aiops::testing::FreshTestDir("replay-whatif");
  {
    eventlog::RocksLogOptions options;
    options.path = dir + "/log";
    options.sync = false;
    auto log = eventlog::RocksEventLog::Open(options);
    ASSERT_TRUE(log.ok());
    auto runner = Runner::Start(**log);
    ASSERT_TRUE(runner.ok());
    v1::Event config = Input(1'771'276'353'000);
    v1::PipelineConfig pipeline = projections::DefaultPipelineConfig();
    pipeline.set_cluster_id("prod");
    *config.mutable_config_changed()->mutable_config() = pipeline;
    ASSERT_TRUE((*runner)->Submit(config).ok());
    v1::Event alert = Input(1'771'276'354'000);
    alert.mutable_alert_observed()->set_type("OOMKilled");
    alert.mutable_alert_observed()->set_deployment("api");
    alert.mutable_alert_observed()->set_namespace_("prod");
    ASSERT_TRUE((*runner)->Submit(alert).ok());
  }
  const std::string pipeline_only = dir + "/pipeline.json";
  std::ofstream(pipeline_only) << "{}";
  const std::string daemon = dir + "/daemon.json";
  std::ofstream(daemon) << R"({"dataDir": "/var/lib/chatcli-aiops",
                               "watcher": {"restartsMin": 3}, "pipeline": {}})";
  for (const std::string& file : {pipeline_only, daemon}) {
    SCOPED_TRACE(file);
    const CliRun r = Aiops({"replay", "--dir", dir + "/log", "--what-if", file});
    ASSERT_EQ(kExitOk, r.code) << r.err;
    EXPECT_THAT(r.out, HasSubstr("what-if: 0 of 2 inputs decided differently")) << r.out;
  }
  // A daemon config file that is wrong is refused naming what is wrong.
  std::ofstream(daemon) << R"({"dataDir": 3, "pipeline": {}})";
  const CliRun bad = Aiops({"replay", "--dir", dir + "/log", "--what-if", daemon});
  EXPECT_EQ(kExitFailure, bad.code);
  EXPECT_THAT(bad.err, HasSubstr("\"dataDir\" must be a string"));
  std::filesystem::remove_all(dir);
}

TEST_F(ReplayCommandTest, BadUsageAndBadConfigsAreClearErrors) {
  EXPECT_EQ(kExitUsage, Aiops({"replay"}).code);
  EXPECT_THAT(Aiops({"replay", "--dir", "x", "--until", "soon"}).err,
              HasSubstr("'--until' needs an unsigned integer"));
  EXPECT_THAT(Aiops({"replay", "--dir", "x", "--bogus"}).err, HasSubstr("unknown flag '--bogus'"));
  const std::string config = dir_ + "/bad.json";
  std::ofstream(config) << R"({"dryRun": {"globl": true}})";
  const CliRun r = Aiops({"replay", "--dir", dir_ + "/log", "--what-if", config});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_THAT(r.err, HasSubstr("globl"));
  EXPECT_THAT(Aiops({"replay", "--dir", dir_ + "/missing"}).err, HasSubstr("no event log"));
}

TEST(PipelineConfigTest, OverlaysDefaultsAndValidates) {
  auto config = ParsePipelineConfig(
      R"({"maxRemediationAttempts": 5, "safety": {"deniedNamespaces": ["kube-system"]},
          "riskWeights": [{"signal": "latency", "weight": 15}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(5, config->max_remediation_attempts());
  EXPECT_EQ(600'000, config->correlation_window_ms());  // default kept
  EXPECT_EQ(10, config->safety().max_concurrent_per_cluster());
  ASSERT_EQ(1, config->safety().denied_namespaces_size());
  ASSERT_EQ(1, config->risk_weights_size());  // a list replaces the default list
  EXPECT_EQ("latency", config->risk_weights(0).signal());

  EXPECT_THAT(std::string(ParsePipelineConfig("{").status().message()), HasSubstr("not valid"));
  EXPECT_THAT(std::string(ParsePipelineConfig("{\n \"dedupTtlMs\": 1,,\n}").status().message()),
              HasSubstr("not valid JSON: at line 2, column"));
  EXPECT_THAT(std::string(ParsePipelineConfig(R"({"severityHighMin": 90})").status().message()),
              HasSubstr("critical > high > medium"));
  EXPECT_THAT(
      std::string(ParsePipelineConfig(R"({"verificationWindowMs": -5})").status().message()),
      HasSubstr("verificationWindowMs must be positive"));
  EXPECT_EQ(absl::StatusCode::kNotFound, LoadPipelineConfig("/nonexistent.json").status().code());
}

}  // namespace
}  // namespace aiops::server
