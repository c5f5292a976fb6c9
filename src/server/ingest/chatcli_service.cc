#include "server/ingest/chatcli_service.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

#include <absl/strings/ascii.h>
#include <fmt/format.h>
#include <openssl/crypto.h>

#include "common/fmt_absl.h"
#include "common/version.h"

namespace aiops::ingest {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::vector<std::string_view> Split(std::string_view s, std::string_view separator) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = s.find(separator);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) {
      return out;
    }
    s.remove_prefix(at + separator.size());
  }
}

// "{k=v, k2=v2}" (ours) or "map[k:v k2:v2]" (Go's %v of a map, upstream's).
void ParseParams(std::string_view text, v1::ActionSpec& action) {
  text = Trim(text);
  std::vector<std::string_view> pairs;
  char separator = '=';
  if (StartsWith(text, "{") && text.size() >= 2 && text.back() == '}') {
    pairs = Split(text.substr(1, text.size() - 2), ", ");
  } else if (StartsWith(text, "map[") && text.back() == ']') {
    pairs = Split(text.substr(4, text.size() - 5), " ");
    separator = ':';
  } else {
    return;
  }
  std::vector<std::pair<std::string, std::string>> params;
  for (const std::string_view pair : pairs) {
    const size_t at = pair.find(separator);
    if (at == std::string_view::npos || at == 0) {
      continue;
    }
    params.emplace_back(std::string(pair.substr(0, at)), std::string(pair.substr(at + 1)));
  }
  std::sort(params.begin(), params.end());
  for (auto& [key, value] : params) {
    v1::Param* p = action.add_params();
    p->set_key(std::move(key));
    p->set_value(std::move(value));
  }
}

void AppendLine(std::string& text, std::string_view line) {
  if (!text.empty()) {
    text += '\n';
  }
  text.append(line.data(), line.size());
}

}  // namespace

ChatCliServiceImpl::ChatCliServiceImpl(const AlertBuffer& alerts, analysis::Analyzer& analyzer,
                                       ChatCliServiceOptions options)
    : alerts_(alerts), analyzer_(analyzer), options_(std::move(options)) {}

grpc::Status ChatCliServiceImpl::Authenticate(const grpc::ServerContext& context) const {
  if (options_.token.empty()) {
    return grpc::Status::OK;
  }
  const std::string expected = "Bearer " + options_.token;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return {grpc::StatusCode::UNAUTHENTICATED, "missing metadata authorization: Bearer <token>"};
  }
  const grpc::string_ref& got = it->second;
  if (got.size() != expected.size() ||
      CRYPTO_memcmp(got.data(), expected.data(), expected.size()) != 0) {
    return {grpc::StatusCode::UNAUTHENTICATED, "invalid token"};
  }
  return grpc::Status::OK;
}

grpc::Status ChatCliServiceImpl::GetAlerts(grpc::ServerContext* context,
                                           const chatcli::v1::GetAlertsRequest* request,
                                           chatcli::v1::GetAlertsResponse* response) {
  if (grpc::Status auth = Authenticate(*context); !auth.ok()) {
    return auth;
  }
  for (const v1::AlertObserved& alert :
       alerts_.Recent(request->namespace_(), request->deployment())) {
    *response->add_alerts() = ToWatcherAlert(alert);
  }
  return grpc::Status::OK;
}

grpc::Status ChatCliServiceImpl::AnalyzeIssue(grpc::ServerContext* context,
                                              const chatcli::v1::AnalyzeIssueRequest* request,
                                              chatcli::v1::AnalyzeIssueResponse* response) {
  if (grpc::Status auth = Authenticate(*context); !auth.ok()) {
    return auth;
  }
  auto too_long = [](std::string_view field, size_t size, size_t limit) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        fmt::format("{} has {} bytes, more than the limit of {}", field, size, limit));
  };
  if (request->issue_name().empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "issue_name is required"};
  }
  if (request->issue_name().size() > kMaxIssueNameBytes) {
    return too_long("issue_name", request->issue_name().size(), kMaxIssueNameBytes);
  }
  if (request->description().size() > kMaxDescriptionBytes) {
    return too_long("description", request->description().size(), kMaxDescriptionBytes);
  }
  if (request->kubernetes_context().size() > kMaxKubernetesContextBytes) {
    return too_long("kubernetes_context", request->kubernetes_context().size(),
                    kMaxKubernetesContextBytes);
  }
  if (request->previous_failure_context().size() > kMaxFailureContextBytes) {
    return too_long("previous_failure_context", request->previous_failure_context().size(),
                    kMaxFailureContextBytes);
  }
  absl::StatusOr<v1::AnalysisCompleted> result = analyzer_.Analyze(ToAnalysisRequest(*request));
  if (!result.ok()) {
    return AnalyzerErrorToGrpc(result.status(), analyzer_.Name());
  }
  *response = ToAnalyzeIssueResponse(*result);
  return grpc::Status::OK;
}

grpc::Status ChatCliServiceImpl::Health(grpc::ServerContext* /*context*/,
                                        const chatcli::v1::HealthRequest* /*request*/,
                                        chatcli::v1::HealthResponse* response) {
  const bool serving = !options_.serving || options_.serving();
  response->set_status(serving ? chatcli::v1::HealthResponse::SERVING
                               : chatcli::v1::HealthResponse::NOT_SERVING);
  response->set_version(std::string(common::Version()));
  return grpc::Status::OK;
}

void ConfigureChatCliKeepalive(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
}

chatcli::v1::WatcherAlert ToWatcherAlert(const v1::AlertObserved& alert) {
  chatcli::v1::WatcherAlert out;
  out.set_type(alert.type());
  out.set_severity(absl::AsciiStrToUpper(alert.severity()));
  out.set_message(alert.message());
  out.set_object(alert.object());
  out.set_namespace_(alert.namespace_());
  out.set_deployment(alert.deployment());
  out.set_timestamp_unix(alert.timestamp_unix());
  return out;
}

analysis::AnalysisRequest ToAnalysisRequest(const chatcli::v1::AnalyzeIssueRequest& request) {
  analysis::AnalysisRequest out;
  v1::IssueState& issue = out.issue;
  issue.set_name(request.issue_name());
  issue.mutable_resource()->set_kind(request.resource_kind().empty() ? "Deployment"
                                                                     : request.resource_kind());
  issue.mutable_resource()->set_namespace_(request.namespace_());
  issue.mutable_resource()->set_name(request.resource_name());
  issue.set_signal_type(request.signal_type());
  issue.set_severity(request.severity());
  issue.set_risk_score(request.risk_score());
  issue.set_description(request.description());
  issue.set_source("chatcli");
  out.context = request.kubernetes_context();
  out.previous_failures = ParseFailureContext(request.previous_failure_context());
  out.attempt = out.previous_failures.size() + 1;
  issue.set_attempt(out.attempt);
  return out;
}

chatcli::v1::AnalyzeIssueResponse ToAnalyzeIssueResponse(const v1::AnalysisCompleted& result) {
  chatcli::v1::AnalyzeIssueResponse out;
  out.set_analysis(result.analysis());
  out.set_confidence(result.confidence());
  for (const std::string& r : result.recommendations()) {
    out.add_recommendations(r);
  }
  out.set_model(result.model());
  out.set_provider(result.provider());
  for (const v1::ActionSpec& action : result.suggested_actions()) {
    chatcli::v1::SuggestedAction* s = out.add_suggested_actions();
    s->set_name(action.name());
    s->set_action(action.type());
    s->set_description(action.description());
    for (const v1::Param& p : action.params()) {
      (*s->mutable_params())[p.key()] = p.value();
    }
  }
  return out;
}

google::protobuf::RepeatedPtrField<v1::AttemptFailure> ParseFailureContext(std::string_view text) {
  google::protobuf::RepeatedPtrField<v1::AttemptFailure> out;
  if (Trim(text).empty()) {
    return out;
  }
  v1::AttemptFailure* current = nullptr;
  for (std::string_view line : Split(text, "\n")) {
    line = Trim(line);
    if (line.empty()) {
      continue;
    }
    if (StartsWith(line, "Attempt ")) {
      std::string_view rest = line.substr(8);
      size_t digits = 0;
      while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9' && digits < 9) {
        ++digits;
      }
      if (digits > 0) {
        current = out.Add();
        int32_t attempt = 0;
        const auto parsed = std::from_chars(rest.data(), rest.data() + digits, attempt);
        current->set_attempt(parsed.ec == std::errc() ? attempt : 0);  // <= 9 digits: fits
        rest.remove_prefix(digits);
        if (const size_t plan = rest.find("(plan "); plan != std::string_view::npos) {
          const size_t end = rest.find(')', plan);
          current->set_plan_name(std::string(rest.substr(
              plan + 6, end == std::string_view::npos ? std::string_view::npos : end - plan - 6)));
        } else if (const size_t state = rest.find("(state="); state != std::string_view::npos) {
          const size_t end = rest.find(')', state);
          current->set_failure(std::string(rest.substr(state + 1, end == std::string_view::npos
                                                                      ? std::string_view::npos
                                                                      : end - state - 1)));
        }
        continue;
      }
    }
    if (current == nullptr) {
      // Text before any "Attempt N" header: kept as an attempt of its own.
      current = out.Add();
      current->set_attempt(1);
    }
    if (StartsWith(line, "Strategy:")) {
      current->set_strategy(std::string(Trim(line.substr(9))));
    } else if (StartsWith(line, "Result:")) {
      std::string failure(Trim(line.substr(7)));
      if (!current->failure().empty()) {
        failure = fmt::format("{} ({})", failure, current->failure());
      }
      current->set_failure(std::move(failure));
    } else if (StartsWith(line, "Action:")) {
      std::string_view rest = Trim(line.substr(7));
      const size_t space = rest.find(' ');
      v1::ActionSpec* action = current->add_actions();
      action->set_type(std::string(rest.substr(0, space)));
      if (space != std::string_view::npos) {
        std::string_view params = Trim(rest.substr(space + 1));
        if (StartsWith(params, "params=")) {
          ParseParams(params.substr(7), *action);
        }
      }
    } else {
      std::string failure = current->failure();
      AppendLine(failure, line);
      current->set_failure(std::move(failure));
    }
  }
  return out;
}

grpc::Status AnalyzerErrorToGrpc(const absl::Status& error, std::string_view analyzer_name) {
  grpc::StatusCode code = static_cast<grpc::StatusCode>(error.code());
  switch (error.code()) {
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INTERNAL;
      break;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case absl::StatusCode::kOk:
      code = grpc::StatusCode::INTERNAL;  // an analyzer must not fail with OK
      break;
    default:
      break;
  }
  return {code,
          fmt::format("analysis by the {} analyzer failed: {}", analyzer_name, error.message())};
}

}  // namespace aiops::ingest
