// Native detectors (DESIGN.md §4 step 1), the embedded default: they read Pod and Deployment
// objects (from informers) and produce alert-observed events in the shape of a ChatCLI
// WatcherAlert. Pod alerts name their owning workload (the Deployment behind the ReplicaSet).
//  - HighRestartCount: a container restarted `restarts_min` times within `restart_window`;
//  - OOMKilled: a container's last (or current) termination was OOMKilled;
//  - CrashLoopBackOff: a container waits for that reason, or restarted `crashloop_restarts_min`
//    times within `restart_window` and its last termination (state or lastState) is a failure
//    other than an OOM kill (non-zero exit code): what a real kubelet reports between restarts;
//  - ImagePullBackOff / ErrImagePull: a container waits for that reason;
//  - PodNotReady: Ready=False for longer than `not_ready_after`;
//  - DeploymentFailing: Progressing=False with ProgressDeadlineExceeded, or unavailable replicas
//    for longer than `unavailable_after`.
// The detectors keep what they need to judge time (restart history, when unavailability began).
// The time-based alerts (PodNotReady, DeploymentFailing) hold until the condition changes, so
// they are also re-evaluated periodically over the informers' caches (RecheckPod,
// RecheckDeployment): each fires once per episode (a not-ready pod's lastTransitionTime, the
// start of a Deployment's unavailability, its ProgressDeadlineExceeded condition) and again only
// after the condition cleared. The core deduplicates the other repeats. Time comes from the
// caller. Thread-compatible.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include "aiops/v1/events.pb.h"

namespace aiops::k8s_sync {

struct DetectorTarget {
  std::string namespace_name;  // required
  std::string deployment;      // empty: every Deployment of the namespace
};

struct DetectorConfig {
  int restarts_min = 3;
  int crashloop_restarts_min = 2;
  absl::Duration restart_window = absl::Minutes(10);
  absl::Duration not_ready_after = absl::Minutes(5);
  absl::Duration unavailable_after = absl::Minutes(5);
  std::vector<DetectorTarget> targets;  // empty: every namespace
  // How often the time-based detectors are re-evaluated over the cached objects; zero: a tenth
  // of the shorter of `not_ready_after` and `unavailable_after`, within [100 ms, 30 s].
  absl::Duration recheck_interval = absl::ZeroDuration();
};

// The re-check interval `config` asks for (see DetectorConfig::recheck_interval).
absl::Duration RecheckInterval(const DetectorConfig& config);

class Detectors {
 public:
  explicit Detectors(DetectorConfig config) : config_(std::move(config)) {}

  // Alerts for a Pod as observed at `now` (an informer's ADDED or MODIFIED).
  std::vector<v1::Event> OnPod(const nlohmann::json& pod, absl::Time now);
  void OnPodDeleted(const nlohmann::json& pod);
  std::vector<v1::Event> OnDeployment(const nlohmann::json& deployment, absl::Time now);
  // Only the time-based detectors, for an object unchanged since it was last seen (the periodic
  // re-check): PodNotReady, DeploymentFailing. An alert already raised for the same episode is
  // not raised again.
  std::vector<v1::Event> RecheckPod(const nlohmann::json& pod, absl::Time now);
  std::vector<v1::Event> RecheckDeployment(const nlohmann::json& deployment, absl::Time now);

  // Whether an object in `ns` owned by `deployment` is watched.
  bool Watched(const std::string& ns, const std::string& deployment) const;

 private:
  struct ContainerHistory {
    int last_count = -1;
    std::deque<absl::Time> increments;
  };

  // Appends PodNotReady / DeploymentFailing to `out` when due and not raised for this episode.
  void NotReady(const nlohmann::json& pod, const std::string& deployment, absl::Time now,
                std::vector<v1::Event>& out);
  void Failing(const nlohmann::json& deployment, absl::Time now, std::vector<v1::Event>& out);
  // Whether the alert `key` is new for `episode` (then remembered).
  bool FirstOfEpisode(const std::string& key, const std::string& episode);

  const DetectorConfig config_;
  std::map<std::string, ContainerHistory> restarts_;     // "ns/pod/container"
  std::map<std::string, absl::Time> unavailable_since_;  // "ns/deployment"
  std::map<std::string, std::string> episodes_;          // "<alert>/ns/name" -> episode raised
};

// The Deployment that owns a pod through its ReplicaSet ("" when none).
std::string OwningDeployment(const nlohmann::json& pod);

}  // namespace aiops::k8s_sync
