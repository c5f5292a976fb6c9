// The ChatCLI-compatible server (DESIGN.md §1, §9): chatcli.v1.ChatCLIService as existing
// ChatCLI clients (the upstream operator's WatcherBridge and AIInsight controller) call it.
//  - GetAlerts: the recent alerts of an AlertBuffer (our detectors' alerts), filtered by
//    namespace and deployment, severity upper-cased as upstream servers send it;
//  - AnalyzeIssue: one analysis through an injected Analyzer (the daemon's configured chain);
//  - Health: SERVING (or NOT_SERVING when the optional `serving` probe says so) and the build
//    version.
// Other upstream RPCs stay UNIMPLEMENTED (the proto declares only these three). Part of the
// server layer; depends on analysis, proto and common.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include "aiops/v1/events.pb.h"
#include "chatcli/v1/chatcli.grpc.pb.h"
#include "server/analysis/analyzer.h"
#include "server/ingest/alert_buffer.h"

namespace aiops::ingest {

// Limits of upstream's server/validation.go, applied to AnalyzeIssue (INVALID_ARGUMENT beyond).
inline constexpr size_t kMaxIssueNameBytes = 1024;
inline constexpr size_t kMaxDescriptionBytes = 50 * 1024;
inline constexpr size_t kMaxKubernetesContextBytes = 1024 * 1024;
inline constexpr size_t kMaxFailureContextBytes = 1024 * 1024;

struct ChatCliServiceOptions {
  // When not empty, GetAlerts and AnalyzeIssue require metadata `authorization: Bearer <token>`
  // (UNAUTHENTICATED otherwise); Health stays open for probes. Leave empty when the gRPC
  // server already authenticates every call.
  std::string token;
  // Optional readiness for Health (e.g. "the log is open and we lead"); absent: always SERVING.
  std::function<bool()> serving;
};

class ChatCliServiceImpl final : public chatcli::v1::ChatCLIService::Service {
 public:
  // `alerts` and `analyzer` must outlive the service (and the gRPC server it is registered on).
  ChatCliServiceImpl(const AlertBuffer& alerts, analysis::Analyzer& analyzer,
                     ChatCliServiceOptions options = {});

  grpc::Status GetAlerts(grpc::ServerContext* context, const chatcli::v1::GetAlertsRequest* request,
                         chatcli::v1::GetAlertsResponse* response) override;
  // INVALID_ARGUMENT for an empty or oversized issue_name, or an oversized description, context
  // or failure context; the analyzer's errors as AnalyzerErrorToGrpc maps them.
  grpc::Status AnalyzeIssue(grpc::ServerContext* context,
                            const chatcli::v1::AnalyzeIssueRequest* request,
                            chatcli::v1::AnalyzeIssueResponse* response) override;
  grpc::Status Health(grpc::ServerContext* context, const chatcli::v1::HealthRequest* request,
                      chatcli::v1::HealthResponse* response) override;

 private:
  grpc::Status Authenticate(const grpc::ServerContext& context) const;

  const AlertBuffer& alerts_;
  analysis::Analyzer& analyzer_;
  const ChatCliServiceOptions options_;
};

// The server arguments of the ChatCLI keepalive contract (DESIGN.md §5, upstream §1.1): accept
// client pings at least 20 s apart, also without calls in flight (clients ping every 30 s), and
// ping idle clients every 60 s with a 10 s time-out. The daemon calls it on the builder that
// serves this service.
void ConfigureChatCliKeepalive(grpc::ServerBuilder& builder);

// --- Mappings (exposed for tests) ------------------------------------------------------------

// A WatcherAlert as upstream servers send it: fields 1-7 copied, severity upper case
// (INFO | WARNING | CRITICAL).
chatcli::v1::WatcherAlert ToWatcherAlert(const v1::AlertObserved& alert);

// The analyzer's request: the issue (name, resource kind/namespace/name, signal, severity, risk,
// description), kubernetes_context as the context, and previous_failure_context parsed into
// the earlier attempts (ParseFailureContext); attempt = earlier attempts + 1. An empty
// resource_kind is "Deployment" (what upstream infers for workload alerts).
analysis::AnalysisRequest ToAnalysisRequest(const chatcli::v1::AnalyzeIssueRequest& request);

// analysis, confidence, recommendations, provider and model of the analyzer, and the suggested
// actions (type as `action`, params as the map).
chatcli::v1::AnalyzeIssueResponse ToAnalyzeIssueResponse(const v1::AnalysisCompleted& result);

// The failure context text of upstream's operator ("Attempt N (state=S):", "Strategy:",
// "Result:", "Action: <type> params=map[k:v ...]", "Evidence: ...") or of ours
// ("Attempt N (plan P) FAILED.", "Action: <type> params={k=v, ...}") as attempts with their
// action types and params, so that analyzers can avoid repeating a failed strategy. Text in no
// known shape becomes one attempt whose failure is the text. Empty text: no attempts.
google::protobuf::RepeatedPtrField<v1::AttemptFailure> ParseFailureContext(std::string_view text);

// An analyzer error as the gRPC status a ChatCLI client should see: DEADLINE_EXCEEDED,
// UNAVAILABLE, RESOURCE_EXHAUSTED and CANCELLED keep their code; an unusable model answer
// (INVALID_ARGUMENT) is INTERNAL, and the server's own credential or configuration problems
// (UNAUTHENTICATED, PERMISSION_DENIED, FAILED_PRECONDITION) are FAILED_PRECONDITION, so the
// caller does not blame its request or its token; any other code is kept.
grpc::Status AnalyzerErrorToGrpc(const absl::Status& error, std::string_view analyzer_name);

}  // namespace aiops::ingest
