// Kubernetes Events (core/v1) written by the operator, so that `kubectl describe` and
// `kubectl get events` show what it did and what went wrong. Best effort: an Event that cannot
// be written is reported to the caller and never blocks the pipeline.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/status.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include "aiops/v1/events.pb.h"
#include "common/clock.h"
#include "common/edge_health.h"
#include "k8s_sync/kube_client.h"
#include "projections/pipeline_state.h"

namespace aiops::k8s_sync {

inline constexpr char kEventComponent[] = "chatcli-aiops";

struct KubeEvent {
  // The object the Event is about (it need not exist: a refused object is named all the same).
  std::string api_version;
  std::string kind;
  std::string namespace_name;
  std::string name;
  // Its uid: `kubectl describe` lists only the Events whose involvedObject.uid matches. Left
  // empty, KubeEventSink looks it up (an object that does not exist gets an Event without).
  std::string uid;
  std::string type = "Normal";  // Normal | Warning
  std::string reason;           // UpperCamelCase, e.g. MirrorRefused
  std::string message;          // cut to 1 KiB (the API server's limit is larger; kubectl's view
                                // is not)
  absl::Time at;
};

// The core/v1 Event object for `event` (generateName "<name>.", source.component
// kEventComponent, count 1; the legacy fields, which `kubectl describe` shows). Pure.
nlohmann::json KubeEventObject(const KubeEvent& event);

// The Kubernetes Events that the log event `e` calls for, given the state after folding it:
//   - the Issue, for each state change (Normal; Warning when Escalated), with the incident id;
//   - the RemediationPlan, for each action result, verification result and rollback;
//   - the target workload, for each action applied (Normal RemediationApplied), failed (Warning
//     RemediationFailed) or rolled back (Warning RemediationRolledBack).
// Other events call for none. `at` stamps them. Pure.
std::vector<KubeEvent> KubeEventsFor(const v1::Event& e, const projections::PipelineState& state,
                                     absl::Time at);

// Writes Kubernetes Events as client-go's recorder does, without ever blocking its caller:
// Post() queues (a full queue drops the event and counts it); a thread of its own writes them.
// An Event equal to one written in the last 10 minutes (same object, type, reason and message)
// is aggregated: the existing Event's count and lastTimestamp are patched instead of a new one.
// Each object gets a burst of 25 Events, then one per 5 minutes (client-go's spam filter);
// what the filter holds back is counted. Thread-safe.
class KubeEventSink {
 public:
  struct Options {
    size_t max_queue = 1000;
    int burst = 25;
    absl::Duration refill = absl::Minutes(5);
    absl::Duration aggregate_window = absl::Minutes(10);
    common::Clock* clock = nullptr;  // default: the system clock
  };
  struct Stats {
    uint64_t created = 0;
    uint64_t aggregated = 0;  // written as a count increment of an existing Event
    uint64_t dropped = 0;     // the queue was full
    uint64_t spam_filtered = 0;
    uint64_t errors = 0;
  };

  // `client` must outlive the sink.
  KubeEventSink(KubeClient& client, Options options);
  ~KubeEventSink();  // Stop()
  KubeEventSink(const KubeEventSink&) = delete;
  KubeEventSink& operator=(const KubeEventSink&) = delete;
  KubeEventSink(KubeEventSink&&) = delete;
  KubeEventSink& operator=(KubeEventSink&&) = delete;

  void Start();
  // Stops after the write in flight (each bounded by a 5 s budget); what is still queued is
  // dropped (and counted).
  void Stop();
  void Post(KubeEvent event);
  // Writes what is queued on the caller's thread (tests; and what Stop does).
  void Flush();
  Stats stats() const;
  // Whether Events can be written ("kubernetes-events": a missing RBAC rule is an error line).
  const common::EdgeHealth& health() const { return health_; }

 private:
  struct Written {
    std::string name;  // the Event object's name
    std::string namespace_name;
    int64_t count = 0;
    absl::Time at;
  };
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  void Run();
  void Drain(bool stop_when_stopping);
  void Write(const KubeEvent& event);
  // The involved object's uid from the API server ("" when it cannot be read).
  std::string LookUpUid(const KubeEvent& event);

  KubeClient& client_;
  const Options options_;
  common::Clock& clock_;
  common::EdgeHealth health_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<KubeEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);                     // one writer at a time
  std::map<std::string, Written> written_ ABSL_GUARDED_BY(write_mu_);  // by aggregation key
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(write_mu_);   // by involved object
};

}  // namespace aiops::k8s_sync
