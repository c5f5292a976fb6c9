#include "stages/engine.h"

#include <fmt/format.h>

#include "common/check.h"
#include "stages/deciders.h"

namespace aiops::stages {
namespace {

// An alert derives 1 to 4 events; room for them up front saves regrowing the batch (and moving
// its events) on most inputs. Small enough to stay a small-bin allocation.
constexpr size_t kBatchReserve = 8;

// Appends the batch of `input` to `out` (from out[base] on, base = out.size() on entry).
void ProcessOne(projections::PipelineState& state, v1::Event&& input, uint64_t sequence,
                std::vector<v1::Event>& out, const v1::PipelineConfig* config,
                const EngineLimits& limits) {
  input.set_sequence(sequence);
  input.set_causation_sequence(0);
  projections::Apply(state, input);
  const size_t base = out.size();
  out.push_back(std::move(input));
  size_t frontier_begin = base;
  size_t frontier_end = base + 1;
  uint64_t next_sequence = sequence + 1;
  // The deciders' output, reused across decisions and calls on this thread so that a decision
  // allocates no vector of its own (most inputs derive one event). Emptied before every use: it
  // carries nothing from one decision to the next.
  thread_local std::vector<v1::Event> derived;
  for (int generation = 1; frontier_begin < frontier_end; ++generation) {
    for (size_t i = frontier_begin; i < frontier_end; ++i) {
      const v1::PipelineConfig& cfg = config != nullptr ? *config : state.config;
      // A decider reads out[i] and returns before `out` grows below.
      derived.clear();
      Decide(cfg, state, out[i], derived);
      if (derived.empty()) {
        continue;
      }
      AIOPS_CHECK_MSG(generation <= limits.max_generations,
                      fmt::format("input {} ({}) derives events {} generations deep: a feedback "
                                  "loop in the deciders",
                                  sequence, out[base].payload_case(), generation)
                          .c_str());
      const int64_t time_ms = out[base].logical_time_ms();
      for (v1::Event& e : derived) {
        e.set_sequence(next_sequence++);
        e.set_causation_sequence(sequence);
        e.set_logical_time_ms(time_ms);
        if (!cfg.cluster_id().empty()) {  // empty is the field's default: nothing to copy
          e.set_cluster_id(cfg.cluster_id());
        }
        projections::Apply(state, e);
        out.push_back(std::move(e));
      }
      AIOPS_CHECK_MSG(out.size() - base - 1 <= limits.max_derived,
                      fmt::format("input {} derived more than {} events: a runaway decider",
                                  sequence, limits.max_derived)
                          .c_str());
    }
    frontier_begin = frontier_end;
    frontier_end = out.size();
  }
  derived.clear();  // only moved-from events are left
}

}  // namespace

std::vector<v1::Event> ProcessInput(projections::PipelineState& state, v1::Event input,
                                    uint64_t sequence, const v1::PipelineConfig* config,
                                    const EngineLimits& limits) {
  std::vector<v1::Event> batch;
  batch.reserve(kBatchReserve);
  ProcessOne(state, std::move(input), sequence, batch, config, limits);
  return batch;
}

size_t ProcessInputInto(projections::PipelineState& state, v1::Event&& input, uint64_t sequence,
                        std::vector<v1::Event>& out, const v1::PipelineConfig* config,
                        const EngineLimits& limits) {
  const size_t before = out.size();
  ProcessOne(state, std::move(input), sequence, out, config, limits);
  return out.size() - before;
}

}  // namespace aiops::stages
