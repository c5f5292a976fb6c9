// The pipeline's deciders (DESIGN.md §4): pure functions of the configuration, the projected
// state (already folded with `event`) and one event, returning the events it derives, in order.
// The engine (engine.h) stamps sequence, causation and time on them. No clock, randomness, I/O
// or hash-ordered iteration.
#pragma once

#include <vector>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::stages {

// Every decider, dispatched on the event's payload type.
std::vector<v1::Event> Decide(const v1::PipelineConfig& config,
                              const projections::PipelineState& state, const v1::Event& event);

// The individual steps, exposed for tests.
std::vector<v1::Event> DecideDetection(const v1::PipelineConfig& config,
                                       const projections::PipelineState& state,
                                       const v1::Event& alert);
std::vector<v1::Event> DecideCorrelation(const v1::PipelineConfig& config,
                                         const projections::PipelineState& state,
                                         const v1::Event& anomaly);
std::vector<v1::Event> DecideIssueOpened(const v1::PipelineConfig& config,
                                         const projections::PipelineState& state,
                                         const v1::Event& opened);
std::vector<v1::Event> DecideRemediation(const v1::PipelineConfig& config,
                                         const projections::PipelineState& state,
                                         const v1::Event& analysis);
std::vector<v1::Event> DecidePlanStart(const v1::PipelineConfig& config,
                                       const projections::PipelineState& state,
                                       const v1::Event& created);
std::vector<v1::Event> DecideApproval(const v1::PipelineConfig& config,
                                      const projections::PipelineState& state,
                                      const v1::Event& answer);
std::vector<v1::Event> DecideExecution(const v1::PipelineConfig& config,
                                       const projections::PipelineState& state,
                                       const v1::Event& result);
std::vector<v1::Event> DecideVerification(const v1::PipelineConfig& config,
                                          const projections::PipelineState& state,
                                          const v1::Event& result);
std::vector<v1::Event> DecidePlanEnded(const v1::PipelineConfig& config,
                                       const projections::PipelineState& state,
                                       const v1::Event& changed);
std::vector<v1::Event> DecideDeadline(const v1::PipelineConfig& config,
                                      const projections::PipelineState& state,
                                      const v1::Event& deadline);

}  // namespace aiops::stages
