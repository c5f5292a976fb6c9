// Detection end to end on the real control plane: the kubelet stand-in plays an OOM kill on a
// pod of a Deployment that kube-controller-manager rolled out; the detectors (through informers)
// raise an alert naming the Deployment; the runner opens an issue; once healed, the rollout is
// complete again.
#include <filesystem>
#include <fstream>
#include <sstream>

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

TEST(DetectionTest, AnOomKillBecomesAnIssueOnItsDeployment) {
  KubeConfig config;
  config.server = Cp().server;
  std::ifstream in(Cp().ca_file);
  std::stringstream s;
  s << in.rdbuf();
  config.ca_pem = s.str();
  config.token = Cp().token;
  auto client = *KubeClient::Create(config);
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
  std::vector<std::string> pods;
  ASSERT_TRUE(Eventually(
      [&] {
        auto list = client->Get(fmt::format("/api/v1/namespaces/{}/pods", ns));
        pods.clear();
        for (const Json& p : (*list)["items"]) {
          pods.push_back(p["metadata"]["name"]);
        }
        return pods.size() == 2;
      },
      absl::Seconds(30)));
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

}  // namespace
}  // namespace aiops::k8s_sync
