// The ChatCLI-compatible server on a real gRPC server on 127.0.0.1:0, called with the generated
// stub (as upstream's operator calls it) and with our own ChatCLI analyzer client: GetAlerts from
// the alert buffer with filters and upstream's upper-case severities, AnalyzeIssue through the
// built-in rules (including a retry with upstream's failure-context text), error codes, tokens,
// and Health.
#include "server/ingest/chatcli_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "chatcli_test_server.h"
#include "common/version.h"
#include "server/analysis/chatcli_analyzer.h"
#include "server/analysis/rules_analyzer.h"

namespace aiops::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kToken[] = "chatcli-server-token";

// Kubernetes context in the shape our context builder writes (docs/analysis.md).
std::string OomContext(bool new_revision) {
  std::string out =
      "## Deployment Status\nName: shop/cart\n"
      "Replicas: desired=3 ready=1 updated=3 available=1 unavailable=2\n"
      "Container: app image=registry/cart:v2 requests=[cpu=100m mem=128Mi] "
      "limits=[cpu=500m mem=256Mi]\n"
      "Condition: Available=False reason=MinimumReplicasUnavailable message=\"no\"\n"
      "\n## Pod Details (showing 1 pods)\nPod: cart-7d9f8-abcde phase=Running\n"
      "  Container: app ready=false restarts=5\n"
      "    LastTermination: reason=OOMKilled exitCode=137\n";
  if (new_revision) {
    out +=
        "\n## Revision History (last 2 revisions)\n"
        "Revision 5: replicas=0/3 [app=registry/cart:v2]\n"
        "  Changed: app image: registry/cart:v1 → registry/cart:v2\n"
        "Revision 4: replicas=0/0 [app=registry/cart:v1]\n";
  }
  return out;
}

v1::AlertObserved Alert(const std::string& type, const std::string& severity, const std::string& ns,
                        const std::string& deployment, int64_t at) {
  v1::AlertObserved a;
  a.set_type(type);
  a.set_severity(severity);
  a.set_message(fmt::format("{} on {}/{}", type, ns, deployment));
  a.set_object(deployment + "-5c7b9d4f6b-q8w2z");
  a.set_object_kind("Pod");
  a.set_namespace_(ns);
  a.set_deployment(deployment);
  a.set_timestamp_unix(at);
  a.set_source("detector");
  a.set_source_object_uid("uid-1");
  return a;
}

// Answers with a fixed error.
class FailingAnalyzer final : public analysis::Analyzer {
 public:
  explicit FailingAnalyzer(absl::Status error) : error_(std::move(error)) {}
  absl::StatusOr<v1::AnalysisCompleted> Analyze(const analysis::AnalysisRequest&) override {
    return error_;
  }
  std::string_view Name() const override { return "anthropic"; }

 private:
  absl::Status error_;
};

class ChatCliServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    buffer_.Add(Alert("OOMKilled", "critical", "shop", "cart", 1'700'000'100));
    buffer_.Add(Alert("PodNotReady", "warning", "shop", "checkout", 1'700'000'200));
    buffer_.Add(Alert("HighRestartCount", "info", "billing", "cart", 1'700'000'300));
    ChatCliServiceOptions options;
    options.token = kToken;
    options.serving = [this] { return serving_.load(); };
    server_ = std::make_unique<testing::ChatCliTestServer>(buffer_, rules_, options);
    ASSERT_TRUE(server_->ok());
    channel_ = grpc::CreateChannel(server_->target(), grpc::InsecureChannelCredentials());
    stub_ = chatcli::v1::ChatCLIService::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = kToken) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) {
      context->AddMetadata("authorization", "Bearer " + token);
    }
    return context;
  }

  std::vector<std::string> GetAlerts(const std::string& ns, const std::string& deployment) {
    chatcli::v1::GetAlertsRequest request;
    request.set_namespace_(ns);
    request.set_deployment(deployment);
    chatcli::v1::GetAlertsResponse response;
    const grpc::Status status = stub_->GetAlerts(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> out;
    for (const chatcli::v1::WatcherAlert& a : response.alerts()) {
      out.push_back(
          fmt::format("{} {} {}/{}", a.type(), a.severity(), a.namespace_(), a.deployment()));
    }
    return out;
  }

  static chatcli::v1::AnalyzeIssueRequest OomRequest() {
    chatcli::v1::AnalyzeIssueRequest r;
    r.set_issue_name("cart-oom-kill-1700000100");
    r.set_namespace_("shop");
    r.set_resource_kind("Deployment");
    r.set_resource_name("cart");
    r.set_signal_type("oom_kill");
    r.set_severity("critical");
    r.set_description("Auto-detected oom_kill anomaly: OOMKilled on cart");
    r.set_risk_score(85);
    r.set_provider("CLAUDEAI");
    r.set_model("claude-sonnet-4-5");
    r.set_kubernetes_context(OomContext(/*new_revision=*/false));
    return r;
  }

  common::FakeClock clock_;
  AlertBuffer buffer_{clock_};
  analysis::RulesAnalyzer rules_;
  std::atomic<bool> serving_{true};
  std::unique_ptr<testing::ChatCliTestServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chatcli::v1::ChatCLIService::Stub> stub_;
};

TEST_F(ChatCliServiceTest, GetAlertsServesTheBufferWithUpstreamSeveritiesAndFilters) {
  EXPECT_THAT(GetAlerts("", ""),
              ElementsAre("OOMKilled CRITICAL shop/cart", "PodNotReady WARNING shop/checkout",
                          "HighRestartCount INFO billing/cart"));
  EXPECT_THAT(GetAlerts("shop", ""),
              ElementsAre("OOMKilled CRITICAL shop/cart", "PodNotReady WARNING shop/checkout"));
  EXPECT_THAT(GetAlerts("", "cart"),
              ElementsAre("OOMKilled CRITICAL shop/cart", "HighRestartCount INFO billing/cart"));
  EXPECT_THAT(GetAlerts("billing", "cart"), ElementsAre("HighRestartCount INFO billing/cart"));
  EXPECT_TRUE(GetAlerts("nowhere", "").empty());

  chatcli::v1::GetAlertsResponse response;
  ASSERT_TRUE(stub_->GetAlerts(Context().get(), {}, &response).ok());
  ASSERT_EQ(response.alerts_size(), 3);
  const chatcli::v1::WatcherAlert& a = response.alerts(0);
  EXPECT_EQ(a.message(), "OOMKilled on shop/cart");
  EXPECT_EQ(a.object(), "cart-5c7b9d4f6b-q8w2z");
  EXPECT_EQ(a.timestamp_unix(), 1'700'000'100);
}

TEST_F(ChatCliServiceTest, CallsWithoutOrWithAWrongTokenAreUnauthenticated) {
  chatcli::v1::GetAlertsResponse alerts;
  grpc::Status status = stub_->GetAlerts(Context("").get(), {}, &alerts);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("authorization: Bearer"));
  status = stub_->GetAlerts(Context("not-the-token").get(), {}, &alerts);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(alerts.alerts_size(), 0);

  chatcli::v1::AnalyzeIssueResponse analysis;
  status = stub_->AnalyzeIssue(Context("").get(), OomRequest(), &analysis);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ChatCliServiceTest, HealthIsServingWithTheVersionAndOpenToProbes) {
  chatcli::v1::HealthResponse health;
  ASSERT_TRUE(stub_->Health(Context("").get(), {}, &health).ok());
  EXPECT_EQ(health.status(), chatcli::v1::HealthResponse::SERVING);
  EXPECT_EQ(health.version(), std::string(common::Version()));
  EXPECT_FALSE(health.version().empty());

  serving_ = false;
  ASSERT_TRUE(stub_->Health(Context().get(), {}, &health).ok());
  EXPECT_EQ(health.status(), chatcli::v1::HealthResponse::NOT_SERVING);
}

TEST_F(ChatCliServiceTest, AnalyzeIssueRunsTheBuiltInRulesAndAnswersInChatCliShape) {
  chatcli::v1::AnalyzeIssueResponse response;
  const grpc::Status status = stub_->AnalyzeIssue(Context().get(), OomRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(response.analysis(), HasSubstr("oom-raise-memory"));
  EXPECT_FLOAT_EQ(response.confidence(), 0.85F);
  EXPECT_FALSE(response.recommendations().empty());
  EXPECT_EQ(response.provider(), "builtin");
  EXPECT_EQ(response.model(), "rules-v1");
  ASSERT_EQ(response.suggested_actions_size(), 2);
  const chatcli::v1::SuggestedAction& adjust = response.suggested_actions(0);
  EXPECT_EQ(adjust.action(), "AdjustResources");
  EXPECT_FALSE(adjust.name().empty());
  EXPECT_THAT(adjust.params(),
              UnorderedElementsAre(Pair("container", "app"), Pair("memory_limit", "512Mi")));
  EXPECT_EQ(response.suggested_actions(1).action(), "RestartDeployment");
}

TEST_F(ChatCliServiceTest, ARetryWithUpstreamFailureContextChoosesADifferentStrategy) {
  chatcli::v1::AnalyzeIssueRequest request = OomRequest();
  request.set_kubernetes_context(OomContext(/*new_revision=*/true));
  // As upstream's operator writes the failure-context annotation (upstream reference §3.13).
  request.set_previous_failure_context(
      "Attempt 1 (state=Failed):\n"
      "Strategy: raise the memory limit\n"
      "Result: verification failed: pods still OOMKilled\n"
      "Action: AdjustResources params=map[container:app memory_limit:512Mi]\n"
      "Action: RestartDeployment params=map[]\n"
      "Evidence: [event] OOMKilled again\n\n");
  chatcli::v1::AnalyzeIssueResponse response;
  const grpc::Status status = stub_->AnalyzeIssue(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.suggested_actions_size(), 1);
  EXPECT_EQ(response.suggested_actions(0).action(), "RollbackDeployment");
}

TEST_F(ChatCliServiceTest, TheMinimalContextOfTheDocumentedExampleIsEnough) {
  chatcli::v1::AnalyzeIssueRequest request = OomRequest();  // docs/ingestion.md, grpcurl
  request.set_kubernetes_context(
      "Container: app image=cart:v2 limits=[cpu=500m mem=256Mi]\n"
      "    LastTermination: reason=OOMKilled exitCode=137\n");
  chatcli::v1::AnalyzeIssueResponse response;
  ASSERT_TRUE(stub_->AnalyzeIssue(Context().get(), request, &response).ok());
  ASSERT_GE(response.suggested_actions_size(), 1);
  EXPECT_EQ(response.suggested_actions(0).action(), "AdjustResources");
  EXPECT_EQ(response.suggested_actions(0).params().at("memory_limit"), "512Mi");
}

TEST_F(ChatCliServiceTest, BadRequestsAreInvalidArgument) {
  chatcli::v1::AnalyzeIssueResponse response;
  chatcli::v1::AnalyzeIssueRequest request = OomRequest();
  request.clear_issue_name();
  grpc::Status status = stub_->AnalyzeIssue(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("issue_name is required"));

  request = OomRequest();
  request.set_issue_name(std::string(kMaxIssueNameBytes + 1, 'x'));
  status = stub_->AnalyzeIssue(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("issue_name has 1025 bytes"));

  request = OomRequest();
  request.set_description(std::string(kMaxDescriptionBytes + 1, 'x'));
  status = stub_->AnalyzeIssue(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("description"));

  request = OomRequest();
  request.set_kubernetes_context(std::string(kMaxKubernetesContextBytes + 1, 'x'));
  status = stub_->AnalyzeIssue(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("kubernetes_context"));
}

TEST_F(ChatCliServiceTest, OurChatCliClientTalksToOurServer) {
  analysis::ChatCliOptions options;
  options.target = server_->target();
  options.tls = false;
  options.token = kToken;
  options.deadline = absl::Seconds(10);
  analysis::ChatCliAnalyzer client(options, clock_);
  analysis::AnalysisRequest request;
  request.issue.set_name("cart-oom-kill-1700000100");
  request.issue.mutable_resource()->set_kind("Deployment");
  request.issue.mutable_resource()->set_namespace_("shop");
  request.issue.mutable_resource()->set_name("cart");
  request.issue.set_signal_type("oom_kill");
  request.issue.set_severity("critical");
  request.context = OomContext(false);
  const absl::StatusOr<v1::AnalysisCompleted> result = client.Analyze(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->provider(), "chatcli");
  EXPECT_EQ(result->model(), "builtin/rules-v1");  // the server reports what answered
  ASSERT_EQ(result->suggested_actions_size(), 2);
  EXPECT_EQ(result->suggested_actions(0).type(), "AdjustResources");
}

// The server enforces the keepalive contract: a client pinging far more often than every 20 s
// is sent away (GOAWAY too_many_pings), so the channel leaves READY.
TEST_F(ChatCliServiceTest, AClientPingingTooOftenIsSentAway) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 100);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto channel =
      grpc::CreateCustomChannel(server_->target(), grpc::InsecureChannelCredentials(), args);
  auto stub = chatcli::v1::ChatCLIService::NewStub(channel);
  chatcli::v1::HealthResponse health;
  ASSERT_TRUE(stub->Health(Context().get(), {}, &health).ok());
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(channel->WaitForStateChange(
      GRPC_CHANNEL_READY, std::chrono::system_clock::now() + std::chrono::seconds(20)));
}

TEST(ChatCliServiceErrorsTest, AnalyzerErrorsBecomeGrpcCodesTheCallerCanActOn) {
  struct Case {
    absl::Status error;
    grpc::StatusCode code;
  };
  const std::vector<Case> cases = {
      {absl::DeadlineExceededError("timed out"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::UnavailableError("provider down"), grpc::StatusCode::UNAVAILABLE},
      {absl::ResourceExhaustedError("budget spent"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::InvalidArgumentError("answer.analysis: missing"), grpc::StatusCode::INTERNAL},
      {absl::UnauthenticatedError("bad API key"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::PermissionDeniedError("no access"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::FailedPreconditionError("no API key"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::InternalError("bug"), grpc::StatusCode::INTERNAL},
  };
  common::FakeClock clock;
  AlertBuffer buffer(clock);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error.ToString());
    FailingAnalyzer analyzer(c.error);
    testing::ChatCliTestServer server(buffer, analyzer, {});
    ASSERT_TRUE(server.ok());
    auto stub = chatcli::v1::ChatCLIService::NewStub(
        grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    chatcli::v1::AnalyzeIssueRequest request;
    request.set_issue_name("x");
    chatcli::v1::AnalyzeIssueResponse response;
    const grpc::Status status = stub->AnalyzeIssue(&context, request, &response);
    EXPECT_EQ(status.error_code(), c.code);
    EXPECT_THAT(status.error_message(), HasSubstr("analysis by the anthropic analyzer failed"));
    EXPECT_THAT(status.error_message(), HasSubstr(std::string(c.error.message())));
  }
}

TEST(ChatCliMappingTest, TheRequestMapsOntoTheIssueAndTheFailuresOntoAttempts) {
  chatcli::v1::AnalyzeIssueRequest r;
  r.set_issue_name("api-error-rate-1");
  r.set_namespace_("prod");
  r.set_resource_name("api");
  r.set_signal_type("error_rate");
  r.set_severity("high");
  r.set_description("errors");
  r.set_risk_score(65);
  r.set_kubernetes_context("ctx");
  r.set_previous_failure_context(
      "Attempt 1 (plan api-error-rate-1-plan-1) FAILED.\n"
      "Strategy: restart\n"
      "Result: verification failed\n"
      "Action: RestartDeployment params={}\n\n"
      "Attempt 2 (plan api-error-rate-1-plan-2) FAILED.\n"
      "Result: action failed\n"
      "Action: ScaleDeployment params={replicas=6, containment=false}\n");
  const analysis::AnalysisRequest a = ToAnalysisRequest(r);
  EXPECT_EQ(a.issue.name(), "api-error-rate-1");
  EXPECT_EQ(a.issue.resource().kind(), "Deployment");  // default
  EXPECT_EQ(a.issue.resource().namespace_(), "prod");
  EXPECT_EQ(a.issue.resource().name(), "api");
  EXPECT_EQ(a.issue.signal_type(), "error_rate");
  EXPECT_EQ(a.issue.severity(), "high");
  EXPECT_EQ(a.issue.risk_score(), 65);
  EXPECT_EQ(a.issue.description(), "errors");
  EXPECT_EQ(a.context, "ctx");
  EXPECT_EQ(a.attempt, 3);
  ASSERT_EQ(a.previous_failures.size(), 2);
  const v1::AttemptFailure& first = a.previous_failures[0];
  EXPECT_EQ(first.attempt(), 1);
  EXPECT_EQ(first.plan_name(), "api-error-rate-1-plan-1");
  EXPECT_EQ(first.strategy(), "restart");
  EXPECT_EQ(first.failure(), "verification failed");
  ASSERT_EQ(first.actions_size(), 1);
  EXPECT_EQ(first.actions(0).type(), "RestartDeployment");
  EXPECT_EQ(first.actions(0).params_size(), 0);
  const v1::AttemptFailure& second = a.previous_failures[1];
  ASSERT_EQ(second.actions_size(), 1);
  EXPECT_EQ(second.actions(0).type(), "ScaleDeployment");
  ASSERT_EQ(second.actions(0).params_size(), 2);
  EXPECT_EQ(second.actions(0).params(0).key(), "containment");  // sorted
  EXPECT_EQ(second.actions(0).params(1).key(), "replicas");
  EXPECT_EQ(second.actions(0).params(1).value(), "6");
}

TEST(ChatCliMappingTest, FailureContextInNoKnownShapeIsOneAttempt) {
  const auto failures = ParseFailureContext("the restart did not help\nstill crashing");
  ASSERT_EQ(failures.size(), 1);
  EXPECT_EQ(failures[0].attempt(), 1);
  EXPECT_EQ(failures[0].failure(), "the restart did not help\nstill crashing");
  EXPECT_TRUE(ParseFailureContext("  \n ").empty());
}

TEST(ChatCliMappingTest, UpstreamFailureContextKeepsStateResultAndEvidence) {
  const auto failures = ParseFailureContext(
      "Attempt 2 (state=RolledBack):\nResult: rollout timed out\nEvidence: [pod] Pending\n");
  ASSERT_EQ(failures.size(), 1);
  EXPECT_EQ(failures[0].attempt(), 2);
  EXPECT_EQ(failures[0].failure(), "rollout timed out (state=RolledBack)\nEvidence: [pod] Pending");
}

TEST(ChatCliMappingTest, WatcherAlertsCarryUpperCaseSeverities) {
  v1::AlertObserved a;
  a.set_severity("warning");
  EXPECT_EQ(ToWatcherAlert(a).severity(), "WARNING");
}

}  // namespace
}  // namespace aiops::ingest
