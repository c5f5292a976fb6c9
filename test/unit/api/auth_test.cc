// The shared gRPC server: bearer-token auth on every service (ours and any other registered),
// TLS, server reflection, and clear errors for bad options.
#include <sstream>

#include <gmock/gmock.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>
#include <gtest/gtest.h>

#include "api_harness.h"
#include "chatcli/v1/chatcli.grpc.pb.h"
#include "common/log.h"
#include "server/analysis/rules_analyzer.h"
#include "server/ingest/alert_buffer.h"
#include "server/ingest/chatcli_service.h"
#include "server/json_log.h"
#include "unit/analysis/test_servers.h"

namespace aiops::api::testing {
namespace {

using ::testing::HasSubstr;

class AuthTest : public ApiHarness {};

grpc::Status List(v1::AiopsService::Stub& stub, grpc::ClientContext* context) {
  v1::ListIncidentsResponse response;
  return stub.ListIncidents(context, {}, &response);
}

TEST(BearerTokenTest, MatchesOnlyTheExactTokenWithTheBearerScheme) {
  EXPECT_TRUE(BearerTokenMatches("Bearer abc", "abc"));
  EXPECT_TRUE(BearerTokenMatches("bearer abc", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Bearer abd", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Bearer abc ", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Bearer ab", "abc"));
  EXPECT_FALSE(BearerTokenMatches("Basic abc", "abc"));
  EXPECT_FALSE(BearerTokenMatches("abc", "abc"));
  EXPECT_FALSE(BearerTokenMatches("", "abc"));
  EXPECT_TRUE(BearerTokenMatches("", ""));  // no token configured: no check
}

TEST_F(AuthTest, MissingOrWrongTokensAreUnauthenticatedAndTheRightOneIsAccepted) {
  grpc::ClientContext none;
  grpc::Status status = List(*stub_, &none);
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("missing bearer token"));

  status = List(*stub_, Context("not-the-token").get());
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("invalid bearer token"));

  grpc::ClientContext basic;
  basic.AddMetadata("authorization", std::string("Basic ") + kToken);
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED, List(*stub_, &basic).error_code());

  EXPECT_TRUE(List(*stub_, Context().get()).ok());
}

TEST_F(AuthTest, AnUnauthenticatedAppendOrApprovalChangesNothing) {
  const uint64_t before = log_->LastSequence();
  v1::AppendRequest request;
  v1::AlertObserved* a = request.add_events()->mutable_alert_observed();
  a->set_type("OOMKilled");
  a->set_namespace_("shop");
  v1::AppendResponse response;
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED,
            stub_->Append(Context("wrong").get(), request, &response).error_code());
  v1::ApprovalDecisionResponse decision;
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED,
            stub_->Approve(Context("").get(), v1::ApprovalDecision(), &decision).error_code());
  EXPECT_EQ(before, log_->LastSequence());
}

TEST_F(AuthTest, AnEmptyTokenDisablesTheCheck) {
  StartServer("");
  grpc::ClientContext none;
  EXPECT_TRUE(List(*stub_, &none).ok());
}

// Calls grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with list_services and
// returns the service names (the messages are encoded by hand: gRPC ships no reflection stubs).
std::vector<std::string> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                      const std::string& token, grpc::Status& status) {
  grpc::ClientContext context;
  if (!token.empty()) {
    context.AddMetadata("authorization", "Bearer " + token);
  }
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel.get(), method, &context));
  const std::string request("\x3a\x00", 2);  // field 7 (list_services): ""
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  std::vector<std::string> names;
  if (stream->Write(buffer)) {
    stream->WritesDone();
    grpc::ByteBuffer reply;
    if (stream->Read(&reply)) {
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(reply.Dump(&slices).ok());
      std::string bytes;
      for (const grpc::Slice& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
      google::protobuf::UnknownFieldSet response;
      EXPECT_TRUE(response.ParseFromString(bytes));
      for (int i = 0; i < response.field_count(); ++i) {
        if (response.field(i).number() != 6) {  // list_services_response
          continue;
        }
        google::protobuf::UnknownFieldSet list;
        EXPECT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
        for (int j = 0; j < list.field_count(); ++j) {
          google::protobuf::UnknownFieldSet service;
          EXPECT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
          names.push_back(service.field(0).length_delimited());
        }
      }
    }
  }
  status = stream->Finish();
  return names;
}

TEST_F(AuthTest, ReflectionListsTheServicesToAuthenticatedClients) {
  auto channel = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  grpc::Status status;
  const std::vector<std::string> names = ListServices(channel, kToken, status);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(names, ::testing::Contains("aiops.v1.AiopsService"));
  EXPECT_THAT(names, ::testing::Contains("grpc.reflection.v1alpha.ServerReflection"));

  ListServices(channel, "", status);
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED, status.error_code());
}

TEST(ReflectionTest, ReflectionCanBeTurnedOff) {
  AiopsServiceImpl service{ApiDeps()};  // registered, never called
  for (const bool enabled : {true, false}) {
    GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.reflection = enabled;
    auto started = StartGrpcServer(options, {&service});
    ASSERT_TRUE(started.ok()) << started.status();
    grpc::Status status;
    const std::vector<std::string> names =
        ListServices(grpc::CreateChannel("127.0.0.1:" + std::to_string(started->port),
                                         grpc::InsecureChannelCredentials()),
                     "", status);
    if (enabled) {
      EXPECT_TRUE(status.ok()) << status.error_message();
      EXPECT_THAT(names, ::testing::UnorderedElementsAre(
                             "aiops.v1.AiopsService", "grpc.reflection.v1alpha.ServerReflection"));
    } else {
      EXPECT_EQ(grpc::StatusCode::UNIMPLEMENTED, status.error_code());
    }
    started->server->Shutdown();
  }
}

TEST_F(AuthTest, TlsServesWithTheTokenAndRefusesPlaintextClients) {
  const analysis::testing::TestCertificate cert = analysis::testing::MakeSelfSignedCertificate();
  StartServer(kToken, cert.cert_pem, cert.key_pem);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = cert.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto tls_stub = v1::AiopsService::NewStub(grpc::CreateCustomChannel(
      "localhost:" + std::to_string(port_), grpc::SslCredentials(ssl), args));
  EXPECT_TRUE(List(*tls_stub, Context().get()).ok());
  EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED,
            List(*tls_stub, Context("wrong").get()).error_code());
  auto context = Context();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
  EXPECT_FALSE(List(*stub_, context.get()).ok());  // plaintext against a TLS port
}

// The daemon's layout: aiops.v1 and chatcli.v1 registered on ONE server started by
// StartGrpcServer, with the transport's token check and the keepalive policy.
class SharedPortTest : public ApiHarness {
 protected:
  void SetUp() override {
    ApiHarness::SetUp();
    v1::AlertObserved alert;
    alert.set_type("OOMKilled");
    alert.set_severity("critical");
    alert.set_namespace_("shop");
    alert.set_deployment("cart");
    alerts_.Add(alert);
    GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.token = kToken;
    auto started = StartGrpcServer(options, {service_.get(), &chatcli_});
    ASSERT_TRUE(started.ok()) << started.status();
    shared_ = std::move(started->server);
    shared_port_ = started->port;
  }
  void TearDown() override {
    if (shared_ != nullptr) {
      shared_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
      shared_->Wait();
    }
    ApiHarness::TearDown();
  }
  std::string shared_address() const { return "127.0.0.1:" + std::to_string(shared_port_); }

  ingest::AlertBuffer alerts_{clock_};
  analysis::RulesAnalyzer rules_;
  ingest::ChatCliServiceImpl chatcli_{alerts_, rules_};  // no token of its own: the transport's
  std::unique_ptr<grpc::Server> shared_;
  int shared_port_ = 0;
};

TEST_F(SharedPortTest, BothServicesAnswerOnOnePortBehindTheTokenAndHealthIsOpenForProbes) {
  auto channel = grpc::CreateChannel(shared_address(), grpc::InsecureChannelCredentials());
  auto chatcli = chatcli::v1::ChatCLIService::NewStub(channel);
  auto aiops = v1::AiopsService::NewStub(channel);

  chatcli::v1::GetAlertsResponse alerts;
  grpc::Status status = chatcli->GetAlerts(Context().get(), {}, &alerts);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(1, alerts.alerts_size());
  EXPECT_EQ("OOMKilled", alerts.alerts(0).type());
  EXPECT_EQ("CRITICAL", alerts.alerts(0).severity());

  chatcli::v1::AnalyzeIssueRequest issue;
  issue.set_issue_name("cart-oom-kill-1");
  issue.set_namespace_("shop");
  issue.set_resource_name("cart");
  issue.set_signal_type("oom_kill");
  issue.set_severity("critical");
  chatcli::v1::AnalyzeIssueResponse analysis;
  status = chatcli->AnalyzeIssue(Context().get(), issue, &analysis);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(analysis.analysis().empty());

  EXPECT_TRUE(List(*aiops, Context().get()).ok());  // aiops.v1 on the same port

  // The token applies to every method but Health, on both services.
  for (const std::string token : {"", "wrong"}) {
    SCOPED_TRACE("token '" + token + "'");
    EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED,
              chatcli->GetAlerts(Context(token).get(), {}, &alerts).error_code());
    EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED,
              chatcli->AnalyzeIssue(Context(token).get(), issue, &analysis).error_code());
    EXPECT_EQ(grpc::StatusCode::UNAUTHENTICATED, List(*aiops, Context(token).get()).error_code());
    chatcli::v1::HealthResponse health;
    grpc::ClientContext probe;  // no authorization metadata at all when the token is ""
    if (!token.empty()) {
      probe.AddMetadata("authorization", "Bearer " + token);
    }
    status = chatcli->Health(&probe, {}, &health);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(chatcli::v1::HealthResponse::SERVING, health.status());
    EXPECT_FALSE(health.version().empty());
  }
  chatcli::v1::HealthResponse health;
  EXPECT_TRUE(chatcli->Health(Context().get(), {}, &health).ok());
}

TEST_F(SharedPortTest, TheKeepalivePolicyIsChatClisAndAFastPingerIsSentAway) {
  const std::vector<std::pair<std::string, int>> arguments =
      GrpcServerChannelArguments(GrpcServerOptions());
  EXPECT_THAT(arguments,
              ::testing::IsSupersetOf(
                  {std::pair<std::string, int>(
                       GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 20'000),
                   std::pair<std::string, int>(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1),
                   std::pair<std::string, int>(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000),
                   std::pair<std::string, int>(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000)}));

  // gRPC's client logs the GOAWAY it is sent; the JSON logger collects it. Each check swaps the
  // sink, so the previous stream is read while no one writes to it.
  server::RouteGrpcLogsToJson();
  std::string logged;
  auto sink = std::make_unique<std::ostringstream>();
  common::SetLogSink(sink.get());
  auto take_logs = [&] {
    auto next = std::make_unique<std::ostringstream>();
    common::SetLogSink(next.get());
    logged += sink->str();
    sink = std::move(next);
  };

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 200);  // far below the 20 s minimum
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, 100);
  auto channel =
      grpc::CreateCustomChannel(shared_address(), grpc::InsecureChannelCredentials(), args);
  auto chatcli = chatcli::v1::ChatCLIService::NewStub(channel);
  chatcli::v1::HealthResponse health;
  ASSERT_TRUE(chatcli->Health(Context().get(), {}, &health).ok());
  for (int i = 0; i < 300 && logged.find("too_many_pings") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    take_logs();
  }
  common::SetLogSink(nullptr);
  EXPECT_THAT(logged, HasSubstr("ENHANCE_YOUR_CALM"));
  EXPECT_THAT(logged, HasSubstr("too_many_pings"));
  EXPECT_THAT(logged, HasSubstr("\"component\":\"grpc\""));
}

TEST(GrpcServerOptionsTest, BadOptionsAreClearErrors) {
  GrpcServerOptions options;
  options.listen_address = "nonsense";
  auto started = StartGrpcServer(options, {});
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, started.status().code());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("nonsense"));

  options.listen_address = "127.0.0.1:0";
  options.tls_cert_file = "/nonexistent/tls.crt";
  started = StartGrpcServer(options, {});
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, started.status().code());  // key missing

  options.tls_key_file = "/nonexistent/tls.key";
  started = StartGrpcServer(options, {});
  EXPECT_EQ(absl::StatusCode::kNotFound, started.status().code());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("/nonexistent/tls.crt"));

  options.tls_cert_file.clear();
  options.tls_key_file.clear();
  options.reflection = false;
  started = StartGrpcServer(options, {});
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, started.status().code());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("no services"));

  auto token = ReadTokenFile("/nonexistent/token");
  EXPECT_EQ(absl::StatusCode::kNotFound, token.status().code());
}

TEST(GrpcServerOptionsTest, ABusyPortIsUnavailable) {
  GrpcServerOptions options;
  options.listen_address = "127.0.0.1:0";
  auto first = StartGrpcServer(options, {});
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen_address = "127.0.0.1:" + std::to_string(first->port);
  auto second = StartGrpcServer(options, {});
  EXPECT_EQ(absl::StatusCode::kUnavailable, second.status().code());
  first->server->Shutdown();
}

}  // namespace
}  // namespace aiops::api::testing
