// The prompt sent to LLM providers, the answer contract they must follow, and the screening of
// proposed actions shared by every analyzer whose answer comes from outside (LLMs and the
// ChatCLI server). AI output is untrusted: it is parsed strictly and every action is checked
// against the catalogue before it can reach a plan. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

#include "aiops/v1/events.pb.h"
#include "server/analysis/analyzer.h"
#include "server/analysis/text.h"

namespace aiops::analysis {

// Bounds on what is sent and accepted.
inline constexpr size_t kMaxContextBytes = 32'000;     // ChatCLI's kubernetes_context limit
inline constexpr size_t kMaxDescriptionBytes = 8'000;  // the issue description in a prompt
inline constexpr size_t kMaxFailureContextBytes = 16'000;
inline constexpr size_t kMaxAnswerBytes = size_t{64} * 1024;  // a raw LLM answer
inline constexpr char kContextTruncatedMarker[] = "\n... (context truncated)";
// The bounds on the result (kMaxActions, kMaxRecommendations, ...) are in text.h.

// One action the actuator implements, as described to the model.
struct CatalogueEntry {
  std::string_view type;
  std::string_view effect;
  std::string_view params;
};
// The five catalogue actions (stages::IsCatalogueAction), in a fixed order.
std::span<const CatalogueEntry> ActionCatalogue();

// The request's outside text as it may leave the cluster: valid UTF-8, secrets redacted
// (redact.h), and bounded (the context is cut on a UTF-8 boundary with kContextTruncatedMarker
// so that it, marker included, fits kMaxContextBytes).
struct OutgoingText {
  std::string description;
  std::string context;
  std::string failure_context;  // "" on the first attempt
};
OutgoingText PrepareOutgoing(const AnalysisRequest& request);

// The failure context of every earlier attempt, one block per attempt:
//   Attempt N (plan P) FAILED.
//   Strategy: ...
//   Result: ...
//   Action: <type> params={k=v, ...}
// Not redacted (PrepareOutgoing redacts it).
std::string FailureContext(const google::protobuf::RepeatedPtrField<v1::AttemptFailure>& failures);

struct Prompt {
  std::string system;  // persona, data rule, action catalogue, answer contract
  std::string user;    // the issue, the context and the failure context (redacted)
};
Prompt BuildPrompt(const AnalysisRequest& request);

// Why `action` may not be suggested ("" when it may): not in the catalogue, Custom, scale to 0
// without containment="true", a required parameter missing or malformed (ScaleDeployment
// replicas, RollbackDeployment toRevision other than "previous" or a number, PatchConfig
// configmap, AdjustResources without a quantity), or too large (OversizeActionReason).
std::string UnsafeActionReason(const v1::ActionSpec& action);

// Sorts the params by key, then appends `action` to result.suggested_actions, or to
// result.dropped_actions with the reason when it is unsafe or the kMaxActions limit is reached.
void AddScreenedAction(v1::ActionSpec action, v1::AnalysisCompleted& result);

// Parses a model's answer under the contract
//   {"analysis": str, "confidence": number, "recommendations": [str],
//    "actions": [{"name": str, "action": str, "description": str, "params": {str: str}}]}
// into analysis, confidence (clamped to [0, 1]; 0.5 when absent), recommendations,
// suggested_actions and dropped_actions, bounded by SanitizeResult (text.h: long strings cut
// with kTruncatedMarker, at most kMaxRecommendations recommendations). A surrounding ``` or
// ```json fence is tolerated; invalid UTF-8 bytes become U+FFFD. Returns kInvalidArgument naming
// the field on any schema violation: not JSON, not an object, `analysis` missing or not a
// string, any present field of the wrong type. An answer over kMaxAnswerBytes is rejected
// unparsed with kInvalidArgument saying so: JSON cut at the limit is incomplete, and an answer
// is never acted on from a part of it (FallbackAnalyzer records the message as its reason).
absl::StatusOr<v1::AnalysisCompleted> ParseAnswer(std::string_view answer);

// An answer worth using: a non-blank analysis or at least one suggested action.
bool IsUsable(const v1::AnalysisCompleted& result);

}  // namespace aiops::analysis
