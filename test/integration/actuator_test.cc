// The actuator on the real control plane (kube-controller-manager makes the ReplicaSet
// revisions a rollback needs): every action, the idempotency marker, dry runs, preflight and
// rollback, and failures as results.
#include "k8s_sync/actuator.h"

#include <fstream>
#include <sstream>

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s_sync/json_access.h"
#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::unique_ptr<KubeClient> Client() { return testing::AdminKubeClient(Cp()); }

v1::ActionSpec Action(const std::string& type,
                      std::vector<std::pair<std::string, std::string>> params = {}) {
  v1::ActionSpec a;
  a.set_type(type);
  std::sort(params.begin(), params.end());
  for (auto& [k, v] : params) {
    v1::Param* p = a.add_params();
    p->set_key(k);
    p->set_value(v);
  }
  return a;
}

class ActuatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = Client();
    ns_ = "act-" + std::to_string(++counter_);
    ASSERT_TRUE(
        client_
            ->Create("/api/v1/namespaces",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
            .ok());
    ASSERT_TRUE(client_
                    ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns_),
                             Deployment("nginx:1.26"))
                    .ok());
    ASSERT_TRUE(client_
                    ->Create(fmt::format("/api/v1/namespaces/{}/configmaps", ns_),
                             {{"apiVersion", "v1"},
                              {"kind", "ConfigMap"},
                              {"metadata", {{"name", "app-config"}}},
                              {"data", {{"LOG_LEVEL", "info"}}}})
                    .ok());
    issue_.set_name("web-oom-kill-1");
    issue_.mutable_resource()->set_kind("Deployment");
    issue_.mutable_resource()->set_name("web");
    issue_.mutable_resource()->set_namespace_(ns_);
  }

  Json Deployment(const std::string& image) const {
    return {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", "web"}}},
            {"spec",
             {{"replicas", 2},
              {"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", "web"}}}}},
                {"spec", {{"containers", {{{"name", "app"}, {"image", image}}}}}}}}}}};
  }
  Json Get() { return *client_->Get(DeploymentPath(issue_.resource())); }
  v1::PlanState Plan(std::vector<v1::ActionSpec> actions) {
    v1::PlanState plan;
    plan.set_name("web-oom-kill-1-plan-1");
    for (auto& a : actions) {
      *plan.add_actions() = a;
    }
    return plan;
  }
  void ExpectRollbackPassesOverAFailedPlansRevision(const std::string& resource,
                                                    const std::string& written,
                                                    const std::string& read_back);
  size_t Revisions() {
    auto sets = client_->Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets", ns_));
    return sets.ok() ? (*sets)["items"].size() : 0;
  }

  static inline int counter_ = 0;
  std::unique_ptr<KubeClient> client_;
  std::string ns_;
  v1::IssueState issue_;
  common::FakeClock clock_{absl::FromUnixSeconds(1'771'276'354)};
};

TEST_F(ActuatorTest, ActionsApplyOnceAndCarryTheIdempotencyMarker) {
  Actuator actuator(*client_, clock_);
  const v1::PlanState plan =
      Plan({Action("ScaleDeployment", {{"replicas", "3"}}), Action("RestartDeployment"),
            Action("AdjustResources", {{"container", "app"},
                                       {"memory_limit", "512Mi"},
                                       {"memory_request", "256Mi"},
                                       {"cpu_limit", "500m"},
                                       {"cpu_request", "250m"}})});
  std::vector<std::string> summaries;
  for (int i = 0; i < 3; ++i) {
    const v1::Event e = actuator.Execute(plan, issue_, i);
    ASSERT_TRUE(e.has_action_succeeded()) << e.ShortDebugString();
    EXPECT_FALSE(e.action_succeeded().already_applied());
    summaries.push_back(e.action_succeeded().summary());
    // The summary carries what the API server answered (the generation each write made).
    EXPECT_THAT(summaries.back(),
                ::testing::ContainsRegex(fmt::format(
                    "the API server answered: resourceVersion [0-9]+, generation {}, replicas 3, "
                    "images app=nginx:1.26",
                    i + 2)));
  }
  EXPECT_THAT(summaries[0], HasSubstr("scaled to 3 replicas"));
  Json d = Get();
  EXPECT_EQ(3, d["spec"]["replicas"]);
  EXPECT_EQ("2026-02-16T21:12:34Z",
            d["spec"]["template"]["metadata"]["annotations"][kRestartedAtAnnotation]);
  const Json& resources = d["spec"]["template"]["spec"]["containers"][0]["resources"];
  EXPECT_EQ("512Mi", resources["limits"]["memory"]);
  EXPECT_EQ("256Mi", resources["requests"]["memory"]);
  EXPECT_EQ("500m", resources["limits"]["cpu"]);
  EXPECT_EQ("250m", resources["requests"]["cpu"]);
  EXPECT_EQ(plan.name() + "/2", d["metadata"]["annotations"][kAppliedActionAnnotation]);
  // The action in flight when the operator crashed runs again after the restart: a no-op.
  // (kube-controller-manager keeps writing the status, so the spec's generation is compared.)
  const int64_t generation = d["metadata"]["generation"];
  const v1::Event again = actuator.Execute(plan, issue_, 2);
  ASSERT_TRUE(again.has_action_succeeded());
  EXPECT_TRUE(again.action_succeeded().already_applied());
  EXPECT_THAT(again.action_succeeded().summary(),
              HasSubstr(fmt::format("generation {}", generation)));
  EXPECT_EQ(generation, Get()["metadata"]["generation"]);
  // A ConfigMap's summary names its keys.
  const v1::Event patched = actuator.Execute(
      Plan({Action("PatchConfig", {{"configmap", "app-config"}, {"POOL", "8"}})}), issue_, 0);
  ASSERT_TRUE(patched.has_action_succeeded()) << patched.ShortDebugString();
  EXPECT_THAT(patched.action_succeeded().summary(),
              ::testing::ContainsRegex("resourceVersion [0-9]+, data keys LOG_LEVEL,POOL"));
}

TEST_F(ActuatorTest, RollbackReturnsToThePreviousRevision) {
  // kubectl's exit status counts too (CI once saw no second revision and could not tell why),
  // and kube-controller-manager may be slow on a loaded machine.
  absl::StatusOr<testing::ProcessResult> set = testing::ControlPlaneEnvironment::Get().Kubectl(
      {"-n", ns_, "set", "image", "deploy/web", "app=nginx:1.27-broken"});
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(0, set->exit_code) << set->err;
  ASSERT_TRUE(testing::Eventually([&] { return Revisions() >= 2; }, absl::Seconds(60)))
      << "kube-controller-manager made no second revision in 60 s";
  ASSERT_EQ(2U, Revisions());
  Actuator actuator(*client_, clock_);
  const v1::Event e = actuator.Execute(Plan({Action("RollbackDeployment")}), issue_, 0);
  ASSERT_TRUE(e.has_action_succeeded()) << e.ShortDebugString();
  EXPECT_THAT(e.action_succeeded().summary(), HasSubstr("rolled back to revision 1"));
  EXPECT_EQ("nginx:1.26", Get()["spec"]["template"]["spec"]["containers"][0]["image"]);
  // Another plan (the marker on the Deployment is the first one's).
  v1::PlanState other = Plan({Action("RollbackDeployment", {{"toRevision", "9"}})});
  other.set_name("web-oom-kill-1-plan-2");
  const v1::Event missing = actuator.Execute(other, issue_, 0);
  ASSERT_TRUE(missing.has_action_failed()) << missing.ShortDebugString();
  EXPECT_THAT(missing.action_failed().error(), HasSubstr("no revision to roll back to"));
}

// A restart on top of a bad rollout makes a third revision with the broken pods and a new
// restartedAt: "previous" passes over the broken revision to the one that ran other pods.
TEST_F(ActuatorTest, RollbackPassesOverARestartOfTheBadRevision) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"-n", ns_, "set", "image", "deploy/web", "app=nginx:1.27-broken"},
        std::vector<std::string>{"-n", ns_, "rollout", "restart", "deploy/web"}}) {
    absl::StatusOr<testing::ProcessResult> run =
        testing::ControlPlaneEnvironment::Get().Kubectl(args);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(0, run->exit_code) << run->err;
    const size_t want = args[2] == "set" ? 2 : 3;
    ASSERT_TRUE(testing::Eventually([&] { return Revisions() >= want; }, absl::Seconds(60)))
        << "kube-controller-manager made no revision " << want << " in 60 s";
  }
  Actuator actuator(*client_, clock_);
  const v1::Event e = actuator.Execute(Plan({Action("RollbackDeployment")}), issue_, 0);
  ASSERT_TRUE(e.has_action_succeeded()) << e.ShortDebugString();
  EXPECT_THAT(e.action_succeeded().summary(), HasSubstr("rolled back to revision 1"));
  EXPECT_EQ("nginx:1.26", Get()["spec"]["template"]["spec"]["containers"][0]["image"]);
}

// A failed plan set a limit on top of a user's rollout and was restored: its revision is the
// newest one unlike the current template, and "previous" passes over it too, to the revision
// before the user's rollout. `written` is the plan's value, `read_back` the API server's
// canonical form of it (`resource` is "memory" or "cpu").
void ActuatorTest::ExpectRollbackPassesOverAFailedPlansRevision(const std::string& resource,
                                                                const std::string& written,
                                                                const std::string& read_back) {
  const std::vector<std::vector<std::string>> steps = {
      {"-n", ns_, "set", "image", "deploy/web", "app=nginx:1.27"},
      {"-n", ns_, "set", "resources", "deploy/web", "-c", "app",
       fmt::format("--limits={}={}", resource, written)},
      {"-n", ns_, "rollout", "undo", "deploy/web", "--to-revision=2"}};
  for (size_t i = 0; i < steps.size(); ++i) {
    absl::StatusOr<testing::ProcessResult> run =
        testing::ControlPlaneEnvironment::Get().Kubectl(steps[i]);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(0, run->exit_code) << run->err;
    const size_t want = std::min<size_t>(i + 2, 3);
    ASSERT_TRUE(testing::Eventually([&] { return Revisions() >= want; }, absl::Seconds(60)))
        << "kube-controller-manager made no revision " << want << " in 60 s";
  }
  // The plan's revision holds the limit as the API server wrote it back; the undo took it away.
  bool plan_revision_seen = false;
  const absl::StatusOr<Json> sets =
      client_->Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets", ns_));
  ASSERT_TRUE(sets.ok()) << sets.status();
  for (const Json& rs : At(*sets, "items")) {
    const Json& pods = At(At(At(rs, "spec"), "template"), "spec");
    plan_revision_seen =
        plan_revision_seen || StrAt(At(At(At(pods, "containers")[0], "resources"), "limits"),
                                    resource.c_str()) == read_back;
  }
  EXPECT_TRUE(plan_revision_seen);
  const Json current = Get()["spec"]["template"]["spec"]["containers"][0];
  ASSERT_FALSE(current.contains("resources") && current["resources"].contains("limits"))
      << current.dump();
  v1::IssueState issue = issue_;
  v1::AttemptFailure* failure = issue.add_failures();
  failure->set_attempt(1);
  *failure->add_actions() =
      Action("AdjustResources", {{"container", "app"}, {resource + "_limit", written}});
  *failure->add_actions() = Action("RestartDeployment");
  Actuator actuator(*client_, clock_);
  const v1::Event e = actuator.Execute(Plan({Action("RollbackDeployment")}), issue, 0);
  ASSERT_TRUE(e.has_action_succeeded()) << e.ShortDebugString();
  EXPECT_THAT(e.action_succeeded().summary(), HasSubstr("rolled back to revision 1"));
  EXPECT_EQ("nginx:1.26", Get()["spec"]["template"]["spec"]["containers"][0]["image"]);
}

TEST_F(ActuatorTest, RollbackPassesOverAFailedPlansMemoryRevision) {
  ExpectRollbackPassesOverAFailedPlansRevision("memory", "1024Mi", "1Gi");
}

TEST_F(ActuatorTest, RollbackPassesOverAFailedPlansCpuRevision) {
  ExpectRollbackPassesOverAFailedPlansRevision("cpu", "0.5", "500m");
}

// An explicit toRevision, and a repeat after a crash: the applied rollback made the target the
// newest revision (renumbered), so the repeat finds the marker and changes nothing, where
// looking the revision up first would fail it (and the plan be rolled back).
TEST_F(ActuatorTest, RollbackToAGivenRevisionIsIdempotent) {
  for (const char* image : {"nginx:1.27", "nginx:1.28-broken"}) {
    absl::StatusOr<testing::ProcessResult> set = testing::ControlPlaneEnvironment::Get().Kubectl(
        {"-n", ns_, "set", "image", "deploy/web", fmt::format("app={}", image)});
    ASSERT_TRUE(set.ok()) << set.status();
    ASSERT_EQ(0, set->exit_code) << set->err;
    const size_t want = std::string(image) == "nginx:1.27" ? 2 : 3;
    ASSERT_TRUE(testing::Eventually([&] { return Revisions() >= want; }, absl::Seconds(60)))
        << "kube-controller-manager made no revision " << want << " in 60 s";
  }
  Actuator actuator(*client_, clock_);
  const v1::PlanState plan = Plan({Action("RollbackDeployment", {{"toRevision", "1"}})});
  const v1::Event e = actuator.Execute(plan, issue_, 0);
  ASSERT_TRUE(e.has_action_succeeded()) << e.ShortDebugString();
  EXPECT_FALSE(e.action_succeeded().already_applied());
  EXPECT_THAT(e.action_succeeded().summary(), HasSubstr("rolled back to revision 1"));
  EXPECT_THAT(e.action_succeeded().summary(), HasSubstr("images app=nginx:1.26"));
  EXPECT_EQ("nginx:1.26", Get()["spec"]["template"]["spec"]["containers"][0]["image"]);
  // kube-controller-manager renumbers revision 1 as 4.
  ASSERT_TRUE(testing::Eventually(
      [&] {
        auto sets = client_->Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets", ns_));
        for (const Json& rs : (*sets)["items"]) {
          if (rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26") {
            return rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4";
          }
        }
        return false;
      },
      absl::Seconds(60)));
  const Json template_before = Get()["spec"]["template"];
  const int64_t generation = Get()["metadata"]["generation"];
  const v1::Event again = actuator.Execute(plan, issue_, 0);
  ASSERT_TRUE(again.has_action_succeeded()) << again.ShortDebugString();
  EXPECT_TRUE(again.action_succeeded().already_applied());
  EXPECT_EQ(template_before, Get()["spec"]["template"]);
  EXPECT_EQ(generation, Get()["metadata"]["generation"]);
  // Another plan asking for the renumbered-away revision 1 is refused.
  v1::PlanState other = plan;
  other.set_name("web-oom-kill-1-plan-2");
  const v1::Event missing = actuator.Execute(other, issue_, 0);
  ASSERT_TRUE(missing.has_action_failed()) << missing.ShortDebugString();
  EXPECT_THAT(missing.action_failed().error(), HasSubstr("no revision to roll back to"));
  // And one asking for the revision that runs now (4): nothing to change, refused at once.
  v1::PlanState same = Plan({Action("RollbackDeployment", {{"toRevision", "4"}})});
  same.set_name("web-oom-kill-1-plan-3");
  const v1::Event noop = actuator.Execute(same, issue_, 0);
  ASSERT_TRUE(noop.has_action_failed()) << noop.ShortDebugString();
  EXPECT_THAT(noop.action_failed().error(),
              HasSubstr("revision 4 runs the same pods as the current template"));
  EXPECT_EQ(generation, Get()["metadata"]["generation"]);
}

TEST_F(ActuatorTest, DryRunValidatesWithoutChanging) {
  Actuator actuator(*client_, clock_);
  const v1::Event e =
      actuator.Execute(Plan({Action("ScaleDeployment", {{"replicas", "4"}})}), issue_, 0, true);
  ASSERT_TRUE(e.has_action_succeeded()) << e.ShortDebugString();
  EXPECT_THAT(e.action_succeeded().summary(), HasSubstr("dry run"));
  EXPECT_EQ(2, Get()["spec"]["replicas"]);
  EXPECT_FALSE(Get()["metadata"].contains("annotations") &&
               Get()["metadata"]["annotations"].contains(kAppliedActionAnnotation));
}

TEST_F(ActuatorTest, APreflightSnapshotIsRestoredAfterAFailedAction) {
  Actuator actuator(*client_, clock_);
  const v1::PlanState plan =
      Plan({Action("ScaleDeployment", {{"replicas", "5"}}),
            Action("PatchConfig", {{"configmap", "app-config"}, {"LOG_LEVEL", "debug"}}),
            Action("AdjustResources", {{"container", "nope"}, {"memory_limit", "1Gi"}})});
  auto snapshot = actuator.Preflight(plan, issue_);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(2, snapshot->replicas());
  EXPECT_EQ("app-config", snapshot->configmap_name());
  ASSERT_TRUE(actuator.Execute(plan, issue_, 0).has_action_succeeded());
  ASSERT_TRUE(actuator.Execute(plan, issue_, 1).has_action_succeeded());
  EXPECT_EQ("debug", (*client_->Get(fmt::format("/api/v1/namespaces/{}/configmaps/app-config",
                                                ns_)))["data"]["LOG_LEVEL"]);
  const v1::Event failed = actuator.Execute(plan, issue_, 2);
  ASSERT_TRUE(failed.has_action_failed());
  EXPECT_THAT(failed.action_failed().error(), HasSubstr("no container 'nope'"));
  v1::PlanState failed_plan = plan;
  failed_plan.set_result("action 3 (AdjustResources) failed: no container 'nope'");
  auto rolled = actuator.Rollback(failed_plan, *snapshot);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  ASSERT_TRUE(rolled->has_plan_rolled_back());
  EXPECT_EQ(failed_plan.result(), rolled->plan_rolled_back().reason());
  EXPECT_EQ(2, Get()["spec"]["replicas"]);
  EXPECT_EQ("info", (*client_->Get(fmt::format("/api/v1/namespaces/{}/configmaps/app-config",
                                               ns_)))["data"]["LOG_LEVEL"]);
}

TEST_F(ActuatorTest, APlanPatchingTwoConfigMapsHasNoPreflightSnapshot) {
  Actuator actuator(*client_, clock_);
  auto snapshot = actuator.Preflight(
      Plan({Action("PatchConfig", {{"configmap", "app-config"}, {"LOG_LEVEL", "debug"}}),
            Action("PatchConfig", {{"configmap", "app-config"}, {"MODE", "safe"}}),
            Action("PatchConfig", {{"configmap", "other-config"}, {"K", "V"}})}),
      issue_);
  ASSERT_FALSE(snapshot.ok());
  EXPECT_THAT(snapshot.status().message(),
              HasSubstr("patches ConfigMaps app-config and other-config"));
  EXPECT_EQ("info", (*client_->Get(fmt::format("/api/v1/namespaces/{}/configmaps/app-config",
                                               ns_)))["data"]["LOG_LEVEL"]);
}

TEST_F(ActuatorTest, FailuresAreResultsWithTheApiServersReason) {
  Actuator actuator(*client_, clock_);
  const v1::Event e = actuator.Execute(
      Plan({Action("PatchConfig", {{"configmap", "missing"}, {"K", "V"}})}), issue_, 0);
  ASSERT_TRUE(e.has_action_failed());
  EXPECT_THAT(e.action_failed().error(), HasSubstr("not found"));
  auto rollout = actuator.RolloutComplete(issue_.resource());
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_FALSE(rollout->has_value());  // no kubelet: the pods never become available
}

}  // namespace
}  // namespace aiops::k8s_sync
