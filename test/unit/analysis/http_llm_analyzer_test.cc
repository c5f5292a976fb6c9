// Contract tests of the Anthropic and OpenAI-compatible clients against in-process fake servers:
// the exact request shape and headers, error handling (401, 429 + Retry-After, 5xx, malformed
// answers, time-outs, unreachable servers), the token budget, HTTPS with a private CA, and
// redaction of planted secrets before anything leaves.
#include "server/analysis/http_llm_analyzer.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "test_servers.h"
#include <unistd.h>

namespace aiops::analysis {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using testing::FakeHttpServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

AnalysisRequest Request() {
  AnalysisRequest r;
  r.issue.set_name("api-pod-restart-1771276354");
  r.issue.mutable_resource()->set_kind("Deployment");
  r.issue.mutable_resource()->set_namespace_("production");
  r.issue.mutable_resource()->set_name("api");
  r.issue.set_signal_type("pod_restart");
  r.issue.set_severity("high");
  r.issue.set_risk_score(65);
  r.issue.set_description("HighRestartCount on api");
  r.attempt = 1;
  r.context = "## Deployment Status\nReplicas: desired=3 ready=1\n";
  return r;
}

std::string AnthropicBody(const std::string& text, int64_t in = 1234, int64_t out = 56) {
  return json{{"id", "msg_01"},
              {"type", "message"},
              {"role", "assistant"},
              {"model", "claude-sonnet-4-5-20250929"},
              {"content", json::array({{{"type", "text"}, {"text", text}}})},
              {"stop_reason", "end_turn"},
              {"usage", {{"input_tokens", in}, {"output_tokens", out}}}}
      .dump();
}

std::string OpenAiBody(const std::string& text, bool usage = true) {
  json body = {{"id", "chatcmpl-1"},
               {"object", "chat.completion"},
               {"model", "gpt-4o-mini-2024-07-18"},
               {"choices", json::array({{{"index", 0},
                                         {"message", {{"role", "assistant"}, {"content", text}}},
                                         {"finish_reason", "stop"}}})}};
  if (usage) {
    body["usage"] = {{"prompt_tokens", 900}, {"completion_tokens", 40}, {"total_tokens", 940}};
  }
  return body.dump();
}

// Options for a fake server: fast time-outs, waits recorded instead of slept.
struct Harness {
  explicit Harness(const testing::TestCertificate* cert = nullptr) : server(cert) {
    options.base_url = server.BaseUrl();
    options.api_key = "test-key";
    options.model = "test-model";
    options.connect_timeout = absl::Seconds(2);
    options.read_timeout = absl::Seconds(5);
    options.sleep = [this](absl::Duration d) { sleeps.push_back(d); };
  }
  FakeHttpServer server;
  HttpLlmOptions options;
  std::vector<absl::Duration> sleeps;
  testing::TickingClock clock{absl::Milliseconds(250)};
};

// ---------------------------------------------------------------------------------------------
// Anthropic

TEST(AnthropicAnalyzerTest, SendsTheMessagesRequestWithItsHeaders) {
  Harness h;
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();

  const std::vector<FakeHttpServer::Request> requests = h.server.Requests();
  ASSERT_EQ(requests.size(), 1U);
  const FakeHttpServer::Request& req = requests[0];
  EXPECT_EQ(req.path, "/v1/messages");
  const auto header = [&](const char* key) {
    const auto it = req.headers.find(key);
    return it == req.headers.end() ? std::string("<absent>") : it->second;
  };
  EXPECT_EQ(header("x-api-key"), "test-key");
  EXPECT_EQ(header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(header("Content-Type"), "application/json");
  EXPECT_EQ(header("Authorization"), "<absent>");

  const json body = json::parse(req.body);
  std::vector<std::string> keys;
  for (const auto& [key, value] : body.items()) {
    keys.push_back(key);
  }
  EXPECT_THAT(keys, ElementsAre("max_tokens", "messages", "model", "system"));
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["max_tokens"], 2048);
  EXPECT_THAT(body["system"].get<std::string>(), HasSubstr("RollbackDeployment"));
  ASSERT_EQ(body["messages"].size(), 1U);
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_THAT(body["messages"][0]["content"].get<std::string>(),
              HasSubstr("api-pod-restart-1771276354"));
  EXPECT_THAT(body["messages"][0]["content"].get<std::string>(),
              HasSubstr("Replicas: desired=3 ready=1"));

  EXPECT_EQ(a->provider(), "anthropic");
  EXPECT_EQ(a->model(), "claude-sonnet-4-5-20250929");
  EXPECT_EQ(a->input_tokens(), 1234);
  EXPECT_EQ(a->output_tokens(), 56);
  EXPECT_EQ(a->latency_ms(), 250);  // two readings of a clock that ticks 250 ms per reading
  EXPECT_EQ(a->issue_name(), "api-pod-restart-1771276354");
  EXPECT_EQ(a->attempt(), 1);
  EXPECT_EQ(a->analysis(), "The pods hold a stale connection pool.");
  EXPECT_FLOAT_EQ(a->confidence(), 0.8F);
  ASSERT_EQ(a->suggested_actions_size(), 1);
  EXPECT_EQ(a->suggested_actions(0).type(), "RestartDeployment");
  EXPECT_FALSE(a->fallback());
  EXPECT_THAT(h.sleeps, IsEmpty());
}

TEST(AnthropicAnalyzerTest, Unauthorized401IsAClearErrorAndIsNotRetried) {
  Harness h;
  h.server.Enqueue(
      {401,
       R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})"});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("HTTP 401"));
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("invalid x-api-key"));
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("API key"));
  EXPECT_THAT(std::string(a.status().message()), Not(HasSubstr("test-key")));
  EXPECT_EQ(h.server.Requests().size(), 1U);
  EXPECT_THAT(h.sleeps, IsEmpty());
}

TEST(AnthropicAnalyzerTest, RateLimited429IsRetriedAfterRetryAfter) {
  Harness h;
  h.server.Enqueue({429,
                    R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})",
                    {{"Retry-After", "2"}}});
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(h.server.Requests().size(), 2U);
  EXPECT_THAT(h.sleeps, ElementsAre(absl::Seconds(2)));
}

TEST(AnthropicAnalyzerTest, ARetryAfterBeyondTheLimitEndsTheCall) {
  Harness h;
  h.server.Enqueue({429, "{}", {{"Retry-After", "3600"}}});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("Retry-After"));
  EXPECT_EQ(h.server.Requests().size(), 1U);
  EXPECT_THAT(h.sleeps, IsEmpty());
}

TEST(AnthropicAnalyzerTest, ServerErrorsAreRetriedWithExponentialBackoff) {
  Harness h;
  h.server.Enqueue({500, R"({"error":{"type":"api_error","message":"boom"}})"});
  h.server.Enqueue({529, R"({"error":{"type":"overloaded_error","message":"busy"}})"});
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(h.server.Requests().size(), 3U);
  EXPECT_THAT(h.sleeps, ElementsAre(absl::Milliseconds(500), absl::Seconds(1)));
}

TEST(AnthropicAnalyzerTest, GivesUpAfterTheLastTry) {
  Harness h;
  for (int i = 0; i < 3; ++i) {
    h.server.Enqueue({503, R"({"error":{"type":"api_error","message":"down"}})"});
  }
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("HTTP 503"));
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("after 3 tries"));
  EXPECT_EQ(h.server.Requests().size(), 3U);
  EXPECT_EQ(h.sleeps.size(), 2U);
}

TEST(AnthropicAnalyzerTest, AMalformedAnswerIsInvalidArgumentAndCarriesItsTokens) {
  Harness h;
  h.server.Enqueue({200, AnthropicBody("I think the pod is sick, restart it.", 700, 9)});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("anthropic: answer is not valid JSON"));
  const TokenUsage usage = TokenUsageOf(a.status());
  EXPECT_EQ(usage.input_tokens, 700);
  EXPECT_EQ(usage.output_tokens, 9);
}

TEST(AnthropicAnalyzerTest, AResponseWithoutContentIsInvalidArgument) {
  Harness h;
  h.server.Enqueue({200, R"({"type":"message","content":[]})"});
  h.server.Enqueue({200, "<html>proxy error</html>"});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  EXPECT_THAT(std::string(analyzer.Analyze(Request()).status().message()),
              HasSubstr("no content[0].text"));
  EXPECT_THAT(std::string(analyzer.Analyze(Request()).status().message()),
              HasSubstr("not a JSON object"));
}

TEST(AnthropicAnalyzerTest, ASlowAnswerTimesOut) {
  Harness h;
  h.options.read_timeout = absl::Milliseconds(300);
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson()), {}, absl::Seconds(10)});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("read time-out"));
  EXPECT_EQ(h.server.Requests().size(), 1U);  // not retried
}

// The deadline bounds the whole call: a retry whose wait would reach it is not made. The waits
// advance a fake clock, so the call's time is the waits it planned.
TEST(AnthropicAnalyzerTest, RetriesStopAtTheCallsDeadline) {
  Harness h;
  common::FakeClock clock;
  h.options.sleep = [&](absl::Duration d) {
    h.sleeps.push_back(d);
    clock.Advance(d);
  };
  h.options.max_attempts = 5;
  h.options.deadline = absl::Seconds(2);
  for (int i = 0; i < 5; ++i) {
    h.server.Enqueue({503, R"({"error":{"type":"api_error","message":"down"}})"});
  }
  AnthropicAnalyzer analyzer(h.options, clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("HTTP 503"));
  EXPECT_THAT(std::string(a.status().message()),
              HasSubstr("after 3 of 5 tries: waiting 2s for the next would pass the 2s deadline"));
  // 0.5 s and 1 s were waited (1.5 s); the third wait (2 s) would end at 3.5 s.
  EXPECT_THAT(h.sleeps, ElementsAre(absl::Milliseconds(500), absl::Seconds(1)));
  EXPECT_EQ(h.server.Requests().size(), 3U);
}

// A try's read time-out is cut to what is left of the deadline.
TEST(AnthropicAnalyzerTest, ASlowAnswerIsCutAtTheCallsDeadline) {
  Harness h;
  common::FakeClock clock;
  h.options.read_timeout = absl::Seconds(30);
  h.options.deadline = absl::Milliseconds(400);
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson()), {}, absl::Seconds(10)});
  AnthropicAnalyzer analyzer(h.options, clock);
  const absl::Time begin = absl::Now();
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(a.status().message()),
              HasSubstr("within the 400ms read time-out (the rest of the 400ms deadline"));
  // Not the 30 s read time-out (a generous bound: the machine may be loaded).
  EXPECT_LT(absl::Now() - begin, absl::Seconds(9));
}

TEST(AnthropicAnalyzerTest, AnUnreachableServerIsUnavailableAfterRetries) {
  int port = 0;
  {
    FakeHttpServer closed;  // take a free port, then release it
    port = std::stoi(closed.BaseUrl().substr(closed.BaseUrl().rfind(':') + 1));
  }
  Harness h;
  h.options.base_url = "http://127.0.0.1:" + std::to_string(port);
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("cannot reach"));
  EXPECT_EQ(h.sleeps.size(), 2U);
}

TEST(AnthropicAnalyzerTest, RefusesToCallWhenTheTokenBudgetIsSpent) {
  Harness h;
  h.options.token_budget_per_incident = 10'000;
  AnthropicAnalyzer analyzer(h.options, h.clock);
  AnalysisRequest r = Request();
  r.tokens_spent = 10'000;
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(r);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("token budget"));
  EXPECT_THAT(h.server.Requests(), IsEmpty());
}

TEST(AnthropicAnalyzerTest, ClampsMaxTokensToTheRemainingBudget) {
  Harness h;
  h.options.token_budget_per_incident = 10'000;
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  AnalysisRequest r = Request();
  r.tokens_spent = 8'500;
  ASSERT_TRUE(analyzer.Analyze(r).ok());
  const int64_t max_tokens = json::parse(h.server.Requests()[0].body)["max_tokens"];
  EXPECT_LT(max_tokens, 1'500);
  EXPECT_GE(max_tokens, kMinAnswerTokens);
}

TEST(AnthropicAnalyzerTest, WithoutAKeyItFailsBeforeCalling) {
  Harness h;
  h.options.api_key.clear();
  h.options.api_key_env = "AIOPS_TEST_NO_SUCH_KEY_VARIABLE";
  AnthropicAnalyzer analyzer(h.options, h.clock);
  EXPECT_FALSE(analyzer.HasApiKey());
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("AIOPS_TEST_NO_SUCH_KEY_VARIABLE"));
  EXPECT_THAT(h.server.Requests(), IsEmpty());
}

TEST(AnthropicAnalyzerTest, ReadsTheKeyFromTheEnvironmentAtConstruction) {
  Harness h;
  h.options.api_key.clear();
  h.options.api_key_env = "AIOPS_TEST_ANTHROPIC_KEY";
  // The test runs single-threaded here; no other thread reads the environment.
  ASSERT_EQ(setenv("AIOPS_TEST_ANTHROPIC_KEY", "env-key", 1), 0);  // NOLINT(concurrency-mt-unsafe)
  AnthropicAnalyzer analyzer(h.options, h.clock);
  // Read once, at construction: a later change does not matter.
  ASSERT_EQ(unsetenv("AIOPS_TEST_ANTHROPIC_KEY"), 0);  // NOLINT(concurrency-mt-unsafe)
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  ASSERT_TRUE(analyzer.Analyze(Request()).ok());
  EXPECT_EQ(h.server.Requests()[0].headers.find("x-api-key")->second, "env-key");
}

TEST(AnthropicAnalyzerTest, KeepsABaseUrlPathPrefix) {
  Harness h;
  h.options.base_url = h.server.BaseUrl() + "/anthropic/";
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  ASSERT_TRUE(analyzer.Analyze(Request()).ok());
  EXPECT_EQ(h.server.Requests()[0].path, "/anthropic/v1/messages");
}

TEST(AnthropicAnalyzerTest, PlantedSecretsNeverReachTheProvider) {
  Harness h;
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  AnalysisRequest r = Request();
  r.issue.set_description("crash after rotating password: hunter2-desc");
  r.context +=
      "Container: app image=registry/api:v2 args=[--db-password=hunter2-arg]\n"
      "    env: ANTHROPIC_API_KEY=sk-ant-api03-PLANTEDPLANTEDPLANTED\n"
      "Warning Failed: probe got 401 for Authorization: Bearer planted-bearer-token\n"
      "-----BEGIN PRIVATE KEY-----\nPLANTEDKEYMATERIAL\n-----END PRIVATE KEY-----\n"
      "apiVersion: v1\ndata:\n  db-pass: cGxhbnRlZC1iYXNlNjQ=\nkind: Secret\n";
  v1::AttemptFailure* f = r.previous_failures.Add();
  f->set_attempt(1);
  f->set_failure("patch failed: token: planted-failure-token");
  r.attempt = 2;
  ASSERT_TRUE(analyzer.Analyze(r).ok());
  const std::string body = h.server.Requests()[0].body;
  for (const char* secret : {"hunter2", "PLANTED", "planted-bearer-token", "PLANTEDKEYMATERIAL",
                             "cGxhbnRlZC1iYXNlNjQ=", "planted-failure-token"}) {
    EXPECT_THAT(body, Not(HasSubstr(secret))) << secret;
  }
  EXPECT_THAT(body, HasSubstr("[REDACTED]"));
}

TEST(AnthropicAnalyzerTest, WorksOverHttpsWithAPrivateCa) {
  const testing::TestCertificate cert = testing::MakeSelfSignedCertificate();
  const std::filesystem::path ca =
      std::filesystem::temp_directory_path() / ("aiops-analysis-ca-" + std::to_string(getpid()));
  std::ofstream(ca) << cert.cert_pem;
  Harness h(&cert);
  h.options.ca_cert_path = ca.string();
  h.server.Enqueue({200, AnthropicBody(testing::ValidAnswerJson())});
  AnthropicAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_TRUE(a.ok()) << a.status();

  // Without the CA the server is not trusted.
  h.options.ca_cert_path.clear();
  AnthropicAnalyzer untrusting(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> b = untrusting.Analyze(Request());
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(h.server.Requests().size(), 1U);
  std::filesystem::remove(ca);
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible

TEST(OpenAiAnalyzerTest, SendsTheChatCompletionsRequestWithABearerKey) {
  Harness h;
  h.server.Enqueue({200, OpenAiBody(testing::ValidAnswerJson())});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  const std::vector<FakeHttpServer::Request> requests = h.server.Requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  EXPECT_EQ(requests[0].headers.find("Authorization")->second, "Bearer test-key");
  EXPECT_EQ(requests[0].headers.find("Content-Type")->second, "application/json");
  EXPECT_EQ(requests[0].headers.count("x-api-key"), 0U);
  const json body = json::parse(requests[0].body);
  std::vector<std::string> keys;
  for (const auto& [key, value] : body.items()) {
    keys.push_back(key);
  }
  EXPECT_THAT(keys, ElementsAre("messages", "model", "temperature"));
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["temperature"], 0);
  ASSERT_EQ(body["messages"].size(), 2U);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_THAT(body["messages"][0]["content"].get<std::string>(), HasSubstr("AdjustResources"));
  EXPECT_EQ(body["messages"][1]["role"], "user");
  EXPECT_THAT(body["messages"][1]["content"].get<std::string>(), HasSubstr("pod_restart"));

  EXPECT_EQ(a->provider(), "openai");
  EXPECT_EQ(a->model(), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(a->input_tokens(), 900);
  EXPECT_EQ(a->output_tokens(), 40);
  EXPECT_EQ(a->latency_ms(), 250);
}

TEST(OpenAiAnalyzerTest, ServesKeylessLocalServersAndEstimatesMissingUsage) {
  Harness h;
  h.options.api_key.clear();
  h.options.api_key_env = "AIOPS_TEST_NO_SUCH_KEY_VARIABLE";
  h.server.Enqueue({200, OpenAiBody("```json\n" + testing::ValidAnswerJson() + "\n```", false)});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(h.server.Requests()[0].headers.count("Authorization"), 0U);
  EXPECT_GT(a->input_tokens(), 100);  // estimated from the prompt
  EXPECT_GT(a->output_tokens(), 10);
}

TEST(OpenAiAnalyzerTest, Unauthorized401IsAClearErrorAndIsNotRetried) {
  Harness h;
  h.server.Enqueue(
      {401,
       R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})"});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("openai: HTTP 401"));
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("Incorrect API key provided"));
  EXPECT_EQ(h.server.Requests().size(), 1U);
}

TEST(OpenAiAnalyzerTest, RateLimited429ThenSuccess) {
  Harness h;
  h.server.Enqueue({429, R"({"error":{"message":"Rate limit reached"}})", {{"Retry-After", "1"}}});
  h.server.Enqueue({200, OpenAiBody(testing::ValidAnswerJson())});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  ASSERT_TRUE(analyzer.Analyze(Request()).ok());
  EXPECT_THAT(h.sleeps, ElementsAre(absl::Seconds(1)));
}

TEST(OpenAiAnalyzerTest, ServerError500ThenSuccess) {
  Harness h;
  h.server.Enqueue({500, R"({"error":"model runner crashed"})"});  // llama.cpp-style error
  h.server.Enqueue({200, OpenAiBody(testing::ValidAnswerJson())});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  ASSERT_TRUE(analyzer.Analyze(Request()).ok());
  EXPECT_THAT(h.sleeps, ElementsAre(absl::Milliseconds(500)));
}

TEST(OpenAiAnalyzerTest, AMalformedAnswerIsInvalidArgument) {
  Harness h;
  h.server.Enqueue({200, OpenAiBody(R"({"analysis": ["not", "a", "string"]})")});
  h.server.Enqueue({200, R"({"choices":[{"message":{"role":"assistant","content":null}}]})"});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("'analysis' must be a string"));
  EXPECT_THAT(std::string(analyzer.Analyze(Request()).status().message()),
              HasSubstr("no choices[0].message.content"));
}

TEST(OpenAiAnalyzerTest, ASlowAnswerTimesOut) {
  Harness h;
  h.options.read_timeout = absl::Milliseconds(300);
  h.server.Enqueue({200, OpenAiBody(testing::ValidAnswerJson()), {}, absl::Seconds(10)});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  EXPECT_EQ(analyzer.Analyze(Request()).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(OpenAiAnalyzerTest, ScreensTheActionsOfTheAnswer) {
  Harness h;
  h.server.Enqueue({200, OpenAiBody(R"({"analysis": "bad release", "confidence": 2,
      "actions": [{"action": "ScaleDeployment", "params": {"replicas": "0"}},
                  {"action": "Custom", "params": {"cmd": "x"}},
                  {"action": "RollbackDeployment", "params": {"toRevision": "previous"}}]})")});
  OpenAiAnalyzer analyzer(h.options, h.clock);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FLOAT_EQ(a->confidence(), 1.0F);
  ASSERT_EQ(a->suggested_actions_size(), 1);
  EXPECT_EQ(a->suggested_actions(0).type(), "RollbackDeployment");
  EXPECT_EQ(a->dropped_actions_size(), 2);
}

}  // namespace
}  // namespace aiops::analysis
