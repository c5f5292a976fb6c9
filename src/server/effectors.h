// The effectors (DESIGN.md §2): the imperative half of the pipeline. They read the intents the
// runner publishes (analyses requested, the next action of each executing plan, rollbacks owed,
// plans to verify, deadlines) and turn each into its result event, submitted back through the
// runner:
//   analysis      -> ContextCollected (once per attempt, before the analyzer is called, so that
//                    replay sees exactly what the AI saw), then AnalysisCompleted | AnalysisFailed
//   action        -> PreflightSnapshot (before a plan's first action), ActionStarted (the
//                    idempotency marker), then ActionSucceeded | ActionFailed
//   rollback      -> PlanRolledBack (the preflight snapshot restored)
//   verification  -> VerificationPassed once the rollout is complete and the pods have stayed
//                    healthy for a settle period; VerificationFailed at once, with the evidence,
//                    when a pod fails again (the verification deadline fails it otherwise)
//   deadline      -> DeadlineReached when it falls due on the clock
// Intents are derived from the log, so a crash at any point is recovered by doing the intent
// again: the actuator's idempotency marker makes a repeated action a no-op, and a recorded
// context or preflight snapshot is reused rather than collected again.
// Thread-safe; Start/Stop once. Everything passed in must outlive the effectors.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include "aiops/v1/events.pb.h"
#include "common/clock.h"
#include "eventlog/event_log.h"
#include "k8s_sync/actuator.h"
#include "k8s_sync/context_builder.h"
#include "k8s_sync/kube_client.h"
#include "server/analysis/analyzer.h"
#include "server/runner.h"

namespace aiops::server {

class Effectors {
 public:
  struct Deps {
    Runner* runner = nullptr;
    const eventlog::EventLog* log = nullptr;  // recorded contexts and preflight snapshots
    k8s_sync::KubeClient* client = nullptr;   // context collection
    k8s_sync::Actuator* actuator = nullptr;
    analysis::Analyzer* analyzer = nullptr;
    common::Clock* clock = nullptr;
    std::string cluster_id;
  };
  struct Options {
    size_t max_concurrent_analyses = 4;  // analyses run on their own threads (LLM calls are slow)
    absl::Duration poll = absl::Seconds(1);  // re-check verifications and deadlines
    absl::Duration rollback_retry = absl::Seconds(10);
    // A verification passes once the rollout is complete, no pod has failed again since the
    // actions, and this long has passed since them (at most half the verification window), so
    // a pod that fails again right after starting is caught.
    absl::Duration verification_settle = absl::Seconds(5);
    k8s_sync::ContextLimits context_limits;
    // Fault injection for crash-recovery tests (AIOPS_FAILPOINT in `aiops run`; empty in
    // production): "crash-after-action-applied" ends the process with _exit(137) once an action
    // has changed the cluster but before its result is in the log, the window in which a
    // restart must not apply it twice.
    std::string failpoint;
  };
  struct Stats {
    uint64_t contexts = 0;
    uint64_t analyses = 0;
    uint64_t analysis_failures = 0;
    uint64_t actions = 0;
    uint64_t action_failures = 0;
    uint64_t rollbacks = 0;
    uint64_t rollback_errors = 0;
    uint64_t verifications = 0;
    uint64_t deadlines = 0;
    uint64_t submit_errors = 0;
  };

  Effectors(Deps deps, Options options);
  ~Effectors();
  Effectors(const Effectors&) = delete;
  Effectors& operator=(const Effectors&) = delete;
  Effectors(Effectors&&) = delete;
  Effectors& operator=(Effectors&&) = delete;

  void Start();
  // Waits for the analyses in flight (their results are still submitted if the runner runs).
  void Stop();
  Stats stats() const;

  // One pass over the current view, for tests: actions, rollbacks, verifications and deadlines
  // inline; analyses on their threads. Returns how many intents were acted on.
  size_t Step();

 private:
  void Loop();
  void JoinFinishedAnalyses();
  bool Stopping() const;
  void StartAnalysis(const std::string& issue_name, int32_t attempt);
  void Analyze(const std::string& issue_name, int32_t attempt);
  bool DoAction(const std::string& plan_name, int32_t index);
  bool DoRollback(const std::string& plan_name);
  bool DoVerification(const std::string& plan_name);
  bool DoDeadline(const projections::Deadline& deadline);
  // The recorded events of `incident_id` with one of the payloads `types`, in log order; an
  // error when one of them cannot be read (the caller must not act on a partial history).
  absl::StatusOr<std::vector<v1::Event>> IncidentEvents(
      const std::string& incident_id, std::initializer_list<v1::Event::PayloadCase> types) const;
  // Stamps time, producer, cluster and incident, then submits; false (counted, logged) on error.
  bool Submit(v1::Event event, const std::string& producer, const std::string& incident_id);
  void Log(const std::string& level, const std::string& message) const;

  const Deps deps_;
  const Options options_;

  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Analyses running, by "issue#attempt", and those finished whose thread is still to be joined.
  std::map<std::string, std::thread> analyses_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> analyses_done_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> deadlines_sent_ ABSL_GUARDED_BY(mu_);  // id -> due_at_ms
  std::map<std::string, absl::Time> rollback_next_try_ ABSL_GUARDED_BY(mu_);

  std::thread loop_;
};

}  // namespace aiops::server
