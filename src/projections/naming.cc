#include "projections/naming.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <utility>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "common/sha256.h"

namespace aiops::projections {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 36> kSignalByType = {{
    {"ArgoCDDegraded", "argocd_degraded"},
    {"CPUHigh", "cpu_high"},
    {"CertificateExpiring", "certificate_expiring"},
    {"ConfigDrift", "config_drift"},
    {"CrashLoopBackOff", "crashloop_backoff"},
    {"CronJobMissed", "cronjob_missed"},
    {"DeploymentFailing", "deploy_failing"},
    {"DiskPressure", "disk_pressure"},
    {"ErrImagePull", "image_pull_error"},
    {"ErrorRate", "error_rate"},
    {"HPAMaxed", "hpa_maxed"},
    {"HPAMaxedOut", "hpa_maxed"},
    {"HelmReleaseFailed", "helm_release_failed"},
    {"HighCPU", "cpu_high"},
    {"HighErrorRate", "error_rate"},
    {"HighLatency", "latency"},
    {"HighMemory", "memory_high"},
    {"HighRestartCount", "pod_restart"},
    {"ImagePullBackOff", "image_pull_error"},
    {"ImagePullError", "image_pull_error"},
    {"IngressError", "ingress_error"},
    {"JobFailed", "job_failed"},
    {"Latency", "latency"},
    {"MemoryHigh", "memory_high"},
    {"MemoryPressure", "memory_high"},
    {"NetworkUnavailable", "network_unavailable"},
    {"NodeNotReady", "node_not_ready"},
    {"NodeUnschedulable", "node_not_ready"},
    {"OOMKilled", "oom_kill"},
    {"PIDPressure", "pid_pressure"},
    {"PVCPending", "pvc_pending"},
    {"PodCapacityHigh", "pod_capacity_high"},
    {"PodNotReady", "pod_not_ready"},
    {"PodRestart", "pod_restart"},
    {"RolloutStuck", "deploy_failing"},
    {"ScaleEvent", "generic"},
}};

static_assert(std::is_sorted(kSignalByType.begin(), kSignalByType.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }),
              "kSignalByType must stay in type order: SignalForAlertType searches it");

constexpr std::array<std::string_view, 10> kWorkloadKinds = {
    "CronJob", "DaemonSet",  "Deployment",  "Job",     "Node",
    "Pod",     "ReplicaSet", "StatefulSet", "Service", "ConfigMap"};

bool IsKnownSignal(std::string_view s) {
  return std::any_of(kSignalByType.begin(), kSignalByType.end(),
                     [&](const auto& entry) { return entry.second == s; });
}

// SHA-256 of the concatenated parts, joined in a buffer on the stack when they fit (keys and
// ids are hashed for every alert; they are never kept as text).
common::Sha256Digest HashOfJoined(std::initializer_list<std::string_view> parts) {
  std::array<char, 1024> buffer;
  size_t size = 0;
  for (const std::string_view part : parts) {
    size += part.size();
  }
  if (size > buffer.size()) {
    std::string joined;
    joined.reserve(size);
    for (const std::string_view part : parts) {
      joined.append(part);
    }
    return common::Sha256Of(joined);
  }
  char* out = buffer.data();
  for (const std::string_view part : parts) {
    out = std::copy(part.begin(), part.end(), out);
  }
  return common::Sha256Of(std::string_view(buffer.data(), size));
}

// What each byte becomes in a DNS-1123 name: ASCII letters in lower case and digits as
// themselves, anything else 0 (a separator). ASCII only, whatever the locale: a name must not
// depend on the environment.
constexpr std::array<char, 256> kDnsChars = [] {
  std::array<char, 256> chars{};
  for (char c = '0'; c <= '9'; ++c) {
    chars[static_cast<uint8_t>(c)] = c;
  }
  for (char c = 'a'; c <= 'z'; ++c) {
    chars[static_cast<uint8_t>(c)] = c;
    chars[static_cast<uint8_t>(c - 'a' + 'A')] = c;
  }
  return chars;
}();

}  // namespace

bool IsDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c == '-' || kDnsChars[static_cast<uint8_t>(c)] == c; });
}

bool IsDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  for (size_t start = 0;;) {
    const size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!IsDns1123Label(label)) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

std::string_view SignalForAlertType(std::string_view type) {
  // The table is in type order: a binary search (every alert asks).
  const auto* it =
      std::lower_bound(kSignalByType.begin(), kSignalByType.end(), type,
                       [](const auto& entry, std::string_view t) { return entry.first < t; });
  if (it != kSignalByType.end() && it->first == type) {
    return it->second;
  }
  if (IsKnownSignal(type)) {
    return type;
  }
  return kGenericSignal;
}

ResourceView ResourceViewForAlert(const v1::AlertObserved& alert, std::string_view signal) {
  ResourceView ref;
  ref.namespace_ = alert.namespace_().empty() ? std::string_view("default")
                                              : std::string_view(alert.namespace_());
  std::string_view kind;
  std::string_view name = alert.deployment();
  const std::string_view object = alert.object();
  const size_t slash = object.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view object_kind = object.substr(0, slash);
    if (std::find(kWorkloadKinds.begin(), kWorkloadKinds.end(), object_kind) !=
            kWorkloadKinds.end() &&
        object_kind != "Pod") {
      kind = object_kind;
      if (name.empty()) {
        name = object.substr(slash + 1);
      }
    }
  }
  if (kind.empty() && !alert.object_kind().empty() && alert.object_kind() != "Pod" &&
      name.empty()) {
    kind = alert.object_kind();
    name = object;
  }
  if (kind.empty()) {
    if (signal == "node_not_ready" || signal == "disk_pressure" || signal == "pid_pressure" ||
        signal == "network_unavailable" || signal == "pod_capacity_high") {
      kind = "Node";
    } else if (signal == "job_failed" || signal == "cronjob_missed") {
      kind = "Job";
    } else {
      kind = "Deployment";
    }
  }
  if (name.empty()) {
    name = slash == std::string_view::npos ? object : object.substr(slash + 1);
  }
  ref.kind = kind;
  ref.name = name;
  return ref;
}

v1::ResourceRef ToResourceRef(ResourceView resource) {
  v1::ResourceRef ref;
  SetResourceRef(resource, ref);
  return ref;
}

void SetResourceRef(ResourceView resource, v1::ResourceRef& out) {
  out.set_namespace_(std::string(resource.namespace_));
  out.set_kind(std::string(resource.kind));
  out.set_name(std::string(resource.name));
}

v1::ResourceRef ResourceForAlert(const v1::AlertObserved& alert) {
  return ToResourceRef(ResourceViewForAlert(alert, SignalForAlertType(alert.type())));
}

std::string ResourceKey(const v1::ResourceRef& resource) {
  fmt::memory_buffer buffer;
  return std::string(ResourceKeyIn(resource, buffer));
}

std::string_view ResourceKeyIn(const v1::ResourceRef& resource, fmt::memory_buffer& buffer) {
  buffer.clear();
  fmt::format_to(std::back_inserter(buffer), FMT_COMPILE("{}/{}/{}"), resource.kind(),
                 resource.namespace_(), resource.name());
  return std::string_view(buffer.data(), buffer.size());
}

common::Sha256Digest DedupDigest(std::string_view signal, ResourceView resource,
                                 std::string_view source_object_uid) {
  return HashOfJoined({signal, "|", resource.kind, "|", resource.namespace_, "|", resource.name,
                       "|", source_object_uid});
}

std::string IncidentId(ResourceView resource, std::string_view signal) {
  const common::Sha256Digest digest =
      HashOfJoined({resource.kind, "/", resource.namespace_, "/", resource.name, "|", signal});
  return common::BytesToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), 8));
}

std::string Dns1123Name(std::string_view raw) {
  // Written in place (a name is never longer than its raw text), runs of separators as one '-'.
  std::string out(raw.size(), '\0');
  char* const begin = out.data();
  char* d = begin;
  for (const char c : raw) {
    const char mapped = kDnsChars[static_cast<uint8_t>(c)];
    if (mapped != 0) {
      *d++ = mapped;
    } else if (d != begin && d[-1] != '-') {
      *d++ = '-';
    }
  }
  while (d != begin && d[-1] == '-') {
    --d;
  }
  out.resize(static_cast<size_t>(d - begin));
  if (out.size() > kMaxNameLength) {
    const std::string suffix = common::Sha256Hex(raw).substr(0, 8);
    out.resize(kMaxNameLength - suffix.size() - 1);
    while (!out.empty() && out.back() == '-') {
      out.pop_back();
    }
    out += "-" + suffix;
  }
  return out.empty() ? std::string("unnamed") : out;
}

std::string IssueName(const v1::ResourceRef& resource, std::string_view signal,
                      int64_t detected_at_ms) {
  fmt::memory_buffer raw;  // on the stack: only its DNS-1123 form is kept
  fmt::format_to(std::back_inserter(raw), FMT_COMPILE("{}-{}-{}"), resource.name(), signal,
                 detected_at_ms / 1000);
  return Dns1123Name(std::string_view(raw.data(), raw.size()));
}

std::string AnomalyName(std::string_view source, std::string_view alert_type,
                        const v1::ResourceRef& resource, int64_t at_ms,
                        std::string_view dedup_key) {
  // The key's prefix keeps two alerts of one second apart (two pods of one workload).
  fmt::memory_buffer raw;  // on the stack: only its DNS-1123 form is kept
  fmt::format_to(std::back_inserter(raw), FMT_COMPILE("{}-{}-{}-{}-{}"), source, alert_type,
                 resource.name(), at_ms / 1000, dedup_key.substr(0, 6));
  return Dns1123Name(std::string_view(raw.data(), raw.size()));
}

std::string PlanName(std::string_view issue_name, int32_t attempt) {
  return Dns1123Name(fmt::format("{}-plan-{}", issue_name, attempt));
}

int32_t RiskWeight(const v1::PipelineConfig& config, std::string_view signal) {
  for (const v1::RiskWeight& w : config.risk_weights()) {
    if (w.signal() == signal) {
      return w.weight();
    }
  }
  return config.risk_weight_other();
}

std::string SeverityFromRisk(const v1::PipelineConfig& config, int32_t risk) {
  if (risk >= config.severity_critical_min()) {
    return "critical";
  }
  if (risk >= config.severity_high_min()) {
    return "high";
  }
  if (risk >= config.severity_medium_min()) {
    return "medium";
  }
  return "low";
}

std::string AnomalySeverity(std::string_view alert_severity) {
  std::string lower(alert_severity);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (lower == "critical" || lower == "error" || lower == "page") {
    return "critical";
  }
  if (lower == "info" || lower == "none") {
    return "info";
  }
  return "warning";
}

bool SameActions(const google::protobuf::RepeatedPtrField<v1::ActionSpec>& a,
                 const google::protobuf::RepeatedPtrField<v1::ActionSpec>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (int i = 0; i < a.size(); ++i) {
    const v1::ActionSpec& x = a[i];
    const v1::ActionSpec& y = b[i];
    if (x.type() != y.type() || x.params_size() != y.params_size()) {
      return false;
    }
    for (int p = 0; p < x.params_size(); ++p) {
      if (x.params(p).key() != y.params(p).key() || x.params(p).value() != y.params(p).value()) {
        return false;
      }
    }
  }
  return true;
}

std::string ParamValue(const v1::ActionSpec& action, std::string_view key) {
  for (const v1::Param& p : action.params()) {
    if (p.key() == key) {
      return p.value();
    }
  }
  return "";
}

std::vector<FailedLimit> FailedLimits(
    const google::protobuf::RepeatedPtrField<v1::AttemptFailure>& failures) {
  std::vector<FailedLimit> out;
  for (const v1::AttemptFailure& f : failures) {
    for (const v1::ActionSpec& a : f.actions()) {
      if (a.type() != "AdjustResources") {
        continue;
      }
      for (const auto& [param, resource] :
           {std::pair{"memory_limit", "memory"}, std::pair{"cpu_limit", "cpu"}}) {
        if (std::string value = ParamValue(a, param); !value.empty()) {
          out.push_back({ParamValue(a, "container"), resource, std::move(value)});
        }
      }
    }
  }
  return out;
}

v1::PipelineConfig DefaultPipelineConfig() {
  v1::PipelineConfig c;
  c.set_correlation_window_ms(10 * 60'000);
  for (const auto& [signal, weight] :
       std::array<std::pair<const char*, int32_t>, 5>{{{"deploy_failing", 25},
                                                       {"error_rate", 25},
                                                       {"oom_kill", 30},
                                                       {"pod_not_ready", 20},
                                                       {"pod_restart", 20}}}) {
    v1::RiskWeight* w = c.add_risk_weights();
    w->set_signal(signal);
    w->set_weight(weight);
  }
  c.set_risk_weight_other(10);
  c.set_risk_cap(100);
  c.set_severity_critical_min(80);
  c.set_severity_high_min(60);
  c.set_severity_medium_min(40);
  c.set_dedup_ttl_ms(30 * 60'000);
  c.set_max_remediation_attempts(3);
  c.set_verification_window_ms(90'000);
  c.set_resolution_cooldown_ms(10 * 60'000);
  c.set_recurrence_limit(3);
  c.set_recurrence_window_ms(60 * 60'000);
  v1::SafetyConfig* s = c.mutable_safety();
  s->set_max_replica_factor(2);
  s->set_max_replica_increase(10);
  s->set_max_concurrent_per_namespace(3);
  s->set_max_concurrent_per_cluster(10);
  s->set_resource_cooldown_ms(5 * 60'000);
  c.mutable_approval()->set_enabled(false);
  c.mutable_approval()->set_expiry_ms(30 * 60'000);
  c.set_cluster_id("local");
  c.set_decision_rules(kDecisionRulesCurrent);
  c.set_escalation_hold_ms(60 * 60'000);
  return c;
}

}  // namespace aiops::projections
