// The CR mirror on the real control plane: an incident from alert to resolution becomes
// Anomaly, Issue, AIInsight, RemediationPlan and Runbook objects with labels and owner
// references; bursts are coalesced; deleted CRs are rebuilt from the log; long names stay valid;
// terminal issues are removed after the retention period.
#include "k8s_sync/mirror.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <absl/cleanup/cleanup.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eventlog/rocks_event_log.h"
#include "k8s_sync/cluster_inputs.h"
#include "k8s_sync/yaml_json.h"
#include "projections/naming.h"
#include "server/runner.h"
#include "support/control_plane_environment.h"
#include "support/test_dir.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<KubeClient> Client(
    std::function<void(const std::string& method, int status)> on_response = nullptr) {
  KubeConfig config;
  config.server = Cp().server;
  config.ca_pem = ReadAll(Cp().ca_file);
  config.token = Cp().token;
  KubeClientOptions options;
  options.qps = 0;  // the test measures writes, not the rate limiter
  options.on_response = std::move(on_response);
  return *KubeClient::Create(config, options);
}

void InstallCrds(KubeClient& client) {
  for (const auto& entry :
       fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
    auto crd = YamlToJson(ReadAll(entry.path().string()));
    ASSERT_TRUE(crd.ok());
    const std::string name = (*crd)["metadata"]["name"];
    ASSERT_TRUE(
        client
            .Apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name, *crd, "test")
            .ok());
  }
  auto done = testing::ControlPlaneEnvironment::Get().Kubectl(
      {"wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"});
  ASSERT_TRUE(done.ok() && done->exit_code == 0);
}

v1::Event Alert(const std::string& ns, const std::string& deployment, const std::string& uid,
                int64_t t) {
  v1::Event e;
  e.set_logical_time_ms(t);
  e.set_producer("detector");
  v1::AlertObserved* a = e.mutable_alert_observed();
  a->set_type("OOMKilled");
  a->set_severity("critical");
  a->set_namespace_(ns);
  a->set_deployment(deployment);
  a->set_object(deployment + "-pod");
  a->set_source("detector");
  a->set_source_object_uid(uid);
  return e;
}

class MirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("mirror");
    client_ = Client();
    static bool installed = false;
    if (!installed) {
      InstallCrds(*client_);
      installed = true;
    }
    ns_ = "m-" + std::to_string(++counter_);
    ASSERT_TRUE(
        client_
            ->Create("/api/v1/namespaces",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
            .ok());
    eventlog::RocksLogOptions options;
    options.path = dir_ + "/log";
    options.sync = false;
    log_ = *eventlog::RocksEventLog::Open(options);
    runner_ = *server::Runner::Start(*log_);
  }
  void TearDown() override {
    runner_.reset();
    log_.reset();
    fs::remove_all(dir_);
  }

  uint64_t Submit(v1::Event e) {
    auto s = runner_->Submit(std::move(e));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : 0;
  }
  std::string OnlyIssue() {
    std::string name;
    runner_->ReadState([&](const projections::PipelineState& s) {
      for (const auto& [n, i] : s.issues) {
        name = n;
      }
    });
    return name;
  }
  Json Get(const char* plural, const std::string& name) {
    auto got = client_->Get(
        fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/{}/{}", ns_, plural, name));
    EXPECT_TRUE(got.ok()) << plural << "/" << name << ": " << got.status();
    return got.ok() ? *got : Json::object();
  }
  size_t Count(const char* plural) {
    auto list = client_->Get(
        fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/{}", ns_, plural));
    return list.ok() ? (*list)["items"].size() : 0;
  }

  // Polls `f` every 200 ms until it holds, for at most `limit`.
  template <typename F>
  static bool Eventually(F f, absl::Duration limit = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + limit;
    for (;;) {
      if (f()) {
        return true;
      }
      if (absl::Now() > deadline) {
        return false;
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  }
  v1::Event Analysis(const std::string& issue, int64_t t, const std::string& action) {
    v1::Event e;
    e.set_logical_time_ms(t);
    e.set_producer("analyzer");
    v1::AnalysisCompleted* a = e.mutable_analysis_completed();
    a->set_issue_name(issue);
    a->set_attempt(1);
    a->set_analysis("memory limit too low");
    a->set_confidence(0.9F);
    a->set_provider("builtin");
    if (!action.empty()) {
      a->add_suggested_actions()->set_type(action);
    }
    return e;
  }
  // Alert, analysis with a restart, action succeeded, verification passed: a Resolved issue with
  // its anomaly, insight, completed plan and auto-generated runbook. Returns the issue's name.
  std::string ResolvedIncident() {
    Submit(Alert(ns_, "api", "uid-1", t_));
    const std::string issue = OnlyIssue();
    Submit(Analysis(issue, t_ + 1000, "RestartDeployment"));
    v1::Event ok;
    ok.set_logical_time_ms(t_ + 2000);
    ok.mutable_action_succeeded()->set_plan_name(issue + "-plan-1");
    Submit(ok);
    v1::Event verified;
    verified.set_logical_time_ms(t_ + 3000);
    verified.mutable_verification_passed()->set_plan_name(issue + "-plan-1");
    Submit(verified);
    return issue;
  }

  // A client that sets `stop` once it has sent `patches` PATCH requests (server-side applies).
  static std::unique_ptr<KubeClient> StopAfterPatches(int patches, std::atomic<bool>& stop) {
    auto sent = std::make_shared<std::atomic<int>>(0);
    return Client([&stop, sent, patches](const std::string& method, int) {
      if (method == "PATCH" && ++*sent == patches) {
        stop = true;
      }
    });
  }

  static inline int counter_ = 0;
  std::string dir_;
  std::string ns_;
  std::unique_ptr<KubeClient> client_;
  std::unique_ptr<eventlog::RocksEventLog> log_;
  std::unique_ptr<server::Runner> runner_;
  int64_t t_ = 1'771'276'354'000;
};

TEST_F(MirrorTest, MirrorsAnIncidentFromAlertToResolution) {
  Submit(Alert(ns_, "api", "uid-1", t_));
  // Retention compares wall time with the events' logical time: keep them close.
  common::FakeClock clock(absl::FromUnixMillis(t_));
  Mirror::Options options;
  options.clock = &clock;
  Mirror mirror(*log_, *client_, options);
  ASSERT_TRUE(mirror.Start().ok());
  const std::string issue = OnlyIssue();
  Json iss = Get("issues", issue);
  EXPECT_EQ("Analyzing", iss["status"]["state"]);
  EXPECT_EQ("critical", iss["spec"]["severity"]);  // risk 30, but the alert is labelled critical
  EXPECT_EQ(30, iss["spec"]["riskScore"]);
  EXPECT_EQ("oom_kill", iss["metadata"]["labels"]["platform.chatcli.io/signal"]);
  EXPECT_EQ(16U,
            iss["metadata"]["labels"]["platform.chatcli.io/incident-id"].get<std::string>().size());
  EXPECT_EQ(1U, Count("anomalies"));

  v1::Event analysis;
  analysis.set_logical_time_ms(t_ + 1000);
  analysis.set_producer("analyzer");
  v1::AnalysisCompleted* a = analysis.mutable_analysis_completed();
  a->set_issue_name(issue);
  a->set_attempt(1);
  a->set_analysis("memory limit too low");
  a->set_confidence(0.9F);
  a->set_provider("builtin");
  a->add_suggested_actions()->set_type("RestartDeployment");
  Submit(analysis);
  ASSERT_TRUE(mirror.SyncOnce(absl::Seconds(5)).ok());
  const std::string plan = issue + "-plan-1";
  Json rp = Get("remediationplans", plan);
  EXPECT_EQ("Executing", rp["status"]["state"]);
  EXPECT_EQ(iss["metadata"]["uid"], rp["metadata"]["ownerReferences"][0]["uid"]);
  Json ai = Get("aiinsights", issue + "-insight");
  EXPECT_EQ("memory limit too low", ai["status"]["analysis"]);
  EXPECT_EQ("2026-02-16T21:12:35Z", ai["status"]["generatedAt"]);  // the analysis' logical time
  EXPECT_EQ(iss["metadata"]["uid"], ai["metadata"]["ownerReferences"][0]["uid"]);
  auto runbooks =
      client_->Get(fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/"
                               "runbooks?labelSelector=platform.chatcli.io%2Fauto-generated%3Dtrue",
                               ns_));
  ASSERT_TRUE(runbooks.ok());
  ASSERT_EQ(1U, (*runbooks)["items"].size());

  v1::Event ok;
  ok.set_logical_time_ms(t_ + 2000);
  ok.mutable_action_succeeded()->set_plan_name(plan);
  Submit(ok);
  v1::Event verified;
  verified.set_logical_time_ms(t_ + 3000);
  verified.mutable_verification_passed()->set_plan_name(plan);
  Submit(verified);
  ASSERT_TRUE(mirror.SyncOnce(absl::Seconds(5)).ok());
  EXPECT_EQ("Resolved", Get("issues", issue)["status"]["state"]);
  EXPECT_EQ("Completed", Get("remediationplans", plan)["status"]["state"]);
  EXPECT_EQ(log_->LastSequence(), *log_->GetCursor("mirror"));

  // kubectl shows them.
  auto table = testing::ControlPlaneEnvironment::Get().Kubectl({"get", "iss,rp", "-n", ns_});
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(table->out, HasSubstr("Resolved"));
  EXPECT_THAT(table->out, HasSubstr("Completed"));
}

// #21: each Issue names the sequence that opened it and its log's cluster id, so a log that is
// behind what the cluster shows it wrote (an older copy, an emptied folder) is refused.
TEST_F(MirrorTest, ALogBehindTheIssuesItWroteIsRefused) {
  v1::Event config;
  config.set_logical_time_ms(t_);
  config.mutable_config_changed()->set_source("file");
  config.mutable_config_changed()->mutable_config()->set_cluster_id("c-" + ns_);
  Submit(config);
  const std::string issue = ResolvedIncident();
  uint64_t opened = 0;
  runner_->ReadState([&](const projections::PipelineState& state) {
    opened = state.issues.at(issue).opened_sequence();
  });
  ASSERT_GT(opened, 1U);
  // The issue is Resolved: keep wall time near its logical time, within the retention period.
  common::FakeClock clock(absl::FromUnixMillis(t_ + 4000));
  Mirror::Options options;
  options.clock = &clock;
  Mirror mirror(*log_, *client_, options);
  ASSERT_TRUE(mirror.Start().ok());
  const Json annotations = Get("issues", issue)["metadata"]["annotations"];
  EXPECT_EQ(std::to_string(opened), annotations.value(kAnnotationOpenedSequence, ""));
  EXPECT_EQ("c-" + ns_, annotations.value(kAnnotationClusterId, ""));

  EXPECT_TRUE(CheckLogNotBehindCluster(*client_, "c-" + ns_, log_->LastSequence()).ok());
  EXPECT_TRUE(CheckLogNotBehindCluster(*client_, "c-" + ns_, opened).ok());
  // An older copy of the log (it ends before the Issue was opened), and an emptied one.
  for (const uint64_t end : {opened - 1, uint64_t{0}}) {
    const absl::Status behind = CheckLogNotBehindCluster(*client_, "c-" + ns_, end);
    EXPECT_EQ(absl::StatusCode::kFailedPrecondition, behind.code()) << end;
    EXPECT_THAT(std::string(behind.message()),
                HasSubstr(fmt::format("it ends at sequence {}, but Issue {}/{}", end, ns_, issue)));
    EXPECT_THAT(std::string(behind.message()), HasSubstr("Restore the log"));
  }
  // Another cluster id's Issues belong to another log.
  EXPECT_TRUE(CheckLogNotBehindCluster(*client_, "c-" + ns_ + "-other", 0).ok());
}

TEST_F(MirrorTest, ABurstOnOneIssueIsOneWritePerObject) {
  Mirror mirror(*log_, *client_, {});
  ASSERT_TRUE(mirror.Start().ok());
  for (int i = 0; i < 20; ++i) {
    Submit(Alert(ns_, "worker", "uid-" + std::to_string(i), t_ + i));
  }
  const uint64_t before = mirror.stats().objects;
  auto handled = mirror.SyncOnce(absl::Seconds(5));
  ASSERT_TRUE(handled.ok());
  // 20 anomalies and their one issue, each written once though the issue changed 20 times.
  EXPECT_EQ(21U, mirror.stats().objects - before);
  EXPECT_EQ(20U, Count("anomalies"));
  EXPECT_EQ(20, Get("issues", OnlyIssue())["status"]["anomalies"].size());
}

TEST_F(MirrorTest, StopsBetweenWritesAndFinishesThemOnTheNextCall) {
  // Stop is requested after the 5th write of a 21-object pass: the pass ends there (shutdown does
  // not wait for a storm's worth of writes at the client's QPS), and the rest stays pending.
  std::atomic<bool> stop{false};
  std::unique_ptr<KubeClient> client = StopAfterPatches(5, stop);
  Mirror::Options options;
  options.stop = &stop;
  Mirror mirror(*log_, *client, options);
  ASSERT_TRUE(mirror.Start().ok());
  const uint64_t cursor = mirror.cursor();
  for (int i = 0; i < 20; ++i) {
    Submit(Alert(ns_, "worker", "uid-" + std::to_string(i), t_ + i));
  }
  auto cancelled = mirror.SyncOnce(absl::Seconds(5));
  ASSERT_FALSE(cancelled.ok());
  EXPECT_TRUE(absl::IsCancelled(cancelled.status())) << cancelled.status();
  EXPECT_EQ(cursor, mirror.cursor());  // not every object is written: the cursor stays
  EXPECT_LT(Count("anomalies"), 20U);
  stop = false;
  ASSERT_TRUE(mirror.SyncOnce(absl::Milliseconds(10)).ok());
  EXPECT_EQ(log_->LastSequence(), mirror.cursor());
  EXPECT_EQ(20U, Count("anomalies"));
  EXPECT_EQ(20, Get("issues", OnlyIssue())["status"]["anomalies"].size());
}

// The daemon retries Start after a failure (the API server away at start-up, say): the retry
// must not fold the log a second time into what the first attempt folded.
TEST_F(MirrorTest, AStartRetriedAfterAFailureFoldsTheLogOnce) {
  for (int i = 0; i < 20; ++i) {
    Submit(Alert(ns_, "worker", "uid-" + std::to_string(i), t_ + i));
  }
  std::atomic<bool> stop{false};
  std::unique_ptr<KubeClient> client = StopAfterPatches(3, stop);
  Mirror::Options options;
  options.stop = &stop;
  Mirror mirror(*log_, *client, options);
  ASSERT_TRUE(absl::IsCancelled(mirror.Start()));
  stop = false;
  ASSERT_TRUE(mirror.Start().ok());
  EXPECT_EQ(log_->LastSequence(), mirror.cursor());
  EXPECT_EQ(20U, Count("anomalies"));
  EXPECT_EQ(20, Get("issues", OnlyIssue())["status"]["anomalies"].size());
}

// Issue #21.3: an object the API server refuses for a reason retrying cannot fix (here a plan
// whose action type the CRD's enum does not list: 422) is parked, and everything behind it is
// written; it is reported once, and tried again when its state changes or after parked_retry.
TEST_F(MirrorTest, ARefusedObjectIsParkedAndTheWritesBehindItGoOn) {
  common::FakeClock clock(absl::FromUnixMillis(t_));
  std::vector<std::pair<std::string, std::string>> reports;
  KubeEventSink sink(*client_, {});
  Mirror::Options options;
  options.clock = &clock;
  options.on_parked = [&](const std::string& object, const absl::Status& error) {
    reports.emplace_back(object, std::string(error.message()));
    // What the daemon does besides: a Kubernetes Event kubectl users see.
    sink.Post(ParkedObjectEvent(object, error, clock.Now()));
  };
  Mirror mirror(*log_, *client_, options);
  ASSERT_TRUE(mirror.Start().ok());
  Submit(Alert(ns_, "api", "uid-1", t_));
  const std::string bad = OnlyIssue();
  // An analysis (an LLM's, say) suggesting an action type the operator does not implement: the
  // plan is recorded (and blocked by the safety policy), its CR is refused by the CRD's enum.
  Submit(Analysis(bad, t_ + 1000, "DeletePod"));
  // Another incident after it in the log.
  Submit(Alert(ns_, "web", "uid-2", t_ + 2000));
  auto synced = mirror.SyncOnce(absl::Seconds(5));
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(log_->LastSequence(), mirror.cursor());  // not stuck behind the refused plan
  EXPECT_EQ(2U, Count("issues"));
  EXPECT_EQ(2U, Count("anomalies"));
  EXPECT_EQ(0U, Count("remediationplans"));
  EXPECT_EQ(1U, mirror.stats().parked);
  ASSERT_EQ(1U, reports.size());
  EXPECT_EQ(fmt::format("RemediationPlan {}/{}-plan-1", ns_, bad), reports[0].first);
  EXPECT_THAT(reports[0].second, ::testing::HasSubstr("HTTP 422"));
  sink.Flush();
  EXPECT_EQ(1U, sink.stats().created);
  auto events = client_->Get(fmt::format("/api/v1/namespaces/{}/events", ns_));
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(1U, (*events)["items"].size());
  const Json& event = (*events)["items"][0];
  EXPECT_EQ("Warning", event["type"]);
  EXPECT_EQ("MirrorRefused", event["reason"]);
  EXPECT_EQ("RemediationPlan", event["involvedObject"]["kind"]);
  EXPECT_EQ(bad + "-plan-1", event["involvedObject"]["name"]);
  EXPECT_THAT(event["message"].get<std::string>(), ::testing::HasSubstr("HTTP 422"));
  EXPECT_EQ("chatcli-aiops", event["source"]["component"]);
  // Not retried at every pass (no write, no second report) until parked_retry has passed.
  const uint64_t applies = mirror.stats().applies;
  Submit(Alert(ns_, "web", "uid-3", t_ + 3000));
  ASSERT_TRUE(mirror.SyncOnce(absl::Seconds(5)).ok());
  EXPECT_EQ(1U, reports.size());
  clock.Advance(absl::Minutes(11));
  Submit(Alert(ns_, "web", "uid-4", t_ + 4000));
  ASSERT_TRUE(mirror.SyncOnce(absl::Seconds(5)).ok());
  EXPECT_GT(mirror.stats().applies, applies);
  EXPECT_EQ(1U, reports.size());  // the same refusal again: reported once
  EXPECT_EQ(1U, mirror.stats().parked);
}

// #22.3: Kubernetes Events for what the mirror wrote: on the Issue for each state change (with
// the incident id, shown by `kubectl describe`), on the plan for its action and verification, on
// the workload for the action; the same Event again is a count, a noisy object is held back.
TEST_F(MirrorTest, KubernetesEventsFollowTheIncidentAndAreAggregated) {
  common::FakeClock clock(absl::FromUnixMillis(t_));
  KubeEventSink sink(*client_, {});
  Mirror::Options options;
  options.clock = &clock;
  options.on_written = [&](const v1::Event& e, const projections::PipelineState& state) {
    for (KubeEvent& k : KubeEventsFor(e, state, absl::FromUnixMillis(e.logical_time_ms()))) {
      sink.Post(std::move(k));
    }
  };
  Mirror mirror(*log_, *client_, options);
  ASSERT_TRUE(mirror.Start().ok());
  const std::string issue = ResolvedIncident();
  while (mirror.cursor() < log_->LastSequence()) {
    ASSERT_TRUE(mirror.SyncOnce(absl::Seconds(1)).ok());
  }
  sink.Flush();
  EXPECT_EQ(0U, sink.stats().errors);
  auto list = client_->Get(fmt::format("/api/v1/namespaces/{}/events", ns_));
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> seen;  // "Kind reason"
  for (const Json& e : (*list)["items"]) {
    seen.push_back(e["involvedObject"]["kind"].get<std::string>() + " " +
                   e["reason"].get<std::string>());
  }
  for (const char* expected :
       {"Issue Detected", "Issue Resolved", "RemediationPlan ActionSucceeded",
        "RemediationPlan VerificationPassed", "Deployment RemediationApplied"}) {
    EXPECT_THAT(seen, ::testing::Contains(expected)) << ::testing::PrintToString(seen);
  }
  // The Issue's Events carry its uid, so `kubectl describe` shows them.
  auto described =
      testing::ControlPlaneEnvironment::Get().Kubectl({"describe", "issue", issue, "-n", ns_});
  ASSERT_TRUE(described.ok() && described->exit_code == 0);
  EXPECT_THAT(described->out, HasSubstr("Resolved"));
  EXPECT_THAT(described->out, HasSubstr("chatcli-aiops"));
  EXPECT_THAT(described->out, ::testing::Not(HasSubstr("Events:  <none>")));

  // The same Event twice is one Event with count 2.
  KubeEvent again;
  again.api_version = "v1";
  again.kind = "ConfigMap";
  again.namespace_name = ns_;
  again.name = "settings";
  again.reason = "Test";
  again.message = "same";
  again.at = clock.Now();
  const KubeEventSink::Stats before = sink.stats();
  sink.Post(again);
  sink.Post(again);
  sink.Flush();
  EXPECT_EQ(before.created + 1, sink.stats().created);
  EXPECT_EQ(before.aggregated + 1, sink.stats().aggregated);
  auto counted = client_->Get(fmt::format(
      "/api/v1/namespaces/{}/events?fieldSelector=involvedObject.name%3Dsettings", ns_));
  ASSERT_TRUE(counted.ok());
  ASSERT_EQ(1U, (*counted)["items"].size());
  EXPECT_EQ(2, (*counted)["items"][0]["count"]);

  // A noisy object gets its burst, then is held back.
  KubeEventSink::Options strict;
  strict.burst = 2;
  strict.clock = &clock;
  KubeEventSink limited(*client_, strict);
  for (int i = 0; i < 4; ++i) {
    KubeEvent noisy = again;
    noisy.name = "noisy";
    noisy.message = "change " + std::to_string(i);
    limited.Post(noisy);
  }
  limited.Flush();
  EXPECT_EQ(2U, limited.stats().created);
  EXPECT_EQ(2U, limited.stats().spam_filtered);
}

TEST_F(MirrorTest, DeletedObjectsAreRebuiltFromTheLog) {
  const std::string issue = ResolvedIncident();
  const std::vector<const char*> kinds = {"issues", "anomalies", "aiinsights", "remediationplans",
                                          "runbooks"};
  // The issue is Resolved: keep wall time near its logical time, within the retention period.
  common::FakeClock clock(absl::FromUnixMillis(t_ + 4000));
  Mirror::Options options;
  options.clock = &clock;
  Json insight_before;
  {
    Mirror mirror(*log_, *client_, options);
    ASSERT_TRUE(mirror.Start().ok());
    for (const char* kind : kinds) {
      ASSERT_EQ(1U, Count(kind)) << kind;
    }
    insight_before = Get("aiinsights", issue + "-insight");
  }
  // The garbage collector may delete the insight and plan (owned by the Issue) before kubectl.
  auto wiped = testing::ControlPlaneEnvironment::Get().Kubectl(
      {"delete", "iss,anom,ai,rp,rb", "--all", "-n", ns_, "--wait=true", "--ignore-not-found"});
  ASSERT_TRUE(wiped.ok() && wiped->exit_code == 0) << wiped->err;
  for (const char* kind : kinds) {
    ASSERT_EQ(0U, Count(kind)) << kind;
  }
  Mirror restarted(*log_, *client_, options);
  ASSERT_TRUE(restarted.Start().ok());
  for (const char* kind : kinds) {
    EXPECT_EQ(1U, Count(kind)) << kind;
  }
  Json iss = Get("issues", issue);
  EXPECT_EQ("Resolved", iss["status"]["state"]);
  Json ai = Get("aiinsights", issue + "-insight");
  EXPECT_EQ(insight_before["status"], ai["status"]);  // generatedAt included: from the log
  EXPECT_EQ(iss["metadata"]["uid"], ai["metadata"]["ownerReferences"][0]["uid"]);  // the new one
  Json rp = Get("remediationplans", issue + "-plan-1");
  EXPECT_EQ("Completed", rp["status"]["state"]);
  EXPECT_EQ(iss["metadata"]["uid"], rp["metadata"]["ownerReferences"][0]["uid"]);
  auto runbooks =
      client_->Get(fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/"
                               "runbooks?labelSelector=platform.chatcli.io%2Fauto-generated%3Dtrue",
                               ns_));
  ASSERT_TRUE(runbooks.ok());
  EXPECT_EQ(1U, (*runbooks)["items"].size());
}

// #21.3: a leader start does not rewrite what the API server already holds as the log says
// (before, every object was applied again at the mirror's QPS); what differs or is missing is.
TEST_F(MirrorTest, ARestartWritesOnlyTheObjectsThatDifferFromTheLog) {
  const std::string issue = ResolvedIncident();
  common::FakeClock clock(absl::FromUnixMillis(t_ + 4000));
  Mirror::Options options;
  options.clock = &clock;
  {
    Mirror first(*log_, *client_, options);
    ASSERT_TRUE(first.Start().ok());
    EXPECT_EQ(5U, first.stats().objects);  // issue, anomaly, insight, plan, runbook
    EXPECT_EQ(0U, first.stats().skipped);
  }
  {
    Mirror unchanged(*log_, *client_, options);
    ASSERT_TRUE(unchanged.Start().ok());
    EXPECT_EQ(0U, unchanged.stats().applies);
    EXPECT_EQ(5U, unchanged.stats().skipped);
  }
  // A person changes the Issue's severity label and deletes the plan: both are written back.
  ASSERT_TRUE(client_
                  ->Patch(fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/issues/{}",
                                      ns_, issue),
                          {{"metadata", {{"labels", {{"platform.chatcli.io/severity", "low"}}}}}},
                          "application/merge-patch+json")
                  .ok());
  ASSERT_TRUE(client_
                  ->Delete(fmt::format(
                      "/apis/platform.chatcli.io/v1alpha1/namespaces/{}/remediationplans/{}", ns_,
                      issue + "-plan-1"))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return Count("remediationplans") == 0; }));
  Mirror repaired(*log_, *client_, options);
  ASSERT_TRUE(repaired.Start().ok());
  EXPECT_EQ(2U, repaired.stats().objects);
  EXPECT_EQ(3U, repaired.stats().skipped);
  EXPECT_EQ("critical", Get("issues", issue)["metadata"]["labels"]["platform.chatcli.io/severity"]);
  EXPECT_EQ("Completed", Get("remediationplans", issue + "-plan-1")["status"]["state"]);
  // The plan written back is owned by the Issue that was skipped (its uid from the list).
  EXPECT_EQ(Get("issues", issue)["metadata"]["uid"],
            Get("remediationplans", issue + "-plan-1")["metadata"]["ownerReferences"][0]["uid"]);
}

// After `log export --prune`, the mirror starts from the pipeline state's snapshot that covers
// the pruned history: an issue opened before the prune is still mirrored and still updated.
TEST_F(MirrorTest, APrunedLogIsMirroredFromTheStateSnapshot) {
  Submit(Alert(ns_, "api", "uid-1", t_));
  const std::string issue = OnlyIssue();
  Submit(Analysis(issue, t_ + 1000, "RestartDeployment"));
  Mirror::Options options;
  Json insight_before;
  {
    Mirror mirror(*log_, *client_, options);
    ASSERT_TRUE(mirror.Start().ok());
    insight_before = Get("aiinsights", issue + "-insight");
    ASSERT_TRUE(insight_before["status"].contains("generatedAt"));
  }
  const uint64_t last = log_->LastSequence();
  auto kept = server::Runner::KeepStateBeforePrune(*log_, projections::kPipelineSnapshotName, last);
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_TRUE(log_->Prune(last + 1).ok());
  ASSERT_EQ(last + 1, log_->FirstSequence());
  // A second pod of the workload: its anomaly joins the issue opened before the prune.
  Submit(Alert(ns_, "api", "uid-2", t_ + 2000));

  Mirror restarted(*log_, *client_, options);
  ASSERT_TRUE(restarted.Start().ok());
  Json iss = Get("issues", issue);
  EXPECT_EQ(2U, iss["status"]["anomalies"].size()) << iss["status"].dump();
  // The insight's analysis is from before the prune: left as it was, generatedAt included.
  EXPECT_EQ(insight_before["status"], Get("aiinsights", issue + "-insight")["status"]);

  // Without a snapshot covering the pruned part, the mirror refuses rather than forget issues.
  ASSERT_TRUE(log_->PutSnapshot(projections::kPipelineSnapshotName, eventlog::Snapshot{}).ok());
  Mirror blind(*log_, *client_, options);
  const absl::Status refused = blind.Start();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("was pruned"));
}

TEST_F(MirrorTest, LongWorkloadNamesGiveValidNamesAndLabels) {
  const std::string deployment(60, 'x');
  Submit(Alert(ns_, deployment + "-service", "uid-1", t_));
  Mirror mirror(*log_, *client_, {});
  ASSERT_TRUE(mirror.Start().ok()) << "the API server refused a name or label";
  const std::string issue = OnlyIssue();
  EXPECT_LE(issue.size(), 63U);
  Json iss = Get("issues", issue);
  for (const auto& [key, value] : iss["metadata"]["labels"].items()) {
    EXPECT_LE(value.get<std::string>().size(), 63U) << key;
  }
  EXPECT_EQ(1U, Count("anomalies"));
}

TEST_F(MirrorTest, TerminalIssuesAreRemovedAfterTheRetentionPeriod) {
  const std::string issue = ResolvedIncident();
  common::FakeClock clock(absl::FromUnixMillis(t_ + 4000));
  Mirror::Options options;
  options.clock = &clock;
  options.retention = absl::Hours(1);
  {
    Mirror mirror(*log_, *client_, options);
    ASSERT_TRUE(mirror.Start().ok());
    EXPECT_EQ("Resolved", Get("issues", issue)["status"]["state"]);
    ASSERT_EQ(1U, Count("aiinsights"));
    ASSERT_EQ(1U, Count("remediationplans"));
  }
  clock.Advance(absl::Hours(2));
  Mirror later(*log_, *client_, options);
  ASSERT_TRUE(later.Start().ok());
  EXPECT_EQ(0U, Count("issues"));
  EXPECT_EQ(0U, Count("anomalies"));
  EXPECT_EQ(1U, later.stats().deletes);
  // The insight and the plan go with their Issue: kube-controller-manager's garbage collector
  // deletes them through their owner references, a little later.
  EXPECT_TRUE(Eventually([&] { return Count("aiinsights") == 0 && Count("remediationplans") == 0; },
                         absl::Seconds(90)))
      << Count("aiinsights") << " insight(s), " << Count("remediationplans") << " plan(s) left";
}

class ClusterInputsTest : public MirrorTest {
 protected:
  void SetUp() override {
    MirrorTest::SetUp();
    inputs_ = NewInputs(/*projected_state=*/true);
    ASSERT_TRUE(inputs_->WaitForSync(absl::Seconds(20)));
  }
  // Started inputs; with `projected_state` they read the committed state from the runner (as the
  // daemon does), else plan states from the objects' status (what the mirror wrote).
  std::unique_ptr<ClusterInputs> NewInputs(bool projected_state) {
    ClusterInputs::StateReader read_state;
    if (projected_state) {
      read_state = [this](const std::function<void(const projections::PipelineState&)>& read) {
        runner_->ReadState(read);
      };
    }
    auto inputs = std::make_unique<ClusterInputs>(
        *client_, common::SystemClock::Get(),
        [this](v1::Event e) { return runner_->Submit(std::move(e)); },
        [this](const std::string& w) {
          absl::MutexLock lock(&mu_);
          warnings_.push_back(w);
        },
        std::move(read_state));
    inputs->Start();
    return inputs;
  }
  size_t CountInLog(v1::Event::PayloadCase type) {
    auto events = log_->Read(1, 100'000);
    return static_cast<size_t>(
        std::count_if(events->begin(), events->end(),
                      [&](const v1::Event& e) { return e.payload_case() == type; }));
  }
  bool Warned(const std::string& text) {
    absl::MutexLock lock(&mu_);
    return std::any_of(warnings_.begin(), warnings_.end(),
                       [&](const std::string& w) { return w.find(text) != std::string::npos; });
  }
  std::string PlanStateOf(const std::string& plan) {
    std::string state;
    runner_->ReadState([&](const projections::PipelineState& s) {
      if (const v1::PlanState* p = projections::FindPlan(s, plan)) {
        state = p->state();
      }
    });
    return state;
  }
  // Approval on, an alert and an analysis with a restart: a plan waiting for approval, mirrored
  // by `mirror`. Returns the plan's name.
  std::string PlanWaitingForApproval(std::unique_ptr<Mirror>& mirror, common::Clock& clock) {
    v1::PipelineConfig config = projections::DefaultPipelineConfig();
    config.mutable_approval()->set_enabled(true);
    v1::Event cfg;
    cfg.set_logical_time_ms(t_);
    *cfg.mutable_config_changed()->mutable_config() = config;
    Submit(cfg);
    Submit(Alert(ns_, "api", "uid-1", t_));
    const std::string issue = OnlyIssue();
    Submit(Analysis(issue, t_ + 1000, "RestartDeployment"));
    Mirror::Options options;
    options.clock = &clock;
    mirror = std::make_unique<Mirror>(*log_, *client_, options);
    EXPECT_TRUE(mirror->Start().ok());
    const std::string plan = issue + "-plan-1";
    EXPECT_EQ("WaitingApproval", Get("remediationplans", plan)["status"]["state"]);
    return plan;
  }
  void TearDown() override {
    inputs_.reset();
    MirrorTest::TearDown();
  }
  bool LogHas(v1::Event::PayloadCase type, const std::string& text) {
    auto events = log_->Read(1, 100'000);
    for (const v1::Event& e : *events) {
      if (e.payload_case() == type && e.ShortDebugString().find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
  absl::StatusOr<testing::ProcessResult> Kubectl(std::vector<std::string> args,
                                                 const std::string& in = "") {
    return testing::ControlPlaneEnvironment::Get().Kubectl(args, in);
  }

  std::unique_ptr<ClusterInputs> inputs_;
  absl::Mutex mu_;
  std::vector<std::string> warnings_;
};

TEST_F(ClusterInputsTest, ManualRunbooksAreObservedAndDeleted) {
  const std::string manifest = fmt::format(R"(apiVersion: platform.chatcli.io/v1alpha1
kind: Runbook
metadata: {{name: restart-on-oom, namespace: {}}}
spec:
  trigger: {{signalType: oom_kill, severity: low, resourceKind: Deployment}}
  steps:
  - {{name: raise memory, action: AdjustResources, params: {{memory_limit: 1Gi, container: app}}}}
  maxAttempts: 2
)",
                                           ns_);
  auto applied = Kubectl({"apply", "-f", "-"}, manifest);
  ASSERT_TRUE(applied.ok() && applied->exit_code == 0) << applied->err;
  ASSERT_TRUE(Eventually([&] { return LogHas(v1::Event::kRunbookObserved, "restart-on-oom"); }));
  runner_->ReadState([&](const projections::PipelineState& s) {
    auto it = s.runbooks.find(ns_ + "/restart-on-oom");
    ASSERT_NE(s.runbooks.end(), it);
    EXPECT_EQ(2, it->second.spec().max_attempts());
    EXPECT_EQ("container", it->second.spec().steps(0).params(0).key());  // sorted
  });
  // An invalid one is reported and changes nothing.
  auto invalid =
      Kubectl({"apply", "-f", "-"}, fmt::format(R"(apiVersion: platform.chatcli.io/v1alpha1
kind: Runbook
metadata: {{name: no-kind, namespace: {}}}
spec:
  trigger: {{severity: low, resourceKind: ""}}
  steps: [{{name: x, action: RestartDeployment}}]
)",
                                                ns_));
  ASSERT_TRUE(invalid.ok() && invalid->exit_code == 0) << invalid->err;
  ASSERT_TRUE(Eventually([&] {
    absl::MutexLock lock(&mu_);
    return !warnings_.empty();
  }));
  {
    absl::MutexLock lock(&mu_);
    EXPECT_THAT(warnings_[0], HasSubstr("resourceKind are required"));
  }
  EXPECT_FALSE(LogHas(v1::Event::kRunbookObserved, "no-kind"));
  // A restart lists the Runbook again: the state holds it with this spec, so nothing is appended.
  const size_t observed = CountInLog(v1::Event::kRunbookObserved);
  inputs_->Stop();
  inputs_ = NewInputs(/*projected_state=*/true);
  ASSERT_TRUE(inputs_->WaitForSync(absl::Seconds(20)));
  absl::SleepFor(absl::Seconds(1));  // the initial list's handlers have run by now
  EXPECT_EQ(observed, CountInLog(v1::Event::kRunbookObserved));
  // A changed spec is observed.
  ASSERT_TRUE(Kubectl({"patch", "rb", "restart-on-oom", "-n", ns_, "--type=merge", "-p",
                       R"({"spec":{"maxAttempts":3}})"})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return CountInLog(v1::Event::kRunbookObserved) == observed + 1; }));
  runner_->ReadState([&](const projections::PipelineState& s) {
    EXPECT_EQ(3, s.runbooks.at(ns_ + "/restart-on-oom").spec().max_attempts());
  });
  ASSERT_TRUE(Kubectl({"delete", "rb", "restart-on-oom", "-n", ns_}).ok());
  ASSERT_TRUE(Eventually([&] { return LogHas(v1::Event::kRunbookDeleted, "restart-on-oom"); }));
}

TEST_F(ClusterInputsTest, ManualRunbookDeletedWhileStoppedIsRecordedDeletedAtStart) {
  // Every informer lists all namespaces: leave no Runbook to the tests after this one.
  absl::Cleanup remove = [&] {
    (void)Kubectl(
        {"delete", "rb", "gone-while-down", "still-here", "-n", ns_, "--ignore-not-found"});
  };
  for (const char* name : {"gone-while-down", "still-here"}) {
    auto applied =
        Kubectl({"apply", "-f", "-"}, fmt::format(R"(apiVersion: platform.chatcli.io/v1alpha1
kind: Runbook
metadata: {{name: {}, namespace: {}}}
spec:
  trigger: {{signalType: oom_kill, severity: low, resourceKind: StatefulSet}}
  steps: [{{name: restart, action: RestartDeployment}}]
)",
                                                  name, ns_));
    ASSERT_TRUE(applied.ok() && applied->exit_code == 0) << applied->err;
    ASSERT_TRUE(Eventually([&] { return LogHas(v1::Event::kRunbookObserved, name); })) << name;
  }
  // An auto-generated Runbook the state holds and no mirror has written to the cluster.
  Submit(Alert(ns_, "api", "uid-1", t_));
  Submit(Analysis(OnlyIssue(), t_ + 1000, "RestartDeployment"));
  std::string generated;
  runner_->ReadState([&](const projections::PipelineState& s) {
    for (const auto& [key, runbook] : s.runbooks) {
      if (runbook.auto_generated() && runbook.namespace_() == ns_) {
        generated = runbook.name();
      }
    }
  });
  ASSERT_FALSE(generated.empty());

  inputs_->Stop();
  auto deleted = Kubectl({"delete", "rb", "gone-while-down", "-n", ns_});
  ASSERT_TRUE(deleted.ok() && deleted->exit_code == 0) << deleted->err;
  inputs_ = NewInputs(/*projected_state=*/true);
  ASSERT_TRUE(inputs_->WaitForSync(absl::Seconds(20)));
  // No DELETED reaches the new informer (it never saw the Runbook): the list does.
  ASSERT_TRUE(Eventually([&] { return LogHas(v1::Event::kRunbookDeleted, "gone-while-down"); }));
  auto events = log_->Read(1, 100'000);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(1, std::count_if(events->begin(), events->end(), [&](const v1::Event& e) {
              return e.has_runbook_deleted() && e.runbook_deleted().namespace_() == ns_;
            }));
  runner_->ReadState([&](const projections::PipelineState& s) {
    EXPECT_EQ(0U, s.runbooks.count(ns_ + "/gone-while-down"));
    EXPECT_EQ(1U, s.runbooks.count(ns_ + "/still-here"));
    EXPECT_EQ(1U, s.runbooks.count(ns_ + "/" + generated));  // the mirror's to write, not gone
  });
}

TEST_F(ClusterInputsTest, ApprovalAnnotationsApproveAndAutoRunbooksDeletedByAPersonRetire) {
  common::FakeClock clock(absl::FromUnixMillis(t_));
  std::unique_ptr<Mirror> mirror;
  const std::string plan = PlanWaitingForApproval(mirror, clock);
  ASSERT_NE(nullptr, mirror);

  auto annotated = Kubectl(
      {"annotate", "rp", plan, "-n", ns_, "platform.chatcli.io/approve=alice:change window open"});
  ASSERT_TRUE(annotated.ok() && annotated->exit_code == 0) << annotated->err;
  ASSERT_TRUE(Eventually([&] {
    bool executing = false;
    runner_->ReadState([&](const projections::PipelineState& s) {
      executing = s.plans.at(plan).state() == projections::kExecuting;
    });
    return executing;
  }));
  EXPECT_TRUE(LogHas(v1::Event::kApprovalGranted, "alice"));
  ASSERT_TRUE(mirror->SyncOnce(absl::Seconds(5)).ok());
  EXPECT_EQ("alice", Get("remediationplans", plan)["status"]["approvedBy"]);

  // A person deletes the auto-generated runbook: retired, and the mirror does not recreate it.
  auto deleted =
      Kubectl({"delete", "rb", "-l", "platform.chatcli.io/auto-generated=true", "-n", ns_});
  ASSERT_TRUE(deleted.ok() && deleted->exit_code == 0) << deleted->err;
  ASSERT_TRUE(Eventually([&] { return LogHas(v1::Event::kRunbookRetired, ns_); }));
  Mirror::Options options;
  options.clock = &clock;
  Mirror restarted(*log_, *client_, options);
  ASSERT_TRUE(restarted.Start().ok());
  EXPECT_EQ(0U, Count("runbooks"));
}

// Issue #20.3: a person re-arms an escalated Issue with the annotation platform.chatcli.io/rearm
// ("<who>:<reason>"): one IssueRearmed, whatever the mirror's status writes and restarts resend;
// a malformed value is reported and appends nothing.
TEST_F(ClusterInputsTest, RearmAnnotationRearmsAnEscalatedIssueOnce) {
  common::FakeClock clock(absl::FromUnixMillis(t_));
  Submit(Alert(ns_, "api", "uid-1", t_));
  const std::string issue = OnlyIssue();
  Submit(Analysis(issue, t_ + 1000, ""));  // nothing to do: escalated (no_runbook)
  Mirror::Options options;
  options.clock = &clock;
  Mirror mirror(*log_, *client_, options);
  ASSERT_TRUE(mirror.Start().ok());
  ASSERT_EQ("Escalated", Get("issues", issue)["status"]["state"]);

  auto bad = Kubectl({"annotate", "iss", issue, "-n", ns_, "platform.chatcli.io/rearm=carol"});
  ASSERT_TRUE(bad.ok() && bad->exit_code == 0) << bad->err;
  ASSERT_TRUE(Eventually([&] {
    return Warned(
        fmt::format("Issue {}/{}: ignoring the re-arm annotation: "
                    "platform.chatcli.io/rearm='carol' has no ':'",
                    ns_, issue));
  }));
  EXPECT_EQ(0U, CountInLog(v1::Event::kIssueRearmed));

  auto good = Kubectl({"annotate", "--overwrite", "iss", issue, "-n", ns_,
                       "platform.chatcli.io/rearm=carol:quota raised"});
  ASSERT_TRUE(good.ok() && good->exit_code == 0) << good->err;
  ASSERT_TRUE(Eventually([&] { return LogHas(v1::Event::kIssueRearmed, "quota raised"); }));
  EXPECT_TRUE(LogHas(v1::Event::kIssueRearmed, "by: \"carol\""));
  bool rearmed = false;
  runner_->ReadState([&](const projections::PipelineState& s) {
    rearmed = projections::FindIssue(s, issue)->rearmed();
  });
  EXPECT_TRUE(rearmed);
  // The mirror rewrites the Issue; a restart lists it again: still one re-arm.
  ASSERT_TRUE(mirror.SyncOnce(absl::Seconds(2)).ok());
  const uint64_t last = log_->LastSequence();
  inputs_.reset();
  std::unique_ptr<ClusterInputs> restarted = NewInputs(/*projected_state=*/true);
  ASSERT_TRUE(restarted->WaitForSync(absl::Seconds(20)));
  EXPECT_EQ(last, log_->LastSequence());
  EXPECT_EQ(1U, CountInLog(v1::Event::kIssueRearmed));
  // And the next anomaly on the resource opens a new issue.
  Submit(Alert(ns_, "api", "uid-2", t_ + 5000));
  size_t issues = 0;
  runner_->ReadState([&](const projections::PipelineState& s) { issues = s.issues.size(); });
  EXPECT_EQ(2U, issues);
}

TEST_F(ClusterInputsTest, RejectAnnotationRejectsOnceAndMalformedValuesAreReported) {
  common::FakeClock clock(absl::FromUnixMillis(t_));
  std::unique_ptr<Mirror> mirror;
  const std::string plan = PlanWaitingForApproval(mirror, clock);
  const std::string issue = OnlyIssue();

  // Malformed values: a clear warning each, nothing appended, the plan still waits.
  auto no_colon = Kubectl({"annotate", "rp", plan, "-n", ns_, "platform.chatcli.io/reject=bob"});
  ASSERT_TRUE(no_colon.ok() && no_colon->exit_code == 0) << no_colon->err;
  ASSERT_TRUE(Eventually([&] { return Warned("platform.chatcli.io/reject='bob' has no ':'"); }));
  auto no_who = Kubectl(
      {"annotate", "--overwrite", "rp", plan, "-n", ns_, "platform.chatcli.io/reject=:too risky"});
  ASSERT_TRUE(no_who.ok() && no_who->exit_code == 0) << no_who->err;
  ASSERT_TRUE(Eventually([&] { return Warned("names no one before the ':'"); }));
  EXPECT_TRUE(Warned(fmt::format("RemediationPlan {}/{}", ns_, plan)));
  EXPECT_EQ(0U, CountInLog(v1::Event::kApprovalRejected));
  EXPECT_EQ(0U, CountInLog(v1::Event::kApprovalGranted));
  EXPECT_EQ(projections::kWaitingApproval, PlanStateOf(plan));

  // A well-formed rejection: recorded once, the plan fails and the issue is escalated.
  auto rejected = Kubectl({"annotate", "--overwrite", "rp", plan, "-n", ns_,
                           "platform.chatcli.io/reject=bob:too risky before the release"});
  ASSERT_TRUE(rejected.ok() && rejected->exit_code == 0) << rejected->err;
  ASSERT_TRUE(Eventually([&] { return PlanStateOf(plan) == projections::kFailed; }));
  EXPECT_TRUE(LogHas(v1::Event::kApprovalRejected, "too risky before the release"));
  EXPECT_TRUE(LogHas(v1::Event::kApprovalRejected, "approver: \"bob\""));
  ASSERT_TRUE(mirror->SyncOnce(absl::Seconds(5)).ok());
  Json rp = Get("remediationplans", plan);
  EXPECT_EQ("Failed", rp["status"]["state"]);
  EXPECT_EQ("bob", rp["status"]["approvedBy"]);  // the approver field names who answered
  EXPECT_EQ("Escalated", Get("issues", issue)["status"]["state"]);
  // The mirror's status writes resend the annotated object: still one rejection.
  EXPECT_EQ(1U, CountInLog(v1::Event::kApprovalRejected));

  // Restarts see the annotated plan again and append nothing: the plan no longer waits, whether
  // the state comes from the runner or from the object's status.
  const uint64_t last = log_->LastSequence();
  inputs_.reset();
  for (const bool projected : {true, false}) {
    SCOPED_TRACE(projected ? "state from the runner" : "state from the object");
    std::unique_ptr<ClusterInputs> restarted = NewInputs(projected);
    ASSERT_TRUE(restarted->WaitForSync(absl::Seconds(20)));  // the initial list is handled
    EXPECT_EQ(last, log_->LastSequence());
    EXPECT_EQ(1U, CountInLog(v1::Event::kApprovalRejected));
  }
}

}  // namespace
}  // namespace aiops::k8s_sync
