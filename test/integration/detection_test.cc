// Detection end to end on the real control plane: the kubelet stand-in plays an OOM kill on a
// pod of a Deployment that kube-controller-manager rolled out; the detectors (through informers)
// raise an alert naming the Deployment; the runner opens an issue; once healed, the rollout is
// complete again.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <absl/strings/match.h>
#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eventlog/memory_event_log.h"
#include "k8s_sync/actuator.h"
#include "k8s_sync/context_builder.h"
#include "k8s_sync/detector_runner.h"
#include "server/runner.h"
#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"
#include "support/subprocess.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

absl::Status Standin(const std::vector<std::string>& args) {
  return testing::RunKubeletStandin(Cp(), AIOPS_SOURCE_DIR, args);
}

using testing::Eventually;

std::unique_ptr<KubeClient> Client() { return testing::AdminKubeClient(Cp()); }

Json DeploymentObject(const std::string& name, int replicas, int progress_deadline_s = 600) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", replicas},
            {"progressDeadlineSeconds", progress_deadline_s},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", {{{"name", "app"}, {"image", "shop:1"}}}}}}}}}}};
}

// The names of the pods `path` lists, once there are `n` of them (what there is after 30 s).
std::vector<std::string> WaitForPods(KubeClient& client, const std::string& path, size_t n) {
  std::vector<std::string> pods;
  Eventually(
      [&] {
        pods.clear();
        absl::StatusOr<Json> list = client.Get(path);
        if (list.ok()) {
          for (const Json& p : (*list)["items"]) {
            pods.push_back(p["metadata"]["name"]);
          }
        }
        return pods.size() == n;
      },
      absl::Seconds(30));
  return pods;
}

// The alerts a DetectorRunner submitted.
class Recorded {
 public:
  DetectorRunner::Submit Submitter() {
    return [this](v1::Event e) -> absl::StatusOr<uint64_t> {
      absl::MutexLock lock(&mu_);
      alerts_.push_back(e.alert_observed());
      return alerts_.size();
    };
  }
  // Those of `type` about `object`.
  std::vector<v1::AlertObserved> Of(const std::string& type, const std::string& object) const {
    absl::MutexLock lock(&mu_);
    std::vector<v1::AlertObserved> out;
    for (const v1::AlertObserved& a : alerts_) {
      if (a.type() == type && a.object() == object) {
        out.push_back(a);
      }
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::AlertObserved> alerts_ ABSL_GUARDED_BY(mu_);
};

TEST(DetectionTest, AnOomKillBecomesAnIssueOnItsDeployment) {
  auto client = Client();
  const std::string ns = "detect";
  ASSERT_TRUE(
      client
          ->Create("/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
          .ok());
  ASSERT_TRUE(
      client
          ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns),
                   {{"apiVersion", "apps/v1"},
                    {"kind", "Deployment"},
                    {"metadata", {{"name", "checkout"}}},
                    {"spec",
                     {{"replicas", 2},
                      {"selector", {{"matchLabels", {{"app", "checkout"}}}}},
                      {"template",
                       {{"metadata", {{"labels", {{"app", "checkout"}}}}},
                        {"spec", {{"containers", {{{"name", "app"}, {"image", "shop:1"}}}}}}}}}}})
          .ok());
  ASSERT_TRUE(Standin({"node"}).ok());
  std::vector<std::string> pods =
      WaitForPods(*client, fmt::format("/api/v1/namespaces/{}/pods", ns), 2);
  ASSERT_EQ(2U, pods.size());
  ASSERT_TRUE(Standin({"run", ns}).ok());
  Actuator actuator(*client, common::SystemClock::Get());
  v1::ResourceRef deployment;
  deployment.set_kind("Deployment");
  deployment.set_namespace_(ns);
  deployment.set_name("checkout");
  ASSERT_TRUE(Eventually([&] { return actuator.RolloutComplete(deployment)->has_value(); },
                         absl::Seconds(30)));

  eventlog::InMemoryEventLog log;
  auto runner = *server::Runner::Start(log);
  DetectorConfig detector_config;
  detector_config.targets = {{ns, ""}};
  DetectorRunner detectors(*client, common::SystemClock::Get(), detector_config,
                           [&](v1::Event e) { return runner->Submit(std::move(e)); });
  detectors.Start();
  ASSERT_TRUE(detectors.WaitForSync(absl::Seconds(20)));
  EXPECT_EQ(0U, detectors.alerts());  // healthy pods raise nothing

  ASSERT_TRUE(Standin({"fail", ns, pods[0], "oom", "4"}).ok());
  std::string issue;
  ASSERT_TRUE(Eventually(
      [&] {
        runner->ReadState([&](const projections::PipelineState& state) {
          for (const auto& [name, i] : state.issues) {
            if (i.signal_type() == "oom_kill") {
              issue = name;
            }
          }
        });
        return !issue.empty();
      },
      absl::Seconds(30)));
  // The restarts of the same pod update arrive as a second alert, submitted right after.
  EXPECT_TRUE(Eventually(
      [&] {
        bool joined = false;
        runner->ReadState([&](const projections::PipelineState& state) {
          const auto signals = projections::SignalTypes(state.issues.at(issue));
          joined = std::find(signals.begin(), signals.end(), "pod_restart") != signals.end();
        });
        return joined;
      },
      absl::Seconds(10)));
  runner->ReadState([&](const projections::PipelineState& state) {
    const v1::IssueState& i = state.issues.at(issue);
    EXPECT_EQ("checkout", i.resource().name());
    EXPECT_EQ("Deployment", i.resource().kind());
    EXPECT_EQ(projections::kAnalyzing, i.state());
    // The restarts were seen too, and joined the same issue.
    EXPECT_THAT(projections::SignalTypes(i), ::testing::Contains("pod_restart"));
  });
  // kube-controller-manager notices the unready pod: the rollout is no longer complete.
  EXPECT_TRUE(Eventually([&] { return !actuator.RolloutComplete(deployment)->has_value(); },
                         absl::Seconds(30)));

  // What the analyzer would be given.
  v1::IssueState for_context;
  runner->ReadState(
      [&](const projections::PipelineState& state) { for_context = state.issues.at(issue); });
  const v1::Event context = BuildContext(*client, for_context, 1);
  const v1::ContextCollected& c = context.context_collected();
  EXPECT_EQ(2, c.current_replicas());
  EXPECT_TRUE(c.error().empty()) << c.error();
  EXPECT_THAT(c.context(), ::testing::HasSubstr("Deployment detect/checkout: desired 2"));
  EXPECT_THAT(c.context(), ::testing::HasSubstr("Pods (2 of 2)"));
  EXPECT_THAT(c.context(), ::testing::HasSubstr(pods[0] + " phase=Running ready=false restarts=4"));
  EXPECT_THAT(c.context(), ::testing::HasSubstr("last terminated: OOMKilled"));
  EXPECT_THAT(c.context(), ::testing::HasSubstr("revision 1: ready"));
  // The unhealthy pod comes first.
  EXPECT_LT(c.context().find(pods[0]), c.context().find(pods[1]));

  ASSERT_TRUE(Standin({"heal", ns, pods[0]}).ok());
  EXPECT_TRUE(Eventually([&] { return actuator.RolloutComplete(deployment)->has_value(); },
                         absl::Seconds(30)));
  detectors.Stop();
}

// The time-based detectors fire on objects that stopped changing: a pod made not ready now (not
// backdated) sends one informer event, below the threshold; only the periodic re-check over the
// cache raises PodNotReady once the threshold has passed, and the Deployment's unavailable
// replica likewise raises DeploymentFailing. Each fires once, not on every re-check. Image-pull
// failures and a Deployment past its progress deadline (kube-controller-manager's own
// Progressing=False condition) are detected too.
TEST(DetectionTest, TimeBasedDetectorsFireOnObjectsThatStopChanging) {
  auto client = Client();
  const std::string ns = "detect-time";
  ASSERT_TRUE(
      client
          ->Create("/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
          .ok());
  ASSERT_TRUE(client
                  ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns),
                           DeploymentObject("cart", 2))
                  .ok());
  ASSERT_TRUE(Standin({"node"}).ok());
  std::vector<std::string> pods =
      WaitForPods(*client, fmt::format("/api/v1/namespaces/{}/pods", ns), 2);
  ASSERT_EQ(2U, pods.size());
  absl::Status standin;
  ASSERT_TRUE(Eventually(
      [&] {
        standin = Standin({"run", ns});
        return standin.ok();
      },
      absl::Seconds(30), absl::Seconds(1)))
      << standin;
  Actuator actuator(*client, common::SystemClock::Get());
  v1::ResourceRef cart;
  cart.set_kind("Deployment");
  cart.set_namespace_(ns);
  cart.set_name("cart");
  ASSERT_TRUE(
      Eventually([&] { return actuator.RolloutComplete(cart)->has_value(); }, absl::Seconds(30)));

  Recorded recorded;
  DetectorConfig config;
  config.targets = {{ns, ""}};
  config.not_ready_after = absl::Seconds(3);
  config.unavailable_after = absl::Seconds(3);
  config.recheck_interval = absl::Milliseconds(200);
  DetectorRunner detectors(*client, common::SystemClock::Get(), config, recorded.Submitter());
  detectors.Start();
  ASSERT_TRUE(detectors.WaitForSync(absl::Seconds(20)));
  EXPECT_EQ(0U, detectors.alerts());

  ASSERT_TRUE(Standin({"fail", ns, pods[0], "notready-now"}).ok());
  ASSERT_TRUE(
      Eventually([&] { return !recorded.Of("PodNotReady", pods[0]).empty(); }, absl::Seconds(30)))
      << "no PodNotReady for " << pods[0];
  const v1::AlertObserved not_ready = recorded.Of("PodNotReady", pods[0])[0];
  EXPECT_EQ("cart", not_ready.deployment());
  EXPECT_THAT(not_ready.message(), ::testing::ContainsRegex("not ready for ([3-9]|[1-9][0-9]+) s"));
  // kube-controller-manager counts the pod unavailable; that lasts past the threshold too.
  ASSERT_TRUE(
      Eventually([&] { return !recorded.Of("DeploymentFailing", "Deployment/cart").empty(); },
                 absl::Seconds(30)));
  EXPECT_EQ("warning", recorded.Of("DeploymentFailing", "Deployment/cart")[0].severity());
  EXPECT_THAT(recorded.Of("DeploymentFailing", "Deployment/cart")[0].message(),
              ::testing::HasSubstr("1 unavailable replicas"));
  // Later passes find the same episodes: nothing more.
  const uint64_t passes = detectors.rechecks();
  ASSERT_TRUE(Eventually([&] { return detectors.rechecks() >= passes + 10; }, absl::Seconds(30)));
  EXPECT_EQ(1U, recorded.Of("PodNotReady", pods[0]).size());
  EXPECT_EQ(1U, recorded.Of("DeploymentFailing", "Deployment/cart").size());
  EXPECT_TRUE(recorded.Of("PodNotReady", pods[1]).empty());

  ASSERT_TRUE(Standin({"fail", ns, pods[1], "imagepull"}).ok());
  EXPECT_TRUE(Eventually([&] { return !recorded.Of("ImagePullBackOff", pods[1]).empty(); },
                         absl::Seconds(30)));

  // No kubelet starts this one's pods: past its 2 s progress deadline, kube-controller-manager
  // sets Progressing=False (ProgressDeadlineExceeded).
  ASSERT_TRUE(client
                  ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns),
                           DeploymentObject("stuck", 1, 2))
                  .ok());
  ASSERT_TRUE(Eventually(
      [&] {
        for (const v1::AlertObserved& a : recorded.Of("DeploymentFailing", "Deployment/stuck")) {
          if (a.severity() == "critical") {
            return true;
          }
        }
        return false;
      },
      absl::Seconds(60)))
      << "no ProgressDeadlineExceeded alert for Deployment/stuck";
  const auto stuck = recorded.Of("DeploymentFailing", "Deployment/stuck");
  EXPECT_THAT(stuck.back().message(), ::testing::HasSubstr("exceeded its progress deadline"));
  detectors.Stop();
}

// The context builder's caps: 5 pods (unhealthy first), the 15 newest events, 5 revisions, and
// a byte cap with its marker. Events are those about the Deployment, its ReplicaSets and their
// pods only: "web-api"'s are not "web"'s.
TEST(DetectionTest, ContextIsCappedAndAboutTheDeploymentOnly) {
  auto client = Client();
  const std::string ns = "detect-context";
  ASSERT_TRUE(
      client
          ->Create("/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
          .ok());
  const std::string deployments = fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns);
  ASSERT_TRUE(client->Create(deployments, DeploymentObject("web", 7)).ok());
  ASSERT_TRUE(client->Create(deployments, DeploymentObject("web-api", 1)).ok());
  ASSERT_TRUE(client->Create(deployments, DeploymentObject("hist", 0)).ok());
  ASSERT_TRUE(Standin({"node"}).ok());
  std::vector<std::string> pods = WaitForPods(
      *client, fmt::format("/api/v1/namespaces/{}/pods?labelSelector=app%3Dweb", ns), 7);
  ASSERT_EQ(7U, pods.size());
  absl::Status standin;
  ASSERT_TRUE(Eventually(
      [&] {
        standin = Standin({"run", ns, "app=web"});
        return standin.ok();
      },
      absl::Seconds(30), absl::Seconds(1)))
      << standin;
  // Two unhealthy pods, last in name order.
  ASSERT_TRUE(Standin({"fail", ns, pods[5], "notready"}).ok());
  ASSERT_TRUE(Standin({"fail", ns, pods[6], "crashloop", "2"}).ok());
  // 20 events about web's pods and 3 about web-api's objects, all newer than the controllers'.
  const absl::Time base = absl::Now() + absl::Hours(1);
  auto event = [&](const std::string& name, const std::string& kind, const std::string& object,
                   const std::string& reason, int second) {
    const std::string at =
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", base + absl::Seconds(second), absl::UTCTimeZone());
    return client
        ->Create(fmt::format("/api/v1/namespaces/{}/events", ns),
                 {{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", name}}},
                  {"involvedObject", {{"kind", kind}, {"name", object}, {"namespace", ns}}},
                  {"reason", reason},
                  {"message", "test event"},
                  {"type", "Warning"},
                  {"count", 1},
                  {"source", {{"component", "detection-test"}}},
                  {"firstTimestamp", at},
                  {"lastTimestamp", at}})
        .status();
  };
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(event(fmt::format("probe-{}", i), "Pod", pods[static_cast<size_t>(i) % 7],
                      fmt::format("Probe{:02}", i), i)
                    .ok());
  }
  ASSERT_TRUE(event("other-1", "Deployment", "web-api", "NotMine", 30).ok());
  ASSERT_TRUE(event("other-2", "Pod", "web-api-5d9f7c-abcde", "NotMine", 31).ok());
  ASSERT_TRUE(event("other-3", "ReplicaSet", "web-api-5d9f7c", "NotMine", 32).ok());
  // hist has no pods and 7 revisions.
  for (int i = 2; i <= 7; ++i) {
    ASSERT_TRUE(
        client
            ->Patch(deployments + "/hist",
                    {{"spec",
                      {{"template",
                        {{"spec",
                          {{"containers",
                            {{{"name", "app"}, {"image", fmt::format("shop:{}", i)}}}}}}}}}}},
                    "application/strategic-merge-patch+json")
            .ok());
    ASSERT_TRUE(Eventually(
        [&] {
          auto sets = client->Get(
              fmt::format("/apis/apps/v1/namespaces/{}/replicasets?labelSelector=app%3Dhist", ns));
          return sets.ok() && (*sets)["items"].size() == static_cast<size_t>(i);
        },
        absl::Seconds(30)))
        << "no revision " << i;
  }

  v1::IssueState issue;
  issue.set_name("web-pod-not-ready-1");
  issue.mutable_resource()->set_kind("Deployment");
  issue.mutable_resource()->set_namespace_(ns);
  issue.mutable_resource()->set_name("web");
  std::string text;
  ASSERT_TRUE(Eventually(
      [&] {  // the stand-in's status writes reach the API server before the build reads them
        text = BuildContext(*client, issue, 1).context_collected().context();
        return absl::StrContains(text, pods[6] + " phase=Running ready=false restarts=2");
      },
      absl::Seconds(10)))
      << text;
  EXPECT_THAT(text, ::testing::HasSubstr("Pods (5 of 7)"));
  size_t shown = 0;
  for (size_t at = text.find(" phase="); at != std::string::npos;
       at = text.find(" phase=", at + 1)) {
    ++shown;
  }
  EXPECT_EQ(5U, shown);
  // Unhealthy first (the crash-looping one, with more restarts, before the merely unready one).
  const size_t first_healthy = text.find("ready=true");
  ASSERT_NE(std::string::npos, first_healthy);
  EXPECT_LT(text.find(pods[6] + " phase="), text.find(pods[5] + " phase="));
  EXPECT_LT(text.find(pods[5] + " phase="), first_healthy);
  EXPECT_THAT(text, ::testing::HasSubstr("Events (last 15)"));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(i >= 5, absl::StrContains(text, fmt::format("Probe{:02}", i))) << i;
  }
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("NotMine")));
  EXPECT_LT(text.find("Probe19"), text.find("Probe05"));  // newest first

  issue.mutable_resource()->set_name("hist");
  const std::string hist = BuildContext(*client, issue, 1).context_collected().context();
  EXPECT_THAT(hist, ::testing::HasSubstr("Revisions (newest first, 5 of 7)"));
  EXPECT_THAT(hist, ::testing::HasSubstr("revision 7: ready 0/0, app=shop:7 (was: app=shop:6)"));
  EXPECT_THAT(hist, ::testing::HasSubstr("revision 3: ready 0/0, app=shop:3 (was: app=shop:2)"));
  EXPECT_THAT(hist, ::testing::Not(::testing::HasSubstr("revision 2:")));

  issue.mutable_resource()->set_name("web");
  ContextLimits small;
  small.max_bytes = 300;
  const std::string capped = BuildContext(*client, issue, 1, small).context_collected().context();
  EXPECT_EQ(text.substr(0, 300), capped.substr(0, 300));
  EXPECT_EQ("\n... (context truncated)", capped.substr(300));
}

// Issue #20.1, found on a real cluster: after a restart of a one-replica Deployment whose new pod
// never becomes ready, the old pod still serves, so updated = available = desired = 1 while
// status.replicas = 2. The rollout is not complete until the replacement is ready and the old
// pod is gone (what `kubectl rollout status` waits for).
TEST(DetectionTest, AOneReplicaRolloutIsNotCompleteWhileTheOldPodServes) {
  auto client = Client();
  const std::string ns = "verify-one";
  ASSERT_TRUE(
      client
          ->Create("/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
          .ok());
  ASSERT_TRUE(client
                  ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns),
                           DeploymentObject("solo", 1))
                  .ok());
  ASSERT_TRUE(Standin({"node"}).ok());
  ASSERT_EQ(1U, WaitForPods(*client, fmt::format("/api/v1/namespaces/{}/pods", ns), 1).size());
  ASSERT_TRUE(Standin({"run", ns}).ok());
  Actuator actuator(*client, common::SystemClock::Get());
  v1::IssueState issue;
  issue.set_name("solo-pod-not-ready-1");
  issue.mutable_resource()->set_kind("Deployment");
  issue.mutable_resource()->set_namespace_(ns);
  issue.mutable_resource()->set_name("solo");
  ASSERT_TRUE(Eventually([&] { return actuator.RolloutComplete(issue.resource())->has_value(); },
                         absl::Seconds(30)));

  v1::PlanState plan;
  plan.set_name("solo-pod-not-ready-1-plan-1");
  plan.add_actions()->set_type("RestartDeployment");
  ASSERT_TRUE(actuator.Execute(plan, issue, 0).has_action_succeeded());
  // kube-controller-manager surges one new pod (not started: no kubelet runs it) and keeps the
  // old one, which stays available.
  Json d;
  ASSERT_TRUE(Eventually(
      [&] {
        d = *client->Get(DeploymentPath(issue.resource()));
        const Json& s = d["status"];
        return s.value("observedGeneration", 0) == d["metadata"].value("generation", 0) &&
               s.value("replicas", 0) == 2 && s.value("updatedReplicas", 0) == 1 &&
               s.value("availableReplicas", 0) == 1;
      },
      absl::Seconds(30)))
      << d["status"].dump();
  EXPECT_EQ("verify-one/solo: 1 pods of an older revision are still there",
            CheckRollout(d).waiting_for);
  auto rollout = actuator.RolloutComplete(issue.resource());
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_FALSE(rollout->has_value()) << **rollout;

  // The replacement starts: the old pod is scaled away and the rollout completes.
  ASSERT_TRUE(Standin({"start", ns}).ok());
  EXPECT_TRUE(Eventually([&] { return actuator.RolloutComplete(issue.resource())->has_value(); },
                         absl::Seconds(30)));
}

}  // namespace
}  // namespace aiops::k8s_sync
