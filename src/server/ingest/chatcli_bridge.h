// The ChatCLI GetAlerts bridge (DESIGN.md §2, §4 step 1; upstream WatcherBridge): polls a ChatCLI
// server's GetAlerts every `interval` (30 s by default, the first poll at Start), turns each
// WatcherAlert into an alert-observed event (source "watcher", producer "bridge", severity lower
// case, logical time from the injected clock) and hands it to `submit` (the runner's Submit; the
// core deduplicates). The channel is built from analysis::ChatCliOptions exactly as the
// ChatCLI analyzer's (TLS or plaintext, `authorization: Bearer <token>`, keepalive 30 s / 5 s,
// round robin, gRPC reconnect back-off). After a failed poll the channel is dropped, the server
// found again (the optional `resolve`), and the next poll waits an exponential back-off instead
// of the interval.
//
// The upstream server re-sends an alert on every poll while it stays in its watcher window. A
// re-sent alert identical in every field to one the previous poll already submitted is the same
// observation, not a new one, and is not submitted again (counted as unchanged) unless
// `resubmit_unchanged` is set; otherwise an alert still listed after its issue was resolved
// would open the issue again on the next poll. Thread-safe. Part of the server layer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <absl/base/thread_annotations.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <grpcpp/grpcpp.h>

#include "aiops/v1/events.pb.h"
#include "chatcli/v1/chatcli.grpc.pb.h"
#include "common/clock.h"
#include "common/edge_health.h"
#include "server/analysis/chatcli_analyzer.h"

namespace aiops::ingest {

inline constexpr char kWatcherSource[] = "watcher";  // AlertObserved.source
inline constexpr char kBridgeProducer[] = "bridge";  // Event.producer

struct ChatCliBridgeOptions {
  // Where and how to connect (target, TLS, token, keepalive, gRPC reconnect back-off). The
  // provider, model, deadline and token budget fields are not used here.
  analysis::ChatCliOptions chatcli;
  // Optional: finds the server before every (re)connection, e.g. the first ready Instance
  // through analysis::ChatCliOptionsFromInstance. When set, `chatcli` is ignored. An error
  // counts as a failed poll.
  std::function<absl::StatusOr<analysis::ChatCliOptions>()> resolve;
  absl::Duration interval = absl::Seconds(30);
  absl::Duration call_deadline = absl::Seconds(10);  // per GetAlerts call
  // After n consecutive failed polls the next one waits min(initial * 2^(n-1), max).
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  // GetAlertsRequest filters (upstream's operator sends none).
  std::string namespace_filter;
  std::string deployment_filter;
  bool resubmit_unchanged = false;
};

struct ChatCliBridgeCounters {
  uint64_t polls = 0;              // GetAlerts calls attempted
  uint64_t alerts = 0;             // alerts submitted and accepted by `submit`
  uint64_t errors = 0;             // failed polls plus rejected submits
  uint64_t reconnects = 0;         // channels built again after a failure
  uint64_t unchanged_skipped = 0;  // re-sent alerts not submitted again
  uint64_t consecutive_failures = 0;
  std::string last_error;  // "" after a clean poll
};

// The event for one WatcherAlert observed at `now`: type, message, object, namespace and
// deployment copied, severity lower case, timestamp_unix (the time of `now` when the alert has
// none), object_kind from a "Kind/Name" object, source "watcher", producer "bridge".
v1::Event EventFromWatcherAlert(const chatcli::v1::WatcherAlert& alert, absl::Time now);

class ChatCliBridge {
 public:
  using Submit = std::function<absl::StatusOr<uint64_t>(v1::Event)>;

  // `clock` must outlive the bridge; `submit` is called from the bridge's thread (or the caller
  // of PollOnce) once per alert.
  ChatCliBridge(ChatCliBridgeOptions options, const common::Clock& clock, Submit submit);
  ~ChatCliBridge();  // Stop()
  ChatCliBridge(const ChatCliBridge&) = delete;
  ChatCliBridge& operator=(const ChatCliBridge&) = delete;
  ChatCliBridge(ChatCliBridge&&) = delete;
  ChatCliBridge& operator=(ChatCliBridge&&) = delete;

  // Starts the polling thread: a poll now, then one per interval (back-off after failures).
  // Calling it twice is a no-op.
  void Start();
  // Stops the thread, cancelling a call in flight. Idempotent.
  void Stop();

  // One poll on the caller's thread (polls never overlap): the number of alerts submitted and
  // accepted, or the GetAlerts error (prefixed "chatcli bridge: GetAlerts from <target>").
  // Submit errors are counted and the alert retried at the next poll; they do not fail the poll.
  absl::StatusOr<int> PollOnce();

  ChatCliBridgeCounters counters() const;
  // Whether GetAlerts works (common/edge_health.h): failures are logged and exported.
  const common::EdgeHealth& health() const { return health_; }

 private:
  void Loop();
  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_);
  void Fail(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  const ChatCliBridgeOptions options_;
  const common::Clock& clock_;
  const Submit submit_;
  common::EdgeHealth health_;

  absl::Mutex poll_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one poll at a time
  std::string target_ ABSL_GUARDED_BY(poll_mu_);
  std::string token_ ABSL_GUARDED_BY(poll_mu_);
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(poll_mu_);
  std::unique_ptr<chatcli::v1::ChatCLIService::Stub> stub_ ABSL_GUARDED_BY(poll_mu_);
  bool connected_before_ ABSL_GUARDED_BY(poll_mu_) = false;
  // Identities of the alerts the previous poll submitted (or skipped as unchanged).
  std::set<std::string> last_seen_ ABSL_GUARDED_BY(poll_mu_);

  mutable absl::Mutex mu_;
  ChatCliBridgeCounters counters_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;  // started and joined by the owner's thread
};

}  // namespace aiops::ingest
