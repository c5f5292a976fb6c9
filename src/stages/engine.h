// The pure engine (DESIGN.md §2): folds one input event, runs the deciders on it and on every
// event they derive until nothing new is derived, and returns the batch to append: the input
// followed by its derived events, with sequences, causation, logical time, cluster id and
// producer stamped. Each decider's output is folded as a group before any of it is decided on,
// so a decision sees everything its sibling events changed. Deterministic; no I/O.
#pragma once

#include <cstdint>
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

// As ProcessInput, appending the batch to `out` (the runner's group) instead of returning it, so
// no batch is allocated and moved per input; returns the batch's size.
size_t ProcessInputInto(projections::PipelineState& state, v1::Event&& input, uint64_t sequence,
                        std::vector<v1::Event>& out, const v1::PipelineConfig* config = nullptr,
                        const EngineLimits& limits = {});

// An input is an event no decider produced: causation 0.
inline bool IsInput(const v1::Event& event) { return event.causation_sequence() == 0; }

}  // namespace aiops::stages
