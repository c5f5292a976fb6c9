#include "k8s_sync/detector_runner.h"

#include <set>

#include <fmt/format.h>

namespace aiops::k8s_sync {

DetectorRunner::DetectorRunner(KubeClient& client, common::Clock& clock, DetectorConfig config,
                               Submit submit)
    : recheck_interval_(RecheckInterval(config)),
      client_(client),
      clock_(clock),
      submit_(std::move(submit)),
      detectors_(config) {
  std::set<std::string> namespaces;
  for (const DetectorTarget& t : config.targets) {
    namespaces.insert(t.namespace_name);
  }
  namespaces_.assign(namespaces.begin(), namespaces.end());
}

DetectorRunner::~DetectorRunner() { Stop(); }

void DetectorRunner::Start() {
  std::vector<std::string> scopes;
  if (namespaces_.empty()) {
    scopes.emplace_back("");
  } else {
    for (const std::string& ns : namespaces_) {
      scopes.push_back(fmt::format("/namespaces/{}", ns));
    }
  }
  for (const std::string& scope : scopes) {
    informers_.push_back(
        std::make_unique<Informer>(client_, Informer::Options{fmt::format("/api/v1{}/pods", scope)},
                                   [this](const std::string& type, const nlohmann::json& pod) {
                                     std::vector<v1::Event> alerts;
                                     {
                                       absl::MutexLock lock(&mu_);
                                       if (type == "DELETED") {
                                         detectors_.OnPodDeleted(pod);
                                       } else {
                                         alerts = detectors_.OnPod(pod, clock_.Now());
                                       }
                                     }
                                     Handle(alerts);
                                   }));
    informers_.push_back(std::make_unique<Informer>(
        client_, Informer::Options{fmt::format("/apis/apps/v1{}/deployments", scope)},
        [this](const std::string& type, const nlohmann::json& deployment) {
          if (type == "DELETED") {
            return;
          }
          std::vector<v1::Event> alerts;
          {
            absl::MutexLock lock(&mu_);
            alerts = detectors_.OnDeployment(deployment, clock_.Now());
          }
          Handle(alerts);
        }));
  }
  for (size_t i = 0; i < informers_.size(); ++i) {  // pushed in pairs: pods, deployments
    (i % 2 == 0 ? pod_informers_ : deployment_informers_).push_back(informers_[i].get());
  }
  for (auto& informer : informers_) {
    informer->Start();
  }
  recheck_thread_ = std::thread([this] { RecheckLoop(); });
}

void DetectorRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (recheck_thread_.joinable()) {
    recheck_thread_.join();
  }
  for (auto& informer : informers_) {
    informer->Stop();
  }
}

void DetectorRunner::RecheckLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), recheck_interval_)) {
        return;
      }
    }
    // The caches are read under mu_ (an informer calls its handler, which takes mu_, without
    // holding its own lock): a change cached after the pass read it is judged by its handler after
    // this pass, so a pod healed meanwhile is not judged on its stale copy afterwards.
    std::vector<v1::Event> alerts;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_.Now();
      // Visited in place: a copy of every cached pod per pass costs more than judging it.
      for (Informer* informer : pod_informers_) {
        informer->ForEach([&](const nlohmann::json& pod) {
          for (v1::Event& e : detectors_.RecheckPod(pod, now)) {
            alerts.push_back(std::move(e));
          }
        });
      }
      for (Informer* informer : deployment_informers_) {
        informer->ForEach([&](const nlohmann::json& d) {
          for (v1::Event& e : detectors_.RecheckDeployment(d, now)) {
            alerts.push_back(std::move(e));
          }
        });
      }
      ++rechecks_;
    }
    Handle(alerts);
  }
}

uint64_t DetectorRunner::rechecks() const {
  absl::MutexLock lock(&mu_);
  return rechecks_;
}

bool DetectorRunner::WaitForSync(absl::Duration timeout) const {
  for (const auto& informer : informers_) {
    if (!informer->WaitForSync(timeout)) {
      return false;
    }
  }
  return true;
}

uint64_t DetectorRunner::alerts() const {
  absl::MutexLock lock(&mu_);
  return alerts_;
}

void DetectorRunner::Handle(const std::vector<v1::Event>& alerts) {
  for (const v1::Event& alert : alerts) {
    // A refused alert (the runner stopping, its queue full) is dropped here: the condition is
    // seen again on the object's next change or resync.
    submit_(alert).IgnoreError();
    absl::MutexLock lock(&mu_);
    ++alerts_;
  }
}

}  // namespace aiops::k8s_sync
