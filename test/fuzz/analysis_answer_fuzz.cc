// libFuzzer target: the parser of an AI provider's answer (server/analysis/prompt.h) on arbitrary
// bytes, plus the redaction and UTF-8 repair applied to outside text. It must return a status,
// never crash, and whatever it accepts must be safe to act on and to log: valid UTF-8 strings
// within their bounds (text.h), confidence in [0, 1], only catalogue actions with sorted params
// and at most kMaxActions, and a result that SanitizeResult leaves unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/check.h"
#include "server/analysis/prompt.h"
#include "server/analysis/redact.h"
#include "server/analysis/text.h"
#include "stages/safety.h"

namespace {

using aiops::analysis::IsValidUtf8;

void CheckAnswer(std::string_view input) {
  const auto parsed = aiops::analysis::ParseAnswer(input);
  if (!parsed.ok()) {
    AIOPS_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  const aiops::v1::AnalysisCompleted& a = *parsed;
  AIOPS_CHECK(a.confidence() >= 0.0F && a.confidence() <= 1.0F);
  AIOPS_CHECK(IsValidUtf8(a.analysis()));
  AIOPS_CHECK(a.analysis().size() <= aiops::analysis::kMaxAnalysisBytes);
  AIOPS_CHECK(a.recommendations_size() <= aiops::analysis::kMaxRecommendations);
  for (const std::string& r : a.recommendations()) {
    AIOPS_CHECK(IsValidUtf8(r));
    AIOPS_CHECK(r.size() <= aiops::analysis::kMaxItemBytes);
  }
  AIOPS_CHECK(a.suggested_actions_size() <= aiops::analysis::kMaxActions);
  for (const aiops::v1::ActionSpec& action : a.suggested_actions()) {
    AIOPS_CHECK(aiops::stages::IsCatalogueAction(action.type()));
    AIOPS_CHECK(aiops::analysis::UnsafeActionReason(action).empty());
    AIOPS_CHECK(IsValidUtf8(action.name()) && IsValidUtf8(action.description()));
    for (int i = 0; i < action.params_size(); ++i) {
      AIOPS_CHECK(IsValidUtf8(action.params(i).key()) && IsValidUtf8(action.params(i).value()));
      AIOPS_CHECK(action.params(i).value().size() <= aiops::analysis::kMaxParamValueBytes);
      AIOPS_CHECK(i == 0 || action.params(i - 1).key() <= action.params(i).key());
    }
  }
  AIOPS_CHECK(a.dropped_actions_size() <= aiops::analysis::kMaxDroppedActions);
  for (const aiops::v1::DroppedAction& dropped : a.dropped_actions()) {
    AIOPS_CHECK(!dropped.reason().empty());
    AIOPS_CHECK(dropped.reason().size() <= aiops::analysis::kMaxItemBytes);
    AIOPS_CHECK(IsValidUtf8(dropped.action().type()));
  }
  aiops::v1::AnalysisCompleted again = a;
  aiops::analysis::SanitizeResult(again);
  AIOPS_CHECK(again.SerializeAsString() == a.SerializeAsString());
}

void CheckText(std::string_view input) {
  const std::string clean = aiops::analysis::SanitizeUtf8(input);
  AIOPS_CHECK(IsValidUtf8(clean));
  AIOPS_CHECK(aiops::analysis::SanitizeUtf8(clean) == clean);
  const std::string redacted = aiops::analysis::Redact(clean);
  AIOPS_CHECK(IsValidUtf8(redacted));
  // Idempotent: what is left after one pass contains nothing a second pass would mask.
  AIOPS_CHECK(aiops::analysis::Redact(redacted) == redacted);
  const std::string cut = aiops::analysis::TruncateUtf8(redacted, input.size() / 2, "...");
  AIOPS_CHECK(cut.size() <= input.size() / 2 || cut == redacted);
  AIOPS_CHECK(IsValidUtf8(cut));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckAnswer(input);
  CheckText(input);
  return 0;
}
