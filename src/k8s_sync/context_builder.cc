#include "k8s_sync/context_builder.h"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "k8s_sync/actuator.h"
#include "k8s_sync/json_access.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

std::string Images(const Json& pod_template) {
  std::string out;
  for (const Json& c : At(At(pod_template, "spec"), "containers")) {
    out += fmt::format("{}{}={}", out.empty() ? "" : ", ", StrAt(c, "name"), StrAt(c, "image"));
    const Json& limits = At(At(c, "resources"), "limits");
    if (limits.is_object() && !limits.empty()) {
      out += fmt::format(" (limits: {})", limits.dump());
    }
  }
  return out;
}

bool Unhealthy(const Json& pod) {
  for (const Json& c : At(At(pod, "status"), "conditions")) {
    if (StrAt(c, "type") == "Ready") {
      return StrAt(c, "status") != "True";
    }
  }
  return true;
}

int64_t Restarts(const Json& pod) {
  int64_t total = 0;
  for (const Json& cs : At(At(pod, "status"), "containerStatuses")) {
    total += IntAt(cs, "restartCount");
  }
  return total;
}

}  // namespace

v1::Event BuildContext(KubeClient& client, const v1::IssueState& issue, int32_t attempt,
                       const ContextLimits& limits) {
  const v1::ResourceRef& r = issue.resource();
  std::string text;
  std::string errors;
  int32_t replicas = 0;
  auto note_error = [&](const std::string& what, const absl::Status& s) {
    errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", what, s.message());
  };

  // The Deployment.
  std::string uid;
  Json selector = Json::object();
  absl::StatusOr<Json> d = client.Get(DeploymentPath(r));
  if (d.ok()) {
    const Json& spec = At(*d, "spec");
    const Json& status = At(*d, "status");
    replicas = static_cast<int32_t>(IntAt(spec, "replicas"));
    uid = StrAt(At(*d, "metadata"), "uid");
    selector = At(At(spec, "selector"), "matchLabels");
    text += fmt::format(
        "Deployment {}/{}: desired {}, ready {}, updated {}, available {}, unavailable {}, "
        "generation {} (observed {})\n",
        r.namespace_(), r.name(), replicas, IntAt(status, "readyReplicas"),
        IntAt(status, "updatedReplicas"), IntAt(status, "availableReplicas"),
        IntAt(status, "unavailableReplicas"), IntAt(At(*d, "metadata"), "generation"),
        IntAt(status, "observedGeneration"));
    text += fmt::format("  containers: {}\n", Images(At(spec, "template")));
    for (const Json& c : At(status, "conditions")) {
      text += fmt::format("  condition {}={} {}: {}\n", StrAt(c, "type"), StrAt(c, "status"),
                          StrAt(c, "reason"), StrAt(c, "message"));
    }
  } else {
    note_error("deployment", d.status());
  }

  // The ReplicaSets the Deployment owns (its revisions), read once for events and revisions.
  std::optional<Json> sets;
  std::set<std::string> owned_sets;
  if (!uid.empty()) {
    absl::StatusOr<Json> list =
        client.Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets", r.namespace_()));
    if (list.ok()) {
      sets = *std::move(list);
      for (const Json& rs : At(*sets, "items")) {
        for (const Json& o : At(At(rs, "metadata"), "ownerReferences")) {
          if (StrAt(o, "uid") == uid) {
            owned_sets.insert(StrAt(At(rs, "metadata"), "name"));
          }
        }
      }
    } else {
      note_error("replicasets", list.status());
    }
  }

  // Pods, unhealthy first, then by restarts.
  std::set<std::string> pod_names;
  const std::string selector_query = LabelSelectorQuery(selector);
  if (!selector_query.empty()) {
    absl::StatusOr<Json> pods = client.Get(
        fmt::format("/api/v1/namespaces/{}/pods?labelSelector={}", r.namespace_(), selector_query));
    if (pods.ok()) {
      std::vector<Json> items(At(*pods, "items").begin(), At(*pods, "items").end());
      for (const Json& pod : items) {
        pod_names.insert(StrAt(At(pod, "metadata"), "name"));
      }
      std::stable_sort(items.begin(), items.end(), [](const Json& a, const Json& b) {
        return std::make_pair(!Unhealthy(a), -Restarts(a)) <
               std::make_pair(!Unhealthy(b), -Restarts(b));
      });
      text +=
          fmt::format("Pods ({} of {}):\n", std::min(items.size(), limits.max_pods), items.size());
      for (size_t i = 0; i < items.size() && i < limits.max_pods; ++i) {
        const Json& pod = items[i];
        text += fmt::format("  {} phase={} ready={} restarts={}\n",
                            StrAt(At(pod, "metadata"), "name"), StrAt(At(pod, "status"), "phase"),
                            Unhealthy(pod) ? "false" : "true", Restarts(pod));
        for (const Json& cs : At(At(pod, "status"), "containerStatuses")) {
          const Json& state = At(cs, "state");
          std::string now_state = state.is_object() && !state.empty() ? state.begin().key() : "";
          const std::string reason = StrAt(At(state, now_state.c_str()), "reason");
          const Json& last_terminated = At(At(cs, "lastState"), "terminated");
          const std::string last = StrAt(last_terminated, "reason");
          // The exit code tells a crash (non-zero) from a clean exit, whatever the reason says.
          const Json& exit_code = At(last_terminated, "exitCode");
          text += fmt::format("    container {}: {}{}{}{}\n", StrAt(cs, "name"), now_state,
                              reason.empty() ? "" : " (" + reason + ")",
                              last.empty() ? "" : ", last terminated: " + last,
                              exit_code.is_number_integer()
                                  ? fmt::format(" (exit code {})", exit_code.get<int64_t>())
                                  : "");
        }
      }
    } else {
      note_error("pods", pods.status());
    }
  }

  // Events about the Deployment or its pods and ReplicaSets, newest first. Matched by kind and
  // exact name (a name prefix would take "web-api"'s events for "web"'s): the Deployment, the
  // ReplicaSets it owns, their pods (named "<replicaset>-<suffix>", so gone ones count too).
  auto related_to = [&](const Json& involved) {
    const std::string kind = StrAt(involved, "kind");
    const std::string name = StrAt(involved, "name");
    if (kind == "Deployment") {
      return name == r.name();
    }
    if (kind == "ReplicaSet") {
      return owned_sets.count(name) > 0;
    }
    if (kind != "Pod") {
      return false;
    }
    if (pod_names.count(name) > 0) {
      return true;
    }
    const size_t dash = name.rfind('-');
    return dash != std::string::npos && owned_sets.count(name.substr(0, dash)) > 0;
  };
  absl::StatusOr<Json> events =
      client.Get(fmt::format("/api/v1/namespaces/{}/events", r.namespace_()));
  if (events.ok()) {
    std::vector<Json> related;
    for (const Json& e : At(*events, "items")) {
      if (related_to(At(e, "involvedObject"))) {
        related.push_back(e);
      }
    }
    auto when = [](const Json& e) {
      const std::string last = StrAt(e, "lastTimestamp");
      return last.empty() ? StrAt(At(e, "metadata"), "creationTimestamp") : last;
    };
    std::stable_sort(related.begin(), related.end(),
                     [&](const Json& a, const Json& b) { return when(a) > when(b); });
    text += fmt::format("Events (last {}):\n", std::min(related.size(), limits.max_events));
    for (size_t i = 0; i < related.size() && i < limits.max_events; ++i) {
      const Json& e = related[i];
      text += fmt::format("  {} {}: {} (count={} object={})\n", StrAt(e, "type"),
                          StrAt(e, "reason"), StrAt(e, "message"), IntAt(e, "count"),
                          StrAt(At(e, "involvedObject"), "name"));
    }
  } else {
    note_error("events", events.status());
  }

  // Revision history with what changed.
  if (sets.has_value()) {
    std::vector<std::pair<int64_t, Json>> revisions;
    for (const Json& rs : At(*sets, "items")) {
      bool owned = false;
      for (const Json& o : At(At(rs, "metadata"), "ownerReferences")) {
        owned = owned || StrAt(o, "uid") == uid;
      }
      const std::string rev =
          StrAt(At(At(rs, "metadata"), "annotations"), "deployment.kubernetes.io/revision");
      if (owned && !rev.empty()) {
        revisions.emplace_back(std::atoll(rev.c_str()), rs);
      }
    }
    std::sort(revisions.begin(), revisions.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    text += fmt::format("Revisions (newest first, {} of {}):\n",
                        std::min(revisions.size(), limits.max_revisions), revisions.size());
    for (size_t i = 0; i < revisions.size() && i < limits.max_revisions; ++i) {
      const Json& rs = revisions[i].second;
      const std::string images = Images(At(At(rs, "spec"), "template"));
      std::string diff;
      if (i + 1 < revisions.size()) {
        const std::string older = Images(At(At(revisions[i + 1].second, "spec"), "template"));
        diff = older == images ? "" : fmt::format(" (was: {})", older);
      }
      text += fmt::format("  revision {}: ready {}/{}, {}{}\n", revisions[i].first,
                          IntAt(At(rs, "status"), "readyReplicas"),
                          IntAt(At(rs, "spec"), "replicas"), images, diff);
    }
  }

  if (text.size() > limits.max_bytes) {
    size_t cut = limits.max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0U) == 0x80U) {
      --cut;
    }
    text = text.substr(0, cut) + "\n... (context truncated)";
  }
  v1::Event e;
  e.set_incident_id(issue.incident_id());
  e.set_producer("context-builder");
  v1::ContextCollected* c = e.mutable_context_collected();
  c->set_issue_name(issue.name());
  c->set_attempt(attempt);
  c->set_context(text);
  c->set_error(errors);
  c->set_current_replicas(replicas);
  return e;
}

}  // namespace aiops::k8s_sync
