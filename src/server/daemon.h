// `aiops run`: the operator daemon (DESIGN.md §2, §9). It wires the edges, the runner and the
// effectors around the RocksDB event log:
//   always:          HTTP /healthz, /readyz, /metrics; the Kubernetes client; leader election
//   while leading:   the log (read-write), the runner, the native detectors, the Runbook and
//                    approval inputs, the effectors (context, analysis, actions, rollback,
//                    verification, deadlines), the CR mirror, the gRPC services
// Leadership lost means another replica may already write: everything stops at once and the
// process exits (the pod restarts as a stand-by), as controller-runtime operators do.
#pragma once

#include <atomic>
#include <memory>
#include <ostream>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>

#include "common/clock.h"
#include "common/edge_health.h"
#include "eventlog/rocks_event_log.h"
#include "k8s_sync/actuator.h"
#include "k8s_sync/cluster_inputs.h"
#include "k8s_sync/detector_runner.h"
#include "k8s_sync/instance_reconciler.h"
#include "k8s_sync/kube_client.h"
#include "k8s_sync/leader_election.h"
#include "k8s_sync/mirror.h"
#include "server/analysis/analyzer.h"
#include "server/api/service.h"
#include "server/daemon_config.h"
#include "server/effectors.h"
#include "server/flags.h"
#include "server/ingest/alert_buffer.h"
#include "server/ingest/alertmanager_webhook.h"
#include "server/ingest/chatcli_bridge.h"
#include "server/ingest/chatcli_service.h"
#include "server/metrics.h"
#include "server/runner.h"

namespace httplib {
class Server;
}
namespace grpc {
class Server;
}

namespace aiops::server {

class Daemon {
 public:
  // `clock` must outlive the daemon.
  Daemon(DaemonConfig config, common::Clock& clock);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  Daemon(Daemon&&) = delete;
  Daemon& operator=(Daemon&&) = delete;

  // Connects to Kubernetes, serves HTTP and starts leader election (or leads at once when it
  // is disabled). Errors name what could not start (bad kubeconfig, port in use, ...).
  absl::Status Start();
  // Graceful: stops the edges, lets the runner commit what it acknowledged, releases the Lease.
  void Stop();
  // Set when leadership was lost, a leading component could not start or the runner failed for
  // good: the process must exit (and a restart recovers by replay).
  bool Failed() const { return failed_.load(); }
  bool Leading() const;
  // The bound ports (after Start).
  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  Metrics& metrics() { return metrics_; }

 private:
  void StartLeading();
  void StopLeading();
  // CheckLogNotBehindCluster, retried while the API server does not answer (up to 10 s).
  absl::Status CheckLogAgainstCluster(uint64_t last_sequence);
  absl::Status StartLeadingComponents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lead_mu_);
  void StopLeadingComponents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lead_mu_);
  absl::StatusOr<std::unique_ptr<analysis::Analyzer>> MakeAnalyzer();
  absl::Status StartHttp();
  absl::Status StartGrpc() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lead_mu_);
  // Submits an input to the runner while leading; kUnavailable otherwise (edges that outlive
  // leadership, like the webhook, answer "retry later").
  absl::StatusOr<std::vector<uint64_t>> SubmitWhileLeading(std::vector<v1::Event> events);
  void DeclareMetrics();
  void MirrorLoop();
  void MetricsLoop();
  void RefreshGauges();
  std::string ReadyReason() const;

  DaemonConfig config_;
  common::Clock& clock_;
  Metrics metrics_;
  std::atomic<bool> failed_{false};
  std::string token_;           // bearer token of the gRPC services and the webhook ("" : none)
  ingest::AlertBuffer alerts_;  // recent alerts, served by ChatCLI GetAlerts
  ingest::WebhookStats webhook_stats_;
  common::EdgeHealth webhook_health_;  // what the senders of alerts to the webhook get
  std::atomic<bool> stopping_{false};

  std::unique_ptr<k8s_sync::KubeClient> client_;         // detectors, inputs, effectors, API
  std::unique_ptr<k8s_sync::KubeClient> lease_client_;   // leader election only
  std::unique_ptr<k8s_sync::KubeClient> mirror_client_;  // the CR mirror only
  std::unique_ptr<k8s_sync::KubeClient> events_client_;  // Kubernetes Events only
  std::unique_ptr<k8s_sync::LeaderElector> elector_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  int http_port_ = 0;
  int grpc_port_ = 0;

  // The leading components, started and stopped together under lead_mu_.
  mutable absl::Mutex lead_mu_;
  bool leading_ ABSL_GUARDED_BY(lead_mu_) = false;
  absl::Status lead_error_ ABSL_GUARDED_BY(lead_mu_);  // why StartLeading failed
  std::unique_ptr<eventlog::RocksEventLog> log_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<Runner> runner_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<analysis::Analyzer> analyzer_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<k8s_sync::Actuator> actuator_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<Effectors> effectors_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<k8s_sync::DetectorRunner> detectors_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<k8s_sync::ClusterInputs> inputs_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<k8s_sync::InstanceReconciler> instances_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<api::AiopsServiceImpl> api_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<ingest::ChatCliServiceImpl> chatcli_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<grpc::Server> grpc_ ABSL_GUARDED_BY(lead_mu_);
  std::unique_ptr<ingest::ChatCliBridge> bridge_ ABSL_GUARDED_BY(lead_mu_);
  std::thread mirror_thread_;
  std::thread metrics_thread_;
  std::atomic<bool> leading_threads_stop_{false};
  std::atomic<uint64_t> mirror_cursor_{0};
  std::atomic<int64_t> mirror_parked_{0};  // objects the mirror holds parked
  std::atomic<uint64_t> log_last_{0};
};

// The flags of `aiops run`: kInvalidArgument naming an unknown flag or a missing value.
absl::StatusOr<ParsedFlags> ParseRunFlags(std::span<const std::string_view> args);
// The configuration `aiops run` runs with: the file of --config, else the file named by
// $AIOPS_CONFIG, else the defaults; then the flags over it. kNotFound naming an unreadable file,
// kInvalidArgument naming the file and the key of a bad value, or the flag.
absl::StatusOr<DaemonConfig> RunConfigFromFlags(const ParsedFlags& flags);

// `aiops run [flags]`: runs the daemon until SIGTERM or SIGINT (exit 0) or until it fails
// (exit 1); exit 2 for a bad flag or configuration. Flags override the configuration file.
int RunDaemonCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace aiops::server
