// The REST client and the informer against an in-process cpp-httplib server on 127.0.0.1: what
// is retried and how long it waits (a FakeClock and an injected sleep, no wall time), the
// client-side rate limit, time-outs and call budgets, typed errors, kubeconfig tokenFile and
// insecure-skip-tls-verify (a TLS server with a throwaway certificate made by openssl), and the
// informer's re-watch after a clean end and its bookmarks. The real API server is exercised by
// test/integration/kube_client_test.cc and informer_test.cc.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <absl/synchronization/mutex.h>
#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "common/clock.h"
#include "common/fmt_absl.h"
#include "k8s_sync/informer.h"
#include "k8s_sync/kube_client.h"
#include "k8s_sync/kube_config.h"
#include "support/captured_log.h"
#include "support/subprocess.h"
#include "support/test_dir.h"

namespace aiops::k8s_sync {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// An httplib server on 127.0.0.1 (any port), listening on its own thread until destroyed.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server = nullptr)
      : server_(server != nullptr ? std::move(server) : std::make_unique<httplib::Server>()) {}
  ~TestServer() {
    server_->stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  httplib::Server& http() { return *server_; }

  // Starts listening; the routes must be registered before.
  void Start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // httplib's stop() does nothing before the listen loop runs.
    while (!server_->is_running()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Counts requests and answers them from a script: the i-th request gets answers[i] (the last
// answer repeats).
struct Script {
  struct Answer {
    Answer() = default;
    Answer(int status_in, std::string body_in, std::string retry_after_in = "")
        : status(status_in), body(std::move(body_in)), retry_after(std::move(retry_after_in)) {}
    int status = 200;
    std::string body = R"({"kind":"Status","status":"Success"})";
    std::string retry_after;  // the Retry-After header, when not empty
  };
  absl::Mutex mu;
  std::vector<Answer> answers;
  int hits = 0;
  std::vector<std::string> authorizations;

  void Serve(const httplib::Request& req, httplib::Response& res) {
    absl::MutexLock lock(&mu);
    const Answer& a = answers[std::min<size_t>(static_cast<size_t>(hits), answers.size() - 1)];
    ++hits;
    authorizations.push_back(req.get_header_value("Authorization"));
    res.status = a.status;
    if (!a.retry_after.empty()) {
      res.set_header("Retry-After", a.retry_after);
    }
    res.set_content(a.body, "application/json");
  }
  int Hits() {
    absl::MutexLock lock(&mu);
    return hits;
  }
  void Route(httplib::Server& server, const std::string& path) {
    auto serve = [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); };
    server.Get(path, serve);
    server.Post(path, serve);
    server.Put(path, serve);
    server.Delete(path, serve);
  }
};

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return Json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
              {"code", code},     {"reason", reason},   {"message", message}}
      .dump();
}

// Client options whose time is a FakeClock: every wait (rate limit, back-off) is recorded and
// advances the clock instead of sleeping.
struct FakeTime {
  common::FakeClock clock;
  absl::Mutex mu;
  std::vector<absl::Duration> sleeps;
  std::function<int()> hits_at_sleep;  // optional: what the server had seen at each sleep
  std::vector<int> hits_seen;

  KubeClientOptions Options() {
    KubeClientOptions options;
    options.clock = &clock;
    options.sleep = [this](absl::Duration d) {
      {
        absl::MutexLock lock(&mu);
        sleeps.push_back(d);
        if (hits_at_sleep) {
          hits_seen.push_back(hits_at_sleep());
        }
      }
      clock.Advance(d);
    };
    return options;
  }
  std::vector<absl::Duration> Sleeps() {
    absl::MutexLock lock(&mu);
    return sleeps;
  }
};

KubeConfig PlainConfig(int port) {
  KubeConfig config;
  config.server = fmt::format("http://127.0.0.1:{}", port);
  config.user = "tester";
  return config;
}

std::unique_ptr<KubeClient> MustClient(const KubeConfig& config, KubeClientOptions options) {
  auto client = KubeClient::Create(config, std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(KubeClientRetryTest, A429IsRetriedAfterItsRetryAfter) {
  Script script;
  script.answers = {{429, StatusBody(429, "TooManyRequests", "slow down"), "2"}, {}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces");
  server.Start();
  FakeTime time;
  auto client = MustClient(PlainConfig(server.port()), time.Options());
  auto got = client->Get("/api/v1/namespaces");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(2, script.Hits());
  EXPECT_THAT(time.Sleeps(), ElementsAre(absl::Seconds(2)));  // Retry-After, not the back-off
}

TEST(KubeClientRetryTest, RetryAfterIsCappedByMaxBackoffAndA429IsRetriedEvenForACreate) {
  Script script;
  script.answers = {{429, StatusBody(429, "TooManyRequests", "slow down"), "3600"},
                    {201, R"({"kind":"Namespace"})"}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces");
  server.Start();
  FakeTime time;
  KubeClientOptions options = time.Options();
  options.max_backoff = absl::Seconds(5);
  auto client = MustClient(PlainConfig(server.port()), options);
  auto created = client->Create("/api/v1/namespaces", Json{{"kind", "Namespace"}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(2, script.Hits());  // a 429 means the server did not act on the request
  EXPECT_THAT(time.Sleeps(), ElementsAre(absl::Seconds(5)));
}

TEST(KubeClientRetryTest, ServerErrorsAreRetriedWithDoublingBackoffForIdempotentRequests) {
  Script script;
  script.answers = {{500, StatusBody(500, "InternalError", "etcd hiccup")},
                    {502, "bad gateway"},
                    {200, R"({"kind":"Namespace"})"}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces/a");
  server.Start();
  FakeTime time;
  auto client = MustClient(PlainConfig(server.port()), time.Options());
  auto got = client->Get("/api/v1/namespaces/a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(3, script.Hits());
  EXPECT_THAT(time.Sleeps(), ElementsAre(absl::Milliseconds(200), absl::Milliseconds(400)));
}

TEST(KubeClientRetryTest, AttemptsAreBoundedAndTheLastErrorIsReturned) {
  Script script;
  script.answers = {{500, StatusBody(500, "InternalError", "etcd is down")}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces/a");
  server.Start();
  FakeTime time;
  KubeClientOptions options = time.Options();
  options.max_attempts = 4;
  auto client = MustClient(PlainConfig(server.port()), options);
  auto got = client->Delete("/api/v1/namespaces/a");
  EXPECT_EQ(absl::StatusCode::kUnavailable, got.status().code()) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("etcd is down"));
  EXPECT_EQ(4, script.Hits());
  EXPECT_THAT(time.Sleeps(), ElementsAre(absl::Milliseconds(200), absl::Milliseconds(400),
                                         absl::Milliseconds(800)));
}

TEST(KubeClientRetryTest, ACreateIsNotRepeatedAfterA500ButIsAfterA503) {
  for (const int code : {500, 503}) {
    SCOPED_TRACE(code);
    Script script;
    script.answers = {{code, StatusBody(code, "InternalError", "failed")},
                      {201, R"({"kind":"Namespace"})"}};
    TestServer server;
    script.Route(server.http(), "/api/v1/namespaces");
    server.Start();
    FakeTime time;
    auto client = MustClient(PlainConfig(server.port()), time.Options());
    auto created = client->Create("/api/v1/namespaces", Json{{"kind", "Namespace"}});
    if (code == 500) {
      // The create may have happened: repeating it could create twice, so the caller decides.
      EXPECT_EQ(absl::StatusCode::kUnavailable, created.status().code()) << created.status();
      EXPECT_EQ(1, script.Hits());
      EXPECT_TRUE(time.Sleeps().empty());
    } else {
      // 503: the server did not take the request in.
      EXPECT_TRUE(created.ok()) << created.status();
      EXPECT_EQ(2, script.Hits());
    }
  }
}

TEST(KubeClientRetryTest, OtherClientErrorsAreNotRetried) {
  Script script;
  script.answers = {{422, StatusBody(422, "Invalid", "spec.replicas: must be >= 0")}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces/a");
  server.Start();
  FakeTime time;
  auto client = MustClient(PlainConfig(server.port()), time.Options());
  auto got = client->Replace("/api/v1/namespaces/a", Json::object());
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, got.status().code());
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("spec.replicas: must be >= 0"));
  EXPECT_EQ(1, script.Hits());
}

// A server that takes requests in and answers only once released (or after 10 s).
struct HungServer {
  std::atomic<bool> released{false};
  std::atomic<int> hits{0};
  TestServer server;
  HungServer() {
    auto hang = [this](const httplib::Request&, httplib::Response& res) {
      ++hits;
      const absl::Time give_up = absl::Now() + absl::Seconds(10);
      while (!released.load() && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(10));
      }
      res.set_content("{}", "application/json");
    };
    server.http().Get("/hang", hang);
    server.http().Patch("/hang", hang);
    server.Start();
  }
  ~HungServer() { released.store(true); }
  HungServer(const HungServer&) = delete;
  HungServer& operator=(const HungServer&) = delete;
};

TEST(KubeClientTimeoutTest, TheRequestTimeOutNamesTheServer) {
  HungServer hung;
  KubeClientOptions options;
  options.request_timeout = absl::Milliseconds(300);
  options.max_attempts = 1;
  const KubeConfig config = PlainConfig(hung.server.port());
  auto client = MustClient(config, options);
  auto got = client->Get("/hang");
  EXPECT_EQ(absl::StatusCode::kUnavailable, got.status().code()) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(config.server));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("request time-out of 300ms"));
}

TEST(KubeClientTimeoutTest, ACallBudgetCutsTheAttemptsShortWithDeadlineExceeded) {
  HungServer hung;
  KubeClientOptions options;  // 30 s per attempt, 4 attempts: two minutes without a budget
  const KubeConfig config = PlainConfig(hung.server.port());
  auto client = MustClient(config, options);
  auto got = client->Get("/hang", absl::Milliseconds(400));
  EXPECT_EQ(absl::StatusCode::kDeadlineExceeded, got.status().code()) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(config.server));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("time budget of 400ms"));
  EXPECT_EQ(1, hung.hits.load());  // no retry was started past the budget
}

TEST(KubeClientTimeoutTest, PatchAndApplyTakeABudgetToo) {
  HungServer hung;
  const KubeConfig config = PlainConfig(hung.server.port());
  auto client = MustClient(config, KubeClientOptions{});
  for (const absl::StatusOr<Json>& got :
       {client->Patch("/hang", Json{{"a", 1}}, "application/merge-patch+json",
                      absl::Milliseconds(300)),
        client->Apply("/hang", Json{{"a", 1}}, "chatcli-aiops", true, absl::Milliseconds(300))}) {
    EXPECT_EQ(absl::StatusCode::kDeadlineExceeded, got.status().code()) << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("time budget of 300ms"));
  }
  EXPECT_EQ(2, hung.hits.load());
}

TEST(KubeClientRateLimitTest, TheBurstPassesThenOneRequestPerToken) {
  Script script;
  script.answers = {{}};
  TestServer server;
  script.Route(server.http(), "/api/v1/pods");
  server.Start();
  FakeTime time;
  time.hits_at_sleep = [&] { return script.Hits(); };
  KubeClientOptions options = time.Options();
  options.qps = 2;
  options.burst = 3;
  auto client = MustClient(PlainConfig(server.port()), options);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client->Get("/api/v1/pods").ok());
  }
  EXPECT_EQ(6, script.Hits());
  // Three requests went out at once; each later one waited for a token (1/qps).
  EXPECT_THAT(time.hits_seen, ElementsAre(3, 4, 5));
  EXPECT_THAT(time.Sleeps(), ElementsAre(absl::Milliseconds(500), absl::Milliseconds(500),
                                         absl::Milliseconds(500)));
  // Tokens come back with time, up to the burst.
  time.clock.Advance(absl::Seconds(60));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->Get("/api/v1/pods").ok());
  }
  EXPECT_EQ(3U, time.Sleeps().size());
}

TEST(KubeClientRateLimitTest, ARequestThatWouldWaitPastItsBudgetIsNotSent) {
  Script script;
  script.answers = {{}};
  TestServer server;
  script.Route(server.http(), "/api/v1/pods");
  server.Start();
  FakeTime time;
  KubeClientOptions options = time.Options();
  options.qps = 1;
  options.burst = 1;
  auto client = MustClient(PlainConfig(server.port()), options);
  ASSERT_TRUE(client->Get("/api/v1/pods", absl::Milliseconds(100)).ok());
  auto second = client->Get("/api/v1/pods", absl::Milliseconds(100));
  EXPECT_EQ(absl::StatusCode::kDeadlineExceeded, second.status().code()) << second.status();
  EXPECT_EQ(1, script.Hits());
  EXPECT_TRUE(time.Sleeps().empty());
}

TEST(KubeClientErrorTest, ApiStatusesAreTypedWithActionableMessages) {
  TestServer server;
  struct Case {
    std::string path;
    int code;
    std::string reason;
    absl::StatusCode want;
    std::function<bool(const absl::Status&)> is;
    std::string hint;
  };
  const std::vector<Case> cases = {
      {"/nf", 404, "NotFound", absl::StatusCode::kNotFound, IsKubeNotFound, "HTTP 404"},
      {"/conflict", 409, "Conflict", absl::StatusCode::kAborted, IsKubeConflict,
       "re-read the object and retry"},
      {"/exists", 409, "AlreadyExists", absl::StatusCode::kAlreadyExists, IsKubeAlreadyExists,
       "HTTP 409"},
      {"/gone", 410, "Gone", absl::StatusCode::kFailedPrecondition, IsKubeGone, "relist"},
      {"/expired", 410, "Expired", absl::StatusCode::kFailedPrecondition, IsKubeGone, "relist"},
      {"/forbidden", 403, "Forbidden", absl::StatusCode::kPermissionDenied, IsKubeForbidden,
       "Role/ClusterRole"},
      {"/unauthorized", 401, "Unauthorized", absl::StatusCode::kUnauthenticated, IsKubeUnauthorized,
       "rejected the credentials of user 'tester'"},
  };
  for (const Case& c : cases) {
    server.http().Get(c.path, [c](const httplib::Request&, httplib::Response& res) {
      res.status = c.code;
      res.set_content(StatusBody(c.code, c.reason, "server says " + c.reason), "application/json");
    });
  }
  server.Start();
  FakeTime time;
  auto client = MustClient(PlainConfig(server.port()), time.Options());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    const absl::Status s = client->Get(c.path).status();
    EXPECT_EQ(c.want, s.code()) << s;
    EXPECT_TRUE(c.is(s)) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("server says " + c.reason));
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.hint));
    EXPECT_THAT(std::string(s.message()), HasSubstr("GET " + c.path));
    // Exactly one classification holds (AlreadyExists and Conflict are both 409s).
    const int matches = IsKubeNotFound(s) + IsKubeConflict(s) + IsKubeAlreadyExists(s) +
                        IsKubeGone(s) + IsKubeForbidden(s) + IsKubeUnauthorized(s);
    EXPECT_EQ(1, matches);
  }
  EXPECT_TRUE(time.Sleeps().empty());  // none of them is retried
}

TEST(KubeClientCredentialTest, TheKubeconfigTokenFileIsSentAndReReadWhenItChanges) {
  const std::string dir = testing::FreshTestDir("token-file");
  Script script;
  script.answers = {{}};
  TestServer server;
  script.Route(server.http(), "/version");
  server.Start();
  std::ofstream(dir + "/token") << "first-token\n";
  // tokenFile is relative to the kubeconfig's folder.
  std::ofstream(dir + "/config") << fmt::format(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c
  cluster: {{server: "http://127.0.0.1:{}"}}
contexts:
- name: dev
  context: {{cluster: c, user: u}}
users:
- name: u
  user: {{tokenFile: token}}
)",
                                                server.port());
  auto config = LoadKubeConfig({dir + "/config"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(dir + "/token", config->token_file);
  auto client = MustClient(*config, {});
  ASSERT_TRUE(client->Get("/version").ok());
  std::ofstream(dir + "/token") << "rotated-token\n";
  // A rotation shows as a newer modification time (set explicitly: the file system's clock
  // granularity may not tell two quick writes apart).
  fs::last_write_time(dir + "/token", fs::last_write_time(dir + "/token") + std::chrono::hours(1));
  ASSERT_TRUE(client->Get("/version").ok());
  {
    absl::MutexLock lock(&script.mu);
    EXPECT_THAT(script.authorizations, ElementsAre("Bearer first-token", "Bearer rotated-token"));
  }
  // A token file gone for a moment (a projected volume being swapped) keeps the last token, as
  // client-go does; a client that never read one says which file is missing.
  fs::remove(dir + "/token");
  ASSERT_TRUE(client->Get("/version").ok());
  {
    absl::MutexLock lock(&script.mu);
    EXPECT_EQ("Bearer rotated-token", script.authorizations.back());
  }
  auto never_read = MustClient(*config, {})->Get("/version");
  EXPECT_EQ(absl::StatusCode::kUnauthenticated, never_read.status().code()) << never_read.status();
  EXPECT_THAT(std::string(never_read.status().message()), HasSubstr(dir + "/token"));
  fs::remove_all(dir);
}

// A self-signed certificate for a name the client does not dial: verification must fail unless
// the kubeconfig says insecure-skip-tls-verify.
TEST(KubeClientCredentialTest, InsecureSkipTlsVerifyAcceptsAnUntrustedServer) {
  const std::string dir = testing::FreshTestDir("insecure");
  auto made = testing::RunProcess({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                   "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days",
                                   "1", "-subj", "/CN=elsewhere.invalid"});
  ASSERT_TRUE(made.ok()) << made.status();
  ASSERT_EQ(0, made->exit_code) << made->err;
  auto tls =
      std::make_unique<httplib::SSLServer>((dir + "/cert.pem").c_str(), (dir + "/key.pem").c_str());
  ASSERT_TRUE(tls->is_valid());
  TestServer server(std::move(tls));
  Script script;
  script.answers = {{}};
  script.Route(server.http(), "/version");
  server.Start();
  auto kubeconfig = [&](bool insecure) {
    return fmt::format(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:{}
    insecure-skip-tls-verify: {}
contexts:
- name: dev
  context: {{cluster: c, user: u}}
users:
- name: u
  user: {{token: t}}
)",
                       server.port(), insecure ? "true" : "false");
  };
  auto strict = ParseKubeConfig(kubeconfig(false), dir);
  ASSERT_TRUE(strict.ok()) << strict.status();
  EXPECT_FALSE(strict->insecure_skip_tls_verify);
  auto refused = MustClient(*strict, {})->Get("/version");
  EXPECT_EQ(absl::StatusCode::kUnavailable, refused.status().code()) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("not trusted"));
  EXPECT_EQ(0, script.Hits());

  auto insecure = ParseKubeConfig(kubeconfig(true), dir);
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_TRUE(insecure->insecure_skip_tls_verify);
  auto accepted = MustClient(*insecure, {})->Get("/version");
  EXPECT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(1, script.Hits());
  fs::remove_all(dir);
}

// A fake API server for one collection: the list answers resourceVersion 10; the first watch
// sends a BOOKMARK at 20 and ends cleanly, the second an ADDED at 21 and ends cleanly, later
// ones stay open until the informer stops. Each watch's resourceVersion is recorded.
struct FakeCollection {
  absl::Mutex mu;
  int lists = 0;
  std::vector<std::string> watch_rvs;
  std::atomic<bool> closing{false};

  std::vector<std::string> WatchRvs() {
    absl::MutexLock lock(&mu);
    return watch_rvs;
  }

  void Route(httplib::Server& server) {
    server.Get("/api/v1/namespaces/x/configmaps", [this](const httplib::Request& req,
                                                         httplib::Response& res) {
      if (!req.has_param("watch")) {
        absl::MutexLock lock(&mu);
        ++lists;
        res.set_content(
            R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"10"},"items":[
                           {"metadata":{"name":"a","namespace":"x","resourceVersion":"5"}}]})",
            "application/json");
        return;
      }
      size_t n = 0;
      {
        absl::MutexLock lock(&mu);
        watch_rvs.push_back(req.get_param_value("resourceVersion"));
        n = watch_rvs.size();
      }
      res.set_chunked_content_provider("application/json", [this, n](size_t,
                                                                     httplib::DataSink& sink) {
        std::string line;
        if (n == 1) {
          line = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"20"}}})";
        } else if (n == 2) {
          line =
              R"({"type":"ADDED","object":{"metadata":{"name":"b","namespace":"x","resourceVersion":"21"}}})";
        } else {
          while (!closing.load() && sink.is_writable()) {
            absl::SleepFor(absl::Milliseconds(20));
          }
        }
        if (!line.empty()) {
          line += "\n";
          sink.write(line.data(), line.size());
        }
        sink.done();
        return true;
      });
    });
  }
};

TEST(InformerUnitTest, ACleanWatchEndIsReWatchedFromTheBookmarkWithoutARelist) {
  FakeCollection api;
  TestServer server;
  api.Route(server.http());
  server.Start();
  auto client = MustClient(PlainConfig(server.port()), {});
  absl::Mutex seen_mu;
  std::vector<std::string> seen;
  Informer informer(*client, {"/api/v1/namespaces/x/configmaps"},
                    [&](const std::string& type, const Json& object) {
                      absl::MutexLock lock(&seen_mu);
                      seen.push_back(type + " " + object["metadata"]["name"].get<std::string>());
                    });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(10)));
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (api.WatchRvs().size() < 3 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  // The first watch starts from the list, the second from the bookmark, the third from the
  // last event; the cache was never relisted.
  EXPECT_THAT(api.WatchRvs(), ElementsAre("10", "20", "21"));
  const Informer::Stats stats = informer.stats();
  EXPECT_EQ(1, stats.lists);
  EXPECT_EQ(3, stats.watches);
  EXPECT_EQ(2, stats.clean_watch_ends);
  EXPECT_EQ(1, stats.bookmarks);
  EXPECT_EQ(0, stats.errors);
  EXPECT_EQ("21", informer.resource_version());
  EXPECT_TRUE(informer.Get("x/b").has_value());
  api.closing.store(true);
  informer.Stop();
  absl::MutexLock lock(&seen_mu);
  EXPECT_THAT(seen, ElementsAre("ADDED a", "ADDED b"));
  EXPECT_EQ(1, api.lists);
}

// --- Health: a failing API server is said once with its cause, then its recovery.

using testing::CapturedLog;

TEST(KubeClientHealthTest, AnUnansweredOr5xxServerIsOneWarningWithTheCauseThenItsRecovery) {
  Script script;
  script.answers = {{503, StatusBody(503, "ServiceUnavailable", "etcd is down")},
                    {503, StatusBody(503, "ServiceUnavailable", "etcd is down")},
                    {404, StatusBody(404, "NotFound", "no such thing")},
                    {200, R"({"kind":"ConfigMap"})"}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces/x/configmaps/y");
  server.Start();
  FakeTime time;
  KubeClientOptions options = time.Options();
  options.max_attempts = 1;
  options.edge_name = "apiserver (test)";
  CapturedLog log;
  auto client = MustClient(PlainConfig(server.port()), options);
  EXPECT_FALSE(client->health().failing());

  // 503 twice: one warning naming the edge and the server's message.
  EXPECT_FALSE(client->Get("/api/v1/namespaces/x/configmaps/y").ok());
  EXPECT_FALSE(client->Get("/api/v1/namespaces/x/configmaps/y").ok());
  EXPECT_TRUE(client->health().failing());
  // A 404 is an answer: the server is reachable again (the request's own error is the caller's).
  EXPECT_TRUE(IsKubeNotFound(client->Get("/api/v1/namespaces/x/configmaps/y").status()));
  EXPECT_FALSE(client->health().failing());
  EXPECT_TRUE(client->Get("/api/v1/namespaces/x/configmaps/y").ok());

  const std::vector<Json> lines = log.Lines();
  ASSERT_EQ(2u, lines.size());
  EXPECT_EQ("warn", lines[0]["level"]);
  EXPECT_EQ("kube", lines[0]["component"]);
  EXPECT_EQ("apiserver (test)", lines[0]["edge"]);
  EXPECT_THAT(lines[0]["cause"].get<std::string>(), HasSubstr("etcd is down"));
  EXPECT_THAT(lines[1]["msg"].get<std::string>(), HasSubstr("recovered"));
  EXPECT_EQ("2", lines[1]["failures"]);
  EXPECT_EQ(2u, client->health().snapshot().failures);
}

TEST(KubeClientHealthTest, AClosedPortIsAFailureNamingTheServer) {
  int port = 0;
  {
    TestServer closed;  // bound, then closed: nothing listens there any more
    closed.Start();
    port = closed.port();
  }
  FakeTime time;
  KubeClientOptions options = time.Options();
  options.max_attempts = 2;
  options.edge_name = "apiserver (closed)";
  CapturedLog log;
  auto client = MustClient(PlainConfig(port), options);
  EXPECT_FALSE(client->Get("/api/v1/namespaces").ok());
  const common::EdgeHealth::Snapshot health = client->health().snapshot();
  EXPECT_TRUE(health.failing);
  EXPECT_EQ(2u, health.failures);  // each attempt
  EXPECT_THAT(health.last_error, HasSubstr(fmt::format("127.0.0.1:{}", port)));
  ASSERT_EQ(1u, log.Lines().size());  // said once, not per attempt
}

TEST(InformerUnitTest, AForbiddenListIsAnErrorNamingTheMissingPermissionNotASilentRetry) {
  Script script;
  script.answers = {{403, StatusBody(403, "Forbidden",
                                     "configmaps is forbidden: User \"system:serviceaccount:"
                                     "aiops:aiops\" cannot list resource \"configmaps\"")}};
  TestServer server;
  script.Route(server.http(), "/api/v1/namespaces/x/configmaps");
  server.Start();
  CapturedLog log;
  auto client = MustClient(PlainConfig(server.port()), {});
  Informer::Options options{"/api/v1/namespaces/x/configmaps"};
  options.retry_backoff = absl::Milliseconds(10);
  Informer informer(*client, options, [](const std::string&, const Json&) {});
  informer.Start();
  EXPECT_FALSE(informer.WaitForSync(absl::Milliseconds(300)));
  informer.Stop();
  EXPECT_GE(script.Hits(), 2);  // it keeps trying: RBAC may be granted while it runs
  const common::EdgeHealth::Snapshot health = informer.health().snapshot();
  EXPECT_TRUE(health.failing);
  EXPECT_TRUE(health.permanent);
  EXPECT_EQ("watch /api/v1/namespaces/x/configmaps", health.name);
  std::vector<Json> errors;
  for (const Json& line : log.Lines()) {
    if (line["level"] == "error") {
      errors.push_back(line);
    }
  }
  ASSERT_EQ(1u, errors.size()) << "said once, at once, as an error";
  EXPECT_EQ("informer", errors[0]["component"]);
  EXPECT_THAT(errors[0]["msg"].get<std::string>(), HasSubstr("cannot list resource"));
  EXPECT_THAT(errors[0]["msg"].get<std::string>(), HasSubstr("Role/ClusterRole"));
}

}  // namespace
}  // namespace aiops::k8s_sync
