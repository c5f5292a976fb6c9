#include "server/daemon.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <httplib.h>

#include "common/fmt_absl.h"
#include "common/log.h"
#include "common/malloc_tuning.h"
#include "common/sha256.h"
#include "common/version.h"
#include "k8s_sync/instance_config.h"
#include "k8s_sync/kube_events.h"
#include "projections/pipeline_state.h"
#include "server/analysis/chatcli_analyzer.h"
#include "server/analysis/fallback_analyzer.h"
#include "server/analysis/http_llm_analyzer.h"
#include "server/analysis/rules_analyzer.h"
#include "server/api/grpc_server.h"
#include "server/cli.h"
#include "server/flags.h"
#include "server/json_log.h"
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

namespace aiops::server {
using common::LogFields;
using common::LogJson;
using common::LogLevel;
using common::ParseLogLevel;
using common::SetLogLevel;
namespace {

constexpr char kComponent[] = "daemon";

void Info(const std::string& message, const LogFields& fields = {}) {
  LogJson(LogLevel::kInfo, kComponent, message, fields);
}
void Warn(const std::string& message, const LogFields& fields = {}) {
  LogJson(LogLevel::kWarn, kComponent, message, fields);
}
void Error(const std::string& message, const LogFields& fields = {}) {
  LogJson(LogLevel::kError, kComponent, message, fields);
}

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// "host:port" -> host and port ("" host: every interface).
absl::Status SplitHostPort(const std::string& address, std::string& host, int& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        fmt::format("listen address \"{}\" is not host:port", address));
  }
  host = address.substr(0, colon);
  if (host.empty()) {
    host = "0.0.0.0";
  }
  const std::string p = address.substr(colon + 1);
  char* end = nullptr;
  const long value = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || value < 0 || value > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("listen address \"{}\" has an invalid port", address));
  }
  port = static_cast<int>(value);
  return absl::OkStatus();
}

std::string PayloadName(const v1::Event& event) {
  const google::protobuf::OneofDescriptor* oneof =
      v1::Event::descriptor()->FindOneofByName("payload");
  const google::protobuf::FieldDescriptor* field =
      oneof != nullptr ? event.GetReflection()->GetOneofFieldDescriptor(event, oneof) : nullptr;
  return field != nullptr ? field->name() : "unknown";
}

uint64_t DirectorySize(const std::string& path) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      total += size_ec ? 0 : size;
    }
  }
  return total;
}

std::string LeaderIdentity() {
  std::string base = Getenv("POD_NAME");
  if (base.empty()) {
    char host[256] = {};
    base = gethostname(host, sizeof(host) - 1) == 0 ? host : "aiops";
  }
  std::random_device random;
  return fmt::format("{}-{:08x}", base, random());
}

// What the analysis library needs from the Instance the Kubernetes edge looked up.
analysis::ChatCliOptions ChatCliOptionsFromEndpoint(const k8s_sync::InstanceEndpoint& e) {
  analysis::ChatCliInstance instance;
  instance.name = e.name;
  instance.namespace_name = e.namespace_name;
  instance.port = e.port;
  instance.tls_enabled = e.tls_enabled;
  instance.ca_pem = e.ca_pem;
  instance.token = e.token;
  instance.provider = e.provider;
  instance.model = e.model;
  return analysis::ChatCliOptionsFromInstance(instance);
}

// An analyzer whose configuration comes from a ChatCLI Instance in the cluster (its Service,
// TLS CA and token Secrets, or its API-key Secret): resolved at the first analysis and again
// after a failure, so an Instance that becomes ready later is picked up. While it cannot be
// resolved, analyses fail with kFailedPrecondition naming the reason (FallbackAnalyzer then
// answers with the built-in rules and records why).
class InstanceAnalyzer final : public analysis::Analyzer {
 public:
  using Factory = std::function<absl::StatusOr<std::unique_ptr<analysis::Analyzer>>()>;
  InstanceAnalyzer(std::string name, Factory factory)
      : name_(std::move(name)), factory_(std::move(factory)) {}

  absl::StatusOr<v1::AnalysisCompleted> Analyze(const analysis::AnalysisRequest& request) override {
    std::shared_ptr<analysis::Analyzer> inner;
    {
      absl::MutexLock lock(&mu_);
      if (inner_ == nullptr) {
        absl::StatusOr<std::unique_ptr<analysis::Analyzer>> made = factory_();
        if (!made.ok()) {
          return absl::FailedPreconditionError(
              fmt::format("cannot configure the {} analyzer: {}", name_, made.status().message()));
        }
        inner_ = std::shared_ptr<analysis::Analyzer>(*std::move(made));
      }
      inner = inner_;
    }
    absl::StatusOr<v1::AnalysisCompleted> result = inner->Analyze(request);
    if (!result.ok() && (result.status().code() == absl::StatusCode::kUnavailable ||
                         result.status().code() == absl::StatusCode::kUnauthenticated ||
                         result.status().code() == absl::StatusCode::kPermissionDenied)) {
      absl::MutexLock lock(&mu_);
      inner_.reset();  // the Instance may have moved or rotated its Secrets: resolve again
    }
    return result;
  }
  std::string_view Name() const override { return name_; }

 private:
  const std::string name_;
  const Factory factory_;
  absl::Mutex mu_;
  std::shared_ptr<analysis::Analyzer> inner_ ABSL_GUARDED_BY(mu_);
};

// How long a new leader waits for RocksDB's lock on the log. The elector runs StartLeading on its
// own thread and renews the Lease only after it returns, so the wait must end well before the
// lease duration (15 s) minus the retry period (2 s): 10 s, the renew deadline.
constexpr absl::Duration kLogLockWait = absl::Seconds(10);

// Opens the log read-write. The Lease may pass to this process while the former leader still
// holds RocksDB's lock on the log: it is closing it after losing the Lease, or it is partitioned
// and has not noticed yet (the lock is then what keeps two writers apart). RocksEventLog::Open
// reports that as kUnavailable; the open is retried until `kLogLockWait` has passed, then the
// error (naming the lock) is returned and the process exits, releasing the Lease.
absl::StatusOr<std::unique_ptr<eventlog::RocksEventLog>> OpenLogWaitingForLock(
    const std::string& data_dir, const std::atomic<bool>& stopping) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        fmt::format("cannot create the data directory {}: {}", data_dir, ec.message()));
  }
  eventlog::RocksLogOptions options;
  options.path = data_dir + "/log";
  const absl::Time give_up = absl::Now() + kLogLockWait;
  for (;;) {
    absl::StatusOr<std::unique_ptr<eventlog::RocksEventLog>> log =
        eventlog::RocksEventLog::Open(options);
    if (log.ok() || log.status().code() != absl::StatusCode::kUnavailable ||
        absl::Now() >= give_up || stopping.load()) {
      return log;
    }
    Warn(fmt::format("cannot open the log yet, retrying for up to {}: {}",
                     absl::FormatDuration(give_up - absl::Now()), log.status()));
    for (int i = 0; i < 10 && !stopping.load(); ++i) {
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
}

}  // namespace

Daemon::Daemon(DaemonConfig config, common::Clock& clock)
    : config_(std::move(config)),
      clock_(clock),
      alerts_(clock),
      webhook_health_("alertmanager-webhook",
                      common::EdgeHealth::Options{.component = "webhook", .clock = &clock}) {
  DeclareMetrics();
}

Daemon::~Daemon() { Stop(); }

void Daemon::DeclareMetrics() {
  metrics_.DeclareCounter("aiops_events_appended_total",
                          "Events appended to the log since this process started, by type.");
  metrics_.DeclareCounter("aiops_actions_total", "Remediation actions by type and result.");
  metrics_.DeclareHistogram("aiops_analyzer_latency_seconds",
                            "Latency of completed analyses, by provider.",
                            {0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120});
  metrics_.DeclareCounter("aiops_kube_api_requests_total",
                          "Kubernetes API requests by verb and HTTP code (0: no response).");
  metrics_.DeclareGauge("aiops_incidents", "Issues in the projected state, by state.");
  metrics_.DeclareGauge("aiops_mirror_lag_events",
                        "Events in the log not yet mirrored to custom resources.");
  metrics_.DeclareGauge("aiops_mirror_parked_objects",
                        "Custom resources the API server refused for a reason retrying cannot fix "
                        "(parked: the writes behind them go on).");
  metrics_.DeclareGauge("aiops_log_last_sequence", "The last sequence of the event log.");
  metrics_.DeclareGauge("aiops_log_size_bytes", "Bytes of the event log on disk.");
  metrics_.DeclareGauge("aiops_leader", "1 while this process leads (writes the log and acts).");
  metrics_.DeclareGauge("aiops_build_info", "Version of this binary.");
  metrics_.DeclareGauge("aiops_edge_failing",
                        "1 while an edge (API server client, watch, Lease, GetAlerts bridge, "
                        "analyzer, webhook, mirror) fails, by edge.");
  metrics_.DeclareGauge("aiops_edge_failures",
                        "Failures of each edge since the component started (a gauge: a "
                        "component restarted with the leadership starts again from 0).");
  metrics_.Set("aiops_build_info", {{"version", std::string(common::Version())}}, 1);
}

absl::Status Daemon::Start() {
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(config_.log_level, level);
  SetLogLevel(level);
  if (!config_.auth_token_file.empty()) {
    absl::StatusOr<std::string> token = api::ReadTokenFile(config_.auth_token_file);
    if (!token.ok()) {
      return absl::FailedPreconditionError(
          fmt::format("authTokenFile: {}", token.status().message()));
    }
    token_ = *std::move(token);
  } else if (!config_.grpc_listen.empty()) {
    Warn("no authTokenFile: the gRPC API and the webhook accept unauthenticated calls");
  }
  if (!common::MallocHugePagesRequested()) {
    Info(fmt::format(
        "malloc on 4 KiB pages: GLIBC_TUNABLES={} (set in the operator's image) puts the "
        "pipeline state on transparent huge pages, 1.15-1.6x faster under alert storms in our "
        "measurements; see docs/operations.md",
        common::kMallocHugePagesTunable));
  }
  absl::StatusOr<k8s_sync::KubeConfig> kube = config_.kubeconfig.empty()
                                                  ? k8s_sync::DefaultKubeConfig()
                                                  : k8s_sync::LoadKubeConfig({config_.kubeconfig});
  if (!kube.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("cannot configure the Kubernetes client: {}", kube.status()));
  }
  k8s_sync::KubeClientOptions options;
  options.on_response = [this](const std::string& verb, int status) {
    metrics_.Add("aiops_kube_api_requests_total",
                 {{"verb", verb}, {"code", std::to_string(status)}});
  };
  // Four clients, each with its own rate limit and connection: the Lease renewal and the
  // effectors' reads and writes must not queue behind the mirror (or the Kubernetes Events), which
  // after a storm has thousands of CRs to write at the client's QPS. Rate limits from the
  // configuration's kubeClient (the Lease client keeps the defaults: a renewal every few seconds).
  k8s_sync::KubeClientOptions main_options = options;
  main_options.qps = config_.kube_client.qps;
  main_options.burst = static_cast<int>(config_.kube_client.burst);
  k8s_sync::KubeClientOptions mirror_options = options;
  mirror_options.qps = config_.kube_client.mirror_qps;
  mirror_options.burst = static_cast<int>(config_.kube_client.mirror_burst);
  k8s_sync::KubeClientOptions lease_options = options;
  // Kubernetes Events: a few per incident, behind nothing else (client-go's recorder has its
  // own limits too).
  k8s_sync::KubeClientOptions events_options = options;
  events_options.qps = 5;
  events_options.burst = 25;
  main_options.edge_name = "apiserver";
  lease_options.edge_name = "apiserver (lease client)";
  mirror_options.edge_name = "apiserver (mirror client)";
  events_options.edge_name = "apiserver (events client)";
  for (const auto& [slot, slot_options] :
       {std::pair{&client_, &main_options}, std::pair{&lease_client_, &lease_options},
        std::pair{&mirror_client_, &mirror_options}, std::pair{&events_client_, &events_options}}) {
    absl::StatusOr<std::unique_ptr<k8s_sync::KubeClient>> client =
        k8s_sync::KubeClient::Create(*kube, *slot_options);
    if (!client.ok()) {
      return client.status();
    }
    *slot = *std::move(client);
  }
  if (absl::Status s = StartHttp(); !s.ok()) {
    return s;
  }
  Info("started", {{"version", std::string(common::Version())},
                   {"cluster", config_.cluster_id},
                   {"server", kube->server},
                   {"http", std::to_string(http_port_)}});
  if (!config_.leader_election.enabled) {
    StartLeading();
    if (!failed_.load()) {
      return absl::OkStatus();
    }
    // Why, as StartLeading found it (a locked or damaged log, a log behind the cluster, ...).
    absl::MutexLock lock(&lead_mu_);
    return lead_error_.ok() ? absl::InternalError("the leading components did not start")
                            : absl::Status(lead_error_.code(),
                                           fmt::format("cannot lead: {}", lead_error_.message()));
  }
  k8s_sync::LeaderElector::Options le;
  le.namespace_name =
      !config_.leader_election.namespace_name.empty()
          ? config_.leader_election.namespace_name
          : (!Getenv("POD_NAMESPACE").empty() ? Getenv("POD_NAMESPACE") : "default");
  le.lease_name = config_.leader_election.lease_name;
  le.identity = LeaderIdentity();
  le.clock = &clock_;
  Info("waiting for leadership",
       {{"lease", le.namespace_name + "/" + le.lease_name}, {"identity", le.identity}});
  elector_ = std::make_unique<k8s_sync::LeaderElector>(
      *lease_client_, le,
      k8s_sync::LeaderElector::Callbacks{[this] { StartLeading(); }, [this] { StopLeading(); }});
  elector_->Start();
  return absl::OkStatus();
}

void Daemon::Stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  Info("stopping");
  {
    absl::MutexLock lock(&lead_mu_);
    StopLeadingComponents();
  }
  if (elector_ != nullptr) {
    elector_->Stop();  // releases the Lease: a successor need not wait for it to expire
  }
  if (http_ != nullptr) {
    http_->stop();
  }
  if (http_thread_.joinable()) {
    http_thread_.join();
  }
  Info("stopped");
}

bool Daemon::Leading() const {
  absl::MutexLock lock(&lead_mu_);
  return leading_;
}

void Daemon::StartLeading() {
  {
    absl::MutexLock lock(&lead_mu_);
    if (stopping_.load() || leading_) {
      return;
    }
  }
  Info("leading: opening the log and starting the pipeline");
  // Without lead_mu_: /readyz and Stop() must not wait while the former leader holds the lock.
  absl::StatusOr<std::unique_ptr<eventlog::RocksEventLog>> log =
      OpenLogWaitingForLock(config_.data_dir, stopping_);
  if (log.ok()) {
    // A log behind what the cluster shows it wrote is not acted on: its decisions would repeat
    // or contradict what was done (#21).
    if (absl::Status s = CheckLogAgainstCluster((*log)->LastSequence()); !s.ok()) {
      log = s;
    }
  }
  absl::MutexLock lock(&lead_mu_);
  if (stopping_.load() || leading_) {
    return;  // an opened log closes here
  }
  absl::Status s = log.status();
  if (s.ok()) {
    log_ = *std::move(log);
    s = StartLeadingComponents();
  }
  if (!s.ok()) {
    Error(fmt::format("cannot lead: {}", s));
    StopLeadingComponents();
    lead_error_ = s;
    failed_.store(true);
  }
}

void Daemon::StopLeading() {
  if (stopping_.load()) {
    return;  // Stop() released the Lease itself
  }
  Error("leadership lost: stopping at once (the process exits; another replica leads)");
  absl::MutexLock lock(&lead_mu_);
  StopLeadingComponents();
  failed_.store(true);
}

absl::Status Daemon::CheckLogAgainstCluster(uint64_t last_sequence) {
  // An API server that does not answer yet is waited for as long as the log's lock is (the
  // Lease is renewed only once StartLeading returns); a log that is behind is refused at once.
  const absl::Time give_up = absl::Now() + kLogLockWait;
  for (;;) {
    const absl::Status s =
        k8s_sync::CheckLogNotBehindCluster(*client_, config_.cluster_id, last_sequence);
    if (s.ok() || absl::IsFailedPrecondition(s) || absl::Now() >= give_up || stopping_.load()) {
      return s;
    }
    Warn(fmt::format("cannot check the log against the cluster yet, retrying: {}", s));
    absl::SleepFor(absl::Seconds(1));
  }
}

absl::Status Daemon::StartLeadingComponents() {
  // log_ was opened (and checked against the cluster) by StartLeading.
  Runner::Options runner_options;
  runner_options.on_failure = [this](const absl::Status& s) {
    Error(fmt::format("pipeline failed: {} (the process exits)", s));
    failed_.store(true);
  };
  absl::StatusOr<std::unique_ptr<Runner>> runner = Runner::Start(*log_, runner_options);
  if (!runner.ok()) {
    return runner.status();
  }
  runner_ = *std::move(runner);
  Info("log open", {{"path", config_.data_dir + "/log"},
                    {"last_sequence", std::to_string(log_->LastSequence())}});

  // The file is authoritative for the pipeline: a difference from the projected configuration
  // is recorded, so replay decides with what the operator decided with.
  std::string current;
  runner_->ReadState(
      [&](const projections::PipelineState& state) { current = state.config.SerializeAsString(); });
  if (current != config_.pipeline.SerializeAsString()) {
    v1::Event changed;
    v1::ConfigChanged* c = changed.mutable_config_changed();
    c->set_source("file");
    c->set_config_json(config_.pipeline_json);
    c->set_config_sha256(common::Sha256Hex(config_.pipeline_json));
    *c->mutable_config() = config_.pipeline;
    changed.set_logical_time_ms(clock_.NowUnixMs());
    changed.set_producer("config");
    changed.set_cluster_id(config_.cluster_id);
    absl::StatusOr<uint64_t> seq = runner_->Submit(std::move(changed));
    if (!seq.ok()) {
      return seq.status();
    }
    Info("pipeline configuration recorded", {{"sequence", std::to_string(*seq)}});
  }

  absl::StatusOr<std::unique_ptr<analysis::Analyzer>> analyzer = MakeAnalyzer();
  if (!analyzer.ok()) {
    return analyzer.status();
  }
  analyzer_ = *std::move(analyzer);
  actuator_ = std::make_unique<k8s_sync::Actuator>(*client_, clock_);
  Runner* runner_ptr = runner_.get();
  auto submit = [runner_ptr](v1::Event e) { return runner_ptr->Submit(std::move(e)); };

  Effectors::Deps deps;
  deps.runner = runner_ptr;
  deps.log = log_.get();
  deps.client = client_.get();
  deps.actuator = actuator_.get();
  deps.analyzer = analyzer_.get();
  deps.clock = &clock_;
  deps.cluster_id = config_.cluster_id;
  Effectors::Options effector_options;
  effector_options.failpoint = Getenv("AIOPS_FAILPOINT");
  if (!effector_options.failpoint.empty()) {
    Warn(fmt::format("failpoint {} is armed (tests only)", effector_options.failpoint));
  }
  effectors_ = std::make_unique<Effectors>(deps, effector_options);
  effectors_->Start();

  detectors_ = std::make_unique<k8s_sync::DetectorRunner>(
      *client_, clock_, config_.watcher,
      ingest::AlertBuffer::Recording(alerts_, submit));  // served by GetAlerts
  detectors_->Start();
  // With the committed state, approvals are taken only for plans that wait for one and Runbooks
  // the state already holds are not observed again, so a restart appends neither again.
  inputs_ = std::make_unique<k8s_sync::ClusterInputs>(
      *client_, clock_, submit, [](const std::string& message) { Warn(message); },
      [runner_ptr](const std::function<void(const projections::PipelineState&)>& read) {
        runner_ptr->ReadState(read);
      });
  inputs_->Start();
  if (config_.reconcile_instances) {
    k8s_sync::InstanceReconciler::Options options;
    options.clock = &clock_;
    options.default_image_tag = "latest";
    options.on_error = [](const std::string& key, const absl::Status& status,
                          absl::Duration retry_in) {
      LogJson(LogLevel::kWarn, "instances",
              fmt::format("reconcile of {} failed (retrying in {}): {}", key,
                          absl::FormatDuration(retry_in), status));
    };
    instances_ = std::make_unique<k8s_sync::InstanceReconciler>(*client_, options, submit);
    instances_->Start();
  }

  if (!config_.chatcli_bridge.target.empty()) {
    const DaemonConfig::Bridge& b = config_.chatcli_bridge;
    absl::StatusOr<analysis::ChatCliOptions> connection =
        ChatCliConnection(b.target, b.tls, b.ca_file, b.token_file, kBridgeChatCliKeys);
    if (!connection.ok()) {
      return connection.status();
    }
    ingest::ChatCliBridgeOptions bridge;
    bridge.chatcli = *std::move(connection);
    bridge.interval = config_.chatcli_bridge.interval;
    bridge_ = std::make_unique<ingest::ChatCliBridge>(bridge, clock_, submit);
    bridge_->Start();
  } else if (!config_.chatcli_bridge.instance.empty()) {
    ingest::ChatCliBridgeOptions bridge;
    bridge.interval = config_.chatcli_bridge.interval;
    k8s_sync::KubeClient& client = *client_;
    const std::string ref = config_.chatcli_bridge.instance;
    bridge.resolve = [&client, ref]() -> absl::StatusOr<analysis::ChatCliOptions> {
      absl::StatusOr<k8s_sync::InstanceEndpoint> e = k8s_sync::LookupInstanceEndpoint(client, ref);
      if (!e.ok()) {
        return e.status();
      }
      return ChatCliOptionsFromEndpoint(*e);
    };
    bridge_ = std::make_unique<ingest::ChatCliBridge>(bridge, clock_, submit);
    bridge_->Start();
  }
  if (absl::Status s = StartGrpc(); !s.ok()) {
    return s;
  }

  leading_threads_stop_.store(false);
  mirror_thread_ = std::thread([this] { MirrorLoop(); });
  metrics_thread_ = std::thread([this] { MetricsLoop(); });
  leading_ = true;
  metrics_.Set("aiops_leader", {}, 1);
  Info("pipeline running", {{"analyzer", std::string(analyzer_->Name())}});
  return absl::OkStatus();
}

void Daemon::StopLeadingComponents() {
  const bool was_leading = leading_;
  leading_ = false;
  metrics_.Set("aiops_leader", {}, 0);
  // Edges first (no new inputs), then the effectors (in-flight results are still committed),
  // then the followers, then the writer, then the log.
  if (api_ != nullptr) {
    api_->BeginShutdown();  // ends TailEvents streams
  }
  if (grpc_ != nullptr) {
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc_.reset();
  }
  api_.reset();
  chatcli_.reset();
  if (bridge_ != nullptr) {
    bridge_->Stop();
    bridge_.reset();
  }
  if (detectors_ != nullptr) {
    detectors_->Stop();
  }
  if (inputs_ != nullptr) {
    inputs_->Stop();
  }
  if (instances_ != nullptr) {
    instances_->Stop();
  }
  if (effectors_ != nullptr) {
    effectors_->Stop();
  }
  leading_threads_stop_.store(true);
  if (mirror_thread_.joinable()) {
    mirror_thread_.join();
  }
  if (metrics_thread_.joinable()) {
    metrics_thread_.join();
  }
  if (runner_ != nullptr) {
    runner_->Stop();
  }
  effectors_.reset();
  detectors_.reset();
  inputs_.reset();
  instances_.reset();
  runner_.reset();
  actuator_.reset();
  analyzer_.reset();
  log_.reset();
  if (was_leading) {
    Info("pipeline stopped, log closed");
  }
}

absl::StatusOr<std::unique_ptr<analysis::Analyzer>> Daemon::MakeAnalyzer() {
  const DaemonConfig::Analyzer a = config_.analyzer;
  auto builtin = std::make_unique<analysis::RulesAnalyzer>();
  if (a.provider == "builtin") {
    return std::unique_ptr<analysis::Analyzer>(std::move(builtin));
  }
  common::Clock& clock = clock_;
  k8s_sync::KubeClient& client = *client_;
  std::unique_ptr<analysis::Analyzer> primary;
  if (a.provider == "anthropic" || a.provider == "openai") {
    auto make = [a, &clock, &client]() -> absl::StatusOr<std::unique_ptr<analysis::Analyzer>> {
      analysis::HttpLlmOptions options;
      options.base_url = a.base_url;
      options.model = a.model;
      options.token_budget_per_incident = a.token_budget_per_incident;
      if (!a.instance.empty()) {  // the key from the Instance's spec.apiKeys Secret
        const size_t slash = a.instance.find('/');
        absl::StatusOr<std::map<std::string, std::string>> keys = k8s_sync::LookupInstanceApiKeys(
            client, a.instance.substr(0, slash), a.instance.substr(slash + 1));
        if (!keys.ok()) {
          return keys.status();
        }
        const char* name =
            a.provider == "anthropic" ? k8s_sync::kAnthropicApiKey : k8s_sync::kOpenAiApiKey;
        auto it = keys->find(name);
        if (it == keys->end()) {
          return absl::NotFoundError(
              fmt::format("the API-key Secret of Instance {} has no {}", a.instance, name));
        }
        options.api_key = it->second;
      }
      if (a.provider == "anthropic") {
        return std::unique_ptr<analysis::Analyzer>(
            std::make_unique<analysis::AnthropicAnalyzer>(options, clock));
      }
      return std::unique_ptr<analysis::Analyzer>(
          std::make_unique<analysis::OpenAiAnalyzer>(options, clock));
    };
    if (a.instance.empty()) {
      absl::StatusOr<std::unique_ptr<analysis::Analyzer>> made = make();
      if (!made.ok()) {
        return made.status();
      }
      primary = *std::move(made);
    } else {
      primary = std::make_unique<InstanceAnalyzer>(a.provider, make);
    }
  } else {  // chatcli
    // An explicit target's CA and token files are read once, now: a bad file stops the start
    // with an error naming its key instead of failing every analysis later.
    analysis::ChatCliOptions explicit_options;
    if (!a.chatcli_target.empty()) {
      absl::StatusOr<analysis::ChatCliOptions> connection =
          ChatCliConnection(a.chatcli_target, a.chatcli_tls, a.chatcli_ca_file,
                            a.chatcli_token_file, kAnalyzerChatCliKeys);
      if (!connection.ok()) {
        return connection.status();
      }
      explicit_options = *std::move(connection);
    }
    auto make = [a, explicit_options, &clock,
                 &client]() -> absl::StatusOr<std::unique_ptr<analysis::Analyzer>> {
      analysis::ChatCliOptions options;
      if (!a.chatcli_target.empty()) {
        options = explicit_options;
      } else {
        absl::StatusOr<k8s_sync::InstanceEndpoint> endpoint =
            k8s_sync::LookupInstanceEndpoint(client, a.instance);
        if (!endpoint.ok()) {
          return endpoint.status();
        }
        options = ChatCliOptionsFromEndpoint(*endpoint);
      }
      if (!a.model.empty()) {
        options.model = a.model;
      }
      options.token_budget_per_incident = a.token_budget_per_incident;
      return std::unique_ptr<analysis::Analyzer>(
          std::make_unique<analysis::ChatCliAnalyzer>(options, clock));
    };
    primary = std::make_unique<InstanceAnalyzer>("chatcli", make);
  }
  // Any failure of the configured analyzer falls back to the built-in rules (recorded as such).
  return std::unique_ptr<analysis::Analyzer>(
      std::make_unique<analysis::FallbackAnalyzer>(std::move(primary), std::move(builtin), clock_));
}

absl::Status Daemon::StartGrpc() {
  if (config_.grpc_listen.empty()) {
    return absl::OkStatus();
  }
  api::ApiDeps deps;
  deps.log = log_.get();
  Runner* runner = runner_.get();
  deps.submit = [runner](v1::Event e) { return runner->Submit(std::move(e)); };
  deps.submit_batch = [runner](std::vector<v1::Event> events) {
    return runner->SubmitBatch(std::move(events));
  };
  deps.read_state = [runner](const std::function<void(const projections::PipelineState&)>& read) {
    runner->ReadState(read);
  };
  deps.clock = &clock_;
  deps.cluster_id = config_.cluster_id;
  api_ = std::make_unique<api::AiopsServiceImpl>(std::move(deps));
  ingest::ChatCliServiceOptions chatcli;
  chatcli.token = token_;
  chatcli_ = std::make_unique<ingest::ChatCliServiceImpl>(alerts_, *analyzer_, chatcli);
  api::GrpcServerOptions options;
  options.listen_address = config_.grpc_listen;
  options.token = token_;
  options.tls_cert_file = config_.tls_cert_file;
  options.tls_key_file = config_.tls_key_file;
  absl::StatusOr<api::StartedGrpcServer> started =
      api::StartGrpcServer(options, {api_.get(), chatcli_.get()});
  if (!started.ok()) {
    return started.status();
  }
  grpc_ = std::move(started->server);
  grpc_port_ = started->port;
  Info("gRPC serving", {{"address", config_.grpc_listen},
                        {"port", std::to_string(grpc_port_)},
                        {"auth", token_.empty() ? "none" : "bearer"}});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> Daemon::SubmitWhileLeading(std::vector<v1::Event> events) {
  absl::ReaderMutexLock lock(&lead_mu_);
  if (!leading_ || runner_ == nullptr) {
    return absl::UnavailableError("this replica does not lead: retry later");
  }
  return runner_->SubmitBatch(std::move(events));
}

absl::Status Daemon::StartHttp() {
  if (config_.http_listen.empty()) {
    return absl::OkStatus();
  }
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(config_.http_listen, host, port); !s.ok()) {
    return s;
  }
  http_ = std::make_unique<httplib::Server>();
  ingest::ConfigureWebhookServer(*http_);
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const std::string reason = ReadyReason();
    res.status = reason.empty() ? 200 : 503;
    res.set_content(reason.empty() ? "ready\n" : reason + "\n", "text/plain");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    RefreshGauges();
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4");
  });
  ingest::WebhookOptions webhook;
  webhook.token = token_;
  webhook.clock = &clock_;
  webhook.stats = &webhook_stats_;
  webhook.health = &webhook_health_;
  // Only the native detectors feed GetAlerts: serving alerts that came from another ChatCLI
  // server (or Alertmanager) back out could make two servers poll each other in a loop.
  webhook.submit_batch = [this](std::vector<v1::Event> events) {
    return SubmitWhileLeading(std::move(events));
  };
  ingest::RegisterAlertmanagerWebhook(*http_, webhook);
  port = port == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, port) ? port : -1);
  if (port <= 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen for HTTP on {} (address in use?)", config_.http_listen));
  }
  http_port_ = port;
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  return absl::OkStatus();
}

std::string Daemon::ReadyReason() const {
  if (failed_.load()) {
    return "not ready: leadership lost or the pipeline failed";
  }
  absl::MutexLock lock(&lead_mu_);
  if (!leading_) {
    return "not ready: waiting for leadership (stand-by)";
  }
  if (log_ == nullptr) {
    return "not ready: the log is not open";
  }
  // A leader that cannot reach the API server can neither see failures nor act on them.
  for (const k8s_sync::KubeClient* client : {client_.get(), lease_client_.get()}) {
    if (client == nullptr || !client->health().failing()) {
      continue;
    }
    const common::EdgeHealth::Snapshot s = client->health().snapshot();
    return fmt::format("not ready: {} fails since {}: {}", s.name,
                       absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", s.failing_since, absl::UTCTimeZone()),
                       s.last_error);
  }
  return "";
}

void Daemon::RefreshGauges() {
  // Edges by name; two with one name (none today) add up.
  std::map<std::string, std::pair<double, double>> edges;
  for (const common::EdgeHealth::Snapshot& s : common::EdgeHealth::All()) {
    auto& [failing, failures] = edges[s.name];
    failing = std::max(failing, s.failing ? 1.0 : 0.0);
    failures += static_cast<double>(s.failures);
  }
  std::vector<std::pair<MetricLabels, double>> failing_series;
  std::vector<std::pair<MetricLabels, double>> failure_series;
  for (const auto& [name, values] : edges) {
    failing_series.push_back({{{"edge", name}}, values.first});
    failure_series.push_back({{{"edge", name}}, values.second});
  }
  metrics_.SetAll("aiops_edge_failing", failing_series);
  metrics_.SetAll("aiops_edge_failures", failure_series);

  absl::MutexLock lock(&lead_mu_);
  if (!leading_ || runner_ == nullptr) {
    return;
  }
  std::map<std::string, double> by_state = {{projections::kDetected, 0},
                                            {projections::kAnalyzing, 0},
                                            {projections::kRemediating, 0},
                                            {projections::kResolved, 0},
                                            {projections::kEscalated, 0}};
  runner_->ReadState([&](const projections::PipelineState& state) {
    for (const auto& [name, issue] : state.issues) {
      by_state[issue.state()] += 1;
    }
  });
  std::vector<std::pair<MetricLabels, double>> series;
  for (const auto& [state, count] : by_state) {
    series.push_back({{{"state", state}}, count});
  }
  metrics_.SetAll("aiops_incidents", series);
  const uint64_t last = log_->LastSequence();
  metrics_.Set("aiops_log_last_sequence", {}, static_cast<double>(last));
  const uint64_t cursor = mirror_cursor_.load();
  metrics_.Set("aiops_mirror_lag_events", {},
               static_cast<double>(last > cursor ? last - cursor : 0));
  metrics_.Set("aiops_mirror_parked_objects", {}, static_cast<double>(mirror_parked_.load()));
  metrics_.Set("aiops_log_size_bytes", {},
               static_cast<double>(DirectorySize(config_.data_dir + "/log")));
}

void Daemon::MirrorLoop() {
  eventlog::EventLog* log = nullptr;
  Runner* runner = nullptr;  // outlives this thread (joined before the runner stops)
  {
    absl::MutexLock lock(&lead_mu_);
    log = log_.get();
    runner = runner_.get();
  }
  k8s_sync::Mirror::Options options;
  options.retention = config_.mirror_retention;
  options.clock = &clock_;
  options.stop = &leading_threads_stop_;
  // Kubernetes Events for what the mirror has just written (issue states, action and
  // verification results on plans and workloads), on a client of their own: never blocking.
  k8s_sync::KubeEventSink events(*events_client_, k8s_sync::KubeEventSink::Options{});
  events.Start();
  options.on_written = [this, &events](const v1::Event& e,
                                       const projections::PipelineState& state) {
    for (k8s_sync::KubeEvent& k : k8s_sync::KubeEventsFor(e, state, clock_.Now())) {
      events.Post(std::move(k));
    }
  };
  options.on_parked = [this, runner, &events](const std::string& object,
                                              const absl::Status& error) {
    if (error.ok()) {
      Info("mirror: a parked object was written", {{"object", object}});
      return;
    }
    // Once per object and error: a refusal that retrying cannot fix (the objects behind it are
    // written; it is tried again when its state changes, or in 10 minutes). Said in the
    // operator's log, in the event log (for audit and replay) and as a Kubernetes Event.
    LogJson(LogLevel::kWarn, "mirror",
            fmt::format("{} parked: the API server refused it: {} (the writes behind it go on; it "
                        "is written again when it changes, or retried in 10 min)",
                        object, error));
    v1::Event parked;
    parked.set_logical_time_ms(clock_.NowUnixMs());
    parked.set_producer("mirror");
    parked.set_cluster_id(config_.cluster_id);
    parked.mutable_mirror_object_parked()->set_object(object);
    parked.mutable_mirror_object_parked()->set_error(std::string(error.message()));
    if (absl::StatusOr<uint64_t> seq = runner->Submit(std::move(parked)); !seq.ok()) {
      Warn(fmt::format("cannot record that {} was parked: {}", object, seq.status()));
    }
    events.Post(k8s_sync::ParkedObjectEvent(object, error, clock_.Now()));
  };
  k8s_sync::Mirror mirror(*log, *mirror_client_, options);
  // Write failures are said once, then reminded and recovered from (not one line per retry).
  common::EdgeHealth health("mirror",
                            common::EdgeHealth::Options{.component = "mirror", .clock = &clock_});
  absl::Duration backoff = absl::Seconds(1);
  bool started = false;
  while (!leading_threads_stop_.load()) {
    absl::Status s = started ? mirror.SyncOnce(absl::Seconds(1)).status() : mirror.Start();
    mirror_cursor_.store(mirror.cursor());
    mirror_parked_.store(static_cast<int64_t>(mirror.stats().parked));
    if (s.ok()) {
      if (!started) {
        Info("mirror started", {{"cursor", std::to_string(mirror.cursor())}});
      }
      started = true;
      backoff = absl::Seconds(1);
      health.Success();
      continue;
    }
    if (absl::IsCancelled(s)) {
      break;  // stopping: what is not written yet is rewritten by the next leader's Start
    }
    health.Failure(s, k8s_sync::IsKubePermanent(s));
    for (absl::Duration waited; waited < backoff && !leading_threads_stop_.load();
         waited += absl::Milliseconds(100)) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    backoff = std::min(backoff * 2, absl::Seconds(30));
  }
}

void Daemon::MetricsLoop() {
  eventlog::EventLog* log = nullptr;
  {
    absl::MutexLock lock(&lead_mu_);
    log = log_.get();
  }
  uint64_t next = log->LastSequence() + 1;
  std::map<std::string, std::string> action_types;  // "plan/index" -> action type
  while (!leading_threads_stop_.load()) {
    if (log->WaitForSequence(next, absl::Milliseconds(500)) < next) {
      continue;
    }
    absl::StatusOr<std::vector<v1::Event>> events = log->Read(next, 1024);
    if (!events.ok() || events->empty()) {
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    for (const v1::Event& e : *events) {
      metrics_.Add("aiops_events_appended_total", {{"type", PayloadName(e)}});
      if (e.has_action_started()) {
        action_types[fmt::format("{}/{}", e.action_started().plan_name(),
                                 e.action_started().index())] = e.action_started().action().type();
      } else if (e.has_action_succeeded() || e.has_action_failed()) {
        const std::string key =
            e.has_action_succeeded()
                ? fmt::format("{}/{}", e.action_succeeded().plan_name(),
                              e.action_succeeded().index())
                : fmt::format("{}/{}", e.action_failed().plan_name(), e.action_failed().index());
        auto it = action_types.find(key);
        metrics_.Add("aiops_actions_total",
                     {{"type", it != action_types.end() ? it->second : "unknown"},
                      {"result", e.has_action_succeeded() ? "succeeded" : "failed"}});
        if (it != action_types.end()) {
          action_types.erase(it);
        }
      } else if (e.has_analysis_completed()) {
        metrics_.Observe("aiops_analyzer_latency_seconds",
                         {{"provider", e.analysis_completed().provider()}},
                         static_cast<double>(e.analysis_completed().latency_ms()) / 1000.0);
      }
    }
    next = events->back().sequence() + 1;
    log_last_.store(events->back().sequence());
  }
}

namespace {

constexpr char kRunUsage[] =
    "usage: aiops run [--config FILE] [--data-dir DIR] [--kubeconfig FILE] [--grpc-listen ADDR]\n"
    "                 [--http-listen ADDR] [--cluster-id ID] [--log-level LEVEL]\n"
    "                 [--no-leader-election]\n"
    "\n"
    "Runs the operator until SIGTERM or SIGINT. The configuration file (JSON, docs/operations.md)\n"
    "is authoritative for the pipeline and the analyzer; flags override process settings.\n"
    "Environment: AIOPS_CONFIG (the file when --config is absent), KUBECONFIG, POD_NAME,\n"
    "POD_NAMESPACE, GRPC_VERBOSITY, GLIBC_TUNABLES; no other setting is read from the\n"
    "environment (docs/operations.md, \"Environment\").\n";

}  // namespace

absl::StatusOr<ParsedFlags> ParseRunFlags(std::span<const std::string_view> args) {
  return ParseFlagArgs(
      args,
      {"config", "data-dir", "kubeconfig", "grpc-listen", "http-listen", "cluster-id", "log-level"},
      {"no-leader-election"});
}

absl::StatusOr<DaemonConfig> RunConfigFromFlags(const ParsedFlags& flags) {
  const std::string path = flags.Get("config", Getenv("AIOPS_CONFIG"));
  absl::StatusOr<DaemonConfig> config =
      path.empty() ? absl::StatusOr<DaemonConfig>(DefaultDaemonConfig()) : LoadDaemonConfig(path);
  if (!config.ok()) {
    return config.status();
  }
  auto override_with = [&](std::string_view flag, std::string& field) {
    if (flags.Has(flag)) {
      field = flags.Get(flag);
    }
  };
  override_with("data-dir", config->data_dir);
  override_with("kubeconfig", config->kubeconfig);
  override_with("grpc-listen", config->grpc_listen);
  override_with("http-listen", config->http_listen);
  override_with("cluster-id", config->cluster_id);
  override_with("log-level", config->log_level);
  if (flags.Has("no-leader-election")) {
    config->leader_election.enabled = false;
  }
  LogLevel level;
  if (!ParseLogLevel(config->log_level, level)) {
    return absl::InvalidArgumentError(fmt::format(
        "--log-level must be debug, info, warn or error (got \"{}\")", config->log_level));
  }
  RefreshPipeline(*config);
  return config;
}

int RunDaemonCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<ParsedFlags> flags = ParseRunFlags(args);
  if (!flags.ok()) {
    err << fmt::format("aiops run: {}\n{}", flags.status().message(), kRunUsage);
    return kExitUsage;
  }
  if (flags->help) {
    out << kRunUsage;
    return kExitOk;
  }
  absl::StatusOr<DaemonConfig> config = RunConfigFromFlags(*flags);
  if (!config.ok()) {
    err << fmt::format("aiops run: {}\n", config.status().message());
    return kExitUsage;
  }
  // From here on stderr carries JSON lines only, gRPC's own messages included.
  RouteGrpcLogsToJson();

  // Signals are taken synchronously by this thread only: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Daemon daemon(*std::move(config), common::SystemClock::Get());
  if (absl::Status s = daemon.Start(); !s.ok()) {
    err << fmt::format("aiops run: {}\n", s);
    daemon.Stop();
    return kExitFailure;
  }
  int exit_code = kExitOk;
  while (true) {
    timespec wait{1, 0};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      Info(fmt::format("received {}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      break;
    }
    if (daemon.Failed()) {
      exit_code = kExitFailure;
      break;
    }
  }
  daemon.Stop();
  return exit_code;
}

}  // namespace aiops::server
