// Pure naming and classification rules of the pipeline (DESIGN.md §4): alert type to signal,
// the resource an alert is attributed to, dedup keys, incident ids, DNS-1123 object names, risk
// weights and severities. Deterministic; depends on common (SHA-256) and proto.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "common/sha256.h"

namespace aiops::projections {

inline constexpr char kGenericSignal[] = "generic";
inline constexpr size_t kMaxNameLength = 63;

// The signal of an alert type (ChatCLI watcher types, Alertmanager alert names, or a signal name
// itself); unknown types map to the generic signal. The view points into `type` (a signal name
// given as the type) or constants.
std::string_view SignalForAlertType(std::string_view type);

// A resource as views (into an alert, a ResourceRef or constants): what the keys below are made
// of, without building a ResourceRef (detection computes them for every alert).
struct ResourceView {
  std::string_view kind;
  std::string_view namespace_;
  std::string_view name;
  ResourceView() = default;
  ResourceView(std::string_view k, std::string_view ns, std::string_view n)
      : kind(k), namespace_(ns), name(n) {}
  explicit ResourceView(const v1::ResourceRef& r)
      : kind(r.kind()), namespace_(r.namespace_()), name(r.name()) {}
};

// The resource an alert is attributed to: the owning workload for pod alerts (the alert's
// `deployment`), with the kind inferred as ChatCLI does; namespace "default" when empty.
// `signal` is SignalForAlertType(alert.type()). The views point into `alert` or constants.
ResourceView ResourceViewForAlert(const v1::AlertObserved& alert, std::string_view signal);
v1::ResourceRef ResourceForAlert(const v1::AlertObserved& alert);
v1::ResourceRef ToResourceRef(ResourceView resource);
// As ToResourceRef, into an existing message (an event's field: no temporary to copy).
void SetResourceRef(ResourceView resource, v1::ResourceRef& out);

// "Kind/namespace/name": the correlation key.
std::string ResourceKey(const v1::ResourceRef& resource);
// The same key written into `buffer` (on the caller's stack), for a lookup that keeps nothing.
std::string_view ResourceKeyIn(const v1::ResourceRef& resource, fmt::memory_buffer& buffer);

// SHA-256 of "signal|kind|namespace|name|source object uid"; the events' dedup_key is its
// lower-case hex (common::ToHex).
common::Sha256Digest DedupDigest(std::string_view signal, ResourceView resource,
                                 std::string_view source_object_uid);

// First 16 hex of SHA-256("kind/namespace/name|signal").
std::string IncidentId(ResourceView resource, std::string_view signal);
inline std::string IncidentId(const v1::ResourceRef& resource, std::string_view signal) {
  return IncidentId(ResourceView(resource), signal);
}

// A valid DNS-1123 subdomain label: lower case, [a-z0-9-] (other characters become '-'), no
// leading or trailing '-', at most 63 characters; a longer name is cut and given a hash suffix
// of the whole raw name, so distinct long names stay distinct.
std::string Dns1123Name(std::string_view raw);
// Whether `name` is valid as Kubernetes requires: a label (namespaces: [a-z0-9-], at most 63,
// starting and ending with a letter or digit) or a subdomain (most object names: labels joined
// by '.', at most 253).
bool IsDns1123Label(std::string_view name);
bool IsDns1123Subdomain(std::string_view name);

std::string IssueName(const v1::ResourceRef& resource, std::string_view signal,
                      int64_t detected_at_ms);
std::string AnomalyName(std::string_view source, std::string_view alert_type,
                        const v1::ResourceRef& resource, int64_t at_ms, std::string_view dedup_key);
std::string PlanName(std::string_view issue_name, int32_t attempt);

int32_t RiskWeight(const v1::PipelineConfig& config, std::string_view signal);
std::string SeverityFromRisk(const v1::PipelineConfig& config, int32_t risk);
// info | warning | critical, from an alert's severity text (any case; unknown: warning).
std::string AnomalySeverity(std::string_view alert_severity);

// Two actions are the same remediation when type and params agree (names and descriptions are
// prose).
bool SameActions(const google::protobuf::RepeatedPtrField<v1::ActionSpec>& a,
                 const google::protobuf::RepeatedPtrField<v1::ActionSpec>& b);
// The value of param `key`, or "" when absent.
std::string ParamValue(const v1::ActionSpec& action, std::string_view key);

// A limit an AdjustResources action of a failed attempt set: the revision it made holds it.
struct FailedLimit {
  std::string container;  // "" when the action named none (the actuator took the first)
  std::string resource;   // "memory" (memory_limit) or "cpu" (cpu_limit)
  std::string value;      // as the plan wrote it (the API server may read it back canonical)
};
std::vector<FailedLimit> FailedLimits(
    const google::protobuf::RepeatedPtrField<v1::AttemptFailure>& failures);

// The defaults of DESIGN.md §5.
v1::PipelineConfig DefaultPipelineConfig();
// The newest version of the decision rules (PipelineConfig.decision_rules), which
// DefaultPipelineConfig() sets; a recorded configuration keeps the version it was decided with.
inline constexpr int32_t kDecisionRulesCurrent = 1;

}  // namespace aiops::projections
