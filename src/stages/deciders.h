// The pipeline's deciders (DESIGN.md §4): pure functions of the configuration, the projected
// state (already folded with `event`) and one event, appending the events it derives, in order,
// to `out` (and nothing else: they never read or remove what `out` already holds).
// The engine (engine.h) stamps sequence, causation and time on them. No clock, randomness, I/O
// or hash-ordered iteration.
#pragma once

#include <vector>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::stages {

// Every decider, dispatched on the event's payload type.
void Decide(const v1::PipelineConfig& config, const projections::PipelineState& state,
            const v1::Event& event, std::vector<v1::Event>& out);

// The individual steps, exposed for tests.
void DecideDetection(const v1::PipelineConfig& config, const projections::PipelineState& state,
                     const v1::Event& alert, std::vector<v1::Event>& out);
void DecideCorrelation(const v1::PipelineConfig& config, const projections::PipelineState& state,
                       const v1::Event& anomaly, std::vector<v1::Event>& out);
void DecideIssueOpened(const v1::PipelineConfig& config, const projections::PipelineState& state,
                       const v1::Event& opened, std::vector<v1::Event>& out);
void DecideRemediation(const v1::PipelineConfig& config, const projections::PipelineState& state,
                       const v1::Event& analysis, std::vector<v1::Event>& out);
void DecidePlanStart(const v1::PipelineConfig& config, const projections::PipelineState& state,
                     const v1::Event& created, std::vector<v1::Event>& out);
void DecideApproval(const v1::PipelineConfig& config, const projections::PipelineState& state,
                    const v1::Event& answer, std::vector<v1::Event>& out);
void DecideExecution(const v1::PipelineConfig& config, const projections::PipelineState& state,
                     const v1::Event& result, std::vector<v1::Event>& out);
void DecideVerification(const v1::PipelineConfig& config, const projections::PipelineState& state,
                        const v1::Event& result, std::vector<v1::Event>& out);
void DecidePlanEnded(const v1::PipelineConfig& config, const projections::PipelineState& state,
                     const v1::Event& changed, std::vector<v1::Event>& out);
void DecideDeadline(const v1::PipelineConfig& config, const projections::PipelineState& state,
                    const v1::Event& deadline, std::vector<v1::Event>& out);

}  // namespace aiops::stages
