#include "server/api/service.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include <absl/synchronization/mutex.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "server/api/incidents.h"
#include "server/api/timeline.h"
#include "stages/replay.h"

namespace aiops::api {
namespace {

namespace p = projections;

constexpr char kProducer[] = "grpc";
constexpr char kChannel[] = "grpc";
constexpr size_t kReplayChunk = 4096;

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
}

// The first sequence a tail sends, given the log's ends.
uint64_t TailStart(const v1::TailEventsRequest& request, uint64_t first, uint64_t last) {
  if (request.from_sequence() > 0) {
    return std::max(request.from_sequence(), first);
  }
  const uint64_t count = request.last();
  if (count == 0) {
    return last + 1;
  }
  return last >= first && last - first + 1 > count ? last - count + 1 : first;
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status ValidateAppend(const v1::AppendRequest& request, size_t max_events) {
  if (request.events().empty()) {
    return absl::InvalidArgumentError("Append needs at least one event");
  }
  if (static_cast<size_t>(request.events_size()) > max_events) {
    return absl::InvalidArgumentError(fmt::format(
        "Append takes at most {} events per call (got {})", max_events, request.events_size()));
  }
  for (int i = 0; i < request.events_size(); ++i) {
    const v1::Event& event = request.events(i);
    if (event.payload_case() != v1::Event::kAlertObserved) {
      const auto* field = v1::Event::descriptor()->FindFieldByNumber(event.payload_case());
      return absl::InvalidArgumentError(
          fmt::format("events[{}]: Append accepts alert_observed events only (got {})", i,
                      field == nullptr ? std::string("no payload") : field->name()));
    }
    const v1::AlertObserved& alert = event.alert_observed();
    if (alert.type().empty()) {
      return absl::InvalidArgumentError(
          fmt::format("events[{}]: alert_observed.type is required", i));
    }
    if (alert.namespace_().empty()) {
      return absl::InvalidArgumentError(
          fmt::format("events[{}]: alert_observed.namespace is required", i));
    }
  }
  return absl::OkStatus();
}

AiopsServiceImpl::AiopsServiceImpl(ApiDeps deps, Options options)
    : deps_(std::move(deps)), options_(options) {}

grpc::Status AiopsServiceImpl::TailEvents(grpc::ServerContext* context,
                                          const v1::TailEventsRequest* request,
                                          grpc::ServerWriter<v1::Event>* writer) {
  const eventlog::EventLog& log = *deps_.log;
  const uint64_t first = log.FirstSequence();
  const uint64_t last = log.LastSequence();
  uint64_t next = TailStart(*request, first, last);
  const std::string& incident = request->incident_id();

  // An incident's history comes from its index rather than a scan of the whole log.
  if (!incident.empty() && next <= last) {
    absl::StatusOr<std::vector<uint64_t>> sequences = log.IncidentSequences(incident);
    if (!sequences.ok()) {
      return ToGrpc(sequences.status());
    }
    std::vector<uint64_t> history;
    for (const uint64_t s : *sequences) {
      if (s >= first && s <= last && (request->from_sequence() == 0 || s >= next)) {
        history.push_back(s);
      }
    }
    if (request->from_sequence() == 0 && history.size() > request->last()) {
      history.erase(history.begin(), history.end() - static_cast<std::ptrdiff_t>(request->last()));
    }
    for (const uint64_t s : history) {
      if (context->IsCancelled()) {
        return grpc::Status::CANCELLED;
      }
      absl::StatusOr<std::vector<v1::Event>> events = log.Read(s, 1);
      if (!events.ok()) {
        return ToGrpc(events.status());
      }
      for (const v1::Event& e : *events) {
        if (!writer->Write(e)) {
          return grpc::Status::CANCELLED;
        }
      }
    }
    next = last + 1;
  }

  const uint64_t end = request->stop_at_end() ? last : UINT64_MAX;
  while (next <= end) {
    if (shutting_down_.load()) {
      return ShuttingDown();
    }
    if (context->IsCancelled()) {
      return grpc::Status::CANCELLED;
    }
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(options_.tail_chunk, end - next + 1));
    absl::StatusOr<std::vector<v1::Event>> events = log.Read(next, want);
    if (!events.ok()) {
      return ToGrpc(events.status());
    }
    if (events->empty()) {
      log.WaitForSequence(next, options_.tail_poll);
      continue;
    }
    for (const v1::Event& e : *events) {
      if (!incident.empty() && e.incident_id() != incident) {
        continue;
      }
      if (!writer->Write(e)) {
        return grpc::Status::CANCELLED;  // the client went away
      }
    }
    next = events->back().sequence() + 1;
  }
  return grpc::Status::OK;
}

grpc::Status AiopsServiceImpl::ListIncidents(grpc::ServerContext* /*context*/,
                                             const v1::ListIncidentsRequest* request,
                                             v1::ListIncidentsResponse* response) {
  absl::StatusOr<v1::ListIncidentsResponse> result = absl::InternalError("no state");
  deps_.read_state(
      [&](const p::PipelineState& state) { result = api::ListIncidents(state, *request); });
  if (!result.ok()) {
    return ToGrpc(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AiopsServiceImpl::GetIncident(grpc::ServerContext* /*context*/,
                                           const v1::GetIncidentRequest* request,
                                           v1::GetIncidentResponse* response) {
  absl::StatusOr<v1::GetIncidentResponse> result = absl::InternalError("no state");
  deps_.read_state(
      [&](const p::PipelineState& state) { result = FindIncident(state, request->id()); });
  if (!result.ok()) {
    return ToGrpc(result.status());
  }
  // The log is read outside the state callback: the runner is not held up by it.
  absl::StatusOr<std::vector<v1::TimelineEntry>> timeline =
      ReadTimeline(*deps_.log, result->issue().incident_id());
  if (!timeline.ok()) {
    return ToGrpc(timeline.status());
  }
  *response = *std::move(result);
  for (v1::TimelineEntry& entry : *timeline) {
    *response->add_timeline() = std::move(entry);
  }
  return grpc::Status::OK;
}

grpc::Status AiopsServiceImpl::Replay(grpc::ServerContext* context,
                                      const v1::ReplayRequest* request,
                                      v1::ReplayResponse* response) {
  const eventlog::EventLog& log = *deps_.log;
  const uint64_t first = log.FirstSequence();
  const uint64_t last = log.LastSequence();
  const uint64_t as_of = request->as_of_sequence() == 0 ? last : request->as_of_sequence();
  if (as_of > last) {
    return grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        fmt::format("as_of_sequence {} is past the end of the log (last sequence {})", as_of,
                    last));
  }
  std::optional<stages::Replayer> replayer;
  uint64_t from = first;
  absl::StatusOr<std::optional<eventlog::Snapshot>> snapshot =
      eventlog::SnapshotToFoldFrom(log, p::kPipelineSnapshotName, p::kPipelineStateVersion, as_of);
  if (!snapshot.ok()) {
    return ToGrpc(snapshot.status());
  }
  if (snapshot->has_value()) {
    absl::StatusOr<p::PipelineState> restored = p::DecodeSnapshot((*snapshot)->data);
    if (restored.ok()) {
      replayer.emplace(stages::Replayer::Mode::kFold, *std::move(restored), nullptr);
      from = (*snapshot)->sequence + 1;
      response->set_snapshot_sequence((*snapshot)->sequence);
    }
  }
  if (!replayer.has_value()) {
    if (first > 1 && as_of >= first) {
      return grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          fmt::format("the history before sequence {} was pruned and no snapshot covers "
                      "sequence {}: the state as of then cannot be rebuilt",
                      first, as_of));
    }
    replayer.emplace(stages::Replayer::Mode::kFold);
  }
  while (from <= as_of) {
    if (context->IsCancelled()) {
      return grpc::Status::CANCELLED;
    }
    absl::StatusOr<std::vector<v1::Event>> events =
        log.Read(from, static_cast<size_t>(std::min<uint64_t>(kReplayChunk, as_of - from + 1)));
    if (!events.ok()) {
      return ToGrpc(events.status());
    }
    if (events->empty()) {
      break;
    }
    for (const v1::Event& e : *events) {
      if (absl::Status s = replayer->Add(e); !s.ok()) {
        return ToGrpc(s);
      }
    }
    from = events->back().sequence() + 1;
  }
  replayer->Finish();
  const p::PipelineState& state = replayer->state();
  response->set_as_of_sequence(state.last_sequence);
  response->set_state_digest(p::StateDigest(state));
  response->set_events_folded(replayer->events());
  for (const auto& [name, issue] : state.issues) {
    *response->add_issues() = p::IssueForReaders(issue);
  }
  for (const auto& [name, plan] : state.plans) {
    *response->add_plans() = plan;
  }
  return grpc::Status::OK;
}

absl::Status AiopsServiceImpl::Decide(const v1::ApprovalDecision& request, bool approve,
                                      v1::ApprovalDecisionResponse& response) {
  const char* verb = approve ? "approve" : "reject";
  if (request.plan_name().empty()) {
    return absl::InvalidArgumentError(fmt::format("plan_name is required to {} a plan", verb));
  }
  if (request.approver().empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "approver is required: say who decides to {} plan {}", verb, request.plan_name()));
  }
  std::optional<v1::PlanState> plan;
  std::string incident_id;
  deps_.read_state([&](const p::PipelineState& state) {
    if (const v1::PlanState* found = p::FindPlan(state, request.plan_name())) {
      plan = *found;
      if (const v1::IssueState* issue = p::FindIssue(state, found->issue_name())) {
        incident_id = issue->incident_id();
      }
    }
  });
  if (!plan.has_value()) {
    return absl::FailedPreconditionError(
        fmt::format("cannot {} plan '{}': no such plan (see `aiops incident show`)", verb,
                    request.plan_name()));
  }
  if (plan->state() != p::kWaitingApproval) {
    return absl::FailedPreconditionError(
        fmt::format("cannot {} plan '{}': it is {}, not {} (only a plan waiting for approval "
                    "can be approved or rejected)",
                    verb, request.plan_name(), plan->state(), p::kWaitingApproval));
  }
  v1::Event input;
  input.set_logical_time_ms(deps_.clock->NowUnixMs());
  input.set_cluster_id(deps_.cluster_id);
  input.set_incident_id(incident_id);
  input.set_producer(kProducer);
  if (approve) {
    v1::ApprovalGranted* granted = input.mutable_approval_granted();
    granted->set_plan_name(request.plan_name());
    granted->set_approver(request.approver());
    granted->set_reason(request.reason());
    granted->set_channel(kChannel);
  } else {
    v1::ApprovalRejected* rejected = input.mutable_approval_rejected();
    rejected->set_plan_name(request.plan_name());
    rejected->set_approver(request.approver());
    rejected->set_reason(request.reason());
    rejected->set_channel(kChannel);
  }
  absl::StatusOr<uint64_t> sequence = deps_.submit(std::move(input));
  if (!sequence.ok()) {
    return sequence.status();
  }
  response.set_sequence(*sequence);
  response.set_plan_name(request.plan_name());
  response.set_issue_name(plan->issue_name());
  deps_.read_state([&](const p::PipelineState& state) {
    if (const v1::PlanState* after = p::FindPlan(state, request.plan_name())) {
      response.set_plan_state(after->state());
    }
    if (const v1::IssueState* issue = p::FindIssue(state, plan->issue_name())) {
      response.set_issue_state(issue->state());
    }
  });
  return absl::OkStatus();
}

absl::Status AiopsServiceImpl::DoRearm(const v1::RearmRequest& request,
                                       v1::RearmResponse& response) {
  if (request.issue_name().empty()) {
    return absl::InvalidArgumentError("issue_name is required to re-arm an issue");
  }
  if (request.by().empty()) {
    return absl::InvalidArgumentError(
        fmt::format("by is required: say who re-arms issue {}", request.issue_name()));
  }
  std::optional<v1::IssueState> issue;
  deps_.read_state([&](const p::PipelineState& state) {
    if (const v1::IssueState* found = p::FindIssue(state, request.issue_name())) {
      issue = *found;
    }
  });
  if (!issue.has_value()) {
    return absl::FailedPreconditionError(
        fmt::format("cannot re-arm issue '{}': no such issue (see `aiops incident list`)",
                    request.issue_name()));
  }
  if (issue->state() != p::kEscalated) {
    return absl::FailedPreconditionError(
        fmt::format("cannot re-arm issue '{}': it is {}, not {} (only an escalated issue holds "
                    "its resource)",
                    request.issue_name(), issue->state(), p::kEscalated));
  }
  v1::Event input;
  input.set_logical_time_ms(deps_.clock->NowUnixMs());
  input.set_cluster_id(deps_.cluster_id);
  input.set_incident_id(issue->incident_id());
  input.set_producer(kProducer);
  v1::IssueRearmed* rearmed = input.mutable_issue_rearmed();
  rearmed->set_issue_name(request.issue_name());
  rearmed->set_by(request.by());
  rearmed->set_reason(request.reason());
  rearmed->set_channel(kChannel);
  rearmed->set_namespace_(issue->resource().namespace_());
  absl::StatusOr<uint64_t> sequence = deps_.submit(std::move(input));
  if (!sequence.ok()) {
    return sequence.status();
  }
  response.set_sequence(*sequence);
  response.set_issue_name(request.issue_name());
  return absl::OkStatus();
}

grpc::Status AiopsServiceImpl::Rearm(grpc::ServerContext* /*context*/,
                                     const v1::RearmRequest* request, v1::RearmResponse* response) {
  return ToGrpc(DoRearm(*request, *response));
}

grpc::Status AiopsServiceImpl::Approve(grpc::ServerContext* /*context*/,
                                       const v1::ApprovalDecision* request,
                                       v1::ApprovalDecisionResponse* response) {
  return ToGrpc(Decide(*request, /*approve=*/true, *response));
}

grpc::Status AiopsServiceImpl::Reject(grpc::ServerContext* /*context*/,
                                      const v1::ApprovalDecision* request,
                                      v1::ApprovalDecisionResponse* response) {
  return ToGrpc(Decide(*request, /*approve=*/false, *response));
}

absl::StatusOr<std::vector<uint64_t>> AiopsServiceImpl::SubmitAll(std::vector<v1::Event> inputs) {
  if (deps_.submit_batch) {
    return deps_.submit_batch(std::move(inputs));
  }
  const size_t n = inputs.size();
  std::vector<absl::StatusOr<uint64_t>> results(n, absl::InternalError("not submitted"));
  const size_t workers = std::min(n, std::max<size_t>(1, options_.append_concurrency));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) {
      results[i] = deps_.submit(std::move(inputs[i]));
    }
  } else {
    // Concurrent producers are group-committed by the runner: one batch costs a few commits
    // rather than one synced write per alert.
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        for (size_t i = w; i < n; i += workers) {
          results[i] = deps_.submit(std::move(inputs[i]));
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
  }
  std::vector<uint64_t> sequences;
  sequences.reserve(n);
  size_t appended = 0;
  for (const auto& r : results) {
    appended += r.ok() ? 1U : 0U;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!results[i].ok()) {
      return absl::Status(results[i].status().code(),
                          fmt::format("events[{}]: {} ({} of {} alerts were appended)", i,
                                      results[i].status().message(), appended, n));
    }
    sequences.push_back(*results[i]);
  }
  return sequences;
}

grpc::Status AiopsServiceImpl::Append(grpc::ServerContext* /*context*/,
                                      const v1::AppendRequest* request,
                                      v1::AppendResponse* response) {
  if (absl::Status s = ValidateAppend(*request, options_.max_append_events); !s.ok()) {
    return ToGrpc(s);
  }
  const int64_t now_ms = deps_.clock->NowUnixMs();
  std::vector<v1::Event> inputs;
  inputs.reserve(static_cast<size_t>(request->events_size()));
  for (const v1::Event& event : request->events()) {
    // Only the alert is taken from the client: the envelope is the edge's to stamp.
    v1::Event input;
    input.set_logical_time_ms(now_ms);
    input.set_cluster_id(deps_.cluster_id);
    input.set_producer(kProducer);
    v1::AlertObserved* alert = input.mutable_alert_observed();
    *alert = event.alert_observed();
    alert->set_source(kProducer);
    inputs.push_back(std::move(input));
  }
  absl::StatusOr<std::vector<uint64_t>> sequences = SubmitAll(std::move(inputs));
  if (!sequences.ok()) {
    return ToGrpc(sequences.status());
  }
  for (const uint64_t s : *sequences) {
    response->add_sequences(s);
  }
  return grpc::Status::OK;
}

}  // namespace aiops::api
