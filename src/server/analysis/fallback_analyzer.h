// The fallback chain (DESIGN.md §8): the configured analyzer first, the built-in rules when it
// fails (any error: time-out, unreachable, rejected credentials, exhausted token budget,
// malformed answer) or answers nothing usable (no analysis and no usable action). The built-in
// answer then carries fallback=true and a fallback_reason naming what failed. Thread-safe when
// both analyzers are.
#pragma once

#include <memory>
#include <string_view>

#include "common/clock.h"
#include "common/edge_health.h"
#include "server/analysis/analyzer.h"

namespace aiops::analysis {

class FallbackAnalyzer final : public Analyzer {
 public:
  // `clock` measures the whole call (the failed attempt included) and must outlive this.
  FallbackAnalyzer(std::unique_ptr<Analyzer> primary, std::unique_ptr<Analyzer> builtin,
                   const common::Clock& clock);

  // The primary's answer when usable. Otherwise the built-in answer with fallback=true,
  // fallback_reason = "<primary>: <why>", latency_ms = the whole call, the tokens the failed
  // call consumed (so that the incident's budget counts them) and the actions the primary
  // proposed that were dropped (reasons prefixed with its name). Fails only when the built-in
  // analyzer fails too.
  absl::StatusOr<v1::AnalysisCompleted> Analyze(const AnalysisRequest& request) override;
  // The configured (primary) analyzer's name.
  std::string_view Name() const override { return primary_->Name(); }
  // Whether the primary answers usably (common/edge_health.h): failures and unusable answers
  // are logged and exported as "analyzer <name>".
  const common::EdgeHealth& health() const { return health_; }

 private:
  std::unique_ptr<Analyzer> primary_;
  std::unique_ptr<Analyzer> builtin_;
  const common::Clock& clock_;
  common::EdgeHealth health_;
};

}  // namespace aiops::analysis
