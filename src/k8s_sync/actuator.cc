#include "k8s_sync/actuator.h"

#include <algorithm>
#include <charconv>

#include <absl/time/time.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/quantity.h"
#include "common/status_macros.h"
#include "k8s_sync/json_access.h"
#include "projections/naming.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

constexpr int kConflictRetries = 4;

std::string ConfigMapPath(const std::string& ns, const std::string& name) {
  return fmt::format("/api/v1/namespaces/{}/configmaps/{}", ns, name);
}

bool ParseInt(const std::string& text, int64_t& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

std::string Marker(const Json& object) {
  const Json& annotations = object["metadata"].contains("annotations")
                                ? object["metadata"]["annotations"]
                                : Json::object();
  return annotations.contains(kAppliedActionAnnotation) &&
                 annotations[kAppliedActionAnnotation].is_string()
             ? annotations[kAppliedActionAnnotation].get<std::string>()
             : "";
}

// Reads `path`, lets `change` modify it, and replaces it with the marker annotation, retrying on
// conflicts. Returns the replaced object's summary; `already_applied` when the marker was there.
absl::StatusOr<Json> ReadModifyReplace(KubeClient& client, const std::string& path,
                                       const std::string& marker, bool dry_run,
                                       bool& already_applied,
                                       const std::function<absl::Status(Json&)>& change) {
  for (int attempt = 0;; ++attempt) {
    AIOPS_ASSIGN_OR_RETURN(Json object, client.Get(path));
    if (!marker.empty() && Marker(object) == marker) {
      already_applied = true;  // done before a crash: nothing more to do
      return object;
    }
    AIOPS_RETURN_IF_ERROR(change(object));
    if (!marker.empty()) {
      object["metadata"]["annotations"][kAppliedActionAnnotation] = marker;
    }
    absl::StatusOr<Json> replaced = client.Replace(path + (dry_run ? "?dryRun=All" : ""), object);
    if (replaced.ok() || !IsKubeConflict(replaced.status()) || attempt + 1 >= kConflictRetries) {
      return replaced;
    }
  }
}

// Limit `resource` of container `name` in a pod spec ("" when none is set).
std::string LimitOf(const Json& pod_spec, const std::string& name, const std::string& resource) {
  for (const Json& c : At(pod_spec, "containers")) {
    if (StrAt(c, "name") == name) {
      return StrAt(At(At(c, "resources"), "limits"), resource.c_str());
    }
  }
  return "";
}

// `pod_spec` (a revision's) holds a limit a failed plan of the issue set, and `current` (the
// Deployment's template) another: the revision is that plan's attempt, restored since.
bool MadeByFailedPlan(const Json& pod_spec, const Json& current,
                      const std::vector<projections::FailedLimit>& failed) {
  for (const Json& c : At(pod_spec, "containers")) {
    const std::string name = StrAt(c, "name");
    for (const projections::FailedLimit& f : failed) {
      // By amount: the API server reads "1024Mi" back as "1Gi".
      if ((f.container.empty() || f.container == name) &&
          common::SameQuantity(StrAt(At(At(c, "resources"), "limits"), f.resource.c_str()),
                               f.value) &&
          !common::SameQuantity(LimitOf(current, name, f.resource), f.value)) {
        return true;
      }
    }
  }
  return false;
}

Json* Container(Json& deployment, const std::string& name) {
  Json& containers = deployment["spec"]["template"]["spec"]["containers"];
  if (!containers.is_array() || containers.empty()) {
    return nullptr;
  }
  if (name.empty()) {
    return &containers[0];
  }
  for (Json& c : containers) {
    if (c.value("name", "") == name) {
      return &c;
    }
  }
  return nullptr;
}

// What the API server answered for a written object: its resourceVersion and generation, and
// for a Deployment the replicas and images of its spec, for a ConfigMap its keys.
std::string ResponseSummary(const Json& object) {
  const Json& meta = At(object, "metadata");
  std::string out = fmt::format("resourceVersion {}", StrAt(meta, "resourceVersion"));
  if (StrAt(object, "kind") == "ConfigMap") {
    std::string keys;
    for (const auto& [key, value] : At(object, "data").items()) {
      keys += (keys.empty() ? "" : ",") + key;
    }
    return out + fmt::format(", data keys {}", keys.empty() ? "(none)" : keys);
  }
  out += fmt::format(", generation {}", IntAt(meta, "generation"));
  const Json& spec = At(object, "spec");
  if (spec.contains("replicas")) {
    out += fmt::format(", replicas {}", IntAt(spec, "replicas"));
  }
  std::string images;
  for (const Json& c : At(At(At(spec, "template"), "spec"), "containers")) {
    images +=
        fmt::format("{}{}={}", images.empty() ? "" : ",", StrAt(c, "name"), StrAt(c, "image"));
  }
  if (!images.empty()) {
    out += ", images " + images;
  }
  return out;
}

}  // namespace

std::string DeploymentPath(const v1::ResourceRef& ref) {
  return fmt::format("/apis/apps/v1/namespaces/{}/deployments/{}", ref.namespace_(), ref.name());
}

Actuator::Actuator(KubeClient& client, common::Clock& clock) : client_(client), clock_(clock) {}

absl::StatusOr<v1::PreflightSnapshot> Actuator::Preflight(const v1::PlanState& plan,
                                                          const v1::IssueState& issue) {
  v1::PreflightSnapshot snap;
  snap.set_plan_name(plan.name());
  *snap.mutable_resource() = issue.resource();
  AIOPS_ASSIGN_OR_RETURN(Json deployment, client_.Get(DeploymentPath(issue.resource())));
  snap.set_replicas(deployment["spec"].value("replicas", 1));
  snap.set_pod_template_json(deployment["spec"]["template"].dump());
  snap.set_resource_version(deployment["metadata"].value("resourceVersion", ""));
  // The snapshot holds one ConfigMap: a plan that would patch two could not be restored, so it
  // fails here, before anything is changed.
  std::string patched;
  for (const v1::ActionSpec& a : plan.actions()) {
    if (a.type() != "PatchConfig") {
      continue;
    }
    const std::string name = projections::ParamValue(a, "configmap");
    if (patched.empty()) {
      patched = name;
    } else if (name != patched) {
      return absl::FailedPreconditionError(
          fmt::format("plan {} patches ConfigMaps {} and {}; a plan may patch one, so that its "
                      "preflight snapshot can restore it",
                      plan.name(), patched, name));
    }
  }
  for (const v1::ActionSpec& a : plan.actions()) {
    if (a.type() == "PatchConfig") {
      const std::string name = projections::ParamValue(a, "configmap");
      AIOPS_ASSIGN_OR_RETURN(Json cm,
                             client_.Get(ConfigMapPath(issue.resource().namespace_(), name)));
      snap.set_configmap_name(name);
      const Json data = cm.contains("data") && cm["data"].is_object() ? cm["data"] : Json::object();
      for (const auto& [key, value] : data.items()) {
        v1::Param* p = snap.add_configmap_data();
        p->set_key(key);
        p->set_value(value.is_string() ? value.get<std::string>() : value.dump());
      }
      break;
    }
  }
  return snap;
}

absl::StatusOr<std::string> Actuator::ApplyAction(const v1::ActionSpec& action,
                                                  const v1::IssueState& issue,
                                                  const std::string& marker, bool dry_run,
                                                  bool& already_applied, std::string& response) {
  const v1::ResourceRef& target = issue.resource();
  const std::string path = DeploymentPath(target);
  // Every write below returns the object the API server answered with (or, when the marker was
  // already there, the object as read): its summary goes into the result.
  auto answered = [&](const Json& out, std::string text) {
    response = ResponseSummary(out);
    return text;
  };
  auto param = [&](const char* key) { return projections::ParamValue(action, key); };
  if (action.type() == "ScaleDeployment") {
    int64_t replicas = 0;
    if (!ParseInt(param("replicas"), replicas) || replicas < 0) {
      return absl::InvalidArgumentError(
          fmt::format("replicas '{}' is not a count", param("replicas")));
    }
    AIOPS_ASSIGN_OR_RETURN(
        Json out, ReadModifyReplace(client_, path, marker, dry_run, already_applied, [&](Json& d) {
          d["spec"]["replicas"] = replicas;
          return absl::OkStatus();
        }));
    return answered(out, fmt::format("{}/{} scaled to {} replicas", target.namespace_(),
                                     target.name(), replicas));
  }
  if (action.type() == "RestartDeployment") {
    const std::string at =
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", clock_.Now(), absl::UTCTimeZone());
    AIOPS_ASSIGN_OR_RETURN(
        Json out, ReadModifyReplace(client_, path, marker, dry_run, already_applied, [&](Json& d) {
          d["spec"]["template"]["metadata"]["annotations"][kRestartedAtAnnotation] = at;
          return absl::OkStatus();
        }));
    return answered(out, fmt::format("{}/{} restarted (restartedAt {})", target.namespace_(),
                                     target.name(), at));
  }
  if (action.type() == "RollbackDeployment") {
    AIOPS_ASSIGN_OR_RETURN(Json deployment, client_.Get(path));
    // The marker first: an applied rollback made the target revision the newest one (renumbered),
    // so a repeat after a crash could no longer find an explicit toRevision.
    if (!marker.empty() && Marker(deployment) == marker) {
      already_applied = true;
      return answered(deployment,
                      fmt::format("{}/{} rolled back", target.namespace_(), target.name()));
    }
    const std::string uid = deployment["metadata"].value("uid", "");
    AIOPS_ASSIGN_OR_RETURN(
        Json sets,
        client_.Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets", target.namespace_())));
    std::vector<std::pair<int64_t, Json>> revisions;
    for (const Json& rs : sets.value("items", Json::array())) {
      bool owned = false;
      for (const Json& owner : rs["metadata"].value("ownerReferences", Json::array())) {
        owned = owned || (owner.value("uid", "") == uid && owner.value("controller", false));
      }
      int64_t revision = 0;
      const Json annotations =
          rs["metadata"].contains("annotations") ? rs["metadata"]["annotations"] : Json::object();
      if (owned && ParseInt(annotations.value("deployment.kubernetes.io/revision", ""), revision)) {
        revisions.emplace_back(revision, rs);
      }
    }
    std::sort(revisions.begin(), revisions.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    const std::string wanted = param("toRevision");
    const Json* target_rs = nullptr;
    int64_t target_revision = 0;
    const Json& current = At(At(At(deployment, "spec"), "template"), "spec");
    if (wanted.empty() || wanted == "previous") {
      // The newest revision whose pods differ from the current template's: a restart (same pod
      // spec, a new restartedAt) is not something to return to, and the newest ReplicaSet is not
      // the current template while the controller has not caught up with the last change.
      // Nor is a revision an earlier failed plan of this issue made (restored since).
      const std::vector<projections::FailedLimit> failed =
          projections::FailedLimits(issue.failures());
      for (const auto& [rev, rs] : revisions) {
        const Json& pods = At(At(At(rs, "spec"), "template"), "spec");
        if (pods != current && !MadeByFailedPlan(pods, current, failed)) {
          target_rs = &rs;
          target_revision = rev;
          break;
        }
      }
    } else if (int64_t n = 0; ParseInt(wanted, n)) {
      for (const auto& [rev, rs] : revisions) {
        if (rev == n) {
          target_rs = &rs;
          target_revision = rev;
        }
      }
    }
    if (target_rs == nullptr) {
      return absl::FailedPreconditionError(
          fmt::format("no revision to roll back to ({} revisions known, asked for '{}'{})",
                      revisions.size(), wanted.empty() ? "previous" : wanted,
                      wanted.empty() || wanted == "previous"
                          ? ": none runs other pods than the current template and the failed plans"
                          : ""));
    }
    // Like kubectl's "skipped rollback": returning to the pods that run changes nothing, and the
    // plan would only wait out its verification window to learn it.
    if (At(At(At(*target_rs, "spec"), "template"), "spec") == current) {
      return absl::FailedPreconditionError(
          fmt::format("revision {} runs the same pods as the current template: rolling back to "
                      "it changes nothing",
                      target_revision));
    }
    Json tmpl = (*target_rs)["spec"]["template"];
    if (tmpl["metadata"].contains("labels")) {
      tmpl["metadata"]["labels"].erase("pod-template-hash");
    }
    AIOPS_ASSIGN_OR_RETURN(
        Json out, ReadModifyReplace(client_, path, marker, dry_run, already_applied, [&](Json& d) {
          d["spec"]["template"] = tmpl;
          return absl::OkStatus();
        }));
    return answered(out, fmt::format("{}/{} rolled back to revision {}", target.namespace_(),
                                     target.name(), target_revision));
  }
  if (action.type() == "PatchConfig") {
    const std::string name = param("configmap");
    AIOPS_ASSIGN_OR_RETURN(
        Json out, ReadModifyReplace(client_, ConfigMapPath(target.namespace_(), name), marker,
                                    dry_run, already_applied, [&](Json& cm) {
                                      for (const v1::Param& p : action.params()) {
                                        if (p.key() != "configmap") {
                                          cm["data"][p.key()] = p.value();
                                        }
                                      }
                                      return absl::OkStatus();
                                    }));
    return answered(out, fmt::format("ConfigMap {}/{} patched ({} keys)", target.namespace_(), name,
                                     action.params_size() - 1));
  }
  if (action.type() == "AdjustResources") {
    AIOPS_ASSIGN_OR_RETURN(
        Json out, ReadModifyReplace(client_, path, marker, dry_run, already_applied, [&](Json& d) {
          Json* c = Container(d, param("container"));
          if (c == nullptr) {
            return absl::InvalidArgumentError(
                fmt::format("no container '{}' in the pod template", param("container")));
          }
          for (const auto& [key, kind, res] : {std::tuple{"memory_limit", "limits", "memory"},
                                               std::tuple{"memory_request", "requests", "memory"},
                                               std::tuple{"cpu_limit", "limits", "cpu"},
                                               std::tuple{"cpu_request", "requests", "cpu"}}) {
            if (!param(key).empty()) {
              (*c)["resources"][kind][res] = param(key);
            }
          }
          return absl::OkStatus();
        }));
    return answered(
        out, fmt::format("{}/{} container resources adjusted", target.namespace_(), target.name()));
  }
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not an action the actuator implements", action.type()));
}

v1::Event Actuator::Execute(const v1::PlanState& plan, const v1::IssueState& issue, int index,
                            bool dry_run) {
  v1::Event e;
  e.set_incident_id(issue.incident_id());
  e.set_producer("actuator");
  if (index < 0 || index >= plan.actions_size()) {
    v1::ActionFailed* f = e.mutable_action_failed();
    f->set_plan_name(plan.name());
    f->set_index(index);
    f->set_error("no such action in the plan");
    return e;
  }
  const std::string marker = fmt::format("{}/{}", plan.name(), index);
  bool already_applied = false;
  std::string response;
  absl::StatusOr<std::string> summary =
      ApplyAction(plan.actions(index), issue, marker, dry_run, already_applied, response);
  if (!summary.ok()) {
    v1::ActionFailed* f = e.mutable_action_failed();
    f->set_plan_name(plan.name());
    f->set_index(index);
    f->set_error(std::string(summary.status().message()));
    return e;
  }
  v1::ActionSucceeded* s = e.mutable_action_succeeded();
  s->set_plan_name(plan.name());
  s->set_index(index);
  s->set_already_applied(already_applied);
  s->set_summary(already_applied
                     ? fmt::format("already applied ({}); the object: {}", marker, response)
                     : fmt::format("{}{}; the API server answered: {}", dry_run ? "dry run: " : "",
                                   *summary, response));
  return e;
}

absl::StatusOr<v1::Event> Actuator::Rollback(const v1::PlanState& plan,
                                             const v1::PreflightSnapshot& snapshot) {
  const Json tmpl = Json::parse(snapshot.pod_template_json(), nullptr, false);
  if (tmpl.is_discarded()) {
    return absl::DataLossError("the preflight snapshot's pod template does not parse");
  }
  bool already = false;
  const std::string marker = fmt::format("{}/rollback", plan.name());
  AIOPS_ASSIGN_OR_RETURN(Json out, ReadModifyReplace(client_, DeploymentPath(snapshot.resource()),
                                                     marker, false, already, [&](Json& d) {
                                                       d["spec"]["replicas"] = snapshot.replicas();
                                                       d["spec"]["template"] = tmpl;
                                                       return absl::OkStatus();
                                                     }));
  if (!snapshot.configmap_name().empty()) {
    AIOPS_ASSIGN_OR_RETURN(
        Json cm,
        ReadModifyReplace(
            client_, ConfigMapPath(snapshot.resource().namespace_(), snapshot.configmap_name()),
            marker, false, already, [&](Json& c) {
              c["data"] = Json::object();
              for (const v1::Param& p : snapshot.configmap_data()) {
                c["data"][p.key()] = p.value();
              }
              return absl::OkStatus();
            }));
  }
  v1::Event e;
  e.set_producer("actuator");
  v1::PlanRolledBack* r = e.mutable_plan_rolled_back();
  r->set_plan_name(plan.name());
  // Why the plan failed (an action, or its verification), as the core recorded it.
  r->set_reason(plan.result().empty() ? "the plan failed" : plan.result());
  r->set_summary(fmt::format("restored {} replicas and the pod template{}", snapshot.replicas(),
                             snapshot.configmap_name().empty()
                                 ? ""
                                 : fmt::format(" and ConfigMap {}", snapshot.configmap_name())));
  return e;
}

RolloutCheck CheckRollout(const Json& d) {
  const Json& meta = At(d, "metadata");
  const Json& status = At(d, "status");
  const Json& replicas_field = At(At(d, "spec"), "replicas");
  // An absent spec.replicas is 1 (the API server defaults it; a read never lacks it).
  const int64_t desired = replicas_field.is_number_integer() ? replicas_field.get<int64_t>() : 1;
  const int64_t generation = IntAt(meta, "generation");
  const int64_t observed = IntAt(status, "observedGeneration");
  const int64_t total = IntAt(status, "replicas");
  const int64_t updated = IntAt(status, "updatedReplicas");
  const int64_t ready = IntAt(status, "readyReplicas");
  const int64_t available = IntAt(status, "availableReplicas");
  const std::string name = fmt::format("{}/{}", StrAt(meta, "namespace"), StrAt(meta, "name"));
  RolloutCheck out;
  // What `kubectl rollout status` waits for, plus ready = desired: the controller has seen the
  // latest spec, every replica runs the new template, no pod of an older revision is left (the
  // old pod of a one-replica Deployment stays available while its replacement fails), and every
  // replica is ready and available.
  if (observed < generation) {
    out.waiting_for = fmt::format("{}: the controller has not observed generation {} yet ({})",
                                  name, generation, observed);
  } else if (updated < desired) {
    out.waiting_for =
        fmt::format("{}: {} of {} replicas run the new template", name, updated, desired);
  } else if (total > updated) {
    out.waiting_for =
        fmt::format("{}: {} pods of an older revision are still there", name, total - updated);
  } else if (ready < desired || available < desired) {
    out.waiting_for = fmt::format("{}: {} of {} updated replicas ready, {} available", name, ready,
                                  desired, available);
  } else {
    out.complete = true;
    out.summary = fmt::format(
        "{}: rollout complete, {} of {} replicas updated, ready and available, no old replicas",
        name, available, desired);
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> Actuator::RolloutComplete(
    const v1::ResourceRef& deployment) {
  AIOPS_ASSIGN_OR_RETURN(Json d, client_.Get(DeploymentPath(deployment)));
  RolloutCheck check = CheckRollout(d);
  if (check.complete) {
    return std::optional<std::string>(std::move(check.summary));
  }
  return std::optional<std::string>();
}

absl::StatusOr<std::string> Actuator::RolloutEvidence(const v1::ResourceRef& deployment) {
  constexpr size_t kMaxPods = 5;
  AIOPS_ASSIGN_OR_RETURN(Json d, client_.Get(DeploymentPath(deployment)));
  const Json& status = At(d, "status");
  std::string out = fmt::format(
      "rollout of {}/{}: observedGeneration {} of generation {}; desired {}, updated {}, ready {}, "
      "available {}, unavailable {}",
      deployment.namespace_(), deployment.name(), IntAt(status, "observedGeneration"),
      IntAt(At(d, "metadata"), "generation"), IntAt(At(d, "spec"), "replicas"),
      IntAt(status, "updatedReplicas"), IntAt(status, "readyReplicas"),
      IntAt(status, "availableReplicas"), IntAt(status, "unavailableReplicas"));
  for (const Json& c : At(status, "conditions")) {
    out += fmt::format("; {}={} ({})", StrAt(c, "type"), StrAt(c, "status"), StrAt(c, "reason"));
  }
  const std::string selector = LabelSelectorQuery(At(At(At(d, "spec"), "selector"), "matchLabels"));
  if (selector.empty()) {
    return out;
  }
  AIOPS_ASSIGN_OR_RETURN(Json pods,
                         client_.Get(fmt::format("/api/v1/namespaces/{}/pods?labelSelector={}",
                                                 deployment.namespace_(), selector)));
  std::vector<std::string> unhealthy;
  for (const Json& pod : At(pods, "items")) {
    const Json& st = At(pod, "status");
    bool ready = false;
    for (const Json& c : At(st, "conditions")) {
      ready = ready || (StrAt(c, "type") == "Ready" && StrAt(c, "status") == "True");
    }
    if (ready) {
      continue;
    }
    std::string line = fmt::format(
        "pod {} phase={}{}{}", StrAt(At(pod, "metadata"), "name"),
        StrAt(st, "phase").empty() ? "Unknown" : StrAt(st, "phase"),
        StrAt(At(pod, "spec"), "nodeName").empty() ? " (not scheduled)" : "",
        At(At(pod, "metadata"), "deletionTimestamp").is_string() ? " (terminating)" : "");
    for (const Json& cs : At(st, "containerStatuses")) {
      const Json& state = At(cs, "state");
      const std::string now_state = state.is_object() && !state.empty() ? state.begin().key() : "";
      const std::string reason = StrAt(At(state, now_state.c_str()), "reason");
      const std::string last = StrAt(At(At(cs, "lastState"), "terminated"), "reason");
      line += fmt::format(" container {}: {}{} restarts={}{}", StrAt(cs, "name"),
                          now_state.empty() ? "unknown" : now_state,
                          reason.empty() ? "" : "(" + reason + ")", IntAt(cs, "restartCount"),
                          last.empty() ? "" : " last terminated " + last);
    }
    unhealthy.push_back(std::move(line));
  }
  out += fmt::format("; {} of {} pods not ready", unhealthy.size(), At(pods, "items").size());
  for (size_t i = 0; i < unhealthy.size() && i < kMaxPods; ++i) {
    out += "; " + unhealthy[i];
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> Actuator::PodsFailingSince(
    const v1::ResourceRef& deployment, absl::Time since) {
  AIOPS_ASSIGN_OR_RETURN(Json d, client_.Get(DeploymentPath(deployment)));
  const std::string selector = LabelSelectorQuery(At(At(At(d, "spec"), "selector"), "matchLabels"));
  if (selector.empty()) {
    return std::optional<std::string>();
  }
  // Only the pods of the Deployment's current revision count: those of the revision being
  // replaced (e.g. the crash-looping ones a rollback replaces) are on their way out.
  if (IntAt(At(d, "status"), "observedGeneration") < IntAt(At(d, "metadata"), "generation")) {
    return std::optional<std::string>();  // the controller has not made the new revision yet
  }
  const std::string revision =
      StrAt(At(At(d, "metadata"), "annotations"), "deployment.kubernetes.io/revision");
  AIOPS_ASSIGN_OR_RETURN(
      Json sets, client_.Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets?labelSelector={}",
                                         deployment.namespace_(), selector)));
  std::string hash;
  for (const Json& rs : At(sets, "items")) {
    const Json& meta = At(rs, "metadata");
    if (!revision.empty() &&
        StrAt(At(meta, "annotations"), "deployment.kubernetes.io/revision") == revision) {
      hash = StrAt(At(meta, "labels"), "pod-template-hash");
    }
  }
  if (hash.empty()) {
    return std::optional<std::string>();  // the controller has not created the revision yet
  }
  AIOPS_ASSIGN_OR_RETURN(Json pods,
                         client_.Get(fmt::format(
                             "/api/v1/namespaces/{}/pods?labelSelector={}%2Cpod-template-hash%3D{}",
                             deployment.namespace_(), selector, hash)));
  static constexpr std::string_view kFailingWaits[] = {
      "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"};
  for (const Json& pod : At(pods, "items")) {
    if (At(At(pod, "metadata"), "deletionTimestamp").is_string()) {
      continue;
    }
    const std::string name = StrAt(At(pod, "metadata"), "name");
    for (const Json& c : At(At(pod, "status"), "containerStatuses")) {
      const std::string waiting = StrAt(At(At(c, "state"), "waiting"), "reason");
      for (std::string_view bad : kFailingWaits) {
        if (waiting == bad) {
          return std::optional<std::string>(
              fmt::format("pod {} container {} is waiting: {}", name, StrAt(c, "name"), waiting));
        }
      }
      // A real kubelet shows a container that just died as state.terminated until it restarts
      // it (lastState.terminated only after the restart), so both are read.
      for (const char* which : {"state", "lastState"}) {
        const Json& terminated = At(At(c, which), "terminated");
        // Kubernetes times have whole seconds: only a termination in a later second than
        // `since` surely came after it (one in the same second is left to the deadline).
        if (terminated.is_object() && TimeOf(StrAt(terminated, "finishedAt")) >
                                          absl::FromUnixSeconds(absl::ToUnixSeconds(since))) {
          return std::optional<std::string>(
              fmt::format("pod {} container {} terminated again after the actions: {} (exit "
                          "code {}, restarts {})",
                          name, StrAt(c, "name"), StrAt(terminated, "reason"),
                          IntAt(terminated, "exitCode"), IntAt(c, "restartCount")));
        }
      }
    }
  }
  return std::optional<std::string>();
}

}  // namespace aiops::k8s_sync
