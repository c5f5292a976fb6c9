// Drives the detectors from informers on Pods and Deployments (the watched namespaces, or the
// whole cluster) and hands every alert to `submit` (the runner's Submit). Time is the clock's
// when an object is observed. An object that stops changing sends no more informer events, so a
// thread re-checks the time-based detectors (not ready, unavailable) over the informers' caches
// every RecheckInterval(config). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>

#include "common/clock.h"
#include "k8s_sync/detectors.h"
#include "k8s_sync/informer.h"

namespace aiops::k8s_sync {

class DetectorRunner {
 public:
  using Submit = std::function<absl::StatusOr<uint64_t>(v1::Event)>;

  // `client` and `clock` must outlive this.
  DetectorRunner(KubeClient& client, common::Clock& clock, DetectorConfig config, Submit submit);
  ~DetectorRunner();
  DetectorRunner(const DetectorRunner&) = delete;
  DetectorRunner& operator=(const DetectorRunner&) = delete;
  DetectorRunner(DetectorRunner&&) = delete;
  DetectorRunner& operator=(DetectorRunner&&) = delete;

  void Start();
  void Stop();  // returns promptly: the re-check thread is woken, the watches cancelled
  bool WaitForSync(absl::Duration timeout) const;
  uint64_t alerts() const;
  uint64_t rechecks() const;  // passes of the periodic re-check done so far

 private:
  void Handle(const std::vector<v1::Event>& alerts);
  void RecheckLoop();

  const absl::Duration recheck_interval_;
  KubeClient& client_;
  common::Clock& clock_;
  const Submit submit_;
  mutable absl::Mutex mu_;
  Detectors detectors_ ABSL_GUARDED_BY(mu_);
  uint64_t alerts_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rechecks_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> namespaces_;  // empty: cluster-wide
  std::vector<std::unique_ptr<Informer>> informers_;
  std::vector<Informer*> pod_informers_;         // within informers_
  std::vector<Informer*> deployment_informers_;  // within informers_
  std::thread recheck_thread_;
};

}  // namespace aiops::k8s_sync
