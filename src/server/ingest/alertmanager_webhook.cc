#include "server/ingest/alertmanager_webhook.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "common/check.h"
#include "common/fmt_absl.h"
#include "projections/naming.h"

namespace aiops::ingest {
namespace {

using Json = nlohmann::json;

// Well-known alert names (kube-prometheus / kube-state-metrics rules) whose signal the core
// would not recognise from the name itself.
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kSignalByAlertname = {{
    {"CPUThrottlingHigh", "cpu_high"},
    {"KubeDaemonSetRolloutStuck", "deploy_failing"},
    {"KubeDeploymentGenerationMismatch", "deploy_failing"},
    {"KubeDeploymentReplicasMismatch", "deploy_failing"},
    {"KubeDeploymentRolloutStuck", "deploy_failing"},
    {"KubeHpaMaxedOut", "hpa_maxed"},
    {"KubeJobFailed", "job_failed"},
    {"KubeNodeNotReady", "node_not_ready"},
    {"KubeNodeUnreachable", "node_not_ready"},
    {"KubePersistentVolumeClaimPending", "pvc_pending"},
    {"KubePodCrashLooping", "crashloop_backoff"},
    {"KubePodNotReady", "pod_not_ready"},
    {"KubeStatefulSetReplicasMismatch", "deploy_failing"},
    {"KubeStatefulSetUpdateNotRolledOut", "deploy_failing"},
    {"KubeletTooManyPods", "pod_capacity_high"},
}};

// Hints in a name (lower-cased, letters and digits only), first match wins.
struct Hint {
  std::string_view needle;
  std::string_view signal;
};
constexpr std::array<Hint, 16> kHints = {{
    {"oomkill", "oom_kill"},
    {"outofmemory", "oom_kill"},
    {"crashloop", "crashloop_backoff"},
    {"imagepull", "image_pull_error"},
    {"errorrate", "error_rate"},
    {"errorratio", "error_rate"},
    {"errorbudget", "error_rate"},
    {"5xx", "error_rate"},
    {"errors", "error_rate"},
    {"latency", "latency"},
    {"slowrequests", "latency"},
    {"responsetime", "latency"},
    {"restart", "pod_restart"},
    {"nodenotready", "node_not_ready"},
    {"notready", "pod_not_ready"},
    {"rolloutstuck", "deploy_failing"},
}};

std::string Folded(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) {
      out.push_back(static_cast<char>(std::tolower(u)));
    }
  }
  return out;
}

absl::Status FieldError(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("alertmanager webhook: {}: {}", field, what));
}

std::string_view TypeName(const Json& v) {
  if (v.is_null()) {
    return "null";
  }
  return v.type_name();
}

// A JSON object of string values (labels, annotations) as a sorted map.
absl::StatusOr<std::map<std::string, std::string>> StringMap(const Json& obj,
                                                             const std::string& field) {
  if (!obj.is_object()) {
    return FieldError(field, fmt::format("expected an object of strings, got {}", TypeName(obj)));
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : obj.items()) {
    if (!value.is_string()) {
      return FieldError(fmt::format("{}.{}", field, key),
                        fmt::format("expected a string, got {}", TypeName(value)));
    }
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

// Characters of Kubernetes' SafeEncodeString alphabet (pod-template-hash and pod name suffixes).
bool IsSafeEncoded(std::string_view s) {
  constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return kAlphabet.find(c) != std::string_view::npos;
  });
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The workload behind a pod name: <deployment>-<template hash>-<5 chars>, <statefulset>-<ordinal>
// or <daemonset|job>-<5 chars>; "" when the name has none of those shapes.
std::string WorkloadFromPod(std::string_view pod) {
  const size_t last = pod.rfind('-');
  if (last == std::string_view::npos || last == 0) {
    return "";
  }
  const std::string_view suffix = pod.substr(last + 1);
  const std::string_view rest = pod.substr(0, last);
  if (IsDigits(suffix)) {
    return std::string(rest);
  }
  if (suffix.size() != 5 || !IsSafeEncoded(suffix)) {
    return "";
  }
  const size_t previous = rest.rfind('-');
  if (previous != std::string_view::npos && previous > 0) {
    const std::string_view hash = rest.substr(previous + 1);
    if (hash.size() >= 6 && hash.size() <= 10 && IsSafeEncoded(hash)) {
      return std::string(rest.substr(0, previous));
    }
  }
  return std::string(rest);
}

struct Workload {
  std::string name;
  std::string kind;  // "" when only the name is known
};

// The workload an alert belongs to, from the labels (docs/ingestion.md, "Label mapping").
Workload WorkloadOf(const std::map<std::string, std::string>& labels) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kKindLabels = {{
      {"deployment", "Deployment"},
      {"statefulset", "StatefulSet"},
      {"daemonset", "DaemonSet"},
      {"job_name", "Job"},
      {"cronjob", "CronJob"},
  }};
  for (const auto& [label, kind] : kKindLabels) {
    const std::string name = Get(labels, std::string(label));
    if (!name.empty()) {
      return {name, std::string(kind)};
    }
  }
  // Prometheus label names cannot hold '.' or '/': the recording rules of kube-state-metrics
  // and relabelling write the recommended label in these forms.
  for (const char* label :
       {"app.kubernetes.io/name", "app_kubernetes_io_name", "label_app_kubernetes_io_name"}) {
    const std::string name = Get(labels, label);
    if (!name.empty()) {
      return {name, ""};
    }
  }
  return {WorkloadFromPod(Get(labels, "pod")), ""};
}

std::string MessageOf(const std::map<std::string, std::string>& annotations,
                      const std::string& alertname) {
  const std::string summary = Get(annotations, "summary");
  const std::string description = Get(annotations, "description");
  if (!summary.empty() && !description.empty() && summary != description) {
    return fmt::format("{}\n{}", summary, description);
  }
  if (!summary.empty()) {
    return summary;
  }
  if (!description.empty()) {
    return description;
  }
  const std::string message = Get(annotations, "message");  // older kube-prometheus rules
  return message.empty() ? alertname : message;
}

absl::StatusOr<v1::Event> AlertToEvent(const Json& alert, const std::string& field,
                                       const std::map<std::string, std::string>& labels,
                                       absl::Time now) {
  std::map<std::string, std::string> annotations;
  if (alert.contains("annotations") && !alert["annotations"].is_null()) {
    absl::StatusOr<std::map<std::string, std::string>> parsed =
        StringMap(alert["annotations"], field + ".annotations");
    if (!parsed.ok()) {
      return parsed.status();
    }
    annotations = *std::move(parsed);
  }

  const std::string alertname = Get(labels, "alertname");
  const std::string signal_label = Get(labels, kSignalLabel);
  if (alertname.empty() && signal_label.empty()) {
    return FieldError(field + ".labels.alertname",
                      fmt::format("missing (or set the {} label)", kSignalLabel));
  }
  const std::string ns = Get(labels, "namespace");
  if (ns.empty()) {
    return FieldError(
        field + ".labels.namespace",
        "missing: a firing alert must name the namespace of the resource it is about");
  }

  absl::Time starts_at = now;
  if (alert.contains("startsAt") && !alert["startsAt"].is_null()) {
    const Json& v = alert["startsAt"];
    std::string error;
    absl::Time t;
    if (!v.is_string() || !absl::ParseTime(absl::RFC3339_full, v.get<std::string>(), &t, &error)) {
      return FieldError(field + ".startsAt",
                        fmt::format("expected an RFC 3339 time, got {}", v.dump()));
    }
    if (t > absl::UnixEpoch()) {
      starts_at = t;
    }
  }

  const Workload workload = WorkloadOf(labels);
  const std::string pod = Get(labels, "pod");
  const std::string node = Get(labels, "node");

  v1::Event event;
  event.set_logical_time_ms(absl::ToUnixMillis(now));
  event.set_producer(kWebhookProducer);
  v1::AlertObserved* a = event.mutable_alert_observed();
  a->set_type(signal_label.empty() ? AlertTypeForAlertname(alertname) : signal_label);
  a->set_severity(projections::AnomalySeverity(Get(labels, "severity")));
  a->set_message(MessageOf(annotations, alertname.empty() ? signal_label : alertname));
  if (!pod.empty()) {
    a->set_object(pod);
    a->set_object_kind("Pod");
  } else if (!workload.kind.empty()) {
    a->set_object(fmt::format("{}/{}", workload.kind, workload.name));
    a->set_object_kind(workload.kind);
  } else if (!node.empty() && workload.name.empty()) {
    a->set_object(fmt::format("Node/{}", node));
    a->set_object_kind("Node");
  } else {
    a->set_object(workload.name);
  }
  a->set_namespace_(ns);
  a->set_deployment(workload.name);
  a->set_timestamp_unix(absl::ToUnixSeconds(starts_at));
  a->set_source(kAlertmanagerSource);
  for (const auto& [key, value] : labels) {  // std::map: sorted by key
    v1::Param* p = a->add_labels();
    p->set_key(key);
    p->set_value(value);
  }
  return event;
}

}  // namespace

std::string AlertTypeForAlertname(std::string_view alertname) {
  if (projections::SignalForAlertType(alertname) != projections::kGenericSignal) {
    return std::string(alertname);
  }
  for (const auto& [name, signal] : kSignalByAlertname) {
    if (name == alertname) {
      return std::string(signal);
    }
  }
  const std::string folded = Folded(alertname);
  for (const Hint& hint : kHints) {
    if (folded.find(hint.needle) != std::string::npos) {
      return std::string(hint.signal);
    }
  }
  return std::string(alertname);
}

absl::StatusOr<AlertmanagerBatch> ParseAlertmanagerPayload(std::string_view body, absl::Time now) {
  const Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        "alertmanager webhook: the body is not valid JSON (expected an Alertmanager webhook "
        "payload, version 4)");
  }
  if (!doc.is_object()) {
    return FieldError("(body)", fmt::format("expected a JSON object, got {}", TypeName(doc)));
  }
  if (!doc.contains("version")) {
    return FieldError("version", "missing (expected \"4\")");
  }
  if (!doc["version"].is_string() || doc["version"].get<std::string>() != "4") {
    return FieldError("version", fmt::format("unsupported payload version {} (expected \"4\")",
                                             doc["version"].dump()));
  }
  if (!doc.contains("alerts")) {
    return FieldError("alerts", "missing");
  }
  const Json& alerts = doc["alerts"];
  if (!alerts.is_array()) {
    return FieldError("alerts", fmt::format("expected an array, got {}", TypeName(alerts)));
  }
  std::string group_status;
  if (doc.contains("status") && doc["status"].is_string()) {
    group_status = doc["status"].get<std::string>();
  }

  AlertmanagerBatch batch;
  if (doc.contains("receiver") && doc["receiver"].is_string()) {
    batch.receiver = doc["receiver"].get<std::string>();
  }
  if (doc.contains("groupKey") && doc["groupKey"].is_string()) {
    batch.group_key = doc["groupKey"].get<std::string>();
  }
  for (size_t i = 0; i < alerts.size(); ++i) {
    const std::string field = fmt::format("alerts[{}]", i);
    const Json& alert = alerts[i];
    ++batch.alerts_total;
    if (!alert.is_object()) {
      return FieldError(field, fmt::format("expected an object, got {}", TypeName(alert)));
    }
    if (!alert.contains("labels")) {
      return FieldError(field + ".labels", "missing");
    }
    absl::StatusOr<std::map<std::string, std::string>> labels =
        StringMap(alert["labels"], field + ".labels");
    if (!labels.ok()) {
      return labels.status();
    }
    std::string status = group_status;
    if (alert.contains("status")) {
      if (!alert["status"].is_string()) {
        return FieldError(field + ".status", fmt::format("expected \"firing\" or \"resolved\", "
                                                         "got {}",
                                                         alert["status"].dump()));
      }
      status = alert["status"].get<std::string>();
    }
    if (status == "resolved") {
      ++batch.resolved_skipped;
      continue;
    }
    if (status != "firing") {
      return FieldError(field + ".status",
                        fmt::format("expected \"firing\" or \"resolved\", got \"{}\"", status));
    }
    absl::StatusOr<v1::Event> event = AlertToEvent(alert, field, *labels, now);
    if (!event.ok()) {
      return event.status();
    }
    batch.events.push_back(*std::move(event));
  }
  return batch;
}

absl::StatusOr<std::vector<v1::Event>> ParseAlertmanagerWebhook(std::string_view body,
                                                                absl::Time now) {
  absl::StatusOr<AlertmanagerBatch> batch = ParseAlertmanagerPayload(body, now);
  if (!batch.ok()) {
    return batch.status();
  }
  return std::move(batch->events);
}

namespace {

void Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

bool TokenMatches(const std::string& header, const std::string& token) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() != kPrefix.size() + token.size() ||
      std::string_view(header).substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  return CRYPTO_memcmp(header.data() + kPrefix.size(), token.data(), token.size()) == 0;
}

void Handle(const WebhookOptions& options, const httplib::Request& req, httplib::Response& res,
            const httplib::ContentReader& content_reader) {
  WebhookStats* stats = options.stats;
  if (stats != nullptr) {
    ++stats->requests;
  }
  auto reject = [&](int status, std::string message) {
    if (stats != nullptr) {
      ++stats->rejected;
    }
    if (options.health != nullptr) {
      options.health->Failure(
          absl::Status(status == 401 ? absl::StatusCode::kUnauthenticated
                                     : absl::StatusCode::kInvalidArgument,
                       fmt::format("HTTP {} to {}: {}", status, req.remote_addr, message)),
          /*permanent=*/status == 401);
    }
    if (status == 401) {
      res.set_header("WWW-Authenticate", "Bearer");
    }
    Reply(res, status, Json{{"error", std::move(message)}});
  };
  if (!options.token.empty() &&
      !TokenMatches(req.get_header_value("Authorization"), options.token)) {
    reject(401, req.has_header("Authorization")
                    ? "alertmanager webhook: the bearer token is not valid"
                    : "alertmanager webhook: missing Authorization: Bearer <token>");
    return;
  }
  // The body is read here, not by httplib, so that an oversized one is refused while it
  // arrives instead of being buffered whole.
  // An oversized body is drained (up to a bound) rather than left unread: closing a socket with
  // unread data sends a reset, which can destroy the 413 before the client reads it.
  std::string body;
  bool too_large = false;
  size_t drained = 0;
  const size_t drain_max = options.max_body_bytes * 4 + size_t{1024} * 1024;
  const bool read = content_reader([&](const char* data, size_t length) {
    if (too_large || body.size() + length > options.max_body_bytes) {
      too_large = true;
      body.clear();
      drained += length;
      return drained <= drain_max;
    }
    body.append(data, length);
    return true;
  });
  if (too_large) {
    reject(413, fmt::format("alertmanager webhook: the body is larger than the limit of {} bytes",
                            options.max_body_bytes));
    return;
  }
  if (!read) {
    reject(400, "alertmanager webhook: the request body could not be read");
    return;
  }
  absl::StatusOr<AlertmanagerBatch> batch = ParseAlertmanagerPayload(body, options.clock->Now());
  if (!batch.ok()) {
    reject(400, std::string(batch.status().message()));
    return;
  }
  if (stats != nullptr) {
    stats->resolved_skipped += static_cast<uint64_t>(batch->resolved_skipped);
  }
  const size_t firing = batch->events.size();
  Json sequences = Json::array();
  // With submit_batch: one call, all of the payload's alerts or none. Else one by one, in order.
  absl::Status failure;
  if (options.submit_batch) {
    absl::StatusOr<std::vector<uint64_t>> all = options.submit_batch(std::move(batch->events));
    if (all.ok()) {
      sequences = *all;
    } else {
      failure = absl::Status(all.status().code(), fmt::format("appending the {} alerts failed: {}",
                                                              firing, all.status().message()));
    }
  } else {
    for (v1::Event& event : batch->events) {
      absl::StatusOr<uint64_t> sequence = options.submit(std::move(event));
      if (!sequence.ok()) {
        failure = absl::Status(sequence.status().code(),
                               fmt::format("appending alert {} of {} failed: {}",
                                           sequences.size() + 1, firing, sequence.status()));
        break;
      }
      sequences.push_back(*sequence);
    }
  }
  if (stats != nullptr) {
    stats->alerts_appended += sequences.size();
  }
  if (!failure.ok()) {
    if (stats != nullptr) {
      ++stats->submit_errors;
    }
    if (options.health != nullptr) {
      options.health->Failure(failure);
    }
    const absl::StatusCode code = failure.code();
    int http = 500;
    if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted) {
      http = 503;
      res.set_header("Retry-After", "5");
    } else if (code == absl::StatusCode::kInvalidArgument) {
      http = 400;
    }
    Reply(res, http,
          Json{{"error", fmt::format("alertmanager webhook: {}", failure.message())},
               {"appended", sequences.size()}});
    return;
  }
  if (options.health != nullptr) {
    options.health->Success();
  }
  Reply(res, 200,
        Json{{"received", batch->alerts_total},
             {"firing", firing},
             {"resolved_skipped", batch->resolved_skipped},
             {"appended", sequences.size()},
             {"sequences", std::move(sequences)}});
}

}  // namespace

void ConfigureWebhookServer(httplib::Server& server) {
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(kWebhookKeepAliveRequests);
  // A kept-alive connection holds a worker thread until it ends, so the pool must exceed the
  // senders and scrapers that may be connected at once (httplib's default is 8 threads).
  server.new_task_queue = [] { return new httplib::ThreadPool(kWebhookServerThreads); };
}

void RegisterAlertmanagerWebhook(httplib::Server& server, const WebhookOptions& options) {
  AIOPS_CHECK(options.clock != nullptr);  // wiring errors, not input errors
  AIOPS_CHECK(static_cast<bool>(options.submit) || static_cast<bool>(options.submit_batch));
  // The handler keeps its own copy: `options` may be a temporary.
  server.Post(options.path, [options](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& content_reader) {
    Handle(options, req, res, content_reader);
  });
}

}  // namespace aiops::ingest
