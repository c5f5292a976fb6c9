#include "k8s_sync/kube_events.h"

#include <fmt/format.h>

namespace aiops::k8s_sync {
namespace {

constexpr size_t kMaxMessageBytes = 1024;

// Cut at a UTF-8 character boundary, with a marker.
std::string Cut(const std::string& text) {
  if (text.size() <= kMaxMessageBytes) {
    return text;
  }
  size_t end = kMaxMessageBytes - 3;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return text.substr(0, end) + "...";
}

}  // namespace

nlohmann::json KubeEventObject(const KubeEvent& event) {
  const std::string ns = event.namespace_name.empty() ? "default" : event.namespace_name;
  const std::string at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", event.at, absl::UTCTimeZone());
  nlohmann::json involved = {
      {"apiVersion", event.api_version}, {"kind", event.kind}, {"name", event.name}};
  if (!event.namespace_name.empty()) {
    involved["namespace"] = event.namespace_name;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", event.name + "."}, {"namespace", ns}}},
          {"involvedObject", involved},
          {"type", event.type},
          {"reason", event.reason},
          {"message", Cut(event.message)},
          {"source", {{"component", kEventComponent}}},
          {"firstTimestamp", at},
          {"lastTimestamp", at},
          {"count", 1}};
}

absl::Status RecordKubeEvent(KubeClient& client, const KubeEvent& event, absl::Duration budget) {
  const nlohmann::json object = KubeEventObject(event);
  return client
      .Create(fmt::format("/api/v1/namespaces/{}/events",
                          object["metadata"]["namespace"].get<std::string>()),
              object, budget)
      .status();
}

}  // namespace aiops::k8s_sync
