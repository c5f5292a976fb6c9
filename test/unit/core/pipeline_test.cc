// One test per rule of the pipeline (DESIGN.md §4, §5), driven through the pure engine.
#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pipeline_harness.h"
#include "projections/expiry_queue.h"
#include "projections/naming.h"
#include "projections/pipeline_state.h"
#include "stages/engine.h"

namespace aiops::core_testing {
namespace {

namespace p = projections;
namespace stages = aiops::stages;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kMinute = 60'000;

std::string OpenIssue(PipelineHarness& h, const std::string& type = "HighRestartCount",
                      const std::string& deployment = "api-gateway") {
  h.Feed(Alert(type, deployment));
  return h.LatestIssue();
}

// Answers the current analysis of `issue` with `actions`: the plan is created and started.
std::vector<v1::Event> Analyse(PipelineHarness& h, const std::string& issue,
                               std::vector<v1::ActionSpec> actions) {
  return h.Feed(Analysis(issue, h.Issue(issue).attempt(), std::move(actions)));
}

v1::ActionSpec Restart() { return Action("RestartDeployment"); }

TEST(DetectionTest, AnAlertOpensAnIssueAndRequestsAnalysis) {
  PipelineHarness h;
  const auto derived = h.Feed(Alert("HighRestartCount", "api-gateway"));
  EXPECT_THAT(Types(derived), ElementsAre("anomaly_recorded", "issue_opened", "issue_state_changed",
                                          "analysis_requested"));
  const v1::AnomalyRecorded& anomaly = derived[0].anomaly_recorded();
  EXPECT_EQ("pod_restart", anomaly.signal_type());
  EXPECT_EQ("Deployment", anomaly.resource().kind());
  EXPECT_EQ("api-gateway", anomaly.resource().name());  // the pod's owning workload
  EXPECT_EQ("production", anomaly.resource().namespace_());
  EXPECT_EQ("warning", anomaly.severity());

  const v1::IssueOpened& opened = derived[1].issue_opened();
  EXPECT_EQ(fmt::format("api-gateway-pod-restart-{}", kStartMs / 1000), opened.issue_name());
  EXPECT_EQ("pod_restart", opened.signal_type());
  EXPECT_EQ(20, opened.risk_score());
  EXPECT_EQ("low", opened.severity());
  EXPECT_EQ(p::IncidentId(anomaly.resource(), "pod_restart"), derived[1].incident_id());
  EXPECT_EQ(16U, derived[1].incident_id().size());

  const v1::IssueState& issue = h.Issue(opened.issue_name());
  EXPECT_EQ(p::kAnalyzing, issue.state());
  EXPECT_EQ(1, issue.attempt());
  EXPECT_EQ(3, issue.max_attempts());
  // Derived events carry their cause's time and sequence.
  for (const v1::Event& e : derived) {
    EXPECT_EQ(kStartMs, e.logical_time_ms());
    EXPECT_EQ(derived[0].sequence() - 1, e.causation_sequence());
    EXPECT_EQ("engine", e.producer());
  }
}

TEST(DetectionTest, DuplicatesWithinTheTtlAreSuppressedAndAfterItRecorded) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  const auto again = h.Feed(Alert("HighRestartCount", "api-gateway"));
  EXPECT_THAT(Types(again), ElementsAre("duplicate_suppressed"));
  // Another pod of the same workload is another source object: a new anomaly, same issue.
  const auto other_pod = h.Feed(Alert("HighRestartCount", "api-gateway", "production", "uid-2"));
  EXPECT_THAT(Types(other_pod), ElementsAre("anomaly_recorded", "anomaly_correlated"));
  h.Advance(31 * kMinute);
  const auto later = h.Feed(Alert("HighRestartCount", "api-gateway"));
  EXPECT_EQ("anomaly_recorded", Types(later).front());
}

TEST(DetectionTest, UnknownAlertTypesAreRecordedUnderTheGenericSignal) {
  PipelineHarness h;
  const auto derived = h.Feed(Alert("SomethingOdd", "billing"));
  ASSERT_FALSE(derived.empty());
  EXPECT_EQ("generic", derived[0].anomaly_recorded().signal_type());
  EXPECT_EQ(10, h.Issue(h.LatestIssue()).risk_score());
}

TEST(DetectionTest, AlertTypesMapToTheirSignals) {
  // The first, last and a middle entry of the type table, a signal given as the type, and types
  // that fall between or beyond the table's entries.
  EXPECT_EQ("argocd_degraded", p::SignalForAlertType("ArgoCDDegraded"));
  EXPECT_EQ("generic", p::SignalForAlertType("ScaleEvent"));
  EXPECT_EQ("pod_restart", p::SignalForAlertType("HighRestartCount"));
  EXPECT_EQ("oom_kill", p::SignalForAlertType("OOMKilled"));
  EXPECT_EQ("oom_kill", p::SignalForAlertType("oom_kill"));
  EXPECT_EQ("generic", p::SignalForAlertType("HighRestart"));
  EXPECT_EQ("generic", p::SignalForAlertType("AAA"));
  EXPECT_EQ("generic", p::SignalForAlertType("zzz"));
  EXPECT_EQ("generic", p::SignalForAlertType(""));
}

TEST(CorrelationTest, AnomaliesOnOneResourceJoinItsIssueAndRaiseRiskAndSeverity) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  h.Advance(2 * kMinute);
  auto derived = h.Feed(Alert("OOMKilled", "api-gateway"));
  EXPECT_THAT(Types(derived), ElementsAre("anomaly_recorded", "anomaly_correlated"));
  EXPECT_EQ(50, h.Issue(issue).risk_score());
  EXPECT_EQ("medium", h.Issue(issue).severity());
  h.Advance(2 * kMinute);
  h.Feed(Alert("HighErrorRate", "api-gateway"));
  EXPECT_EQ(75, h.Issue(issue).risk_score());
  EXPECT_EQ("high", h.Issue(issue).severity());
  for (const char* type : {"DeploymentFailing", "PodNotReady", "OOMKilled"}) {
    h.Advance(kMinute);
    h.Feed(Alert(type, "api-gateway", "production", std::string("uid-") + type));
  }
  EXPECT_EQ(100, h.Issue(issue).risk_score());  // capped
  EXPECT_EQ("critical", h.Issue(issue).severity());
  EXPECT_EQ(6U, projections::AnomalyNames(h.Issue(issue)).size());
  EXPECT_EQ("pod_restart", h.Issue(issue).signal_type());  // the opening signal is kept
}

TEST(CorrelationTest, TheWindowRunsFromTheIssuesLastAnomaly) {
  PipelineHarness h;
  const std::string first = OpenIssue(h);
  for (int i = 0; i < 3; ++i) {
    h.Advance(9 * kMinute);
    h.Feed(Alert("PodNotReady", "api-gateway", "production", "uid-" + std::to_string(i)));
  }
  EXPECT_EQ(first, h.LatestIssue());  // 27 minutes in, still one issue
  h.Advance(11 * kMinute);
  h.Feed(Alert("PodNotReady", "api-gateway", "production", "uid-late"));
  EXPECT_NE(first, h.LatestIssue());
  // Another resource never joins.
  h.Feed(Alert("PodNotReady", "checkout"));
  EXPECT_EQ("checkout", h.Issue(h.LatestIssue()).resource().name());
}

TEST(StateMachineTest, HappyPathResolvesAndInvalidatesDedupKeys) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  auto derived = Analyse(h, issue, {Restart()});
  EXPECT_THAT(Types(derived), ElementsAre("runbook_generated", "runbook_matched", "plan_created",
                                          "issue_state_changed", "plan_state_changed"));
  const std::string plan = issue + "-plan-1";
  const v1::PlanCreated& created = First(derived, v1::Event::kPlanCreated).plan_created();
  EXPECT_EQ(plan, created.plan_name());
  EXPECT_THAT(created.strategy(), StartsWith("Attempt 1 via runbook 'auto-pod-restart-low-"));
  EXPECT_THAT(created.safety_constraints(),
              ElementsAre("No delete operations", "No destructive changes", "Rollback on failure"));
  EXPECT_EQ(p::kRemediating, h.Issue(issue).state());
  EXPECT_EQ(p::kExecuting, h.Plan(plan).state());
  ASSERT_EQ(1U, p::CollectIntents(h.state()).actions.size());

  derived = h.Feed(ActionOk(plan, 0));
  EXPECT_THAT(Types(derived), ElementsAre("plan_state_changed"));
  EXPECT_EQ(p::kVerifying, h.Plan(plan).state());
  derived = h.Feed(Verified(plan, issue));
  EXPECT_THAT(Types(derived),
              ElementsAre("plan_state_changed", "issue_resolved", "issue_state_changed"));
  EXPECT_EQ(p::kResolved, h.Issue(issue).state());
  EXPECT_EQ(p::kCompleted, h.Plan(plan).state());
  EXPECT_TRUE(h.state().dedup.empty());
  EXPECT_TRUE(h.state().open_issue.empty());
}

TEST(StateMachineTest, AFailedAttemptIsReanalysedWithItsFailureAndNeverRepeated) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  auto derived = h.Feed(ActionError(issue + "-plan-1", 0, "conflict"));
  EXPECT_THAT(Types(derived),
              ElementsAre("plan_state_changed", "issue_state_changed", "analysis_requested"));
  const v1::AnalysisRequested& request =
      First(derived, v1::Event::kAnalysisRequested).analysis_requested();
  EXPECT_EQ(2, request.attempt());
  ASSERT_EQ(1, request.previous_failures_size());
  EXPECT_THAT(request.previous_failures(0).failure(), HasSubstr("conflict"));
  EXPECT_EQ("RestartDeployment", request.previous_failures(0).actions(0).type());
  EXPECT_EQ(p::kAnalyzing, h.Issue(issue).state());

  // The same strategy again is refused: escalated, not repeated.
  derived = Analyse(h, issue, {Restart()});
  EXPECT_EQ("no_new_strategy",
            First(derived, v1::Event::kIssueEscalated).issue_escalated().reason());
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
}

TEST(StateMachineTest, ADifferentStrategyGetsTheNextPlan) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  h.Feed(ActionError(issue + "-plan-1", 0, "conflict"));
  const auto derived = Analyse(h, issue, {Action("RollbackDeployment")});
  EXPECT_EQ(issue + "-plan-2", First(derived, v1::Event::kPlanCreated).plan_created().plan_name());
  EXPECT_EQ(2, h.Plan(issue + "-plan-2").attempt());
}

TEST(StateMachineTest, EscalatesAfterMaxAttempts) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  const std::vector<v1::ActionSpec> strategies = {Restart(), Action("RollbackDeployment"),
                                                  Action("ScaleDeployment", {{"replicas", "3"}})};
  std::vector<v1::Event> last;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    h.Advance(6 * kMinute);  // past the resource's cooldown after the previous attempt's action
    Analyse(h, issue, {strategies[static_cast<size_t>(attempt - 1)]});
    const std::string plan = issue + "-plan-" + std::to_string(attempt);
    ASSERT_EQ(p::kExecuting, h.Plan(plan).state()) << attempt;
    h.Feed(ActionOk(plan, 0));
    last = h.Feed(NotVerified(plan, issue, "pods still crashing"));
  }
  EXPECT_EQ("max_attempts", First(last, v1::Event::kIssueEscalated).issue_escalated().reason());
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
  EXPECT_EQ(3, h.Issue(issue).failures_size() + 1);  // the third failure ends it
}

TEST(StateMachineTest, AFailedActionWithAPreflightWaitsForItsRollback) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart(), Action("RollbackDeployment")});
  const std::string plan = issue + "-plan-1";
  h.Feed(Preflight(plan));
  h.Feed(ActionOk(plan, 0));
  auto derived = h.Feed(ActionError(plan, 1, "no previous revision"));
  EXPECT_THAT(Types(derived), ElementsAre("plan_state_changed"));
  EXPECT_EQ(p::kFailed, h.Plan(plan).state());
  EXPECT_THAT(p::CollectIntents(h.state()).rollbacks, ElementsAre(plan));
  derived = h.Feed(RolledBack(plan));
  EXPECT_THAT(Types(derived),
              ElementsAre("plan_state_changed", "issue_state_changed", "analysis_requested"));
  EXPECT_EQ(p::kRolledBack, h.Plan(plan).state());
  EXPECT_TRUE(p::CollectIntents(h.state()).rollbacks.empty());
}

TEST(StateMachineTest, TheVerificationWindowIsADeadline) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  const std::string plan = issue + "-plan-1";
  h.Feed(ActionOk(plan, 0));
  const auto deadlines = p::PendingDeadlines(h.state());
  ASSERT_EQ(1U, deadlines.size());
  EXPECT_EQ("verification", deadlines[0].kind);
  EXPECT_EQ(h.now_ms() + 90'000, deadlines[0].due_at_ms);
  h.Advance(90'000);
  const auto derived = h.Feed(Deadline("verification", plan, deadlines[0].due_at_ms));
  EXPECT_EQ("verification_failed", Types(derived).front());
  EXPECT_EQ(p::kFailed, h.Plan(plan).state());
  // A deadline for a plan that moved on changes nothing.
  EXPECT_TRUE(h.Feed(Deadline("verification", plan, deadlines[0].due_at_ms)).empty());
}

TEST(StateMachineTest, StaleAnalysisForAnEarlierAttemptIsIgnored) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  h.Feed(ActionError(issue + "-plan-1", 0, "conflict"));
  EXPECT_TRUE(h.Feed(Analysis(issue, 1, {Action("RollbackDeployment")})).empty());
  EXPECT_EQ(p::kAnalyzing, h.Issue(issue).state());
}

TEST(RunbookTest, Tier1BeatsTier2AndManualBeatsAutoGenerated) {
  PipelineHarness h;
  h.Feed(ManualRunbook("tier2", "production", "", "low", "Deployment",
                       {Action("ScaleDeployment", {{"replicas", "4"}})}));
  h.Feed(ManualRunbook("tier1", "production", "pod_restart", "low", "Deployment",
                       {Action("RollbackDeployment")}, 5));
  h.Feed(
      ManualRunbook("wrong-kind", "production", "pod_restart", "low", "StatefulSet", {Restart()}));
  const std::string issue = OpenIssue(h);
  auto derived = Analyse(h, issue, {Restart()});
  const v1::RunbookMatched& matched = First(derived, v1::Event::kRunbookMatched).runbook_matched();
  EXPECT_EQ("tier1", matched.runbook_name());
  EXPECT_EQ(1, matched.tier());
  EXPECT_EQ(5, h.Issue(issue).max_attempts());  // the manual runbook's maxAttempts
  EXPECT_EQ("RollbackDeployment", h.Plan(issue + "-plan-1").actions(0).type());

  // Once tier 1 failed, tier 2 is next.
  h.Feed(ActionError(issue + "-plan-1", 0, "no revision"));
  derived = Analyse(h, issue, {Restart()});
  EXPECT_EQ("tier2", First(derived, v1::Event::kRunbookMatched).runbook_matched().runbook_name());
  EXPECT_EQ(2, First(derived, v1::Event::kRunbookMatched).runbook_matched().tier());
}

TEST(RunbookTest, AutoGeneratedRunbooksAreDeterministicAndReused) {
  PipelineHarness h;
  const std::string first = OpenIssue(h);
  auto derived = Analyse(h, first, {Restart()});
  const v1::RunbookGenerated generated =
      First(derived, v1::Event::kRunbookGenerated).runbook_generated();
  EXPECT_THAT(generated.name(), StartsWith("auto-pod-restart-low-deployment-"));
  EXPECT_EQ("pod_restart", generated.spec().trigger().signal_type());
  const std::string plan = first + "-plan-1";
  h.Feed(ActionOk(plan, 0));
  h.Feed(Verified(plan, first));

  h.Advance(61 * kMinute);
  const std::string second = OpenIssue(h);
  ASSERT_NE(first, second);
  derived = Analyse(h, second, {Action("ScaleDeployment", {{"replicas", "3"}})});
  EXPECT_THAT(Types(derived), ::testing::Not(::testing::Contains("runbook_generated")));
  const v1::RunbookMatched& matched = First(derived, v1::Event::kRunbookMatched).runbook_matched();
  EXPECT_EQ(generated.name(), matched.runbook_name());
  EXPECT_EQ(3, matched.tier());
  EXPECT_EQ(first, h.Issue(second).previous_issue());
}

TEST(RunbookTest, NothingToDoEscalates) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  auto derived = Analyse(h, issue, {});
  EXPECT_EQ("no_runbook", First(derived, v1::Event::kIssueEscalated).issue_escalated().reason());
  const std::string other = OpenIssue(h, "OOMKilled", "worker");
  derived = h.Feed(AnalysisFailure(other, 1, "analyzer unreachable"));
  EXPECT_THAT(First(derived, v1::Event::kIssueEscalated).issue_escalated().detail(),
              HasSubstr("analyzer unreachable"));
}

TEST(SafetyTest, BlockedPlansFailBeforeAnyAction) {
  struct Case {
    v1::ActionSpec action;
    int32_t replicas;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {Action("Custom"), 0, "Custom actions are always blocked"},
      {Action("DeleteEverything"), 0, "not an action the operator implements"},
      {Action("ScaleDeployment", {{"replicas", "0"}}), 2, "allowed only with containment"},
      {Action("ScaleDeployment", {{"replicas", "5"}}), 2, "exceeds the limits"},
      {Action("ScaleDeployment", {{"replicas", "50"}}), 35, "exceeds the limits"},
      {Action("ScaleDeployment", {{"replicas", "many"}}), 2, "non-negative integer"},
      {Action("PatchConfig", {{"LOG_LEVEL", "debug"}}), 0, "needs a 'configmap'"},
      {Action("AdjustResources", {{"container", "app"}}), 0, "at least one of"},
  };
  for (const Case& c : cases) {
    PipelineHarness h;
    const std::string issue = OpenIssue(h);
    if (c.replicas > 0) {
      h.Feed(Context(issue, 1, c.replicas));
    }
    const auto derived = Analyse(h, issue, {c.action});
    const std::string plan = issue + "-plan-1";
    EXPECT_EQ(p::kFailed, h.Plan(plan).state()) << c.reason;
    EXPECT_THAT(h.Plan(plan).result(), HasSubstr(c.reason));
    EXPECT_TRUE(p::CollectIntents(h.state()).actions.empty());
    EXPECT_EQ(2, h.Issue(issue).attempt());  // a blocked plan is a failed attempt
  }
}

TEST(SafetyTest, ContainmentAndChangesWithinLimitsAreAllowed) {
  for (const auto& [action, replicas] : std::vector<std::pair<v1::ActionSpec, int32_t>>{
           {Action("ScaleDeployment", {{"containment", "true"}, {"replicas", "0"}}), 2},
           {Action("ScaleDeployment", {{"replicas", "4"}}), 2},
           {Action("ScaleDeployment", {{"replicas", "3"}}), 0}}) {
    PipelineHarness h;
    const std::string issue = OpenIssue(h);
    if (replicas > 0) {
      h.Feed(Context(issue, 1, replicas));
    }
    Analyse(h, issue, {action});
    EXPECT_EQ(p::kExecuting, h.Plan(issue + "-plan-1").state()) << action.DebugString();
  }
}

TEST(SafetyTest, NamespacePolicyBlocks) {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_safety()->add_denied_namespaces("kube-system");
  config.mutable_safety()->add_allowed_namespaces("production");
  PipelineHarness h(config);
  h.Feed(Alert("HighRestartCount", "coredns", "kube-system"));
  std::string issue = h.LatestIssue();
  Analyse(h, issue, {Restart()});
  EXPECT_THAT(h.Plan(issue + "-plan-1").result(), HasSubstr("namespace kube-system is denied"));
  h.Feed(Alert("HighRestartCount", "web", "staging"));
  issue = h.LatestIssue();
  Analyse(h, issue, {Restart()});
  EXPECT_THAT(h.Plan(issue + "-plan-1").result(), HasSubstr("not in the allowed namespaces"));
}

TEST(SafetyTest, AResourceCoolsDownAfterAnAction) {
  PipelineHarness h;
  const std::string first = OpenIssue(h);
  Analyse(h, first, {Restart()});
  h.Feed(ActionOk(first + "-plan-1", 0));
  h.Feed(Verified(first + "-plan-1", first));
  h.Advance(11 * kMinute);  // past the resolution cooldown, but ...
  const std::string second = OpenIssue(h, "OOMKilled");
  Analyse(h, second, {Action("RollbackDeployment")});
  // ... the resource's action cooldown (5 min from the first action) has passed too: it runs.
  EXPECT_EQ(p::kExecuting, h.Plan(second + "-plan-1").state());

  // Within the cooldown a plan waits for its deadline.
  h.Feed(ActionError(second + "-plan-1", 0, "boom"));  // Executing -> Failed starts a cooldown
  Analyse(h, second, {Restart()});
  const std::string waiting = second + "-plan-2";
  EXPECT_EQ(p::kPending, h.Plan(waiting).state());
  const auto deadlines = p::PendingDeadlines(h.state());
  ASSERT_EQ(1U, deadlines.size());
  EXPECT_EQ("cooldown", deadlines[0].kind);
  EXPECT_EQ(h.now_ms() + 5 * kMinute, deadlines[0].due_at_ms);
  h.Advance(5 * kMinute);
  h.Feed(Deadline("cooldown", waiting, deadlines[0].due_at_ms));
  EXPECT_EQ(p::kExecuting, h.Plan(waiting).state());
}

TEST(SafetyTest, ConcurrentRemediationsAreLimitedAndWaitingPlansStartInOrder) {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_safety()->set_max_concurrent_per_namespace(1);
  PipelineHarness h(config);
  const std::string a = OpenIssue(h, "HighRestartCount", "a");
  const std::string b = OpenIssue(h, "HighRestartCount", "b");
  Analyse(h, a, {Restart()});
  Analyse(h, b, {Restart()});
  EXPECT_EQ(p::kExecuting, h.Plan(a + "-plan-1").state());
  EXPECT_EQ(p::kPending, h.Plan(b + "-plan-1").state());
  h.Feed(ActionOk(a + "-plan-1", 0));
  EXPECT_EQ(p::kPending, h.Plan(b + "-plan-1").state());  // Verifying still holds the slot
  h.Feed(Verified(a + "-plan-1", a));
  EXPECT_EQ(p::kExecuting, h.Plan(b + "-plan-1").state());
}

TEST(DryRunTest, DryRunSendsTheActionsAsDryRunsThenEscalates) {
  for (int mode = 0; mode < 3; ++mode) {
    v1::PipelineConfig config = p::DefaultPipelineConfig();
    if (mode == 0) {
      config.mutable_dry_run()->set_global(true);
    } else if (mode == 1) {
      config.mutable_dry_run()->add_namespaces("production");
    } else {
      config.mutable_dry_run()->add_runbooks("careful");
    }
    config.mutable_approval()->set_enabled(true);  // a dry run needs no approval
    config.mutable_approval()->add_severities("low");
    PipelineHarness h(config);
    h.Feed(ManualRunbook("careful", "production", "pod_restart", "low", "Deployment",
                         {Restart(), Action("ScaleDeployment", {{"replicas", "3"}})}));
    const std::string issue = OpenIssue(h);
    Analyse(h, issue, {});
    const std::string plan = issue + "-plan-1";
    ASSERT_TRUE(h.Plan(plan).dry_run()) << mode;
    EXPECT_EQ(p::kExecuting, h.Plan(plan).state()) << mode;
    ASSERT_EQ(1u, p::CollectIntents(h.state()).actions.size());
    h.Feed(ActionOk(plan, 0));
    EXPECT_EQ(p::kExecuting, h.Plan(plan).state());
    const auto derived = h.Feed(ActionOk(plan, 1));
    EXPECT_EQ(p::kCompleted, h.Plan(plan).state()) << mode;  // no verification
    EXPECT_THAT(h.Plan(plan).result(), StartsWith("dry-run: no changes made"));
    EXPECT_EQ("dry_run", First(derived, v1::Event::kIssueEscalated).issue_escalated().reason());
    EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
    EXPECT_TRUE(p::CollectIntents(h.state()).actions.empty());
    EXPECT_TRUE(h.state().cooldown_until_ms.empty()) << "a dry run changed nothing";
  }
}

TEST(DryRunTest, ARefusedDryRunEscalatesWithoutRollbackOrRetry) {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_dry_run()->set_global(true);
  PipelineHarness h(config);
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  const std::string plan = issue + "-plan-1";
  const auto derived = h.Feed(ActionError(plan, 0, "admission webhook denied the request"));
  EXPECT_EQ(p::kFailed, h.Plan(plan).state());
  EXPECT_THAT(h.Plan(plan).result(), HasSubstr("admission webhook denied the request"));
  EXPECT_EQ("dry_run", First(derived, v1::Event::kIssueEscalated).issue_escalated().reason());
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
  EXPECT_EQ(1, h.Issue(issue).attempt());  // nothing is retried
  const p::Intents intents = p::CollectIntents(h.state());
  EXPECT_TRUE(intents.rollbacks.empty());
  EXPECT_TRUE(intents.analyses.empty());
}

TEST(DryRunTest, ABlockedDryRunIsNotSent) {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_dry_run()->set_global(true);
  PipelineHarness h(config);
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Action("Custom")});
  const std::string plan = issue + "-plan-1";
  EXPECT_EQ(p::kFailed, h.Plan(plan).state());
  EXPECT_THAT(h.Plan(plan).result(), HasSubstr("Custom actions are always blocked"));
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
  EXPECT_TRUE(p::CollectIntents(h.state()).actions.empty());
}

TEST(DryRunTest, ADryRunHoldsNoRemediationSlot) {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_dry_run()->add_namespaces("dry");
  config.mutable_safety()->set_max_concurrent_per_cluster(1);
  PipelineHarness h(config);
  h.Feed(Alert("OOMKilled", "api", "dry"));
  const std::string a = h.LatestIssue();
  Analyse(h, a, {Restart()});
  ASSERT_EQ(p::kExecuting, h.Plan(a + "-plan-1").state());
  const std::string b = OpenIssue(h, "OOMKilled", "web");
  Analyse(h, b, {Restart()});
  EXPECT_EQ(p::kExecuting, h.Plan(b + "-plan-1").state());
}

v1::PipelineConfig ApprovalForLow() {
  v1::PipelineConfig config = p::DefaultPipelineConfig();
  config.mutable_approval()->set_enabled(true);
  config.mutable_approval()->add_severities("low");
  return config;
}

TEST(ApprovalTest, ApprovedPlansRun) {
  PipelineHarness h(ApprovalForLow());
  const std::string issue = OpenIssue(h);
  auto derived = Analyse(h, issue, {Restart()});
  const std::string plan = issue + "-plan-1";
  EXPECT_EQ(p::kWaitingApproval, h.Plan(plan).state());
  EXPECT_EQ(h.now_ms() + 30 * kMinute,
            First(derived, v1::Event::kApprovalRequested).approval_requested().expires_at_ms());
  EXPECT_TRUE(p::CollectIntents(h.state()).actions.empty());
  h.Feed(Approve(plan));
  EXPECT_EQ(p::kExecuting, h.Plan(plan).state());
  EXPECT_EQ("alice", h.Plan(plan).approver());
}

TEST(ApprovalTest, RejectedPlansEscalate) {
  PipelineHarness h(ApprovalForLow());
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  const auto derived = h.Feed(Reject(issue + "-plan-1"));
  EXPECT_EQ("approval_rejected",
            First(derived, v1::Event::kIssueEscalated).issue_escalated().reason());
  EXPECT_EQ(p::kFailed, h.Plan(issue + "-plan-1").state());
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
}

TEST(ApprovalTest, AnUnansweredRequestExpiresAsRejected) {
  PipelineHarness h(ApprovalForLow());
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  const auto deadlines = p::PendingDeadlines(h.state());
  ASSERT_EQ(1U, deadlines.size());
  EXPECT_EQ("approval", deadlines[0].kind);
  h.Advance(30 * kMinute);
  const auto derived = h.Feed(Deadline("approval", issue + "-plan-1", deadlines[0].due_at_ms));
  EXPECT_EQ("system:expired",
            First(derived, v1::Event::kApprovalRejected).approval_rejected().approver());
  EXPECT_EQ(p::kEscalated, h.Issue(issue).state());
  // A late approval changes nothing: it failed closed.
  EXPECT_TRUE(h.Feed(Approve(issue + "-plan-1")).empty());
}

TEST(RecurrenceTest, ResolutionCooldownSuppressesAndTheRecurrenceLimitEscalates) {
  PipelineHarness h;
  std::string previous;
  for (int i = 0; i < 3; ++i) {
    const std::string issue = OpenIssue(h);
    EXPECT_EQ(previous, h.Issue(issue).previous_issue());
    EXPECT_EQ(i, h.Issue(issue).recurrence_count());
    Analyse(h, issue, {Action("ScaleDeployment", {{"replicas", std::to_string(2 + i)}})});
    h.Feed(ActionOk(issue + "-plan-1", 0));
    h.Feed(Verified(issue + "-plan-1", issue));
    // Within the resolution cooldown the resource is left to settle.
    h.Advance(2 * kMinute);
    const auto suppressed =
        h.Feed(Alert("HighRestartCount", "api-gateway", "production", "late-" + std::to_string(i)));
    EXPECT_EQ("resolution_cooldown",
              First(suppressed, v1::Event::kAnomalyCorrelated).anomaly_correlated().reason());
    EXPECT_EQ(issue, h.LatestIssue());
    h.Advance(10 * kMinute);
    previous = issue;
  }
  // The fourth within the hour: three resolved recurrences, so a person is called.
  const auto derived = h.Feed(Alert("HighRestartCount", "api-gateway"));
  EXPECT_EQ("recurrence_limit",
            First(derived, v1::Event::kIssueEscalated).issue_escalated().reason());
  EXPECT_EQ(p::kEscalated, h.Issue(h.LatestIssue()).state());
}

TEST(SnapshotTest, EncodeDecodeIsLosslessAndVersionMismatchesAreRefused) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  Analyse(h, issue, {Restart()});
  const std::string bytes = p::EncodeSnapshot(h.state());
  auto decoded = p::DecodeSnapshot(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == h.state());
  EXPECT_EQ(h.state().open_issue, decoded->open_issue);
  std::string other_version = bytes;
  other_version[3] = static_cast<char>(other_version[3] + 1);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition,
            p::DecodeSnapshot(other_version).status().code());
  EXPECT_EQ(absl::StatusCode::kDataLoss,
            p::DecodeSnapshot(bytes.substr(0, 4) + "\xff\xff").status().code());
}

TEST(SnapshotTest, DuplicatesAfterARestoreAreLoggedUnderTheAnomalysIncident) {
  PipelineHarness h;
  const auto first = h.Feed(Alert("HighRestartCount", "api-gateway"));
  const v1::Event& anomaly = First(first, v1::Event::kAnomalyRecorded);
  ASSERT_FALSE(anomaly.incident_id().empty());
  auto restored = p::DecodeSnapshot(p::EncodeSnapshot(h.state()));
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_EQ(1U, restored->dedup.size());
  v1::Event again = Alert("HighRestartCount", "api-gateway");
  again.set_logical_time_ms(h.now_ms() + 1000);
  const std::vector<v1::Event> batch = stages::ProcessInput(*restored, again, 100);
  const v1::Event& duplicate = First(batch, v1::Event::kDuplicateSuppressed);
  EXPECT_EQ(anomaly.incident_id(), duplicate.incident_id());
  EXPECT_EQ(anomaly.anomaly_recorded().dedup_key(), duplicate.duplicate_suppressed().dedup_key());
  EXPECT_EQ(anomaly.anomaly_recorded().alert_sequence(),
            duplicate.duplicate_suppressed().first_sequence());
}

TEST(SnapshotTest, ADedupKeyThatIsNotADigestIsKeptAsWritten) {
  // Keys in logs written by other tools need not be SHA-256 hex; the state holds them by the
  // digest of their text and snapshots still write them as they came.
  p::PipelineState state;
  v1::Event e;
  e.set_sequence(1);
  e.set_logical_time_ms(kStartMs);
  e.set_incident_id("an-incident-id-longer-than-sixteen");
  v1::AnomalyRecorded* a = e.mutable_anomaly_recorded();
  a->set_dedup_key("legacy|key");
  a->set_detected_at_ms(kStartMs);
  a->set_alert_sequence(1);
  p::Apply(state, e);
  ASSERT_EQ(1U, state.dedup.size());
  const p::DedupSlot& slot = state.dedup.at(p::DedupIdOf("legacy|key"));
  EXPECT_EQ("an-incident-id-longer-than-sixteen", slot.incident_id());
  v1::PipelineSnapshot snapshot;
  const std::string bytes = p::EncodeSnapshot(state);
  ASSERT_TRUE(snapshot.ParseFromString(bytes.substr(4)));
  ASSERT_EQ(1, snapshot.dedup_size());
  EXPECT_EQ("legacy|key", snapshot.dedup(0).key());
  EXPECT_EQ("an-incident-id-longer-than-sixteen", snapshot.dedup(0).incident_id());
  auto restored = p::DecodeSnapshot(bytes);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(*restored == state);
  EXPECT_EQ(bytes, p::EncodeSnapshot(*restored));
}

TEST(SnapshotTest, ADedupEntryNamingAnIssueTheSnapshotDoesNotHoldIsRefused) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  v1::PipelineSnapshot snapshot;
  const std::string bytes = p::EncodeSnapshot(h.state());
  ASSERT_TRUE(snapshot.ParseFromString(bytes.substr(4)));
  ASSERT_EQ(1, snapshot.dedup_size());
  EXPECT_EQ(issue, snapshot.dedup(0).issue_name());  // written by name
  snapshot.mutable_dedup(0)->set_issue_name("no-such-issue");
  const absl::Status status =
      p::DecodeSnapshot(bytes.substr(0, 4) + snapshot.SerializeAsString()).status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, status.code());
  EXPECT_THAT(std::string(status.message()), HasSubstr("names issue no-such-issue"));
}

TEST(SnapshotTest, AnIssueWithDamagedAnomalyListOrDedupIdsIsRefused) {
  PipelineHarness h;
  const std::string issue = OpenIssue(h);
  const std::string bytes = p::EncodeSnapshot(h.state());
  v1::PipelineSnapshot snapshot;
  ASSERT_TRUE(snapshot.ParseFromString(bytes.substr(4)));
  ASSERT_EQ(1, snapshot.issues_size());
  ASSERT_EQ(32U, snapshot.issues(0).dedup_ids().size());
  auto decode = [&](const v1::PipelineSnapshot& s) {
    return p::DecodeSnapshot(bytes.substr(0, 4) + s.SerializeAsString()).status();
  };
  v1::PipelineSnapshot cut_id = snapshot;
  cut_id.mutable_issues(0)->mutable_dedup_ids()->pop_back();
  absl::Status status = decode(cut_id);
  EXPECT_EQ(absl::StatusCode::kDataLoss, status.code());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(fmt::format("issue {} holds 31 bytes of dedup ids", issue)));
  for (const auto& [field, list] :
       {std::pair{"anomaly_list", &v1::IssueState::mutable_anomaly_list},
        std::pair{"signal_list", &v1::IssueState::mutable_signal_list}}) {
    v1::PipelineSnapshot cut_list = snapshot;
    (cut_list.mutable_issues(0)->*list)()->pop_back();
    status = decode(cut_list);
    EXPECT_EQ(absl::StatusCode::kDataLoss, status.code()) << field;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(fmt::format("issue {}'s {} does not parse", issue, field)));
  }
  EXPECT_TRUE(decode(snapshot).ok());
}

TEST(CorrelationTest, AnIssueListsItsAnomaliesInOrderAndItsDistinctSignals) {
  PipelineHarness h;
  std::vector<std::string> names;
  std::string issue;
  int pod = 0;
  for (const char* type : {"HighRestartCount", "OOMKilled", "HighRestartCount", "PodNotReady"}) {
    h.Advance(kMinute);
    const auto derived =
        h.Feed(Alert(type, "api-gateway", "production", fmt::format("uid-{}", ++pod)));
    const v1::Event& anomaly = First(derived, v1::Event::kAnomalyRecorded);
    names.push_back(anomaly.anomaly_recorded().anomaly_name());
    if (issue.empty()) {
      issue = First(derived, v1::Event::kIssueOpened).issue_opened().issue_name();
    }
  }
  const v1::IssueState& state = h.Issue(issue);
  EXPECT_EQ(names, p::AnomalyNames(state));
  EXPECT_THAT(p::SignalTypes(state), ElementsAre("pod_restart", "oom_kill", "pod_not_ready"));
  EXPECT_EQ(4 * 32U, state.dedup_ids().size());
  // Only readers' copies list them.
  EXPECT_TRUE(state.anomaly_names().empty());
  EXPECT_TRUE(state.signal_types().empty());
  const v1::IssueState shown = p::IssueForReaders(state);
  EXPECT_THAT(shown.anomaly_names(), ElementsAreArray(names));
  EXPECT_THAT(shown.signal_types(), ElementsAre("pod_restart", "oom_kill", "pod_not_ready"));
  EXPECT_TRUE(shown.anomaly_list().empty());
  EXPECT_TRUE(shown.signal_list().empty());
  EXPECT_TRUE(shown.dedup_ids().empty());
  EXPECT_EQ(state.name(), shown.name());
}

TEST(DedupTest, EntriesExpireInExpiryOrderEvenWhenLogicalTimeWentBack) {
  p::PipelineState state;
  const int64_t ttl = state.config.dedup_ttl_ms();
  auto record = [&](uint64_t sequence, const std::string& key, int64_t at_ms) {
    v1::Event e;
    e.set_sequence(sequence);
    e.set_logical_time_ms(at_ms);
    v1::AnomalyRecorded* a = e.mutable_anomaly_recorded();
    a->set_dedup_key(key);
    a->set_detected_at_ms(at_ms);
    a->set_alert_sequence(sequence);
    p::Apply(state, e);
  };
  record(1, "late", kStartMs + 60'000);
  record(2, "early", kStartMs);  // an older event arrives after a newer one
  record(3, "middle", kStartMs + 30'000);
  ASSERT_EQ(3U, state.dedup.size());
  v1::Event tick;
  tick.set_sequence(4);
  tick.set_logical_time_ms(kStartMs + ttl + 30'000);  // "early" and "middle" are due
  p::Apply(state, tick);
  EXPECT_EQ(1U, state.dedup.size());
  EXPECT_TRUE(state.dedup.contains(p::DedupIdOf("late")));
  tick.set_sequence(5);
  tick.set_logical_time_ms(kStartMs + ttl + 60'000);
  p::Apply(state, tick);
  EXPECT_TRUE(state.dedup.empty());
  EXPECT_TRUE(state.dedup_expiry.empty());
}

TEST(DedupTest, TheExpiryQueueKeepsItsOrderAcrossCompactionsAndLateEntries) {
  p::ExpiryQueue<int> queue;
  std::vector<std::pair<int64_t, int>> taken;
  // 5,000 entries in time order, taken as time passes (the front is dropped in place several
  // times), with an entry due earlier than the last one added every 1,000th.
  int64_t now = 0;
  for (int i = 0; i < 5'000; ++i) {
    queue.Add(10 * i, i);
    if (i % 1'000 == 999) {
      queue.Add(10 * i - 15, -i);  // after the earlier, before the later ones
    }
    queue.Add(10 * i, i + 100'000);  // same time: after the first
    now = 10 * i - 2'000;
    while (!queue.empty() && queue.front().first <= now) {
      taken.push_back(queue.front());
      queue.pop_front();
    }
  }
  while (!queue.empty()) {
    taken.push_back(queue.front());
    queue.pop_front();
  }
  ASSERT_EQ(10'005U, taken.size());
  EXPECT_TRUE(std::is_sorted(taken.begin(), taken.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }));
  for (size_t i = 1; i < taken.size(); ++i) {
    if (taken[i].first == taken[i - 1].first) {  // equal times in insertion order
      EXPECT_EQ(taken[i - 1].second + 100'000, taken[i].second) << "at " << taken[i].first;
    }
  }
  EXPECT_EQ(std::make_pair(int64_t{9'975}, -999), taken[1'996]);

  // Bulk loading: appended in any order, sorted once, equal times in appended order.
  p::ExpiryQueue<int> loaded;
  loaded.AppendUnsorted(30, 1);
  loaded.AppendUnsorted(10, 2);
  loaded.AppendUnsorted(30, 3);
  loaded.AppendUnsorted(20, 4);
  loaded.Sort();
  const std::vector<std::pair<int64_t, int>> sorted(loaded.begin(), loaded.end());
  EXPECT_THAT(sorted, ElementsAre(std::make_pair(10, 2), std::make_pair(20, 4),
                                  std::make_pair(30, 1), std::make_pair(30, 3)));
}

// The limits failed AdjustResources actions set (the revisions they made hold them): memory and
// cpu, with the container when named; other actions and params are not limits.
TEST(NamingTest, FailedLimitsListWhatFailedAdjustResourcesSet) {
  google::protobuf::RepeatedPtrField<v1::AttemptFailure> failures;
  v1::AttemptFailure* f = failures.Add();
  v1::ActionSpec* a = f->add_actions();
  a->set_type("AdjustResources");
  for (const auto& [key, value] :
       {std::pair{"container", "app"}, std::pair{"memory_limit", "1Gi"},
        std::pair{"cpu_limit", "500m"}, std::pair{"memory_request", "512Mi"}}) {
    v1::Param* p = a->add_params();
    p->set_key(key);
    p->set_value(value);
  }
  f->add_actions()->set_type("RestartDeployment");
  v1::ActionSpec* other = failures.Add()->add_actions();
  other->set_type("AdjustResources");
  v1::Param* p = other->add_params();
  p->set_key("memory_limit");
  p->set_value("2Gi");
  const std::vector<projections::FailedLimit> limits = projections::FailedLimits(failures);
  ASSERT_EQ(3U, limits.size());
  EXPECT_EQ("app", limits[0].container);
  EXPECT_EQ("memory", limits[0].resource);
  EXPECT_EQ("1Gi", limits[0].value);
  EXPECT_EQ("cpu", limits[1].resource);
  EXPECT_EQ("500m", limits[1].value);
  EXPECT_EQ("", limits[2].container);
  EXPECT_EQ("2Gi", limits[2].value);
}

TEST(NamingTest, NamesAreValidDns1123AndDistinctWhenShortened) {
  EXPECT_EQ("api-gateway-pod-restart-1771276354",
            p::Dns1123Name("api-gateway-pod_restart-1771276354"));
  const std::string long_a(80, 'a');
  const std::string a = p::Dns1123Name(long_a + "-x");
  const std::string b = p::Dns1123Name(long_a + "-y");
  EXPECT_LE(a.size(), 63U);
  EXPECT_NE(a, b);
  EXPECT_EQ("unnamed", p::Dns1123Name("___"));
  EXPECT_EQ("a-b", p::Dns1123Name("-A..B-"));
  EXPECT_EQ("az09-za", p::Dns1123Name("AZ09@ZA"));
  EXPECT_EQ("caf-x", p::Dns1123Name("caf\xc3\xa9 x"));  // bytes beyond ASCII separate
  EXPECT_EQ("unnamed", p::Dns1123Name(""));
  // What Dns1123Name makes is a valid label; the checks accept what Kubernetes accepts.
  for (const std::string& raw : {std::string("-A..B-"), long_a + "-x", std::string("___")}) {
    EXPECT_TRUE(p::IsDns1123Label(p::Dns1123Name(raw))) << raw;
  }
  EXPECT_TRUE(p::IsDns1123Label("chatcli-aiops-leader"));
  EXPECT_TRUE(p::IsDns1123Label(std::string(63, 'a')));
  EXPECT_FALSE(p::IsDns1123Label(std::string(64, 'a')));
  EXPECT_FALSE(p::IsDns1123Label("a.b"));
  EXPECT_FALSE(p::IsDns1123Label("Upper"));
  EXPECT_FALSE(p::IsDns1123Label("-a"));
  EXPECT_FALSE(p::IsDns1123Label(""));
  EXPECT_TRUE(p::IsDns1123Subdomain("leader.ops.example"));
  EXPECT_FALSE(p::IsDns1123Subdomain("a..b"));
  EXPECT_FALSE(p::IsDns1123Subdomain("a."));
  EXPECT_FALSE(p::IsDns1123Subdomain("under_score"));
  EXPECT_FALSE(p::IsDns1123Subdomain(std::string(254, 'a')));
}

}  // namespace
}  // namespace aiops::core_testing
