// Kubernetes Events (core/v1) written by the operator, so that `kubectl describe` and
// `kubectl get events` show what it did and what went wrong. Best effort: an Event that cannot
// be written is reported to the caller and never blocks the pipeline.
#pragma once

#include <string>

#include <absl/status/status.h>
#include <absl/time/time.h>

#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

inline constexpr char kEventComponent[] = "chatcli-aiops";

struct KubeEvent {
  // The object the Event is about (it need not exist: a refused object is named all the same).
  std::string api_version;
  std::string kind;
  std::string namespace_name;
  std::string name;
  std::string type = "Normal";  // Normal | Warning
  std::string reason;           // UpperCamelCase, e.g. MirrorRefused
  std::string message;          // cut to 1 KiB (the API server's limit is larger; kubectl's view
                                // is not)
  absl::Time at;
};

// The core/v1 Event object for `event` (generateName "<name>.", source.component
// kEventComponent, count 1; the legacy fields, which `kubectl describe` shows). Pure.
nlohmann::json KubeEventObject(const KubeEvent& event);

// Creates it in the object's namespace ("default" for cluster-scoped objects).
absl::Status RecordKubeEvent(KubeClient& client, const KubeEvent& event,
                             absl::Duration budget = absl::Seconds(5));

}  // namespace aiops::k8s_sync
