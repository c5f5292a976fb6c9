#include "k8s_sync/detectors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "projections/naming.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
const absl::Time kT0 = absl::FromUnixSeconds(1'771'276'354);

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

Json Pod(int restarts, Json state = Json::object(), Json last_state = Json::object(),
         Json conditions = Json::array()) {
  return {{"metadata",
           {{"name", "web-5d9f7c-abcde"},
            {"namespace", "shop"},
            {"uid", "pod-uid-1"},
            {"ownerReferences", {{{"kind", "ReplicaSet"}, {"name", "web-5d9f7c"}}}}}},
          {"status",
           {{"containerStatuses",
             {{{"name", "app"},
               {"restartCount", restarts},
               {"state", state},
               {"lastState", last_state}}}},
            {"conditions", conditions}}}};
}

std::vector<std::string> Types(const std::vector<v1::Event>& events) {
  std::vector<std::string> out;
  for (const v1::Event& e : events) {
    out.push_back(e.alert_observed().type());
  }
  return out;
}

TEST(DetectorsTest, OomKillsAreAttributedToTheOwningDeployment) {
  Detectors d({});
  const auto alerts =
      d.OnPod(Pod(1, {}, {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137}}}}), kT0);
  ASSERT_THAT(Types(alerts), ::testing::ElementsAre("OOMKilled"));
  const v1::AlertObserved& a = alerts[0].alert_observed();
  EXPECT_EQ("web", a.deployment());
  EXPECT_EQ("shop", a.namespace_());
  EXPECT_EQ("web-5d9f7c-abcde", a.object());
  EXPECT_EQ("Pod", a.object_kind());
  EXPECT_EQ("pod-uid-1", a.source_object_uid());
  EXPECT_EQ("detector", a.source());
  EXPECT_EQ(absl::ToUnixMillis(kT0), alerts[0].logical_time_ms());
  EXPECT_EQ("oom_kill", projections::SignalForAlertType(a.type()));
  EXPECT_EQ("web", projections::ResourceForAlert(a).name());
}

TEST(DetectorsTest, RestartsCountOnlyWithinTheWindow) {
  Detectors d({});
  EXPECT_TRUE(d.OnPod(Pod(0), kT0).empty());
  EXPECT_TRUE(d.OnPod(Pod(1), kT0 + absl::Minutes(1)).empty());
  EXPECT_TRUE(d.OnPod(Pod(2), kT0 + absl::Minutes(2)).empty());
  EXPECT_THAT(Types(d.OnPod(Pod(3), kT0 + absl::Minutes(3))),
              ::testing::ElementsAre("HighRestartCount"));
  Detectors slow({});
  slow.OnPod(Pod(0), kT0);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_TRUE(slow.OnPod(Pod(i), kT0 + absl::Minutes(6 * i)).empty()) << i;
  }
}

TEST(DetectorsTest, APodSeenFirstWithRecentRestartsAlerts) {
  const Json recent = {{"terminated", {{"reason", "Error"}, {"finishedAt", Rfc3339(kT0)}}}};
  EXPECT_THAT(Types(Detectors({}).OnPod(Pod(5, {}, recent), kT0 + absl::Minutes(1))),
              ::testing::ElementsAre("HighRestartCount"));
  EXPECT_TRUE(Detectors({}).OnPod(Pod(5, {}, recent), kT0 + absl::Hours(1)).empty());
}

TEST(DetectorsTest, WaitingReasonsAndReadiness) {
  Detectors d({});
  EXPECT_THAT(Types(d.OnPod(Pod(0, {{"waiting", {{"reason", "CrashLoopBackOff"}}}}), kT0)),
              ::testing::ElementsAre("CrashLoopBackOff"));
  EXPECT_THAT(Types(d.OnPod(Pod(0, {{"waiting", {{"reason", "ErrImagePull"}}}}), kT0)),
              ::testing::ElementsAre("ImagePullBackOff"));
  const Json not_ready = {{{"type", "Ready"},
                           {"status", "False"},
                           {"reason", "ContainersNotReady"},
                           {"lastTransitionTime", Rfc3339(kT0)}}};
  EXPECT_TRUE(d.OnPod(Pod(0, {}, {}, not_ready), kT0 + absl::Minutes(4)).empty());
  EXPECT_THAT(Types(d.OnPod(Pod(0, {}, {}, not_ready), kT0 + absl::Minutes(5))),
              ::testing::ElementsAre("PodNotReady"));
}

// What a real kubelet (v1.36) reports for a container that exits 1 over and over: restartCount
// rising, lastState.terminated {reason: Error, exitCode: 1}, and between restarts
// state.terminated rather than waiting CrashLoopBackOff (../shared/reference/real-node.md).
TEST(DetectorsTest, CrashLoopsAreSeenFromRestartsAndTheLastTerminationAlone) {
  Detectors d({});
  const Json exited = {{"terminated", {{"reason", "Error"}, {"exitCode", 1}}}};
  EXPECT_TRUE(d.OnPod(Pod(0, exited), kT0).empty());
  EXPECT_TRUE(d.OnPod(Pod(1, {{"running", Json::object()}}, exited), kT0 + absl::Seconds(5))
                  .empty());  // one restart is not a loop
  const auto alerts = d.OnPod(Pod(2, exited, exited), kT0 + absl::Seconds(20));
  ASSERT_THAT(Types(alerts), ::testing::ElementsAre("CrashLoopBackOff"));
  EXPECT_EQ(
      "container app of pod web-5d9f7c-abcde crash-loops: 2 restarts in the last 10 min, last "
      "exit code 1 (Error)",
      alerts[0].alert_observed().message());
  EXPECT_EQ("crashloop_backoff", projections::SignalForAlertType("CrashLoopBackOff"));
  // The third restart also crosses the restart-count threshold.
  EXPECT_THAT(
      Types(d.OnPod(Pod(3, {{"running", Json::object()}}, exited), kT0 + absl::Seconds(50))),
      ::testing::ElementsAre("CrashLoopBackOff", "HighRestartCount"));

  // Restarts whose last termination succeeded (exit 0) or was an OOM kill are not a crash loop.
  Detectors clean({});
  const Json completed = {{"terminated", {{"reason", "Completed"}, {"exitCode", 0}}}};
  clean.OnPod(Pod(0), kT0);
  EXPECT_TRUE(clean.OnPod(Pod(2, {}, completed), kT0 + absl::Seconds(20)).empty());
  Detectors oom({});
  oom.OnPod(Pod(0), kT0);
  EXPECT_THAT(
      Types(oom.OnPod(Pod(2, {}, {{"terminated", {{"reason", "OOMKilled"}, {"exitCode", 137}}}}),
                      kT0 + absl::Seconds(20))),
      ::testing::ElementsAre("OOMKilled"));
  // The threshold is configurable.
  DetectorConfig strict;
  strict.crashloop_restarts_min = 3;
  Detectors three(strict);
  three.OnPod(Pod(0), kT0);
  EXPECT_TRUE(three.OnPod(Pod(2, exited), kT0 + absl::Seconds(20)).empty());
}

Json Deployment(Json status) {
  return {{"metadata", {{"name", "web"}, {"namespace", "shop"}, {"uid", "dep-uid"}}},
          {"status", status}};
}

TEST(DetectorsTest, DeploymentsFailingOnDeadlineOrSustainedUnavailability) {
  Detectors d({});
  const auto deadline = d.OnDeployment(Deployment({{"conditions",
                                                    {{{"type", "Progressing"},
                                                      {"status", "False"},
                                                      {"reason", "ProgressDeadlineExceeded"}}}}}),
                                       kT0);
  ASSERT_THAT(Types(deadline), ::testing::ElementsAre("DeploymentFailing"));
  EXPECT_EQ("Deployment/web", deadline[0].alert_observed().object());
  EXPECT_EQ("dep-uid", deadline[0].alert_observed().source_object_uid());
  EXPECT_TRUE(d.OnDeployment(Deployment({{"unavailableReplicas", 2}}), kT0).empty());
  EXPECT_TRUE(
      d.OnDeployment(Deployment({{"unavailableReplicas", 2}}), kT0 + absl::Minutes(4)).empty());
  EXPECT_THAT(
      Types(d.OnDeployment(Deployment({{"unavailableReplicas", 1}}), kT0 + absl::Minutes(5))),
      ::testing::ElementsAre("DeploymentFailing"));
  EXPECT_TRUE(
      d.OnDeployment(Deployment({{"unavailableReplicas", 0}}), kT0 + absl::Minutes(6)).empty());
  EXPECT_TRUE(
      d.OnDeployment(Deployment({{"unavailableReplicas", 1}}), kT0 + absl::Minutes(7)).empty());
}

// The periodic re-check fires the time-based alerts on objects that stopped changing, once per
// episode: not again on every later pass, again after the condition cleared and came back.
TEST(DetectorsTest, RechecksFireTimeBasedAlertsOncePerEpisode) {
  DetectorConfig config;
  config.not_ready_after = absl::Seconds(30);
  config.unavailable_after = absl::Seconds(30);
  Detectors d(config);
  const Json not_ready = {{{"type", "Ready"},
                           {"status", "False"},
                           {"reason", "ContainersNotReady"},
                           {"lastTransitionTime", Rfc3339(kT0)}}};
  const Json pod = Pod(0, {}, {}, not_ready);
  EXPECT_TRUE(d.OnPod(pod, kT0).empty());
  EXPECT_TRUE(d.RecheckPod(pod, kT0 + absl::Seconds(29)).empty());
  const auto alerts = d.RecheckPod(pod, kT0 + absl::Seconds(30));
  ASSERT_THAT(Types(alerts), ::testing::ElementsAre("PodNotReady"));
  EXPECT_EQ("web", alerts[0].alert_observed().deployment());
  EXPECT_THAT(alerts[0].alert_observed().message(), ::testing::HasSubstr("not ready for 30 s"));
  EXPECT_TRUE(d.RecheckPod(pod, kT0 + absl::Seconds(40)).empty());
  EXPECT_TRUE(d.OnPod(pod, kT0 + absl::Seconds(50)).empty());  // an informer event: same episode
  // A re-check never raises the event-driven alerts (an old OOM kill, restarts).
  EXPECT_TRUE(
      d.RecheckPod(Pod(9, {}, {{"terminated", {{"reason", "OOMKilled"}}}}), kT0 + absl::Hours(1))
          .empty());
  // Ready again, then not ready since a later time: a new episode.
  const Json ready = {{{"type", "Ready"}, {"status", "True"}}};
  EXPECT_TRUE(d.OnPod(Pod(0, {}, {}, ready), kT0 + absl::Minutes(2)).empty());
  EXPECT_THAT(Types(d.RecheckPod(pod, kT0 + absl::Minutes(3))),
              ::testing::ElementsAre("PodNotReady"));

  const Json unavailable = Deployment({{"unavailableReplicas", 1}});
  EXPECT_TRUE(d.OnDeployment(unavailable, kT0).empty());
  EXPECT_TRUE(d.RecheckDeployment(unavailable, kT0 + absl::Seconds(20)).empty());
  EXPECT_THAT(Types(d.RecheckDeployment(unavailable, kT0 + absl::Seconds(30))),
              ::testing::ElementsAre("DeploymentFailing"));
  EXPECT_TRUE(d.RecheckDeployment(unavailable, kT0 + absl::Seconds(60)).empty());
  EXPECT_TRUE(d.OnDeployment(unavailable, kT0 + absl::Seconds(70)).empty());
  const Json deadline = Deployment({{"conditions",
                                     {{{"type", "Progressing"},
                                       {"status", "False"},
                                       {"reason", "ProgressDeadlineExceeded"},
                                       {"lastTransitionTime", Rfc3339(kT0)}}}}});
  EXPECT_THAT(Types(d.OnDeployment(deadline, kT0 + absl::Seconds(80))),
              ::testing::ElementsAre("DeploymentFailing"));
  EXPECT_TRUE(d.RecheckDeployment(deadline, kT0 + absl::Seconds(90)).empty());
}

TEST(DetectorsTest, RecheckIntervalIsAFractionOfTheThresholds) {
  DetectorConfig config;
  EXPECT_EQ(absl::Seconds(30), RecheckInterval(config));  // 5 min thresholds
  config.not_ready_after = absl::Seconds(3);
  EXPECT_EQ(absl::Milliseconds(300), RecheckInterval(config));
  config.unavailable_after = absl::Milliseconds(10);
  EXPECT_EQ(absl::Milliseconds(100), RecheckInterval(config));
  config.recheck_interval = absl::Seconds(7);
  EXPECT_EQ(absl::Seconds(7), RecheckInterval(config));
}

TEST(DetectorsTest, TargetsLimitWhatIsWatched) {
  DetectorConfig config;
  config.targets = {{"shop", "api"}, {"batch", ""}};
  Detectors d(config);
  EXPECT_TRUE(d.Watched("shop", "api"));
  EXPECT_FALSE(d.Watched("shop", "web"));
  EXPECT_TRUE(d.Watched("batch", "anything"));
  EXPECT_TRUE(d.OnPod(Pod(0, {{"waiting", {{"reason", "CrashLoopBackOff"}}}}), kT0).empty());
}

}  // namespace
}  // namespace aiops::k8s_sync
