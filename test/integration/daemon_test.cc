// The operator end to end (issue #6 scenarios): the real `aiops run` binary against the real
// control plane started by the test environment, with kube-controller-manager rolling out
// Deployments and the kubelet stand-in playing pods. Each scenario runs its own daemon (own
// namespace, data folder and configuration), plays a failure, and asserts the final cluster
// state and what the event log recorded (read after the daemon stopped).
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include <absl/strings/match.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "aiops/v1/service.grpc.pb.h"
#include "common/fmt_absl.h"
#include "eventlog/rocks_event_log.h"
#include "k8s_sync/json_access.h"
#include "k8s_sync/kube_client.h"
#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"
#include "support/subprocess.h"
#include "support/tcp_relay.h"
#include "support/test_dir.h"

namespace aiops {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::string Aiops() { return AIOPS_BINARY; }
using testing::Eventually;

std::string Standin() { return std::string(AIOPS_SOURCE_DIR) + "/tools/kubelet_standin.sh"; }

absl::Status RunStandin(const std::vector<std::string>& args) {
  return testing::RunKubeletStandin(Cp(), AIOPS_SOURCE_DIR, args);
}

class DaemonScenarioTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The CRDs, once for every scenario.
    const absl::Status crds = testing::InstallCrds(Cp(), AIOPS_SOURCE_DIR);
    ASSERT_TRUE(crds.ok()) << crds;
    ASSERT_TRUE(RunStandin({"node"}).ok());
  }

  void SetUp() override {
    client_ = testing::AdminKubeClient(Cp());
    ASSERT_NE(nullptr, client_);
    dir_ = testing::FreshTestDir("daemon");
    const std::string test_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ns_ = fmt::format("sc-{}", ++namespace_counter_);
    ASSERT_TRUE(
        client_
            ->Create("/api/v1/namespaces",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
            .ok());
  }

  void TearDown() override {
    // Runbooks match across namespaces (as upstream's do): none may leak into the next scenario.
    for (const std::string& name : runbooks_) {
      (void)client_->Delete(
          fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/runbooks/{}", ns_, name));
    }
    kubelet_.Signal(SIGKILL);
    (void)kubelet_.Wait(absl::Seconds(5));
    if (daemon_.Running()) {
      daemon_.Signal(SIGTERM);
      (void)daemon_.Wait(absl::Seconds(30));
    }
    if (HasFailure()) {
      std::ifstream log(dir_ + "/operator.log");
      std::stringstream s;
      s << log.rdbuf();
      std::string text = s.str();
      if (text.size() > 20'000) {
        text = "..." + text.substr(text.size() - 20'000);
      }
      ADD_FAILURE() << "operator log:\n" << text;
    } else {
      std::filesystem::remove_all(dir_);  // kept for a failed scenario, with its log
    }
  }

  // Deployment `name` (2 replicas, one container `web`, label app=`name`) rolled out and running.
  void CreateWeb(const std::string& image = "shop:1", const std::string& name = "web") {
    ASSERT_TRUE(
        client_
            ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns_),
                     {{"apiVersion", "apps/v1"},
                      {"kind", "Deployment"},
                      {"metadata", {{"name", name}}},
                      {"spec",
                       {{"replicas", 2},
                        {"selector", {{"matchLabels", {{"app", name}}}}},
                        {"template",
                         {{"metadata", {{"labels", {{"app", name}}}}},
                          {"spec", {{"containers", {{{"name", "web"}, {"image", image}}}}}}}}}}})
            .ok());
    ASSERT_TRUE(Eventually([&] { return Pods("", name).size() == 2; }, absl::Seconds(30)));
    // Retried: on a fresh control plane the stand-in's binding or status write can race the
    // ReplicaSet controller; the last error is reported if it never succeeds.
    absl::Status standin;
    ASSERT_TRUE(Eventually(
        [&] {
          standin = RunStandin({"run", ns_, "app=" + name});
          return standin.ok();
        },
        absl::Seconds(30), absl::Seconds(1)))
        << standin;
    ASSERT_TRUE(Eventually([&] { return RolloutComplete(name); }, absl::Seconds(30)));
  }

  // A new image for Deployment web's container: a rollout (a user's `kubectl set image`).
  void SetImage(const std::string& image) {
    ASSERT_TRUE(
        client_
            ->Patch(fmt::format("/apis/apps/v1/namespaces/{}/deployments/web", ns_),
                    {{"spec",
                      {{"template",
                        {{"spec", {{"containers", {{{"name", "web"}, {"image", image}}}}}}}}}}},
                    "application/strategic-merge-patch+json")
            .ok());
  }

  // The kubelet stand-in starting the pods of every later rollout.
  void StartKubelet() {
    ASSERT_TRUE(
        kubelet_
            .Start({"bash", Standin(), "--kubeconfig", Cp().kubeconfig, "loop", ns_, "", "1"},
                   dir_ + "/kubelet.log", {{"AIOPS_K8S_KUBECTL", Cp().kubectl}})
            .ok());
  }

  // `extra`: top-level configuration keys added to (or replacing) the scenario's defaults.
  void StartDaemon(const Json& pipeline = Json::object(),
                   const std::map<std::string, std::string>& env = {},
                   const Json& extra = Json::object()) {
    LaunchDaemon(pipeline, env, extra);
    ASSERT_TRUE(Eventually([&] { return Readyz().first == 200; }, absl::Seconds(30)))
        << "the operator never became ready";
  }

  // Starts `aiops run` with the scenario's configuration and kubeconfig_, without waiting.
  void LaunchDaemon(const Json& pipeline = Json::object(),
                    const std::map<std::string, std::string>& env = {},
                    const Json& extra = Json::object()) {
    http_port_ = testing::FreeLoopbackPort();
    // One cluster id per scenario: the Issues of earlier scenarios (other logs) stay in the API
    // server, and a log behind its own cluster id's Issues is refused.
    Json config = {{"clusterId", "scenario-" + ns_},
                   {"dataDir", dir_ + "/data"},
                   {"httpListen", fmt::format("127.0.0.1:{}", http_port_)},
                   {"grpcListen", "127.0.0.1:0"},
                   {"leaderElection", {{"enabled", true}, {"namespace", ns_}}},
                   {"watcher", {{"targets", {{{"namespace", ns_}}}}}},
                   {"reconcileInstances", false},
                   {"pipeline", pipeline}};
    config.update(extra);
    std::ofstream(dir_ + "/config.json") << config.dump(2);
    ASSERT_TRUE(daemon_
                    .Start({Aiops(), "run", "--config", dir_ + "/config.json", "--kubeconfig",
                            kubeconfig_.empty() ? Cp().kubeconfig : kubeconfig_},
                           dir_ + "/operator.log", env)
                    .ok());
  }

  // The daemon's /readyz: HTTP status (0: no answer) and body.
  std::pair<int, std::string> Readyz() const {
    httplib::Client http("127.0.0.1", http_port_);
    http.set_connection_timeout(2);
    http.set_read_timeout(5);
    auto res = http.Get("/readyz");
    return res ? std::pair{res->status, res->body} : std::pair{0, std::string()};
  }

  // The daemon's log lines (JSON) at `level` whose msg contains `text`.
  std::vector<Json> LogLines(const std::string& level, const std::string& text) const {
    std::vector<Json> out;
    std::istringstream lines(testing::ReadWholeFile(dir_ + "/operator.log"));
    for (std::string line; std::getline(lines, line);) {
      const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("level", "") == level &&
          j.value("msg", "").find(text) != std::string::npos) {
        out.push_back(j);
      }
    }
    return out;
  }

  // A kubeconfig for `server` (Cp()'s CA) and `token`, written to the scenario's folder.
  std::string WriteKubeconfig(const std::string& server, const std::string& token) const {
    const std::string path = dir_ + "/kubeconfig";
    std::ofstream(path) << fmt::format(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n"
        "    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {}\n"
        "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
        "current-context: x\n",
        server, Cp().ca_file, token);
    return path;
  }

  int StopDaemon() {
    daemon_.Signal(SIGTERM);
    absl::StatusOr<int> code = daemon_.Wait(absl::Seconds(30));
    return code.ok() ? *code : -1;
  }

  std::vector<std::string> Pods(const std::string& phase = "", const std::string& app = "web") {
    std::vector<std::string> out;
    absl::StatusOr<Json> list =
        client_->Get(fmt::format("/api/v1/namespaces/{}/pods?labelSelector=app%3D{}", ns_, app));
    if (list.ok()) {
      for (const Json& p : (*list)["items"]) {
        if (p["metadata"].contains("deletionTimestamp")) {
          continue;
        }
        if (phase.empty() || k8s_sync::StrAt(k8s_sync::At(p, "status"), "phase") == phase) {
          out.push_back(p["metadata"]["name"]);
        }
      }
    }
    return out;
  }

  Json Deployment(const std::string& name = "web") {
    return *client_->Get(fmt::format("/apis/apps/v1/namespaces/{}/deployments/{}", ns_, name));
  }

  bool RolloutComplete(const std::string& name = "web") {
    using k8s_sync::At;
    using k8s_sync::IntAt;
    const Json d = Deployment(name);  // status may still be absent right after a create
    const Json& st = At(d, "status");
    const int64_t desired = IntAt(At(d, "spec"), "replicas");
    return IntAt(st, "observedGeneration") >= IntAt(At(d, "metadata"), "generation") &&
           IntAt(st, "updatedReplicas") == desired && IntAt(st, "availableReplicas") == desired &&
           IntAt(st, "replicas") == desired;
  }

  Json Issues() {
    return (*client_->Get(
        fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/issues", ns_)))["items"];
  }

  // Waits until the namespace's (first) Issue is Resolved or Escalated; its final state.
  std::string WaitForTerminalIssue(absl::Duration timeout) {
    std::string state;
    Eventually(
        [&] {
          const Json items = Issues();
          state = items.empty() ? "" : k8s_sync::StrAt(k8s_sync::At(items[0], "status"), "state");
          return state == "Resolved" || state == "Escalated";
        },
        timeout);
    return state;
  }

  std::vector<v1::Event> ReadLog() {
    eventlog::RocksLogOptions options;
    options.path = dir_ + "/data/log";
    options.mode = eventlog::RocksLogOptions::Mode::kReadOnly;
    absl::StatusOr<std::unique_ptr<eventlog::RocksEventLog>> log =
        eventlog::RocksEventLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) {
      return {};
    }
    absl::StatusOr<std::vector<v1::Event>> events = (*log)->Read(1, 1'000'000);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<v1::Event>{};
  }

  // `aiops replay --verify` re-decides every input identically.
  void ExpectReplayVerifies() {
    absl::StatusOr<testing::ProcessResult> run =
        testing::RunProcess({Aiops(), "replay", "--verify", "--dir", dir_ + "/data/log"});
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(0, run->exit_code) << run->out << run->err;
    EXPECT_THAT(run->out, HasSubstr("verify: OK"));
  }

  void CreateRunbook(const std::string& name, const Json& steps, const std::string& severity) {
    runbooks_.push_back(name);
    ASSERT_TRUE(
        client_
            ->Create(fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/runbooks", ns_),
                     {{"apiVersion", "platform.chatcli.io/v1alpha1"},
                      {"kind", "Runbook"},
                      {"metadata", {{"name", name}}},
                      {"spec",
                       {{"description", "manual procedure for OOM kills"},
                        {"trigger",
                         {{"signalType", "oom_kill"},
                          {"severity", severity},
                          {"resourceKind", "Deployment"}}},
                        {"steps", steps},
                        {"maxAttempts", 2}}}})
            .ok());
  }

  static int namespace_counter_;
  std::unique_ptr<k8s_sync::KubeClient> client_;
  std::string dir_;
  std::string kubeconfig_;  // "" : the control plane's (admin) kubeconfig
  std::string ns_;
  int http_port_ = 0;
  std::vector<std::string> runbooks_;
  testing::ChildProcess daemon_;
  testing::ChildProcess kubelet_;
};

int DaemonScenarioTest::namespace_counter_ = 0;

template <typename Pred>
int Count(const std::vector<v1::Event>& events, Pred pred) {
  return static_cast<int>(std::count_if(events.begin(), events.end(), pred));
}

// SIGTERM while gRPC and webhook clients are appending: every alert the operator acknowledged is
// in the log at the sequence it was acknowledged with, the operator exits cleanly, and the log
// verifies and replays. Calls that fail (the server going away) may or may not have been
// committed; only acknowledged ones are checked.
// #21.2: a leader that loses the API server says so at once (a warning naming the edge and the
// cause, not one line per failed request), /readyz fails while it lasts and /metrics shows it;
// the recovery is said too and readiness comes back.
TEST_F(DaemonScenarioTest, AnUnreachableApiServerFailsReadyzAndIsLoggedThenItsRecovery) {
  testing::TcpRelay relay(Cp().host, Cp().port);
  ASSERT_TRUE(relay.Start("127.0.0.1"));
  kubeconfig_ = WriteKubeconfig(fmt::format("https://127.0.0.1:{}", relay.port()), Cp().token);
  StartDaemon(Json::object(), {}, {{"leaderElection", {{"enabled", false}}}});

  relay.Cut();  // nothing listens there any more, open connections are closed
  std::pair<int, std::string> ready;
  ASSERT_TRUE(Eventually(
      [&] {
        ready = Readyz();
        return ready.first == 503;
      },
      absl::Seconds(30)))
      << ready.second;
  EXPECT_THAT(ready.second, HasSubstr("not ready: apiserver fails since"));
  EXPECT_THAT(ready.second, HasSubstr(fmt::format("127.0.0.1:{}", relay.port())));
  httplib::Client http("127.0.0.1", http_port_);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("aiops_edge_failing{edge=\"apiserver\"} 1"));
  // Said at once, with the cause; not once per failed request.
  ASSERT_TRUE(Eventually([&] { return !LogLines("warn", "apiserver: failing").empty(); },
                         absl::Seconds(10)));
  const std::vector<Json> failing = LogLines("warn", "apiserver: failing");
  EXPECT_EQ("apiserver", failing[0].value("edge", ""));
  EXPECT_THAT(failing[0].value("cause", ""), HasSubstr(fmt::format("127.0.0.1:{}", relay.port())));
  absl::SleepFor(absl::Seconds(5));  // many more requests fail meanwhile
  EXPECT_EQ(1u, LogLines("warn", "apiserver: failing").size());

  relay.Restore();
  ASSERT_TRUE(Eventually([&] { return Readyz().first == 200; }, absl::Seconds(30)))
      << Readyz().second;
  ASSERT_TRUE(Eventually([&] { return !LogLines("warn", "apiserver: recovered").empty(); },
                         absl::Seconds(5)));
  EXPECT_EQ(0, StopDaemon());
}

// #21.2: a configuration that can never work is a clear error, not a silent wait: with a token
// the API server knows but RBAC grants nothing, the replica cannot take the Lease; it says so
// at once as an error naming the missing permission, and stays unready.
TEST_F(DaemonScenarioTest, ATokenWithoutRbacIsAnErrorNamingThePermissionNotASilentWait) {
  kubeconfig_ = WriteKubeconfig(Cp().server, Cp().viewer_token);
  LaunchDaemon();
  ASSERT_TRUE(Eventually([&] { return !LogLines("error", "retrying cannot fix it").empty(); },
                         absl::Seconds(20)))
      << testing::ReadWholeFile(dir_ + "/operator.log");
  const Json line = LogLines("error", "retrying cannot fix it")[0];
  EXPECT_EQ(fmt::format("lease {}/chatcli-aiops-leader", ns_), line.value("edge", ""));
  EXPECT_THAT(line.value("msg", ""), HasSubstr("forbidden"));
  EXPECT_THAT(line.value("msg", ""), HasSubstr("Role/ClusterRole"));
  const std::pair<int, std::string> ready = Readyz();
  EXPECT_EQ(503, ready.first);
  EXPECT_THAT(ready.second, HasSubstr("waiting for leadership"));
  EXPECT_EQ(0, StopDaemon());
}

// #21: a log folder emptied under the operator (or restored from an older copy) is not a new
// history to act on while the cluster shows Issues it wrote: the start is refused with the
// reason, and a restart (what the pod's restart does) refuses again.
TEST_F(DaemonScenarioTest, AnEmptiedLogIsRefusedWhileTheClusterShowsItsIssues) {
  StartDaemon();
  const Json payload = {{"version", "4"},
                        {"status", "firing"},
                        {"alerts",
                         {{{"status", "firing"},
                           {"labels",
                            {{"alertname", "KubePodCrashLooping"},
                             {"namespace", ns_},
                             {"pod", "web-7d9f8b6c5d-x2x8k"},
                             {"severity", "critical"}}},
                           {"annotations", {{"summary", "Pod is crash looping."}}},
                           {"startsAt", "2026-12-08T01:00:00Z"}}}}};
  httplib::Client http("127.0.0.1", http_port_);
  auto posted = http.Post("/webhook/alertmanager", payload.dump(), "application/json");
  ASSERT_TRUE(posted);
  ASSERT_EQ(200, posted->status) << posted->body;
  ASSERT_TRUE(Eventually(
      [&] {
        auto list = client_->Get(
            fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/issues", ns_));
        return list.ok() && !(*list)["items"].empty();
      },
      absl::Seconds(30)));
  ASSERT_EQ(0, StopDaemon());

  std::filesystem::remove_all(dir_ + "/data");  // the volume emptied
  for (int start = 1; start <= 2; ++start) {
    LaunchDaemon();
    absl::StatusOr<int> code = daemon_.Wait(absl::Seconds(60));
    ASSERT_TRUE(code.ok()) << "start " << start << " did not refuse";
    EXPECT_NE(0, *code) << start;
    EXPECT_FALSE(LogLines("error", "the event log is behind the cluster").empty()) << start;
  }
  // Nothing was acted on: the refused log holds no event of an alert or a decision.
  eventlog::RocksLogOptions options;
  options.path = dir_ + "/data/log";
  auto log = eventlog::RocksEventLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.status();
  auto events = (*log)->Read(1, 1000);
  ASSERT_TRUE(events.ok());
  for (const v1::Event& e : *events) {
    EXPECT_FALSE(e.has_alert_observed() || e.has_issue_opened()) << e.ShortDebugString();
  }
}

TEST_F(DaemonScenarioTest, SigtermUnderLoadLosesNoAcknowledgedEvent) {
  const int grpc_port = testing::FreeLoopbackPort();
  // Dry run: the load's incidents are decided but the cluster is left alone.
  StartDaemon({{"dryRun", {{"global", true}}}}, {},
              {{"grpcListen", fmt::format("127.0.0.1:{}", grpc_port)}});
  struct Ack {
    uint64_t sequence;
    std::string id;  // the source object uid (gRPC) or the message (webhook)
  };
  absl::Mutex mu;
  std::vector<Ack> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> acked_after_sigterm{0};
  std::atomic<bool> sigterm_sent{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::AiopsService::NewStub(grpc::CreateChannel(
          fmt::format("127.0.0.1:{}", grpc_port), grpc::InsecureChannelCredentials()));
      for (int n = 0; !stop.load(); ++n) {
        v1::AppendRequest request;
        for (int i = 0; i < 20; ++i) {
          v1::AlertObserved* a = request.add_events()->mutable_alert_observed();
          a->set_type(i % 2 == 0 ? "HighRestartCount" : "PodNotReady");
          a->set_namespace_(ns_);
          a->set_deployment(fmt::format("load-{}", (n + i) % 10));
          a->set_source_object_uid(fmt::format("grpc-{}-{}-{}", c, n, i));
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        const bool after = sigterm_sent.load();
        v1::AppendResponse response;
        if (!stub->Append(&context, request, &response).ok()) {
          absl::SleepFor(absl::Milliseconds(20));
          continue;
        }
        absl::MutexLock lock(&mu);
        for (int i = 0; i < response.sequences_size(); ++i) {
          acked.push_back(
              {response.sequences(i), request.events(i).alert_observed().source_object_uid()});
        }
        acked_after_sigterm += after ? response.sequences_size() : 0;
      }
    });
  }
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client http("127.0.0.1", http_port_);
      http.set_tcp_nodelay(true);
      for (int n = 0; !stop.load(); ++n) {
        Json alerts = Json::array();
        std::vector<std::string> messages;
        for (int i = 0; i < 5; ++i) {
          messages.push_back(fmt::format("hook-{}-{}-{}", c, n, i));
          alerts.push_back({{"status", "firing"},
                            {"labels",
                             {{"alertname", "HighErrorRate"},
                              {"namespace", ns_},
                              {"deployment", fmt::format("hook-{}", (n + i) % 10)},
                              {"severity", "warning"}}},
                            {"annotations", {{"summary", messages.back()}}}});
        }
        const bool after = sigterm_sent.load();
        const Json payload = {{"version", "4"}, {"status", "firing"}, {"alerts", alerts}};
        auto res = http.Post("/webhook/alertmanager", payload.dump(), "application/json");
        if (!res || res->status != 200) {
          absl::SleepFor(absl::Milliseconds(20));
          continue;
        }
        const Json body = Json::parse(res->body, nullptr, false);
        const Json& sequences = k8s_sync::At(body, "sequences");
        absl::MutexLock lock(&mu);
        for (size_t i = 0; i < sequences.size() && i < messages.size(); ++i) {
          acked.push_back({sequences[i].get<uint64_t>(), messages[i]});
        }
        acked_after_sigterm += after ? static_cast<int>(sequences.size()) : 0;
      }
    });
  }
  // Under load for a while, then SIGTERM while the calls keep coming.
  EXPECT_TRUE(Eventually(
      [&] {
        absl::MutexLock lock(&mu);
        return acked.size() >= 3000;
      },
      absl::Seconds(60), absl::Milliseconds(20)));
  sigterm_sent = true;
  daemon_.Signal(SIGTERM);
  absl::StatusOr<int> exit_code = daemon_.Wait(absl::Seconds(60));
  stop = true;
  for (std::thread& t : clients) {
    t.join();
  }
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(0, *exit_code);

  const std::vector<v1::Event> events = ReadLog();
  ASSERT_FALSE(events.empty());
  size_t checked = 0;
  for (const Ack& ack : acked) {
    ASSERT_GE(ack.sequence, 1U);
    ASSERT_LE(ack.sequence, events.size()) << "acknowledged " << ack.id << " at " << ack.sequence
                                           << " but the log ends at " << events.size();
    const v1::Event& e = events[ack.sequence - 1];
    ASSERT_EQ(ack.sequence, e.sequence());
    ASSERT_TRUE(e.has_alert_observed()) << ack.id << " at " << ack.sequence;
    const v1::AlertObserved& a = e.alert_observed();
    ASSERT_TRUE(a.source_object_uid() == ack.id || a.message() == ack.id)
        << "sequence " << ack.sequence << " holds " << a.ShortDebugString() << ", not " << ack.id;
    ++checked;
  }
  std::cout << "[          ] " << checked << " acknowledged alerts found in the log ("
            << acked_after_sigterm.load() << " acknowledged after SIGTERM was sent)\n";
  absl::StatusOr<testing::ProcessResult> verify =
      testing::RunProcess({Aiops(), "log", "verify", "--dir", dir_ + "/data/log"});
  ASSERT_TRUE(verify.ok());
  EXPECT_EQ(0, verify->exit_code) << verify->out << verify->err;
  ExpectReplayVerifies();
}

// a. OOM kill -> issue -> AdjustResources + restart -> new pods healthy -> Resolved; and g. the
// auto-generated Runbook reused by the next matching issue.
TEST_F(DaemonScenarioTest, OomKillIsRemediatedVerifiedAndResolved) {
  CreateWeb();
  StartDaemon();
  StartKubelet();
  const std::string pod = Pods()[0];
  ASSERT_TRUE(RunStandin({"fail", ns_, pod, "oom", "4"}).ok());
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(90)));

  const Json d = Deployment();
  const Json& c = d["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ("512Mi", c["resources"]["limits"]["memory"]);
  EXPECT_TRUE(d["spec"]["template"]["metadata"]["annotations"].contains(
      "kubectl.kubernetes.io/restartedAt"));
  // The CRs a user sees. The mirror writes each object on its own, so the plan may reach its
  // final state a moment after the Issue; likewise the metrics follow the log asynchronously.
  const std::string plans_path =
      fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/remediationplans", ns_);
  std::string plan_state;
  std::size_t plan_count = 0;
  EXPECT_TRUE(Eventually(
      [&] {
        absl::StatusOr<Json> plans = client_->Get(plans_path);
        if (!plans.ok()) {
          return false;
        }
        const Json& items = k8s_sync::At(*plans, "items");
        plan_count = items.size();
        plan_state =
            plan_count == 0 ? "" : k8s_sync::StrAt(k8s_sync::At(items[0], "status"), "state");
        return plan_count == 1 && plan_state == "Completed";
      },
      absl::Seconds(15)))
      << plan_count << " plans, the first " << plan_state;
  // #22.3: what was done is in Kubernetes Events too, on the workload and on the Issue.
  std::string described;
  EXPECT_TRUE(Eventually(
      [&] {
        auto out = testing::ControlPlaneEnvironment::Get().Kubectl(
            {"describe", "deployment", "web", "-n", ns_});
        described = out.ok() ? out->out : "";
        return absl::StrContains(described, "RemediationApplied");
      },
      absl::Seconds(15)))
      << described;
  EXPECT_THAT(described, HasSubstr("chatcli-aiops"));
  auto issue_events = client_->Get(
      fmt::format("/api/v1/namespaces/{}/events?fieldSelector=involvedObject.kind%3DIssue", ns_));
  ASSERT_TRUE(issue_events.ok());
  std::string reasons;
  for (const Json& e : (*issue_events)["items"]) {
    reasons += k8s_sync::StrAt(e, "reason") + " ";
  }
  EXPECT_THAT(reasons, HasSubstr("Resolved"));
  httplib::Client http("127.0.0.1", http_port_);
  std::string metrics_body;
  // The first incident's figures: events by type, one analysis in the latency histogram,
  // Kubernetes API requests by verb and code, the mirror's lag and the log's size.
  const std::vector<std::string> exact = {
      "aiops_actions_total{type=\"RestartDeployment\",result=\"succeeded\"} 1",
      "aiops_actions_total{type=\"AdjustResources\",result=\"succeeded\"} 1",
      "aiops_incidents{state=\"Resolved\"} 1",
      "aiops_events_appended_total{type=\"action_succeeded\"} 2",
      "aiops_events_appended_total{type=\"preflight_snapshot\"} 1",
      "aiops_events_appended_total{type=\"verification_passed\"} 1",
      "aiops_events_appended_total{type=\"issue_resolved\"} 1",
      "aiops_events_appended_total{type=\"analysis_completed\"} 1",
      "aiops_analyzer_latency_seconds_bucket{provider=\"builtin\",le=\"120\"} 1",
      "aiops_analyzer_latency_seconds_bucket{provider=\"builtin\",le=\"+Inf\"} 1",
      "aiops_analyzer_latency_seconds_count{provider=\"builtin\"} 1"};
  const std::vector<std::string> patterns = {
      "aiops_analyzer_latency_seconds_bucket\\{provider=\"builtin\",le=\"0.01\"\\} [01]\n",
      "aiops_kube_api_requests_total\\{verb=\"GET\",code=\"200\"\\} [1-9]",
      "aiops_kube_api_requests_total\\{verb=\"PUT\",code=\"200\"\\} [1-9]",
      "aiops_kube_api_requests_total\\{verb=\"WATCH\",code=\"200\"\\} [1-9]",
      "aiops_mirror_lag_events [0-9]+\n",
      "aiops_log_last_sequence [1-9][0-9]*\n",
      "aiops_log_size_bytes [1-9][0-9]*\n"};
  std::string missing;
  EXPECT_TRUE(Eventually(
      [&] {
        auto metrics = http.Get("/metrics");
        metrics_body = metrics ? metrics->body : "";
        missing.clear();
        for (const std::string& line : exact) {
          if (!absl::StrContains(metrics_body, line)) {
            missing += line + "\n";
          }
        }
        for (const std::string& pattern : patterns) {
          if (!::testing::Value(metrics_body, ::testing::ContainsRegex(pattern))) {
            missing += pattern + "\n";
          }
        }
        return missing.empty();
      },
      absl::Seconds(15)))
      << "missing:\n"
      << missing << "in:\n"
      << metrics_body;
  // The exposition passes Prometheus's own linter (tools/setup.sh installs promtool).
  absl::StatusOr<testing::ProcessResult> promtool = testing::RunProcess(
      {"promtool", "check", "metrics"}, {.env = {}, .stdin_data = metrics_body});
  ASSERT_TRUE(promtool.ok()) << promtool.status() << " (run tools/setup.sh to install promtool)";
  EXPECT_EQ(0, promtool->exit_code) << promtool->out << promtool->err;
  EXPECT_EQ("", promtool->out + promtool->err) << "promtool's lint findings";

  // g. The runbook generated from the AI's actions is a CR, and the next matching issue (an
  // OOM kill on another Deployment of the namespace, same signal, severity and kind) reuses it.
  const std::string runbooks_path =
      fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/runbooks", ns_);
  const Json generated = (*client_->Get(
      runbooks_path + "?labelSelector=platform.chatcli.io%2Fauto-generated%3Dtrue"))["items"];
  ASSERT_EQ(1U, generated.size());
  const std::string runbook = generated[0]["metadata"]["name"];
  CreateWeb("shop:1", "api");
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods("", "api")[0], "oom", "4"}).ok());
  ASSERT_TRUE(Eventually(
      [&] {
        int resolved = 0;
        for (const Json& issue : Issues()) {
          resolved += k8s_sync::StrAt(k8s_sync::At(issue, "status"), "state") == "Resolved";
        }
        return resolved == 2;
      },
      absl::Seconds(90)));

  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  // The context was recorded before the analysis that used it.
  int context_at = -1;
  int analysis_at = -1;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].has_context_collected() && context_at < 0) {
      context_at = static_cast<int>(i);
    }
    if (log[i].has_analysis_completed() && analysis_at < 0) {
      analysis_at = static_cast<int>(i);
    }
  }
  ASSERT_GE(context_at, 0);
  EXPECT_LT(context_at, analysis_at);
  EXPECT_THAT(log[static_cast<size_t>(context_at)].context_collected().context(),
              HasSubstr("OOMKilled"));
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) { return e.has_preflight_snapshot(); }));
  EXPECT_EQ(4, Count(log, [](const v1::Event& e) { return e.has_action_succeeded(); }));
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) { return e.has_verification_passed(); }));
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) { return e.has_issue_resolved(); }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_runbook_generated(); }));
  EXPECT_EQ(2, Count(log, [&](const v1::Event& e) {
              return e.has_runbook_matched() && e.runbook_matched().runbook_name() == runbook;
            }));
  ExpectReplayVerifies();
}

// b. A bad image rollout (the new revision crash-loops) is rolled back to the previous revision.
TEST_F(DaemonScenarioTest, BadImageRolloutIsRolledBack) {
  CreateWeb("shop:1");
  const Json before = Deployment()["spec"]["template"];
  StartDaemon();
  StartKubelet();
  SetImage("shop:2");
  ASSERT_TRUE(Eventually([&] { return RolloutComplete(); }, absl::Seconds(60)));
  // Every pod of revision 2 crash-loops.
  for (const std::string& pod : Pods()) {
    ASSERT_TRUE(RunStandin({"fail", ns_, pod, "crashloop", "5"}).ok());
  }
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(120)));
  const Json after = Deployment()["spec"]["template"];
  EXPECT_EQ("shop:1", after["spec"]["containers"][0]["image"]);
  EXPECT_EQ(before["spec"], after["spec"]);
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_action_started() &&
                     e.action_started().action().type() == "RollbackDeployment";
            }));
  ExpectReplayVerifies();
}

// e. Dry run: the plan is recorded and sent with dryRun=All; nothing changes; Escalated.
TEST_F(DaemonScenarioTest, DryRunChangesNothingAndEscalates) {
  CreateWeb();
  const Json before = Deployment();
  StartDaemon({{"dryRun", {{"global", true}}}});
  StartKubelet();
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  ASSERT_EQ("Escalated", WaitForTerminalIssue(absl::Seconds(60)));
  const Json after = Deployment();
  EXPECT_EQ(before["metadata"]["generation"], after["metadata"]["generation"]);
  EXPECT_EQ(before["spec"]["template"], after["spec"]["template"]);
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) { return e.has_preflight_snapshot(); }));
  EXPECT_GE(
      Count(log,
            [](const v1::Event& e) { return e.has_plan_created() && e.plan_created().dry_run(); }),
      1);
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_issue_escalated() && e.issue_escalated().reason() == "dry_run";
            }));
  // Every action went to the API server with dryRun=All (admitted, not persisted).
  const int started = Count(log, [](const v1::Event& e) { return e.has_action_started(); });
  EXPECT_GE(started, 1);
  EXPECT_EQ(started, Count(log, [](const v1::Event& e) {
              return e.has_action_succeeded() &&
                     absl::StartsWith(e.action_succeeded().summary(), "dry run: ");
            }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_plan_state_changed() &&
                     e.plan_state_changed().to_state() == "Completed" &&
                     absl::StrContains(e.plan_state_changed().reason(), "dryRun=All");
            }));
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) { return e.has_verification_passed(); }));
  ExpectReplayVerifies();
}

// f. The operator dies (SIGKILL-like _exit) after an action changed the cluster but before its
// result was logged; restarted, it finds the idempotency marker and does not apply it again.
TEST_F(DaemonScenarioTest, CrashAfterAnActionIsRecoveredWithoutApplyingItTwice) {
  CreateWeb();
  const int64_t generation = Deployment()["metadata"]["generation"];
  StartDaemon(Json::object(), {{"AIOPS_FAILPOINT", "crash-after-action-applied"}});
  StartKubelet();
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  absl::StatusOr<int> code = daemon_.Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << "the failpoint never fired";
  EXPECT_EQ(137, *code);
  StartDaemon();  // same data folder and configuration, failpoint off
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(90)));
  // Two template changes (resources, restart): the first one was not applied a second time.
  EXPECT_EQ(generation + 2, Deployment()["metadata"]["generation"].get<int64_t>());
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_action_succeeded() && e.action_succeeded().index() == 0 &&
                     e.action_succeeded().already_applied();
            }));
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) {
              return e.has_action_started() && e.action_started().index() == 0;
            }));
  ExpectReplayVerifies();
}

// g + d. A manual Runbook takes precedence over the AI's actions; its PatchConfig step changes
// the ConfigMap as planned.
TEST_F(DaemonScenarioTest, ManualRunbookWinsAndPatchesTheConfigMap) {
  CreateWeb();
  ASSERT_TRUE(client_
                  ->Create(fmt::format("/api/v1/namespaces/{}/configmaps", ns_),
                           {{"apiVersion", "v1"},
                            {"kind", "ConfigMap"},
                            {"metadata", {{"name", "web-config"}}},
                            {"data", {{"JAVA_OPTS", "-Xmx256m"}, {"MODE", "prod"}}}})
                  .ok());
  CreateRunbook("oom-procedure",
                {{{"name", "Raise the heap"},
                  {"action", "PatchConfig"},
                  {"params", {{"configmap", "web-config"}, {"JAVA_OPTS", "-Xmx1g"}}}},
                 {{"name", "Restart"}, {"action", "RestartDeployment"}}},
                "critical");
  StartDaemon();
  StartKubelet();
  // One OOM kill below the restart threshold: a single oom_kill anomaly (risk 30, but the
  // detector labels an OOM kill critical, so the issue is critical).
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "1"}).ok());
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(90)));
  const Json cm = *client_->Get(fmt::format("/api/v1/namespaces/{}/configmaps/web-config", ns_));
  EXPECT_EQ("-Xmx1g", cm["data"]["JAVA_OPTS"]);
  EXPECT_EQ("prod", cm["data"]["MODE"]);
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_runbook_matched() &&
                     e.runbook_matched().runbook_name() == "oom-procedure" &&
                     e.runbook_matched().tier() == 1;
            }));
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) { return e.has_runbook_generated(); }));
  ExpectReplayVerifies();
}

// h. An action that fails mid-plan: the preflight snapshot is restored (plan RolledBack).
TEST_F(DaemonScenarioTest, ActionFailingMidPlanRestoresThePreflightSnapshot) {
  CreateWeb();
  CreateRunbook(
      "scale-then-resize",
      {{{"name", "Scale out"}, {"action", "ScaleDeployment"}, {"params", {{"replicas", "3"}}}},
       {{"name", "Resize a container that does not exist"},
        {"action", "AdjustResources"},
        {"params", {{"container", "sidecar"}, {"memory_limit", "1Gi"}}}}},
      "critical");
  StartDaemon();
  StartKubelet();
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "1"}).ok());
  const std::string plan_path =
      fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/remediationplans", ns_);
  ASSERT_TRUE(Eventually(
      [&] {
        const absl::StatusOr<Json> plans = client_->Get(plan_path);
        if (!plans.ok()) {
          return false;
        }
        for (const Json& p : (*plans)["items"]) {
          if (k8s_sync::StrAt(k8s_sync::At(p, "status"), "state") == "RolledBack") {
            return true;
          }
        }
        return false;
      },
      absl::Seconds(90)));
  EXPECT_EQ(2, Deployment()["spec"]["replicas"]);  // scaled to 3, restored to 2
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_action_failed() && e.action_failed().index() == 1;
            }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_plan_rolled_back(); }));
  ExpectReplayVerifies();
}

// c. A remediation that never becomes healthy (no kubelet for the new pods): each failed
// verification is re-analysed with the failure context of every earlier attempt, no failed plan
// is repeated, and the issue ends Escalated with every attempt recorded.
TEST_F(DaemonScenarioTest, NeverHealthyIsReanalysedThenEscalated) {
  // A user's rollout (shop:1 -> shop:2) completes; then the kubelet stand-in stops, so the pods
  // of every later rollout never start.
  CreateWeb("shop:1");
  StartKubelet();
  SetImage("shop:2");
  ASSERT_TRUE(Eventually([&] { return RolloutComplete(); }, absl::Seconds(60)));
  kubelet_.Signal(SIGKILL);
  ASSERT_TRUE(kubelet_.Wait(absl::Seconds(5)).ok());
  const Json before = Deployment()["spec"]["template"];
  StartDaemon({{"verificationWindowMs", "3000"},
               {"maxRemediationAttempts", 2},
               {"safety", {{"resourceCooldownMs", "1000"}}}});
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  ASSERT_EQ("Escalated", WaitForTerminalIssue(absl::Seconds(120)));
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  std::vector<std::string> plans;
  std::vector<std::vector<std::string>> plan_actions;  // action types, by plan
  std::set<std::string> distinct;
  std::vector<v1::AnalysisRequested> requests;
  std::vector<v1::IssueEscalated> escalations;
  std::vector<std::string> verification_failures;
  for (const v1::Event& e : log) {
    if (e.has_plan_created()) {
      std::string actions;
      plan_actions.emplace_back();
      for (const v1::ActionSpec& a : e.plan_created().actions()) {
        actions += a.SerializeAsString();
        plan_actions.back().push_back(a.type());
      }
      plans.push_back(e.plan_created().plan_name());
      distinct.insert(actions);
    } else if (e.has_analysis_requested()) {
      requests.push_back(e.analysis_requested());
    } else if (e.has_issue_escalated()) {
      escalations.push_back(e.issue_escalated());
    } else if (e.has_verification_failed()) {
      // Failed by the verifier with evidence, before the core's deadline could fail it blind.
      EXPECT_EQ("verifier", e.producer()) << e.ShortDebugString();
      verification_failures.push_back(e.verification_failed().reason());
    }
  }
  // The built-in rules know two strategies for an OOM kill with a new revision in the context
  // (raise the memory limit and restart; roll back), each tried once; after the second attempt
  // fails the issue escalates as max_attempts. At the second analysis the history also holds the
  // first plan's revisions (the raised limit, its restart, and the restore's renumbering, in
  // whatever state kube-controller-manager has reached): the rollback passes over them to the
  // revision before the user's rollout, by number, since "previous" would be the failed plan's.
  // (With more attempts allowed, a third analysis finds nothing new and the issue escalates as
  // no_new_strategy: pipeline_test covers that.)
  ASSERT_EQ(1U, escalations.size());
  EXPECT_EQ("max_attempts", escalations[0].reason());
  EXPECT_THAT(escalations[0].detail(), HasSubstr("2 of 2 attempts failed"));
  ASSERT_EQ(2U, plans.size());
  EXPECT_THAT(plan_actions[0], ::testing::ElementsAre("AdjustResources", "RestartDeployment"));
  EXPECT_THAT(plan_actions[1], ::testing::ElementsAre("RollbackDeployment"));
  const auto rolled_back = std::find_if(log.begin(), log.end(), [&](const v1::Event& e) {
    return e.has_action_succeeded() && e.action_succeeded().plan_name() == plans[1];
  });
  ASSERT_NE(log.end(), rolled_back);
  EXPECT_THAT(rolled_back->action_succeeded().summary(), HasSubstr("rolled back to revision 1"));
  EXPECT_THAT(rolled_back->action_succeeded().summary(), HasSubstr("images web=shop:1"));
  EXPECT_EQ(plans.size(), distinct.size()) << "a failed plan was repeated";
  // Every attempt is recorded: attempt n is analysed with one failure per earlier attempt, each
  // naming its plan and carrying the verification's evidence.
  ASSERT_EQ(2U, requests.size());
  for (size_t n = 0; n < requests.size(); ++n) {
    EXPECT_EQ(static_cast<int>(n + 1), requests[n].attempt());
    ASSERT_EQ(static_cast<int>(n), requests[n].previous_failures_size());
    for (size_t k = 0; k < n; ++k) {
      const v1::AttemptFailure& f = requests[n].previous_failures(static_cast<int>(k));
      EXPECT_EQ(static_cast<int>(k + 1), f.attempt());
      EXPECT_EQ(plans[k], f.plan_name());
      EXPECT_THAT(f.failure(), HasSubstr("verification failed"));
      EXPECT_THAT(f.failure(), HasSubstr("observedGeneration"));
    }
  }
  // The evidence of each expired window: the rollout's numbers and the unhealthy pods' states.
  ASSERT_EQ(2U, verification_failures.size());
  for (const std::string& reason : verification_failures) {
    EXPECT_THAT(reason, HasSubstr(fmt::format(
                            "Deployment {}/web was not healthy within the 3 s verification "
                            "window: rollout of {}/web: observedGeneration",
                            ns_, ns_)));
    EXPECT_THAT(reason, ::testing::ContainsRegex("desired 2, updated [0-9]+, ready [0-9]+, "
                                                 "available [0-9]+, unavailable [1-9]"));
    EXPECT_THAT(reason, ::testing::ContainsRegex("[1-9] of [0-9]+ pods not ready"));
    EXPECT_THAT(reason, HasSubstr("phase=Pending (not scheduled)"));
  }
  // Each failed plan was restored from its preflight snapshot: the Deployment is back to the
  // template it had before the incident, with 2 replicas.
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) { return e.has_plan_rolled_back(); }));
  const Json d = Deployment();
  EXPECT_EQ(before, d["spec"]["template"]);
  EXPECT_EQ(2, d["spec"]["replicas"]);
  EXPECT_EQ(plans[1] + "/rollback",
            k8s_sync::StrAt(k8s_sync::At(k8s_sync::At(d, "metadata"), "annotations"),
                            "platform.chatcli.io/applied-action"));
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) { return e.has_issue_resolved(); }));
  ExpectReplayVerifies();
}

// The scenario CI once failed on, without a user's rollout: after the failed "raise the limit and
// restart" is restored, its revisions are the only change in the history. The second analysis
// neither blames them nor rolls back into them (the failed limit): nothing is left to try, and
// the issue escalates with the Deployment as it was.
TEST_F(DaemonScenarioTest, AFailedPlansOwnRevisionsAreNotRolledBackInto) {
  CreateWeb();
  const Json before = Deployment()["spec"]["template"];
  StartDaemon({{"verificationWindowMs", "3000"},
               {"maxRemediationAttempts", 3},
               {"safety", {{"resourceCooldownMs", "1000"}}}});
  // No kubelet loop: pods of a new rollout never start.
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  ASSERT_EQ("Escalated", WaitForTerminalIssue(absl::Seconds(120)));
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_plan_created(); }));
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) {
              return e.has_action_started() &&
                     e.action_started().action().type() == "RollbackDeployment";
            }));
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) { return e.has_analysis_requested(); }));
  const auto escalated = std::find_if(log.begin(), log.end(),
                                      [](const v1::Event& e) { return e.has_issue_escalated(); });
  ASSERT_NE(log.end(), escalated);
  EXPECT_EQ("no_new_strategy", escalated->issue_escalated().reason());
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_plan_rolled_back(); }));
  EXPECT_EQ(before, Deployment()["spec"]["template"]);
  ExpectReplayVerifies();
}

// Verification watches the pods, not only the rollout: a new pod that is OOM-killed again after
// the actions fails the verification at once, with the evidence, before the window ends.
TEST_F(DaemonScenarioTest, FailureComingBackFailsVerificationWithEvidence) {
  CreateWeb();
  const std::vector<std::string> old_pods = Pods();
  StartDaemon({{"maxRemediationAttempts", 1}, {"verificationWindowMs", "120000"}});
  ASSERT_TRUE(RunStandin({"fail", ns_, old_pods[0], "oom", "4"}).ok());
  const std::string plan_path =
      fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/remediationplans", ns_);
  ASSERT_TRUE(Eventually(
      [&] {
        const absl::StatusOr<Json> plans = client_->Get(plan_path);
        return plans.ok() && !(*plans)["items"].empty() &&
               k8s_sync::StrAt(k8s_sync::At((*plans)["items"][0], "status"), "state") ==
                   "Verifying";
      },
      absl::Seconds(60)));
  // The rollout's new pods start, and one of them is OOM-killed again.
  std::vector<std::string> fresh;
  ASSERT_TRUE(Eventually(
      [&] {
        (void)RunStandin({"start", ns_, "app=web"});
        fresh.clear();
        // A pod of the Deployment's current revision (an intermediate revision's pods go).
        const Json d = Deployment();
        if (k8s_sync::IntAt(k8s_sync::At(d, "status"), "observedGeneration") <
            k8s_sync::IntAt(k8s_sync::At(d, "metadata"), "generation")) {
          return false;  // the controller has not seen the last template yet
        }
        const std::string revision =
            k8s_sync::StrAt(k8s_sync::At(k8s_sync::At(d, "metadata"), "annotations"),
                            "deployment.kubernetes.io/revision");
        std::string hash;
        const absl::StatusOr<Json> sets =
            client_->Get(fmt::format("/apis/apps/v1/namespaces/{}/replicasets", ns_));
        for (const Json& rs : k8s_sync::At(*sets, "items")) {
          const Json& meta = k8s_sync::At(rs, "metadata");
          if (k8s_sync::StrAt(k8s_sync::At(meta, "annotations"),
                              "deployment.kubernetes.io/revision") == revision) {
            hash = k8s_sync::StrAt(k8s_sync::At(meta, "labels"), "pod-template-hash");
          }
        }
        const absl::StatusOr<Json> pods = client_->Get(fmt::format(
            "/api/v1/namespaces/{}/pods?labelSelector=pod-template-hash%3D{}", ns_, hash));
        for (const Json& pod : k8s_sync::At(*pods, "items")) {
          if (!hash.empty() && k8s_sync::StrAt(k8s_sync::At(pod, "status"), "phase") == "Running" &&
              !k8s_sync::At(k8s_sync::At(pod, "metadata"), "deletionTimestamp").is_string()) {
            fresh.push_back(k8s_sync::StrAt(k8s_sync::At(pod, "metadata"), "name"));
          }
        }
        return !fresh.empty();
      },
      absl::Seconds(30)));
  // Kubernetes times have whole seconds: the recurrence must fall in a later second than the
  // actions to be told apart from the failure that opened the issue.
  absl::SleepFor(absl::Milliseconds(1100));
  ASSERT_TRUE(RunStandin({"fail", ns_, fresh[0], "oom", "1"}).ok());
  const absl::Time failed_at = absl::Now();
  ASSERT_EQ("Escalated", WaitForTerminalIssue(absl::Seconds(60)));
  EXPECT_LT(absl::Now() - failed_at, absl::Seconds(60));  // long before the 120 s window
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  const auto failed = std::find_if(log.begin(), log.end(),
                                   [](const v1::Event& e) { return e.has_verification_failed(); });
  ASSERT_NE(log.end(), failed);
  EXPECT_THAT(failed->verification_failed().reason(), HasSubstr("came back"));
  EXPECT_THAT(failed->verification_failed().reason(), HasSubstr(fresh[0]));
  EXPECT_THAT(failed->verification_failed().reason(), HasSubstr("OOMKilled"));
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) { return e.has_deadline_reached(); }));
  ExpectReplayVerifies();
}

// The analyzer configured from a ChatCLI Instance (analyzer.provider chatcli, analyzer.instance):
// while the Instance cannot be found, the built-in rules answer, and the log records why.
TEST_F(DaemonScenarioTest, MissingChatCliInstanceFallsBackToTheBuiltInRules) {
  CreateWeb();
  StartDaemon(Json::object(), {},
              {{"analyzer", {{"provider", "chatcli"}, {"instance", ns_ + "/no-such-chatcli"}}}});
  StartKubelet();
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(90)));
  EXPECT_EQ(0, StopDaemon());
  const std::vector<v1::Event> log = ReadLog();
  const auto answer = std::find_if(log.begin(), log.end(),
                                   [](const v1::Event& e) { return e.has_analysis_completed(); });
  ASSERT_NE(log.end(), answer);
  const v1::AnalysisCompleted& a = answer->analysis_completed();
  EXPECT_TRUE(a.fallback());
  EXPECT_EQ("builtin", a.provider());
  EXPECT_THAT(a.fallback_reason(), HasSubstr("no-such-chatcli"));
  ExpectReplayVerifies();
}

}  // namespace
}  // namespace aiops
