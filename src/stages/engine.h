// The pure engine (DESIGN.md §2): folds one input event, runs the deciders on it and on every
// event they derive until nothing new is derived, and returns the batch to append: the input
// followed by its derived events, with sequences, causation, logical time, cluster id and
// producer stamped. Each decider's output is folded as a group before any of it is decided on,
// so a decision sees everything its sibling events changed. Deterministic; no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::stages {

struct EngineLimits {
  int max_generations = 16;  // causation depth below the input
  size_t max_derived = 512;  // events derived from one input
};

// Processes `input` as the event at `sequence` (the next sequence of the log: the runner is its
// only writer). `config` overrides the state's configuration when not null (what-if replay).
// Exceeding a limit is a bug in the deciders (a feedback loop): the process stops with a message
// naming the input and the limit.
std::vector<v1::Event> ProcessInput(projections::PipelineState& state, v1::Event input,
                                    uint64_t sequence, const v1::PipelineConfig* config = nullptr,
                                    const EngineLimits& limits = {});

// Processes `inputs` in order, as the events from `first_sequence` on, appending each one's batch
// (the input, then what it derived, as ProcessInput returns it) to `out`. The same events as
// ProcessInput on each input in turn (the runner's deciding thread calls this on a group),
// without a batch allocated and moved per input. The inputs are moved from.
void ProcessInputs(projections::PipelineState& state, std::span<v1::Event* const> inputs,
                   uint64_t first_sequence, std::vector<v1::Event>& out,
                   const v1::PipelineConfig* config = nullptr, const EngineLimits& limits = {});

// An input is an event no decider produced: causation 0.
inline bool IsInput(const v1::Event& event) { return event.causation_sequence() == 0; }

}  // namespace aiops::stages
