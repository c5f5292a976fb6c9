// CR mirror benchmarks (bench/README.md, "mirror_bench") against a real local control plane
// (etcd + kube-apiserver started once for the whole run with tools/control_plane.sh, no
// controller manager): one request's round trip (the mirror's client against a bare client with
// TCP_NODELAY), API writes per object state change in an anomaly storm followed batch by batch
// (and the lag from append to each Anomaly visible to a watcher under it), the sustained
// server-side apply rate of Mirror::Start() with and without the client's rate limiter, and the
// lag from appending an alert to its Anomaly object being applied and visible to a watcher, one
// alert at a time. Every log lives in a fresh temp folder (under $TMPDIR, else /tmp), removed
// afterwards; every benchmark writes into namespaces of its own.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "aiops/v1/events.pb.h"
#include "common/fmt_absl.h"
#include "eventlog/event_log.h"
#include "eventlog/rocks_event_log.h"
#include "k8s_sync/kube_client.h"
#include "k8s_sync/kube_config.h"
#include "k8s_sync/mirror.h"
#include "k8s_sync/yaml_json.h"
#include "server/runner.h"
#include "support/control_plane.h"
#include "temp_dir.h"

namespace {

using aiops::bench::TempDir;

namespace v1 = aiops::v1;
namespace fs = std::filesystem;
using aiops::eventlog::RocksEventLog;
using aiops::eventlog::RocksLogOptions;
using aiops::k8s_sync::KubeClient;
using aiops::k8s_sync::KubeClientOptions;
using aiops::k8s_sync::KubeConfig;
using aiops::k8s_sync::Mirror;
using aiops::server::Runner;
using aiops::testing::ControlPlane;
using aiops::testing::ControlPlaneOptions;
using Json = nlohmann::json;

constexpr int64_t kStartMs = 1'771'276'354'000;  // logical time of the first alert
constexpr char kGroupPath[] = "/apis/platform.chatcli.io/v1alpha1";

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Seconds(int64_t nanos) { return static_cast<double>(nanos) / 1e9; }

double PercentileMillis(std::vector<int64_t>& nanos, double p) {
  if (nanos.empty()) {
    return 0;
  }
  std::sort(nanos.begin(), nanos.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(nanos.size())));
  return static_cast<double>(nanos[std::clamp<size_t>(rank, 1, nanos.size()) - 1]) / 1e6;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// The control plane, started on first use and stopped at exit; the CRDs installed once.

struct Cluster {
  std::unique_ptr<ControlPlane> plane;
  KubeConfig config;
  std::string error;  // non-empty: every benchmark is skipped with it
};

absl::Status InstallCrds(const Cluster& cluster, KubeClient& client) {
  for (const auto& entry :
       fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
    absl::StatusOr<Json> crd = aiops::k8s_sync::YamlToJson(ReadAll(entry.path().string()));
    if (!crd.ok()) {
      return crd.status();
    }
    const std::string name = (*crd)["metadata"]["name"].get<std::string>();
    absl::StatusOr<Json> applied = client.Apply(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name, *crd, "mirror-bench");
    if (!applied.ok()) {
      return applied.status();
    }
  }
  auto done = cluster.plane->Kubectl(
      {"wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"});
  if (!done.ok()) {
    return done.status();
  }
  if (done->exit_code != 0) {
    return absl::UnavailableError(fmt::format("kubectl wait for the CRDs failed: {}", done->err));
  }
  return absl::OkStatus();
}

std::unique_ptr<KubeClient> NewClient(const KubeConfig& config, double qps, int burst) {
  KubeClientOptions options;
  options.qps = qps;
  options.burst = burst;
  options.user_agent = "mirror-bench";
  absl::StatusOr<std::unique_ptr<KubeClient>> client = KubeClient::Create(config, options);
  return client.ok() ? *std::move(client) : nullptr;
}

Cluster& TheCluster() {
  static Cluster cluster = [] {
    Cluster c;
    const int64_t start = NowNanos();
    ControlPlaneOptions options;
    options.controller_manager = false;
    absl::StatusOr<std::unique_ptr<ControlPlane>> plane = ControlPlane::Start(options);
    if (!plane.ok()) {
      c.error = fmt::format("control plane: {}", plane.status());
      return c;
    }
    c.plane = *std::move(plane);
    c.config.server = c.plane->Info().server;
    c.config.ca_pem = ReadAll(c.plane->Info().ca_file);
    c.config.token = c.plane->Info().token;
    std::unique_ptr<KubeClient> client = NewClient(c.config, 0, 0);
    if (client == nullptr) {
      c.error = "cannot create a Kubernetes client";
      return c;
    }
    if (absl::Status installed = InstallCrds(c, *client); !installed.ok()) {
      c.error = fmt::format("installing the CRDs: {}", installed);
      return c;
    }
    fmt::print(stderr, "mirror_bench: control plane at {} ready with the CRDs in {:.1f} s\n",
               c.config.server, Seconds(NowNanos() - start));
    return c;
  }();
  return cluster;
}

// A namespace of its own for each use (names never repeat within a run).
absl::StatusOr<std::string> FreshNamespace(KubeClient& client, const std::string& tag) {
  static int counter = 0;
  const std::string name = fmt::format("mb-{}-{}", tag, ++counter);
  absl::StatusOr<Json> created =
      client.Create("/api/v1/namespaces",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
  if (!created.ok()) {
    return created.status();
  }
  return name;
}

std::string CollectionPath(const std::string& ns, const char* plural) {
  return fmt::format("{}/namespaces/{}/{}", kGroupPath, ns, plural);
}

// ---------------------------------------------------------------------------------------------
// A RocksEventLog (sync = false) in a temp folder with a Runner writing it.

class Pipeline {
 public:
  absl::Status Open() {
    if (!dir_.ok()) {
      return absl::InternalError("cannot create a temp folder");
    }
    RocksLogOptions options;
    options.path = dir_.path() + "/log";
    options.sync = false;
    absl::StatusOr<std::unique_ptr<RocksEventLog>> log = RocksEventLog::Open(options);
    if (!log.ok()) {
      return log.status();
    }
    log_ = *std::move(log);
    absl::StatusOr<std::unique_ptr<Runner>> runner = Runner::Start(*log_);
    if (!runner.ok()) {
      return runner.status();
    }
    runner_ = *std::move(runner);
    return absl::OkStatus();
  }
  ~Pipeline() {
    runner_.reset();  // before the log it writes
    log_.reset();
  }
  Pipeline() = default;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  RocksEventLog& log() { return *log_; }
  Runner& runner() { return *runner_; }

 private:
  TempDir dir_{"aiops-mirror-bench"};
  std::unique_ptr<RocksEventLog> log_;
  std::unique_ptr<Runner> runner_;
};

// A pod-level alert on `deployment`; a distinct `uid` makes it an anomaly, not a duplicate.
v1::Event Alert(const std::string& ns, const std::string& deployment, const std::string& uid,
                size_t kind, int64_t t) {
  static const char* const kTypes[] = {"OOMKilled", "HighRestartCount", "PodNotReady"};
  v1::Event e;
  e.set_logical_time_ms(t);
  e.set_producer("detector");
  v1::AlertObserved* a = e.mutable_alert_observed();
  a->set_type(kTypes[kind % 3]);
  a->set_severity("critical");
  a->set_namespace_(ns);
  a->set_deployment(deployment);
  a->set_object(deployment + "-pod");
  a->set_source("detector");
  a->set_source_object_uid(uid);
  return e;
}

// Submits `alerts` alerts spread round-robin over `deployments` deployments of `ns` (so each
// deployment's first alert opens an issue and the others join it), 10 ms of logical time apart.
absl::Status SubmitSpread(Runner& runner, const std::string& ns, size_t alerts,
                          size_t deployments) {
  for (size_t i = 0; i < alerts; ++i) {
    absl::StatusOr<uint64_t> s =
        runner.Submit(Alert(ns, fmt::format("svc-{:04}", i % deployments), fmt::format("uid-{}", i),
                            i / deployments, kStartMs + static_cast<int64_t>(i) * 10));
    if (!s.ok()) {
      return s.status();
    }
  }
  return absl::OkStatus();
}

// The objects of the mirror that `e` changes, as Mirror::Fold marks them dirty: an object touched
// by 10 events counts 10.
uint64_t ObjectsTouched(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kAnomalyRecorded:
    case v1::Event::kIssueStateChanged:
    case v1::Event::kAnalysisRequested:
    case v1::Event::kAnalysisCompleted:
    case v1::Event::kAnalysisFailed:
    case v1::Event::kRunbookMatched:
    case v1::Event::kRunbookGenerated:
    case v1::Event::kIssueResolved:
    case v1::Event::kIssueEscalated:
      return 1;
    case v1::Event::kIssueOpened:        // the anomaly and its new issue
    case v1::Event::kAnomalyCorrelated:  // the anomaly and the issue it joins
    case v1::Event::kPlanCreated:        // the plan and its issue
    case v1::Event::kPlanStateChanged:
    case v1::Event::kApprovalRequested:
    case v1::Event::kApprovalGranted:
    case v1::Event::kApprovalRejected:
    case v1::Event::kActionSucceeded:
    case v1::Event::kActionFailed:
    case v1::Event::kPlanRolledBack:
      return 2;
    default:
      return 0;
  }
}

#define BENCH_CHECK_OK(state, expr, what)                                            \
  do {                                                                               \
    const absl::Status bench_status_ = (expr);                                       \
    if (!bench_status_.ok()) {                                                       \
      const std::string bench_message_ = fmt::format("{}: {}", what, bench_status_); \
      (state).SkipWithError(bench_message_.c_str());                                 \
      return;                                                                        \
    }                                                                                \
  } while (false)

// ---------------------------------------------------------------------------------------------
// 0. One request's round trip: what bounds every figure below.

// client 0: KubeClient::Apply (the mirror's client) of an Anomaly whose spec changes each time;
// client 1: the same PATCH with a bare httplib::SSLClient with TCP_NODELAY set; client 2:
// KubeClient::Get of that Anomaly (a request without a body).
void BM_RequestRoundTrip(  // NOLINT(readability-identifier-naming): convention
    benchmark::State& state) {
  constexpr size_t kWarmup = 5;
  constexpr size_t kSamples = 50;
  const int64_t mode = state.range(0);
  Cluster& cluster = TheCluster();
  if (!cluster.error.empty()) {
    state.SkipWithError(cluster.error.c_str());
    return;
  }
  std::unique_ptr<KubeClient> client = NewClient(cluster.config, 0, 0);
  absl::StatusOr<std::string> ns = FreshNamespace(*client, "rtt");
  BENCH_CHECK_OK(state, ns.status(), "namespace");
  const std::string path = CollectionPath(*ns, "anomalies") + "/probe";
  auto object = [&](size_t i) {
    return Json{{"apiVersion", "platform.chatcli.io/v1alpha1"},
                {"kind", "Anomaly"},
                {"metadata", {{"name", "probe"}, {"namespace", *ns}}},
                {"spec",
                 {{"signalType", "oom_kill"},
                  {"source", "detector"},
                  {"severity", "critical"},
                  {"resource", {{"kind", "Deployment"}, {"name", "svc"}, {"namespace", *ns}}},
                  {"description", fmt::format("probe {}", i)},
                  {"detectedAt", "2026-02-16T21:12:34Z"}}}};
  };
  BENCH_CHECK_OK(state, client->Apply(path, object(0), "mirror-bench").status(), "apply");
  const ControlPlane& plane = *cluster.plane;
  httplib::SSLClient raw(plane.Info().host, plane.Info().port);
  raw.set_ca_cert_path(plane.Info().ca_file.c_str());
  raw.enable_server_certificate_verification(true);
  raw.set_keep_alive(true);
  raw.set_tcp_nodelay(true);
  const httplib::Headers headers = {{"Accept", "application/json"},
                                    {"Authorization", "Bearer " + cluster.config.token}};
  std::vector<int64_t> nanos;
  for (auto _ : state) {
    for (size_t i = 1; i <= kWarmup + kSamples; ++i) {
      const int64_t t0 = NowNanos();
      if (mode == 0) {
        BENCH_CHECK_OK(state, client->Apply(path, object(i), "mirror-bench").status(), "apply");
      } else if (mode == 1) {
        httplib::Result r = raw.Patch((path + "?fieldManager=mirror-bench&force=true").c_str(),
                                      headers, object(i).dump(), "application/apply-patch+yaml");
        if (!r || r->status != 200) {
          const std::string message =
              fmt::format("raw apply: {}", r ? r->body : httplib::to_string(r.error()));
          state.SkipWithError(message.c_str());
          return;
        }
      } else {
        BENCH_CHECK_OK(state, client->Get(path).status(), "get");
      }
      if (i > kWarmup) {
        nanos.push_back(NowNanos() - t0);
      }
    }
  }
  state.counters["samples"] = static_cast<double>(nanos.size());
  state.counters["p50_ms"] = PercentileMillis(nanos, 0.50);
  state.counters["p99_ms"] = PercentileMillis(nanos, 0.99);
  state.counters["max_ms"] = PercentileMillis(nanos, 1.0);
}

BENCHMARK(BM_RequestRoundTrip)
    ->ArgName("client")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// 1. Storm: API writes per object state change after coalescing.

// Watches the Anomalies of some namespaces, each on a thread and a client of its own, and notes
// when each one was first ADDED (steady clock). Stop (or the destructor) ends the watches.
class StormWatchers {
 public:
  StormWatchers() = default;
  StormWatchers(const StormWatchers&) = delete;
  StormWatchers& operator=(const StormWatchers&) = delete;
  ~StormWatchers() { Stop(); }

  absl::Status Watch(const KubeConfig& config, const std::string& ns) {
    auto watch = std::make_unique<OneWatch>();
    watch->client = NewClient(config, 0, 0);
    absl::StatusOr<Json> list = watch->client->Get(CollectionPath(ns, "anomalies"));
    if (!list.ok()) {
      return list.status();
    }
    const std::string path = fmt::format(
        "{}?watch=1&allowWatchBookmarks=false&resourceVersion={}", CollectionPath(ns, "anomalies"),
        (*list)["metadata"].value("resourceVersion", std::string()));
    OneWatch* w = watch.get();
    w->thread = std::thread([this, w, path] {
      absl::Status watched = w->client->Watch(
          path,
          [this](const Json& event) {
            const int64_t now = NowNanos();
            if (event.value("type", std::string()) == "ADDED") {
              const std::string name = event["object"]["metadata"].value("name", std::string());
              absl::MutexLock lock(&mu_);
              added_at_.emplace(name, now);
            }
            return !stop_.load();
          },
          absl::Hours(1), &w->handle);
      if (!watched.ok() && !stop_.load()) {
        absl::MutexLock lock(&mu_);
        error_ = watched;
      }
    });
    watches_.push_back(std::move(watch));
    return absl::OkStatus();
  }
  // Waits until `count` objects were added (or an error, or `timeout`); true when they were.
  bool WaitFor(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return added_at_.size() >= count || !error_.ok();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout) && error_.ok();
  }
  void Stop() {
    stop_.store(true);
    for (auto& w : watches_) {
      w->handle.Cancel();
    }
    for (auto& w : watches_) {
      if (w->thread.joinable()) {
        w->thread.join();
      }
    }
  }
  absl::Status error() {
    absl::MutexLock lock(&mu_);
    return error_;
  }
  std::optional<int64_t> AddedAt(const std::string& name) {
    absl::MutexLock lock(&mu_);
    auto it = added_at_.find(name);
    return it == added_at_.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }

 private:
  struct OneWatch {
    std::unique_ptr<KubeClient> client;
    aiops::k8s_sync::WatchHandle handle;
    std::thread thread;
  };
  std::vector<std::unique_ptr<OneWatch>> watches_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::map<std::string, int64_t> added_at_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

void BM_MirrorStorm(  // NOLINT(readability-identifier-naming): convention
    benchmark::State& state) {
  constexpr size_t kNamespaces = 4;
  const auto alert_count = static_cast<size_t>(state.range(0));
  const auto resource_count = static_cast<uint32_t>(state.range(1));
  const auto burst = static_cast<size_t>(state.range(2));
  const size_t per_resource = alert_count / resource_count;
  Cluster& cluster = TheCluster();
  if (!cluster.error.empty()) {
    state.SkipWithError(cluster.error.c_str());
    return;
  }
  std::unique_ptr<KubeClient> client = NewClient(cluster.config, 0, 0);
  std::vector<std::string> namespaces;
  for (size_t i = 0; i < kNamespaces; ++i) {
    absl::StatusOr<std::string> ns = FreshNamespace(*client, "storm");
    BENCH_CHECK_OK(state, ns.status(), "namespace");
    namespaces.push_back(*ns);
  }
  // Each resource gets per_resource alerts; the order is a fixed-seed shuffle.
  std::vector<uint32_t> order;
  for (uint32_t r = 0; r < resource_count; ++r) {
    order.insert(order.end(), per_resource, r);
  }
  std::mt19937_64 rng(20'260'217);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<size_t> seen(resource_count, 0);
  std::vector<v1::Event> alerts;
  alerts.reserve(alert_count);
  for (size_t i = 0; i < alert_count; ++i) {
    const uint32_t r = order[i];
    alerts.push_back(Alert(namespaces[r % kNamespaces], fmt::format("svc-{:04}", r / kNamespaces),
                           fmt::format("uid-{}", i), seen[r]++,
                           kStartMs + static_cast<int64_t>(i) * 10));
  }

  Pipeline pipeline;
  BENCH_CHECK_OK(state, pipeline.Open(), "open the log");
  Mirror mirror(pipeline.log(), *client, {});
  BENCH_CHECK_OK(state, mirror.Start(), "mirror start");
  const Mirror::Stats before = mirror.stats();
  const uint64_t first_sequence = pipeline.log().LastSequence() + 1;

  // Lag from append to visible: one watcher per namespace (a client of its own, from the
  // resourceVersion of a LIST) notes when each Anomaly is ADDED.
  StormWatchers watchers;
  for (const std::string& ns : namespaces) {
    BENCH_CHECK_OK(state, watchers.Watch(cluster.config, ns), "watch anomalies");
  }
  std::map<uint64_t, int64_t> appended_at;  // input sequence -> when its Submit returned
  int64_t submit_nanos = 0;
  int64_t sync_nanos = 0;
  uint64_t batches = 0;
  uint64_t max_batch = 0;
  for (auto _ : state) {
    for (size_t begin = 0; begin < alert_count; begin += burst) {
      const int64_t t0 = NowNanos();
      for (size_t i = begin; i < std::min(begin + burst, alert_count); ++i) {
        absl::StatusOr<uint64_t> sequence = pipeline.runner().Submit(std::move(alerts[i]));
        BENCH_CHECK_OK(state, sequence.status(), "submit");
        appended_at[*sequence] = NowNanos();
      }
      const int64_t t1 = NowNanos();
      while (mirror.cursor() < pipeline.log().LastSequence()) {
        absl::StatusOr<uint64_t> handled = mirror.SyncOnce(absl::ZeroDuration());
        BENCH_CHECK_OK(state, handled.status(), "mirror sync");
        ++batches;
        max_batch = std::max(max_batch, *handled);
      }
      submit_nanos += t1 - t0;
      sync_nanos += NowNanos() - t1;
    }
  }

  // Every anomaly's ADDED event, then no more watching.
  const size_t anomalies_expected = alert_count;  // distinct uids: no duplicates
  const bool all_seen = watchers.WaitFor(anomalies_expected, absl::Seconds(60));
  watchers.Stop();
  BENCH_CHECK_OK(state, watchers.error(), "watch");

  // What the storm changed, from the log.
  std::vector<int64_t> lag;
  uint64_t unseen = 0;
  uint64_t events = 0;
  uint64_t touched = 0;
  uint64_t anomalies = 0;
  uint64_t issues = 0;
  uint64_t duplicates = 0;
  for (uint64_t from = first_sequence;;) {
    absl::StatusOr<std::vector<v1::Event>> chunk = pipeline.log().Read(from, 4096);
    BENCH_CHECK_OK(state, chunk.status(), "read the log");
    if (chunk->empty()) {
      break;
    }
    for (const v1::Event& e : *chunk) {
      ++events;
      touched += ObjectsTouched(e);
      anomalies += e.has_anomaly_recorded() ? 1U : 0U;
      if (e.has_anomaly_recorded()) {
        const std::optional<int64_t> added = watchers.AddedAt(e.anomaly_recorded().anomaly_name());
        auto appended = appended_at.find(e.causation_sequence());
        if (added.has_value() && appended != appended_at.end()) {
          lag.push_back(*added - appended->second);
        } else {
          ++unseen;
        }
      }
      issues += e.has_issue_opened() ? 1U : 0U;
      duplicates += e.has_duplicate_suppressed() ? 1U : 0U;
    }
    from = chunk->back().sequence() + 1;
  }
  // What the cluster holds.
  size_t listed = 0;
  for (const std::string& ns : namespaces) {
    absl::StatusOr<Json> list = client->Get(CollectionPath(ns, "anomalies"));
    BENCH_CHECK_OK(state, list.status(), "list anomalies");
    listed += (*list)["items"].size();
  }
  const Mirror::Stats& after = mirror.stats();
  const auto writes = static_cast<double>(after.objects - before.objects);
  const auto applies = static_cast<double>(after.applies - before.applies);
  state.counters["alerts"] = static_cast<double>(alert_count);
  state.counters["anomalies"] = static_cast<double>(anomalies);
  state.counters["issues"] = static_cast<double>(issues);
  state.counters["duplicates"] = static_cast<double>(duplicates);
  state.counters["events"] = static_cast<double>(events);
  state.counters["state_changes"] = static_cast<double>(touched);
  state.counters["writes"] = writes;
  state.counters["applies"] = applies;
  state.counters["writes_per_change"] = writes / static_cast<double>(touched);
  state.counters["applies_per_change"] = applies / static_cast<double>(touched);
  state.counters["target_met"] = writes / static_cast<double>(touched) <= 1.5 ? 1.0 : 0.0;
  state.counters["batches"] = static_cast<double>(batches);
  state.counters["max_batch_events"] = static_cast<double>(max_batch);
  state.counters["submit_s"] = Seconds(submit_nanos);
  state.counters["sync_s"] = Seconds(sync_nanos);
  state.counters["applies_per_s"] = applies / Seconds(sync_nanos);
  state.counters["errors"] = static_cast<double>(after.errors - before.errors);
  state.counters["anomalies_listed"] = static_cast<double>(listed);
  state.counters["objects_per_s"] = writes / Seconds(sync_nanos);
  state.counters["visible_p50_ms"] = PercentileMillis(lag, 0.50);
  state.counters["visible_p99_ms"] = PercentileMillis(lag, 0.99);
  state.counters["visible_max_ms"] = PercentileMillis(lag, 1.0);
  state.counters["unseen"] = static_cast<double>(unseen);
  state.counters["all_seen"] = all_seen ? 1.0 : 0.0;
}

// The storm of the issue: 10,000 anomalies over 1,000 resources in bursts of 500 (about 2 minutes
// on the reference machine since the client sets TCP_NODELAY, see README.md), then the same
// storm scaled down 20 times (same alerts per resource and burst per resource), as measured
// before, for comparison (about 10 s more).
BENCHMARK(BM_MirrorStorm)
    ->ArgNames({"anomalies", "resources", "burst"})
    ->Args({10'000, 1'000, 500})
    ->Args({500, 50, 25})
    ->UseRealTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

// ---------------------------------------------------------------------------------------------
// 2. Sustained server-side apply rate of Mirror::Start() (the level-based start).

void BM_MirrorStartApplyRate(  // NOLINT(readability-identifier-naming): convention
    benchmark::State& state) {
  const double qps = static_cast<double>(state.range(0));
  const auto alerts = static_cast<size_t>(state.range(1));
  const bool restart = state.range(2) != 0;
  Cluster& cluster = TheCluster();
  if (!cluster.error.empty()) {
    state.SkipWithError(cluster.error.c_str());
    return;
  }
  std::unique_ptr<KubeClient> admin = NewClient(cluster.config, 0, 0);
  absl::StatusOr<std::string> ns = FreshNamespace(*admin, "apply");
  BENCH_CHECK_OK(state, ns.status(), "namespace");
  Pipeline pipeline;
  BENCH_CHECK_OK(state, pipeline.Open(), "open the log");
  BENCH_CHECK_OK(state, SubmitSpread(pipeline.runner(), *ns, alerts, alerts / 10), "submit");
  if (restart) {  // the objects exist and are unchanged: what a restarted mirror re-applies
    Mirror::Options options;
    options.follower = "first";
    Mirror first(pipeline.log(), *admin, options);
    BENCH_CHECK_OK(state, first.Start(), "first mirror start");
  }
  // A new client, so that its token bucket starts full (burst) as at a process start.
  std::unique_ptr<KubeClient> client = NewClient(cluster.config, qps, 40);
  Mirror mirror(pipeline.log(), *client, {});
  int64_t nanos = 0;
  for (auto _ : state) {
    const int64_t t0 = NowNanos();
    BENCH_CHECK_OK(state, mirror.Start(), "mirror start");
    nanos += NowNanos() - t0;
  }
  const Mirror::Stats& s = mirror.stats();
  state.SetItemsProcessed(static_cast<int64_t>(s.applies));
  state.counters["events"] = static_cast<double>(s.events);
  state.counters["objects"] = static_cast<double>(s.objects);
  state.counters["applies"] = static_cast<double>(s.applies);
  state.counters["start_s"] = Seconds(nanos);
  state.counters["applies_per_s"] = static_cast<double>(s.applies) / Seconds(nanos);
  state.counters["objects_per_s"] = static_cast<double>(s.objects) / Seconds(nanos);
  state.counters["ms_per_apply"] = 1e3 * Seconds(nanos) / static_cast<double>(s.applies);
  state.counters["errors"] = static_cast<double>(s.errors);
  state.counters["skipped"] = static_cast<double>(s.skipped);  // found already written
}

// restart=1 at the default QPS 20 against restart=0 (every object written, as every start did
// before it compared with what the API server holds): the leader-start cost a user waits for.
BENCHMARK(BM_MirrorStartApplyRate)
    ->ArgNames({"qps", "alerts", "restart"})
    ->Args({0, 200, 0})
    ->Args({0, 200, 1})
    ->Args({20, 150, 0})
    ->Args({20, 200, 0})
    ->Args({20, 200, 1})
    ->UseRealTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

// ---------------------------------------------------------------------------------------------
// 3. Lag from append to the Anomaly object applied / visible, one alert at a time.

void BM_MirrorLag(  // NOLINT(readability-identifier-naming): convention
    benchmark::State& state) {
  constexpr size_t kWarmup = 10;
  constexpr size_t kSamples = 100;
  constexpr size_t kDeployments = 20;
  constexpr size_t kTotal = kWarmup + kSamples;
  Cluster& cluster = TheCluster();
  if (!cluster.error.empty()) {
    state.SkipWithError(cluster.error.c_str());
    return;
  }
  std::unique_ptr<KubeClient> client = NewClient(cluster.config, 0, 0);
  std::unique_ptr<KubeClient> watcher = NewClient(cluster.config, 0, 0);
  absl::StatusOr<std::string> ns = FreshNamespace(*client, "lag");
  BENCH_CHECK_OK(state, ns.status(), "namespace");
  Pipeline pipeline;
  BENCH_CHECK_OK(state, pipeline.Open(), "open the log");
  Mirror mirror(pipeline.log(), *client, {});
  BENCH_CHECK_OK(state, mirror.Start(), "mirror start");
  absl::StatusOr<Json> list = watcher->Get(CollectionPath(*ns, "anomalies"));
  BENCH_CHECK_OK(state, list.status(), "list anomalies");
  const std::string resource_version = (*list)["metadata"].value("resourceVersion", std::string());

  absl::Mutex mu;
  uint64_t synced_cursor = 0;  // guarded by mu: the cursor after the last SyncOnce that read events
  int64_t synced_at = 0;       // and when it returned
  std::vector<int64_t> added_at;  // when each ADDED anomaly reached the watcher
  std::string error;
  std::atomic<bool> stop{false};
  aiops::k8s_sync::WatchHandle handle;

  std::thread syncer([&] {
    while (!stop.load()) {
      absl::StatusOr<uint64_t> handled = mirror.SyncOnce(absl::Milliseconds(100));
      const int64_t now = NowNanos();
      absl::MutexLock lock(&mu);
      if (!handled.ok()) {
        error = fmt::format("mirror sync: {}", handled.status());
        return;
      }
      if (*handled > 0) {
        synced_cursor = mirror.cursor();
        synced_at = now;
      }
    }
  });
  std::thread watch([&] {
    absl::Status watched = watcher->Watch(
        fmt::format("{}?watch=1&resourceVersion={}", CollectionPath(*ns, "anomalies"),
                    resource_version),
        [&](const Json& event) {
          const int64_t now = NowNanos();
          if (event.value("type", std::string()) == "ADDED") {
            absl::MutexLock lock(&mu);
            added_at.push_back(now);
          }
          return !stop.load();
        },
        absl::Minutes(10), &handle);
    if (!watched.ok() && !stop.load()) {
      absl::MutexLock lock(&mu);
      error = fmt::format("watch: {}", watched);
    }
  });

  std::vector<int64_t> applied;
  std::vector<int64_t> visible;
  std::vector<int64_t> acked;
  for (auto _ : state) {
    for (size_t i = 0; i < kTotal; ++i) {
      const int64_t t0 = NowNanos();
      absl::StatusOr<uint64_t> s = pipeline.runner().Submit(
          Alert(*ns, fmt::format("svc-{:04}", i % kDeployments), fmt::format("uid-{}", i),
                i / kDeployments, kStartMs + static_cast<int64_t>(i) * 10));
      const int64_t t1 = NowNanos();
      if (!s.ok()) {
        absl::MutexLock lock(&mu);
        error = fmt::format("submit: {}", s.status());
        break;
      }
      // The runner commits the alert with everything it derived in one append: no other writer.
      const uint64_t target = pipeline.log().LastSequence();
      absl::MutexLock lock(&mu);
      auto done = [&] {
        return !error.empty() || (synced_cursor >= target && added_at.size() > i);
      };
      if (!mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(20))) {
        error = fmt::format("alert {} not mirrored within 20 s", i);
      }
      if (!error.empty()) {
        break;
      }
      if (i >= kWarmup) {
        applied.push_back(synced_at - t0);
        visible.push_back(added_at[i] - t0);
        acked.push_back(t1 - t0);
      }
    }
  }
  stop.store(true);
  handle.Cancel();
  syncer.join();
  watch.join();
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  state.counters["samples"] = static_cast<double>(applied.size());
  state.counters["applied_p50_ms"] = PercentileMillis(applied, 0.50);
  state.counters["applied_p99_ms"] = PercentileMillis(applied, 0.99);
  state.counters["applied_max_ms"] = PercentileMillis(applied, 1.0);
  state.counters["visible_p50_ms"] = PercentileMillis(visible, 0.50);
  state.counters["visible_p99_ms"] = PercentileMillis(visible, 0.99);
  state.counters["ack_p50_ms"] = PercentileMillis(acked, 0.50);
  state.counters["ack_p99_ms"] = PercentileMillis(acked, 0.99);
  state.counters["applies_per_alert"] =
      static_cast<double>(mirror.stats().applies) / static_cast<double>(kTotal);
}

BENCHMARK(BM_MirrorLag)->UseRealTime()->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
