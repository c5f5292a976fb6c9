// Sustained ingest through the operator's edges (issue #8): alerts sent by concurrent clients
// through the gRPC Append RPC and through the Alertmanager webhook, into the runner on a synced
// RocksEventLog (fsync per group commit), the way `aiops run` wires them (Runner::SubmitBatch
// behind both edges, bearer-token auth on). A load driver, not a Google Benchmark: each
// scenario runs for a fixed time after a warm-up and prints accepted alerts/s and the
// distribution of the acknowledgement latency (one call, until its answer arrived).
//
//   ingest_bench [--seconds=S] [--warmup=S] [--only=grpc|webhook|SCENARIO] [--unsynced]
//                [--snapshot-every=EVENTS] [--scenario=grpc|webhook:CLIENTS:BATCH]...
//
// Method and figures: bench/README.md ("ingest_bench").
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/strings/str_split.h>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "aiops/v1/service.grpc.pb.h"
#include "common/clock.h"
#include "eventlog/rocks_event_log.h"
#include "server/api/grpc_server.h"
#include "server/api/service.h"
#include "server/ingest/alertmanager_webhook.h"
#include "server/runner.h"
#include <unistd.h>

namespace {

using aiops::v1::Event;
using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "ingest-bench-token";
constexpr int kNamespaces = 20;
constexpr int kDeploymentsPerNamespace = 100;  // 2,000 workloads in all

struct Scenario {
  std::string name;
  std::string edge;  // grpc | webhook
  int clients = 1;   // concurrent callers, each waiting for its answer before the next call
  int batch = 1;     // alerts per call (Append events; webhook: alerts of one group)
};

struct ClientResult {
  uint64_t alerts = 0;  // accepted by calls that started after the warm-up
  uint64_t calls = 0;
  uint64_t errors = 0;
  std::vector<double> latencies_ms;
};

struct Totals {
  uint64_t anomalies = 0;
  uint64_t duplicates = 0;
  uint64_t issues = 0;
};

// A workload: namespace, deployment. Alert `n` of client `c` spreads over all of them.
std::pair<std::string, std::string> Workload(uint64_t n) {
  const uint64_t w = n % (kNamespaces * kDeploymentsPerNamespace);
  return {fmt::format("ns-{:02}", w % kNamespaces), fmt::format("svc-{:04}", w / kNamespaces)};
}

constexpr std::string_view kTypes[] = {"OOMKilled", "HighRestartCount", "PodNotReady"};

// gRPC: every alert is a new observation (a distinct source object uid), so each is an anomaly
// correlated into its workload's issue: the most work per alert the core does.
aiops::v1::AppendRequest GrpcRequest(int client, uint64_t& counter, int batch) {
  aiops::v1::AppendRequest request;
  for (int i = 0; i < batch; ++i, ++counter) {
    const auto [ns, deployment] = Workload(counter * 7919 + static_cast<uint64_t>(client));
    aiops::v1::AlertObserved* a = request.add_events()->mutable_alert_observed();
    a->set_type(std::string(kTypes[counter % 3]));
    a->set_severity("warning");
    a->set_namespace_(ns);
    a->set_deployment(deployment);
    a->set_object(fmt::format("{}-5d9c7b8f4-{:05}", deployment, counter % 100'000));
    a->set_object_kind("Pod");
    a->set_message(fmt::format("alert {} from load client {}", counter, client));
    a->set_source_object_uid(fmt::format("c{}-{}", client, counter));
  }
  return request;
}

// Webhook: Alertmanager groups of kube-prometheus-style alerts. The receiver takes no uid from
// Alertmanager, so an alert repeated for the same workload and signal inside the dedup TTL is a
// duplicate, as Alertmanager's re-sends are.
std::string WebhookPayload(int client, uint64_t& counter, int batch) {
  nlohmann::json alerts = nlohmann::json::array();
  for (int i = 0; i < batch; ++i, ++counter) {
    const auto [ns, deployment] = Workload(counter * 7919 + static_cast<uint64_t>(client));
    alerts.push_back({{"status", "firing"},
                      {"labels",
                       {{"alertname", counter % 2 == 0 ? "KubePodCrashLooping" : "HighErrorRate"},
                        {"namespace", ns},
                        {"deployment", deployment},
                        {"severity", "warning"}}},
                      {"annotations", {{"summary", fmt::format("alert {}", counter)}}},
                      {"startsAt", "2026-11-26T10:00:00Z"},
                      {"endsAt", "0001-01-01T00:00:00Z"},
                      {"fingerprint", fmt::format("{:016x}", counter)}});
  }
  return nlohmann::json{{"version", "4"},
                        {"receiver", "chatcli-aiops"},
                        {"status", "firing"},
                        {"groupKey", fmt::format("{{}}:{{client=\"{}\"}}", client)},
                        {"alerts", std::move(alerts)}}
      .dump();
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  const auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

struct Rig {
  std::string dir;
  std::unique_ptr<aiops::eventlog::RocksEventLog> log;
  std::unique_ptr<aiops::server::Runner> runner;
};

bool g_sync = true;
uint64_t g_snapshot_every = aiops::server::Runner::Options().snapshot_every_events;

Rig StartRig() {
  Rig rig;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/aiops-ingest-bench-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  rig.dir = pattern;
  aiops::eventlog::RocksLogOptions options;
  options.path = rig.dir;
  options.sync = g_sync;  // true as `aiops run` ships
  auto log = aiops::eventlog::RocksEventLog::Open(options);
  if (!log.ok()) {
    fmt::print(stderr, "cannot open the log: {}\n", log.status().ToString());
    std::exit(1);
  }
  rig.log = *std::move(log);
  aiops::server::Runner::Options runner_options;
  runner_options.snapshot_every_events = g_snapshot_every;
  auto runner = aiops::server::Runner::Start(*rig.log, runner_options);
  if (!runner.ok()) {
    fmt::print(stderr, "cannot start the runner: {}\n", runner.status().ToString());
    std::exit(1);
  }
  rig.runner = *std::move(runner);
  return rig;
}

Totals Count(const aiops::eventlog::EventLog& log) {
  Totals t;
  constexpr size_t kChunk = 4096;
  for (uint64_t from = 1;;) {
    auto events = log.Read(from, kChunk);
    if (!events.ok() || events->empty()) {
      break;
    }
    for (const Event& e : *events) {
      t.anomalies += e.has_anomaly_recorded() ? 1U : 0U;
      t.duplicates += e.has_duplicate_suppressed() ? 1U : 0U;
      t.issues += e.has_issue_opened() ? 1U : 0U;
    }
    from = events->back().sequence() + 1;
  }
  return t;
}

void RunScenario(const Scenario& s, double seconds, double warmup) {
  Rig rig = StartRig();
  aiops::server::Runner* runner = rig.runner.get();
  aiops::common::SystemClock& clock = aiops::common::SystemClock::Get();

  std::unique_ptr<aiops::api::AiopsServiceImpl> service;
  std::unique_ptr<grpc::Server> grpc_server;
  httplib::Server http;
  std::thread http_thread;
  int port = 0;
  if (s.edge == "grpc") {
    aiops::api::ApiDeps deps;
    deps.log = rig.log.get();
    deps.submit = [runner](Event e) { return runner->Submit(std::move(e)); };
    deps.submit_batch = [runner](std::vector<Event> e) {
      return runner->SubmitBatch(std::move(e));
    };
    deps.read_state = [runner](const auto& read) { runner->ReadState(read); };
    deps.clock = &clock;
    deps.cluster_id = "bench";
    service = std::make_unique<aiops::api::AiopsServiceImpl>(std::move(deps));
    aiops::api::GrpcServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.token = kToken;
    auto started = aiops::api::StartGrpcServer(options, {service.get()});
    if (!started.ok()) {
      fmt::print(stderr, "cannot start gRPC: {}\n", started.status().ToString());
      std::exit(1);
    }
    grpc_server = std::move(started->server);
    port = started->port;
  } else {
    aiops::ingest::WebhookOptions options;
    options.token = kToken;
    options.clock = &clock;
    options.submit_batch = [runner](std::vector<Event> e) {
      return runner->SubmitBatch(std::move(e));
    };
    aiops::ingest::ConfigureWebhookServer(http);  // as the daemon does
    aiops::ingest::RegisterAlertmanagerWebhook(http, options);
    port = http.bind_to_any_port("127.0.0.1");
    http_thread = std::thread([&http] { http.listen_after_bind(); });
    while (!http.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const Clock::time_point end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(seconds));
  const uint64_t first_sequence_at_start = rig.log->LastSequence();
  std::vector<ClientResult> results(static_cast<size_t>(s.clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < s.clients; ++c) {
    threads.emplace_back([&, c] {
      ClientResult& r = results[static_cast<size_t>(c)];
      uint64_t counter = 0;
      std::unique_ptr<aiops::v1::AiopsService::Stub> stub;
      std::unique_ptr<httplib::Client> client;
      if (s.edge == "grpc") {
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per client
        stub = aiops::v1::AiopsService::NewStub(grpc::CreateCustomChannel(
            fmt::format("127.0.0.1:{}", port), grpc::InsecureChannelCredentials(), args));
      } else {
        client = std::make_unique<httplib::Client>("127.0.0.1", port);
        client->set_tcp_nodelay(true);
        client->set_keep_alive(true);
        client->set_bearer_token_auth(kToken);
      }
      for (;;) {
        const Clock::time_point t0 = Clock::now();
        if (t0 >= end) {
          break;
        }
        bool ok = false;
        uint64_t accepted = 0;
        std::string error;
        Clock::time_point sent;
        if (stub != nullptr) {
          const aiops::v1::AppendRequest request = GrpcRequest(c, counter, s.batch);
          aiops::v1::AppendResponse response;
          grpc::ClientContext context;
          context.AddMetadata("authorization", std::string("Bearer ") + kToken);
          sent = Clock::now();
          const grpc::Status status = stub->Append(&context, request, &response);
          ok = status.ok();
          accepted = static_cast<uint64_t>(response.sequences_size());
          error = status.error_message();
        } else {
          const std::string body = WebhookPayload(c, counter, s.batch);
          sent = Clock::now();
          const httplib::Result res =
              client->Post("/webhook/alertmanager", body, "application/json");
          ok = res && res->status == 200;
          accepted = ok ? static_cast<uint64_t>(s.batch) : 0U;
          error = res ? fmt::format("HTTP {} {}", res->status, res->body)
                      : httplib::to_string(res.error());
        }
        const Clock::time_point answered = Clock::now();
        if (!ok && r.errors == 0) {
          fmt::print(stderr, "client {}: {}\n", c, error);
        }
        if (sent >= measure_from) {
          r.latencies_ms.push_back(
              std::chrono::duration<double, std::milli>(answered - sent).count());
          r.calls += 1;
          r.alerts += accepted;
          r.errors += ok ? 0U : 1U;
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - measure_from).count();
  if (grpc_server != nullptr) {
    grpc_server->Shutdown();
    grpc_server->Wait();
  } else {
    http.stop();
    http_thread.join();
  }
  rig.runner->Stop();

  ClientResult all;
  for (ClientResult& r : results) {
    all.alerts += r.alerts;
    all.calls += r.calls;
    all.errors += r.errors;
    all.latencies_ms.insert(all.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
  }
  const uint64_t events = rig.log->LastSequence() - first_sequence_at_start;
  const Totals totals = Count(*rig.log);
  const double p50 = Percentile(all.latencies_ms, 0.50);
  const double p99 = Percentile(all.latencies_ms, 0.99);
  const double max = all.latencies_ms.empty()
                         ? 0
                         : *std::max_element(all.latencies_ms.begin(), all.latencies_ms.end());
  fmt::print(
      "{:<28} {:>7} {:>5} {:>10.0f} {:>9.0f} {:>8.2f} {:>8.2f} {:>8.2f} {:>6} {:>9} {:>9} {:>9} "
      "{:>7}\n",
      s.name, s.clients, s.batch, static_cast<double>(all.alerts) / elapsed,
      static_cast<double>(all.calls) / elapsed, p50, p99, max, all.errors, events, totals.anomalies,
      totals.duplicates, totals.issues);
  std::fflush(stdout);
  rig.runner.reset();
  rig.log.reset();
  std::filesystem::remove_all(rig.dir);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  double warmup = 1;
  std::string only;
  std::vector<Scenario> custom;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--seconds=", 0) == 0) {
      seconds = std::atof(argv[i] + 10);
    } else if (arg.rfind("--warmup=", 0) == 0) {
      warmup = std::atof(argv[i] + 9);
    } else if (arg.rfind("--snapshot-every=", 0) == 0) {
      g_snapshot_every = std::strtoull(argv[i] + 17, nullptr, 10);
    } else if (arg.rfind("--scenario=", 0) == 0) {
      // EDGE:CLIENTS:BATCH, run instead of the built-in list (repeatable).
      const std::vector<std::string> parts = absl::StrSplit(std::string(arg.substr(11)), ':');
      if (parts.size() != 3 || (parts[0] != "grpc" && parts[0] != "webhook")) {
        fmt::print(stderr, "ingest_bench: --scenario=grpc|webhook:CLIENTS:BATCH\n");
        return 2;
      }
      custom.push_back({fmt::format("{}/batch:{}/clients:{}", parts[0], parts[2], parts[1]),
                        parts[0], std::atoi(parts[1].c_str()), std::atoi(parts[2].c_str())});
    } else if (arg == "--unsynced") {
      g_sync = false;
    } else if (arg.rfind("--only=", 0) == 0) {
      only = std::string(arg.substr(7));
    } else {
      fmt::print(stderr,
                 "usage: ingest_bench [--seconds=S] [--warmup=S] [--only=grpc|webhook|SCENARIO] "
                 "[--unsynced] [--snapshot-every=EVENTS] [--scenario=EDGE:CLIENTS:BATCH]...\n");
      return 2;
    }
  }
  if (seconds <= 0 || warmup < 0) {
    fmt::print(stderr, "ingest_bench: --seconds must be > 0, --warmup >= 0\n");
    return 2;
  }
  std::vector<Scenario> scenarios = {
      {"grpc/batch:1/clients:16", "grpc", 16, 1},
      {"grpc/batch:50/clients:4", "grpc", 4, 50},
      {"grpc/batch:100/clients:4", "grpc", 4, 100},
      {"grpc/batch:100/clients:16", "grpc", 16, 100},
      {"grpc/batch:1000/clients:4", "grpc", 4, 1000},
      {"webhook/group:10/clients:16", "webhook", 16, 10},
      {"webhook/group:100/clients:4", "webhook", 4, 100},
  };
  if (!custom.empty()) {
    scenarios = custom;
  }
  fmt::print("{} RocksEventLog, runner defaults, {} s per scenario after {} s warm-up\n",
             g_sync ? "synced (fsync per group commit)" : "UNSYNCED", seconds, warmup);
  fmt::print("{:<28} {:>7} {:>5} {:>10} {:>9} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9} {:>9} {:>7}\n",
             "scenario", "clients", "batch", "alerts/s", "calls/s", "p50_ms", "p99_ms", "max_ms",
             "errors", "events", "anomalies", "dups", "issues");
  for (const Scenario& s : scenarios) {
    if (only.empty() || only == s.edge || only == s.name) {
      RunScenario(s, seconds, warmup);
    }
  }
  return 0;
}
