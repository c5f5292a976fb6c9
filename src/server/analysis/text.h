// Text helpers for outside input: UTF-8 repair and cutting on a character boundary, and the
// rough token estimate used where a provider reports no usage. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aiops/v1/events.pb.h"
#include "common/utf8.h"

namespace aiops::analysis {

// The UTF-8 helpers live in common/utf8.h (every layer cuts and repairs outside text).
using common::IsValidUtf8;
using common::kReplacementCharacter;
using common::SanitizeUtf8;
using common::TruncateUtf8;
using common::Utf8Prefix;

// About four bytes of English or JSON per token: the estimate used for the budget before a call
// and for providers that report no usage.
int64_t EstimateTokens(std::string_view text);

// Bounds on an AnalysisCompleted (docs/analysis.md, "Bounds on the result"). Whatever a provider
// answers, the event is at most about 0.5 MiB (the event log's limit is 1 MiB).
inline constexpr size_t kMaxAnalysisBytes = size_t{16} * 1024;
inline constexpr size_t kMaxItemBytes = size_t{2} * 1024;  // a recommendation, an action's
                                                           // description, a reason
inline constexpr size_t kMaxNameBytes = 256;  // an action's name and type, a param key, the model
inline constexpr size_t kMaxParamValueBytes = size_t{1} * 1024;
inline constexpr int kMaxParams = 16;  // per action
inline constexpr int kMaxActions = 10;
inline constexpr int kMaxDroppedActions = 10;
inline constexpr int kMaxRecommendations = 20;
// Appended where a string was cut (the whole, marker included, fits its bound).
inline constexpr char kTruncatedMarker[] = " ...[truncated]";

// Why `action` is too large to act on ("" when it is not): more than kMaxParams params, or a
// param key over kMaxNameBytes or value over kMaxParamValueBytes. A cut value would change what
// the action does, so such an action is dropped rather than shortened.
std::string OversizeActionReason(const v1::ActionSpec& action);

// The one place where every analyzer's result is made safe to log (called by ParseAnswer and by
// each analyzer on the result it returns; idempotent):
// - every string that came from outside (analysis, recommendations, actions, params, dropped
//   actions and their reasons, model, fallback reason) is replaced by its SanitizeUtf8 form;
// - each is cut on a UTF-8 boundary with kTruncatedMarker to its bound above (analysis
//   kMaxAnalysisBytes; recommendations, descriptions, reasons kMaxItemBytes; names, types,
//   param keys, model, provider kMaxNameBytes; param values kMaxParamValueBytes);
// - a suggested action over OversizeActionReason's bounds moves to dropped_actions (its values
//   are then cut like the rest), and a dropped action keeps at most kMaxParams params;
// - beyond kMaxRecommendations recommendations, the last kept one is replaced by
//   "...[N more recommendations not kept]"; beyond kMaxDroppedActions dropped actions, the last
//   kept one is replaced by an entry without action whose reason is
//   "...[N more dropped actions not kept]". suggested_actions are already at most kMaxActions
//   (AddScreenedAction); any beyond are dropped here the same way.
// issue_name is ours (the request's) and is only repaired, never cut.
void SanitizeResult(v1::AnalysisCompleted& result);

}  // namespace aiops::analysis
