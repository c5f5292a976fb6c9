// Incident read models of the API, built from the projected pipeline state: summaries for
// ListIncidents and the issue-with-plans of GetIncident. Pure functions of the state; shared by
// the gRPC service and the offline `aiops incident` commands. Depends on projections and proto.
#pragma once

#include <string>
#include <string_view>

#include <absl/status/statusor.h>

#include "aiops/v1/service.pb.h"
#include "projections/pipeline_state.h"

namespace aiops::api {

// A state filter as given by a client: "" (every state), "open" (Detected, Analyzing,
// Remediating) or one of the five issue states in any case; returns it normalized ("", "open",
// "Detected", ...). kInvalidArgument naming the accepted values otherwise.
absl::StatusOr<std::string> NormalizeStateFilter(std::string_view state);

v1::IncidentSummary SummarizeIssue(const projections::PipelineState& state,
                                   const v1::IssueState& issue);

// The issues matching `request`, oldest first (by the sequence that opened them).
// kInvalidArgument for an unknown state filter.
absl::StatusOr<v1::ListIncidentsResponse> ListIncidents(const projections::PipelineState& state,
                                                        const v1::ListIncidentsRequest& request);

// The issue named `id`, or else the latest issue whose incident id is `id`, with its plans and
// the names of the other issues of the same incident; the timeline is left empty (it comes
// from the log: ReadTimeline). kNotFound naming `id`; kInvalidArgument when `id` is empty.
absl::StatusOr<v1::GetIncidentResponse> FindIncident(const projections::PipelineState& state,
                                                     std::string_view id);

}  // namespace aiops::api
