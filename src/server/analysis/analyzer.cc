#include "server/analysis/analyzer.h"

#include <charconv>

#include <absl/strings/cord.h>
#include <fmt/format.h>

namespace aiops::analysis {
namespace {

constexpr char kTokenUsageUrl[] = "type.chatcli-aiops/analysis.token_usage";

}  // namespace

void AttachTokenUsage(absl::Status& status, TokenUsage usage) {
  if (status.ok() || (usage.input_tokens <= 0 && usage.output_tokens <= 0)) {
    return;
  }
  status.SetPayload(kTokenUsageUrl,
                    absl::Cord(fmt::format("{} {}", usage.input_tokens, usage.output_tokens)));
}

TokenUsage TokenUsageOf(const absl::Status& status) {
  TokenUsage usage;
  const auto payload = status.GetPayload(kTokenUsageUrl);  // absl::optional (not std:: here)
  if (!payload) {
    return usage;
  }
  const std::string text(*payload);
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, usage.input_tokens);
  if (ec == std::errc() && p < end) {
    std::from_chars(p + 1, end, usage.output_tokens);
  }
  return usage;
}

}  // namespace aiops::analysis
