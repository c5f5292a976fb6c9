// The built-in rules: one test per rule, the retry behaviour (never repeat a failed strategy),
// determinism, catalogue-only output, and the context parsing the rules rely on.
#include "server/analysis/rules_analyzer.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/analysis/prompt.h"
#include "server/analysis/redact.h"
#include "stages/safety.h"
#include "test_servers.h"

namespace aiops::analysis {
namespace {

using testing::ContextSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeContext;

AnalysisRequest Request(const std::string& signal, const std::string& context) {
  AnalysisRequest r;
  r.issue.set_name("api-" + signal + "-1771276354");
  r.issue.mutable_resource()->set_kind("Deployment");
  r.issue.mutable_resource()->set_namespace_("production");
  r.issue.mutable_resource()->set_name("api");
  r.issue.set_signal_type(signal);
  r.issue.set_severity("high");
  r.issue.set_risk_score(65);
  r.attempt = 1;
  r.context = context;
  return r;
}

void AddFailure(AnalysisRequest& r, const std::string& type) {
  v1::AttemptFailure* f = r.previous_failures.Add();
  f->set_attempt(r.attempt);
  f->set_plan_name(r.issue.name() + "-plan-" + std::to_string(r.attempt));
  f->add_actions()->set_type(type);
  f->set_failure("verification failed: still unhealthy after 1m30s");
  ++r.attempt;
}

std::vector<std::string> Types(const v1::AnalysisCompleted& a) {
  std::vector<std::string> out;
  for (const v1::ActionSpec& s : a.suggested_actions()) {
    out.push_back(s.type());
  }
  return out;
}

std::string Param(const v1::ActionSpec& a, const std::string& key) {
  for (const v1::Param& p : a.params()) {
    if (p.key() == key) {
      return p.value();
    }
  }
  return "<absent>";
}

v1::AnalysisCompleted Analyze(const AnalysisRequest& r, RulesOptions options = {}) {
  RulesAnalyzer rules(std::move(options));
  absl::StatusOr<v1::AnalysisCompleted> out = rules.Analyze(r);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : v1::AnalysisCompleted();
}

TEST(RulesAnalyzerTest, OomKilledDoublesTheShownMemoryLimitAndRestarts) {
  ContextSpec spec;
  spec.last_termination = "OOMKilled";
  spec.memory_limit = "256Mi";
  const v1::AnalysisCompleted a = Analyze(Request("pod_restart", MakeContext(spec)));
  ASSERT_THAT(Types(a), ElementsAre("AdjustResources", "RestartDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "memory_limit"), "512Mi");
  EXPECT_EQ(Param(a.suggested_actions(0), "container"), "app");
  EXPECT_EQ(a.suggested_actions(0).params(0).key(), "container");  // sorted by key
  EXPECT_FLOAT_EQ(a.confidence(), 0.85F);
  EXPECT_THAT(a.analysis(), HasSubstr("oom-raise-memory"));
  EXPECT_THAT(a.analysis(), HasSubstr("256Mi"));
  EXPECT_EQ(a.provider(), "builtin");
  EXPECT_EQ(a.model(), "rules-v1");
  EXPECT_EQ(a.issue_name(), "api-pod_restart-1771276354");
  EXPECT_EQ(a.attempt(), 1);
  EXPECT_EQ(a.latency_ms(), 0);
  EXPECT_FALSE(a.fallback());
}

TEST(RulesAnalyzerTest, OomKilledReadsPlainLimitLines) {
  const std::string context =
      "Container: worker image=registry/worker:v3\n  limits: cpu=1, memory=1.5Gi\n"
      "Pod: worker-1 phase=Running\n  Container: worker ready=false restarts=3\n"
      "    LastTermination: reason=OOMKilled exitCode=137\n";
  const v1::AnalysisCompleted a = Analyze(Request("oom_kill", context));
  ASSERT_THAT(Types(a), ElementsAre("AdjustResources", "RestartDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "memory_limit"), "3Gi");
  EXPECT_EQ(Param(a.suggested_actions(0), "container"), "worker");
}

TEST(RulesAnalyzerTest, OomWithoutAShownLimitUsesTheDocumentedDefault) {
  ContextSpec spec;
  spec.last_termination = "OOMKilled";
  spec.memory_limit = "";
  const v1::AnalysisCompleted a = Analyze(Request("oom_kill", MakeContext(spec)));
  ASSERT_THAT(Types(a), ElementsAre("AdjustResources", "RestartDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "memory_limit"), "512Mi");
  EXPECT_FLOAT_EQ(a.confidence(), 0.7F);

  RulesOptions options;
  options.default_memory_limit = "1Gi";
  EXPECT_EQ(Param(Analyze(Request("oom_kill", MakeContext(spec)), options).suggested_actions(0),
                  "memory_limit"),
            "1Gi");
}

TEST(RulesAnalyzerTest, OomSignalWithoutContextEvidenceHasLowerConfidence) {
  const v1::AnalysisCompleted a = Analyze(Request("oom_kill", ""));
  ASSERT_THAT(Types(a), ElementsAre("AdjustResources", "RestartDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "container"), "<absent>");
  EXPECT_FLOAT_EQ(a.confidence(), 0.5F);
}

TEST(RulesAnalyzerTest, OomRetryAfterAFailedLimitRaiseRollsBackANewRevision) {
  ContextSpec spec;
  spec.last_termination = "OOMKilled";
  spec.new_revision = true;
  AnalysisRequest r = Request("oom_kill", MakeContext(spec));
  AddFailure(r, "AdjustResources");
  const v1::AnalysisCompleted a = Analyze(r);
  EXPECT_THAT(Types(a), ElementsAre("RollbackDeployment"));
  EXPECT_EQ(a.attempt(), 2);
  EXPECT_THAT(a.analysis(), HasSubstr("oom-raise-memory"));  // named as already tried
}

TEST(RulesAnalyzerTest, OomRetryWithNothingLeftSuggestsNothing) {
  ContextSpec spec;
  spec.last_termination = "OOMKilled";
  AnalysisRequest r = Request("oom_kill", MakeContext(spec));
  AddFailure(r, "AdjustResources");
  const v1::AnalysisCompleted a = Analyze(r);
  EXPECT_TRUE(a.suggested_actions().empty());
  EXPECT_FLOAT_EQ(a.confidence(), 0.1F);
  EXPECT_THAT(a.analysis(), HasSubstr("already tried"));
}

TEST(RulesAnalyzerTest, ARestartOnlyFailureDoesNotBlockRaisingTheLimit) {
  ContextSpec spec;
  spec.last_termination = "OOMKilled";
  AnalysisRequest r = Request("oom_kill", MakeContext(spec));
  AddFailure(r, "RestartDeployment");  // e.g. a manual runbook that only restarted
  EXPECT_THAT(Types(Analyze(r)), ElementsAre("AdjustResources", "RestartDeployment"));
}

TEST(RulesAnalyzerTest, CrashLoopRightAfterANewRevisionRollsBack) {
  ContextSpec spec;
  spec.waiting_reason = "CrashLoopBackOff";
  spec.last_termination = "Error";
  spec.new_revision = true;
  const v1::AnalysisCompleted a = Analyze(Request("pod_restart", MakeContext(spec)));
  ASSERT_THAT(Types(a), ElementsAre("RollbackDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "toRevision"), "previous");
  EXPECT_FLOAT_EQ(a.confidence(), 0.9F);
  EXPECT_THAT(a.analysis(), HasSubstr("revision 5"));
  EXPECT_THAT(a.analysis(), HasSubstr("registry/api:v2"));
}

// A real kubelet's crash loop between restarts: no CrashLoopBackOff, the container terminated
// with an error (the context builder's lines, exit code included).
TEST(RulesAnalyzerTest, ACrashLoopWithoutTheWaitingReasonIsStillACrashLoop) {
  constexpr char kContext[] =
      "Deployment shop/api: desired 1, ready 0, updated 1, available 0, unavailable 1, "
      "generation 2 (observed 2)\n"
      "Pods (1 of 1):\n"
      "  api-7d9f8-abcde phase=Running ready=false restarts=3\n"
      "    container app: terminated (Error), last terminated: Error (exit code 1)\n"
      "Revisions (newest first, 2 of 2):\n"
      "  revision 2: ready 0/1, app=registry/api:v2 (was: app=registry/api:v1)\n"
      "  revision 1: ready 0/0, app=registry/api:v1\n";
  const ContextEvidence ev = ParseContextEvidence(kContext);
  EXPECT_TRUE(ev.crash_loop);
  EXPECT_EQ(ev.failing_container, "app");
  const v1::AnalysisCompleted a = Analyze(Request("crashloop_backoff", kContext));
  ASSERT_THAT(Types(a), ElementsAre("RollbackDeployment"));
  EXPECT_FLOAT_EQ(a.confidence(), 0.9F);
  // An OOM kill is not read as a crash loop.
  EXPECT_FALSE(ParseContextEvidence(
                   "    container app: running, last terminated: OOMKilled (exit code 137)\n")
                   .crash_loop);
}

TEST(RulesAnalyzerTest, ImagePullFailureRightAfterANewRevisionRollsBack) {
  for (const char* reason : {"ImagePullBackOff", "ErrImagePull"}) {
    SCOPED_TRACE(reason);
    ContextSpec spec;
    spec.waiting_reason = reason;
    spec.new_revision = true;
    const v1::AnalysisCompleted a = Analyze(Request("pod_not_ready", MakeContext(spec)));
    EXPECT_THAT(Types(a), ElementsAre("RollbackDeployment"));
    EXPECT_FLOAT_EQ(a.confidence(), 0.9F);
  }
}

TEST(RulesAnalyzerTest, ImagePullFailureWithoutANewRevisionRestartsWithLowConfidence) {
  ContextSpec spec;
  spec.waiting_reason = "ImagePullBackOff";
  const v1::AnalysisCompleted a = Analyze(Request("image_pull_error", MakeContext(spec)));
  EXPECT_THAT(Types(a), ElementsAre("RestartDeployment"));
  EXPECT_FLOAT_EQ(a.confidence(), 0.4F);
}

TEST(RulesAnalyzerTest, CrashLoopWithoutANewRevisionRestarts) {
  ContextSpec spec;
  spec.waiting_reason = "CrashLoopBackOff";
  const v1::AnalysisCompleted a = Analyze(Request("pod_restart", MakeContext(spec)));
  EXPECT_THAT(Types(a), ElementsAre("RestartDeployment"));
  EXPECT_FLOAT_EQ(a.confidence(), 0.6F);
  // The signal alone gives the same strategy with less confidence.
  const v1::AnalysisCompleted b = Analyze(Request("crashloop_backoff", ""));
  EXPECT_THAT(Types(b), ElementsAre("RestartDeployment"));
  EXPECT_FLOAT_EQ(b.confidence(), 0.5F);
}

TEST(RulesAnalyzerTest, CrashLoopRetryAfterAFailedRollbackRestarts) {
  ContextSpec spec;
  spec.waiting_reason = "CrashLoopBackOff";
  spec.new_revision = true;
  AnalysisRequest r = Request("pod_restart", MakeContext(spec));
  AddFailure(r, "RollbackDeployment");
  const v1::AnalysisCompleted a = Analyze(r);
  EXPECT_THAT(Types(a), ElementsAre("RestartDeployment"));
  EXPECT_FLOAT_EQ(a.confidence(), 0.3F);
  AddFailure(r, "RestartDeployment");
  EXPECT_TRUE(Analyze(r).suggested_actions().empty());
}

TEST(RulesAnalyzerTest, PodNotReadyWithAHealthyHistoryRestarts) {
  ContextSpec spec;
  const v1::AnalysisCompleted a = Analyze(Request("pod_not_ready", MakeContext(spec)));
  EXPECT_THAT(Types(a), ElementsAre("RestartDeployment"));
  EXPECT_FLOAT_EQ(a.confidence(), 0.6F);
  EXPECT_THAT(a.analysis(), HasSubstr("not-ready-restart"));
}

TEST(RulesAnalyzerTest, PodNotReadyOnAnUnreadyNewRevisionRollsBack) {
  ContextSpec spec;
  spec.new_revision = true;
  const v1::AnalysisCompleted a = Analyze(Request("pod_not_ready", MakeContext(spec)));
  EXPECT_THAT(Types(a), ElementsAre("RollbackDeployment"));
}

TEST(RulesAnalyzerTest, DeployFailingWithANewRevisionRollsBack) {
  ContextSpec spec;
  spec.new_revision = true;
  const v1::AnalysisCompleted a = Analyze(Request("deploy_failing", MakeContext(spec)));
  EXPECT_THAT(Types(a), ElementsAre("RollbackDeployment"));
  EXPECT_FLOAT_EQ(a.confidence(), 0.85F);
}

TEST(RulesAnalyzerTest, DeployFailingWithoutANewRevisionScalesWithinTheLimits) {
  ContextSpec spec;
  spec.desired = 3;
  v1::AnalysisCompleted a = Analyze(Request("deploy_failing", MakeContext(spec)));
  ASSERT_THAT(Types(a), ElementsAre("ScaleDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "replicas"), "6");  // x2

  spec.desired = 15;
  spec.ready = 5;
  a = Analyze(Request("deploy_failing", MakeContext(spec)));
  EXPECT_EQ(Param(a.suggested_actions(0), "replicas"), "25");  // +10

  // The projected current replicas win over the context text.
  AnalysisRequest r = Request("deploy_failing", MakeContext(spec));
  r.issue.set_current_replicas(4);
  EXPECT_EQ(Param(Analyze(r).suggested_actions(0), "replicas"), "8");
}

TEST(RulesAnalyzerTest, DeployFailingWithUnknownReplicasRestartsInsteadOfGuessing) {
  const v1::AnalysisCompleted a = Analyze(Request("deploy_failing", "no context"));
  EXPECT_THAT(Types(a), ElementsAre("RestartDeployment"));
}

TEST(RulesAnalyzerTest, ErrorRateAfterANewRevisionRollsBackElseScales) {
  ContextSpec spec;
  spec.ready = 3;
  spec.new_revision = true;
  spec.newest_unready = false;
  EXPECT_THAT(Types(Analyze(Request("error_rate", MakeContext(spec)))),
              ElementsAre("RollbackDeployment"));
  spec.new_revision = false;
  const v1::AnalysisCompleted a = Analyze(Request("error_rate", MakeContext(spec)));
  ASSERT_THAT(Types(a), ElementsAre("ScaleDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "replicas"), "6");
  EXPECT_FLOAT_EQ(a.confidence(), 0.5F);
}

TEST(RulesAnalyzerTest, LatencyScalesThenRestartsOnRetry) {
  ContextSpec spec;
  spec.ready = 3;
  AnalysisRequest r = Request("latency", MakeContext(spec));
  EXPECT_THAT(Types(Analyze(r)), ElementsAre("ScaleDeployment"));
  AddFailure(r, "ScaleDeployment");
  EXPECT_THAT(Types(Analyze(r)), ElementsAre("RestartDeployment"));
}

TEST(RulesAnalyzerTest, UnknownSignalWithoutEvidenceSuggestsNothing) {
  const v1::AnalysisCompleted a = Analyze(Request("generic", "all quiet"));
  EXPECT_TRUE(a.suggested_actions().empty());
  EXPECT_FLOAT_EQ(a.confidence(), 0.1F);
  EXPECT_THAT(a.analysis(), HasSubstr("No built-in rule"));
}

TEST(RulesAnalyzerTest, ContextEvidenceBeatsTheSignal) {
  ContextSpec spec;
  spec.last_termination = "OOMKilled";
  EXPECT_THAT(Types(Analyze(Request("error_rate", MakeContext(spec)))),
              ElementsAre("AdjustResources", "RestartDeployment"));
}

TEST(RulesAnalyzerTest, IsDeterministic) {
  ContextSpec spec;
  spec.waiting_reason = "CrashLoopBackOff";
  spec.new_revision = true;
  const AnalysisRequest r = Request("pod_restart", MakeContext(spec));
  EXPECT_EQ(Analyze(r).SerializeAsString(), Analyze(r).SerializeAsString());
}

TEST(RulesAnalyzerTest, NeverSuggestsAnythingOutsideTheCatalogueOrUnsafe) {
  const std::vector<std::string> signals = {"oom_kill",
                                            "pod_restart",
                                            "crashloop_backoff",
                                            "image_pull_error",
                                            "pod_not_ready",
                                            "deploy_failing",
                                            "error_rate",
                                            "latency",
                                            "memory_high",
                                            "generic",
                                            ""};
  for (const std::string& signal : signals) {
    for (int variant = 0; variant < 16; ++variant) {
      ContextSpec spec;
      spec.last_termination = (variant & 1) != 0 ? "OOMKilled" : "";
      spec.waiting_reason = (variant & 2) != 0 ? "CrashLoopBackOff" : "";
      spec.new_revision = (variant & 4) != 0;
      spec.memory_limit = (variant & 8) != 0 ? "" : "300Mi";
      AnalysisRequest r = Request(signal, MakeContext(spec));
      std::set<std::string> tried;
      for (int attempt = 0; attempt < 5; ++attempt) {
        const v1::AnalysisCompleted a = Analyze(r);
        EXPECT_GE(a.confidence(), 0.0F);
        EXPECT_LE(a.confidence(), 1.0F);
        for (const v1::ActionSpec& action : a.suggested_actions()) {
          EXPECT_TRUE(stages::IsCatalogueAction(action.type())) << action.type();
          EXPECT_EQ(UnsafeActionReason(action), "") << action.DebugString();
        }
        if (a.suggested_actions().empty()) {
          break;
        }
        // A retry never repeats the primary action of a strategy that already failed.
        const std::string primary = a.suggested_actions(0).type();
        EXPECT_EQ(tried.count(primary), 0U) << signal << " variant " << variant;
        tried.insert(primary);
        AddFailure(r, primary);
      }
    }
  }
}

TEST(RulesEvidenceTest, ReadsUpstreamContextShapes) {
  ContextSpec spec;
  spec.waiting_reason = "CrashLoopBackOff";
  spec.last_termination = "OOMKilled";
  spec.new_revision = true;
  const ContextEvidence ev = ParseContextEvidence(MakeContext(spec));
  EXPECT_TRUE(ev.oom_killed);
  EXPECT_EQ(ev.oom_container, "app");
  EXPECT_TRUE(ev.crash_loop);
  EXPECT_EQ(ev.failing_container, "app");
  EXPECT_FALSE(ev.image_pull_failure);
  EXPECT_TRUE(ev.not_ready);
  EXPECT_TRUE(ev.unavailable);
  EXPECT_EQ(ev.desired_replicas, 3);
  ASSERT_EQ(ev.memory_limits.size(), 1U);
  EXPECT_EQ(ev.memory_limits[0].container, "app");
  EXPECT_EQ(ev.memory_limits[0].limit, "256Mi");  // the limit, not the 128Mi request
  ASSERT_EQ(ev.revisions.size(), 2U);
  EXPECT_EQ(ev.Newest()->number, 5);
  EXPECT_EQ(ev.Previous()->number, 4);
  EXPECT_TRUE(ev.Newest()->changed);
  EXPECT_EQ(ev.Newest()->ready, 0);
  EXPECT_EQ(ev.Newest()->desired, 3);
  EXPECT_TRUE(ev.HasNewRevision());
  EXPECT_TRUE(ev.NewestRevisionUnready());
}

// The shape written by k8s_sync/context_builder.cc (this operator's own context builder).
constexpr char kOwnBuilderContext[] =
    "Deployment production/api: desired 3, ready 1, updated 3, available 1, unavailable 2, "
    "generation 5 (observed 5)\n"
    "  containers: app=registry/api:v2 (limits: {\"cpu\":\"500m\",\"memory\":\"256Mi\"}), "
    "proxy=envoy:1.29 (limits: {\"memory\":\"64Mi\"})\n"
    "  condition Available=False MinimumReplicasUnavailable: Deployment does not have minimum "
    "availability.\n"
    "Pods (1 of 3):\n"
    "  api-7d9f8-abcde phase=Running ready=false restarts=5\n"
    "    container proxy: running\n"
    "    container app: waiting (CrashLoopBackOff), last terminated: OOMKilled\n"
    "Events (last 1):\n"
    "  Warning BackOff: Back-off restarting failed container (count=12 object=api-7d9f8-abcde)\n"
    "Revisions (newest first, 2 of 2):\n"
    "  revision 5: ready 0/3, app=registry/api:v2 (limits: {\"memory\":\"128Mi\"}) (was: "
    "app=registry/api:v1 (limits: {\"memory\":\"128Mi\"}))\n"
    "  revision 4: ready 0/0, app=registry/api:v1 (limits: {\"memory\":\"128Mi\"})\n";

TEST(RulesEvidenceTest, ReadsTheOperatorsOwnContextBuilderShape) {
  const ContextEvidence ev = ParseContextEvidence(kOwnBuilderContext);
  EXPECT_TRUE(ev.oom_killed);
  EXPECT_EQ(ev.oom_container, "app");
  EXPECT_TRUE(ev.crash_loop);
  EXPECT_TRUE(ev.not_ready);
  EXPECT_TRUE(ev.unavailable);
  EXPECT_EQ(ev.desired_replicas, 3);
  ASSERT_EQ(ev.memory_limits.size(), 2U);  // revision lines are history, not current limits
  EXPECT_EQ(ev.MemoryLimitFor("app"), "256Mi");
  EXPECT_EQ(ev.MemoryLimitFor("proxy"), "64Mi");
  ASSERT_EQ(ev.revisions.size(), 2U);
  EXPECT_EQ(ev.Newest()->number, 5);
  EXPECT_EQ(ev.Newest()->ready, 0);
  EXPECT_EQ(ev.Newest()->desired, 3);
  EXPECT_TRUE(ev.Newest()->changed);
  EXPECT_EQ(ev.Previous()->images, "app=registry/api:v1 (limits: {\"memory\":\"128Mi\"})");
  EXPECT_TRUE(ev.HasNewRevision());
  EXPECT_TRUE(ev.NewestRevisionUnready());
  EXPECT_EQ(Redact(kOwnBuilderContext), kOwnBuilderContext);  // nothing secret in it

  const v1::AnalysisCompleted a = Analyze(Request("pod_restart", kOwnBuilderContext));
  ASSERT_THAT(Types(a), ElementsAre("AdjustResources", "RestartDeployment"));
  EXPECT_EQ(Param(a.suggested_actions(0), "container"), "app");
  EXPECT_EQ(Param(a.suggested_actions(0), "memory_limit"), "512Mi");
}

TEST(RulesEvidenceTest, ARestartRevisionOfTheOwnBuilderIsNotANewRevision) {
  const ContextEvidence ev = ParseContextEvidence(
      "Deployment production/api: desired 4, ready 4, updated 4, available 4, unavailable 0, "
      "generation 7 (observed 7)\n"
      "Revisions (newest first, 2 of 2):\n"
      "  revision 7: ready 4/4, app=registry/api:v1\n"
      "  revision 6: ready 0/0, app=registry/api:v1\n");
  EXPECT_EQ(ev.desired_replicas, 4);
  EXPECT_FALSE(ev.unavailable);
  EXPECT_EQ(ev.revisions.size(), 2U);
  EXPECT_FALSE(ev.HasNewRevision());
  EXPECT_EQ(ev.Newest()->images, "app=registry/api:v1");
}

TEST(RulesEvidenceTest, ARestartRevisionWithTheSameImagesIsNotANewRevision) {
  const ContextEvidence ev = ParseContextEvidence(
      "## Revision History (last 2 revisions)\n"
      "Revision 7: replicas=3/3 [app=registry/api:v1]\n"
      "Revision 6: replicas=0/0 [app=registry/api:v1]\n");
  EXPECT_EQ(ev.revisions.size(), 2U);
  EXPECT_FALSE(ev.HasNewRevision());
  EXPECT_FALSE(ev.NewestRevisionUnready());
}

TEST(RulesEvidenceTest, ImagesThatDifferMakeANewRevisionWithoutADiffLine) {
  const ContextEvidence ev = ParseContextEvidence(
      "Revision 2: replicas=0/2 [app=registry/api:v2]\n"
      "Revision 1: replicas=2/2 [app=registry/api:v1]\n");
  EXPECT_TRUE(ev.HasNewRevision());
}

// A restart (this operator's RestartDeployment, `kubectl rollout restart`) makes a revision with
// the same containers on top of the rollout it restarts; it must not hide that rollout.
TEST(RulesEvidenceTest, ARestartOnTopOfABadRolloutStillBlamesTheRollout) {
  constexpr char kContext[] =
      "Deployment production/api: desired 3, ready 0, updated 3, available 0, unavailable 3, "
      "generation 9 (observed 9)\n"
      "Pods (1 of 3):\n"
      "  api-7d9f8-abcde phase=Running ready=false restarts=5\n"
      "    container app: waiting (CrashLoopBackOff), last terminated: Error\n"
      "Revisions (newest first, 4 of 4):\n"
      "  revision 8: ready 0/3, app=registry/api:v2\n"
      "  revision 7: ready 0/0, app=registry/api:v2\n"
      "  revision 6: ready 0/0, app=registry/api:v2 (was: app=registry/api:v1)\n"
      "  revision 5: ready 0/0, app=registry/api:v1\n";
  const ContextEvidence ev = ParseContextEvidence(kContext);
  ASSERT_EQ(ev.revisions.size(), 4U);
  EXPECT_TRUE(ev.HasNewRevision());
  EXPECT_EQ(ev.Newest()->number, 8);
  EXPECT_EQ(ev.ChangedAt()->number, 6);
  EXPECT_EQ(ev.Previous()->number, 5);
  const v1::AnalysisCompleted a = Analyze(Request("pod_restart", kContext));
  ASSERT_THAT(Types(a), ElementsAre("RollbackDeployment"));
  EXPECT_THAT(a.analysis(), HasSubstr("revision 8 app=registry/api:v2, a restart of revision 6, "
                                      "which replaced revision 5 app=registry/api:v1"));

  // Without the diff text: the images alone tell the restarts from the change.
  const ContextEvidence plain = ParseContextEvidence(
      "Revision 3: replicas=0/2 [app=registry/api:v2]\n"
      "Revision 2: replicas=0/0 [app=registry/api:v2]\n"
      "Revision 1: replicas=0/0 [app=registry/api:v1]\n");
  EXPECT_TRUE(plain.HasNewRevision());
  EXPECT_EQ(plain.ChangedAt()->number, 2);
  EXPECT_EQ(plain.Previous()->number, 1);

  // A diff line under a restarted revision marks the change even when the images are the same.
  const ContextEvidence diff = ParseContextEvidence(
      "Revision 3: replicas=0/2 [app=registry/api:v1]\n"
      "Revision 2: replicas=0/0 [app=registry/api:v1]\n"
      "  Changed: app command: [serve] -> [serve --fast]\n"
      "Revision 1: replicas=0/0 [app=registry/api:v1]\n");
  EXPECT_TRUE(diff.HasNewRevision());
  EXPECT_EQ(diff.ChangedAt()->number, 2);
  EXPECT_EQ(diff.Previous()->number, 1);
}

// Attempt 2 of an OOM kill after a failed "raise the memory limit and restart" (restored since):
// the revisions that plan made carry its limit; they are neither the rollout to blame nor a state
// to return to.
AnalysisRequest AfterAFailedRaise(const std::string& context) {
  AnalysisRequest r = Request("oom_kill", context);
  v1::AttemptFailure* f = r.previous_failures.Add();
  f->set_attempt(1);
  f->set_plan_name(r.issue.name() + "-plan-1");
  v1::ActionSpec* raise = f->add_actions();
  raise->set_type("AdjustResources");
  v1::Param* p = raise->add_params();
  p->set_key("container");
  p->set_value("app");
  p = raise->add_params();
  p->set_key("memory_limit");
  p->set_value("512Mi");
  f->add_actions()->set_type("RestartDeployment");
  f->set_failure("verification failed: not healthy within the window");
  r.attempt = 2;
  return r;
}

TEST(RulesAnalyzerTest, AFailedPlansRevisionsAreNotBlamedNorReturnedTo) {
  // A user's rollout (v1 -> v2, now revision 5), then the plan's two revisions.
  const v1::AnalysisCompleted rollback = Analyze(AfterAFailedRaise(
      "Deployment production/api: desired 2, ready 0, updated 2, available 0, unavailable 2, "
      "generation 6 (observed 6)\n"
      "  containers: app=registry/api:v2\n"
      "Pods (1 of 2):\n"
      "  api-7d9f8-abcde phase=Running ready=false restarts=4\n"
      "    container app: waiting (CrashLoopBackOff), last terminated: OOMKilled\n"
      "Revisions (newest first, 4 of 4):\n"
      "  revision 5: ready 0/2, app=registry/api:v2 (was: app=registry/api:v2 (limits: "
      "{\"memory\":\"512Mi\"}))\n"
      "  revision 4: ready 0/0, app=registry/api:v2 (limits: {\"memory\":\"512Mi\"})\n"
      "  revision 3: ready 0/0, app=registry/api:v2 (limits: {\"memory\":\"512Mi\"}) (was: "
      "app=registry/api:v2)\n"
      "  revision 1: ready 0/0, app=registry/api:v1\n"));
  ASSERT_THAT(Types(rollback), ElementsAre("RollbackDeployment"));
  // By number: "previous" is the newest revision unlike the current template, the plan's.
  EXPECT_EQ(Param(rollback.suggested_actions(0), "toRevision"), "1");
  EXPECT_THAT(rollback.analysis(), HasSubstr("revision 5 app=registry/api:v2 replaced revision 1 "
                                             "app=registry/api:v1"));

  // No rollout but the plan's: the restore made the original revision the newest (4), and what
  // it "replaced" is the failed plan's. Nothing is left to try.
  const v1::AnalysisCompleted none = Analyze(AfterAFailedRaise(
      "  containers: app=registry/api:v1\n"
      "    container app: waiting (CrashLoopBackOff), last terminated: OOMKilled\n"
      "Revisions (newest first, 3 of 3):\n"
      "  revision 4: ready 0/2, app=registry/api:v1 (was: app=registry/api:v1 (limits: "
      "{\"memory\":\"512Mi\"}))\n"
      "  revision 3: ready 0/0, app=registry/api:v1 (limits: {\"memory\":\"512Mi\"})\n"
      "  revision 2: ready 0/0, app=registry/api:v1 (limits: {\"memory\":\"512Mi\"}) (was: "
      "app=registry/api:v1)\n"));
  EXPECT_THAT(Types(none), ElementsAre());
  EXPECT_THAT(none.analysis(), HasSubstr("already tried"));

  // The plan's limit still in the current template (not restored): its revisions are the current
  // state, and "previous" (unlike the current template) is the original one.
  const v1::AnalysisCompleted current = Analyze(AfterAFailedRaise(
      "  containers: app=registry/api:v1 (limits: {\"memory\":\"512Mi\"})\n"
      "    container app: waiting (CrashLoopBackOff), last terminated: OOMKilled\n"
      "Revisions (newest first, 3 of 3):\n"
      "  revision 3: ready 0/2, app=registry/api:v1 (limits: {\"memory\":\"512Mi\"})\n"
      "  revision 2: ready 0/0, app=registry/api:v1 (limits: {\"memory\":\"512Mi\"}) (was: "
      "app=registry/api:v1)\n"
      "  revision 1: ready 0/0, app=registry/api:v1\n"));
  ASSERT_THAT(Types(current), ElementsAre("RollbackDeployment"));
  EXPECT_EQ(Param(current.suggested_actions(0), "toRevision"), "previous");

  // The plan wrote 1024Mi; the API server reads it back as 1Gi.
  AnalysisRequest canonical = AfterAFailedRaise(
      "  containers: app=registry/api:v1 (limits: {\"memory\":\"512Mi\"})\n"
      "    container app: waiting (CrashLoopBackOff), last terminated: OOMKilled\n"
      "Revisions (newest first, 2 of 2):\n"
      "  revision 3: ready 0/2, app=registry/api:v1 (limits: {\"memory\":\"512Mi\"}) (was: "
      "app=registry/api:v1 (limits: {\"memory\":\"1Gi\"}))\n"
      "  revision 2: ready 0/0, app=registry/api:v1 (limits: {\"memory\":\"1Gi\"})\n");
  canonical.previous_failures.Mutable(0)->mutable_actions(0)->mutable_params(1)->set_value(
      "1024Mi");
  EXPECT_THAT(Types(Analyze(canonical)), ElementsAre());
}

TEST(RulesEvidenceTest, ReadsOtherLimitAndReplicaForms) {
  ContextEvidence ev = ParseContextEvidence("replicas: 7\ncontainer=api memory_limit=2Gi\n");
  EXPECT_EQ(ev.desired_replicas, 7);
  ASSERT_EQ(ev.memory_limits.size(), 1U);
  EXPECT_EQ(ev.memory_limits[0].container, "api");
  EXPECT_EQ(ev.memory_limits[0].limit, "2Gi");
  ev = ParseContextEvidence("Container: a\n  limits: {cpu: 1, memory: 768Mi}\n");
  ASSERT_EQ(ev.memory_limits.size(), 1U);
  EXPECT_EQ(ev.MemoryLimitFor("a"), "768Mi");
  EXPECT_EQ(ev.MemoryLimitFor("other"), "768Mi");  // the first one shown
  EXPECT_TRUE(ParseContextEvidence("Condition: Progressing=False reason=ProgressDeadlineExceeded")
                  .progress_deadline_exceeded);
}

TEST(RulesQuantityTest, DoublesInTheSameUnit) {
  EXPECT_EQ(DoubleQuantity("256Mi"), "512Mi");
  EXPECT_EQ(DoubleQuantity("1Gi"), "2Gi");
  EXPECT_EQ(DoubleQuantity("1.5Gi"), "3Gi");
  EXPECT_EQ(DoubleQuantity("0.25Gi"), "0.5Gi");
  EXPECT_EQ(DoubleQuantity("500M"), "1000M");
  EXPECT_EQ(DoubleQuantity("1073741824"), "2147483648");
  EXPECT_EQ(DoubleQuantity("64k"), "128k");
  EXPECT_EQ(DoubleQuantity(""), std::nullopt);
  EXPECT_EQ(DoubleQuantity("0Mi"), std::nullopt);
  EXPECT_EQ(DoubleQuantity("500m"), std::nullopt);  // milli-bytes: not a memory limit
  EXPECT_EQ(DoubleQuantity("1e3"), std::nullopt);
  EXPECT_EQ(DoubleQuantity("1..5Gi"), std::nullopt);
  EXPECT_EQ(DoubleQuantity("12Xi"), std::nullopt);
  EXPECT_EQ(DoubleQuantity("99999999999999999999"), std::nullopt);
}

}  // namespace
}  // namespace aiops::analysis
