#include "server/api/incidents.h"

#include <algorithm>
#include <vector>

#include <absl/strings/ascii.h>
#include <fmt/format.h>

namespace aiops::api {
namespace {

namespace p = projections;

constexpr const char* kIssueStates[] = {p::kDetected, p::kAnalyzing, p::kRemediating, p::kResolved,
                                        p::kEscalated};

bool MatchesState(const std::string& filter, const std::string& state) {
  if (filter.empty()) {
    return true;
  }
  if (filter == "open") {
    return !p::IsTerminalIssueState(state);
  }
  return filter == state;
}

}  // namespace

absl::StatusOr<std::string> NormalizeStateFilter(std::string_view state) {
  std::string lower(state);
  absl::AsciiStrToLower(&lower);
  if (lower.empty() || lower == "open") {
    return lower;
  }
  for (const char* known : kIssueStates) {
    std::string known_lower(known);
    absl::AsciiStrToLower(&known_lower);
    if (lower == known_lower) {
      return std::string(known);
    }
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown incident state '{}' (expected open, Detected, Analyzing, Remediating, Resolved or "
      "Escalated)",
      state));
}

v1::IncidentSummary SummarizeIssue(const p::PipelineState& state, const v1::IssueState& issue) {
  v1::IncidentSummary s;
  s.set_name(issue.name());
  s.set_incident_id(issue.incident_id());
  s.set_state(issue.state());
  s.set_severity(issue.severity());
  s.set_risk_score(issue.risk_score());
  s.set_signal_type(issue.signal_type());
  *s.mutable_resource() = issue.resource();
  s.set_attempt(issue.attempt());
  s.set_max_attempts(issue.max_attempts());
  s.set_detected_at_ms(issue.detected_at_ms());
  s.set_ended_at_ms(issue.ended_at_ms());
  *s.mutable_plan_names() = issue.plan_names();
  s.set_description(issue.description());
  s.set_end_reason(issue.end_reason());
  if (!issue.plan_names().empty()) {
    if (const v1::PlanState* plan =
            p::FindPlan(state, issue.plan_names().Get(issue.plan_names_size() - 1))) {
      s.set_latest_plan_state(plan->state());
    }
  }
  return s;
}

absl::StatusOr<v1::ListIncidentsResponse> ListIncidents(const p::PipelineState& state,
                                                        const v1::ListIncidentsRequest& request) {
  absl::StatusOr<std::string> filter = NormalizeStateFilter(request.state());
  if (!filter.ok()) {
    return filter.status();
  }
  std::vector<const v1::IssueState*> matched;
  for (const auto& [name, issue] : state.issues) {
    if (MatchesState(*filter, issue.state()) &&
        (request.namespace_().empty() || issue.resource().namespace_() == request.namespace_())) {
      matched.push_back(&issue);
    }
  }
  std::stable_sort(matched.begin(), matched.end(), [](const auto* a, const auto* b) {
    return a->opened_sequence() < b->opened_sequence();
  });
  v1::ListIncidentsResponse response;
  response.set_as_of_sequence(state.last_sequence);
  for (const v1::IssueState* issue : matched) {
    *response.add_incidents() = SummarizeIssue(state, *issue);
  }
  return response;
}

absl::StatusOr<v1::GetIncidentResponse> FindIncident(const p::PipelineState& state,
                                                     std::string_view id) {
  if (id.empty()) {
    return absl::InvalidArgumentError("an incident is named by its issue name or incident id");
  }
  const v1::IssueState* issue = p::FindIssue(state, id);
  if (issue == nullptr) {
    for (const auto& [name, candidate] : state.issues) {
      if (candidate.incident_id() == id &&
          (issue == nullptr || candidate.opened_sequence() > issue->opened_sequence())) {
        issue = &candidate;
      }
    }
  }
  if (issue == nullptr) {
    return absl::NotFoundError(
        fmt::format("no incident '{}' (neither an issue name nor an incident id; see `aiops "
                    "incident list`)",
                    id));
  }
  v1::GetIncidentResponse response;
  *response.mutable_issue() = p::IssueForReaders(*issue);
  response.set_as_of_sequence(state.last_sequence);
  for (const std::string& plan_name : issue->plan_names()) {
    if (const v1::PlanState* plan = p::FindPlan(state, plan_name)) {
      *response.add_plans() = *plan;
    }
  }
  std::vector<const v1::IssueState*> related;
  for (const auto& [name, other] : state.issues) {
    if (other.incident_id() == issue->incident_id() && other.name() != issue->name()) {
      related.push_back(&other);
    }
  }
  std::stable_sort(related.begin(), related.end(), [](const auto* a, const auto* b) {
    return a->opened_sequence() < b->opened_sequence();
  });
  for (const v1::IssueState* other : related) {
    response.add_related_issues(other->name());
  }
  return response;
}

}  // namespace aiops::api
