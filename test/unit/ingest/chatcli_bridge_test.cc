// The GetAlerts bridge against a real in-test ChatCLI gRPC server (our ChatCliServiceImpl as the
// upstream): conversion, unchanged re-sent alerts, submit failures retried, tokens, filters,
// server discovery, the polling thread, and a server restart on the same port (reconnect).
#include "server/ingest/chatcli_bridge.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "chatcli_test_server.h"
#include "server/analysis/rules_analyzer.h"
#include "unit/analysis/test_servers.h"

namespace aiops::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kToken[] = "bridge-token";

v1::AlertObserved Alert(const std::string& type, const std::string& severity, const std::string& ns,
                        const std::string& deployment, const std::string& object, int64_t at) {
  v1::AlertObserved a;
  a.set_type(type);
  a.set_severity(severity);
  a.set_message(type + " observed");
  a.set_object(object);
  a.set_namespace_(ns);
  a.set_deployment(deployment);
  a.set_timestamp_unix(at);
  return a;
}

class RecordingSubmit {
 public:
  absl::StatusOr<uint64_t> operator()(v1::Event event) {
    absl::MutexLock lock(&mu_);
    if (failures_left_ > 0) {
      --failures_left_;
      return absl::UnavailableError("runner busy");
    }
    events_.push_back(std::move(event));
    return events_.size();
  }
  std::vector<v1::Event> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<std::string> Types() const {
    std::vector<std::string> out;
    for (const v1::Event& e : Events()) {
      out.push_back(e.alert_observed().type());
    }
    return out;
  }
  void FailNext(int n) {
    absl::MutexLock lock(&mu_);
    failures_left_ = n;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<v1::Event> events_ ABSL_GUARDED_BY(mu_);
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
};

// Waits (real time, bounded) until `done` holds.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

class ChatCliBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_alerts_.Add(
        Alert("OOMKilled", "critical", "shop", "cart", "cart-5c7b9d4f6b-q8w2z", 1'700'000'100));
    upstream_alerts_.Add(Alert("DeploymentFailing", "warning", "billing", "invoices",
                               "Deployment/invoices", 1'700'000'200));
    StartUpstream(0);
  }

  void StartUpstream(int port) {
    ChatCliServiceOptions options;
    options.token = kToken;
    upstream_ =
        std::make_unique<testing::ChatCliTestServer>(upstream_alerts_, rules_, options, port);
    ASSERT_TRUE(upstream_->ok()) << "port " << port;
  }

  ChatCliBridgeOptions Options() const {
    ChatCliBridgeOptions options;
    options.chatcli.target = upstream_->target();
    options.chatcli.tls = false;
    options.chatcli.token = kToken;
    options.interval = absl::Milliseconds(50);
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(100);
    options.call_deadline = absl::Seconds(5);
    return options;
  }

  ChatCliBridge::Submit Submit() {
    return [this](v1::Event e) { return submit_(std::move(e)); };
  }

  common::FakeClock upstream_clock_;
  AlertBuffer upstream_alerts_{upstream_clock_};
  analysis::RulesAnalyzer rules_;
  std::unique_ptr<testing::ChatCliTestServer> upstream_;
  common::FakeClock clock_{absl::FromUnixSeconds(1'700'000'500)};
  RecordingSubmit submit_;
};

TEST_F(ChatCliBridgeTest, APollTurnsWatcherAlertsIntoAlertObservedEvents) {
  ChatCliBridge bridge(Options(), clock_, Submit());
  const absl::StatusOr<int> polled = bridge.PollOnce();
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(*polled, 2);
  const std::vector<v1::Event> events = submit_.Events();
  ASSERT_EQ(events.size(), 2U);
  const v1::Event& e = events[0];
  EXPECT_EQ(e.logical_time_ms(), 1'700'000'500'000);
  EXPECT_EQ(e.producer(), "bridge");
  const v1::AlertObserved& a = e.alert_observed();
  EXPECT_EQ(a.type(), "OOMKilled");
  EXPECT_EQ(a.severity(), "critical");  // the server sent CRITICAL
  EXPECT_EQ(a.message(), "OOMKilled observed");
  EXPECT_EQ(a.object(), "cart-5c7b9d4f6b-q8w2z");
  EXPECT_EQ(a.object_kind(), "");
  EXPECT_EQ(a.namespace_(), "shop");
  EXPECT_EQ(a.deployment(), "cart");
  EXPECT_EQ(a.timestamp_unix(), 1'700'000'100);
  EXPECT_EQ(a.source(), "watcher");
  EXPECT_EQ(events[1].alert_observed().object_kind(), "Deployment");
  EXPECT_EQ(events[1].alert_observed().severity(), "warning");

  const ChatCliBridgeCounters c = bridge.counters();
  EXPECT_EQ(c.polls, 1U);
  EXPECT_EQ(c.alerts, 2U);
  EXPECT_EQ(c.errors, 0U);
  EXPECT_EQ(c.last_error, "");
}

TEST_F(ChatCliBridgeTest, AlertsReSentUnchangedAreNotSubmittedAgain) {
  ChatCliBridge bridge(Options(), clock_, Submit());
  ASSERT_TRUE(bridge.PollOnce().ok());
  EXPECT_EQ(*bridge.PollOnce(), 0);
  EXPECT_EQ(bridge.counters().unchanged_skipped, 2U);

  // A new alert, and the same alert observed again later (new timestamp), are new observations.
  upstream_alerts_.Add(
      Alert("PodNotReady", "warning", "shop", "cart", "cart-5c7b9d4f6b-abcde", 1'700'000'300));
  upstream_alerts_.Add(
      Alert("OOMKilled", "critical", "shop", "cart", "cart-5c7b9d4f6b-q8w2z", 1'700'000'400));
  EXPECT_EQ(*bridge.PollOnce(), 2);
  EXPECT_THAT(submit_.Types(),
              ElementsAre("OOMKilled", "DeploymentFailing", "PodNotReady", "OOMKilled"));
  EXPECT_EQ(submit_.Events().back().alert_observed().timestamp_unix(), 1'700'000'400);
}

TEST_F(ChatCliBridgeTest, ResubmitUnchangedHandsEveryAlertToTheCoreEachPoll) {
  ChatCliBridgeOptions options = Options();
  options.resubmit_unchanged = true;
  ChatCliBridge bridge(options, clock_, Submit());
  ASSERT_TRUE(bridge.PollOnce().ok());
  ASSERT_TRUE(bridge.PollOnce().ok());
  EXPECT_EQ(submit_.Events().size(), 4U);
}

TEST_F(ChatCliBridgeTest, ARejectedSubmitIsCountedAndRetriedAtTheNextPoll) {
  ChatCliBridge bridge(Options(), clock_, Submit());
  submit_.FailNext(1);
  EXPECT_EQ(*bridge.PollOnce(), 1);
  ChatCliBridgeCounters c = bridge.counters();
  EXPECT_EQ(c.errors, 1U);
  EXPECT_THAT(c.last_error, HasSubstr("runner busy"));
  EXPECT_EQ(*bridge.PollOnce(), 1);  // the one that failed
  EXPECT_THAT(submit_.Types(), ElementsAre("DeploymentFailing", "OOMKilled"));
  c = bridge.counters();
  EXPECT_EQ(c.alerts, 2U);
  EXPECT_EQ(c.last_error, "");
}

TEST_F(ChatCliBridgeTest, PollsATokenProtectedServerOverTlsWithAPrivateCa) {
  const analysis::testing::TestCertificate cert = analysis::testing::MakeSelfSignedCertificate();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({cert.key_pem, cert.cert_pem});
  ChatCliServiceOptions service;
  service.token = kToken;
  testing::ChatCliTestServer tls_upstream(upstream_alerts_, rules_, service, 0,
                                          grpc::SslServerCredentials(ssl));
  ASSERT_TRUE(tls_upstream.ok());

  // What chatcliBridge.target / tls / caFile / tokenFile give the bridge (ChatCliConnection).
  ChatCliBridgeOptions options = Options();
  options.chatcli.target = "localhost:" + std::to_string(tls_upstream.port());
  options.chatcli.tls = true;
  options.chatcli.ca_pem = cert.cert_pem;
  {
    ChatCliBridge bridge(options, clock_, Submit());
    const absl::StatusOr<int> polled = bridge.PollOnce();
    ASSERT_TRUE(polled.ok()) << polled.status();
    EXPECT_EQ(*polled, 2);
    EXPECT_THAT(submit_.Types(), ElementsAre("OOMKilled", "DeploymentFailing"));
  }
  {  // the token still counts over TLS
    ChatCliBridgeOptions wrong = options;
    wrong.chatcli.token = "wrong";
    ChatCliBridge bridge(wrong, clock_, Submit());
    EXPECT_EQ(bridge.PollOnce().status().code(), absl::StatusCode::kUnauthenticated);
  }
  {  // without the private CA the server's certificate is not trusted
    ChatCliBridgeOptions untrusted = options;
    untrusted.chatcli.ca_pem.clear();
    untrusted.call_deadline = absl::Seconds(2);
    ChatCliBridge bridge(untrusted, clock_, Submit());
    EXPECT_FALSE(bridge.PollOnce().ok());
  }
  {  // plaintext against the TLS port
    ChatCliBridgeOptions plaintext = options;
    plaintext.chatcli.tls = false;
    plaintext.call_deadline = absl::Seconds(2);
    ChatCliBridge bridge(plaintext, clock_, Submit());
    EXPECT_FALSE(bridge.PollOnce().ok());
  }
  EXPECT_EQ(submit_.Events().size(), 2U);
}

TEST_F(ChatCliBridgeTest, AWrongTokenFailsThePollWithAHint) {
  ChatCliBridgeOptions options = Options();
  options.chatcli.token = "wrong";
  ChatCliBridge bridge(options, clock_, Submit());
  const absl::StatusOr<int> polled = bridge.PollOnce();
  EXPECT_EQ(polled.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(polled.status().message()), HasSubstr("check the token"));
  EXPECT_THAT(std::string(polled.status().message()), HasSubstr(upstream_->target()));
  EXPECT_EQ(bridge.counters().errors, 1U);
  EXPECT_EQ(bridge.counters().consecutive_failures, 1U);
  EXPECT_TRUE(submit_.Events().empty());
  // Reported, not silent: a failing edge that polling again cannot fix (an error line, a metric).
  const common::EdgeHealth::Snapshot health = bridge.health().snapshot();
  EXPECT_TRUE(health.failing);
  EXPECT_TRUE(health.permanent);
  EXPECT_THAT(health.last_error, HasSubstr("UNAUTHENTICATED"));
}

TEST_F(ChatCliBridgeTest, FiltersAreSentToTheServer) {
  ChatCliBridgeOptions options = Options();
  options.namespace_filter = "billing";
  ChatCliBridge bridge(options, clock_, Submit());
  EXPECT_EQ(*bridge.PollOnce(), 1);
  EXPECT_THAT(submit_.Types(), ElementsAre("DeploymentFailing"));
}

TEST_F(ChatCliBridgeTest, TheServerIsFoundAgainAfterAFailure) {
  ChatCliBridgeOptions options = Options();
  int lookups = 0;
  const std::string target = upstream_->target();
  options.chatcli.target = "";
  options.resolve = [&]() -> absl::StatusOr<analysis::ChatCliOptions> {
    if (++lookups == 1) {
      return absl::NotFoundError("no ready Instance");
    }
    analysis::ChatCliOptions found;
    found.target = target;
    found.tls = false;
    found.token = kToken;
    return found;
  };
  ChatCliBridge bridge(options, clock_, Submit());
  const absl::StatusOr<int> first = bridge.PollOnce();
  EXPECT_EQ(first.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(first.status().message()), HasSubstr("no ready Instance"));
  EXPECT_EQ(*bridge.PollOnce(), 2);
  EXPECT_EQ(lookups, 2);
  EXPECT_EQ(*bridge.PollOnce(), 0);
  EXPECT_EQ(lookups, 2);  // connected: no new lookup
}

TEST_F(ChatCliBridgeTest, NoTargetIsAFailedPrecondition) {
  ChatCliBridgeOptions options = Options();
  options.chatcli.target = "";
  ChatCliBridge bridge(options, clock_, Submit());
  EXPECT_EQ(bridge.PollOnce().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ChatCliBridgeTest, ThePollingThreadReconnectsAfterTheServerRestarts) {
  ChatCliBridge bridge(Options(), clock_, Submit());
  bridge.Start();
  ASSERT_TRUE(Eventually([&] { return submit_.Events().size() >= 2; }));
  ASSERT_TRUE(Eventually([&] { return bridge.counters().polls >= 3; }));  // keeps polling

  const int port = upstream_->port();
  upstream_->Shutdown();
  ASSERT_TRUE(Eventually([&] { return bridge.counters().consecutive_failures >= 2; }));
  const ChatCliBridgeCounters down = bridge.counters();
  EXPECT_THAT(down.last_error, HasSubstr("GetAlerts"));

  upstream_alerts_.Add(Alert("CrashLoopBackOff", "critical", "shop", "cart",
                             "cart-5c7b9d4f6b-zzzzz", 1'700'000'450));
  upstream_.reset();
  StartUpstream(port);  // the same address, as a restarted pod behind a Service
  ASSERT_TRUE(Eventually([&] { return submit_.Events().size() >= 3; }));
  bridge.Stop();

  EXPECT_THAT(submit_.Types(), ElementsAre("OOMKilled", "DeploymentFailing", "CrashLoopBackOff"));
  const ChatCliBridgeCounters c = bridge.counters();
  EXPECT_GE(c.reconnects, 1U);
  EXPECT_GE(c.errors, 2U);
  EXPECT_EQ(c.consecutive_failures, 0U);
  EXPECT_EQ(c.alerts, 3U);
}

TEST_F(ChatCliBridgeTest, StopReturnsPromptlyDuringALongInterval) {
  ChatCliBridgeOptions options = Options();
  options.interval = absl::Hours(1);
  ChatCliBridge bridge(options, clock_, Submit());
  bridge.Start();
  ASSERT_TRUE(
      Eventually([&] { return bridge.counters().polls == 1 && submit_.Events().size() == 2; }));
  const absl::Time start = absl::Now();
  bridge.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  bridge.Stop();  // idempotent
  EXPECT_EQ(bridge.counters().polls, 1U);
}

TEST(EventFromWatcherAlertTest, AnAlertWithoutTimestampTakesTheTimeOfObservation) {
  chatcli::v1::WatcherAlert a;
  a.set_type("NodeNotReady");
  a.set_severity("Critical");
  a.set_object("Node/worker-1");
  const v1::Event e = EventFromWatcherAlert(a, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ(e.alert_observed().timestamp_unix(), 1'700'000'000);
  EXPECT_EQ(e.alert_observed().severity(), "critical");
  EXPECT_EQ(e.alert_observed().object_kind(), "Node");
}

}  // namespace
}  // namespace aiops::ingest
