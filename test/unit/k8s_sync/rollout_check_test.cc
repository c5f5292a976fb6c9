// CheckRollout: a verification passes only on what `kubectl rollout status` would call done, and
// never while a pod of the replaced revision is the one serving.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "k8s_sync/actuator.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

Json Deployment(int64_t desired, int64_t generation, int64_t observed, int64_t total,
                int64_t updated, int64_t ready, int64_t available) {
  return {{"metadata", {{"namespace", "shop"}, {"name", "web"}, {"generation", generation}}},
          {"spec", {{"replicas", desired}}},
          {"status",
           {{"observedGeneration", observed},
            {"replicas", total},
            {"updatedReplicas", updated},
            {"readyReplicas", ready},
            {"availableReplicas", available}}}};
}

TEST(RolloutCheckTest, CompleteWhenEveryReplicaIsNewReadyAndAvailable) {
  const RolloutCheck c = CheckRollout(Deployment(1, 2, 2, 1, 1, 1, 1));
  EXPECT_TRUE(c.complete);
  EXPECT_EQ(
      "shop/web: rollout complete, 1 of 1 replicas updated, ready and available, no old replicas",
      c.summary);
}

// The case found on a real cluster: after a restart of a one-replica Deployment the new pod never
// became ready; the old one still served, so updated = available = 1 but status.replicas = 2.
TEST(RolloutCheckTest, NotCompleteWhileTheOldPodOfAOneReplicaDeploymentServes) {
  const RolloutCheck c = CheckRollout(Deployment(1, 2, 2, 2, 1, 1, 1));
  EXPECT_FALSE(c.complete);
  EXPECT_EQ("shop/web: 1 pods of an older revision are still there", c.waiting_for);
}

TEST(RolloutCheckTest, NotCompleteBeforeTheControllerObservedTheGeneration) {
  const RolloutCheck c = CheckRollout(Deployment(2, 3, 2, 2, 2, 2, 2));
  EXPECT_FALSE(c.complete);
  EXPECT_EQ("shop/web: the controller has not observed generation 3 yet (2)", c.waiting_for);
}

TEST(RolloutCheckTest, NotCompleteWhileUpdatedReplicasAreMissingOrNotReady) {
  EXPECT_FALSE(CheckRollout(Deployment(3, 1, 1, 3, 2, 3, 3)).complete);
  const RolloutCheck not_ready = CheckRollout(Deployment(2, 1, 1, 2, 2, 1, 2));
  EXPECT_FALSE(not_ready.complete);
  EXPECT_EQ("shop/web: 1 of 2 updated replicas ready, 2 available", not_ready.waiting_for);
  EXPECT_FALSE(CheckRollout(Deployment(2, 1, 1, 2, 2, 2, 1)).complete);
}

TEST(RolloutCheckTest, AnObjectWithoutStatusIsNotComplete) {
  EXPECT_FALSE(CheckRollout(Json{{"metadata", {{"generation", 1}}}}).complete);
  EXPECT_FALSE(CheckRollout(Json::array()).complete);
}

}  // namespace
}  // namespace aiops::k8s_sync
