#include "stages/deciders.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "common/sha256.h"
#include "projections/naming.h"
#include "stages/safety.h"

namespace aiops::stages {
namespace {

namespace p = projections;
using Events = std::vector<v1::Event>;

constexpr char kUnknownUid[] = "uid:missing";
constexpr size_t kStrategyAnalysisChars = 400;
constexpr size_t kDescriptionMessageChars = 1000;

// A derived event for `incident_id`, appended to `out` for the caller to fill in (before it
// appends another: the reference is to an element of `out`); the engine stamps the rest of the
// envelope.
v1::Event& Derived(Events& out, std::string incident_id) {
  v1::Event& e = out.emplace_back();
  e.set_incident_id(std::move(incident_id));
  e.set_producer("engine");
  return e;
}

// Whether the configuration decides with decision rules `version` or newer.
bool Rules(const v1::PipelineConfig& config, int32_t version) {
  return config.decision_rules() >= version;
}

void IssueState(Events& out, const v1::IssueState& issue, const char* from, const char* to,
                const std::string& reason) {
  v1::Event& e = Derived(out, issue.incident_id());
  v1::IssueStateChanged* c = e.mutable_issue_state_changed();
  c->set_issue_name(issue.name());
  c->set_from_state(from);
  c->set_to_state(to);
  c->set_reason(reason);
}

void PlanState(Events& out, const v1::IssueState& issue, const v1::PlanState& plan, const char* to,
               const std::string& reason) {
  v1::Event& e = Derived(out, issue.incident_id());
  v1::PlanStateChanged* c = e.mutable_plan_state_changed();
  c->set_plan_name(plan.name());
  c->set_from_state(plan.state());
  c->set_to_state(to);
  c->set_reason(reason);
}

void Escalate(Events& out, const v1::IssueState& issue, const char* from, const std::string& reason,
              const std::string& detail) {
  v1::Event& e = Derived(out, issue.incident_id());
  v1::IssueEscalated* x = e.mutable_issue_escalated();
  x->set_issue_name(issue.name());
  x->set_reason(reason);
  x->set_detail(detail);
  IssueState(out, issue, from, p::kEscalated, fmt::format("{}: {}", reason, detail));
}

void RequestAnalysis(Events& out, const v1::IssueState& issue, int32_t attempt,
                     const google::protobuf::RepeatedPtrField<v1::AttemptFailure>& failures) {
  v1::Event& e = Derived(out, issue.incident_id());
  v1::AnalysisRequested* r = e.mutable_analysis_requested();
  r->set_issue_name(issue.name());
  r->set_attempt(attempt);
  *r->mutable_previous_failures() = failures;
}

// Params sorted by key: the canonical form that plans are compared in.
google::protobuf::RepeatedPtrField<v1::ActionSpec> Canonical(
    const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  google::protobuf::RepeatedPtrField<v1::ActionSpec> out = actions;
  for (v1::ActionSpec& a : out) {
    std::sort(a.mutable_params()->begin(), a.mutable_params()->end(),
              [](const v1::Param& x, const v1::Param& y) {
                return std::forward_as_tuple(x.key(), x.value()) <
                       std::forward_as_tuple(y.key(), y.value());
              });
  }
  return out;
}

bool FailedBefore(const v1::IssueState& issue,
                  const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  return std::any_of(issue.failures().begin(), issue.failures().end(),
                     [&](const v1::AttemptFailure& f) {
                       return p::SameActions(Canonical(f.actions()), Canonical(actions));
                     });
}

constexpr char kFromAnalysis[] = "<from-analysis>";

// Rules 1: the steps an auto-generated runbook stores. Parameters that name or size things of the
// issue's own target (a container, a ConfigMap and its keys' values, a revision number, a replica
// count, a limit) become kFromAnalysis: reused for another workload, the runbook keeps its
// strategy and takes those values from that issue's own analysis. `toRevision: previous` (already
// relative) and `containment` (a policy flag) are kept.
google::protobuf::RepeatedPtrField<v1::ActionSpec> RelativeSteps(
    const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  google::protobuf::RepeatedPtrField<v1::ActionSpec> out = actions;
  for (v1::ActionSpec& a : out) {
    for (v1::Param& param : *a.mutable_params()) {
      if (!(param.key() == "toRevision" && param.value() == "previous") &&
          param.key() != "containment") {
        param.set_value(kFromAnalysis);
      }
    }
  }
  return out;
}

// Fills each kFromAnalysis parameter of `steps` from the issue's analysis: the first suggested
// action of the same type not used by an earlier step. "" when every one was filled, else why
// the runbook cannot apply to this issue.
std::string FillFromAnalysis(google::protobuf::RepeatedPtrField<v1::ActionSpec>& steps,
                             const v1::IssueState& issue) {
  const auto& suggested = issue.analysis().suggested_actions();
  std::vector<bool> used(static_cast<size_t>(suggested.size()), false);
  for (v1::ActionSpec& step : steps) {
    const bool relative =
        std::any_of(step.params().begin(), step.params().end(),
                    [](const v1::Param& param) { return param.value() == kFromAnalysis; });
    if (!relative) {
      continue;
    }
    if (issue.analysis_failed()) {
      return "its parameters come from the analysis, which failed";
    }
    int from = -1;
    for (int j = 0; j < suggested.size() && from < 0; ++j) {
      if (!used[static_cast<size_t>(j)] && suggested[j].type() == step.type()) {
        from = j;
      }
    }
    if (from < 0) {
      return fmt::format("the analysis suggests no {} to take its parameters from", step.type());
    }
    used[static_cast<size_t>(from)] = true;
    for (v1::Param& param : *step.mutable_params()) {
      if (param.value() != kFromAnalysis) {
        continue;
      }
      const std::string value = p::ParamValue(suggested[from], param.key());
      if (value.empty()) {
        return fmt::format("the analysis's {} has no '{}'", step.type(), param.key());
      }
      param.set_value(value);
    }
  }
  return "";
}

// Whether an earlier attempt of the issue failed with the same action types in the same order.
bool SameStrategyFailedBefore(const v1::IssueState& issue,
                              const google::protobuf::RepeatedPtrField<v1::ActionSpec>& steps) {
  return std::any_of(
      issue.failures().begin(), issue.failures().end(), [&](const v1::AttemptFailure& f) {
        return std::equal(
            f.actions().begin(), f.actions().end(), steps.begin(), steps.end(),
            [](const v1::ActionSpec& a, const v1::ActionSpec& b) { return a.type() == b.type(); });
      });
}

struct Choice {
  const v1::RunbookState* runbook = nullptr;
  int32_t tier = 0;
  google::protobuf::RepeatedPtrField<v1::ActionSpec> actions;  // canonical, filled in
};

// Runbook-first (DESIGN.md §4): tier 1 signal + severity + kind, tier 2 severity + kind; manual
// before auto-generated (which match only their exact trigger); the issue's namespace before
// others; then by namespace and name. A runbook whose actions already failed for this issue is
// skipped; so is (rules 1) one with "<from-analysis>" parameters this issue's analysis cannot
// fill, named in `passed_over`.
Choice ChooseRunbook(const v1::PipelineConfig& config, const p::PipelineState& state,
                     const v1::IssueState& issue, bool& skipped_failed, std::string& passed_over) {
  Choice best;
  std::tuple<int, int, int, std::string> best_rank;
  for (const auto& [key, rb] : state.runbooks) {
    const v1::RunbookTrigger& trigger = rb.spec().trigger();
    if (rb.retired() || rb.spec().steps().empty() || trigger.severity() != issue.severity() ||
        trigger.resource_kind() != issue.resource().kind()) {
      continue;
    }
    const int tier = trigger.signal_type() == issue.signal_type() ? 1 : 2;
    if (rb.auto_generated() && tier != 1) {
      continue;  // auto-generated runbooks are reused only for their exact trigger
    }
    const auto rank =
        std::make_tuple(rb.auto_generated() ? 1 : 0, tier,
                        rb.namespace_() == issue.resource().namespace_() ? 0 : 1, key);
    if (best.runbook != nullptr && !(rank < best_rank)) {
      continue;
    }
    google::protobuf::RepeatedPtrField<v1::ActionSpec> actions = Canonical(rb.spec().steps());
    // Any runbook may say "<from-analysis>" (a person may write it too); manual runbooks
    // without it keep the literal parameters their authors wrote.
    if (Rules(config, 1)) {
      if (std::string why = FillFromAnalysis(actions, issue); !why.empty()) {
        if (SameStrategyFailedBefore(issue, actions)) {
          skipped_failed = true;  // whatever its parameters, this strategy failed for the issue
        } else {
          passed_over += fmt::format("{}{}: {}", passed_over.empty() ? "" : "; ", key, why);
        }
        continue;
      }
    }
    if (FailedBefore(issue, actions)) {
      skipped_failed = true;
      continue;
    }
    best = {&rb, rb.auto_generated() ? 3 : tier, std::move(actions)};
    best_rank = rank;
  }
  return best;
}

std::string AutoRunbookName(const v1::IssueState& issue,
                            const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  std::string canonical;
  for (const v1::ActionSpec& a : actions) {
    canonical += a.type();
    for (const v1::Param& param : a.params()) {
      canonical += fmt::format("|{}={}", param.key(), param.value());
    }
    canonical += ";";
  }
  std::string lower_kind = issue.resource().kind();
  std::transform(lower_kind.begin(), lower_kind.end(), lower_kind.begin(),
                 [](unsigned char c) { return static_cast<char>(c | 0x20); });
  return p::Dns1123Name(fmt::format("auto-{}-{}-{}-{}", issue.signal_type(), issue.severity(),
                                    lower_kind, common::Sha256Hex(canonical).substr(0, 6)));
}

std::string Truncated(const std::string& text, size_t n) {
  if (text.size() <= n) {
    return text;
  }
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0U) == 0x80U) {
    --cut;  // never split a UTF-8 sequence
  }
  return text.substr(0, cut) + "...";
}

const v1::IssueState* IssueOfPlan(const p::PipelineState& state, const v1::PlanState& plan) {
  return p::FindIssue(state, plan.issue_name());
}

int SeverityRank(std::string_view severity) {
  return severity == "critical" ? 4 : severity == "high" ? 3 : severity == "medium" ? 2 : 1;
}

// An issue's severity (DESIGN.md §4 step 2, docs/pipeline.md): from its risk; with rules 1, at
// least `critical` when an anomaly of it is labelled critical by its source, and never lower than
// it already is.
std::string IssueSeverity(const v1::PipelineConfig& config, int32_t risk,
                          const std::string& anomaly_severity, const std::string& current) {
  std::string severity = p::SeverityFromRisk(config, risk);
  if (!Rules(config, 1)) {
    return severity;
  }
  if (anomaly_severity == "critical") {
    severity = "critical";
  }
  if (!current.empty() && SeverityRank(current) > SeverityRank(severity)) {
    severity = current;
  }
  return severity;
}

// Starts `plan` if nothing makes it wait; a waiting plan is reconsidered when a cooldown
// deadline falls due or another remediation ends.
void TryStart(Events& out, const v1::PipelineConfig& config, const p::PipelineState& state,
              const v1::IssueState& issue, const v1::PlanState& plan, int64_t now_ms) {
  if (WaitReason(state, config, plan, now_ms).empty()) {
    PlanState(out, issue, plan, p::kExecuting, "");
  }
}

// Rules 1: the issue's severity rose to `severity` while its plan had not started: a plan that
// did not need approval at the old severity and needs it at the new one asks for it now.
void ReaskApproval(Events& out, const v1::PipelineConfig& config, const p::PipelineState& state,
                   const v1::IssueState& issue, const std::string& severity, int64_t now_ms) {
  if (!Rules(config, 1) || issue.state() != p::kRemediating || !config.approval().enabled()) {
    return;
  }
  const v1::PlanState* plan = p::FindPlan(state, p::PlanName(issue.name(), issue.attempt()));
  if (plan == nullptr || plan->state() != p::kPending || plan->requires_approval() ||
      plan->dry_run()) {
    return;
  }
  v1::IssueState raised = issue;
  raised.set_severity(severity);
  if (!RequiresApproval(config, raised, plan->actions())) {
    return;
  }
  v1::Event& e = Derived(out, issue.incident_id());
  v1::ApprovalRequested* r = e.mutable_approval_requested();
  r->set_plan_name(plan->name());
  r->set_reason(fmt::format("{} issue {} in namespace {} (severity rose from {})", severity,
                            issue.name(), issue.resource().namespace_(), issue.severity()));
  r->set_expires_at_ms(now_ms + config.approval().expiry_ms());
  PlanState(out, issue, *plan, p::kWaitingApproval,
            fmt::format("approval requested: the issue's severity rose from {} to {}",
                        issue.severity(), severity));
}

}  // namespace

void DecideDetection(const v1::PipelineConfig& config, const p::PipelineState& state,
                     const v1::Event& event, Events& out) {
  const v1::AlertObserved& alert = event.alert_observed();
  const std::string_view signal = p::SignalForAlertType(alert.type());
  // Views into the alert: a duplicate (most alerts) needs the keys, not a ResourceRef.
  const p::ResourceView resource = p::ResourceViewForAlert(alert, signal);
  const p::DedupId id =
      p::DedupDigest(signal, resource,
                     alert.source_object_uid().empty() ? kUnknownUid : alert.source_object_uid());
  const int64_t t = event.logical_time_ms();
  auto seen = state.dedup.find(id);
  if (seen != state.dedup.end() && seen->second.expires_at_ms > t) {
    // The anomaly's incident, kept with its entry (no second digest for each duplicate).
    std::string incident = seen->second.incident_id();
    v1::Event& e =
        Derived(out, incident.empty() ? p::IncidentId(resource, signal) : std::move(incident));
    v1::DuplicateSuppressed* d = e.mutable_duplicate_suppressed();
    d->set_first_sequence(seen->second.alert_sequence);
    d->set_dedup_key(common::ToHex(id));
    return;
  }
  std::string key = common::ToHex(id);
  v1::Event& e = Derived(out, p::IncidentId(resource, signal));
  v1::AnomalyRecorded* a = e.mutable_anomaly_recorded();
  const std::string source = alert.source().empty() ? "watcher" : alert.source();
  p::SetResourceRef(resource, *a->mutable_resource());
  a->set_anomaly_name(p::AnomalyName(source, alert.type(), a->resource(), t, key));
  a->set_signal_type(std::string(signal));
  a->set_source(source);
  a->set_severity(p::AnomalySeverity(alert.severity()));
  std::string cut;  // only for a message over the limit (most are not: no copy)
  std::string_view message = alert.message();
  if (message.size() > kDescriptionMessageChars) {
    cut = Truncated(alert.message(), kDescriptionMessageChars);
    message = cut;
  }
  a->set_description(
      message.empty()
          ? fmt::format(FMT_COMPILE("{} on {}"), alert.type(), resource.name)
          : fmt::format(FMT_COMPILE("{} on {}: {}"), alert.type(), resource.name, message));
  a->set_detected_at_ms(t);
  a->set_dedup_key(std::move(key));
  a->set_alert_sequence(event.sequence());
  (void)config;
}

void DecideCorrelation(const v1::PipelineConfig& config, const p::PipelineState& state,
                       const v1::Event& event, Events& out) {
  const v1::AnomalyRecorded& anomaly = event.anomaly_recorded();
  fmt::memory_buffer key_buffer;  // the lookup key, on the stack
  const std::string_view key = p::ResourceKeyIn(anomaly.resource(), key_buffer);
  const int64_t t = event.logical_time_ms();
  auto correlate = [&](const v1::IssueState& issue, int32_t risk, const std::string& severity,
                       const char* reason) {
    v1::Event& e = Derived(out, issue.incident_id());
    v1::AnomalyCorrelated* c = e.mutable_anomaly_correlated();
    c->set_anomaly_name(anomaly.anomaly_name());
    c->set_issue_name(issue.name());
    c->set_risk_score(risk);
    c->set_severity(severity);
    c->set_dedup_key(anomaly.dedup_key());
    c->set_signal_type(anomaly.signal_type());
    c->set_reason(reason);
  };
  // 1. The resource's open issue, while its last anomaly is within the window.
  auto open = state.open_issue.find(key);
  if (open != state.open_issue.end()) {
    const v1::IssueState* issue = p::FindIssue(state, open->second);
    if (issue != nullptr && t - issue->last_anomaly_ms() <= config.correlation_window_ms()) {
      const int32_t risk = std::min(
          config.risk_cap(), issue->risk_score() + p::RiskWeight(config, anomaly.signal_type()));
      const std::string severity =
          IssueSeverity(config, risk, anomaly.severity(), issue->severity());
      correlate(*issue, risk, severity, "window");
      if (severity != issue->severity()) {
        ReaskApproval(out, config, state, *issue, severity, t);
      }
      return;
    }
  }
  // 2. Right after a resolution, the resource is given time to settle: no new issue.
  auto history = state.history.find(key);
  if (history != state.history.end() && history->second.resolved_size() > 0) {
    const v1::ResolvedIssue& last = *history->second.resolved().rbegin();
    const v1::IssueState* resolved = p::FindIssue(state, last.issue_name());
    if (resolved != nullptr && t - last.resolved_at_ms() < config.resolution_cooldown_ms()) {
      correlate(*resolved, resolved->risk_score(), resolved->severity(), "resolution_cooldown");
      return;
    }
  }
  // 3. After an escalation the resource is held (rules 1): what fails there joins the escalated
  // issue, which a person owns now, instead of opening a new issue that would analyse and try
  // again what already failed. The hold ends once no anomaly came for escalation_hold_ms (the
  // condition cleared) or when a person re-arms the issue.
  if (Rules(config, 1) && config.escalation_hold_ms() > 0 && history != state.history.end()) {
    const v1::IssueState* last = p::FindIssue(state, history->second.last_issue());
    if (last != nullptr && last->state() == p::kEscalated && !last->rearmed() &&
        t - std::max(last->last_anomaly_ms(), last->ended_at_ms()) < config.escalation_hold_ms()) {
      correlate(*last, last->risk_score(), last->severity(), "escalation_hold");
      return;
    }
  }
  // 4. A new issue, linked to the resource's previous one.
  std::string name = p::IssueName(anomaly.resource(), anomaly.signal_type(), t);
  if (state.issues.count(name) > 0) {
    name = p::Dns1123Name(fmt::format("{}-{}", name, anomaly.dedup_key().substr(0, 6)));
  }
  int32_t recurrences = 0;
  std::string previous;
  if (history != state.history.end()) {
    previous = history->second.last_issue();
    for (const v1::ResolvedIssue& r : history->second.resolved()) {
      recurrences += t - r.resolved_at_ms() <= config.recurrence_window_ms() ? 1 : 0;
    }
  }
  const int32_t risk = std::min(config.risk_cap(), p::RiskWeight(config, anomaly.signal_type()));
  v1::Event& e = Derived(out, p::IncidentId(anomaly.resource(), anomaly.signal_type()));
  v1::IssueOpened* o = e.mutable_issue_opened();
  o->set_issue_name(name);
  *o->mutable_resource() = anomaly.resource();
  o->set_signal_type(anomaly.signal_type());
  o->set_severity(IssueSeverity(config, risk, anomaly.severity(), ""));
  o->set_risk_score(risk);
  o->set_description(fmt::format(FMT_COMPILE("Correlated incident: {} on {}"),
                                 anomaly.signal_type(), anomaly.resource().name()));
  o->set_detected_at_ms(t);
  o->set_source(anomaly.source());
  o->set_previous_issue(previous);
  o->set_recurrence_count(recurrences);
  o->set_max_remediation_attempts(config.max_remediation_attempts());
  o->set_anomaly_name(anomaly.anomaly_name());
  o->set_dedup_key(anomaly.dedup_key());
}

void DecideIssueOpened(const v1::PipelineConfig& config, const p::PipelineState& state,
                       const v1::Event& event, Events& out) {
  const v1::IssueState* issue = p::FindIssue(state, event.issue_opened().issue_name());
  if (issue == nullptr || issue->state() != p::kDetected) {
    return;
  }
  if (issue->recurrence_count() >= config.recurrence_limit()) {
    Escalate(out, *issue, p::kDetected, "recurrence_limit",
             fmt::format("{} issues on {} were resolved within the last {} min; it keeps coming "
                         "back, so a person should look",
                         issue->recurrence_count(), p::ResourceKey(issue->resource()),
                         config.recurrence_window_ms() / 60'000));
    return;
  }
  IssueState(out, *issue, p::kDetected, p::kAnalyzing, "analysis requested");
  RequestAnalysis(out, *issue, 1, {});
}

void DecideRemediation(const v1::PipelineConfig& config, const p::PipelineState& state,
                       const v1::Event& event, Events& out) {
  const std::string& issue_name = event.has_analysis_completed()
                                      ? event.analysis_completed().issue_name()
                                      : event.analysis_failed().issue_name();
  const v1::IssueState* issue = p::FindIssue(state, issue_name);
  if (issue == nullptr || issue->state() != p::kAnalyzing ||
      issue->analysis_attempt() != issue->attempt()) {
    return;  // stale: an answer for an earlier attempt or an ended issue
  }
  bool skipped_failed = false;
  std::string passed_over;
  Choice choice = ChooseRunbook(config, state, *issue, skipped_failed, passed_over);
  google::protobuf::RepeatedPtrField<v1::ActionSpec> actions;
  std::string runbook_name;
  std::string runbook_namespace = issue->resource().namespace_();
  std::string description;
  if (choice.runbook != nullptr) {
    actions = std::move(choice.actions);
    runbook_name = choice.runbook->name();
    runbook_namespace = choice.runbook->namespace_();
    description = choice.runbook->spec().description();
  } else if (!issue->analysis_failed() && issue->analysis().suggested_actions_size() > 0) {
    actions = Canonical(issue->analysis().suggested_actions());
    if (FailedBefore(*issue, actions)) {
      skipped_failed = true;
      actions.Clear();
    } else {
      // Rules 1: the runbook stores (and is named by) its relative steps, so it is reused for
      // the same strategy on any workload.
      const google::protobuf::RepeatedPtrField<v1::ActionSpec> steps =
          Rules(config, 1) ? RelativeSteps(actions) : actions;
      runbook_name = AutoRunbookName(*issue, steps);
      auto existing = state.runbooks.find(p::RunbookKey(runbook_namespace, runbook_name));
      if (existing != state.runbooks.end() && existing->second.retired()) {
        actions.Clear();  // a person retired this runbook: it is not recreated
      } else if (existing == state.runbooks.end()) {
        v1::Event& g = Derived(out, issue->incident_id());
        v1::RunbookGenerated* gen = g.mutable_runbook_generated();
        gen->set_name(runbook_name);
        gen->set_namespace_(runbook_namespace);
        gen->set_issue_name(issue->name());
        v1::RunbookSpec* spec = gen->mutable_spec();
        spec->set_description(
            fmt::format("Auto-generated from the AI analysis of issue {}", issue->name()));
        spec->mutable_trigger()->set_signal_type(issue->signal_type());
        spec->mutable_trigger()->set_severity(issue->severity());
        spec->mutable_trigger()->set_resource_kind(issue->resource().kind());
        *spec->mutable_steps() = steps;
        description = spec->description();
      }
      choice.tier = 3;
    }
  }
  if (actions.empty()) {
    const std::string why =
        skipped_failed ? "every runbook and suggestion repeats a plan that already failed"
        : issue->analysis_failed()
            ? fmt::format("no runbook matches and the analysis failed: {}", issue->analysis_error())
            : "no runbook matches and the analysis suggested no action";
    Escalate(out, *issue, p::kAnalyzing, skipped_failed ? "no_new_strategy" : "no_runbook",
             passed_over.empty() ? why : fmt::format("{} (passed over: {})", why, passed_over));
    return;
  }
  v1::Event& m = Derived(out, issue->incident_id());
  v1::RunbookMatched* matched = m.mutable_runbook_matched();
  matched->set_issue_name(issue->name());
  matched->set_attempt(issue->attempt());
  matched->set_runbook_name(runbook_name);
  matched->set_runbook_namespace(runbook_namespace);
  matched->set_tier(choice.tier);
  matched->set_passed_over(passed_over);

  v1::Event& c = Derived(out, issue->incident_id());
  v1::PlanCreated* plan = c.mutable_plan_created();
  plan->set_plan_name(p::PlanName(issue->name(), issue->attempt()));
  plan->set_issue_name(issue->name());
  plan->set_attempt(issue->attempt());
  plan->set_runbook_name(runbook_name);
  const std::string& analysis = issue->analysis().analysis();
  plan->set_strategy(fmt::format(
      "Attempt {} via runbook '{}'. {}", issue->attempt(), runbook_name,
      analysis.empty() ? description
                       : "AI analysis: " + Truncated(analysis, kStrategyAnalysisChars)));
  *plan->mutable_actions() = actions;
  for (const char* constraint :
       {"No delete operations", "No destructive changes", "Rollback on failure"}) {
    plan->add_safety_constraints(constraint);
  }
  plan->set_dry_run(IsDryRun(config, *issue, runbook_name));
  plan->set_requires_approval(RequiresApproval(config, *issue, actions));
  IssueState(out, *issue, p::kAnalyzing, p::kRemediating,
             fmt::format("plan {} via runbook {}", p::PlanName(issue->name(), issue->attempt()),
                         runbook_name));
}

void DecidePlanStart(const v1::PipelineConfig& config, const p::PipelineState& state,
                     const v1::Event& event, Events& out) {
  const v1::PlanState* plan = p::FindPlan(state, event.plan_created().plan_name());
  if (plan == nullptr || plan->state() != p::kPending) {
    return;
  }
  const v1::IssueState* issue = IssueOfPlan(state, *plan);
  if (issue == nullptr || issue->state() != p::kRemediating) {
    return;
  }
  const std::string blocked = BlockedReason(config, *issue, plan->actions());
  if (plan->dry_run()) {
    // A dry run sends every action to the API server with dryRun=All: the server validates
    // and admits each change without persisting it. It needs no approval and holds no slot
    // (it changes nothing), but what the policy blocks is not even sent. Nothing is retried:
    // the issue is escalated so that a person acts (DESIGN.md §4).
    if (!blocked.empty()) {
      Escalate(out, *issue, p::kRemediating, "dry_run",
               fmt::format("plan {} (dry run) is blocked by the safety policy: {}; a person acts",
                           plan->name(), blocked));
      PlanState(out, *issue, *plan, p::kFailed,
                "dry-run: not sent, blocked by the safety policy: " + blocked);
      return;
    }
    PlanState(out, *issue, *plan, p::kExecuting,
              "dry run: each action is sent with dryRun=All; nothing is changed");
    return;
  }
  if (!blocked.empty()) {
    PlanState(out, *issue, *plan, p::kFailed, "blocked by the safety policy: " + blocked);
    return;
  }
  if (plan->requires_approval()) {
    v1::Event& e = Derived(out, issue->incident_id());
    v1::ApprovalRequested* r = e.mutable_approval_requested();
    r->set_plan_name(plan->name());
    r->set_reason(fmt::format("{} issue {} in namespace {}", issue->severity(), issue->name(),
                              issue->resource().namespace_()));
    r->set_expires_at_ms(event.logical_time_ms() + config.approval().expiry_ms());
    PlanState(out, *issue, *plan, p::kWaitingApproval, "approval requested");
    return;
  }
  TryStart(out, config, state, *issue, *plan, event.logical_time_ms());
}

void DecideApproval(const v1::PipelineConfig& config, const p::PipelineState& state,
                    const v1::Event& event, Events& out) {
  const bool granted = event.has_approval_granted();
  const std::string& plan_name =
      granted ? event.approval_granted().plan_name() : event.approval_rejected().plan_name();
  const v1::PlanState* plan = p::FindPlan(state, plan_name);
  if (plan == nullptr || plan->state() != p::kWaitingApproval) {
    return;
  }
  const v1::IssueState* issue = IssueOfPlan(state, *plan);
  if (issue == nullptr) {
    return;
  }
  if (granted) {
    // Rules 1: waiting for the approval held no slot, so the approved plan may have to wait for
    // one (or for its resource's cooldown) like any other plan.
    const std::string wait =
        Rules(config, 1) ? WaitReason(state, config, *plan, event.logical_time_ms()) : "";
    if (!wait.empty()) {
      PlanState(
          out, *issue, *plan, p::kPending,
          fmt::format("approved by {}; waiting: {}", event.approval_granted().approver(), wait));
      return;
    }
    PlanState(out, *issue, *plan, p::kExecuting,
              fmt::format("approved by {}", event.approval_granted().approver()));
    return;
  }
  const v1::ApprovalRejected& r = event.approval_rejected();
  // A rejection ends the issue: a person said no, so nothing is retried.
  Escalate(out, *issue, p::kRemediating, "approval_rejected",
           fmt::format("plan {} rejected by {}: {}", plan->name(), r.approver(), r.reason()));
  PlanState(out, *issue, *plan, p::kFailed,
            fmt::format("approval rejected by {}: {}", r.approver(), r.reason()));
  (void)config;
}

void DecideExecution(const v1::PipelineConfig& config, const p::PipelineState& state,
                     const v1::Event& event, Events& out) {
  const bool succeeded = event.has_action_succeeded();
  const std::string& plan_name =
      succeeded ? event.action_succeeded().plan_name() : event.action_failed().plan_name();
  const v1::PlanState* plan = p::FindPlan(state, plan_name);
  if (plan == nullptr || plan->state() != p::kExecuting) {
    return;
  }
  const v1::IssueState* issue = IssueOfPlan(state, *plan);
  if (issue == nullptr) {
    return;
  }
  if (!succeeded) {
    const v1::ActionFailed& f = event.action_failed();
    const std::string type =
        f.index() >= 0 && f.index() < plan->actions_size() ? plan->actions(f.index()).type() : "";
    if (plan->dry_run()) {
      // The server refused a change it was only asked to validate: the plan would fail for
      // real. Nothing was changed, so there is nothing to roll back and nothing is retried.
      Escalate(out, *issue, p::kRemediating, "dry_run",
               fmt::format("plan {} (dry run): the API server refused action {} ({}): {}; a "
                           "person acts",
                           plan->name(), f.index() + 1, type, f.error()));
      PlanState(out, *issue, *plan, p::kFailed,
                fmt::format("dry-run: no changes made; action {} ({}) was refused: {}",
                            f.index() + 1, type, f.error()));
      return;
    }
    PlanState(out, *issue, *plan, p::kFailed,
              fmt::format("action {} ({}) failed: {}", f.index() + 1, type, f.error()));
    return;
  }
  const bool all_done = plan->results_size() == plan->actions_size() &&
                        std::all_of(plan->results().begin(), plan->results().end(),
                                    [](const v1::ActionResult& r) { return r.succeeded(); });
  if (all_done && plan->dry_run()) {
    // Verification is skipped: nothing changed, so there is nothing to verify.
    PlanState(out, *issue, *plan, p::kCompleted,
              fmt::format("dry-run: no changes made (the API server accepted all {} actions "
                          "with dryRun=All)",
                          plan->actions_size()));
    Escalate(
        out, *issue, p::kRemediating, "dry_run",
        fmt::format("plan {} ran as a dry run and changed nothing; a person acts", plan->name()));
    return;
  }
  if (all_done) {
    PlanState(out, *issue, *plan, p::kVerifying,
              fmt::format("{} actions applied; verifying the rollout", plan->actions_size()));
  }
  (void)config;
}

void DecideVerification(const v1::PipelineConfig& config, const p::PipelineState& state,
                        const v1::Event& event, Events& out) {
  const bool passed = event.has_verification_passed();
  const std::string& plan_name =
      passed ? event.verification_passed().plan_name() : event.verification_failed().plan_name();
  const v1::PlanState* plan = p::FindPlan(state, plan_name);
  if (plan == nullptr || plan->state() != p::kVerifying) {
    return;
  }
  const v1::IssueState* issue = IssueOfPlan(state, *plan);
  if (issue == nullptr) {
    return;
  }
  if (!passed) {
    PlanState(out, *issue, *plan, p::kFailed,
              "verification failed: " + event.verification_failed().reason());
    return;
  }
  const std::string summary =
      event.verification_passed().summary().empty()
          ? fmt::format("Remediation verified: {} is healthy", p::ResourceKey(issue->resource()))
          : event.verification_passed().summary();
  PlanState(out, *issue, *plan, p::kCompleted, summary);
  if (issue->state() == p::kRemediating) {
    v1::Event& e = Derived(out, issue->incident_id());
    v1::IssueResolved* r = e.mutable_issue_resolved();
    r->set_issue_name(issue->name());
    r->set_plan_name(plan->name());
    r->set_summary(summary);
    IssueState(out, *issue, p::kRemediating, p::kResolved, summary);
  }
  (void)config;
}

void DecidePlanEnded(const v1::PipelineConfig& config, const p::PipelineState& state,
                     const v1::Event& event, Events& out) {
  const v1::PlanStateChanged& changed = event.plan_state_changed();
  const v1::PlanState* plan = p::FindPlan(state, changed.plan_name());
  if (plan == nullptr) {
    return;
  }
  const v1::IssueState* issue = IssueOfPlan(state, *plan);
  // A failed plan whose preflight snapshot is being restored ends when it is rolled back.
  const bool attempt_over =
      changed.to_state() == p::kRolledBack ||
      (changed.to_state() == p::kFailed && !(plan->preflight_recorded() && !plan->rolled_back()));
  if (attempt_over && issue != nullptr && issue->state() == p::kRemediating &&
      issue->attempt() == plan->attempt()) {
    google::protobuf::RepeatedPtrField<v1::AttemptFailure> failures = issue->failures();
    v1::AttemptFailure* f = failures.Add();
    f->set_attempt(plan->attempt());
    f->set_plan_name(plan->name());
    f->set_strategy(plan->strategy());
    *f->mutable_actions() = plan->actions();
    f->set_failure(plan->result());
    if (issue->attempt() < issue->max_attempts()) {
      IssueState(out, *issue, p::kRemediating, p::kAnalyzing,
                 fmt::format("attempt {} failed ({}); re-analysing for a different strategy",
                             issue->attempt(), plan->result()));
      RequestAnalysis(out, *issue, issue->attempt() + 1, failures);
    } else {
      Escalate(out, *issue, p::kRemediating, "max_attempts",
               fmt::format("{} of {} attempts failed; last: {}", issue->attempt(),
                           issue->max_attempts(), plan->result()));
    }
  }
  // A plan that ended frees a remediation slot: start the oldest plans that were waiting. (With
  // rules 1 a plan rejected while waiting for approval held none.)
  if (p::IsTerminalPlanState(changed.to_state()) && changed.from_state() != p::kPending &&
      !(Rules(config, 1) && changed.from_state() == p::kWaitingApproval)) {
    std::vector<const v1::PlanState*> waiting;
    for (const auto& [name, other] : state.plans) {
      if (other.state() == p::kPending) {
        waiting.push_back(&other);
      }
    }
    std::sort(waiting.begin(), waiting.end(), [](const v1::PlanState* a, const v1::PlanState* b) {
      return std::make_tuple(a->created_at_ms(), a->name()) <
             std::make_tuple(b->created_at_ms(), b->name());
    });
    for (const v1::PlanState* w : waiting) {
      const v1::IssueState* owner = IssueOfPlan(state, *w);
      // A plan that needs approval waits here only once approved (rules 1).
      const bool approved = !w->requires_approval() || (Rules(config, 1) && !w->approver().empty());
      if (owner != nullptr && owner->state() == p::kRemediating && !w->dry_run() && approved &&
          BlockedReason(config, *owner, w->actions()).empty()) {
        const size_t before = out.size();
        TryStart(out, config, state, *owner, *w, event.logical_time_ms());
        if (out.size() > before) {
          break;  // one at a time: the next ends-of-plan starts the next
        }
      }
    }
  }
}

void DecideDeadline(const v1::PipelineConfig& config, const p::PipelineState& state,
                    const v1::Event& event, Events& out) {
  const v1::DeadlineReached& d = event.deadline_reached();
  const v1::PlanState* plan = p::FindPlan(state, d.target());
  if (plan == nullptr) {
    return;
  }
  const v1::IssueState* issue = IssueOfPlan(state, *plan);
  if (issue == nullptr) {
    return;
  }
  const int64_t t = event.logical_time_ms();
  if (d.kind() == "approval" && plan->state() == p::kWaitingApproval &&
      t >= plan->approval_expires_at_ms()) {
    v1::Event& e = Derived(out, issue->incident_id());
    v1::ApprovalRejected* r = e.mutable_approval_rejected();
    r->set_plan_name(plan->name());
    r->set_approver("system:expired");
    r->set_reason("no answer before the approval expired");
    r->set_channel("deadline");
  } else if (d.kind() == "verification" && plan->state() == p::kVerifying &&
             t >= plan->verification_due_ms()) {
    v1::Event& e = Derived(out, issue->incident_id());
    v1::VerificationFailed* f = e.mutable_verification_failed();
    f->set_plan_name(plan->name());
    f->set_issue_name(issue->name());
    f->set_reason(fmt::format("{} was not healthy within the {} s verification window",
                              p::ResourceKey(issue->resource()),
                              config.verification_window_ms() / 1000));
  } else if (d.kind() == "cooldown" && plan->state() == p::kPending &&
             issue->state() == p::kRemediating) {
    TryStart(out, config, state, *issue, *plan, t);
  }
}

void Decide(const v1::PipelineConfig& config, const p::PipelineState& state, const v1::Event& event,
            Events& out) {
  switch (event.payload_case()) {
    case v1::Event::kAlertObserved:
      DecideDetection(config, state, event, out);
      return;
    case v1::Event::kAnomalyRecorded:
      DecideCorrelation(config, state, event, out);
      return;
    case v1::Event::kIssueOpened:
      DecideIssueOpened(config, state, event, out);
      return;
    case v1::Event::kAnalysisCompleted:
    case v1::Event::kAnalysisFailed:
      DecideRemediation(config, state, event, out);
      return;
    case v1::Event::kPlanCreated:
      DecidePlanStart(config, state, event, out);
      return;
    case v1::Event::kApprovalGranted:
    case v1::Event::kApprovalRejected:
      DecideApproval(config, state, event, out);
      return;
    case v1::Event::kActionSucceeded:
    case v1::Event::kActionFailed:
      DecideExecution(config, state, event, out);
      return;
    case v1::Event::kPlanRolledBack: {
      const v1::PlanState* plan = p::FindPlan(state, event.plan_rolled_back().plan_name());
      const v1::IssueState* issue = plan != nullptr ? IssueOfPlan(state, *plan) : nullptr;
      if (issue != nullptr && plan->state() == p::kFailed && !plan->rolled_back()) {
        PlanState(
            out, *issue, *plan, p::kRolledBack,
            fmt::format("{}; rolled back: {}", plan->result(), event.plan_rolled_back().summary()));
      }
      return;
    }
    case v1::Event::kVerificationPassed:
    case v1::Event::kVerificationFailed:
      DecideVerification(config, state, event, out);
      return;
    case v1::Event::kPlanStateChanged:
      DecidePlanEnded(config, state, event, out);
      return;
    case v1::Event::kDeadlineReached:
      DecideDeadline(config, state, event, out);
      return;
    default:
      return;
  }
}

}  // namespace aiops::stages
