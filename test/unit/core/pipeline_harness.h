// Drives the pure engine with hand-made inputs, the way the runner and the effectors would, and
// keeps the log it produced. Builders for every input the edges append.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "projections/naming.h"
#include "projections/pipeline_state.h"
#include "stages/engine.h"

namespace aiops::core_testing {

inline constexpr int64_t kStartMs = 1'771'276'354'000;  // 2026-02-16T21:12:34Z

class PipelineHarness {
 public:
  explicit PipelineHarness(const v1::PipelineConfig& config = projections::DefaultPipelineConfig());

  // Runs one input at the harness's current time; returns the derived events (not the input).
  std::vector<v1::Event> Feed(v1::Event input);
  void Advance(int64_t ms) { now_ms_ += ms; }
  int64_t now_ms() const { return now_ms_; }

  const projections::PipelineState& state() const { return state_; }
  const std::vector<v1::Event>& log() const { return log_; }
  const v1::IssueState& Issue(const std::string& name) const;
  const v1::PlanState& Plan(const std::string& name) const;
  // The only open (non-terminal) issue, or the latest issue when none is open.
  std::string LatestIssue() const;

 private:
  projections::PipelineState state_;
  std::vector<v1::Event> log_;
  int64_t now_ms_ = kStartMs;
};

v1::Event Alert(const std::string& type, const std::string& deployment,
                const std::string& ns = "production", const std::string& uid = "uid-1");
v1::ActionSpec Action(const std::string& type,
                      std::vector<std::pair<std::string, std::string>> params = {});
v1::Event Analysis(const std::string& issue, int32_t attempt, std::vector<v1::ActionSpec> actions,
                   const std::string& text = "root cause found");
v1::Event AnalysisFailure(const std::string& issue, int32_t attempt, const std::string& error);
v1::Event Context(const std::string& issue, int32_t attempt, int32_t replicas);
v1::Event ActionOk(const std::string& plan, int32_t index);
v1::Event ActionError(const std::string& plan, int32_t index, const std::string& error);
v1::Event Preflight(const std::string& plan);
v1::Event RolledBack(const std::string& plan);
v1::Event Verified(const std::string& plan, const std::string& issue);
v1::Event NotVerified(const std::string& plan, const std::string& issue, const std::string& why);
v1::Event Deadline(const std::string& kind, const std::string& target, int64_t due_ms);
v1::Event Approve(const std::string& plan, const std::string& who = "alice");
v1::Event Reject(const std::string& plan, const std::string& who = "bob");
v1::Event ManualRunbook(const std::string& name, const std::string& ns, const std::string& signal,
                        const std::string& severity, const std::string& kind,
                        std::vector<v1::ActionSpec> steps, int32_t max_attempts = 0);
v1::Event ConfigChange(const v1::PipelineConfig& config);

// Payload type names of `events`, for compact assertions.
std::vector<std::string> Types(const std::vector<v1::Event>& events);
// The first event of the given payload type, or fails the test.
const v1::Event& First(const std::vector<v1::Event>& events, v1::Event::PayloadCase type);

}  // namespace aiops::core_testing
