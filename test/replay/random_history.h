// Seeded random histories for the replay properties: a simulated cluster and its effectors that
// answer the pipeline's intents (analyses, actions, rollbacks, verifications, deadlines,
// approvals) with random but plausible inputs, mixed with a storm of alerts, runbook edits and
// configuration changes. Reproducible from the seed.
#pragma once

#include <cstdint>
#include <vector>

#include "aiops/v1/events.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::replay_testing {

struct History {
  std::vector<v1::Event> log;        // inputs with their derived events, in log order
  projections::PipelineState state;  // the engine's state after the last input
};

History RandomHistory(uint64_t seed, int inputs);

}  // namespace aiops::replay_testing
