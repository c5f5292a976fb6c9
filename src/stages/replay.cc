#include "stages/replay.h"

#include <fmt/format.h>

#include "stages/engine.h"

namespace aiops::stages {
namespace {

v1::Event WithoutBookkeeping(v1::Event e) {
  e.clear_prev_hash();
  e.clear_schema_version();
  e.clear_truncated();
  e.clear_original_size();
  return e;
}

std::string TypeName(const v1::Event& e) {
  const auto* field = v1::Event::descriptor()->FindFieldByNumber(e.payload_case());
  return field == nullptr ? std::string("unknown") : field->name();
}

std::vector<std::string> TypeNames(const std::vector<v1::Event>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const v1::Event& e : events) {
    out.push_back(TypeName(e));
  }
  return out;
}

}  // namespace

bool SameDecision(const v1::Event& a, const v1::Event& b) {
  return WithoutBookkeeping(a).SerializeAsString() == WithoutBookkeeping(b).SerializeAsString();
}

Replayer::Replayer(Mode mode, const v1::PipelineConfig* what_if)
    : Replayer(mode, projections::PipelineState(), what_if) {}

Replayer::Replayer(Mode mode, projections::PipelineState initial, const v1::PipelineConfig* what_if)
    : mode_(mode), state_(std::move(initial)), last_sequence_(state_.last_sequence) {
  if (what_if != nullptr) {
    what_if_ = *what_if;
    // The cluster id names the log's cluster; it is not a setting to try another value of.
    what_if_->set_cluster_id(state_.config.cluster_id());
  }
}

absl::Status Replayer::Add(const v1::Event& event) {
  if (event.sequence() <= last_sequence_) {
    return absl::FailedPreconditionError(
        fmt::format("replay got sequence {} after {}: events must arrive in log order",
                    event.sequence(), last_sequence_));
  }
  last_sequence_ = event.sequence();
  ++events_;
  if (mode_ == Mode::kFold) {
    projections::Apply(state_, event);
    inputs_ += IsInput(event) ? 1U : 0U;
    return absl::OkStatus();
  }
  if (mode_ == Mode::kVerify && !divergences_.empty()) {
    return absl::OkStatus();  // the audit stopped at the first divergence
  }
  if (!IsInput(event)) {
    if (holding_) {
      held_recorded_.push_back(event);
    }
    return absl::OkStatus();
  }
  CompareHeld();
  if (mode_ == Mode::kVerify && !divergences_.empty()) {
    return absl::OkStatus();  // the audit stops at the first divergence
  }
  ++inputs_;
  held_input_ = event;
  v1::Event input = event;
  if (mode_ == Mode::kWhatIf && input.has_config_changed()) {
    // The what-if configuration stands for every configuration the operator recorded, under the
    // cluster id recorded (a file without one would otherwise stamp every decision "local").
    what_if_->set_cluster_id(input.config_changed().config().cluster_id());
    *input.mutable_config_changed()->mutable_config() = *what_if_;
  }
  const v1::PipelineConfig* config = mode_ == Mode::kWhatIf ? &*what_if_ : nullptr;
  std::vector<v1::Event> batch = ProcessInput(state_, std::move(input), event.sequence(), config);
  held_decided_.assign(batch.begin() + 1, batch.end());
  held_recorded_.clear();
  holding_ = true;
  return absl::OkStatus();
}

void Replayer::Finish() { CompareHeld(); }

void Replayer::CompareHeld() {
  if (!holding_) {
    return;
  }
  holding_ = false;
  std::string detail;
  const size_t n = std::max(held_decided_.size(), held_recorded_.size());
  for (size_t i = 0; i < n && detail.empty(); ++i) {
    if (i >= held_decided_.size()) {
      detail = fmt::format("the log has an extra derived event: {}",
                           held_recorded_[i].ShortDebugString());
    } else if (i >= held_recorded_.size()) {
      detail = fmt::format("this binary derives an event the log lacks: {}",
                           held_decided_[i].ShortDebugString());
    } else if (!SameDecision(held_decided_[i], held_recorded_[i])) {
      detail = fmt::format("recorded: {}\n    decided:  {}", held_recorded_[i].ShortDebugString(),
                           held_decided_[i].ShortDebugString());
    }
  }
  if (!detail.empty()) {
    divergences_.push_back(Divergence{held_input_.sequence(), TypeName(held_input_),
                                      TypeNames(held_recorded_), TypeNames(held_decided_), detail});
  }
}

}  // namespace aiops::stages
