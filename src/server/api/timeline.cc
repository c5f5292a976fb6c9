#include "server/api/timeline.h"

#include <algorithm>
#include <set>
#include <utility>

#include <absl/time/time.h>
#include <fmt/format.h>

#include "eventlog/record.h"

namespace aiops::api {
namespace {

constexpr size_t kTextMax = 100;  // free text (messages, analyses) in a summary line

// `text` on one line, cut to `max` characters with "...".
std::string OneLine(std::string_view text, size_t max = kTextMax) {
  std::string out;
  out.reserve(std::min(text.size(), max + 3));
  bool space = false;
  for (const char c : text) {
    const bool blank = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (blank) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    if (out.size() >= max) {
      out += "...";
      return out;
    }
    out.push_back(c);
  }
  return out;
}

std::string Resource(const v1::ResourceRef& r) {
  if (r.name().empty()) {
    return "(unknown resource)";
  }
  return fmt::format("{}{}/{}", r.kind().empty() ? "" : r.kind() + " ",
                     r.namespace_().empty() ? "default" : r.namespace_(), r.name());
}

std::string Actions(const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  if (actions.empty()) {
    return "no actions";
  }
  std::string out;
  for (const v1::ActionSpec& a : actions) {
    if (!out.empty()) {
      out += ", ";
    }
    out += a.type().empty() ? a.name() : a.type();
    if (!a.params().empty()) {
      out += "(";
      for (int i = 0; i < a.params_size(); ++i) {
        out += fmt::format("{}{}={}", i == 0 ? "" : " ", a.params(i).key(),
                           OneLine(a.params(i).value(), 40));
      }
      out += ")";
    }
  }
  return out;
}

// ": text" when `text` is not empty.
std::string Detail(std::string_view text) {
  return text.empty() ? std::string() : fmt::format(": {}", OneLine(text));
}

std::string Summary(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kAlertObserved: {
      const auto& a = e.alert_observed();
      const std::string target = a.deployment().empty() ? a.object() : a.deployment();
      return fmt::format("alert {} ({}) on {}/{} from {}{}", a.type(),
                         a.severity().empty() ? "no severity" : a.severity(),
                         a.namespace_().empty() ? "default" : a.namespace_(),
                         target.empty() ? "?" : target, a.source().empty() ? "?" : a.source(),
                         Detail(a.message()));
    }
    case v1::Event::kDuplicateSuppressed:
      return fmt::format("duplicate alert suppressed (first seen at #{})",
                         e.duplicate_suppressed().first_sequence());
    case v1::Event::kAnomalyRecorded: {
      const auto& a = e.anomaly_recorded();
      return fmt::format("anomaly {} recorded: {} ({}) on {}", a.anomaly_name(), a.signal_type(),
                         a.severity(), Resource(a.resource()));
    }
    case v1::Event::kIssueOpened: {
      const auto& i = e.issue_opened();
      std::string text =
          fmt::format("issue {} opened: {} on {}, severity {}, risk {}", i.issue_name(),
                      i.signal_type(), Resource(i.resource()), i.severity(), i.risk_score());
      if (!i.previous_issue().empty()) {
        text += fmt::format(" (recurs after {}, {} recurrence(s) in the last hour)",
                            i.previous_issue(), i.recurrence_count());
      }
      return text;
    }
    case v1::Event::kAnomalyCorrelated: {
      const auto& c = e.anomaly_correlated();
      if (c.reason() == "resolution_cooldown") {
        return fmt::format("anomaly {} ({}) suppressed: {} was just resolved", c.anomaly_name(),
                           c.signal_type(), c.issue_name());
      }
      return fmt::format("anomaly {} ({}) joined {}: severity {}, risk {}", c.anomaly_name(),
                         c.signal_type(), c.issue_name(), c.severity(), c.risk_score());
    }
    case v1::Event::kIssueStateChanged: {
      const auto& c = e.issue_state_changed();
      return fmt::format("issue {} {} -> {}{}", c.issue_name(), c.from_state(), c.to_state(),
                         Detail(c.reason()));
    }
    case v1::Event::kAnalysisRequested: {
      const auto& r = e.analysis_requested();
      return fmt::format("analysis of {} requested (attempt {}{}{})", r.issue_name(), r.attempt(),
                         r.analyzer().empty() ? "" : ", analyzer " + r.analyzer(),
                         r.previous_failures().empty()
                             ? ""
                             : fmt::format(", {} earlier failure(s)", r.previous_failures_size()));
    }
    case v1::Event::kContextCollected: {
      const auto& c = e.context_collected();
      return fmt::format("context collected for {} (attempt {}, {} bytes{}){}", c.issue_name(),
                         c.attempt(), c.context().size(),
                         c.current_replicas() > 0
                             ? fmt::format(", {} replicas", c.current_replicas())
                             : std::string(),
                         c.error().empty() ? "" : "; partial: " + OneLine(c.error()));
    }
    case v1::Event::kAnalysisCompleted: {
      const auto& a = e.analysis_completed();
      return fmt::format("analysis of {} by {}{} (confidence {:.2f}{}): suggests {}{}",
                         a.issue_name(), a.provider().empty() ? "?" : a.provider(),
                         a.model().empty() ? "" : "/" + a.model(), a.confidence(),
                         a.fallback() ? ", fallback rules" : "", Actions(a.suggested_actions()),
                         Detail(a.analysis()));
    }
    case v1::Event::kAnalysisFailed: {
      const auto& f = e.analysis_failed();
      return fmt::format("analysis of {} failed (attempt {}, {}{}){}", f.issue_name(), f.attempt(),
                         f.provider().empty() ? "?" : f.provider(),
                         f.retryable() ? ", retryable" : "", Detail(f.error()));
    }
    case v1::Event::kRunbookObserved: {
      const auto& r = e.runbook_observed();
      return fmt::format("runbook {}/{} observed{}", r.namespace_(), r.name(),
                         r.auto_generated() ? " (auto-generated)" : "");
    }
    case v1::Event::kRunbookDeleted:
      return fmt::format("runbook {}/{} deleted", e.runbook_deleted().namespace_(),
                         e.runbook_deleted().name());
    case v1::Event::kRunbookRetired:
      return fmt::format("runbook {}/{} retired (deleted by a person)",
                         e.runbook_retired().namespace_(), e.runbook_retired().name());
    case v1::Event::kRunbookMatched: {
      const auto& m = e.runbook_matched();
      return fmt::format("runbook {}/{} matched {} (attempt {}, tier {}){}", m.runbook_namespace(),
                         m.runbook_name(), m.issue_name(), m.attempt(), m.tier(),
                         m.passed_over().empty() ? "" : "; passed over " + m.passed_over());
    }
    case v1::Event::kRunbookGenerated: {
      const auto& g = e.runbook_generated();
      return fmt::format("runbook {}/{} generated from {}: {}", g.namespace_(), g.name(),
                         g.issue_name(), Actions(g.spec().steps()));
    }
    case v1::Event::kPlanCreated: {
      const auto& p = e.plan_created();
      return fmt::format("plan {} created for {} (attempt {}{}{}): {}", p.plan_name(),
                         p.issue_name(), p.attempt(), p.dry_run() ? ", dry run" : "",
                         p.requires_approval() ? ", needs approval" : "", Actions(p.actions()));
    }
    case v1::Event::kApprovalRequested: {
      const auto& r = e.approval_requested();
      return fmt::format("approval of {} requested{}{}", r.plan_name(), Detail(r.reason()),
                         r.expires_at_ms() > 0
                             ? fmt::format(" (expires {})", FormatTimeMs(r.expires_at_ms()))
                             : std::string());
    }
    case v1::Event::kApprovalGranted: {
      const auto& g = e.approval_granted();
      return fmt::format("plan {} approved by {} via {}{}", g.plan_name(), g.approver(),
                         g.channel().empty() ? "?" : g.channel(), Detail(g.reason()));
    }
    case v1::Event::kApprovalRejected: {
      const auto& r = e.approval_rejected();
      return fmt::format("plan {} rejected by {}{}{}", r.plan_name(), r.approver(),
                         r.channel().empty() ? "" : " via " + r.channel(), Detail(r.reason()));
    }
    case v1::Event::kPreflightSnapshot: {
      const auto& s = e.preflight_snapshot();
      return fmt::format("preflight snapshot of {} for {} ({} replicas)", Resource(s.resource()),
                         s.plan_name(), s.replicas());
    }
    case v1::Event::kActionStarted: {
      const auto& s = e.action_started();
      return fmt::format("action {} of {} started: {}", s.index(), s.plan_name(),
                         Actions(google::protobuf::RepeatedPtrField<v1::ActionSpec>(
                             &s.action(), &s.action() + 1)));
    }
    case v1::Event::kActionSucceeded: {
      const auto& s = e.action_succeeded();
      return fmt::format("action {} of {} succeeded{}{}", s.index(), s.plan_name(),
                         s.already_applied() ? " (already applied)" : "", Detail(s.summary()));
    }
    case v1::Event::kActionFailed: {
      const auto& f = e.action_failed();
      return fmt::format("action {} of {} failed{}{}", f.index(), f.plan_name(),
                         f.blocked_by_safety() ? " (blocked by the safety policy)" : "",
                         Detail(f.error()));
    }
    case v1::Event::kPlanRolledBack: {
      const auto& r = e.plan_rolled_back();
      return fmt::format("plan {} rolled back{}", r.plan_name(), Detail(r.reason()));
    }
    case v1::Event::kVerificationPassed: {
      const auto& v = e.verification_passed();
      return fmt::format("plan {} verified{}", v.plan_name(), Detail(v.summary()));
    }
    case v1::Event::kVerificationFailed: {
      const auto& v = e.verification_failed();
      return fmt::format("verification of {} failed{}", v.plan_name(), Detail(v.reason()));
    }
    case v1::Event::kIssueResolved: {
      const auto& r = e.issue_resolved();
      return fmt::format("issue {} resolved by {}{}", r.issue_name(), r.plan_name(),
                         Detail(r.summary()));
    }
    case v1::Event::kIssueEscalated: {
      const auto& x = e.issue_escalated();
      return fmt::format("issue {} escalated ({}){}", x.issue_name(), x.reason(),
                         Detail(x.detail()));
    }
    case v1::Event::kDeadlineReached: {
      const auto& d = e.deadline_reached();
      return fmt::format("{} deadline of {} reached (due {})", d.kind(), d.target(),
                         FormatTimeMs(d.due_at_ms()));
    }
    case v1::Event::kConfigChanged: {
      const auto& c = e.config_changed();
      return fmt::format(
          "configuration changed (from {}{})", c.source().empty() ? "?" : c.source(),
          c.config_sha256().empty() ? "" : ", sha256 " + c.config_sha256().substr(0, 12));
    }
    case v1::Event::kPlanStateChanged: {
      const auto& c = e.plan_state_changed();
      return fmt::format("plan {} {} -> {}{}", c.plan_name(), c.from_state(), c.to_state(),
                         Detail(c.reason()));
    }
    case v1::Event::kInstanceSpecObserved: {
      const auto& o = e.instance_spec_observed();
      return fmt::format("Instance {}/{} generation {} observed (spec sha256 {})", o.namespace_(),
                         o.name(), o.generation(), o.spec_sha256().substr(0, 12));
    }
    case v1::Event::kIssueRearmed: {
      const auto& r = e.issue_rearmed();
      return fmt::format("issue {} re-armed by {} (via {}){}", r.issue_name(), r.by(),
                         r.channel().empty() ? "?" : r.channel(), Detail(r.reason()));
    }
    case v1::Event::kLogSalvaged: {
      const auto& l = e.log_salvaged();
      return fmt::format("log salvaged after sequence {}: {}; lost: {} (damaged files kept in {})",
                         l.last_intact_sequence(), l.damage(), l.lost(), l.damaged_copy());
    }
    case v1::Event::kMirrorObjectParked: {
      const auto& m = e.mirror_object_parked();
      return fmt::format("{} parked by the CR mirror: the API server refused it: {}", m.object(),
                         m.error());
    }
    case v1::Event::PAYLOAD_NOT_SET:
      break;
  }
  return "event without a known payload";
}

}  // namespace

std::string FormatTimeMs(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

std::string EventSummary(const v1::Event& event) {
  // Summaries assemble free text from events: keep the promise of one line.
  std::string summary = Summary(event);
  std::replace_if(
      summary.begin(), summary.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return summary;
}

v1::TimelineEntry ToTimelineEntry(const v1::Event& event, bool cause) {
  v1::TimelineEntry entry;
  entry.set_sequence(event.sequence());
  entry.set_logical_time_ms(event.logical_time_ms());
  entry.set_type(std::string(eventlog::PayloadName(event)));
  entry.set_causation_sequence(event.causation_sequence());
  entry.set_summary(EventSummary(event));
  entry.set_producer(event.producer());
  entry.set_cause(cause);
  return entry;
}

absl::StatusOr<std::vector<v1::TimelineEntry>> ReadTimeline(const eventlog::EventLog& log,
                                                            const std::string& incident_id,
                                                            uint64_t max_sequence) {
  // Consecutive sequences are read in one call: derived events of one input are adjacent.
  absl::StatusOr<std::vector<v1::Event>> read =
      eventlog::ReadIncidentEvents(log, incident_id, 0, max_sequence);
  if (!read.ok()) {
    return read.status();
  }
  const uint64_t first = log.FirstSequence();
  std::set<uint64_t> indexed;
  for (const v1::Event& e : *read) {
    indexed.insert(e.sequence());
  }
  std::vector<std::pair<v1::Event, bool>> events;
  events.reserve(read->size());
  std::set<uint64_t> causes;
  for (v1::Event& e : *read) {
    const uint64_t cause = e.causation_sequence();
    if (cause != 0 && cause >= first && !indexed.contains(cause)) {
      causes.insert(cause);
    }
    events.emplace_back(std::move(e), false);
  }
  for (const uint64_t cause : causes) {
    absl::StatusOr<std::vector<v1::Event>> cause_event = log.Read(cause, 1);
    if (!cause_event.ok()) {
      return cause_event.status();
    }
    for (v1::Event& e : *cause_event) {
      events.emplace_back(std::move(e), true);
    }
  }
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a.first.sequence() < b.first.sequence(); });
  std::vector<v1::TimelineEntry> timeline;
  timeline.reserve(events.size());
  for (const auto& [event, cause] : events) {
    timeline.push_back(ToTimelineEntry(event, cause));
  }
  return timeline;
}

std::vector<std::string> RenderTimeline(const std::vector<v1::TimelineEntry>& timeline) {
  std::vector<std::string> lines;
  lines.reserve(timeline.size());
  for (const v1::TimelineEntry& entry : timeline) {
    std::string line =
        fmt::format("#{:<7} {}  {:<21} {}", entry.sequence(), FormatTimeMs(entry.logical_time_ms()),
                    entry.type(), entry.summary());
    if (entry.causation_sequence() != 0) {
      line += fmt::format("  ← caused by #{}", entry.causation_sequence());
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<std::string> RenderIncident(const v1::GetIncidentResponse& incident) {
  const v1::IssueState& issue = incident.issue();
  std::vector<std::string> lines;
  lines.push_back(fmt::format("Issue {}  (incident {})", issue.name(), issue.incident_id()));
  lines.push_back(
      fmt::format("  state      {}{}", issue.state(),
                  issue.end_reason().empty() ? "" : " - " + OneLine(issue.end_reason())));
  lines.push_back(fmt::format("  severity   {} (risk {})", issue.severity(), issue.risk_score()));
  lines.push_back(
      fmt::format("  signal     {} on {}", issue.signal_type(), Resource(issue.resource())));
  lines.push_back(fmt::format("  detected   {}{}", FormatTimeMs(issue.detected_at_ms()),
                              issue.ended_at_ms() > 0
                                  ? fmt::format(", ended {}", FormatTimeMs(issue.ended_at_ms()))
                                  : std::string()));
  lines.push_back(fmt::format("  attempt    {} of {}", issue.attempt(), issue.max_attempts()));
  if (!issue.description().empty()) {
    lines.push_back(fmt::format("  about      {}", OneLine(issue.description())));
  }
  if (issue.has_analysis() && !issue.analysis().analysis().empty()) {
    lines.push_back(fmt::format("  analysis   {} (confidence {:.2f}, {})",
                                OneLine(issue.analysis().analysis()), issue.analysis().confidence(),
                                issue.analysis().provider()));
  }
  if (!incident.related_issues().empty()) {
    std::string related;
    for (const std::string& name : incident.related_issues()) {
      related += (related.empty() ? "" : ", ") + name;
    }
    lines.push_back(fmt::format("  related    {}", related));
  }
  if (!incident.plans().empty()) {
    lines.push_back("Plans:");
    for (const v1::PlanState& plan : incident.plans()) {
      std::string line = fmt::format("  {}  {}  {}{}", plan.name(), plan.state(),
                                     Actions(plan.actions()), plan.dry_run() ? " (dry run)" : "");
      if (!plan.approver().empty()) {
        line += fmt::format("  approver {}", plan.approver());
      }
      if (!plan.result().empty()) {
        line += fmt::format("  result: {}", OneLine(plan.result()));
      }
      lines.push_back(std::move(line));
    }
  }
  lines.push_back(fmt::format("Timeline ({} events):", incident.timeline_size()));
  const std::vector<v1::TimelineEntry> timeline(incident.timeline().begin(),
                                                incident.timeline().end());
  for (std::string& line : RenderTimeline(timeline)) {
    lines.push_back("  " + std::move(line));
  }
  return lines;
}

}  // namespace aiops::api
