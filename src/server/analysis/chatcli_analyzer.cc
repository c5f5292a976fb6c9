#include "server/analysis/chatcli_analyzer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "server/analysis/prompt.h"
#include "server/analysis/text.h"

namespace aiops::analysis {
namespace {

int ClampedMs(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, INT32_MAX));
}

// gRPC and absl share the canonical codes (numerically identical).
absl::Status FromGrpc(const grpc::Status& status, std::string_view target) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string hint;
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    hint = "; the server rejected the token (check the Instance's token Secret)";
  } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hint = fmt::format("; is the ChatCLI server at {} running and reachable?", target);
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    hint = "; the per-call deadline passed";
  }
  return absl::Status(code, fmt::format("chatcli: AnalyzeIssue failed: {}{}",
                                        SanitizeUtf8(status.error_message()), hint));
}

}  // namespace

ChatCliOptions ChatCliOptionsFromInstance(const ChatCliInstance& instance) {
  ChatCliOptions options;
  options.target = fmt::format("dns:///{}.{}.svc.cluster.local:{}", instance.name,
                               instance.namespace_name, instance.port > 0 ? instance.port : 50051);
  // Upstream dials TLS even when the Instance disables it, and then cannot reach a plaintext
  // server (upstream reference §8, item 20); here the Instance decides.
  options.tls = instance.tls_enabled;
  options.ca_pem = instance.ca_pem;
  options.token = instance.token;
  options.provider = instance.provider;
  options.model = instance.model;
  return options;
}

grpc::ChannelArguments ChatCliChannelArguments(const ChatCliOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ClampedMs(options.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ClampedMs(options.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging an idle connection
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ClampedMs(options.initial_reconnect_backoff));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, ClampedMs(options.initial_reconnect_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ClampedMs(options.max_reconnect_backoff));
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  args.SetServiceConfigJSON(R"({"loadBalancingConfig":[{"round_robin":{}}]})");
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return args;
}

chatcli::v1::AnalyzeIssueRequest BuildAnalyzeIssueRequest(const AnalysisRequest& request,
                                                          const ChatCliOptions& options) {
  const v1::IssueState& issue = request.issue;
  const OutgoingText text = PrepareOutgoing(request);
  chatcli::v1::AnalyzeIssueRequest out;
  out.set_issue_name(SanitizeUtf8(issue.name()));
  out.set_namespace_(SanitizeUtf8(issue.resource().namespace_()));
  out.set_resource_kind(SanitizeUtf8(issue.resource().kind()));
  out.set_resource_name(SanitizeUtf8(issue.resource().name()));
  out.set_signal_type(SanitizeUtf8(issue.signal_type()));
  out.set_severity(SanitizeUtf8(issue.severity()));
  out.set_description(text.description);
  out.set_risk_score(issue.risk_score());
  out.set_provider(options.provider);
  out.set_model(options.model);
  out.set_kubernetes_context(text.context);  // <= kMaxContextBytes, cut on a UTF-8 boundary
  out.set_previous_failure_context(text.failure_context);
  return out;
}

ChatCliAnalyzer::ChatCliAnalyzer(ChatCliOptions options, const common::Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.ca_pem;
    ssl.pem_cert_chain = options_.client_cert_pem;
    ssl.pem_private_key = options_.client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  channel_ =
      grpc::CreateCustomChannel(options_.target, credentials, ChatCliChannelArguments(options_));
  stub_ = chatcli::v1::ChatCLIService::NewStub(channel_);
}

absl::StatusOr<v1::AnalysisCompleted> ChatCliAnalyzer::Analyze(const AnalysisRequest& request) {
  const absl::Time start = clock_.Now();
  const chatcli::v1::AnalyzeIssueRequest call = BuildAnalyzeIssueRequest(request, options_);
  const int64_t input_tokens = EstimateTokens(call.description()) +
                               EstimateTokens(call.kubernetes_context()) +
                               EstimateTokens(call.previous_failure_context());
  if (options_.token_budget_per_incident > 0 &&
      request.tokens_spent + input_tokens > options_.token_budget_per_incident) {
    return absl::ResourceExhaustedError(fmt::format(
        "chatcli: the token budget of this incident is spent ({} of {} tokens used; the request "
        "needs about {} more)",
        request.tokens_spent, options_.token_budget_per_incident, input_tokens));
  }

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.deadline));
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", fmt::format("Bearer {}", options_.token));
  }
  chatcli::v1::AnalyzeIssueResponse response;
  const grpc::Status status = stub_->AnalyzeIssue(&context, call, &response);
  if (!status.ok()) {
    return FromGrpc(status, options_.target);
  }

  v1::AnalysisCompleted result;
  result.set_issue_name(request.issue.name());
  result.set_attempt(request.attempt);
  result.set_analysis(response.analysis());
  const float confidence = response.confidence();
  result.set_confidence(std::isnan(confidence) ? 0.0F : std::clamp(confidence, 0.0F, 1.0F));
  for (const std::string& r : response.recommendations()) {
    result.add_recommendations(r);  // SanitizeResult bounds their number and size
  }
  int64_t output_bytes = static_cast<int64_t>(response.analysis().size());
  for (const chatcli::v1::SuggestedAction& suggested : response.suggested_actions()) {
    v1::ActionSpec action;
    action.set_name(suggested.name().empty() ? suggested.action() : suggested.name());
    action.set_type(suggested.action());
    action.set_description(suggested.description());
    // A protobuf map iterates in no defined order; AddScreenedAction sorts by key.
    for (const auto& [key, value] : suggested.params()) {
      v1::Param* p = action.add_params();
      p->set_key(key);
      p->set_value(value);
    }
    output_bytes += static_cast<int64_t>(suggested.ByteSizeLong());
    AddScreenedAction(std::move(action), result);
  }
  result.set_provider(kChatCliProvider);
  // The LLM behind the server, as it reports it: "<provider>/<model>".
  result.set_model(response.provider().empty()
                       ? response.model()
                       : fmt::format("{}/{}", response.provider(), response.model()));
  result.set_input_tokens(input_tokens);
  result.set_output_tokens((output_bytes + 3) / 4);
  result.set_latency_ms(absl::ToInt64Milliseconds(clock_.Now() - start));
  // The server's answer has no size cap of its own (up to the 16 MiB receive limit): this cuts
  // every field to its bound with a marker (text.h), as for the LLM providers' answers.
  SanitizeResult(result);
  return result;
}

}  // namespace aiops::analysis
