// Replay of a recorded log (DESIGN.md §2), pure and streaming: events are fed in log order.
//  - kFold rebuilds the state by folding every event (derived events are folded, never
//    re-decided);
//  - kVerify re-decides every input with this binary's deciders and checks that the derived
//    events on record are exactly what it derives now (a determinism audit of the binary
//    against history); it stops at the first divergence;
//  - kWhatIf runs the recorded inputs under another configuration (runbooks arrive as recorded
//    inputs; effect results are taken from the record and change nothing where the new
//    decisions asked for something else) and lists where decisions differ.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::stages {

struct Divergence {
  uint64_t input_sequence = 0;
  std::string input_type;
  std::vector<std::string> recorded;  // payload types of the derived events on record
  std::vector<std::string> decided;   // ... and of what this replay derives
  std::string detail;                 // the first differing event, both sides
};

class Replayer {
 public:
  enum class Mode { kFold, kVerify, kWhatIf };

  // `what_if` is required for kWhatIf (and ignored otherwise).
  explicit Replayer(Mode mode, const v1::PipelineConfig* what_if = nullptr);
  // Starts from a restored state instead of an empty one (snapshot + tail).
  Replayer(Mode mode, projections::PipelineState initial, const v1::PipelineConfig* what_if);

  // Feeds the next event of the log. kFailedPrecondition when events arrive out of order.
  // In kVerify mode, the first divergence stops the audit: later calls are ignored.
  absl::Status Add(const v1::Event& event);
  // Completes the last input's comparison.
  void Finish();

  const projections::PipelineState& state() const { return state_; }
  uint64_t events() const { return events_; }
  uint64_t inputs() const { return inputs_; }
  // kVerify: the first divergence; kWhatIf: every input whose decisions differ.
  const std::vector<Divergence>& divergences() const { return divergences_; }

 private:
  void CompareHeld();

  Mode mode_;
  std::optional<v1::PipelineConfig> what_if_;
  projections::PipelineState state_;
  uint64_t events_ = 0;
  uint64_t inputs_ = 0;
  uint64_t last_sequence_ = 0;
  // The input being audited: what this binary derives from it and what the log recorded.
  v1::Event held_input_;
  std::vector<v1::Event> held_decided_;
  std::vector<v1::Event> held_recorded_;
  bool holding_ = false;
  std::vector<Divergence> divergences_;
};

// Two events are the same decision when everything but the log's own bookkeeping (previous
// hash, schema version, truncation marks) is equal.
bool SameDecision(const v1::Event& a, const v1::Event& b);

}  // namespace aiops::stages
