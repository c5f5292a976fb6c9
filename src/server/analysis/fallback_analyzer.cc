#include "server/analysis/fallback_analyzer.h"

#include <utility>

#include <fmt/format.h>

#include "common/check.h"
#include "common/fmt_absl.h"
#include "server/analysis/prompt.h"
#include "server/analysis/text.h"

namespace aiops::analysis {

FallbackAnalyzer::FallbackAnalyzer(std::unique_ptr<Analyzer> primary,
                                   std::unique_ptr<Analyzer> builtin, const common::Clock& clock)
    : primary_(std::move(primary)),
      builtin_(std::move(builtin)),
      clock_(clock),
      health_(fmt::format("analyzer {}", primary_ != nullptr ? primary_->Name() : ""),
              // On the system clock: `clock` times the analysis (its reads are counted in tests).
              common::EdgeHealth::Options{.component = "analysis"}) {
  AIOPS_CHECK(primary_ != nullptr && builtin_ != nullptr);
}

absl::StatusOr<v1::AnalysisCompleted> FallbackAnalyzer::Analyze(const AnalysisRequest& request) {
  const absl::Time start = clock_.Now();
  absl::StatusOr<v1::AnalysisCompleted> primary = primary_->Analyze(request);
  std::string reason;
  TokenUsage spent;
  if (!primary.ok()) {
    reason = fmt::format("{} failed: {}", primary_->Name(), primary.status());
    spent = TokenUsageOf(primary.status());
    // A key or permission the provider refuses stays refused until a person changes it.
    health_.Failure(primary.status(), absl::IsUnauthenticated(primary.status()) ||
                                          absl::IsPermissionDenied(primary.status()));
  } else if (!IsUsable(*primary)) {
    reason = fmt::format(
        "{} answered nothing usable (no analysis and no usable action; {} "
        "action(s) dropped)",
        primary_->Name(), primary->dropped_actions_size());
    spent = {primary->input_tokens(), primary->output_tokens()};
    health_.Failure(absl::InvalidArgumentError(reason));
  } else {
    health_.Success();
    return primary;
  }

  absl::StatusOr<v1::AnalysisCompleted> fallback = builtin_->Analyze(request);
  if (!fallback.ok()) {
    return absl::Status(fallback.status().code(),
                        fmt::format("{}; the built-in fallback failed too: {}", reason,
                                    fallback.status().message()));
  }
  v1::AnalysisCompleted result = *std::move(fallback);
  result.set_fallback(true);
  result.set_fallback_reason(reason);
  result.set_input_tokens(result.input_tokens() + spent.input_tokens);
  result.set_output_tokens(result.output_tokens() + spent.output_tokens);
  if (primary.ok()) {
    for (const v1::DroppedAction& d : primary->dropped_actions()) {
      v1::DroppedAction* copy = result.add_dropped_actions();
      *copy = d;
      copy->set_reason(fmt::format("{}: {}", primary_->Name(), d.reason()));
    }
  }
  result.set_latency_ms(absl::ToInt64Milliseconds(clock_.Now() - start));
  SanitizeResult(result);
  return result;
}

}  // namespace aiops::analysis
