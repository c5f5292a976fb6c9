#include "k8s_sync/detectors.h"

#include <algorithm>

#include <fmt/format.h>

#include "k8s_sync/json_access.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

absl::Time ParseTime(const std::string& text) { return TimeOf(text); }

v1::Event Alert(const std::string& type, const std::string& severity, const std::string& message,
                const std::string& object, const std::string& object_kind, const std::string& ns,
                const std::string& deployment, const std::string& uid, absl::Time now) {
  v1::Event e;
  e.set_logical_time_ms(absl::ToUnixMillis(now));
  e.set_producer("detector");
  v1::AlertObserved* a = e.mutable_alert_observed();
  a->set_type(type);
  a->set_severity(severity);
  a->set_message(message);
  a->set_object(object);
  a->set_object_kind(object_kind);
  a->set_namespace_(ns);
  a->set_deployment(deployment);
  a->set_timestamp_unix(absl::ToUnixSeconds(now));
  a->set_source("detector");
  a->set_source_object_uid(uid);
  return e;
}

}  // namespace

std::string OwningDeployment(const Json& pod) {
  for (const Json& owner : At(At(pod, "metadata"), "ownerReferences")) {
    if (StrAt(owner, "kind") == "ReplicaSet") {
      const std::string rs = StrAt(owner, "name");
      const size_t dash = rs.rfind('-');  // <deployment>-<pod-template-hash>
      return dash == std::string::npos ? rs : rs.substr(0, dash);
    }
  }
  return "";
}

bool Detectors::Watched(const std::string& ns, const std::string& deployment) const {
  if (config_.targets.empty()) {
    return true;
  }
  for (const DetectorTarget& t : config_.targets) {
    if (t.namespace_name == ns && (t.deployment.empty() || t.deployment == deployment)) {
      return true;
    }
  }
  return false;
}

std::vector<v1::Event> Detectors::OnPod(const Json& pod, absl::Time now) {
  std::vector<v1::Event> out;
  const Json& meta = At(pod, "metadata");
  const std::string ns = StrAt(meta, "namespace");
  const std::string name = StrAt(meta, "name");
  const std::string uid = StrAt(meta, "uid");
  const std::string deployment = OwningDeployment(pod);
  if (deployment.empty() || !Watched(ns, deployment)) {
    return out;
  }
  auto alert = [&](const std::string& type, const std::string& severity,
                   const std::string& message) {
    out.push_back(Alert(type, severity, message, name, "Pod", ns, deployment, uid, now));
  };
  const Json& status = At(pod, "status");
  for (const Json& cs : At(status, "containerStatuses")) {
    const std::string container = StrAt(cs, "name");
    // Restarts within the window, counted from the increments this detector saw.
    ContainerHistory& h = restarts_[fmt::format("{}/{}/{}", ns, name, container)];
    const int count = static_cast<int>(IntAt(cs, "restartCount"));
    if (h.last_count >= 0 && count > h.last_count) {
      for (int i = h.last_count; i < count; ++i) {
        h.increments.push_back(now);
      }
    } else if (h.last_count < 0 && count > 0) {
      // First sight of a pod that already restarted: its history is unknown, so the restarts
      // count as recent only if the last one was (lastState.terminated.finishedAt).
      const std::string finished = StrAt(At(At(cs, "lastState"), "terminated"), "finishedAt");
      const absl::Time last = finished.empty() ? absl::InfinitePast() : ParseTime(finished);
      if (now - last <= config_.restart_window) {
        for (int i = 0; i < count; ++i) {
          h.increments.push_back(now);
        }
      }
    }
    h.last_count = count;
    while (!h.increments.empty() && now - h.increments.front() > config_.restart_window) {
      h.increments.pop_front();
    }
    const std::string last_reason = StrAt(At(At(cs, "lastState"), "terminated"), "reason");
    const std::string current_reason = StrAt(At(At(cs, "state"), "terminated"), "reason");
    if (last_reason == "OOMKilled" || current_reason == "OOMKilled") {
      alert("OOMKilled", "critical",
            fmt::format("container {} of pod {} was OOMKilled", container, name));
    }
    const std::string waiting = StrAt(At(At(cs, "state"), "waiting"), "reason");
    // A real kubelet rarely shows the CrashLoopBackOff waiting reason between restarts (the
    // status holds state.terminated until the next sync), so a crash loop is also what the
    // counts say: restarts within the window, the last one a failure other than an OOM kill
    // (which has its own alert).
    if (waiting != "CrashLoopBackOff" &&
        static_cast<int>(h.increments.size()) >= config_.crashloop_restarts_min) {
      const Json* failed = nullptr;
      for (const char* which : {"state", "lastState"}) {
        const Json& t = At(At(cs, which), "terminated");
        if (failed == nullptr && t.is_object() && IntAt(t, "exitCode") != 0 &&
            StrAt(t, "reason") != "OOMKilled") {
          failed = &t;
        }
      }
      if (failed != nullptr) {
        alert(
            "CrashLoopBackOff", "warning",
            fmt::format("container {} of pod {} crash-loops: {} restarts in the last {} min, "
                        "last exit code {} ({})",
                        container, name, h.increments.size(),
                        absl::ToInt64Minutes(config_.restart_window), IntAt(*failed, "exitCode"),
                        StrAt(*failed, "reason").empty() ? "no reason" : StrAt(*failed, "reason")));
      }
    }
    if (waiting == "CrashLoopBackOff" || waiting == "ImagePullBackOff" ||
        waiting == "ErrImagePull") {
      alert(waiting == "ErrImagePull" ? "ImagePullBackOff" : waiting, "warning",
            fmt::format("container {} of pod {} is waiting: {} {}", container, name, waiting,
                        StrAt(At(At(cs, "state"), "waiting"), "message")));
    }
    // After the cause-specific alerts: the issue opens on the most specific signal.
    if (static_cast<int>(h.increments.size()) >= config_.restarts_min) {
      alert("HighRestartCount", "warning",
            fmt::format("container {} of pod {} restarted {} times in the last {} min", container,
                        name, h.increments.size(), absl::ToInt64Minutes(config_.restart_window)));
    }
  }
  NotReady(pod, deployment, now, out);
  return out;
}

std::vector<v1::Event> Detectors::RecheckPod(const Json& pod, absl::Time now) {
  std::vector<v1::Event> out;
  const Json& meta = At(pod, "metadata");
  const std::string deployment = OwningDeployment(pod);
  if (!deployment.empty() && Watched(StrAt(meta, "namespace"), deployment)) {
    NotReady(pod, deployment, now, out);
  }
  return out;
}

bool Detectors::FirstOfEpisode(const std::string& key, const std::string& episode) {
  auto [it, inserted] = episodes_.emplace(key, episode);
  if (!inserted && it->second == episode) {
    return false;
  }
  it->second = episode;
  return true;
}

void Detectors::NotReady(const Json& pod, const std::string& deployment, absl::Time now,
                         std::vector<v1::Event>& out) {
  const Json& meta = At(pod, "metadata");
  const std::string ns = StrAt(meta, "namespace");
  const std::string name = StrAt(meta, "name");
  const std::string key = fmt::format("PodNotReady/{}/{}", ns, name);
  for (const Json& c : At(At(pod, "status"), "conditions")) {
    if (StrAt(c, "type") != "Ready") {
      continue;
    }
    if (StrAt(c, "status") != "False") {
      episodes_.erase(key);  // ready again: the next not-ready spell alerts again
      continue;
    }
    const std::string since_text = StrAt(c, "lastTransitionTime");
    const absl::Time since = ParseTime(since_text);
    if (since != absl::InfinitePast() && now - since >= config_.not_ready_after &&
        FirstOfEpisode(key, since_text)) {
      out.push_back(Alert("PodNotReady", "warning",
                          fmt::format("pod {} not ready for {} s: {}", name,
                                      absl::ToInt64Seconds(now - since), StrAt(c, "reason")),
                          name, "Pod", ns, deployment, StrAt(meta, "uid"), now));
    }
  }
}

void Detectors::OnPodDeleted(const Json& pod) {
  const Json& meta = At(pod, "metadata");
  const std::string prefix = fmt::format("{}/{}/", StrAt(meta, "namespace"), StrAt(meta, "name"));
  for (auto it = restarts_.lower_bound(prefix);
       it != restarts_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = restarts_.erase(it);
  }
  episodes_.erase(fmt::format("PodNotReady/{}/{}", StrAt(meta, "namespace"), StrAt(meta, "name")));
}

std::vector<v1::Event> Detectors::OnDeployment(const Json& d, absl::Time now) {
  std::vector<v1::Event> out;
  const Json& meta = At(d, "metadata");
  if (Watched(StrAt(meta, "namespace"), StrAt(meta, "name"))) {
    Failing(d, now, out);
  }
  return out;
}

std::vector<v1::Event> Detectors::RecheckDeployment(const Json& d, absl::Time now) {
  return OnDeployment(d, now);  // every Deployment detector is about time or a condition
}

void Detectors::Failing(const Json& d, absl::Time now, std::vector<v1::Event>& out) {
  const Json& meta = At(d, "metadata");
  const std::string ns = StrAt(meta, "namespace");
  const std::string name = StrAt(meta, "name");
  const std::string key = ns + "/" + name;
  const Json& status = At(d, "status");
  for (const Json& c : At(status, "conditions")) {
    if (StrAt(c, "type") != "Progressing") {
      continue;
    }
    const std::string deadline_key = "ProgressDeadlineExceeded/" + key;
    if (StrAt(c, "status") == "False" && StrAt(c, "reason") == "ProgressDeadlineExceeded") {
      if (FirstOfEpisode(deadline_key, StrAt(c, "lastTransitionTime"))) {
        out.push_back(Alert("DeploymentFailing", "critical",
                            fmt::format("deployment {} exceeded its progress deadline: {}", name,
                                        StrAt(c, "message")),
                            "Deployment/" + name, "Deployment", ns, name, StrAt(meta, "uid"), now));
      }
      return;
    }
    episodes_.erase(deadline_key);
  }
  const std::string unavailable_key = "Unavailable/" + key;
  const int64_t unavailable = IntAt(status, "unavailableReplicas");
  if (unavailable <= 0) {
    unavailable_since_.erase(key);
    episodes_.erase(unavailable_key);
    return;
  }
  auto [since, inserted] = unavailable_since_.emplace(key, now);
  if (now - since->second >= config_.unavailable_after &&
      FirstOfEpisode(unavailable_key, absl::FormatTime(since->second))) {
    out.push_back(Alert("DeploymentFailing", "warning",
                        fmt::format("deployment {} has {} unavailable replicas for {} s", name,
                                    unavailable, absl::ToInt64Seconds(now - since->second)),
                        "Deployment/" + name, "Deployment", ns, name, StrAt(meta, "uid"), now));
  }
}

absl::Duration RecheckInterval(const DetectorConfig& config) {
  if (config.recheck_interval > absl::ZeroDuration()) {
    return config.recheck_interval;
  }
  const absl::Duration tenth = std::min(config.not_ready_after, config.unavailable_after) / 10;
  return std::clamp(tenth, absl::Milliseconds(100), absl::Seconds(30));
}

}  // namespace aiops::k8s_sync
