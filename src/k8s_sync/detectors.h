// Native detectors (DESIGN.md §4 step 1), the embedded default: they read Pod and Deployment
// objects (from informers) and produce alert-observed events in the shape of a ChatCLI
// WatcherAlert. Pod alerts name their owning workload (the Deployment behind the ReplicaSet).
//  - HighRestartCount: a container restarted `restarts_min` times within `restart_window`;
//  - OOMKilled: a container's last (or current) termination was OOMKilled;
//  - CrashLoopBackOff / ImagePullBackOff / ErrImagePull: a container waits for that reason;
//  - PodNotReady: Ready=False for longer than `not_ready_after`;
//  - DeploymentFailing: Progressing=False with ProgressDeadlineExceeded, or unavailable replicas
//    for longer than `unavailable_after`.
// The detectors keep what they need to judge time (restart history, when unavailability began);
// the core deduplicates repeats. Time comes from the caller. Thread-compatible.
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
  absl::Duration restart_window = absl::Minutes(10);
  absl::Duration not_ready_after = absl::Minutes(5);
  absl::Duration unavailable_after = absl::Minutes(5);
  std::vector<DetectorTarget> targets;  // empty: every namespace
};

class Detectors {
 public:
  explicit Detectors(DetectorConfig config) : config_(std::move(config)) {}

  // Alerts for a Pod as observed at `now` (an informer's ADDED or MODIFIED).
  std::vector<v1::Event> OnPod(const nlohmann::json& pod, absl::Time now);
  void OnPodDeleted(const nlohmann::json& pod);
  std::vector<v1::Event> OnDeployment(const nlohmann::json& deployment, absl::Time now);

  // Whether an object in `ns` owned by `deployment` is watched.
  bool Watched(const std::string& ns, const std::string& deployment) const;

 private:
  struct ContainerHistory {
    int last_count = -1;
    std::deque<absl::Time> increments;
  };

  const DetectorConfig config_;
  std::map<std::string, ContainerHistory> restarts_;     // "ns/pod/container"
  std::map<std::string, absl::Time> unavailable_since_;  // "ns/deployment"
};

// The Deployment that owns a pod through its ReplicaSet ("" when none).
std::string OwningDeployment(const nlohmann::json& pod);

}  // namespace aiops::k8s_sync
