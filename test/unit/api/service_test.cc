// aiops.v1.AiopsService over a real gRPC server on a loopback port, backed by a real runner and
// RocksDB log: tails (history, live follow, incident filter, shutdown), incidents with their
// timeline, replay as of a sequence, approvals and the Append edge's validation.
#include <thread>

#include <absl/time/clock.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_harness.h"
#include "projections/pipeline_state.h"

namespace aiops::api::testing {
namespace {

using ::testing::HasSubstr;
namespace p = projections;

class ServiceTest : public ApiHarness {};

std::vector<v1::Event> ReadAll(grpc::ClientReader<v1::Event>& reader) {
  std::vector<v1::Event> events;
  v1::Event e;
  while (reader.Read(&e)) {
    events.push_back(e);
  }
  return events;
}

TEST_F(ServiceTest, TailFromASequenceSendsTheLogInOrderAndStopsAtTheEndWhenAsked) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  const uint64_t last = log_->LastSequence();
  ASSERT_GT(last, 5U);
  v1::TailEventsRequest request;
  request.set_from_sequence(3);
  request.set_stop_at_end(true);
  auto context = Context();
  auto reader = stub_->TailEvents(context.get(), request);
  const std::vector<v1::Event> events = ReadAll(*reader);
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto expected = log_->Read(3, 1000);
  ASSERT_TRUE(expected.ok());
  ASSERT_EQ(expected->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*expected)[i].SerializeAsString(), events[i].SerializeAsString()) << i;
  }
  EXPECT_EQ(last, events.back().sequence());
}

TEST_F(ServiceTest, TailWithoutAStartSendsTheLastEventsAndFiltersByIncident) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  v1::TailEventsRequest request;
  request.set_last(3);
  request.set_stop_at_end(true);
  auto context = Context();
  auto reader = stub_->TailEvents(context.get(), request);
  std::vector<v1::Event> events = ReadAll(*reader);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(3U, events.size());
  EXPECT_EQ(log_->LastSequence(), events.back().sequence());

  const std::string incident = events.back().incident_id();
  ASSERT_FALSE(incident.empty());
  v1::TailEventsRequest filtered;
  filtered.set_from_sequence(1);
  filtered.set_incident_id(incident);
  filtered.set_stop_at_end(true);
  auto context2 = Context();
  auto reader2 = stub_->TailEvents(context2.get(), filtered);
  events = ReadAll(*reader2);
  ASSERT_TRUE(reader2->Finish().ok());
  auto index = log_->IncidentSequences(incident);
  ASSERT_TRUE(index.ok());
  ASSERT_EQ(index->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ((*index)[i], events[i].sequence());
    EXPECT_EQ(incident, events[i].incident_id());
  }
}

TEST_F(ServiceTest, TailFollowsTheLiveLogUntilCancelled) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  const uint64_t before = log_->LastSequence();
  v1::TailEventsRequest request;  // from 0 and last 0: only new events
  auto context = Context();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto reader = stub_->TailEvents(context.get(), request);
  std::thread producer([&] {
    absl::SleepFor(absl::Milliseconds(200));  // the stream is waiting on the log by then
    ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  });
  v1::Event e;
  std::vector<uint64_t> sequences;
  while (reader->Read(&e)) {
    sequences.push_back(e.sequence());
    if (e.has_alert_observed()) {
      break;
    }
  }
  producer.join();
  ASSERT_FALSE(sequences.empty());
  EXPECT_EQ(before + 1, sequences.front());  // nothing from before the call
  EXPECT_EQ("OOMKilled", e.alert_observed().type());
  context->TryCancel();
  EXPECT_EQ(grpc::StatusCode::CANCELLED, reader->Finish().error_code());
}

TEST_F(ServiceTest, AFollowingTailEndsWhenTheServerShutsDown) {
  v1::TailEventsRequest request;
  auto context = Context();
  auto reader = stub_->TailEvents(context.get(), request);
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  service_->BeginShutdown();
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(grpc::StatusCode::UNAVAILABLE, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(ServiceTest, AFollowingTailDoesNotHoldUpAServerShutdownWithADeadline) {
  v1::TailEventsRequest request;
  auto context = Context();
  auto reader = stub_->TailEvents(context.get(), request);
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(300)));
  server_->Wait();
  server_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_FALSE(reader->Finish().ok());
}

TEST_F(ServiceTest, ListIncidentsSummarizesAndFilters) {
  ASSERT_TRUE(Submit(Alert("HighRestartCount", "api-gateway")).ok());
  ASSERT_TRUE(Submit(Alert("OOMKilled", "billing", "payments")).ok());
  v1::ListIncidentsResponse all;
  ASSERT_TRUE(stub_->ListIncidents(Context().get(), {}, &all).ok());
  ASSERT_EQ(2, all.incidents_size());
  EXPECT_EQ(log_->LastSequence(), all.as_of_sequence());
  const v1::IncidentSummary& first = all.incidents(0);
  EXPECT_EQ("api-gateway", first.resource().name());
  EXPECT_EQ("production", first.resource().namespace_());
  EXPECT_EQ(p::kAnalyzing, first.state());
  EXPECT_EQ("pod_restart", first.signal_type());
  EXPECT_EQ(1, first.attempt());
  EXPECT_EQ(kStartMs, first.detected_at_ms());
  EXPECT_FALSE(first.incident_id().empty());
  EXPECT_FALSE(first.severity().empty());
  EXPECT_EQ("billing", all.incidents(1).resource().name());

  v1::ListIncidentsRequest by_namespace;
  by_namespace.set_namespace_("payments");
  v1::ListIncidentsResponse payments;
  ASSERT_TRUE(stub_->ListIncidents(Context().get(), by_namespace, &payments).ok());
  ASSERT_EQ(1, payments.incidents_size());
  EXPECT_EQ("billing", payments.incidents(0).resource().name());

  v1::ListIncidentsRequest resolved;
  resolved.set_state("resolved");
  v1::ListIncidentsResponse none;
  ASSERT_TRUE(stub_->ListIncidents(Context().get(), resolved, &none).ok());
  EXPECT_EQ(0, none.incidents_size());
  v1::ListIncidentsRequest open;
  open.set_state("open");
  v1::ListIncidentsResponse open_ones;
  ASSERT_TRUE(stub_->ListIncidents(Context().get(), open, &open_ones).ok());
  EXPECT_EQ(2, open_ones.incidents_size());

  v1::ListIncidentsRequest bogus;
  bogus.set_state("Sleeping");
  v1::ListIncidentsResponse ignored;
  const grpc::Status status = stub_->ListIncidents(Context().get(), bogus, &ignored);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("Sleeping"));
}

TEST_F(ServiceTest, GetIncidentReturnsTheIssueItsPlansAndATimelineWithCauses) {
  const std::string issue = OpenIssueWaitingForApproval();
  v1::GetIncidentRequest request;
  request.set_id(issue);
  v1::GetIncidentResponse response;
  ASSERT_TRUE(stub_->GetIncident(Context().get(), request, &response).ok());
  EXPECT_EQ(issue, response.issue().name());
  // Its anomalies by name (the projection keeps them packed; readers get them listed).
  ASSERT_EQ(1, response.issue().anomaly_names_size());
  EXPECT_THAT(response.issue().anomaly_names(0), HasSubstr("highrestartcount"));
  EXPECT_TRUE(response.issue().anomaly_list().empty());
  ASSERT_EQ(1, response.plans_size());
  EXPECT_EQ(issue + "-plan-1", response.plans(0).name());
  EXPECT_EQ(p::kWaitingApproval, response.plans(0).state());

  // Every event of the incident index is there, in order, plus the inputs that caused them.
  auto index = log_->IncidentSequences(response.issue().incident_id());
  ASSERT_TRUE(index.ok());
  std::vector<uint64_t> indexed;
  uint64_t previous = 0;
  bool saw_alert_cause = false;
  bool saw_plan = false;
  for (const v1::TimelineEntry& entry : response.timeline()) {
    EXPECT_GT(entry.sequence(), previous);
    previous = entry.sequence();
    EXPECT_FALSE(entry.summary().empty());
    EXPECT_EQ(std::string::npos, entry.summary().find('\n'));
    if (entry.cause()) {
      saw_alert_cause |= entry.type() == "alert_observed";
    } else {
      indexed.push_back(entry.sequence());
    }
    if (entry.type() == "plan_created") {
      saw_plan = true;
      EXPECT_THAT(entry.summary(), HasSubstr(issue + "-plan-1"));
      EXPECT_THAT(entry.summary(), HasSubstr("RestartDeployment"));
      EXPECT_NE(0U, entry.causation_sequence());
    }
  }
  EXPECT_EQ(*index, indexed);
  EXPECT_TRUE(saw_alert_cause);
  EXPECT_TRUE(saw_plan);

  // By incident id too.
  v1::GetIncidentRequest by_id;
  by_id.set_id(response.issue().incident_id());
  v1::GetIncidentResponse same;
  ASSERT_TRUE(stub_->GetIncident(Context().get(), by_id, &same).ok());
  EXPECT_EQ(issue, same.issue().name());

  v1::GetIncidentRequest unknown;
  unknown.set_id("no-such-issue");
  const grpc::Status status = stub_->GetIncident(Context().get(), unknown, &same);
  EXPECT_EQ(grpc::StatusCode::NOT_FOUND, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("no-such-issue"));
}

TEST_F(ServiceTest, ApproveAppendsAGrpcApprovalAndThePlanRuns) {
  const std::string issue = OpenIssueWaitingForApproval();
  const std::string plan = issue + "-plan-1";
  clock_.Advance(absl::Minutes(3));
  v1::ApprovalDecision request;
  request.set_plan_name(plan);
  request.set_approver("alice");
  request.set_reason("looks safe");
  v1::ApprovalDecisionResponse response;
  const grpc::Status status = stub_->Approve(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(p::kExecuting, response.plan_state());
  EXPECT_EQ(issue, response.issue_name());
  EXPECT_EQ(p::kExecuting, Plan(plan).state());
  EXPECT_EQ("alice", Plan(plan).approver());

  auto recorded = log_->Read(response.sequence(), 1);
  ASSERT_TRUE(recorded.ok() && recorded->size() == 1);
  const v1::Event& e = recorded->front();
  ASSERT_TRUE(e.has_approval_granted());
  EXPECT_EQ("grpc", e.approval_granted().channel());
  EXPECT_EQ("alice", e.approval_granted().approver());
  EXPECT_EQ("looks safe", e.approval_granted().reason());
  EXPECT_EQ("grpc", e.producer());
  EXPECT_EQ(0U, e.causation_sequence());
  EXPECT_EQ(clock_.NowUnixMs(), e.logical_time_ms());
  EXPECT_EQ("test-cluster", e.cluster_id());
  EXPECT_FALSE(e.incident_id().empty());  // the approval is part of the incident's timeline

  // Approving again is refused: the plan no longer waits.
  v1::ApprovalDecisionResponse again;
  const grpc::Status twice = stub_->Approve(Context().get(), request, &again);
  EXPECT_EQ(grpc::StatusCode::FAILED_PRECONDITION, twice.error_code());
  EXPECT_THAT(twice.error_message(), HasSubstr("Executing"));
}

TEST_F(ServiceTest, RejectEscalatesAndUnknownOrIncompleteDecisionsAreRefused) {
  const std::string issue = OpenIssueWaitingForApproval();
  const uint64_t before = log_->LastSequence();
  v1::ApprovalDecision unknown;
  unknown.set_plan_name("nope-plan-1");
  unknown.set_approver("bob");
  v1::ApprovalDecisionResponse response;
  grpc::Status status = stub_->Approve(Context().get(), unknown, &response);
  EXPECT_EQ(grpc::StatusCode::FAILED_PRECONDITION, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("nope-plan-1"));
  status = stub_->Reject(Context().get(), unknown, &response);
  EXPECT_EQ(grpc::StatusCode::FAILED_PRECONDITION, status.error_code());

  v1::ApprovalDecision anonymous;
  anonymous.set_plan_name(issue + "-plan-1");
  status = stub_->Approve(Context().get(), anonymous, &response);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("approver"));
  EXPECT_EQ(before, log_->LastSequence());  // nothing appended

  v1::ApprovalDecision reject;
  reject.set_plan_name(issue + "-plan-1");
  reject.set_approver("bob");
  reject.set_reason("not during the sale");
  status = stub_->Reject(Context().get(), reject, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(p::kFailed, response.plan_state());
  EXPECT_EQ(p::kEscalated, response.issue_state());
  auto recorded = log_->Read(response.sequence(), 1);
  ASSERT_TRUE(recorded.ok() && recorded->front().has_approval_rejected());
  EXPECT_EQ("grpc", recorded->front().approval_rejected().channel());
  EXPECT_EQ("bob", recorded->front().approval_rejected().approver());
}

TEST_F(ServiceTest, AppendStampsAlertsAndRefusesAnythingElseWithoutAppending) {
  clock_.Advance(absl::Seconds(42));
  v1::AppendRequest request;
  for (const char* deployment : {"web", "api", "worker"}) {
    v1::Event* e = request.add_events();
    e->set_producer("spoofed");
    e->set_sequence(999);
    e->set_causation_sequence(7);
    v1::AlertObserved* a = e->mutable_alert_observed();
    a->set_type("PodNotReady");
    a->set_namespace_("shop");
    a->set_deployment(deployment);
    a->set_source("somewhere");
  }
  v1::AppendResponse response;
  grpc::Status status = stub_->Append(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(3, response.sequences_size());
  for (int i = 0; i < 3; ++i) {
    auto recorded = log_->Read(response.sequences(i), 1);
    ASSERT_TRUE(recorded.ok() && recorded->size() == 1);
    const v1::Event& e = recorded->front();
    ASSERT_TRUE(e.has_alert_observed());
    EXPECT_EQ(request.events(i).alert_observed().deployment(), e.alert_observed().deployment());
    EXPECT_EQ("grpc", e.producer());
    EXPECT_EQ("grpc", e.alert_observed().source());
    EXPECT_EQ(0U, e.causation_sequence());
    EXPECT_EQ(clock_.NowUnixMs(), e.logical_time_ms());
    EXPECT_EQ("test-cluster", e.cluster_id());
  }

  const uint64_t before = log_->LastSequence();
  v1::AppendRequest mixed = request;
  mixed.mutable_events(1)->mutable_issue_opened()->set_issue_name("forged");
  status = stub_->Append(Context().get(), mixed, &response);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("events[1]"));
  EXPECT_THAT(status.error_message(), HasSubstr("issue_opened"));

  v1::AppendRequest no_namespace = request;
  no_namespace.mutable_events(2)->mutable_alert_observed()->clear_namespace_();
  status = stub_->Append(Context().get(), no_namespace, &response);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("events[2]"));
  EXPECT_THAT(status.error_message(), HasSubstr("namespace"));

  v1::AppendRequest no_type = request;
  no_type.mutable_events(0)->mutable_alert_observed()->clear_type();
  status = stub_->Append(Context().get(), no_type, &response);
  EXPECT_THAT(status.error_message(), HasSubstr("events[0]"));

  v1::AppendRequest no_payload;
  no_payload.add_events();
  status = stub_->Append(Context().get(), no_payload, &response);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());

  status = stub_->Append(Context().get(), v1::AppendRequest(), &response);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());
  EXPECT_EQ(before, log_->LastSequence());  // nothing of any refused batch was appended
}

TEST_F(ServiceTest, AnOversizedAppendIsRefusedWholeWithAClearError) {
  auto alert = [](v1::AppendRequest& request, int i) {
    v1::AlertObserved* a = request.add_events()->mutable_alert_observed();
    a->set_type("PodNotReady");
    a->set_namespace_("shop");
    a->set_deployment("web-" + std::to_string(i));
  };
  const uint64_t before = log_->LastSequence();
  v1::AppendResponse response;

  // One event more than an Append may carry (AiopsServiceImpl::Options::max_append_events).
  constexpr int kLimit = 10'000;
  v1::AppendRequest too_many;
  for (int i = 0; i <= kLimit; ++i) {
    alert(too_many, i);
  }
  grpc::Status status = stub_->Append(Context().get(), too_many, &response);
  EXPECT_EQ(grpc::StatusCode::INVALID_ARGUMENT, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("at most 10000 events per call (got 10001)"));
  EXPECT_EQ(0, response.sequences_size());

  // A message over the server's 16 MiB receive limit never reaches the service.
  v1::AppendRequest too_big;
  alert(too_big, 0);
  too_big.mutable_events(0)->mutable_alert_observed()->set_message(std::string(17 << 20, 'x'));
  status = stub_->Append(Context().get(), too_big, &response);
  EXPECT_EQ(grpc::StatusCode::RESOURCE_EXHAUSTED, status.error_code());
  EXPECT_THAT(status.error_message(), HasSubstr("larger than max"));
  EXPECT_EQ(before, log_->LastSequence());  // nothing of either was appended

  // The limit itself is accepted, and the server still serves after the refusals.
  too_many.mutable_events()->RemoveLast();
  status = stub_->Append(Context().get(), too_many, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(kLimit, response.sequences_size());
}

TEST_F(ServiceTest, ReplayFoldsTheLogAsOfASequence) {
  const std::string issue = OpenIssueWaitingForApproval();
  const uint64_t last = log_->LastSequence();
  // As of the alert's consequences only: the issue exists, no plan yet.
  uint64_t before_plan = 0;
  auto all = log_->Read(1, 1000);
  ASSERT_TRUE(all.ok());
  for (const v1::Event& e : *all) {
    if (e.has_analysis_completed()) {
      before_plan = e.sequence() - 1;
    }
  }
  ASSERT_GT(before_plan, 0U);
  p::PipelineState expected;
  for (const v1::Event& e : *all) {
    if (e.sequence() <= before_plan) {
      p::Apply(expected, e);
    }
  }
  v1::ReplayRequest request;
  request.set_as_of_sequence(before_plan);
  v1::ReplayResponse response;
  ASSERT_TRUE(stub_->Replay(Context().get(), request, &response).ok());
  EXPECT_EQ(before_plan, response.as_of_sequence());
  EXPECT_EQ(p::StateDigest(expected), response.state_digest());
  ASSERT_EQ(1, response.issues_size());
  EXPECT_EQ(issue, response.issues(0).name());
  EXPECT_EQ(p::kAnalyzing, response.issues(0).state());
  EXPECT_EQ(1, response.issues(0).anomaly_names_size());
  EXPECT_THAT(response.issues(0).signal_types(), ::testing::ElementsAre("pod_restart"));
  EXPECT_EQ(0, response.plans_size());

  // The whole log (0) matches the runner's live state.
  v1::ReplayResponse now;
  ASSERT_TRUE(stub_->Replay(Context().get(), v1::ReplayRequest(), &now).ok());
  EXPECT_EQ(last, now.as_of_sequence());
  std::string live_digest;
  runner_->ReadState([&](const p::PipelineState& s) { live_digest = p::StateDigest(s); });
  EXPECT_EQ(live_digest, now.state_digest());
  ASSERT_EQ(1, now.plans_size());
  EXPECT_EQ(p::kWaitingApproval, now.plans(0).state());

  request.set_as_of_sequence(last + 5);
  const grpc::Status status = stub_->Replay(Context().get(), request, &response);
  EXPECT_EQ(grpc::StatusCode::OUT_OF_RANGE, status.error_code());
}

}  // namespace
}  // namespace aiops::api::testing
