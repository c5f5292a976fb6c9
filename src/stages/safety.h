// The safety policy as pure decisions (DESIGN.md §5): which plans may never run, which need a
// person's approval or are dry runs, and when a plan may start (cooldown and concurrency).
// Depends on projections and proto only.
#pragma once

#include <cstdint>
#include <string>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "aiops/v1/state.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::stages {

// The action types the actuator implements.
bool IsCatalogueAction(const std::string& type);

// Empty when every action of the plan may run against the issue's resource; otherwise the
// reason it is blocked (Custom, a namespace outside the policy, scale to zero without
// containment, a replica change beyond the limits, missing or malformed parameters).
std::string BlockedReason(const v1::PipelineConfig& config, const v1::IssueState& issue,
                          const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions);

bool RequiresApproval(const v1::PipelineConfig& config, const v1::IssueState& issue,
                      const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions);

bool IsDryRun(const v1::PipelineConfig& config, const v1::IssueState& issue,
              const std::string& runbook_name);

// Why a pending plan cannot start now ("" when it can): its resource is cooling down after an
// action, or the namespace or cluster already runs the maximum number of remediations.
std::string WaitReason(const projections::PipelineState& state, const v1::PipelineConfig& config,
                       const v1::PlanState& plan, int64_t now_ms);

}  // namespace aiops::stages
