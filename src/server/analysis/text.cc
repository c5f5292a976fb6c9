#include "server/analysis/text.h"

#include <utility>

#include <fmt/format.h>

namespace aiops::analysis {
namespace {

// Valid UTF-8, then at most `max_bytes` bytes with kTruncatedMarker where it was cut.
void Bound(std::string* s, size_t max_bytes) {
  if (!IsValidUtf8(*s)) {
    *s = SanitizeUtf8(*s);
  }
  if (s->size() > max_bytes) {
    *s = TruncateUtf8(*s, max_bytes, kTruncatedMarker);
  }
}

// Keeps at most `max` elements of `items`; when some are removed, the last one kept is replaced
// by `marker(removed)` so that the cut shows.
template <typename T, typename MakeMarker>
void BoundCount(google::protobuf::RepeatedPtrField<T>* items, int max, MakeMarker marker) {
  if (items->size() <= max) {
    return;
  }
  const int removed = items->size() - max + 1;  // the last kept slot holds the marker
  items->DeleteSubrange(max - 1, removed);
  *items->Add() = marker(removed);
}

void BoundAction(v1::ActionSpec* action) {
  Bound(action->mutable_name(), kMaxNameBytes);
  Bound(action->mutable_type(), kMaxNameBytes);
  Bound(action->mutable_description(), kMaxItemBytes);
  BoundCount(action->mutable_params(), kMaxParams, [](int removed) {
    v1::Param p;
    p.set_key("...");
    p.set_value(fmt::format("[{} more params not kept]", removed));
    return p;
  });
  for (v1::Param& p : *action->mutable_params()) {
    Bound(p.mutable_key(), kMaxNameBytes);
    Bound(p.mutable_value(), kMaxParamValueBytes);
  }
}

}  // namespace

int64_t EstimateTokens(std::string_view text) {
  return static_cast<int64_t>((text.size() + 3) / 4);
}

std::string OversizeActionReason(const v1::ActionSpec& action) {
  if (action.params_size() > kMaxParams) {
    return fmt::format("the action has {} params, over the limit of {}", action.params_size(),
                       kMaxParams);
  }
  for (const v1::Param& p : action.params()) {
    if (p.key().size() > kMaxNameBytes) {
      return fmt::format("a param key is {} bytes, over the {} byte limit", p.key().size(),
                         kMaxNameBytes);
    }
    if (p.value().size() > kMaxParamValueBytes) {
      return fmt::format(
          "param '{}' is {} bytes, over the {} byte limit (a cut value would "
          "change the action)",
          Utf8Prefix(SanitizeUtf8(p.key()), 64), p.value().size(), kMaxParamValueBytes);
    }
  }
  return "";
}

void SanitizeResult(v1::AnalysisCompleted& result) {
  // Actions that cannot be acted on whole leave suggested_actions before anything is cut, so that
  // no shortened value ever reaches a plan.
  google::protobuf::RepeatedPtrField<v1::ActionSpec> kept;
  for (v1::ActionSpec& a : *result.mutable_suggested_actions()) {
    std::string reason = OversizeActionReason(a);
    if (reason.empty() && kept.size() >= kMaxActions) {
      reason = fmt::format("more than {} actions suggested", kMaxActions);
    }
    if (reason.empty()) {
      *kept.Add() = std::move(a);
      continue;
    }
    v1::DroppedAction* dropped = result.add_dropped_actions();
    *dropped->mutable_action() = std::move(a);
    dropped->set_reason(std::move(reason));
  }
  result.mutable_suggested_actions()->Swap(&kept);

  if (!IsValidUtf8(result.issue_name())) {
    *result.mutable_issue_name() = SanitizeUtf8(result.issue_name());
  }
  Bound(result.mutable_analysis(), kMaxAnalysisBytes);
  BoundCount(result.mutable_recommendations(), kMaxRecommendations, [](int removed) {
    return fmt::format("...[{} more recommendations not kept]", removed);
  });
  for (std::string& r : *result.mutable_recommendations()) {
    Bound(&r, kMaxItemBytes);
  }
  for (v1::ActionSpec& a : *result.mutable_suggested_actions()) {
    BoundAction(&a);
  }
  BoundCount(result.mutable_dropped_actions(), kMaxDroppedActions, [](int removed) {
    v1::DroppedAction d;
    d.set_reason(fmt::format("...[{} more dropped actions not kept]", removed));
    return d;
  });
  for (v1::DroppedAction& d : *result.mutable_dropped_actions()) {
    BoundAction(d.mutable_action());
    Bound(d.mutable_reason(), kMaxItemBytes);
  }
  Bound(result.mutable_provider(), kMaxNameBytes);
  Bound(result.mutable_model(), kMaxNameBytes);
  Bound(result.mutable_fallback_reason(), kMaxItemBytes);
}

}  // namespace aiops::analysis
