// The actuator (DESIGN.md §4, §5): carries out plan actions on the cluster. Each write is a
// read-modify-replace of the whole object, so it carries the read resourceVersion (a concurrent
// change is a conflict, re-read and retried) and, in the same request, the idempotency marker
// annotation platform.chatcli.io/applied-action: <plan>/<index>; an action whose marker is
// already on the object is reported as already applied and changes nothing, so an action
// repeated after a crash is a no-op. Before the first action a preflight snapshot (replicas, pod
// template, ConfigMap data) is taken; Rollback restores it. Dry runs send dryRun=All: the API
// server validates and changes nothing. Every call returns the event to append (the result with
// a summary of the API response). Thread-compatible.
#pragma once

#include <optional>
#include <string>

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include "aiops/v1/events.pb.h"
#include "aiops/v1/state.pb.h"
#include "common/clock.h"
#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

inline constexpr char kAppliedActionAnnotation[] = "platform.chatcli.io/applied-action";
inline constexpr char kRestartedAtAnnotation[] = "kubectl.kubernetes.io/restartedAt";

class Actuator {
 public:
  // `client` and `clock` must outlive the actuator; the clock stamps restartedAt.
  Actuator(KubeClient& client, common::Clock& clock);

  // The state a failed plan is rolled back to (a PreflightSnapshot event payload).
  absl::StatusOr<v1::PreflightSnapshot> Preflight(const v1::PlanState& plan,
                                                  const v1::IssueState& issue);

  // Runs action `index` of `plan` on the issue's resource: an ActionSucceeded or ActionFailed
  // event (never an error: a failure is a result to record). RollbackDeployment to "previous"
  // returns to the newest ReplicaSet revision whose pod spec differs from the current template's
  // (a restart's revision runs the same pods and is passed over, like kubectl's "skipped
  // rollback" of a template that already matches) and that no earlier failed plan of the issue
  // made (a memory or cpu limit its AdjustResources set, which the current template does not
  // hold). A rollback to a revision that runs the same pods as the current template is refused
  // (it would change nothing).
  v1::Event Execute(const v1::PlanState& plan, const v1::IssueState& issue, int index,
                    bool dry_run = false);

  // Restores `snapshot`: a PlanRolledBack event on success, else an error naming what failed.
  absl::StatusOr<v1::Event> Rollback(const v1::PlanState& plan,
                                     const v1::PreflightSnapshot& snapshot);

  // Whether the Deployment's rollout is complete (CheckRollout): a summary when it is, nullopt
  // while not yet.
  absl::StatusOr<std::optional<std::string>> RolloutComplete(const v1::ResourceRef& deployment);
  // Why the Deployment's rollout is not complete, for a verification that ran out of time: the
  // rollout numbers (observedGeneration against generation; desired, updated, ready, available
  // replicas), its Progressing/Available conditions, and the states of up to 5 pods that are not
  // ready (phase, node, each container's state and reason, restarts).
  absl::StatusOr<std::string> RolloutEvidence(const v1::ResourceRef& deployment);
  // Evidence that the pods of the Deployment's current revision fail since `since` (a container
  // waiting in CrashLoopBackOff, ImagePullBackOff, ErrImagePull or CreateContainerConfigError, or
  // one that terminated after `since`, e.g. OOMKilled), naming the pod; nullopt when none does.
  // Terminating pods are ignored.
  absl::StatusOr<std::optional<std::string>> PodsFailingSince(const v1::ResourceRef& deployment,
                                                              absl::Time since);

 private:
  absl::StatusOr<std::string> ApplyAction(const v1::ActionSpec& action, const v1::IssueState& issue,
                                          const std::string& marker, bool dry_run,
                                          bool& already_applied, std::string& response);

  KubeClient& client_;
  common::Clock& clock_;
};

std::string DeploymentPath(const v1::ResourceRef& ref);

// A Deployment's rollout as `kubectl rollout status` judges it, and stricter: complete when the
// controller observed the latest generation, updated = ready = available = desired replicas, and
// no replica of an older revision is left (status.replicas = updatedReplicas). Otherwise
// `waiting_for` says what is missing. Pure: reads only the object.
struct RolloutCheck {
  bool complete = false;
  std::string summary;      // when complete
  std::string waiting_for;  // when not
};
RolloutCheck CheckRollout(const nlohmann::json& deployment);

}  // namespace aiops::k8s_sync
