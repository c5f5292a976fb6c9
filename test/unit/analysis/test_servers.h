// Test doubles for the analysis tests: an in-process HTTP(S) server standing in for the Anthropic
// and OpenAI APIs (scripted replies, recorded requests), a self-signed certificate made with
// OpenSSL's C API, a clock that advances on every reading, and a scripted Analyzer.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <httplib.h>

#include "common/clock.h"
#include "server/analysis/analyzer.h"

namespace aiops::analysis::testing {

// A self-signed certificate (CA:TRUE, SAN DNS:localhost and IP:127.0.0.1), PEM encoded.
struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};
TestCertificate MakeSelfSignedCertificate();

// An HTTP server on 127.0.0.1 and an ephemeral port, serving scripted replies to every POST in
// order (a 500 when the script has run out) and recording each request. Replies with a delay
// wait until the delay passes or the server is destroyed, whichever comes first.
class FakeHttpServer {
 public:
  struct Reply {
    // Implicit on purpose: tests write Enqueue({200, body}).
    // NOLINTNEXTLINE(google-explicit-constructor)
    Reply(int status_code = 200, std::string reply_body = "",
          std::vector<std::pair<std::string, std::string>> reply_headers = {},
          absl::Duration reply_delay = absl::ZeroDuration())
        : status(status_code),
          body(std::move(reply_body)),
          headers(std::move(reply_headers)),
          delay(reply_delay) {}
    int status;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    absl::Duration delay;
  };
  struct Request {
    std::string path;
    httplib::Headers headers;
    std::string body;
  };

  // TLS with `certificate` when given, plain HTTP otherwise.
  explicit FakeHttpServer(const TestCertificate* certificate = nullptr);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;
  FakeHttpServer(FakeHttpServer&&) = delete;
  FakeHttpServer& operator=(FakeHttpServer&&) = delete;

  void Enqueue(Reply reply);
  std::vector<Request> Requests() const;
  // "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>".
  std::string BaseUrl() const { return base_url_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string base_url_;
  mutable absl::Mutex mu_;
  std::deque<Reply> replies_ ABSL_GUARDED_BY(mu_);
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
};

// Advances by `step` at every Now(), so a call's measured latency is a known multiple of it.
class TickingClock final : public common::Clock {
 public:
  explicit TickingClock(absl::Duration step) : step_(step) {}
  absl::Time Now() const override;

 private:
  mutable absl::Mutex mu_;
  absl::Duration step_;
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'700'000'000);
};

// Answers with a fixed result or error and counts its calls.
class ScriptedAnalyzer final : public Analyzer {
 public:
  ScriptedAnalyzer(std::string name, absl::StatusOr<v1::AnalysisCompleted> answer)
      : name_(std::move(name)), answer_(std::move(answer)) {}
  absl::StatusOr<v1::AnalysisCompleted> Analyze(const AnalysisRequest& request) override;
  std::string_view Name() const override { return name_; }
  int Calls() const;

 private:
  std::string name_;
  absl::StatusOr<v1::AnalysisCompleted> answer_;
  mutable absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// Kubernetes context in the shape of upstream ChatCLI's context builder.
struct ContextSpec {
  int desired = 3;
  int ready = 1;
  std::string container = "app";
  std::string memory_limit = "256Mi";  // "" for no limits
  std::string waiting_reason;          // CrashLoopBackOff, ImagePullBackOff, ...
  std::string last_termination;        // OOMKilled, Error, ...
  bool new_revision = false;           // revision 5 (v2) replaced revision 4 (v1)
  bool newest_unready = true;          // revision 5 has fewer ready pods than desired
};
std::string MakeContext(const ContextSpec& spec);

// A valid answer under the contract, with one RestartDeployment action.
std::string ValidAnswerJson();

}  // namespace aiops::analysis::testing
