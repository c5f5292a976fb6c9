// The fallback chain: the configured analyzer's usable answer is returned as is; an error, a
// time-out, a spent budget or an unusable answer gives the built-in rules' answer with
// fallback=true and the reason.
#include "server/analysis/fallback_analyzer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/analysis/http_llm_analyzer.h"
#include "server/analysis/rules_analyzer.h"
#include "server/analysis/text.h"
#include "test_servers.h"

namespace aiops::analysis {
namespace {

using ::testing::HasSubstr;
using testing::ScriptedAnalyzer;

AnalysisRequest Request() {
  AnalysisRequest r;
  r.issue.set_name("api-oom-kill-1771276354");
  r.issue.mutable_resource()->set_kind("Deployment");
  r.issue.mutable_resource()->set_namespace_("production");
  r.issue.mutable_resource()->set_name("api");
  r.issue.set_signal_type("oom_kill");
  r.issue.set_severity("high");
  r.attempt = 1;
  testing::ContextSpec spec;
  spec.last_termination = "OOMKilled";
  r.context = testing::MakeContext(spec);
  return r;
}

v1::AnalysisCompleted Usable() {
  v1::AnalysisCompleted a;
  a.set_analysis("from the provider");
  a.set_provider("anthropic");
  a.add_suggested_actions()->set_type("RestartDeployment");
  return a;
}

TEST(FallbackAnalyzerTest, AUsableAnswerIsReturnedAsIs) {
  common::FakeClock clock;
  auto primary = std::make_unique<ScriptedAnalyzer>("anthropic", Usable());
  FallbackAnalyzer analyzer(std::move(primary), std::make_unique<RulesAnalyzer>(), clock);
  EXPECT_EQ(analyzer.Name(), "anthropic");
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->analysis(), "from the provider");
  EXPECT_FALSE(a->fallback());
  EXPECT_EQ(a->fallback_reason(), "");
}

TEST(FallbackAnalyzerTest, AnErrorFallsBackToTheBuiltinRulesWithTheReason) {
  testing::TickingClock clock(absl::Milliseconds(100));
  absl::Status error = absl::InvalidArgumentError("anthropic: answer is not valid JSON");
  AttachTokenUsage(error, {700, 9});
  auto primary = std::make_unique<ScriptedAnalyzer>("anthropic", error);
  FallbackAnalyzer analyzer(std::move(primary), std::make_unique<RulesAnalyzer>(), clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->fallback());
  EXPECT_THAT(a->fallback_reason(), HasSubstr("anthropic failed: INVALID_ARGUMENT"));
  EXPECT_THAT(a->fallback_reason(), HasSubstr("not valid JSON"));
  EXPECT_EQ(a->provider(), "builtin");
  EXPECT_EQ(a->model(), "rules-v1");
  EXPECT_EQ(a->suggested_actions(0).type(), "AdjustResources");
  EXPECT_EQ(a->input_tokens(), 700);  // the failed call's tokens count against the budget
  EXPECT_EQ(a->output_tokens(), 9);
  EXPECT_EQ(a->latency_ms(), 100);
  // The failing provider is reported (a warning, the aiops_edge_failing metric), not only
  // recorded in each analysis.
  EXPECT_TRUE(analyzer.health().failing());
  EXPECT_EQ(analyzer.health().name(), "analyzer anthropic");
  EXPECT_THAT(analyzer.health().snapshot().last_error, HasSubstr("not valid JSON"));
}

TEST(FallbackAnalyzerTest, AnUnusableAnswerFallsBackAndKeepsItsDroppedActions) {
  common::FakeClock clock;
  v1::AnalysisCompleted empty;
  empty.set_provider("openai");
  empty.set_input_tokens(500);
  empty.set_output_tokens(20);
  v1::DroppedAction* dropped = empty.add_dropped_actions();
  dropped->mutable_action()->set_type("Custom");
  dropped->set_reason("Custom actions are always blocked");
  auto primary = std::make_unique<ScriptedAnalyzer>("openai", empty);
  FallbackAnalyzer analyzer(std::move(primary), std::make_unique<RulesAnalyzer>(), clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->fallback());
  EXPECT_THAT(a->fallback_reason(), HasSubstr("openai answered nothing usable"));
  ASSERT_EQ(a->dropped_actions_size(), 1);
  EXPECT_EQ(a->dropped_actions(0).reason(), "openai: Custom actions are always blocked");
  EXPECT_EQ(a->input_tokens(), 500);
  EXPECT_GT(a->suggested_actions_size(), 0);
}

TEST(FallbackAnalyzerTest, ASlowProviderTimesOutAndTheBuiltinRulesAnswer) {
  testing::FakeHttpServer server;
  server.Enqueue({200, "{}", {}, absl::Seconds(10)});
  HttpLlmOptions options;
  options.base_url = server.BaseUrl();
  options.api_key = "test-key";
  options.read_timeout = absl::Milliseconds(300);
  common::FakeClock clock;
  FallbackAnalyzer analyzer(std::make_unique<AnthropicAnalyzer>(options, clock),
                            std::make_unique<RulesAnalyzer>(), clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->fallback());
  EXPECT_THAT(a->fallback_reason(), HasSubstr("anthropic failed: DEADLINE_EXCEEDED"));
  EXPECT_EQ(a->provider(), "builtin");
  EXPECT_EQ(a->suggested_actions(0).type(), "AdjustResources");
}

TEST(FallbackAnalyzerTest, ASpentBudgetFallsBackWithoutCalling) {
  testing::FakeHttpServer server;
  HttpLlmOptions options;
  options.base_url = server.BaseUrl();
  options.api_key = "test-key";
  options.token_budget_per_incident = 5'000;
  common::FakeClock clock;
  FallbackAnalyzer analyzer(std::make_unique<OpenAiAnalyzer>(options, clock),
                            std::make_unique<RulesAnalyzer>(), clock);
  AnalysisRequest r = Request();
  r.tokens_spent = 6'000;
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(r);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->fallback());
  EXPECT_THAT(a->fallback_reason(), HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(a->fallback_reason(), HasSubstr("token budget"));
  EXPECT_TRUE(server.Requests().empty());
}

TEST(FallbackAnalyzerTest, AMalformedProviderAnswerFallsBack) {
  testing::FakeHttpServer server;
  server.Enqueue({200, R"({"choices":[{"message":{"content":"no JSON here"}}],
                           "usage":{"prompt_tokens":800,"completion_tokens":4}})"});
  HttpLlmOptions options;
  options.base_url = server.BaseUrl();
  common::FakeClock clock;
  FallbackAnalyzer analyzer(std::make_unique<OpenAiAnalyzer>(options, clock),
                            std::make_unique<RulesAnalyzer>(), clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->fallback());
  EXPECT_THAT(a->fallback_reason(), HasSubstr("openai failed: INVALID_ARGUMENT"));
  EXPECT_EQ(a->input_tokens(), 800);
  EXPECT_EQ(a->output_tokens(), 4);
}

// An answer over the 64 KiB cap cannot be parsed whole, so it is rejected, and the built-in
// answer records why (with the size and the answer's start, cut with the marker).
TEST(FallbackAnalyzerTest, AnOversizeProviderAnswerFallsBackWithTheReason) {
  testing::FakeHttpServer server;
  const std::string answer = R"({"analysis": ")" + std::string(100'000, 'a') + R"("})";
  nlohmann::json body;
  body["choices"] = nlohmann::json::array({{{"message", {{"content", answer}}}}});
  body["usage"] = {{"prompt_tokens", 800}, {"completion_tokens", 25'000}};
  server.Enqueue({200, body.dump()});
  HttpLlmOptions options;
  options.base_url = server.BaseUrl();
  common::FakeClock clock;
  FallbackAnalyzer analyzer(std::make_unique<OpenAiAnalyzer>(options, clock),
                            std::make_unique<RulesAnalyzer>(), clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->fallback());
  EXPECT_EQ(a->provider(), "builtin");
  EXPECT_THAT(a->fallback_reason(),
              HasSubstr("openai failed: INVALID_ARGUMENT: openai: answer is 100016 bytes, over "
                        "the 65536 byte limit: rejected unparsed"));
  EXPECT_THAT(a->fallback_reason(), HasSubstr(std::string("aaa") + kTruncatedMarker));
  EXPECT_EQ(a->output_tokens(), 25'000);  // billed, so counted against the budget
}

TEST(FallbackAnalyzerTest, FailsOnlyWhenTheBuiltinFailsToo) {
  common::FakeClock clock;
  FallbackAnalyzer analyzer(
      std::make_unique<ScriptedAnalyzer>("chatcli", absl::UnavailableError("down")),
      std::make_unique<ScriptedAnalyzer>("builtin", absl::InternalError("broken")), clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("chatcli failed: UNAVAILABLE"));
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("broken"));
}

}  // namespace
}  // namespace aiops::analysis
