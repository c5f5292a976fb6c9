#include "server/effectors.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/log.h"
#include "projections/pipeline_state.h"

namespace aiops::server {
namespace p = projections;
using common::LogFields;
using common::LogJson;
using common::LogLevel;
using common::ParseLogLevel;

namespace {

std::string AnalysisKey(const std::string& issue_name, int32_t attempt) {
  return fmt::format("{}#{}", issue_name, attempt);
}

bool Retryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

}  // namespace

Effectors::Effectors(Deps deps, Options options)
    : deps_(std::move(deps)), options_(std::move(options)) {}

Effectors::~Effectors() { Stop(); }

void Effectors::Start() {
  absl::MutexLock lock(&mu_);
  if (loop_.joinable() || stopping_) {
    return;
  }
  loop_ = std::thread([this] { Loop(); });
}

void Effectors::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (loop_.joinable()) {
    loop_.join();
  }
  std::map<std::string, std::thread> running;
  {
    absl::MutexLock lock(&mu_);
    running.swap(analyses_);
    analyses_done_.clear();
  }
  for (auto& [key, thread] : running) {
    thread.join();
  }
}

bool Effectors::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void Effectors::JoinFinishedAnalyses() {
  std::vector<std::thread> finished;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& key : analyses_done_) {
      auto it = analyses_.find(key);
      if (it != analyses_.end()) {
        finished.push_back(std::move(it->second));
        analyses_.erase(it);
      }
    }
    analyses_done_.clear();
  }
  for (std::thread& t : finished) {
    t.join();
  }
}

Effectors::Stats Effectors::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Effectors::Loop() {
  uint64_t seen = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
    }
    // Wake on a new view, or after `poll` to re-check verifications and deadlines.
    seen = deps_.runner->WaitForView(seen, options_.poll)->sequence;
    Step();
  }
}

size_t Effectors::Step() {
  const std::shared_ptr<const PipelineView> view = deps_.runner->View();
  size_t acted = 0;
  JoinFinishedAnalyses();
  for (const p::Intents::Analysis& a : view->intents().analyses) {
    StartAnalysis(a.issue_name, a.attempt);
  }
  // Each Kubernetes call waits for the client's rate limit: under a storm one step can hold many,
  // and Stop() must not wait for them all. What is left is still an intent for the next leader.
  for (const p::Intents::Action& a : view->intents().actions) {
    if (Stopping()) {
      return acted;
    }
    acted += DoAction(a.plan_name, a.index) ? 1U : 0U;
  }
  for (const std::string& plan : view->intents().rollbacks) {
    if (Stopping()) {
      return acted;
    }
    acted += DoRollback(plan) ? 1U : 0U;
  }
  for (const std::string& plan : view->intents().verifications) {
    if (Stopping()) {
      return acted;
    }
    acted += DoVerification(plan) ? 1U : 0U;
  }
  const int64_t now_ms = deps_.clock->NowUnixMs();
  std::set<std::string> pending;
  for (const p::Deadline& d : view->intents().deadlines) {
    pending.insert(d.id);
    if (d.due_at_ms <= now_ms) {
      acted += DoDeadline(d) ? 1U : 0U;
    }
  }
  absl::MutexLock lock(&mu_);
  // Forget deadlines that are no longer pending, so one set again later fires again.
  for (auto it = deadlines_sent_.begin(); it != deadlines_sent_.end();) {
    it = pending.count(it->first) > 0 ? std::next(it) : deadlines_sent_.erase(it);
  }
  return acted;
}

void Effectors::StartAnalysis(const std::string& issue_name, int32_t attempt) {
  const std::string key = AnalysisKey(issue_name, attempt);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || analyses_.count(key) > 0 ||
        analyses_.size() >= options_.max_concurrent_analyses) {
      return;  // running, or the pool is busy: a later pass picks the intent up
    }
    // The thread cannot finish before it is stored: it takes mu_ to report itself done.
    analyses_[key] = std::thread([this, issue_name, attempt, key] {
      Analyze(issue_name, attempt);
      absl::MutexLock done_lock(&mu_);
      analyses_done_.push_back(key);
    });
  }
}

void Effectors::Analyze(const std::string& issue_name, int32_t attempt) {
  v1::IssueState issue;
  bool found = false;
  deps_.runner->ReadState([&](const p::PipelineState& state) {
    const v1::IssueState* i = p::FindIssue(state, issue_name);
    if (i != nullptr && i->state() == p::kAnalyzing && i->attempt() == attempt &&
        i->analysis_attempt() < attempt) {
      issue = *i;
      found = true;
    }
  });
  if (!found) {
    return;  // answered (or ended) since the view was taken
  }
  // The context of this attempt: the recorded one if a previous run collected it.
  std::string context;
  bool have_context = false;
  int64_t tokens_spent = 0;  // by the earlier analyses of this incident (its token budget)
  // One pass over the incident's events (a storm's incident holds thousands of anomalies).
  absl::StatusOr<std::vector<v1::Event>> recorded = IncidentEvents(
      issue.incident_id(), {v1::Event::kContextCollected, v1::Event::kAnalysisCompleted});
  if (!recorded.ok()) {
    // Without the history, the token budget and the recorded context are unknown: no analysis
    // now; the intent is still pending and a later pass starts it again.
    Log("error", fmt::format("analysis of {} attempt {} postponed: {}", issue_name, attempt,
                             recorded.status()));
    return;
  }
  for (const v1::Event& e : *recorded) {
    if (e.has_analysis_completed()) {
      tokens_spent +=
          e.analysis_completed().input_tokens() + e.analysis_completed().output_tokens();
    } else if (e.context_collected().issue_name() == issue_name &&
               e.context_collected().attempt() == attempt) {
      context = e.context_collected().context();
      have_context = true;
    }
  }
  if (!have_context) {
    v1::Event collected =
        k8s_sync::BuildContext(*deps_.client, issue, attempt, options_.context_limits);
    context = collected.context_collected().context();
    if (!collected.context_collected().error().empty()) {
      Log("warn", fmt::format("context for {} attempt {} is partial: {}", issue_name, attempt,
                              collected.context_collected().error()));
    }
    if (!Submit(std::move(collected), "context", issue.incident_id())) {
      return;
    }
    absl::MutexLock lock(&mu_);
    ++stats_.contexts;
  }
  analysis::AnalysisRequest request;
  request.issue = issue;
  request.attempt = attempt;
  request.context = std::move(context);
  request.previous_failures = issue.failures();
  request.tokens_spent = tokens_spent;
  absl::StatusOr<v1::AnalysisCompleted> answer = deps_.analyzer->Analyze(request);
  v1::Event result;
  if (answer.ok()) {
    answer->set_issue_name(issue_name);
    answer->set_attempt(attempt);
    *result.mutable_analysis_completed() = *std::move(answer);
  } else {
    v1::AnalysisFailed* f = result.mutable_analysis_failed();
    f->set_issue_name(issue_name);
    f->set_attempt(attempt);
    f->set_provider(std::string(deps_.analyzer->Name()));
    f->set_error(fmt::format("{}", answer.status()));
    f->set_retryable(Retryable(answer.status()));
    Log("warn",
        fmt::format("analysis of {} attempt {} failed: {}", issue_name, attempt, answer.status()));
  }
  const bool ok = result.has_analysis_completed();
  if (Submit(std::move(result), "analyzer", issue.incident_id())) {
    absl::MutexLock lock(&mu_);
    ++(ok ? stats_.analyses : stats_.analysis_failures);
  }
}

bool Effectors::DoAction(const std::string& plan_name, int32_t index) {
  v1::PlanState plan;
  v1::IssueState issue;
  bool found = false;
  deps_.runner->ReadState([&](const p::PipelineState& state) {
    const v1::PlanState* pl = p::FindPlan(state, plan_name);
    const v1::IssueState* is = pl != nullptr ? p::FindIssue(state, pl->issue_name()) : nullptr;
    if (is != nullptr && pl->state() == p::kExecuting && pl->results_size() == index) {
      plan = *pl;
      issue = *is;
      found = true;
    }
  });
  if (!found) {
    return false;
  }
  // The state a failure is rolled back to, recorded before anything is changed. A dry run
  // changes nothing, so it needs none.
  if (!plan.dry_run() && !plan.preflight_recorded()) {
    absl::StatusOr<v1::PreflightSnapshot> snapshot = deps_.actuator->Preflight(plan, issue);
    v1::Event event;
    if (snapshot.ok()) {
      *event.mutable_preflight_snapshot() = *std::move(snapshot);
    } else {
      // Acting without a way back would risk harm that cannot be undone: fail the action.
      v1::ActionFailed* f = event.mutable_action_failed();
      f->set_plan_name(plan_name);
      f->set_index(index);
      f->set_error(
          fmt::format("preflight snapshot failed, nothing was changed: {}", snapshot.status()));
    }
    const bool failed = event.has_action_failed();
    if (!Submit(std::move(event), "actuator", issue.incident_id()) || failed) {
      return failed;
    }
  }
  v1::Event started;
  v1::ActionStarted* s = started.mutable_action_started();
  s->set_plan_name(plan_name);
  s->set_index(index);
  *s->mutable_action() = plan.actions(index);
  s->set_idempotency_marker(fmt::format("{}/{}", plan_name, index));
  if (!Submit(std::move(started), "actuator", issue.incident_id())) {
    return false;
  }
  v1::Event result = deps_.actuator->Execute(plan, issue, index, plan.dry_run());
  const bool ok = result.has_action_succeeded();
  if (options_.failpoint == "crash-after-action-applied" && ok &&
      !result.action_succeeded().already_applied()) {
    LogJson(LogLevel::kError, "effectors",
            fmt::format("failpoint crash-after-action-applied: exiting after action {} of {}",
                        index, plan_name));
    std::_Exit(137);
  }
  Log(ok ? "info" : "warn",
      fmt::format("action {} of {} ({}): {}", index, plan_name, plan.actions(index).type(),
                  ok ? result.action_succeeded().summary() : result.action_failed().error()));
  if (!Submit(std::move(result), "actuator", issue.incident_id())) {
    return false;
  }
  absl::MutexLock lock(&mu_);
  ++(ok ? stats_.actions : stats_.action_failures);
  return true;
}

bool Effectors::DoRollback(const std::string& plan_name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = rollback_next_try_.find(plan_name);
    if (it != rollback_next_try_.end() && deps_.clock->Now() < it->second) {
      return false;
    }
  }
  v1::PlanState plan;
  std::string incident_id;
  bool found = false;
  deps_.runner->ReadState([&](const p::PipelineState& state) {
    const v1::PlanState* pl = p::FindPlan(state, plan_name);
    const v1::IssueState* is = pl != nullptr ? p::FindIssue(state, pl->issue_name()) : nullptr;
    if (is != nullptr && pl->state() == p::kFailed && pl->preflight_recorded() &&
        !pl->rolled_back()) {
      plan = *pl;
      incident_id = is->incident_id();
      found = true;
    }
  });
  if (!found) {
    return false;
  }
  std::optional<v1::PreflightSnapshot> snapshot;
  absl::StatusOr<std::vector<v1::Event>> recorded =
      IncidentEvents(incident_id, {v1::Event::kPreflightSnapshot});
  if (recorded.ok()) {
    for (const v1::Event& e : *recorded) {
      if (e.preflight_snapshot().plan_name() == plan_name) {
        snapshot = e.preflight_snapshot();
      }
    }
  }
  absl::StatusOr<v1::Event> rolled_back =
      !recorded.ok() ? absl::StatusOr<v1::Event>(recorded.status())
      : snapshot.has_value()
          ? deps_.actuator->Rollback(plan, *snapshot)
          : absl::StatusOr<v1::Event>(absl::DataLossError(fmt::format(
                "the preflight snapshot of {} is not in the incident's log", plan_name)));
  if (!rolled_back.ok()) {
    // There is no way forward but to retry: the plan stays Failed (and its issue waits) until
    // the snapshot is restored. Logged loudly; `aiops incident show` shows the stuck plan.
    Log("error", fmt::format("rollback of {} failed (retrying in {}): {}", plan_name,
                             absl::FormatDuration(options_.rollback_retry), rolled_back.status()));
    absl::MutexLock lock(&mu_);
    ++stats_.rollback_errors;
    rollback_next_try_[plan_name] = deps_.clock->Now() + options_.rollback_retry;
    return false;
  }
  if (!Submit(*std::move(rolled_back), "actuator", incident_id)) {
    return false;
  }
  absl::MutexLock lock(&mu_);
  rollback_next_try_.erase(plan_name);
  ++stats_.rollbacks;
  return true;
}

bool Effectors::DoVerification(const std::string& plan_name) {
  v1::PlanState plan;
  v1::IssueState issue;
  int64_t window_ms = 0;
  bool found = false;
  deps_.runner->ReadState([&](const p::PipelineState& state) {
    const v1::PlanState* pl = p::FindPlan(state, plan_name);
    const v1::IssueState* is = pl != nullptr ? p::FindIssue(state, pl->issue_name()) : nullptr;
    if (is != nullptr && pl->state() == p::kVerifying) {
      plan = *pl;
      issue = *is;
      window_ms = state.config.verification_window_ms();
      found = true;
    }
  });
  if (!found) {
    return false;
  }
  // When the plan's actions were done (it entered Verifying).
  const absl::Time acted = absl::FromUnixMillis(plan.verification_due_ms() - window_ms);
  v1::Event event;
  auto fail = [&](std::string reason) {
    v1::VerificationFailed* f = event.mutable_verification_failed();
    f->set_plan_name(plan_name);
    f->set_issue_name(issue.name());
    f->set_reason(std::move(reason));
  };
  if (issue.resource().kind() != "Deployment") {
    fail(fmt::format("cannot verify a {}: only Deployment rollouts are verified",
                     issue.resource().kind()));
  } else {
    absl::StatusOr<std::optional<std::string>> failing =
        deps_.actuator->PodsFailingSince(issue.resource(), acted);
    // The rollout is only looked at when no pod failed again.
    absl::StatusOr<std::optional<std::string>> complete = std::optional<std::string>();
    if (failing.ok() && !failing->has_value()) {
      complete = deps_.actuator->RolloutComplete(issue.resource());
    }
    if (!failing.ok() || !complete.ok()) {
      // Transient API errors are retried on the next pass; the deadline bounds the wait.
      Log("warn", fmt::format("verification of {}: {}", plan_name,
                              !failing.ok() ? failing.status() : complete.status()));
      return false;
    }
    if (failing->has_value()) {
      fail(fmt::format("the failure came back after the actions: {}", **failing));
    } else {
      const absl::Duration settle =
          std::min(options_.verification_settle, absl::Milliseconds(window_ms) / 2);
      // The core's verification deadline fails the plan at the due time with no evidence; this
      // fails it with the rollout's numbers and pods' states first. The margin covers the calls
      // above, so the deadline, looked at after this in the same step, is never due before it.
      const absl::Time due = absl::FromUnixMillis(plan.verification_due_ms()) -
                             std::min(options_.poll, absl::Milliseconds(window_ms) / 10);
      if (!complete->has_value() && deps_.clock->Now() >= due) {
        absl::StatusOr<std::string> evidence = deps_.actuator->RolloutEvidence(issue.resource());
        fail(fmt::format(
            "{} {}/{} was not healthy within the {} s verification window: {}",
            issue.resource().kind(), issue.resource().namespace_(), issue.resource().name(),
            window_ms / 1000,
            evidence.ok() ? *evidence : fmt::format("(no evidence: {})", evidence.status())));
      } else if (!complete->has_value() || deps_.clock->Now() < acted + settle) {
        return false;  // not yet: checked again on the next pass
      } else {
        v1::VerificationPassed* v = event.mutable_verification_passed();
        v->set_plan_name(plan_name);
        v->set_issue_name(issue.name());
        v->set_summary(fmt::format("{}; no pod failed again in the {} since the actions",
                                   **complete,
                                   absl::FormatDuration(absl::Trunc(deps_.clock->Now() - acted,
                                                                    absl::Milliseconds(100)))));
      }
    }
  }
  if (!Submit(std::move(event), "verifier", issue.incident_id())) {
    return false;
  }
  absl::MutexLock lock(&mu_);
  ++stats_.verifications;
  return true;
}

bool Effectors::DoDeadline(const p::Deadline& deadline) {
  {
    absl::MutexLock lock(&mu_);
    auto it = deadlines_sent_.find(deadline.id);
    if (it != deadlines_sent_.end() && it->second == deadline.due_at_ms) {
      return false;  // sent; the deciders found nothing to do for it at that time
    }
  }
  std::string incident_id;
  deps_.runner->ReadState([&](const p::PipelineState& state) {
    const v1::PlanState* plan = p::FindPlan(state, deadline.target);
    const v1::IssueState* issue =
        p::FindIssue(state, plan != nullptr ? plan->issue_name() : deadline.target);
    if (issue != nullptr) {
      incident_id = issue->incident_id();
    }
  });
  v1::Event event;
  v1::DeadlineReached* d = event.mutable_deadline_reached();
  d->set_deadline_id(deadline.id);
  d->set_kind(deadline.kind);
  d->set_target(deadline.target);
  d->set_due_at_ms(deadline.due_at_ms);
  if (!Submit(std::move(event), "timer", incident_id)) {
    return false;
  }
  absl::MutexLock lock(&mu_);
  deadlines_sent_[deadline.id] = deadline.due_at_ms;
  ++stats_.deadlines;
  return true;
}

absl::StatusOr<std::vector<v1::Event>> Effectors::IncidentEvents(
    const std::string& incident_id, std::initializer_list<v1::Event::PayloadCase> types) const {
  std::vector<v1::Event> out;
  if (incident_id.empty()) {
    return out;
  }
  absl::StatusOr<std::vector<v1::Event>> events =
      eventlog::ReadIncidentEvents(*deps_.log, incident_id);
  if (!events.ok()) {
    return events.status();
  }
  for (v1::Event& e : *events) {
    if (std::find(types.begin(), types.end(), e.payload_case()) != types.end()) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

bool Effectors::Submit(v1::Event event, const std::string& producer,
                       const std::string& incident_id) {
  event.set_logical_time_ms(deps_.clock->NowUnixMs());
  event.set_producer(producer);
  event.set_cluster_id(deps_.cluster_id);
  if (!incident_id.empty()) {
    event.set_incident_id(incident_id);
  }
  const v1::Event::PayloadCase type = event.payload_case();
  absl::StatusOr<uint64_t> sequence = deps_.runner->Submit(std::move(event));
  if (!sequence.ok()) {
    Log("error",
        fmt::format("submitting a {} event failed: {}", static_cast<int>(type), sequence.status()));
    absl::MutexLock lock(&mu_);
    ++stats_.submit_errors;
    return false;
  }
  return true;
}

void Effectors::Log(const std::string& level, const std::string& message) const {
  LogLevel l = LogLevel::kInfo;
  ParseLogLevel(level, l);
  LogJson(l, "effectors", message);
}

}  // namespace aiops::server
