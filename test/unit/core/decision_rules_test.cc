// Decision rules 1 (PipelineConfig.decision_rules, issue #20): the wrong decisions found on a real
// cluster, each next to the rules-0 behaviour that recorded logs keep replaying with.
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pipeline_harness.h"
#include "projections/naming.h"
#include "projections/pipeline_state.h"

namespace aiops::core_testing {
namespace {

namespace p = projections;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kMinute = 60'000;

v1::PipelineConfig Rules0() {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.set_decision_rules(0);
  config.set_escalation_hold_ms(0);
  return config;
}

v1::Event CriticalAlert(const std::string& type, const std::string& deployment,
                        const std::string& uid = "uid-crit") {
  v1::Event e = Alert(type, deployment, "production", uid);
  e.mutable_alert_observed()->set_severity("critical");
  return e;
}

std::vector<v1::Event> Analyse(PipelineHarness& h, const std::string& issue,
                               std::vector<v1::ActionSpec> actions) {
  return h.Feed(Analysis(issue, h.Issue(issue).attempt(), std::move(actions)));
}

v1::Event Rearm(const std::string& issue) {
  v1::Event e;
  e.mutable_issue_rearmed()->set_issue_name(issue);
  e.mutable_issue_rearmed()->set_by("carol");
  e.mutable_issue_rearmed()->set_channel("cli");
  return e;
}

// Runs `issue`'s current plan to a failed verification.
void FailAttempt(PipelineHarness& h, const std::string& issue) {
  const std::string plan = issue + "-plan-" + std::to_string(h.Issue(issue).attempt());
  for (int i = 0; i < h.Plan(plan).actions_size(); ++i) {
    h.Feed(ActionOk(plan, i));
  }
  h.Feed(NotVerified(plan, issue, "pods still crash"));
}

// Opens an issue on `deployment` and fails all of its attempts: it escalates (max_attempts).
std::string EscalatedIssue(PipelineHarness& h, const std::string& deployment) {
  h.Feed(Alert("HighRestartCount", deployment));
  const std::string issue = h.LatestIssue();
  const std::vector<v1::ActionSpec> strategies = {
      Action("RestartDeployment"), Action("RollbackDeployment", {{"toRevision", "previous"}}),
      Action("ScaleDeployment", {{"replicas", "3"}})};
  for (const v1::ActionSpec& strategy : strategies) {
    h.Advance(6 * kMinute);  // past the resource's cooldown
    Analyse(h, issue, {strategy});
    FailAttempt(h, issue);
  }
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
  return issue;
}

// 5. The alert's own severity counts: critical from the source makes the issue critical.
TEST(DecisionRulesTest, ACriticalAlertMakesItsIssueCritical) {
  PipelineHarness h;
  h.Feed(CriticalAlert("OOMKilled", "api"));
  EXPECT_EQ(30, h.Issue(h.LatestIssue()).risk_score());
  EXPECT_EQ("critical", h.Issue(h.LatestIssue()).severity());
  // A warning joining later never lowers it.
  h.Feed(Alert("PodNotReady", "api", "production", "uid-2"));
  EXPECT_EQ("critical", h.Issue(h.LatestIssue()).severity());
  // A critical alert joining a low issue raises it.
  h.Feed(Alert("HighRestartCount", "web"));
  const std::string web = h.LatestIssue();
  EXPECT_EQ("low", h.Issue(web).severity());
  h.Feed(CriticalAlert("OOMKilled", "web"));
  EXPECT_EQ("critical", h.Issue(web).severity());

  PipelineHarness old(Rules0());
  old.Feed(CriticalAlert("OOMKilled", "api"));
  EXPECT_EQ("low", old.Issue(old.LatestIssue()).severity());  // risk 30 alone
}

// 5. A plan that had not started when its issue's severity rose asks for approval if the new
// severity needs it.
TEST(DecisionRulesTest, ARisingSeverityReasksForApproval) {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_approval()->set_enabled(true);
  config.mutable_approval()->add_severities("critical");
  config.mutable_safety()->set_max_concurrent_per_namespace(1);
  PipelineHarness h(config);
  h.Feed(Alert("HighRestartCount", "busy"));
  const std::string busy = h.LatestIssue();
  Analyse(h, busy, {Action("RestartDeployment")});
  h.Feed(Alert("HighRestartCount", "web"));
  const std::string web = h.LatestIssue();
  Analyse(h, web, {Action("RestartDeployment")});
  const std::string plan = web + "-plan-1";
  ASSERT_EQ(p::kPending, h.Plan(plan).state());  // the namespace's slot is taken
  ASSERT_FALSE(h.Plan(plan).requires_approval());

  const auto derived = h.Feed(CriticalAlert("OOMKilled", "web"));
  EXPECT_THAT(Types(derived), ElementsAre("anomaly_recorded", "anomaly_correlated",
                                          "approval_requested", "plan_state_changed"));
  EXPECT_EQ(p::kWaitingApproval, h.Plan(plan).state());
  EXPECT_TRUE(h.Plan(plan).requires_approval());
  EXPECT_THAT(h.Plan(plan).result(), HasSubstr("severity rose from low to critical"));
  // The slot frees: the plan waits for its approval, it does not start.
  h.Feed(ActionOk(busy + "-plan-1", 0));
  h.Feed(Verified(busy + "-plan-1", busy));
  EXPECT_EQ(p::kWaitingApproval, h.Plan(plan).state());
  h.Feed(Approve(plan));
  EXPECT_EQ(p::kExecuting, h.Plan(plan).state());
}

// 6. Plans waiting for a person hold no remediation slot; an approved plan then waits for one.
TEST(DecisionRulesTest, PlansWaitingForApprovalHoldNoSlot) {
  for (const bool rules1 : {true, false}) {
    SCOPED_TRACE(rules1 ? "rules 1" : "rules 0");
    v1::PipelineConfig config = rules1 ? p::DefaultPipelineConfig() : Rules0();
    config.mutable_approval()->set_enabled(true);
    config.mutable_approval()->add_namespaces("gated");
    config.mutable_safety()->set_max_concurrent_per_cluster(2);
    PipelineHarness h(config);
    std::vector<std::string> gated;
    for (const char* name : {"a", "b", "c"}) {
      h.Feed(Alert("HighRestartCount", name, "gated", std::string("uid-") + name));
      gated.push_back(h.LatestIssue());
      Analyse(h, gated.back(), {Action("RestartDeployment")});
      EXPECT_EQ(p::kWaitingApproval, h.Plan(gated.back() + "-plan-1").state());
    }
    h.Feed(Alert("HighRestartCount", "web"));
    const std::string web = h.LatestIssue();
    Analyse(h, web, {Action("RestartDeployment")});
    EXPECT_EQ(rules1 ? p::kExecuting : p::kPending, h.Plan(web + "-plan-1").state());
  }
  // Rules 1: approving while the cluster's slots are taken leaves the plan Pending, approved;
  // it starts when a slot frees.
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_approval()->set_enabled(true);
  config.mutable_approval()->add_namespaces("gated");
  config.mutable_safety()->set_max_concurrent_per_cluster(1);
  PipelineHarness h(config);
  h.Feed(Alert("HighRestartCount", "a", "gated"));
  const std::string a = h.LatestIssue();
  Analyse(h, a, {Action("RestartDeployment")});
  h.Feed(Alert("HighRestartCount", "web"));
  const std::string web = h.LatestIssue();
  Analyse(h, web, {Action("RestartDeployment")});
  ASSERT_EQ(p::kExecuting, h.Plan(web + "-plan-1").state());
  h.Feed(Approve(a + "-plan-1"));
  EXPECT_EQ(p::kPending, h.Plan(a + "-plan-1").state());
  EXPECT_THAT(h.Plan(a + "-plan-1").result(),
              HasSubstr("approved by alice; waiting: 1 remediations already run in the cluster"));
  h.Feed(ActionOk(web + "-plan-1", 0));
  h.Feed(Verified(web + "-plan-1", web));
  EXPECT_EQ(p::kExecuting, h.Plan(a + "-plan-1").state());
}

// 2. A generated runbook keeps the strategy, not the first workload's parameters.
TEST(DecisionRulesTest, GeneratedRunbooksTakeTargetParametersFromEachIssuesAnalysis) {
  PipelineHarness h;
  h.Feed(Alert("OOMKilled", "alpha"));
  const std::string alpha = h.LatestIssue();
  auto derived =
      Analyse(h, alpha,
              {Action("AdjustResources", {{"container", "alpha"}, {"memory_limit", "128Mi"}}),
               Action("RestartDeployment")});
  const v1::RunbookGenerated generated =
      First(derived, v1::Event::kRunbookGenerated).runbook_generated();
  ASSERT_EQ(2, generated.spec().steps_size());
  for (const v1::Param& param : generated.spec().steps(0).params()) {
    EXPECT_EQ("<from-analysis>", param.value()) << param.key();
  }
  // The plan itself carries the analysis's values.
  EXPECT_EQ("alpha", p::ParamValue(h.Plan(alpha + "-plan-1").actions(0), "container"));

  // Another workload, in another namespace too: same runbook, its own container and limit.
  h.Feed(Alert("OOMKilled", "beta", "staging"));
  const std::string beta = h.LatestIssue();
  derived = Analyse(h, beta,
                    {Action("AdjustResources", {{"container", "worker"}, {"memory_limit", "1Gi"}}),
                     Action("RestartDeployment")});
  EXPECT_THAT(Types(derived), Not(Contains("runbook_generated")));
  const v1::RunbookMatched matched = First(derived, v1::Event::kRunbookMatched).runbook_matched();
  EXPECT_EQ(generated.name(), matched.runbook_name());
  EXPECT_EQ(3, matched.tier());
  const v1::PlanState& plan = h.Plan(beta + "-plan-1");
  EXPECT_EQ("worker", p::ParamValue(plan.actions(0), "container"));
  EXPECT_EQ("1Gi", p::ParamValue(plan.actions(0), "memory_limit"));

  // An analysis with nothing to fill the runbook from: it is passed over, and why is recorded.
  h.Feed(Alert("OOMKilled", "gamma"));
  const std::string gamma = h.LatestIssue();
  derived = Analyse(h, gamma, {Action("RestartDeployment")});
  const v1::RunbookMatched other = First(derived, v1::Event::kRunbookMatched).runbook_matched();
  EXPECT_NE(generated.name(), other.runbook_name());
  EXPECT_THAT(other.passed_over(),
              HasSubstr("the analysis suggests no AdjustResources to take its parameters from"));
  EXPECT_EQ("RestartDeployment", h.Plan(gamma + "-plan-1").actions(0).type());

  // Rules 0 (recorded logs): the literal parameters, reused as they are.
  PipelineHarness old(Rules0());
  old.Feed(Alert("OOMKilled", "alpha"));
  derived =
      Analyse(old, old.LatestIssue(),
              {Action("AdjustResources", {{"container", "alpha"}, {"memory_limit", "128Mi"}})});
  EXPECT_EQ("alpha",
            p::ParamValue(
                First(derived, v1::Event::kRunbookGenerated).runbook_generated().spec().steps(0),
                "container"));
}

// 2. A generated runbook whose strategy already failed for the issue is not "passed over" when
// the next analysis has nothing to fill it with: it is a failed strategy (no_new_strategy).
TEST(DecisionRulesTest, AnUnfillableRunbookWhoseStrategyFailedIsNoNewStrategy) {
  PipelineHarness h;
  h.Feed(Alert("OOMKilled", "web"));
  const std::string issue = h.LatestIssue();
  Analyse(h, issue,
          {Action("AdjustResources", {{"container", "app"}, {"memory_limit", "128Mi"}}),
           Action("RestartDeployment")});
  FailAttempt(h, issue);
  const auto derived = Analyse(h, issue, {});
  const v1::IssueEscalated& escalated =
      First(derived, v1::Event::kIssueEscalated).issue_escalated();
  EXPECT_EQ("no_new_strategy", escalated.reason());
  EXPECT_THAT(escalated.detail(), Not(HasSubstr("passed over")));
}

// 3. An escalated resource is held: what still fails there joins the escalated issue instead of
// opening a new one that would analyse and try again what already failed.
TEST(DecisionRulesTest, AnEscalatedResourceIsHeldUntilQuietOrRearmed) {
  PipelineHarness h;
  const std::string escalated = EscalatedIssue(h, "shop");
  const size_t plans = h.state().plans.size();
  // The still-failing pods, 100 ms later, and an Alertmanager alert re-sent while firing.
  h.Advance(100);
  auto derived = h.Feed(Alert("HighRestartCount", "shop", "production", "uid-new-pod"));
  EXPECT_THAT(Types(derived), ElementsAre("anomaly_recorded", "anomaly_correlated"));
  EXPECT_EQ("escalation_hold",
            First(derived, v1::Event::kAnomalyCorrelated).anomaly_correlated().reason());
  EXPECT_EQ(escalated, h.LatestIssue());
  for (int i = 0; i < 5; ++i) {
    h.Advance(5 * kMinute);
    derived = h.Feed(Alert("HighErrorRate", "shop", "production", "alertmanager-fp"));
    EXPECT_THAT(Types(derived), Not(Contains("analysis_requested"))) << i;
  }
  EXPECT_EQ(escalated, h.LatestIssue());
  EXPECT_EQ(plans, h.state().plans.size());
  EXPECT_EQ(p::kEscalated, h.Issue(escalated).state());

  // Quiet for the hold (60 min after the last anomaly): the condition cleared, a new issue opens.
  h.Advance(61 * kMinute);
  derived = h.Feed(Alert("HighRestartCount", "shop", "production", "uid-later"));
  EXPECT_THAT(Types(derived), Contains("issue_opened"));
  EXPECT_NE(escalated, h.LatestIssue());

  // A person re-arms: the next anomaly opens a new issue at once.
  PipelineHarness r;
  const std::string held = EscalatedIssue(r, "shop");
  r.Advance(kMinute);
  r.Feed(Alert("HighRestartCount", "shop", "production", "uid-held"));
  EXPECT_EQ(held, r.LatestIssue());
  v1::Event elsewhere = Rearm(held);
  elsewhere.mutable_issue_rearmed()->set_namespace_("staging");  // another namespace's issue
  EXPECT_TRUE(r.Feed(elsewhere).empty());
  EXPECT_FALSE(r.Issue(held).rearmed());
  v1::Event here = Rearm(held);
  here.mutable_issue_rearmed()->set_namespace_("production");
  EXPECT_TRUE(r.Feed(here).empty());
  EXPECT_TRUE(r.Issue(held).rearmed());
  derived = r.Feed(Alert("HighRestartCount", "shop", "production", "uid-held"));
  EXPECT_THAT(Types(derived), Contains("analysis_requested"));
  EXPECT_NE(held, r.LatestIssue());

  // Rules 0: the loop found on the cluster, kept for recorded logs.
  PipelineHarness old(Rules0());
  const std::string first = EscalatedIssue(old, "shop");
  old.Advance(100);
  derived = old.Feed(Alert("HighRestartCount", "shop", "production", "uid-new-pod"));
  EXPECT_THAT(Types(derived), Contains("analysis_requested"));
  EXPECT_NE(first, old.LatestIssue());
}

TEST(DecisionRulesTest, DefaultsUseTheNewestRules) {
  EXPECT_EQ(p::kDecisionRulesCurrent, p::DefaultPipelineConfig().decision_rules());
  EXPECT_EQ(60 * kMinute, p::DefaultPipelineConfig().escalation_hold_ms());
}

}  // namespace
}  // namespace aiops::core_testing
