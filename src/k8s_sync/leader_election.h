// Leader election on a coordination.k8s.io/v1 Lease (DESIGN.md §7), as client-go does it: a
// candidate takes the Lease when it is free or its holder has not renewed it for a lease
// duration (measured on this process's clock from when the Lease last changed, so clock skew
// between nodes does not matter), renews it every retry period, and steps down when a renewal
// round (from its first attempt after the last success) has not succeeded within the renew
// deadline, or by the Lease's expiry if that comes first. Each attempt's requests are cut off at
// that deadline, so a hung API server cannot delay the step-down past it. Writes carry the read
// resourceVersion, so of two candidates racing for one Lease only one wins (the other gets a
// conflict). Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include "common/clock.h"
#include "common/edge_health.h"
#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

class LeaderElector {
 public:
  struct Options {
    std::string namespace_name = "default";
    std::string lease_name = "chatcli-aiops-leader";
    std::string identity;  // unique per process (pod name + random suffix)
    absl::Duration lease_duration = absl::Seconds(15);
    absl::Duration renew_deadline = absl::Seconds(10);
    absl::Duration retry_period = absl::Seconds(2);
    bool release_on_stop = true;  // give the Lease up on Stop() so a successor need not wait
    common::Clock* clock = nullptr;
  };
  struct Callbacks {
    std::function<void()> started_leading;  // now the only writer: open the log, start acting
    std::function<void()> stopped_leading;  // stop writing and acting at once
  };

  // `client` must outlive the elector.
  LeaderElector(KubeClient& client, Options options, Callbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;
  LeaderElector(LeaderElector&&) = delete;
  LeaderElector& operator=(LeaderElector&&) = delete;

  void Start();
  void Stop();
  // Stops renewing without releasing, as a crashed or partitioned process would.
  void AbandonForTest();
  bool IsLeader() const;
  bool WaitForLeadership(absl::Duration timeout) const;
  // Whether reading and writing the Lease works (common/edge_health.h).
  const common::EdgeHealth& health() const { return health_; }

 private:
  void Run();
  // One attempt to acquire or renew; true when this process holds the Lease afterwards. Its
  // requests end by `deadline` (on clock_), whatever the client's own time-outs and retries.
  bool TryAcquireOrRenew(absl::Time deadline);
  void Release();
  // Reports one request's outcome to health_; true when it succeeded.
  bool Report(const absl::Status& s);

  KubeClient& client_;
  const Options options_;
  const Callbacks callbacks_;
  common::Clock& clock_;
  common::EdgeHealth health_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool abandon_ ABSL_GUARDED_BY(mu_) = false;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  // The last Lease record seen, and when it changed on our clock.
  std::string observed_record_ ABSL_GUARDED_BY(mu_);
  absl::Time observed_at_ ABSL_GUARDED_BY(mu_);
  absl::Time last_renewed_ ABSL_GUARDED_BY(mu_);
  // The first attempt of the current renewal round (InfiniteFuture: none since the last success).
  absl::Time renew_started_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
};

}  // namespace aiops::k8s_sync
