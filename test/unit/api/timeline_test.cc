// The readable timeline: one-line summaries, causation arrows, and the incident rendering.
#include "server/api/timeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/api/incidents.h"

namespace aiops::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::Event Event(uint64_t sequence, uint64_t cause) {
  v1::Event e;
  e.set_sequence(sequence);
  e.set_causation_sequence(cause);
  e.set_logical_time_ms(1'771'276'354'000);
  return e;
}

TEST(TimelineTest, SummariesAreOneReadableLine) {
  v1::Event alert = Event(1, 0);
  v1::AlertObserved* a = alert.mutable_alert_observed();
  a->set_type("OOMKilled");
  a->set_severity("critical");
  a->set_namespace_("shop");
  a->set_deployment("web");
  a->set_source("detector");
  a->set_message("container web\nwas killed");
  EXPECT_EQ("alert OOMKilled (critical) on shop/web from detector: container web was killed",
            EventSummary(alert));

  v1::Event changed = Event(5, 1);
  changed.mutable_plan_state_changed()->set_plan_name("web-plan-1");
  changed.mutable_plan_state_changed()->set_from_state("WaitingApproval");
  changed.mutable_plan_state_changed()->set_to_state("Executing");
  changed.mutable_plan_state_changed()->set_reason("approved by alice");
  EXPECT_EQ("plan web-plan-1 WaitingApproval -> Executing: approved by alice",
            EventSummary(changed));

  v1::Event granted = Event(4, 0);
  granted.mutable_approval_granted()->set_plan_name("web-plan-1");
  granted.mutable_approval_granted()->set_approver("alice");
  granted.mutable_approval_granted()->set_channel("grpc");
  EXPECT_EQ("plan web-plan-1 approved by alice via grpc", EventSummary(granted));

  v1::Event analysis = Event(3, 0);
  analysis.mutable_analysis_completed()->set_issue_name("web-issue");
  analysis.mutable_analysis_completed()->set_provider("builtin");
  analysis.mutable_analysis_completed()->set_analysis(std::string(500, 'x'));
  v1::ActionSpec* scale = analysis.mutable_analysis_completed()->add_suggested_actions();
  scale->set_type("ScaleDeployment");
  v1::Param* replicas = scale->add_params();
  replicas->set_key("replicas");
  replicas->set_value("4");
  const std::string summary = EventSummary(analysis);
  EXPECT_THAT(summary, HasSubstr("suggests ScaleDeployment(replicas=4)"));
  EXPECT_LT(summary.size(), 250U);  // long free text is cut
  EXPECT_EQ("event without a known payload", EventSummary(v1::Event()));
}

TEST(TimelineTest, RenderedLinesShowSequenceTimeTypeAndCause) {
  v1::Event alert = Event(7, 0);
  alert.mutable_alert_observed()->set_type("PodNotReady");
  v1::Event opened = Event(9, 7);
  opened.mutable_issue_opened()->set_issue_name("web-issue");
  const std::vector<std::string> lines =
      RenderTimeline({ToTimelineEntry(alert, true), ToTimelineEntry(opened, false)});
  ASSERT_EQ(2U, lines.size());
  EXPECT_THAT(lines[0], StartsWith("#7 "));
  EXPECT_THAT(lines[0], HasSubstr("2026-02-16T21:12:34.000Z"));
  EXPECT_THAT(lines[0], HasSubstr("alert_observed"));
  EXPECT_THAT(lines[0], ::testing::Not(HasSubstr("caused by")));
  EXPECT_THAT(lines[1], HasSubstr("issue_opened"));
  EXPECT_THAT(lines[1], HasSubstr("issue web-issue opened"));
  EXPECT_THAT(lines[1], HasSubstr("← caused by #7"));
}

TEST(IncidentsTest, StateFiltersAreNormalizedOrRefused) {
  EXPECT_EQ("Resolved", *NormalizeStateFilter("resolved"));
  EXPECT_EQ("Escalated", *NormalizeStateFilter("ESCALATED"));
  EXPECT_EQ("open", *NormalizeStateFilter("Open"));
  EXPECT_EQ("", *NormalizeStateFilter(""));
  const auto bad = NormalizeStateFilter("done");
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, bad.status().code());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'done'"));
}

}  // namespace
}  // namespace aiops::api
