// Detection and verification against a real kubelet (tools/node.sh), where the kubelet stand-in
// cannot be trusted to report what a real one does (issue #20.1, #20.4): a crash loop is seen
// from restart counts and the last termination, and a one-replica rollout whose new pod never
// becomes ready is not complete while the old pod still serves.
#include <absl/strings/match.h>
#include <absl/synchronization/mutex.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/clock.h"
#include "k8s_sync/actuator.h"
#include "k8s_sync/detector_runner.h"
#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
using testing::Eventually;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

// A one-replica Deployment of the workload image with `args` and, when given, an exec readiness
// probe running `probe`.
Json Workload(const std::string& name, const std::vector<std::string>& args,
              const std::vector<std::string>& probe = {}) {
  Json container = {{"name", "app"},
                    {"image", Cp().workload_image},
                    {"imagePullPolicy", "Never"},
                    {"args", args}};
  if (!probe.empty()) {
    container["readinessProbe"] = {{"exec", {{"command", probe}}}, {"periodSeconds", 1}};
  }
  Json pod_spec = {{"terminationGracePeriodSeconds", 1}, {"containers", Json::array({container})}};
  Json tmpl = {{"metadata", {{"labels", {{"app", name}}}}}, {"spec", pod_spec}};
  Json spec = {
      {"replicas", 1}, {"selector", {{"matchLabels", {{"app", name}}}}}, {"template", tmpl}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec", spec}};
}

void CreateNamespace(KubeClient& client, const std::string& ns) {
  ASSERT_TRUE(
      client
          .Create("/api/v1/namespaces",
                  {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
          .ok());
}

TEST(NodeDetectionTest, ACrashLoopIsSeenFromRestartCountsOnARealKubelet) {
  auto client = testing::AdminKubeClient(Cp());
  const std::string ns = "node-crash";
  CreateNamespace(*client, ns);
  absl::Mutex mu;
  std::vector<v1::AlertObserved> alerts;
  DetectorConfig config;
  config.targets = {{ns, ""}};
  DetectorRunner detectors(*client, common::SystemClock::Get(), config,
                           [&](v1::Event e) -> absl::StatusOr<uint64_t> {
                             absl::MutexLock lock(&mu);
                             alerts.push_back(e.alert_observed());
                             return alerts.size();
                           });
  detectors.Start();
  ASSERT_TRUE(detectors.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(client
                  ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns),
                           Workload("crasher", {"exit", "1"}))
                  .ok());
  // The kubelet restarts it every ~10 s (the node's maxContainerRestartPeriod); the second
  // restart with its last termination Error/1 is a crash loop, whatever the waiting reason says.
  std::string message;
  EXPECT_TRUE(Eventually(
      [&] {
        absl::MutexLock lock(&mu);
        for (const v1::AlertObserved& a : alerts) {
          if (a.type() == "CrashLoopBackOff" && absl::StrContains(a.message(), "crash-loops:")) {
            message = a.message();
            return true;
          }
        }
        return false;
      },
      absl::Seconds(90)));
  EXPECT_THAT(message, ::testing::HasSubstr("last exit code 1 (Error)"));
  detectors.Stop();
}

TEST(NodeDetectionTest, AOneReplicaRolloutIsNotCompleteWhileTheOldPodServes) {
  auto client = testing::AdminKubeClient(Cp());
  const std::string ns = "node-verify";
  CreateNamespace(*client, ns);
  // Ready through an exec probe on a file the kubelet mounts in every container.
  ASSERT_TRUE(client
                  ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns),
                           Workload("solo", {"sleep"}, {"cat", "/etc/hostname"}))
                  .ok());
  Actuator actuator(*client, common::SystemClock::Get());
  v1::ResourceRef deployment;
  deployment.set_kind("Deployment");
  deployment.set_namespace_(ns);
  deployment.set_name("solo");
  ASSERT_TRUE(Eventually([&] { return actuator.RolloutComplete(deployment)->has_value(); },
                         absl::Seconds(60)));
  // A new revision whose pod never becomes ready: the old pod keeps serving (maxUnavailable 0).
  Json d = *client->Get(DeploymentPath(deployment));
  d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"] =
      Json::array({"cat", "/nonexistent"});
  ASSERT_TRUE(client->Replace(DeploymentPath(deployment), d).ok());
  ASSERT_TRUE(Eventually(
      [&] {
        d = *client->Get(DeploymentPath(deployment));
        const Json& s = d["status"];
        return s.value("observedGeneration", 0) == d["metadata"].value("generation", 0) &&
               s.value("replicas", 0) == 2 && s.value("updatedReplicas", 0) == 1 &&
               s.value("availableReplicas", 0) == 1;
      },
      absl::Seconds(60)))
      << d["status"].dump();
  // Given time, it stays not complete: updated = available = desired = 1, but the available
  // replica is the old one.
  absl::SleepFor(absl::Seconds(5));
  d = *client->Get(DeploymentPath(deployment));
  EXPECT_EQ("node-verify/solo: 1 pods of an older revision are still there",
            CheckRollout(d).waiting_for);
  auto rollout = actuator.RolloutComplete(deployment);
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_FALSE(rollout->has_value()) << **rollout;
}

}  // namespace
}  // namespace aiops::k8s_sync
