// The analyzer seam (DESIGN.md §8): one interface behind which the built-in rules, the ChatCLI
// server client and the direct LLM provider clients (Anthropic, OpenAI-compatible) answer "what
// is wrong and what should be done" for one attempt of one issue. Part of the server layer (an
// edge); depends on proto, common and the pure stages/projections only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

#include "aiops/v1/events.pb.h"
#include "aiops/v1/state.pb.h"

namespace aiops::analysis {

// Everything an analyzer may look at. Built by the analysis effector from the projected issue,
// the AnalysisRequested intent and the ContextCollected event it appended before the call.
struct AnalysisRequest {
  // Name, resource, signal type, severity, risk score, description and current_replicas are
  // read; the rest of the state is ignored.
  v1::IssueState issue;
  int32_t attempt = 1;  // 1-based (AnalysisRequested.attempt)
  // ContextCollected.context: deployment status, pods, events, revision history (plain text).
  std::string context;
  // AnalysisRequested.previous_failures: every earlier failed attempt of this issue.
  google::protobuf::RepeatedPtrField<v1::AttemptFailure> previous_failures;
  // Input + output tokens already spent on this incident by earlier analyses (the sum of the
  // recorded AnalysisCompleted token counts). Compared with the analyzer's per-incident budget.
  int64_t tokens_spent = 0;
};

// Provider names written to AnalysisCompleted.provider and returned by Name().
inline constexpr char kBuiltinProvider[] = "builtin";
inline constexpr char kBuiltinModel[] = "rules-v1";
inline constexpr char kChatCliProvider[] = "chatcli";
inline constexpr char kAnthropicProvider[] = "anthropic";
inline constexpr char kOpenAiProvider[] = "openai";

// Contract for every implementation:
// - The result fills issue_name, attempt, analysis, confidence in [0, 1], recommendations,
//   suggested_actions (catalogue actions only, params sorted by key), provider, model, token
//   counts and latency_ms; actions that were proposed but are unknown or unsafe are listed in
//   dropped_actions with the reason. Every string is valid UTF-8 (the event log rejects
//   anything else).
// - Errors: kDeadlineExceeded (time-out), kUnavailable (provider unreachable after retries),
//   kUnauthenticated / kPermissionDenied (bad credentials), kResourceExhausted (rate limited
//   after retries, or the per-incident token budget is spent), kInvalidArgument (an answer that
//   violates the answer contract), kFailedPrecondition (misconfiguration, e.g. no API key).
//   FallbackAnalyzer turns any of them into the built-in answer.
// - Analyze() is thread-safe: the effector may analyze several issues at once.
class Analyzer {
 public:
  virtual ~Analyzer() = default;
  virtual absl::StatusOr<v1::AnalysisCompleted> Analyze(const AnalysisRequest& request) = 0;
  // builtin | chatcli | anthropic | openai (the value of AnalysisRequested.analyzer).
  virtual std::string_view Name() const = 0;
};

// Tokens that a failed call consumed (an answer that was billed but unusable), carried on its
// error status as a payload so that FallbackAnalyzer can record them against the incident's
// budget in the result it returns instead.
struct TokenUsage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};
void AttachTokenUsage(absl::Status& status, TokenUsage usage);
TokenUsage TokenUsageOf(const absl::Status& status);  // zeros when none is attached

}  // namespace aiops::analysis
