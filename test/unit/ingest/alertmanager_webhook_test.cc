// The Alertmanager edge: the parser on real version-4 payloads (kube-prometheus alerts, firing
// and resolved, several per group) and on every malformed shape, and the HTTP receiver on a real
// cpp-httplib server on a loopback port (auth, bad input, submit failures, success).
#include "server/ingest/alertmanager_webhook.h"

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "projections/naming.h"

namespace aiops::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'709'648'500);

// A group as Alertmanager 0.27 posts it: a kube-prometheus crash-loop alert (firing), an
// application error-rate alert (firing) and a latency alert that has resolved.
constexpr char kGroupPayload[] = R"json({
  "receiver": "chatcli-aiops",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {
        "alertname": "KubePodCrashLooping",
        "container": "app",
        "endpoint": "http",
        "job": "kube-state-metrics",
        "namespace": "shop",
        "pod": "checkout-7d9f8b6c5d-x2x8k",
        "prometheus": "monitoring/kube-prometheus-stack-prometheus",
        "reason": "CrashLoopBackOff",
        "severity": "warning"
      },
      "annotations": {
        "description": "Pod shop/checkout-7d9f8b6c5d-x2x8k (app) is in waiting state (reason: \"CrashLoopBackOff\").",
        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
        "summary": "Pod is crash looping."
      },
      "startsAt": "2024-03-05T14:21:07.123Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%5B5m%5D%29",
      "fingerprint": "a1b2c3d4e5f60718"
    },
    {
      "status": "firing",
      "labels": {
        "alertname": "CheckoutErrorRateHigh",
        "deployment": "checkout",
        "namespace": "shop",
        "service": "checkout",
        "severity": "CRITICAL"
      },
      "annotations": {
        "summary": "5xx ratio above 5% for 10 minutes"
      },
      "startsAt": "2024-03-05T14:25:00+01:00",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.monitoring:9090/graph",
      "fingerprint": "0f1e2d3c4b5a6978"
    },
    {
      "status": "resolved",
      "labels": {
        "alertname": "HighLatency",
        "namespace": "shop",
        "deployment": "cart",
        "severity": "warning"
      },
      "annotations": {"summary": "p99 latency above 1s"},
      "startsAt": "2024-03-05T13:00:00Z",
      "endsAt": "2024-03-05T14:00:00Z",
      "generatorURL": "http://prometheus.monitoring:9090/graph",
      "fingerprint": "1122334455667788"
    }
  ],
  "groupLabels": {"namespace": "shop"},
  "commonLabels": {"namespace": "shop"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager.monitoring:9093",
  "version": "4",
  "groupKey": "{}/{severity=~\"warning|critical\"}:{namespace=\"shop\"}",
  "truncatedAlerts": 0
})json";

// One alert in a version-4 envelope.
std::string Payload(const std::string& alert_json) {
  return R"({"version": "4", "status": "firing", "receiver": "r", "groupKey": "k", "alerts": [)" +
         alert_json + "]}";
}

std::string Labels(const v1::AlertObserved& a) {
  std::string out;
  for (const v1::Param& p : a.labels()) {
    out += p.key() + "=" + p.value() + ";";
  }
  return out;
}

absl::Status ParseError(const std::string& body) {
  return ParseAlertmanagerWebhook(body, kNow).status();
}

TEST(AlertmanagerWebhookTest, TurnsEachFiringAlertOfAGroupIntoAnAlertObservedEvent) {
  const absl::StatusOr<AlertmanagerBatch> batch = ParseAlertmanagerPayload(kGroupPayload, kNow);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->alerts_total, 3);
  EXPECT_EQ(batch->resolved_skipped, 1);
  EXPECT_EQ(batch->receiver, "chatcli-aiops");
  EXPECT_THAT(batch->group_key, HasSubstr("namespace=\"shop\""));
  ASSERT_EQ(batch->events.size(), 2U);

  const v1::Event& crash = batch->events[0];
  EXPECT_EQ(crash.logical_time_ms(), absl::ToUnixMillis(kNow));
  EXPECT_EQ(crash.producer(), "webhook");
  ASSERT_TRUE(crash.has_alert_observed());
  const v1::AlertObserved& a = crash.alert_observed();
  EXPECT_EQ(a.type(), "crashloop_backoff");  // KubePodCrashLooping, a well-known name
  EXPECT_EQ(a.severity(), "warning");
  EXPECT_EQ(a.message(),
            "Pod is crash looping.\nPod shop/checkout-7d9f8b6c5d-x2x8k (app) is in waiting state "
            "(reason: \"CrashLoopBackOff\").");
  EXPECT_EQ(a.object(), "checkout-7d9f8b6c5d-x2x8k");
  EXPECT_EQ(a.object_kind(), "Pod");
  EXPECT_EQ(a.namespace_(), "shop");
  EXPECT_EQ(a.deployment(), "checkout");         // derived from the pod name
  EXPECT_EQ(a.timestamp_unix(), 1'709'648'467);  // 2024-03-05T14:21:07Z
  EXPECT_EQ(a.source(), "alertmanager");
  EXPECT_EQ(a.source_object_uid(), "");
  EXPECT_EQ(Labels(a),
            "alertname=KubePodCrashLooping;container=app;endpoint=http;job=kube-state-metrics;"
            "namespace=shop;pod=checkout-7d9f8b6c5d-x2x8k;"
            "prometheus=monitoring/kube-prometheus-stack-prometheus;reason=CrashLoopBackOff;"
            "severity=warning;");

  const v1::AlertObserved& e = batch->events[1].alert_observed();
  EXPECT_EQ(e.type(), "error_rate");    // a hint in the name
  EXPECT_EQ(e.severity(), "critical");  // any case
  EXPECT_EQ(e.message(), "5xx ratio above 5% for 10 minutes");
  EXPECT_EQ(e.object(), "Deployment/checkout");
  EXPECT_EQ(e.object_kind(), "Deployment");
  EXPECT_EQ(e.deployment(), "checkout");
  EXPECT_EQ(e.timestamp_unix(), 1'709'645'100);  // 14:25 at +01:00 is 13:25Z

  // The core attributes both to the Deployment and reads the signals the seed weighs.
  for (const v1::Event& event : batch->events) {
    const v1::ResourceRef r = projections::ResourceForAlert(event.alert_observed());
    EXPECT_EQ(projections::ResourceKey(r), "Deployment/shop/checkout");
  }
  EXPECT_EQ(projections::SignalForAlertType(a.type()), "crashloop_backoff");
  EXPECT_EQ(projections::SignalForAlertType(e.type()), "error_rate");
}

TEST(AlertmanagerWebhookTest, TheSignalLabelOverridesTheAlertName) {
  const auto events = ParseAlertmanagerWebhook(
      Payload(R"({"status": "firing", "labels": {"alertname": "SloBurn", "chatcli_signal":
          "latency", "namespace": "shop", "deployment": "cart"}})"),
      kNow);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ((*events)[0].alert_observed().type(), "latency");
  EXPECT_EQ((*events)[0].alert_observed().message(), "SloBurn");  // no annotations: the name
  // startsAt absent: the time of receipt.
  EXPECT_EQ((*events)[0].alert_observed().timestamp_unix(), absl::ToUnixSeconds(kNow));
}

TEST(AlertmanagerWebhookTest, AlertNamesMapToTheSeedSignalsConsistentlyWithTheCore) {
  // Known ChatCLI types stay as they are (the core maps them).
  EXPECT_EQ(AlertTypeForAlertname("HighErrorRate"), "HighErrorRate");
  EXPECT_EQ(AlertTypeForAlertname("OOMKilled"), "OOMKilled");
  EXPECT_EQ(AlertTypeForAlertname("error_rate"), "error_rate");
  // Well-known kube-prometheus names.
  EXPECT_EQ(AlertTypeForAlertname("KubePodNotReady"), "pod_not_ready");
  EXPECT_EQ(AlertTypeForAlertname("KubeDeploymentReplicasMismatch"), "deploy_failing");
  EXPECT_EQ(AlertTypeForAlertname("KubeNodeNotReady"), "node_not_ready");
  // Hints.
  EXPECT_EQ(AlertTypeForAlertname("APIErrorRateHigh"), "error_rate");
  EXPECT_EQ(AlertTypeForAlertname("Ingress5xxBurst"), "error_rate");
  EXPECT_EQ(AlertTypeForAlertname("CheckoutLatencyP99"), "latency");
  EXPECT_EQ(AlertTypeForAlertname("KubernetesContainerOomKiller"), "oom_kill");
  EXPECT_EQ(AlertTypeForAlertname("ContainerRestartingOften"), "pod_restart");
  // Nothing recognisable: the name, which the core records under the generic signal.
  EXPECT_EQ(AlertTypeForAlertname("Watchdog"), "Watchdog");
  for (const char* name : {"HighErrorRate", "KubePodNotReady", "APIErrorRateHigh",
                           "CheckoutLatencyP99", "KubernetesContainerOomKiller", "Watchdog"}) {
    const std::string signal(projections::SignalForAlertType(AlertTypeForAlertname(name)));
    EXPECT_NE(signal == projections::kGenericSignal, std::string(name) != "Watchdog") << name;
  }
}

// The core's one severity rule (projections::AnomalySeverity): the common synonyms "page" and
// "error" are critical, "none" is info, anything unknown is warning.
TEST(AlertmanagerWebhookTest, SeverityIsCriticalWarningOrInfoAndAnythingUnknownIsWarning) {
  auto severity = [](const std::string& value) {
    const auto events = ParseAlertmanagerWebhook(
        Payload(R"({"labels": {"alertname": "X", "namespace": "n", "severity": ")" + value +
                R"("}})"),
        kNow);
    return events.ok() && events->size() == 1 ? (*events)[0].alert_observed().severity()
                                              : "parse failed";
  };
  EXPECT_EQ(severity("critical"), "critical");
  EXPECT_EQ(severity("Warning"), "warning");
  EXPECT_EQ(severity("info"), "info");
  EXPECT_EQ(severity("page"), "critical");
  EXPECT_EQ(severity("error"), "critical");
  EXPECT_EQ(severity("none"), "info");
  EXPECT_EQ(severity("high"), "warning");
  EXPECT_EQ(severity("P1"), "warning");
  EXPECT_EQ(severity(""), "warning");
}

TEST(AlertmanagerWebhookTest, TheWorkloadComesFromKindLabelsTheAppLabelOrThePodName) {
  auto alert = [](const std::string& labels) {
    const auto events = ParseAlertmanagerWebhook(
        Payload(R"({"labels": {"alertname": "X", "namespace": "n", )" + labels + "}}"), kNow);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() && events->size() == 1 ? (*events)[0].alert_observed() : v1::AlertObserved();
  };
  v1::AlertObserved a = alert(R"("statefulset": "db")");
  EXPECT_EQ(a.deployment(), "db");
  EXPECT_EQ(a.object(), "StatefulSet/db");
  EXPECT_EQ(projections::ResourceKey(projections::ResourceForAlert(a)), "StatefulSet/n/db");

  a = alert(R"("job_name": "backup-28491720")");
  EXPECT_EQ(a.object(), "Job/backup-28491720");

  a = alert(R"("app.kubernetes.io/name": "web", "pod": "web-5c7b9d4f6b-q8w2z")");
  EXPECT_EQ(a.deployment(), "web");
  EXPECT_EQ(a.object(), "web-5c7b9d4f6b-q8w2z");

  a = alert(R"("label_app_kubernetes_io_name": "api")");
  EXPECT_EQ(a.deployment(), "api");
  EXPECT_EQ(a.object(), "api");
  EXPECT_EQ(projections::ResourceKey(projections::ResourceForAlert(a)), "Deployment/n/api");

  EXPECT_EQ(alert(R"("pod": "db-2")").deployment(), "db");                // StatefulSet pod
  EXPECT_EQ(alert(R"("pod": "fluentd-x7k2p")").deployment(), "fluentd");  // DaemonSet pod
  EXPECT_EQ(alert(R"("pod": "standalone")").deployment(), "");            // no known shape

  a = alert(R"("node": "worker-1")");
  EXPECT_EQ(a.object(), "Node/worker-1");
  EXPECT_EQ(a.object_kind(), "Node");
}

TEST(AlertmanagerWebhookTest, AnAllResolvedGroupGivesNoEventsAndCountsThem) {
  const auto batch = ParseAlertmanagerPayload(
      R"({"version": "4", "status": "resolved", "alerts": [
          {"status": "resolved", "labels": {"alertname": "A", "namespace": "n"}},
          {"status": "resolved", "labels": {"alertname": "B"}}]})",
      kNow);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->events.empty());
  EXPECT_EQ(batch->resolved_skipped, 2);
  EXPECT_EQ(batch->alerts_total, 2);
}

TEST(AlertmanagerWebhookTest, AnAlertWithoutStatusTakesTheGroupStatus) {
  const auto batch = ParseAlertmanagerPayload(
      R"({"version": "4", "status": "resolved", "alerts": [
          {"labels": {"alertname": "A", "namespace": "n"}}]})",
      kNow);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->resolved_skipped, 1);
}

TEST(AlertmanagerWebhookTest, MalformedBodiesAreInvalidArgumentNamingTheField) {
  struct Case {
    std::string body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"not json", "not valid JSON"},
      {"", "not valid JSON"},
      {R"({"version": "4", "alerts": [)", "not valid JSON"},
      {"[1, 2]", "(body): expected a JSON object, got array"},
      {R"({"alerts": []})", "version: missing"},
      {R"({"version": "3", "alerts": []})", "version: unsupported payload version \"3\""},
      {R"({"version": 4, "alerts": []})", "version: unsupported payload version 4"},
      {R"({"version": "4"})", "alerts: missing"},
      {R"({"version": "4", "alerts": {"a": 1}})", "alerts: expected an array, got object"},
      {R"({"version": "4", "alerts": null})", "alerts: expected an array, got null"},
      {Payload(R"("just a string")"), "alerts[0]: expected an object, got string"},
      {Payload(R"({"status": "firing"})"), "alerts[0].labels: missing"},
      {Payload(R"({"labels": ["a"]})"), "alerts[0].labels: expected an object of strings"},
      {Payload(R"({"labels": {"alertname": 5, "namespace": "n"}})"),
       "alerts[0].labels.alertname: expected a string, got number"},
      {Payload(R"({"labels": {"namespace": "n"}})"), "alerts[0].labels.alertname: missing"},
      {Payload(R"({"labels": {"alertname": "A"}})"), "alerts[0].labels.namespace: missing"},
      {Payload(R"({"labels": {"alertname": "A", "namespace": ""}})"),
       "alerts[0].labels.namespace: missing"},
      {Payload(R"({"status": "pending", "labels": {"alertname": "A", "namespace": "n"}})"),
       "alerts[0].status: expected \"firing\" or \"resolved\", got \"pending\""},
      {Payload(R"({"status": 1, "labels": {"alertname": "A", "namespace": "n"}})"),
       "alerts[0].status: expected"},
      {Payload(R"({"labels": {"alertname": "A", "namespace": "n"}, "annotations": "x"})"),
       "alerts[0].annotations: expected an object of strings, got string"},
      {Payload(R"({"labels": {"alertname": "A", "namespace": "n"},
                   "annotations": {"summary": {"x": 1}}})"),
       "alerts[0].annotations.summary: expected a string, got object"},
      {Payload(R"({"labels": {"alertname": "A", "namespace": "n"}, "startsAt": "yesterday"})"),
       "alerts[0].startsAt: expected an RFC 3339 time, got \"yesterday\""},
      {Payload(R"({"labels": {"alertname": "A", "namespace": "n"}, "startsAt": 17})"),
       "alerts[0].startsAt: expected an RFC 3339 time, got 17"},
      // Invalid UTF-8 never reaches the log (it rejects such strings).
      {Payload("{\"labels\": {\"alertname\": \"A\xff\", \"namespace\": \"n\"}}"), "not valid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const absl::Status status = ParseError(c.body);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field));
    EXPECT_THAT(std::string(status.message()), HasSubstr("alertmanager webhook"));
  }
}

TEST(AlertmanagerWebhookTest, OneBadAlertRejectsTheWholeBody) {
  const absl::Status status = ParseError(
      R"({"version": "4", "alerts": [
          {"status": "firing", "labels": {"alertname": "A", "namespace": "n"}},
          {"status": "firing", "labels": {"alertname": "B"}}]})");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("alerts[1].labels.namespace"));
}

// --- The HTTP receiver on a real server --------------------------------------------------------

constexpr char kToken[] = "webhook-token-123";

class RecordingSubmit {
 public:
  absl::StatusOr<uint64_t> operator()(v1::Event event) {
    absl::MutexLock lock(&mu_);
    if (fail_after_ >= 0 && static_cast<int>(events_.size()) >= fail_after_) {
      return failure_;
    }
    events_.push_back(std::move(event));
    return events_.size() + 100;
  }
  std::vector<v1::Event> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  void FailAfter(int accepted, absl::Status failure) {
    absl::MutexLock lock(&mu_);
    fail_after_ = accepted;
    failure_ = std::move(failure);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::Event> events_ ABSL_GUARDED_BY(mu_);
  int fail_after_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

class WebhookServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WebhookOptions options;
    options.token = kToken;
    options.max_body_bytes = 64 * 1024;
    options.clock = &clock_;
    options.stats = &stats_;
    options.health = &health_;
    options.submit = [this](v1::Event e) { return submit_(std::move(e)); };
    RegisterAlertmanagerWebhook(server_, options);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  void TearDown() override {
    server_.stop();
    thread_.join();
  }

  httplib::Result Post(const std::string& body, const std::string& authorization,
                       const std::string& path = kAlertmanagerWebhookPath) {
    httplib::Client client("127.0.0.1", port_);
    client.set_tcp_nodelay(true);
    httplib::Headers headers;
    if (!authorization.empty()) {
      headers.emplace("Authorization", authorization);
    }
    return client.Post(path, headers, body, "application/json");
  }

  static nlohmann::json Json(const httplib::Result& r) {
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  common::FakeClock clock_{absl::FromUnixSeconds(1'709'650'000)};
  WebhookStats stats_;
  common::EdgeHealth health_{"alertmanager-webhook", common::EdgeHealth::Options{.clock = &clock_}};
  RecordingSubmit submit_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(WebhookServerTest, AcceptsAGroupAndAnswersWithCountsAndSequences) {
  const httplib::Result r = Post(kGroupPayload, std::string("Bearer ") + kToken);
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200) << r->body;
  const nlohmann::json body = Json(r);
  EXPECT_EQ(body["received"], 3);
  EXPECT_EQ(body["firing"], 2);
  EXPECT_EQ(body["resolved_skipped"], 1);
  EXPECT_EQ(body["appended"], 2);
  EXPECT_EQ(body["sequences"], nlohmann::json::array({101, 102}));

  const std::vector<v1::Event> events = submit_.Events();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].logical_time_ms(), 1'709'650'000'000);  // the injected clock
  EXPECT_EQ(events[0].producer(), "webhook");
  EXPECT_EQ(events[1].alert_observed().type(), "error_rate");
  EXPECT_EQ(stats_.requests.load(), 1U);
  EXPECT_EQ(stats_.alerts_appended.load(), 2U);
  EXPECT_EQ(stats_.resolved_skipped.load(), 1U);
}

TEST_F(WebhookServerTest, AMissingOrWrongTokenIs401AndAppendsNothing) {
  httplib::Result r = Post(kGroupPayload, "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(Json(r)["error"].get<std::string>(), HasSubstr("missing Authorization"));
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");

  r = Post(kGroupPayload, "Bearer wrong-token-1234");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(Json(r)["error"].get<std::string>(), HasSubstr("not valid"));

  r = Post(kGroupPayload, kToken);  // without the scheme
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);

  EXPECT_TRUE(submit_.Events().empty());
  EXPECT_EQ(stats_.rejected.load(), 3U);
  // The sender's misconfiguration is reported (an error line, a metric) until it is fixed.
  EXPECT_TRUE(health_.snapshot().failing);
  EXPECT_TRUE(health_.snapshot().permanent);
  EXPECT_THAT(health_.snapshot().last_error, HasSubstr("HTTP 401"));
  r = Post(kGroupPayload, std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(health_.snapshot().failing);
  EXPECT_EQ(health_.snapshot().failures, 3U);
}

TEST_F(WebhookServerTest, AMalformedPayloadIs400WithTheParserMessage) {
  const httplib::Result r =
      Post(Payload(R"({"labels": {"alertname": "A"}})"), std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(Json(r)["error"].get<std::string>(), HasSubstr("alerts[0].labels.namespace"));
  EXPECT_TRUE(submit_.Events().empty());

  const httplib::Result not_json = Post("{{{", std::string("Bearer ") + kToken);
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_THAT(Json(not_json)["error"].get<std::string>(), HasSubstr("not valid JSON"));
}

TEST_F(WebhookServerTest, AnOversizedBodyIs413) {
  const std::string big = Payload(R"({"labels": {"alertname": "A", "namespace": "n", "x": ")" +
                                  std::string(70 * 1024, 'a') + R"("}})");
  const httplib::Result r = Post(big, std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(submit_.Events().empty());
}

TEST_F(WebhookServerTest, AnUnavailableCoreIs503SoAlertmanagerRetries) {
  submit_.FailAfter(1, absl::UnavailableError("runner stopped"));
  const httplib::Result r = Post(kGroupPayload, std::string("Bearer ") + kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_EQ(Json(r)["appended"], 1);
  EXPECT_THAT(Json(r)["error"].get<std::string>(), HasSubstr("runner stopped"));
  EXPECT_EQ(stats_.submit_errors.load(), 1U);

  submit_.FailAfter(1, absl::ResourceExhaustedError("queue full"));
  const httplib::Result full = Post(kGroupPayload, std::string("Bearer ") + kToken);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 503);

  submit_.FailAfter(1, absl::DataLossError("log corrupt"));
  const httplib::Result broken = Post(kGroupPayload, std::string("Bearer ") + kToken);
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 500);
}

TEST_F(WebhookServerTest, OtherPathsAndMethodsAreNotServed) {
  const httplib::Result r = Post(kGroupPayload, std::string("Bearer ") + kToken, "/webhook/other");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  httplib::Client client("127.0.0.1", port_);
  const httplib::Result get = client.Get(kAlertmanagerWebhookPath);
  ASSERT_TRUE(get);
  EXPECT_NE(get->status, 200);
  EXPECT_TRUE(submit_.Events().empty());
}

// A server set up by `setup`, serving on a loopback port for the scope's lifetime.
struct LoopbackServer {
  explicit LoopbackServer(const std::function<void(httplib::Server&)>& setup) {
    setup(server);
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  ~LoopbackServer() {
    server.stop();
    thread.join();
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  httplib::Server server;
  std::thread thread;
  int port = 0;
};

// A receiver with `options`.
struct ServingWebhook : LoopbackServer {
  explicit ServingWebhook(const WebhookOptions& options)
      : LoopbackServer([&](httplib::Server& s) { RegisterAlertmanagerWebhook(s, options); }) {}
};

// The webhook's transport settings and one route that answers with the client's port, so a
// test can tell which connection a request came on.
struct ConfiguredServer : LoopbackServer {
  ConfiguredServer()
      : LoopbackServer([](httplib::Server& s) {
          ConfigureWebhookServer(s);
          s.Get("/port", [](const httplib::Request& req, httplib::Response& res) {
            res.set_content(std::to_string(req.remote_port), "text/plain");
          });
        }) {}
};

TEST(WebhookTransportTest, AKeptAliveConnectionServesManyRequests) {
  ConfiguredServer serving;
  httplib::Client client("127.0.0.1", serving.port);
  client.set_keep_alive(true);
  std::set<std::string> ports;
  for (int i = 0; i < 20; ++i) {  // httplib's default closes a connection after 5
    const httplib::Result r = client.Get("/port");
    ASSERT_TRUE(r) << i;
    ports.insert(r->body);
  }
  EXPECT_EQ(1U, ports.size()) << "requests came on " << ports.size() << " connections";
}

TEST(WebhookTransportTest, OpenConnectionsDoNotStarveANewSender) {
  ConfiguredServer serving;
  // Each of these holds its connection, and so a server thread, open after its request. With
  // httplib's 8 threads the ninth would wait for a held connection's 5 s keep-alive to run
  // out, past the client's 3 s read time-out.
  std::vector<std::unique_ptr<httplib::Client>> held;
  for (int i = 0; i < 20; ++i) {
    held.push_back(std::make_unique<httplib::Client>("127.0.0.1", serving.port));
    held.back()->set_keep_alive(true);
    held.back()->set_read_timeout(3, 0);
    const httplib::Result r = held.back()->Get("/port");
    ASSERT_TRUE(r) << i << ": " << httplib::to_string(r.error());
  }
  httplib::Client late("127.0.0.1", serving.port);
  late.set_read_timeout(3, 0);
  const httplib::Result r = late.Get("/port");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(200, r->status);
}

TEST(WebhookServerWithoutTokenTest, AcceptsUnauthenticatedPostsWhenNoTokenIsConfigured) {
  common::FakeClock clock;
  RecordingSubmit submit;
  WebhookOptions options;
  options.clock = &clock;
  options.submit = [&](v1::Event e) { return submit(std::move(e)); };
  ServingWebhook serving(options);
  httplib::Client client("127.0.0.1", serving.port);
  const httplib::Result r =
      client.Post(kAlertmanagerWebhookPath, kGroupPayload, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(submit.Events().size(), 2U);
}

TEST(WebhookServerBatchTest, WithSubmitBatchAPayloadIsOneCallAllOrNothing) {
  common::FakeClock clock;
  WebhookStats stats;
  absl::Mutex mu;
  std::vector<size_t> calls;  // events per submit_batch call
  absl::Status failure;
  WebhookOptions options;
  options.clock = &clock;
  options.stats = &stats;
  options.submit_batch =
      [&](std::vector<v1::Event> events) -> absl::StatusOr<std::vector<uint64_t>> {
    absl::MutexLock lock(&mu);
    calls.push_back(events.size());
    if (!failure.ok()) {
      return failure;
    }
    std::vector<uint64_t> sequences;
    for (size_t i = 0; i < events.size(); ++i) {
      sequences.push_back(7 + i);
    }
    return sequences;
  };
  ServingWebhook serving(options);
  httplib::Client client("127.0.0.1", serving.port);
  const httplib::Result ok =
      client.Post(kAlertmanagerWebhookPath, kGroupPayload, "application/json");
  {
    absl::MutexLock lock(&mu);
    failure = absl::UnavailableError("runner stopped");
  }
  const httplib::Result failed =
      client.Post(kAlertmanagerWebhookPath, kGroupPayload, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  const nlohmann::json body = nlohmann::json::parse(ok->body, nullptr, false);
  EXPECT_EQ(body["sequences"], nlohmann::json::array({7, 8}));
  EXPECT_EQ(body["appended"], 2);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503);
  const nlohmann::json error = nlohmann::json::parse(failed->body, nullptr, false);
  EXPECT_EQ(error["appended"], 0);
  EXPECT_THAT(error["error"].get<std::string>(), HasSubstr("runner stopped"));
  EXPECT_EQ(calls, std::vector<size_t>({2, 2}));  // the two firing alerts, together
  EXPECT_EQ(stats.alerts_appended.load(), 2U);
  EXPECT_EQ(stats.submit_errors.load(), 1U);
}

}  // namespace
}  // namespace aiops::ingest
