// Client of a ChatCLI server's AnalyzeIssue RPC (chatcli.v1.ChatCLIService, wire-compatible with
// upstream; proto/chatcli/v1/chatcli.proto). The request carries fields 1-12 as upstream's
// operator fills them (upstream reference §1.2): the issue, provider/model hints, the redacted
// Kubernetes context cut to 32,000 bytes on a UTF-8 boundary, and the failure context of every
// earlier attempt. The server's answer is untrusted like any model output: its actions are
// screened against the catalogue (prompt.h) and its text made valid UTF-8.
//
// Transport: TLS with a CA bundle (optionally a client certificate) or plaintext, the token as
// metadata `authorization: Bearer <token>`, round-robin load balancing over the resolved
// addresses (the headless Service of a multi-replica Instance), keepalive pings every 30 s with
// a 5 s time-out (also without calls in flight), a deadline per call, and reconnect back-off
// through gRPC channel arguments. Thread-safe: one channel, shared by concurrent calls.
//
// Finding the Instance and reading its TLS and token Secrets is done outside this library:
// k8s_sync::LookupInstanceEndpoint (src/k8s_sync/instance_config.h) reads them, and the daemon
// (src/server/daemon.cc: Daemon::MakeAnalyzer, whose InstanceAnalyzer resolves the Instance at
// the first analysis and again after a failure) passes the result through
// ChatCliOptionsFromInstance, which only turns it into options.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <absl/time/time.h>
#include <grpcpp/grpcpp.h>

#include "chatcli/v1/chatcli.grpc.pb.h"
#include "common/clock.h"
#include "server/analysis/analyzer.h"

namespace aiops::analysis {

struct ChatCliOptions {
  // A gRPC target: "dns:///chatcli.ops.svc.cluster.local:50051", "127.0.0.1:50051".
  std::string target;
  bool tls = true;
  std::string ca_pem;           // trusted roots for TLS; empty: gRPC's default roots
  std::string client_cert_pem;  // optional client certificate (mTLS) ...
  std::string client_key_pem;   // ... and its key
  // Overrides the name the server certificate is checked against (tests reaching 127.0.0.1
  // with a certificate for "localhost"); empty: the target's host.
  std::string tls_server_name;
  std::string token;  // sent as `authorization: Bearer <token>` when not empty
  // AnalyzeIssueRequest fields 9 and 10: the LLM the server should use ("" = its default).
  std::string provider;
  std::string model;
  absl::Duration deadline = absl::Seconds(120);  // per AnalyzeIssue call
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(5);
  absl::Duration initial_reconnect_backoff = absl::Seconds(1);
  absl::Duration max_reconnect_backoff = absl::Seconds(30);
  int32_t max_receive_message_bytes = 16 * 1024 * 1024;
  // As for the HTTP providers: <= 0 is unlimited. The server reports no usage, so tokens are
  // estimated as bytes / 4 of what is sent and received (as upstream's cost tracker does).
  int64_t token_budget_per_incident = 200'000;
};

// What the Kubernetes edge knows about a ChatCLI Instance (upstream §2.1: spec.server.port,
// spec.server.tls, spec.server.token) once it has read the referenced Secrets.
struct ChatCliInstance {
  std::string name;
  std::string namespace_name;
  int32_t port = 50051;
  bool tls_enabled = false;
  std::string ca_pem;    // ca.crt of the TLS Secret, when it has one
  std::string token;     // the token Secret's value
  std::string provider;  // Instance spec.provider / spec.model, passed as fields 9 and 10
  std::string model;
};

// target = dns:///<name>.<namespace>.svc.cluster.local:<port> (round-robin over a headless
// Service), TLS when the Instance enables it (with its CA), the token, provider and model.
ChatCliOptions ChatCliOptionsFromInstance(const ChatCliInstance& instance);

// The channel arguments the options imply (exposed for tests).
grpc::ChannelArguments ChatCliChannelArguments(const ChatCliOptions& options);

// The AnalyzeIssueRequest sent for `request` (exposed for tests).
chatcli::v1::AnalyzeIssueRequest BuildAnalyzeIssueRequest(const AnalysisRequest& request,
                                                          const ChatCliOptions& options);

class ChatCliAnalyzer final : public Analyzer {
 public:
  // Creates the channel (it connects lazily, on the first call). `clock` measures latency_ms and
  // must outlive the analyzer.
  ChatCliAnalyzer(ChatCliOptions options, const common::Clock& clock);

  // gRPC errors keep their code (they equal absl's), prefixed with "chatcli: " and a hint for
  // UNAUTHENTICATED (the token) and UNAVAILABLE (the target).
  absl::StatusOr<v1::AnalysisCompleted> Analyze(const AnalysisRequest& request) override;
  std::string_view Name() const override { return kChatCliProvider; }

 private:
  ChatCliOptions options_;
  const common::Clock& clock_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<chatcli::v1::ChatCLIService::Stub> stub_;
};

}  // namespace aiops::analysis
