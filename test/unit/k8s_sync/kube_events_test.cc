// The Kubernetes Events the log's events call for (KubeEventsFor) and their object (pure).
// KubeEventSink against the real API server: test/integration/mirror_test.cc.
#include "k8s_sync/kube_events.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace aiops::k8s_sync {
namespace {

using ::testing::HasSubstr;

class KubeEventsForTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::IssueState& issue = state_.issues["web-oom-kill-1"];
    issue.set_name("web-oom-kill-1");
    issue.set_incident_id("inc-42");
    issue.mutable_resource()->set_kind("Deployment");
    issue.mutable_resource()->set_namespace_("shop");
    issue.mutable_resource()->set_name("web");
    v1::PlanState& plan = state_.plans["web-oom-kill-1-plan-1"];
    plan.set_name("web-oom-kill-1-plan-1");
    plan.set_issue_name("web-oom-kill-1");
    plan.set_namespace_("shop");
    plan.add_actions()->set_type("AdjustResources");
  }
  std::vector<KubeEvent> For(const v1::Event& e) { return KubeEventsFor(e, state_, at_); }

  projections::PipelineState state_;
  const absl::Time at_ = absl::FromUnixSeconds(1'765'000'000);
};

TEST_F(KubeEventsForTest, AnIssueStateChangeIsAnEventOnTheIssueWithTheIncidentId) {
  v1::Event e;
  v1::IssueStateChanged* c = e.mutable_issue_state_changed();
  c->set_issue_name("web-oom-kill-1");
  c->set_from_state("Remediating");
  c->set_to_state("Escalated");
  c->set_reason("max_attempts");
  const std::vector<KubeEvent> events = For(e);
  ASSERT_EQ(1U, events.size());
  EXPECT_EQ("platform.chatcli.io/v1alpha1", events[0].api_version);
  EXPECT_EQ("Issue", events[0].kind);
  EXPECT_EQ("shop", events[0].namespace_name);
  EXPECT_EQ("web-oom-kill-1", events[0].name);
  EXPECT_EQ("Warning", events[0].type);  // an escalation needs a person
  EXPECT_EQ("Escalated", events[0].reason);
  EXPECT_EQ("incident inc-42: Remediating -> Escalated: max_attempts", events[0].message);
  EXPECT_EQ(at_, events[0].at);
  c->set_to_state("Resolved");
  EXPECT_EQ("Normal", For(e)[0].type);
}

TEST_F(KubeEventsForTest, AnActionIsAnEventOnThePlanAndOneOnTheWorkload) {
  v1::Event ok;
  ok.mutable_action_succeeded()->set_plan_name("web-oom-kill-1-plan-1");
  ok.mutable_action_succeeded()->set_summary("memory limit 64Mi -> 128Mi");
  std::vector<KubeEvent> events = For(ok);
  ASSERT_EQ(2U, events.size());
  EXPECT_EQ("RemediationPlan", events[0].kind);
  EXPECT_EQ("ActionSucceeded", events[0].reason);
  EXPECT_EQ("Normal", events[0].type);
  EXPECT_THAT(events[0].message, HasSubstr("(AdjustResources) applied: memory limit"));
  EXPECT_EQ("apps/v1", events[1].api_version);
  EXPECT_EQ("Deployment", events[1].kind);
  EXPECT_EQ("web", events[1].name);
  EXPECT_EQ("RemediationApplied", events[1].reason);
  EXPECT_THAT(events[1].message, HasSubstr("plan web-oom-kill-1-plan-1, incident inc-42"));

  v1::Event failed;
  failed.mutable_action_failed()->set_plan_name("web-oom-kill-1-plan-1");
  failed.mutable_action_failed()->set_error("HTTP 422");
  events = For(failed);
  ASSERT_EQ(2U, events.size());
  EXPECT_EQ("Warning", events[1].type);
  EXPECT_EQ("RemediationFailed", events[1].reason);

  v1::Event rolled;
  rolled.mutable_plan_rolled_back()->set_plan_name("web-oom-kill-1-plan-1");
  events = For(rolled);
  ASSERT_EQ(2U, events.size());
  EXPECT_EQ("RemediationRolledBack", events[1].reason);
}

TEST_F(KubeEventsForTest, VerificationIsOnThePlanOnlyAndOtherEventsCallForNone) {
  v1::Event passed;
  passed.mutable_verification_passed()->set_plan_name("web-oom-kill-1-plan-1");
  passed.mutable_verification_passed()->set_summary("rollout complete");
  const std::vector<KubeEvent> events = For(passed);
  ASSERT_EQ(1U, events.size());
  EXPECT_EQ("VerificationPassed", events[0].reason);
  v1::Event unknown_plan;
  unknown_plan.mutable_verification_failed()->set_plan_name("nope");
  EXPECT_TRUE(For(unknown_plan).empty());
  v1::Event alert;
  alert.mutable_alert_observed()->set_type("OOMKilled");
  EXPECT_TRUE(For(alert).empty());
}

TEST(KubeEventObjectTest, IsALegacyCoreEventNamingItsObjectAndSource) {
  KubeEvent e;
  e.api_version = "apps/v1";
  e.kind = "Deployment";
  e.namespace_name = "shop";
  e.name = "web";
  e.uid = "u-1";
  e.type = "Warning";
  e.reason = "RemediationFailed";
  e.message = std::string(2000, 'x');
  e.at = absl::FromUnixSeconds(1'765'000'000);
  const nlohmann::json o = KubeEventObject(e);
  EXPECT_EQ("shop", o["metadata"]["namespace"]);
  EXPECT_EQ("web.", o["metadata"]["generateName"]);
  EXPECT_EQ("u-1", o["involvedObject"]["uid"]);
  EXPECT_EQ("chatcli-aiops", o["source"]["component"]);
  EXPECT_EQ(1, o["count"]);
  EXPECT_EQ("2025-12-06T05:46:40Z", o["firstTimestamp"]);
  EXPECT_EQ(1024U, o["message"].get<std::string>().size());
  // An API server's error body may be any bytes: the Event's JSON must still serialize.
  e.message = "refused: \xff\xfe";
  EXPECT_NO_THROW(KubeEventObject(e).dump());
  EXPECT_EQ("refused: \xEF\xBF\xBD\xEF\xBF\xBD", KubeEventObject(e)["message"]);
}

}  // namespace
}  // namespace aiops::k8s_sync
