#include "server/analysis/http_llm_analyzer.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/fmt_absl.h"
#include "common/status_macros.h"
#include "server/analysis/text.h"

namespace aiops::analysis {
namespace {

using nlohmann::json;

constexpr size_t kMaxErrorDetailBytes = 300;

struct BaseUrl {
  std::string scheme_host_port;  // "https://api.anthropic.com"
  std::string path_prefix;       // "" or "/openai"
};

BaseUrl SplitBaseUrl(std::string_view url) {
  BaseUrl out;
  std::string with_scheme =
      url.find("://") == std::string_view::npos ? fmt::format("https://{}", url) : std::string(url);
  const size_t host_start = with_scheme.find("://") + 3;
  const size_t slash = with_scheme.find('/', host_start);
  if (slash == std::string::npos) {
    out.scheme_host_port = with_scheme;
  } else {
    out.scheme_host_port = with_scheme.substr(0, slash);
    out.path_prefix = with_scheme.substr(slash);
    while (!out.path_prefix.empty() && out.path_prefix.back() == '/') {
      out.path_prefix.pop_back();
    }
  }
  return out;
}

// httplib takes (seconds, microseconds).
std::pair<time_t, time_t> SecUsec(absl::Duration d) {
  const int64_t usec = std::max<int64_t>(absl::ToInt64Microseconds(d), 0);
  return {static_cast<time_t>(usec / 1'000'000), static_cast<time_t>(usec % 1'000'000)};
}

// The provider's own error message, when its error body says one (both APIs use
// {"error": {"message": ...}}; some compatible servers use {"error": "..."}).
std::string ErrorDetail(const std::string& body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string detail;
  if (!doc.is_discarded() && doc.is_object()) {
    const auto error = doc.find("error");
    if (error != doc.end() && error->is_string()) {
      detail = error->get<std::string>();
    } else if (error != doc.end() && error->is_object()) {
      const auto message = error->find("message");
      const auto type = error->find("type");
      if (message != error->end() && message->is_string()) {
        detail = message->get<std::string>();
      }
      if (type != error->end() && type->is_string()) {
        detail = fmt::format("{}: {}", type->get<std::string>(), detail);
      }
    }
  }
  if (detail.empty()) {
    detail = body;
  }
  return TruncateUtf8(SanitizeUtf8(detail), kMaxErrorDetailBytes, "...");
}

// Retry-After in seconds; HTTP dates are not honoured (the back-off applies).
std::optional<absl::Duration> RetryAfter(const httplib::Response& response) {
  if (!response.has_header("Retry-After")) {
    return std::nullopt;
  }
  const std::string value = response.get_header_value("Retry-After");
  int64_t seconds = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || ptr != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

absl::Status HttpStatusError(std::string_view provider, int status, const std::string& body) {
  const std::string detail = ErrorDetail(body);
  switch (status) {
    case 401:
      return absl::UnauthenticatedError(
          fmt::format("{}: HTTP 401 ({}): the API key was rejected; check the configured key",
                      provider, detail));
    case 403:
      return absl::PermissionDeniedError(fmt::format(
          "{}: HTTP 403 ({}): the API key may not use this model or endpoint", provider, detail));
    case 400:
    case 413:
    case 422:
      return absl::InvalidArgumentError(fmt::format(
          "{}: HTTP {} ({}): the provider rejected the request", provider, status, detail));
    case 404:
      return absl::NotFoundError(fmt::format(
          "{}: HTTP 404 ({}): check the base URL and the model name", provider, detail));
    default:
      return absl::FailedPreconditionError(
          fmt::format("{}: HTTP {} ({})", provider, status, detail));
  }
}

}  // namespace

HttpLlmAnalyzer::HttpLlmAnalyzer(std::string provider, HttpLlmOptions options,
                                 std::string_view default_base, std::string_view default_model,
                                 std::string_view default_key_env, const common::Clock& clock)
    : provider_(std::move(provider)), options_(std::move(options)), clock_(clock) {
  if (options_.base_url.empty()) {
    options_.base_url = std::string(default_base);
  }
  if (options_.model.empty()) {
    options_.model = std::string(default_model);
  }
  if (options_.api_key_env.empty()) {
    options_.api_key_env = std::string(default_key_env);
  }
  if (options_.api_key.empty()) {
    // Read once, at construction (before the effector's threads start); never in Analyze().
    const char* key = std::getenv(options_.api_key_env.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (key != nullptr) {
      options_.api_key = key;
    }
  }
  options_.max_attempts = std::max(options_.max_attempts, 1);
}

absl::StatusOr<std::string> HttpLlmAnalyzer::Post(const Call& call, absl::Time start) const {
  const BaseUrl base = SplitBaseUrl(options_.base_url);
  httplib::Client client(base.scheme_host_port);
  if (!client.is_valid()) {
    return absl::FailedPreconditionError(
        fmt::format("{}: invalid base URL '{}'", provider_, options_.base_url));
  }
  client.set_keep_alive(false);
  client.set_follow_location(false);
  client.enable_server_certificate_verification(true);
  if (!options_.ca_cert_path.empty()) {
    client.set_ca_cert_path(options_.ca_cert_path);
  }
  httplib::Headers headers;
  for (const auto& [key, value] : call.headers) {
    headers.emplace(key, value);
  }
  const std::string path = base.path_prefix + call.path;

  absl::Duration backoff = options_.initial_backoff;
  absl::Status last;
  // The time left of the deadline. Measured before each wait; the wait itself is counted as
  // planned (a sleep that overruns is not read back, so no clock read follows it).
  absl::Duration left = options_.deadline;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    const absl::Duration read_timeout = std::min(options_.read_timeout, left);
    const auto [connect_s, connect_us] = SecUsec(std::min(options_.connect_timeout, left));
    const auto [read_s, read_us] = SecUsec(read_timeout);
    const auto [write_s, write_us] = SecUsec(std::min(options_.write_timeout, left));
    client.set_connection_timeout(connect_s, connect_us);
    client.set_read_timeout(read_s, read_us);
    client.set_write_timeout(write_s, write_us);
    httplib::Result result = client.Post(path, headers, call.body, "application/json");
    std::optional<absl::Duration> retry_after;
    if (!result) {
      const httplib::Error error = result.error();
      const std::string what = httplib::to_string(error);
      switch (error) {
        case httplib::Error::Connection:
        case httplib::Error::ConnectionTimeout:
        case httplib::Error::SSLConnection:
        case httplib::Error::Write:
          last = absl::UnavailableError(
              fmt::format("{}: cannot reach {}: {}", provider_, base.scheme_host_port, what));
          break;
        case httplib::Error::Read:
          // A time-out or a connection lost while waiting: the request may have been processed
          // (and billed), and the time budget is used up, so it is not retried.
          return absl::DeadlineExceededError(
              fmt::format("{}: no answer from {} within the {} read time-out{} ({})", provider_,
                          base.scheme_host_port, absl::FormatDuration(read_timeout),
                          read_timeout < options_.read_timeout
                              ? fmt::format(" (the rest of the {} deadline of the call)",
                                            absl::FormatDuration(options_.deadline))
                              : "",
                          what));
        case httplib::Error::SSLServerVerification:
        case httplib::Error::SSLLoadingCerts:
          return absl::FailedPreconditionError(
              fmt::format("{}: TLS verification of {} failed ({}); check ca_cert_path", provider_,
                          base.scheme_host_port, what));
        default:
          return absl::UnknownError(
              fmt::format("{}: request to {} failed: {}", provider_, base.scheme_host_port, what));
      }
    } else if (result->status >= 200 && result->status < 300) {
      return std::move(result->body);
    } else if (result->status == 429 || result->status >= 500) {
      retry_after = RetryAfter(*result);
      const std::string detail = ErrorDetail(result->body);
      last = result->status == 429 ? absl::ResourceExhaustedError(fmt::format(
                                         "{}: HTTP 429 (rate limited: {})", provider_, detail))
                                   : absl::UnavailableError(fmt::format(
                                         "{}: HTTP {} ({})", provider_, result->status, detail));
    } else {
      return HttpStatusError(provider_, result->status, result->body);
    }
    if (attempt == options_.max_attempts) {
      break;
    }
    if (retry_after && *retry_after > options_.max_retry_after) {
      return absl::Status(last.code(),
                          fmt::format("{}; Retry-After {} exceeds the {} limit", last.message(),
                                      absl::FormatDuration(*retry_after),
                                      absl::FormatDuration(options_.max_retry_after)));
    }
    const absl::Duration wait = retry_after ? *retry_after : backoff;
    left = options_.deadline - (clock_.Now() - start) - wait;
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          fmt::format("{} (after {} of {} tries: waiting {} for the next would pass the {} "
                      "deadline of the call)",
                      last.message(), attempt, options_.max_attempts, absl::FormatDuration(wait),
                      absl::FormatDuration(options_.deadline)));
    }
    if (options_.sleep) {
      options_.sleep(wait);
    } else {
      absl::SleepFor(wait);
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return absl::Status(last.code(),
                      fmt::format("{} (after {} tries)", last.message(), options_.max_attempts));
}

absl::StatusOr<v1::AnalysisCompleted> HttpLlmAnalyzer::Analyze(const AnalysisRequest& request) {
  const absl::Time start = clock_.Now();
  if (RequiresApiKey() && options_.api_key.empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: no API key (set the api_key option or {})", provider_, options_.api_key_env));
  }
  const Prompt prompt = BuildPrompt(request);
  const int64_t prompt_tokens = EstimateTokens(prompt.system) + EstimateTokens(prompt.user);
  int64_t max_tokens = options_.max_answer_tokens;
  if (options_.token_budget_per_incident > 0) {
    const int64_t remaining = options_.token_budget_per_incident - request.tokens_spent;
    if (remaining - prompt_tokens < kMinAnswerTokens) {
      return absl::ResourceExhaustedError(fmt::format(
          "{}: the token budget of this incident is spent ({} of {} tokens used; the prompt "
          "needs about {} more plus {} for the answer)",
          provider_, request.tokens_spent, options_.token_budget_per_incident, prompt_tokens,
          kMinAnswerTokens));
    }
    max_tokens = std::min(max_tokens, remaining - prompt_tokens);
  }

  AIOPS_ASSIGN_OR_RETURN(const std::string body, Post(BuildCall(prompt, max_tokens), start));
  AIOPS_ASSIGN_OR_RETURN(Reply reply, ParseReply(body));
  const TokenUsage usage{
      reply.input_tokens >= 0 ? reply.input_tokens : prompt_tokens,
      reply.output_tokens >= 0 ? reply.output_tokens : EstimateTokens(reply.text)};

  absl::StatusOr<v1::AnalysisCompleted> parsed = ParseAnswer(reply.text);
  if (!parsed.ok()) {
    absl::Status status(parsed.status().code(),
                        fmt::format("{}: {}", provider_, parsed.status().message()));
    AttachTokenUsage(status, usage);
    return status;
  }
  v1::AnalysisCompleted result = *std::move(parsed);
  result.set_issue_name(request.issue.name());
  result.set_attempt(request.attempt);
  result.set_provider(provider_);
  result.set_model(reply.model.empty() ? options_.model : reply.model);
  result.set_input_tokens(usage.input_tokens);
  result.set_output_tokens(usage.output_tokens);
  result.set_latency_ms(absl::ToInt64Milliseconds(clock_.Now() - start));
  SanitizeResult(result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Anthropic

AnthropicAnalyzer::AnthropicAnalyzer(HttpLlmOptions options, const common::Clock& clock)
    : HttpLlmAnalyzer(kAnthropicProvider, std::move(options), kDefaultAnthropicBaseUrl,
                      kDefaultAnthropicModel, "ANTHROPIC_API_KEY", clock) {}

HttpLlmAnalyzer::Call AnthropicAnalyzer::BuildCall(const Prompt& prompt, int64_t max_tokens) const {
  Call call;
  call.path = "/v1/messages";
  call.headers = {{"x-api-key", Options().api_key}, {"anthropic-version", kAnthropicVersion}};
  const json body = {
      {"model", Options().model},
      {"max_tokens", max_tokens},
      {"system", prompt.system},
      {"messages", json::array({{{"role", "user"}, {"content", prompt.user}}})},
  };
  call.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return call;
}

absl::StatusOr<HttpLlmAnalyzer::Reply> AnthropicAnalyzer::ParseReply(std::string_view body) const {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("anthropic: the response is not a JSON object");
  }
  Reply reply;
  const auto content = doc.find("content");
  if (content == doc.end() || !content->is_array() || content->empty() ||
      !(*content)[0].is_object() || !(*content)[0].contains("text") ||
      !(*content)[0]["text"].is_string()) {
    return absl::InvalidArgumentError("anthropic: the response has no content[0].text");
  }
  reply.text = (*content)[0]["text"].get<std::string>();
  if (const auto model = doc.find("model"); model != doc.end() && model->is_string()) {
    reply.model = model->get<std::string>();
  }
  if (const auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
    if (const auto in = usage->find("input_tokens"); in != usage->end() && in->is_number()) {
      reply.input_tokens = std::max<int64_t>(in->get<int64_t>(), 0);
    }
    if (const auto out = usage->find("output_tokens"); out != usage->end() && out->is_number()) {
      reply.output_tokens = std::max<int64_t>(out->get<int64_t>(), 0);
    }
  }
  return reply;
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible

OpenAiAnalyzer::OpenAiAnalyzer(HttpLlmOptions options, const common::Clock& clock)
    : HttpLlmAnalyzer(kOpenAiProvider, std::move(options), kDefaultOpenAiBaseUrl,
                      kDefaultOpenAiModel, "OPENAI_API_KEY", clock) {}

HttpLlmAnalyzer::Call OpenAiAnalyzer::BuildCall(const Prompt& prompt,
                                                int64_t /*max_tokens*/) const {
  Call call;
  call.path = "/v1/chat/completions";
  if (!Options().api_key.empty()) {
    call.headers = {{"Authorization", fmt::format("Bearer {}", Options().api_key)}};
  }
  // No max_tokens: newer OpenAI models reject it (max_completion_tokens) and compatible servers
  // differ; the budget check before the call and the 64 KiB answer cap bound the cost instead.
  const json body = {
      {"model", Options().model},
      {"messages", json::array({{{"role", "system"}, {"content", prompt.system}},
                                {{"role", "user"}, {"content", prompt.user}}})},
      {"temperature", 0},
  };
  call.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return call;
}

absl::StatusOr<HttpLlmAnalyzer::Reply> OpenAiAnalyzer::ParseReply(std::string_view body) const {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("openai: the response is not a JSON object");
  }
  const auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object() || !(*choices)[0].contains("message") ||
      !(*choices)[0]["message"].is_object() || !(*choices)[0]["message"].contains("content") ||
      !(*choices)[0]["message"]["content"].is_string()) {
    return absl::InvalidArgumentError("openai: the response has no choices[0].message.content");
  }
  Reply reply;
  reply.text = (*choices)[0]["message"]["content"].get<std::string>();
  if (const auto model = doc.find("model"); model != doc.end() && model->is_string()) {
    reply.model = model->get<std::string>();
  }
  if (const auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
    if (const auto in = usage->find("prompt_tokens"); in != usage->end() && in->is_number()) {
      reply.input_tokens = std::max<int64_t>(in->get<int64_t>(), 0);
    }
    if (const auto out = usage->find("completion_tokens");
        out != usage->end() && out->is_number()) {
      reply.output_tokens = std::max<int64_t>(out->get<int64_t>(), 0);
    }
  }
  return reply;
}

}  // namespace aiops::analysis
