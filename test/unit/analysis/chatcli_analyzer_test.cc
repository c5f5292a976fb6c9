// The ChatCLI client against a ChatCLI-compatible AnalyzeIssue server started in-process on a
// loopback port, over TLS with a certificate generated for the test and a token check.
#include "server/analysis/chatcli_analyzer.h"

#include <chrono>
#include <map>
#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "server/analysis/prompt.h"
#include "server/analysis/text.h"
#include "test_servers.h"

namespace aiops::analysis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "s3cret-server-token";

class FakeChatCliService final : public chatcli::v1::ChatCLIService::Service {
 public:
  grpc::Status AnalyzeIssue(grpc::ServerContext* context,
                            const chatcli::v1::AnalyzeIssueRequest* request,
                            chatcli::v1::AnalyzeIssueResponse* response) override {
    const auto auth = context->client_metadata().find("authorization");
    if (auth == context->client_metadata().end() ||
        std::string(auth->second.data(), auth->second.size()) != std::string("Bearer ") + kToken) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid or missing token");
    }
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*request);
    }
    if (reply_delay > absl::ZeroDuration()) {
      absl::SleepFor(reply_delay);
    }
    *response = canned_response;
    return grpc::Status::OK;
  }

  std::vector<chatcli::v1::AnalyzeIssueRequest> Requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  chatcli::v1::AnalyzeIssueResponse canned_response;
  absl::Duration reply_delay = absl::ZeroDuration();

 private:
  mutable absl::Mutex mu_;
  std::vector<chatcli::v1::AnalyzeIssueRequest> requests_ ABSL_GUARDED_BY(mu_);
};

// One certificate for the whole binary: generating it costs a few milliseconds.
const testing::TestCertificate& Certificate() {
  static const testing::TestCertificate kCertificate = testing::MakeSelfSignedCertificate();
  return kCertificate;
}

class ChatCliAnalyzerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chatcli::v1::AnalyzeIssueResponse& r = service_.canned_response;
    r.set_analysis("Container app is OOMKilled at 256Mi.");
    r.set_confidence(0.87F);
    r.add_recommendations("Increase memory limit to 512Mi");
    r.set_model("claude-sonnet-4-5");
    r.set_provider("CLAUDEAI");
    chatcli::v1::SuggestedAction* adjust = r.add_suggested_actions();
    adjust->set_name("Raise memory");
    adjust->set_action("AdjustResources");
    adjust->set_description("more memory");
    (*adjust->mutable_params())["memory_limit"] = "512Mi";
    (*adjust->mutable_params())["container"] = "app";
    chatcli::v1::SuggestedAction* contain = r.add_suggested_actions();
    contain->set_action("ScaleDeployment");
    (*contain->mutable_params())["replicas"] = "0";
    r.add_suggested_actions()->set_action("ExecDiagnostic");
    StartServer(/*tls=*/true);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    }
  }

  void StartServer(bool tls) {
    std::shared_ptr<grpc::ServerCredentials> credentials;
    if (tls) {
      grpc::SslServerCredentialsOptions ssl;
      ssl.pem_key_cert_pairs.push_back({Certificate().key_pem, Certificate().cert_pem});
      credentials = grpc::SslServerCredentials(ssl);
    } else {
      credentials = grpc::InsecureServerCredentials();
    }
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  ChatCliOptions Options() const {
    ChatCliOptions options;
    options.target = "127.0.0.1:" + std::to_string(port_);
    options.tls = true;
    options.ca_pem = Certificate().cert_pem;
    options.token = kToken;
    options.provider = "CLAUDEAI";
    options.model = "claude-sonnet-4-5";
    options.deadline = absl::Seconds(10);
    return options;
  }

  static AnalysisRequest Request() {
    AnalysisRequest r;
    r.issue.set_name("api-oom-kill-1771276354");
    r.issue.mutable_resource()->set_kind("Deployment");
    r.issue.mutable_resource()->set_namespace_("production");
    r.issue.mutable_resource()->set_name("api");
    r.issue.set_signal_type("oom_kill");
    r.issue.set_severity("critical");
    r.issue.set_risk_score(85);
    r.issue.set_description("OOMKilled on api");
    r.attempt = 1;
    r.context = "Pod: api-1 phase=Running\n  LastTermination: reason=OOMKilled exitCode=137\n";
    return r;
  }

  FakeChatCliService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  testing::TickingClock clock_{absl::Milliseconds(40)};
};

TEST_F(ChatCliAnalyzerTest, AnalyzesOverTlsWithTheToken) {
  ChatCliAnalyzer analyzer(Options(), clock_);
  AnalysisRequest r = Request();
  r.attempt = 2;
  v1::AttemptFailure* f = r.previous_failures.Add();
  f->set_attempt(1);
  f->set_plan_name("api-oom-kill-1771276354-plan-1");
  f->set_failure("verification failed");
  f->add_actions()->set_type("RestartDeployment");
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(r);
  ASSERT_TRUE(a.ok()) << a.status();

  const std::vector<chatcli::v1::AnalyzeIssueRequest> requests = service_.Requests();
  ASSERT_EQ(requests.size(), 1U);
  const chatcli::v1::AnalyzeIssueRequest& req = requests[0];
  EXPECT_EQ(req.issue_name(), "api-oom-kill-1771276354");
  EXPECT_EQ(req.namespace_(), "production");
  EXPECT_EQ(req.resource_kind(), "Deployment");
  EXPECT_EQ(req.resource_name(), "api");
  EXPECT_EQ(req.signal_type(), "oom_kill");
  EXPECT_EQ(req.severity(), "critical");
  EXPECT_EQ(req.description(), "OOMKilled on api");
  EXPECT_EQ(req.risk_score(), 85);
  EXPECT_EQ(req.provider(), "CLAUDEAI");
  EXPECT_EQ(req.model(), "claude-sonnet-4-5");
  EXPECT_THAT(req.kubernetes_context(), HasSubstr("reason=OOMKilled"));
  EXPECT_THAT(req.previous_failure_context(),
              HasSubstr("Attempt 1 (plan api-oom-kill-1771276354-plan-1) FAILED"));
  EXPECT_THAT(req.previous_failure_context(), HasSubstr("Action: RestartDeployment"));

  EXPECT_EQ(a->issue_name(), "api-oom-kill-1771276354");
  EXPECT_EQ(a->attempt(), 2);
  EXPECT_EQ(a->analysis(), "Container app is OOMKilled at 256Mi.");
  EXPECT_FLOAT_EQ(a->confidence(), 0.87F);
  EXPECT_EQ(a->provider(), "chatcli");
  EXPECT_EQ(a->model(), "CLAUDEAI/claude-sonnet-4-5");
  EXPECT_EQ(a->latency_ms(), 40);
  EXPECT_GT(a->input_tokens(), 0);
  EXPECT_GT(a->output_tokens(), 0);
  ASSERT_EQ(a->suggested_actions_size(), 1);
  const v1::ActionSpec& adjust = a->suggested_actions(0);
  EXPECT_EQ(adjust.type(), "AdjustResources");
  ASSERT_EQ(adjust.params_size(), 2);
  EXPECT_EQ(adjust.params(0).key(), "container");  // sorted, whatever the map's order
  EXPECT_EQ(adjust.params(1).key(), "memory_limit");
  ASSERT_EQ(a->dropped_actions_size(), 2);
  EXPECT_THAT(a->dropped_actions(0).reason(), HasSubstr("containment"));
  EXPECT_THAT(a->dropped_actions(1).reason(), HasSubstr("not in the action catalogue"));
}

// The server's answer has no size cap of its own (up to the 16 MiB receive limit): every field
// that reaches AnalysisCompleted is cut to its bound, and each cut shows.
TEST_F(ChatCliAnalyzerTest, CutsAnOversizeAnswerWithAVisibleMarker) {
  chatcli::v1::AnalyzeIssueResponse& r = service_.canned_response;
  r.set_analysis(std::string(200'000, 'a'));
  r.clear_recommendations();
  r.add_recommendations(std::string(5000, 'r'));
  for (int i = 1; i < 30; ++i) {
    r.add_recommendations("check " + std::to_string(i));
  }
  r.set_model(std::string(1000, 'm'));
  r.mutable_suggested_actions(0)->set_description(std::string(5000, 'd'));
  for (int i = 0; i < 20; ++i) {
    r.add_suggested_actions()->set_action("ExecDiagnostic");
  }
  ChatCliAnalyzer analyzer(Options(), clock_);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  ASSERT_TRUE(a.ok()) << a.status();
  const auto ends_with_marker = [](const std::string& s) {
    const std::string_view marker = kTruncatedMarker;
    return s.size() >= marker.size() && s.substr(s.size() - marker.size()) == marker;
  };
  EXPECT_EQ(a->analysis().size(), kMaxAnalysisBytes);
  EXPECT_TRUE(ends_with_marker(a->analysis()));
  ASSERT_EQ(a->recommendations_size(), kMaxRecommendations);
  EXPECT_EQ(a->recommendations(0).size(), kMaxItemBytes);
  EXPECT_TRUE(ends_with_marker(a->recommendations(0)));
  EXPECT_EQ(a->recommendations(kMaxRecommendations - 1), "...[11 more recommendations not kept]");
  EXPECT_EQ(a->model().size(), kMaxNameBytes);  // "CLAUDEAI/mmm..."
  EXPECT_TRUE(ends_with_marker(a->model()));
  ASSERT_EQ(a->suggested_actions_size(), 1);
  EXPECT_EQ(a->suggested_actions(0).description().size(), kMaxItemBytes);
  EXPECT_TRUE(ends_with_marker(a->suggested_actions(0).description()));
  // 22 dropped (the scale to 0 and 21 ExecDiagnostic): 9 kept, then the marker entry.
  ASSERT_EQ(a->dropped_actions_size(), kMaxDroppedActions);
  EXPECT_EQ(a->dropped_actions(kMaxDroppedActions - 1).reason(),
            "...[13 more dropped actions not kept]");
  // Tokens count what was received, not what was kept.
  EXPECT_GT(a->output_tokens(), 200'000 / 4);
}

TEST_F(ChatCliAnalyzerTest, AWrongTokenIsUnauthenticatedWithAClearError) {
  ChatCliOptions options = Options();
  options.token = "wrong-token";
  ChatCliAnalyzer analyzer(options, clock_);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("chatcli: AnalyzeIssue failed"));
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("token"));
  EXPECT_TRUE(service_.Requests().empty());

  options.token.clear();
  ChatCliAnalyzer no_token(options, clock_);
  EXPECT_EQ(no_token.Analyze(Request()).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(ChatCliAnalyzerTest, AnUntrustedServerCertificateFails) {
  ChatCliOptions options = Options();
  options.ca_pem = testing::MakeSelfSignedCertificate().cert_pem;  // another CA
  options.deadline = absl::Seconds(5);
  ChatCliAnalyzer analyzer(options, clock_);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable) << a.status();
  EXPECT_TRUE(service_.Requests().empty());
}

TEST_F(ChatCliAnalyzerTest, ASlowServerHitsTheDeadline) {
  service_.reply_delay = absl::Milliseconds(800);
  ChatCliOptions options = Options();
  options.deadline = absl::Milliseconds(300);
  ChatCliAnalyzer analyzer(options, clock_);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("deadline"));
}

TEST_F(ChatCliAnalyzerTest, AnUnreachableServerIsUnavailable) {
  ChatCliOptions options = Options();
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  options.deadline = absl::Seconds(5);
  ChatCliAnalyzer analyzer(options, clock_);
  const absl::StatusOr<v1::AnalysisCompleted> a = analyzer.Analyze(Request());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("reachable"));
}

TEST_F(ChatCliAnalyzerTest, WorksWithoutTlsWhenTheInstanceDisablesIt) {
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  StartServer(/*tls=*/false);
  ChatCliOptions options = Options();
  options.tls = false;
  ChatCliAnalyzer analyzer(options, clock_);
  EXPECT_TRUE(analyzer.Analyze(Request()).ok());
}

TEST_F(ChatCliAnalyzerTest, RedactsAndCutsTheContextTo32000BytesOnAUtf8Boundary) {
  ChatCliAnalyzer analyzer(Options(), clock_);
  AnalysisRequest r = Request();
  r.context = "Authorization: Bearer planted-token\npassword: planted-password\n";
  for (int i = 0; i < 20'000; ++i) {
    r.context += "日";  // three bytes each
  }
  ASSERT_TRUE(analyzer.Analyze(r).ok());
  const std::string sent = service_.Requests().at(0).kubernetes_context();
  EXPECT_LE(sent.size(), 32'000U);
  EXPECT_TRUE(IsValidUtf8(sent));
  EXPECT_THAT(sent, HasSubstr("(context truncated)"));
  EXPECT_THAT(sent, Not(HasSubstr("planted")));
}

TEST_F(ChatCliAnalyzerTest, RefusesToCallWhenTheTokenBudgetIsSpent) {
  ChatCliOptions options = Options();
  options.token_budget_per_incident = 1'000;
  ChatCliAnalyzer analyzer(options, clock_);
  AnalysisRequest r = Request();
  r.tokens_spent = 1'000;
  EXPECT_EQ(analyzer.Analyze(r).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(service_.Requests().empty());
}

TEST(ChatCliOptionsTest, FromAnInstance) {
  ChatCliInstance instance;
  instance.name = "chatcli-prod";
  instance.namespace_name = "ops";
  instance.port = 50052;
  instance.tls_enabled = true;
  instance.ca_pem = "CA";
  instance.token = "tok";
  instance.provider = "CLAUDEAI";
  const ChatCliOptions options = ChatCliOptionsFromInstance(instance);
  EXPECT_EQ(options.target, "dns:///chatcli-prod.ops.svc.cluster.local:50052");
  EXPECT_TRUE(options.tls);
  EXPECT_EQ(options.ca_pem, "CA");
  EXPECT_EQ(options.token, "tok");
  EXPECT_EQ(options.provider, "CLAUDEAI");
  instance.port = 0;
  EXPECT_EQ(ChatCliOptionsFromInstance(instance).target,
            "dns:///chatcli-prod.ops.svc.cluster.local:50051");
}

TEST(ChatCliOptionsTest, ChannelArgumentsCarryKeepaliveBackoffAndRoundRobin) {
  ChatCliOptions options;
  options.tls_server_name = "localhost";
  grpc::ChannelArguments args = ChatCliChannelArguments(options);
  const grpc_channel_args c = args.c_channel_args();
  ASSERT_NE(c.args, nullptr);
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < c.num_args; ++i) {
    const grpc_arg& arg = c.args[i];
    if (arg.key == nullptr) {
      continue;
    }
    found[arg.key] = arg.type == GRPC_ARG_INTEGER ? std::to_string(arg.value.integer)
                     : arg.type == GRPC_ARG_STRING && arg.value.string != nullptr
                         ? std::string(arg.value.string)
                         : "<pointer>";
  }
  EXPECT_EQ(found[GRPC_ARG_KEEPALIVE_TIME_MS], "30000");
  EXPECT_EQ(found[GRPC_ARG_KEEPALIVE_TIMEOUT_MS], "5000");
  EXPECT_EQ(found[GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS], "1");
  EXPECT_EQ(found[GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS], "1000");
  EXPECT_EQ(found[GRPC_ARG_MAX_RECONNECT_BACKOFF_MS], "30000");
  EXPECT_THAT(found[GRPC_ARG_SERVICE_CONFIG], HasSubstr("round_robin"));
  EXPECT_EQ(found[GRPC_SSL_TARGET_NAME_OVERRIDE_ARG], "localhost");
}

}  // namespace
}  // namespace aiops::analysis
