// The Alertmanager edge (DESIGN.md §2, §9): a pure parser turning an Alertmanager webhook
// (payload version 4) into alert-observed events, and an HTTP receiver for it on a cpp-httplib
// server. The label mapping (type and signal hints, severity, namespace, workload, object,
// message, time, labels) is documented in docs/ingestion.md and kept consistent with
// projections/naming.h (SignalForAlertType, ResourceForAlert). Part of the server layer; depends
// on proto, common, projections and httplib.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <httplib.h>

#include "aiops/v1/events.pb.h"
#include "common/clock.h"
#include "common/edge_health.h"

namespace aiops::ingest {

inline constexpr char kAlertmanagerSource[] = "alertmanager";  // AlertObserved.source
inline constexpr char kWebhookProducer[] = "webhook";          // Event.producer
inline constexpr char kAlertmanagerWebhookPath[] = "/webhook/alertmanager";
// The label that names the signal explicitly (a signal such as "error_rate", or a ChatCLI alert
// type such as "HighErrorRate"); it wins over `alertname`.
inline constexpr char kSignalLabel[] = "chatcli_signal";

// What one webhook body holds.
struct AlertmanagerBatch {
  std::vector<v1::Event> events;  // one per firing alert, in payload order
  int alerts_total = 0;           // every alert of the payload
  int resolved_skipped = 0;       // resolved alerts (nothing to observe)
  std::string receiver;           // the payload's `receiver`
  std::string group_key;          // the payload's `groupKey`
};

// Parses an Alertmanager webhook body. Each firing alert becomes an Event stamped with
// logical_time_ms = `now`, producer "webhook", and an AlertObserved payload (source
// "alertmanager"; mapping in docs/ingestion.md). Resolved alerts are skipped and counted.
// All or nothing: kInvalidArgument naming the offending field when the body is not JSON, not an
// object, `version` is not "4", `alerts` is missing or not an array, an alert is not an object,
// has no `labels` object, an unknown `status`, a label or annotation that is not a string, no
// `alertname`/`chatcli_signal`, a firing alert without a `namespace` label, or a `startsAt`
// that is not RFC 3339. Pure and thread-safe.
absl::StatusOr<AlertmanagerBatch> ParseAlertmanagerPayload(std::string_view body, absl::Time now);

// The events of ParseAlertmanagerPayload (the counts dropped).
absl::StatusOr<std::vector<v1::Event>> ParseAlertmanagerWebhook(std::string_view body,
                                                                absl::Time now);

// The AlertObserved.type for an Alertmanager alert name: the name itself when
// projections::SignalForAlertType knows it (HighErrorRate, OOMKilled, ...); else the signal a
// well-known kube-prometheus name or a hint in the name gives (KubePodCrashLooping ->
// "crashloop_backoff", "APIErrorRateHigh" -> "error_rate", "CheckoutLatencyP99" -> "latency");
// else the name (which the core maps to the generic signal). Pure.
std::string AlertTypeForAlertname(std::string_view alertname);

// Counters of the receiver, readable while it serves (for /metrics).
struct WebhookStats {
  std::atomic<uint64_t> requests{0};          // every POST to the path
  std::atomic<uint64_t> rejected{0};          // 400, 401 and 413 answers
  std::atomic<uint64_t> alerts_appended{0};   // events the submit callback accepted
  std::atomic<uint64_t> resolved_skipped{0};  // resolved alerts seen
  std::atomic<uint64_t> submit_errors{0};     // submit callback failures (503 / 500 answers)
};

struct WebhookOptions {
  std::string path = kAlertmanagerWebhookPath;
  // When not empty, requests must carry `Authorization: Bearer <token>` (Alertmanager's
  // http_config.authorization, or bearer_token / bearer_token_file in older versions).
  std::string token;
  size_t max_body_bytes = size_t{4} * 1024 * 1024;  // larger bodies get 413
  // One of submit and submit_batch is required. `submit` appends one event and returns its
  // sequence (the runner's Submit): kUnavailable / kResourceExhausted mean "retry later" (the
  // receiver answers 503), kInvalidArgument 400, anything else 500. Called once per firing
  // alert, in payload order, from httplib's threads.
  std::function<absl::StatusOr<uint64_t>(v1::Event)> submit;
  // When set, used instead of `submit`: the payload's firing alerts in one call (the runner's
  // SubmitBatch: one group commit, all of them or none), their sequences in order.
  std::function<absl::StatusOr<std::vector<uint64_t>>(std::vector<v1::Event>)> submit_batch;
  // Required. Stamps the events' logical time. Must outlive the server.
  const common::Clock* clock = nullptr;
  // Optional. Must outlive the server.
  WebhookStats* stats = nullptr;
  // Optional. Each answer is reported (common/edge_health.h): a rejected request (a wrong token
  // as an error: the sender's configuration must change) or a failed append is a failure, a
  // 200 a success, so a sender that keeps failing is logged and exported. Must outlive the server.
  common::EdgeHealth* health = nullptr;
};

// Registers POST `options.path` on `server`. Answers (JSON bodies):
//   200 {"received":N,"firing":F,"resolved_skipped":R,"appended":A,"sequences":[...]}
//   400 {"error":"..."} for a malformed payload (nothing appended),
//   401 {"error":"..."} for a missing or wrong bearer token,
//   413 for a body over max_body_bytes,
//   503 {"error":...,"appended":A} when submit is kUnavailable or kResourceExhausted (with
//       `submit`, the alerts before the failure were appended; with `submit_batch`, none was;
//       Alertmanager retries the whole group and the core deduplicates the repeats), with
//       Retry-After: 5,
//   500 for any other submit error.
// `server` must not be running yet (httplib registers handlers before listen).
void RegisterAlertmanagerWebhook(httplib::Server& server, const WebhookOptions& options);

// Transport settings for the HTTP server that receives webhooks: TCP_NODELAY (httplib writes a
// response's headers and body separately; without it Nagle holds the body until the client's
// delayed ACK, 40 ms per call); keep-alive connections reused for up to
// kWebhookKeepAliveRequests requests (httplib closes one after 5 by default, so a busy sender
// reconnects hundreds of times a second against a listen backlog of 5, and a connection attempt
// dropped there waits for TCP's 1 s SYN retry); and kWebhookServerThreads worker threads, since
// each open connection holds one.
inline constexpr size_t kWebhookKeepAliveRequests = 1000;
inline constexpr size_t kWebhookServerThreads = 32;
void ConfigureWebhookServer(httplib::Server& server);

}  // namespace aiops::ingest
