#include "api_harness.h"

#include <filesystem>

#include <absl/time/clock.h>

#include "projections/naming.h"
#include "support/test_dir.h"

namespace aiops::api::testing {

v1::Event Alert(const std::string& type, const std::string& deployment, const std::string& ns,
                const std::string& uid) {
  v1::Event e;
  e.set_logical_time_ms(kStartMs);
  e.set_producer("detector");
  v1::AlertObserved* a = e.mutable_alert_observed();
  a->set_type(type);
  a->set_severity("warning");
  a->set_message(type + " on " + deployment);
  a->set_object(deployment + "-7d9f-abcde");
  a->set_namespace_(ns);
  a->set_deployment(deployment);
  a->set_source("detector");
  a->set_source_object_uid(uid);
  return e;
}

v1::Event ApprovalConfig() {
  v1::PipelineConfig config = projections::DefaultPipelineConfig();
  config.mutable_approval()->set_enabled(true);
  config.mutable_approval()->add_severities("low");
  v1::Event e;
  e.set_logical_time_ms(kStartMs);
  e.set_producer("config");
  e.mutable_config_changed()->set_source("file");
  *e.mutable_config_changed()->mutable_config() = config;
  return e;
}

v1::Event Analysis(const std::string& issue, int32_t attempt) {
  v1::Event e;
  e.set_logical_time_ms(kStartMs + 1000);
  e.set_producer("analyzer");
  v1::AnalysisCompleted* a = e.mutable_analysis_completed();
  a->set_issue_name(issue);
  a->set_attempt(attempt);
  a->set_analysis("the container restarts after a bad config push");
  a->set_confidence(0.8F);
  a->set_provider("builtin");
  v1::ActionSpec* restart = a->add_suggested_actions();
  restart->set_name("Restart deployment");
  restart->set_type("RestartDeployment");
  return e;
}

void ApiHarness::SetUp() {
  dir_ = aiops::testing::FreshTestDir("api");
  eventlog::RocksLogOptions options;
  options.path = dir_ + "/log";
  options.sync = false;
  auto log = eventlog::RocksEventLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  log_ = *std::move(log);
  auto runner = server::Runner::Start(*log_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  runner_ = *std::move(runner);
  ApiDeps deps;
  deps.log = log_.get();
  deps.submit = [r = runner_.get()](v1::Event e) { return r->Submit(std::move(e)); };
  deps.read_state = [r = runner_.get()](const auto& read) { r->ReadState(read); };
  deps.clock = &clock_;
  deps.cluster_id = "test-cluster";
  AiopsServiceImpl::Options service_options;
  service_options.tail_poll = absl::Milliseconds(50);
  service_ = std::make_unique<AiopsServiceImpl>(std::move(deps), service_options);
  StartServer(kToken);
}

void ApiHarness::StartServer(const std::string& token, const std::string& cert_pem,
                             const std::string& key_pem) {
  StopServer();
  GrpcServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.token = token;
  if (!cert_pem.empty()) {
    options.tls_cert_file = dir_ + "/tls.crt";
    options.tls_key_file = dir_ + "/tls.key";
    std::FILE* f = std::fopen(options.tls_cert_file.c_str(), "w");
    std::fputs(cert_pem.c_str(), f);
    std::fclose(f);
    f = std::fopen(options.tls_key_file.c_str(), "w");
    std::fputs(key_pem.c_str(), f);
    std::fclose(f);
  }
  auto started = StartGrpcServer(options, {service_.get()});
  ASSERT_TRUE(started.ok()) << started.status();
  server_ = std::move(started->server);
  port_ = started->port;
  ASSERT_GT(port_, 0);
  stub_ =
      v1::AiopsService::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

void ApiHarness::StopServer() {
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    server_->Wait();
    server_.reset();
  }
}

void ApiHarness::TearDown() {
  if (service_ != nullptr) {
    service_->BeginShutdown();
  }
  StopServer();
  if (runner_ != nullptr) {
    runner_->Stop();
  }
  runner_.reset();
  log_.reset();
  std::filesystem::remove_all(dir_);
}

absl::StatusOr<uint64_t> ApiHarness::Submit(v1::Event input) {
  return runner_->Submit(std::move(input));
}

std::string ApiHarness::OnlyIssueName() {
  std::string name;
  runner_->ReadState([&](const projections::PipelineState& state) {
    EXPECT_EQ(1U, state.issues.size());
    if (!state.issues.empty()) {
      name = state.issues.begin()->first;
    }
  });
  return name;
}

v1::PlanState ApiHarness::Plan(const std::string& name) {
  v1::PlanState plan;
  runner_->ReadState([&](const projections::PipelineState& state) {
    const v1::PlanState* found = projections::FindPlan(state, name);
    EXPECT_NE(nullptr, found) << "no plan " << name;
    if (found != nullptr) {
      plan = *found;
    }
  });
  return plan;
}

std::string ApiHarness::OpenIssueWaitingForApproval() {
  EXPECT_TRUE(Submit(ApprovalConfig()).ok());
  EXPECT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  const std::string issue = OnlyIssueName();
  int32_t attempt = 0;
  runner_->ReadState([&](const projections::PipelineState& state) {
    attempt = projections::FindIssue(state, issue)->attempt();
  });
  EXPECT_TRUE(Submit(Analysis(issue, attempt)).ok());
  EXPECT_EQ(projections::kWaitingApproval, Plan(issue + "-plan-1").state());
  return issue;
}

std::unique_ptr<grpc::ClientContext> ApiHarness::Context(const std::string& token) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) {
    context->AddMetadata("authorization", "Bearer " + token);
  }
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  return context;
}

}  // namespace aiops::api::testing
