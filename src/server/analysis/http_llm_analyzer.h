// Direct LLM provider clients over HTTPS (http:// is accepted for local servers and tests):
// - AnthropicAnalyzer: the Messages API, POST {base}/v1/messages with x-api-key and
//   anthropic-version: 2023-06-01; the answer is content[0].text, usage.input_tokens and
//   usage.output_tokens are recorded.
// - OpenAiAnalyzer: the chat completions API, POST {base}/v1/chat/completions with
//   Authorization: Bearer <key>; also serves OpenAI-compatible servers (Ollama, vLLM, llama.cpp
//   server). The answer is choices[0].message.content; usage.prompt_tokens and
//   usage.completion_tokens are recorded.
// Both send the prompt of prompt.h (secrets redacted), parse the answer with ParseAnswer, retry
// 429 (honouring Retry-After), 5xx and connection failures with exponential back-off (bounded
// attempts), and refuse to call once the incident's token budget is spent. Thread-safe: each
// call uses its own connection. Uses cpp-httplib (OpenSSL) and nlohmann::json internally.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/time/time.h>

#include "common/clock.h"
#include "server/analysis/analyzer.h"
#include "server/analysis/prompt.h"

namespace aiops::analysis {

struct HttpLlmOptions {
  // Scheme, host and port, with an optional path prefix kept in front of /v1/...:
  // "https://api.anthropic.com", "http://127.0.0.1:11434" (Ollama), "https://gw/openai".
  // Empty: the provider's public endpoint.
  std::string base_url;
  // Empty: read from `api_key_env` once, at construction. Anthropic needs a key; an
  // OpenAI-compatible local server may not (no Authorization header is sent without one).
  std::string api_key;
  // Empty: ANTHROPIC_API_KEY or OPENAI_API_KEY.
  std::string api_key_env;
  // Empty: kDefaultAnthropicModel or kDefaultOpenAiModel.
  std::string model;
  int64_t max_answer_tokens = 2048;  // Anthropic max_tokens (clamped to the remaining budget)
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration read_timeout = absl::Seconds(60);  // a slower answer fails: kDeadlineExceeded
  absl::Duration write_timeout = absl::Seconds(10);
  // Tries per analysis, the first included. Retried: 429, 5xx, failures to connect or send.
  // Not retried: other 4xx, and read errors (the request may have been processed and billed).
  int max_attempts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(500);  // doubled per retry
  absl::Duration max_backoff = absl::Seconds(8);
  // A Retry-After header (seconds) replaces the back-off; a longer one than this ends the call.
  absl::Duration max_retry_after = absl::Seconds(30);
  // The whole call, tries and waits included (kDeadlineExceeded past it): each try's time-outs
  // are cut to the time left, and a retry whose wait would reach it is not made.
  absl::Duration deadline = absl::Seconds(120);
  // Input + output tokens one incident may spend on analyses; <= 0: unlimited. A call is refused
  // (kResourceExhausted) when the tokens already spent plus the prompt's estimate leave less
  // than kMinAnswerTokens for the answer.
  int64_t token_budget_per_incident = 200'000;
  // PEM CA bundle for https; empty: the system store. Server certificates are always verified.
  std::string ca_cert_path;
  // Waits between tries; empty: absl::SleepFor. Tests record the waits instead of sleeping.
  std::function<void(absl::Duration)> sleep;
};

inline constexpr char kDefaultAnthropicBaseUrl[] = "https://api.anthropic.com";
inline constexpr char kDefaultAnthropicModel[] = "claude-sonnet-4-5";
inline constexpr char kDefaultOpenAiBaseUrl[] = "https://api.openai.com";
inline constexpr char kDefaultOpenAiModel[] = "gpt-4o-mini";
inline constexpr char kAnthropicVersion[] = "2023-06-01";
inline constexpr int64_t kMinAnswerTokens = 256;

// The shared call path; the two providers differ only in request and response shapes.
class HttpLlmAnalyzer : public Analyzer {
 public:
  absl::StatusOr<v1::AnalysisCompleted> Analyze(const AnalysisRequest& request) final;
  std::string_view Name() const final { return provider_; }

  const HttpLlmOptions& Options() const { return options_; }
  // Whether a key was configured or found in the environment (never the key itself).
  bool HasApiKey() const { return !options_.api_key.empty(); }

 protected:
  struct Call {
    std::string path;  // below the base URL, e.g. "/v1/messages"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // JSON
  };
  struct Reply {
    std::string text;           // the model's answer
    std::string model;          // as reported; "" when absent
    int64_t input_tokens = -1;  // -1: not reported (estimated instead)
    int64_t output_tokens = -1;
  };

  // `clock` measures latency_ms and must outlive the analyzer. Empty options take the
  // provider's defaults; the API key is read from the environment here, not in Analyze().
  HttpLlmAnalyzer(std::string provider, HttpLlmOptions options, std::string_view default_base,
                  std::string_view default_model, std::string_view default_key_env,
                  const common::Clock& clock);

  virtual Call BuildCall(const Prompt& prompt, int64_t max_tokens) const = 0;
  virtual absl::StatusOr<Reply> ParseReply(std::string_view body) const = 0;
  virtual bool RequiresApiKey() const = 0;

 private:
  // `start`: when the analysis began (the deadline counts from it).
  absl::StatusOr<std::string> Post(const Call& call, absl::Time start) const;

  std::string provider_;
  HttpLlmOptions options_;
  const common::Clock& clock_;
};

class AnthropicAnalyzer final : public HttpLlmAnalyzer {
 public:
  AnthropicAnalyzer(HttpLlmOptions options, const common::Clock& clock);

 private:
  Call BuildCall(const Prompt& prompt, int64_t max_tokens) const override;
  absl::StatusOr<Reply> ParseReply(std::string_view body) const override;
  bool RequiresApiKey() const override { return true; }
};

class OpenAiAnalyzer final : public HttpLlmAnalyzer {
 public:
  OpenAiAnalyzer(HttpLlmOptions options, const common::Clock& clock);

 private:
  Call BuildCall(const Prompt& prompt, int64_t max_tokens) const override;
  absl::StatusOr<Reply> ParseReply(std::string_view body) const override;
  bool RequiresApiKey() const override { return false; }
};

}  // namespace aiops::analysis
