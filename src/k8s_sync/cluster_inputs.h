// Inputs people give through the cluster (DESIGN.md §7), turned into events for the runner:
//  - Runbooks without the auto-generated label are user input: RunbookObserved / RunbookDeleted.
//    A person deleting an auto-generated Runbook records RunbookRetired (it is not recreated);
//    removing the label turns it into a manual Runbook (observed). An invalid Runbook is logged
//    with the reason and changes nothing else.
//  - Approvals: the annotation platform.chatcli.io/approve (or /reject) with the value
//    "<who>:<reason>" on a RemediationPlan becomes ApprovalGranted (or ApprovalRejected), only
//    while the plan waits for approval in the projected state, so a restart (which sees every
//    annotated plan again) appends nothing for a plan already answered. A malformed value (no
//    colon, empty who) or both annotations at once is logged with the reason and appends nothing.
//  - Re-arming: the annotation platform.chatcli.io/rearm with the value "<who>:<reason>" on an
//    Issue becomes IssueRearmed (channel "annotation"), only while the issue is Escalated and not
//    re-armed in the projected state (a restart appends nothing again; without a StateReader
//    re-arm annotations are not taken); malformed values are logged as for approvals.
// Runs two informers; events go to `submit` (the runner's Submit) stamped with logical time from
// `clock`. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <nlohmann/json.hpp>

#include "aiops/v1/events.pb.h"
#include "common/clock.h"
#include "k8s_sync/informer.h"
#include "projections/pipeline_state.h"

namespace aiops::k8s_sync {

inline constexpr char kApproveAnnotation[] = "platform.chatcli.io/approve";
inline constexpr char kRejectAnnotation[] = "platform.chatcli.io/reject";
inline constexpr char kRearmAnnotation[] = "platform.chatcli.io/rearm";

// A Runbook object as a RunbookObserved payload; kInvalidArgument naming the problem.
absl::StatusOr<v1::RunbookObserved> RunbookFromObject(const nlohmann::json& object);

class ClusterInputs {
 public:
  using Submit = std::function<absl::StatusOr<uint64_t>(v1::Event)>;
  // Calls its argument with the projected (committed) state, under the state's lock; the
  // daemon passes its runner's ReadState.
  using StateReader =
      std::function<void(const std::function<void(const projections::PipelineState&)>&)>;

  // `client` and `clock` must outlive this. `warn` receives messages about invalid input.
  // With `read_state`, an approval annotation is taken only while the plan waits for approval in
  // the committed state, and a manual Runbook the state already holds with the same spec (the
  // informer's first list at every start) is not observed again, and one it holds that the list
  // lacks (deleted while the operator was down) is recorded as deleted. Without it, the plan's
  // state is the status.state the mirror wrote on the object (it may lag the log), and every listed
  // Runbook is observed.
  ClusterInputs(KubeClient& client, common::Clock& clock, Submit submit,
                std::function<void(const std::string&)> warn, StateReader read_state = nullptr);
  ~ClusterInputs();
  ClusterInputs(const ClusterInputs&) = delete;
  ClusterInputs& operator=(const ClusterInputs&) = delete;
  ClusterInputs(ClusterInputs&&) = delete;
  ClusterInputs& operator=(ClusterInputs&&) = delete;

  void Start();
  void Stop();
  bool WaitForSync(absl::Duration timeout) const;

 private:
  void OnRunbook(const std::string& type, const nlohmann::json& object);
  // After each list of Runbooks: a manual Runbook the committed state holds that the cluster no
  // longer has was deleted while no one watched (the operator was down): recorded as deleted.
  void OnRunbooksListed(const std::vector<std::string>& keys);
  void OnPlan(const std::string& type, const nlohmann::json& object);
  void OnIssue(const std::string& type, const nlohmann::json& object);
  // Whether `value` of annotation `key` on `object` ("Kind ns/name") is "<who>:<reason>"; if not,
  // warns once per object and value (the mirror's status writes resend objects).
  bool WhoAndReason(const std::string& object, const char* key, const std::string& value,
                    std::string& who, std::string& reason);
  // Warns `message` unless the last warning about `object` was for the same `seen` value.
  void WarnOnce(const std::string& object, const std::string& seen, const std::string& message);
  // Stamps and submits `event`; false (after a warning) when the runner refused it.
  bool Send(v1::Event event);

  KubeClient& client_;
  common::Clock& clock_;
  const Submit submit_;
  const std::function<void(const std::string&)> warn_;
  const StateReader read_state_;
  std::unique_ptr<Informer> runbooks_;
  std::unique_ptr<Informer> plans_;
  std::unique_ptr<Informer> issues_;

  absl::Mutex mu_;
  std::set<std::string> auto_generated_ ABSL_GUARDED_BY(mu_);  // "ns/name" seen with the label
  std::set<std::string> answered_ ABSL_GUARDED_BY(mu_);        // plans whose answer was sent
  // "Kind ns/name" -> the annotation value last warned about.
  std::map<std::string, std::string> warned_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> rearmed_ ABSL_GUARDED_BY(mu_);  // issues whose re-arm was sent
};

}  // namespace aiops::k8s_sync
