// Failover of the operator (issue #5 item 6): two real `aiops run` processes A and B on the real
// control plane, sharing ONE data folder (one PVC, as a StatefulSet pod rescheduled elsewhere
// sees it) and one Lease. Only the Lease holder opens the RocksDB log; the stand-by waits. The
// leader is killed (SIGKILL), stopped (SIGTERM), killed in the middle of a remediation plan, and
// frozen (SIGSTOP, a partitioned process that still holds RocksDB's lock on the log); each time
// the log stays one dense, verifiable history and the cluster sees every action once.
//
// Timing: the daemon's Lease lasts 15 s (renew deadline 10 s, retry 2 s); every bound below
// leaves several seconds of slack, since the machine running the tests may be slow.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "common/fmt_absl.h"
#include "eventlog/rocks_event_log.h"
#include "k8s_sync/json_access.h"
#include "k8s_sync/kube_client.h"
#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"
#include "support/subprocess.h"
#include "support/test_dir.h"

namespace aiops {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kLeaseDuration = absl::Seconds(15);  // the daemon's default
constexpr absl::Duration kRetryPeriod = absl::Seconds(2);
constexpr char kLeaseName[] = "chatcli-aiops-leader";

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::string Aiops() { return AIOPS_BINARY; }
using testing::Eventually;

std::string Standin() { return std::string(AIOPS_SOURCE_DIR) + "/tools/kubelet_standin.sh"; }

absl::Status RunStandin(const std::vector<std::string>& args) {
  return testing::RunKubeletStandin(Cp(), AIOPS_SOURCE_DIR, args);
}

// One `aiops run` process.
struct Replica {
  std::string name;
  int http_port = 0;
  std::string log_path;  // its stdout and stderr (JSON lines)
  testing::ChildProcess process;

  std::string Log() const { return testing::ReadWholeFile(log_path); }
  // The HTTP status of /readyz, 0 when it does not answer.
  int Readyz() const {
    httplib::Client http("127.0.0.1", http_port);
    http.set_connection_timeout(2);
    http.set_read_timeout(5);
    auto res = http.Get("/readyz");
    return res ? res->status : 0;
  }
  // A field of the first log line with message `msg` ("" when there is none).
  std::string Field(const std::string& msg, const std::string& key) const {
    std::istringstream lines(Log());
    for (std::string line; std::getline(lines, line);) {
      const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.value("msg", "") == msg) {
        return j.value(key, "");
      }
    }
    return "";
  }
  // Its Lease identity.
  std::string Identity() const { return Field("waiting for leadership", "identity"); }
  // Files of the process under `prefix` (from /proc/PID/fd).
  std::vector<std::string> OpenFilesUnder(const std::string& prefix) const {
    std::vector<std::string> out;
    const std::string canonical = std::filesystem::weakly_canonical(prefix).string();
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", process.pid()), ec)) {
      std::error_code link_ec;
      const std::string target = std::filesystem::read_symlink(entry.path(), link_ec).string();
      if (!link_ec && target.rfind(canonical, 0) == 0) {
        out.push_back(target);
      }
    }
    return out;
  }
};

class FailoverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const absl::Status crds = testing::InstallCrds(Cp(), AIOPS_SOURCE_DIR);
    ASSERT_TRUE(crds.ok()) << crds;
    ASSERT_TRUE(RunStandin({"node"}).ok());
  }

  void SetUp() override {
    client_ = testing::AdminKubeClient(Cp());
    ASSERT_NE(nullptr, client_);
    dir_ = testing::FreshTestDir("failover");
    ns_ = fmt::format("fo-{}", ++namespace_counter_);
    ASSERT_TRUE(
        client_
            ->Create("/api/v1/namespaces",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
            .ok());
  }

  void TearDown() override {
    kubelet_.Signal(SIGKILL);
    (void)kubelet_.Wait(absl::Seconds(5));
    for (Replica* r : {&a_, &b_}) {
      if (r->process.pid() > 0 && r->process.Running()) {
        r->process.Signal(SIGCONT);  // a test may have left it frozen
        r->process.Signal(SIGTERM);
        if (!r->process.Wait(absl::Seconds(30)).ok()) {
          r->process.Signal(SIGKILL);
          (void)r->process.Wait(absl::Seconds(10));
        }
      }
    }
    if (HasFailure()) {
      for (const Replica* r : {&a_, &b_}) {
        std::string text = r->Log();
        if (text.size() > 15'000) {
          text = "..." + text.substr(text.size() - 15'000);
        }
        ADD_FAILURE() << "operator log of " << r->name << ":\n" << text;
      }
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  // Starts `r` on the shared data folder and the namespace's Lease.
  void StartReplica(Replica& r, const std::string& name,
                    const std::map<std::string, std::string>& env = {}) {
    r.name = name;
    r.http_port = testing::FreeLoopbackPort();
    r.log_path = fmt::format("{}/operator-{}.log", dir_, name);
    const Json config = {{"clusterId", "failover-" + ns_},
                         {"dataDir", dir_ + "/data"},
                         {"httpListen", fmt::format("127.0.0.1:{}", r.http_port)},
                         {"grpcListen", "127.0.0.1:0"},
                         {"leaderElection", {{"enabled", true}, {"namespace", ns_}}},
                         {"watcher", {{"targets", {{{"namespace", ns_}}}}}},
                         {"reconcileInstances", false}};
    const std::string config_path = fmt::format("{}/config-{}.json", dir_, name);
    std::ofstream(config_path) << config.dump(2);
    ASSERT_TRUE(
        r.process
            .Start({Aiops(), "run", "--config", config_path, "--kubeconfig", Cp().kubeconfig},
                   r.log_path, env)
            .ok());
  }

  // A leads (ready) and B is its stand-by: not ready, waiting for the Lease, the log not open.
  void StartLeaderAndStandby(const std::map<std::string, std::string>& leader_env = {}) {
    StartReplica(a_, "A", leader_env);
    ASSERT_TRUE(Eventually([&] { return a_.Readyz() == 200; }, absl::Seconds(60)))
        << "A never became ready";
    StartReplica(b_, "B");
    ASSERT_TRUE(Eventually([&] { return b_.Readyz() == 503; }, absl::Seconds(30)))
        << "B's HTTP server never answered";
    ASSERT_THAT(b_.Log(), HasSubstr("waiting for leadership"));
    // Two retry periods: B keeps losing the race for a live Lease.
    absl::SleepFor(2 * kRetryPeriod);
    EXPECT_EQ(503, b_.Readyz());
    EXPECT_EQ(200, a_.Readyz());
    const std::string b_log = b_.Log();
    EXPECT_THAT(b_log, Not(HasSubstr("leading:")));
    EXPECT_THAT(b_log, Not(HasSubstr("log open")));
    EXPECT_THAT(b_.OpenFilesUnder(dir_ + "/data"), ::testing::IsEmpty())
        << "the stand-by opened files of the shared log";
    EXPECT_THAT(a_.OpenFilesUnder(dir_ + "/data/log"), Not(::testing::IsEmpty()));
    EXPECT_EQ(a_.Identity(), LeaseHolder());
  }

  std::string LeaseHolder() {
    absl::StatusOr<Json> lease = client_->Get(
        fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}", ns_, kLeaseName));
    if (!lease.ok()) {
      return "<no lease>";
    }
    return k8s_sync::StrAt(k8s_sync::At(*lease, "spec"), "holderIdentity");
  }

  // Waits until `r` answers /readyz with 200; the time it took.
  absl::Duration WaitReady(const Replica& r, absl::Duration timeout) {
    const absl::Time start = absl::Now();
    Eventually([&] { return r.Readyz() == 200; }, timeout);
    return absl::Now() - start;
  }

  int Stop(Replica& r) {
    r.process.Signal(SIGTERM);
    absl::StatusOr<int> code = r.process.Wait(absl::Seconds(30));
    return code.ok() ? *code : -1;
  }

  void CreateWeb() {
    ASSERT_TRUE(
        client_
            ->Create(fmt::format("/apis/apps/v1/namespaces/{}/deployments", ns_),
                     {{"apiVersion", "apps/v1"},
                      {"kind", "Deployment"},
                      {"metadata", {{"name", "web"}}},
                      {"spec",
                       {{"replicas", 2},
                        {"selector", {{"matchLabels", {{"app", "web"}}}}},
                        {"template",
                         {{"metadata", {{"labels", {{"app", "web"}}}}},
                          {"spec", {{"containers", {{{"name", "web"}, {"image", "shop:1"}}}}}}}}}}})
            .ok());
    ASSERT_TRUE(Eventually([&] { return Pods().size() == 2; }, absl::Seconds(30)));
    ASSERT_TRUE(RunStandin({"run", ns_, "app=web"}).ok());
    ASSERT_TRUE(Eventually([&] { return RolloutComplete(); }, absl::Seconds(30)));
  }

  void StartKubelet() {
    ASSERT_TRUE(kubelet_
                    .Start({"bash", Standin(), "--kubeconfig", Cp().kubeconfig, "loop", ns_,
                            "app=web", "1"},
                           dir_ + "/kubelet.log", {{"AIOPS_K8S_KUBECTL", Cp().kubectl}})
                    .ok());
  }

  // Reads below go through k8s_sync/json_access.h and tolerate a failed request (the machine is
  // shared and the API server may answer late): a poll then simply tries again.
  std::vector<std::string> Pods() {
    std::vector<std::string> out;
    absl::StatusOr<Json> list = client_->Get(fmt::format("/api/v1/namespaces/{}/pods", ns_));
    if (list.ok() && k8s_sync::At(*list, "items").is_array()) {
      for (const Json& p : k8s_sync::At(*list, "items")) {
        const Json& metadata = k8s_sync::At(p, "metadata");
        if (!metadata.contains("deletionTimestamp")) {
          out.push_back(k8s_sync::StrAt(metadata, "name"));
        }
      }
    }
    return out;
  }

  // The Deployment `web` (null when it cannot be read).
  Json Deployment() {
    absl::StatusOr<Json> d =
        client_->Get(fmt::format("/apis/apps/v1/namespaces/{}/deployments/web", ns_));
    return d.ok() ? *d : Json();
  }

  int64_t Generation() {
    return k8s_sync::IntAt(k8s_sync::At(Deployment(), "metadata"), "generation");
  }

  bool RolloutComplete() {
    const Json d = Deployment();
    const Json& st = k8s_sync::At(d, "status");
    const int64_t desired = k8s_sync::IntAt(k8s_sync::At(d, "spec"), "replicas");
    return desired > 0 &&
           k8s_sync::IntAt(st, "observedGeneration") >=
               k8s_sync::IntAt(k8s_sync::At(d, "metadata"), "generation") &&
           k8s_sync::IntAt(st, "updatedReplicas") == desired &&
           k8s_sync::IntAt(st, "availableReplicas") == desired &&
           k8s_sync::IntAt(st, "replicas") == desired;
  }

  std::string WaitForTerminalIssue(absl::Duration timeout) {
    std::string state;
    Eventually(
        [&] {
          const absl::StatusOr<Json> issues = client_->Get(
              fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/issues", ns_));
          if (!issues.ok()) {
            return false;
          }
          const Json& items = k8s_sync::At(*issues, "items");
          if (!items.is_array() || items.empty()) {
            return false;
          }
          state = k8s_sync::StrAt(k8s_sync::At(items[0], "status"), "state");
          return state == "Resolved" || state == "Escalated";
        },
        timeout);
    return state;
  }

  // The log, read after every replica stopped; checked dense from sequence 1.
  std::vector<v1::Event> ReadDenseLog() {
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
    if (!events.ok()) {
      return {};
    }
    EXPECT_EQ((*log)->LastSequence(), events->size());
    for (size_t i = 0; i < events->size(); ++i) {
      EXPECT_EQ(i + 1, (*events)[i].sequence()) << "gap in the log";
      if ((*events)[i].sequence() != i + 1) {
        break;
      }
    }
    return *events;
  }

  // `aiops log verify` (checksums, density, hash chain) and `aiops replay --verify`.
  void ExpectLogVerifies() {
    absl::StatusOr<testing::ProcessResult> run =
        testing::RunProcess({Aiops(), "log", "verify", "--dir", dir_ + "/data/log"});
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(0, run->exit_code) << run->out << run->err;
    run = testing::RunProcess({Aiops(), "replay", "--verify", "--dir", dir_ + "/data/log"});
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(0, run->exit_code) << run->out << run->err;
    EXPECT_THAT(run->out, HasSubstr("verify: OK"));
  }

  static int namespace_counter_;
  std::unique_ptr<k8s_sync::KubeClient> client_;
  std::string dir_;
  std::string ns_;
  Replica a_;
  Replica b_;
  testing::ChildProcess kubelet_;
};

int FailoverTest::namespace_counter_ = 0;

template <typename Pred>
int Count(const std::vector<v1::Event>& events, Pred pred) {
  return static_cast<int>(std::count_if(events.begin(), events.end(), pred));
}

// (1) The leader is killed: the stand-by takes the Lease once it expires, opens the log and
// carries on; an incident played after the takeover is remediated and resolved.
TEST_F(FailoverTest, KilledLeaderIsReplacedAfterTheLeaseExpiresAndThePipelineContinues) {
  CreateWeb();
  StartLeaderAndStandby();
  const std::string b_identity = b_.Identity();
  ASSERT_FALSE(b_identity.empty());

  const absl::Time killed = absl::Now();
  a_.process.Signal(SIGKILL);
  absl::StatusOr<int> a_code = a_.process.Wait(absl::Seconds(10));
  ASSERT_TRUE(a_code.ok());
  EXPECT_EQ(137, *a_code);
  WaitReady(b_, kLeaseDuration + 2 * kRetryPeriod + absl::Seconds(40));
  const absl::Duration takeover = absl::Now() - killed;
  ASSERT_EQ(200, b_.Readyz()) << "B never took over";
  std::cout << "[ takeover ] SIGKILL of the leader -> stand-by ready in "
            << absl::FormatDuration(takeover) << " (lease " << absl::FormatDuration(kLeaseDuration)
            << ", retry " << absl::FormatDuration(kRetryPeriod) << ")\n";
  // A killed leader releases nothing: B waits for the Lease to expire, measured from the last
  // renewal it saw (at most one retry period before the kill)...
  EXPECT_GE(takeover, kLeaseDuration - kRetryPeriod);
  // ... and then takes it at its next retry; the rest is opening the log and starting up.
  EXPECT_LE(takeover, kLeaseDuration + 2 * kRetryPeriod + absl::Seconds(15));
  EXPECT_EQ(b_identity, LeaseHolder());
  // B opened the log A wrote (A recorded the configuration when it started leading).
  EXPECT_NE("", b_.Field("log open", "last_sequence"));
  EXPECT_NE("0", b_.Field("log open", "last_sequence"));

  StartKubelet();
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(120)));
  using k8s_sync::At;
  const Json deployment = Deployment();
  const Json& containers = At(At(At(At(deployment, "spec"), "template"), "spec"), "containers");
  ASSERT_TRUE(containers.is_array() && !containers.empty());
  EXPECT_EQ("512Mi", k8s_sync::StrAt(At(At(containers[0], "resources"), "limits"), "memory"));
  EXPECT_EQ(0, Stop(b_));

  const std::vector<v1::Event> log = ReadDenseLog();
  // A recorded the configuration; B found it in the log it took over and did not record it again.
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_config_changed(); }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_issue_resolved(); }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_verification_passed(); }));
  ExpectLogVerifies();
}

// (2) A leader stopped with SIGTERM releases the Lease: the stand-by takes over at its next
// retry, without waiting for the Lease to expire.
TEST_F(FailoverTest, StoppedLeaderReleasesTheLeaseAndTheStandbyTakesOverAtOnce) {
  StartLeaderAndStandby();
  a_.process.Signal(SIGTERM);
  absl::StatusOr<int> a_code = a_.process.Wait(absl::Seconds(30));
  ASSERT_TRUE(a_code.ok());
  EXPECT_EQ(0, *a_code);
  const absl::Time exited = absl::Now();
  const std::string holder = LeaseHolder();
  EXPECT_TRUE(holder.empty() || holder == b_.Identity())
      << "the Lease was not released: held by " << holder;
  WaitReady(b_, absl::Seconds(60));
  const absl::Duration handover = absl::Now() - exited;
  ASSERT_EQ(200, b_.Readyz()) << "B never took over";
  std::cout << "[ handover ] SIGTERM of the leader -> stand-by ready "
            << absl::FormatDuration(handover) << " after the leader exited (lease "
            << absl::FormatDuration(kLeaseDuration) << ")\n";
  // Waiting for expiry would take at least the lease duration minus a retry period (13 s).
  EXPECT_LT(handover, absl::Seconds(10));
  EXPECT_EQ(b_.Identity(), LeaseHolder());
  EXPECT_EQ(0, Stop(b_));
  ReadDenseLog();
  ExpectLogVerifies();
}

// (3) The leader dies in the middle of a plan, after an action changed the Deployment but before
// its result was logged. The successor finishes the plan from the log: it finds the action's
// idempotency marker and records it as already applied instead of applying it again.
TEST_F(FailoverTest, AnIncidentInFlightDuringFailoverCompletesExactlyOnce) {
  CreateWeb();
  const int64_t generation = Generation();
  ASSERT_GT(generation, 0);
  StartLeaderAndStandby({{"AIOPS_FAILPOINT", "crash-after-action-applied"}});
  StartKubelet();
  ASSERT_TRUE(RunStandin({"fail", ns_, Pods()[0], "oom", "4"}).ok());
  absl::StatusOr<int> a_code = a_.process.Wait(absl::Seconds(120));
  ASSERT_TRUE(a_code.ok()) << "the failpoint never fired on A";
  EXPECT_EQ(137, *a_code);
  EXPECT_THAT(a_.Log(), HasSubstr("failpoint crash-after-action-applied: exiting"));
  // The first action was applied once, by A.
  EXPECT_EQ(generation + 1, Generation());

  const absl::Duration takeover = WaitReady(b_, kLeaseDuration + absl::Seconds(45));
  ASSERT_EQ(200, b_.Readyz()) << "B never took over";
  std::cout << "[ takeover ] mid-plan crash of the leader -> stand-by ready in "
            << absl::FormatDuration(takeover) << "\n";
  ASSERT_EQ("Resolved", WaitForTerminalIssue(absl::Seconds(120)));
  // Two template changes in all (resources by A, restart by B): nothing applied twice.
  EXPECT_EQ(generation + 2, Generation());
  EXPECT_EQ(0, Stop(b_));

  const std::vector<v1::Event> log = ReadDenseLog();
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) {
              return e.has_action_succeeded() && e.action_succeeded().index() == 0 &&
                     e.action_succeeded().already_applied();
            }));
  EXPECT_EQ(0, Count(log, [](const v1::Event& e) {
              return e.has_action_succeeded() && e.action_succeeded().index() == 0 &&
                     !e.action_succeeded().already_applied();
            }));
  EXPECT_EQ(2, Count(log, [](const v1::Event& e) {
              return e.has_action_started() && e.action_started().index() == 0;
            }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_plan_created(); }));
  EXPECT_EQ(1, Count(log, [](const v1::Event& e) { return e.has_issue_resolved(); }));
  ExpectLogVerifies();
}

// (4) The leader is frozen (SIGSTOP: partitioned, not dead) and still holds RocksDB's lock on the
// log when its Lease passes to B. B waits for the lock instead of failing at once; when the old
// leader resumes, it finds its Lease gone, stops everything and exits 1, and B opens the log.
TEST_F(FailoverTest, SuccessorWaitsForTheLogLockOfAFrozenLeaderThatThenStepsDown) {
  StartLeaderAndStandby();
  a_.process.Signal(SIGSTOP);
  ASSERT_TRUE(
      Eventually([&] { return b_.Log().find("cannot open the log yet") != std::string::npos; },
                 kLeaseDuration + 2 * kRetryPeriod + absl::Seconds(30)))
      << "B never found the log locked";
  EXPECT_THAT(b_.Log(), HasSubstr("another process holds it"));
  EXPECT_EQ(b_.Identity(), LeaseHolder());
  EXPECT_NE(200, b_.Readyz());
  a_.process.Signal(SIGCONT);
  absl::StatusOr<int> a_code = a_.process.Wait(absl::Seconds(30));
  ASSERT_TRUE(a_code.ok()) << "the resumed leader did not step down";
  EXPECT_EQ(1, *a_code);
  EXPECT_THAT(a_.Log(), HasSubstr("leadership lost"));
  WaitReady(b_, absl::Seconds(30));
  ASSERT_EQ(200, b_.Readyz()) << "B did not open the log once A released it";
  EXPECT_THAT(b_.Log(), HasSubstr("log open"));
  EXPECT_EQ(0, Stop(b_));
  ReadDenseLog();
  ExpectLogVerifies();
}

// (5) The frozen leader does not resume in time: B gives up waiting for the lock with an error
// naming it, exits 1 and releases the Lease; the old leader, resumed, renews the Lease and leads
// on with the log it never closed.
TEST_F(FailoverTest, SuccessorGivesUpOnALogLockedForGoodAndTheResumedLeaderLeadsOn) {
  StartLeaderAndStandby();
  const std::string a_identity = a_.Identity();
  a_.process.Signal(SIGSTOP);
  absl::StatusOr<int> b_code =
      b_.process.Wait(kLeaseDuration + 2 * kRetryPeriod + absl::Seconds(60));
  ASSERT_TRUE(b_code.ok()) << "B neither took over nor gave up";
  EXPECT_EQ(1, *b_code);
  const std::string b_log = b_.Log();
  EXPECT_THAT(b_log, HasSubstr("cannot lead"));
  EXPECT_THAT(b_log, HasSubstr("another process holds it"));
  EXPECT_THAT(b_log, Not(HasSubstr("log open")));
  EXPECT_EQ("", LeaseHolder()) << "B did not release the Lease";
  a_.process.Signal(SIGCONT);
  ASSERT_TRUE(Eventually([&] { return LeaseHolder() == a_identity; }, absl::Seconds(30)));
  EXPECT_EQ(200, a_.Readyz());
  absl::SleepFor(2 * kRetryPeriod);
  EXPECT_TRUE(a_.process.Running());
  EXPECT_EQ(200, a_.Readyz());
  EXPECT_THAT(a_.Log(), Not(HasSubstr("leadership lost")));
  EXPECT_EQ(0, Stop(a_));
  ReadDenseLog();
  ExpectLogVerifies();
}

}  // namespace
}  // namespace aiops
