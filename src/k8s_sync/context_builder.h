// The Kubernetes context given to the analyzer (seed §"K8s Context Enrichment"): the
// Deployment's status (replicas, conditions, images), up to 5 of its pods (unhealthy first:
// phase, restarts, container states), the last 15 events about it or its pods, and the last 5
// ReplicaSet revisions with what changed between them. Bounded in size; the result is recorded
// as a ContextCollected event before the analyzer is called, so replay sees what the AI saw.
#pragma once

#include <string>

#include <absl/status/statusor.h>

#include "aiops/v1/events.pb.h"
#include "aiops/v1/state.pb.h"
#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

struct ContextLimits {
  size_t max_pods = 5;
  size_t max_events = 15;
  size_t max_revisions = 5;
  size_t max_bytes = 15'000;
};

// A ContextCollected event for `issue` (attempt `attempt`). Parts that cannot be read are named
// in `error` and the rest is still collected; a missing Deployment is reported, not an error.
v1::Event BuildContext(KubeClient& client, const v1::IssueState& issue, int32_t attempt,
                       const ContextLimits& limits = {});

}  // namespace aiops::k8s_sync
