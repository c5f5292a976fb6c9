#include "projections/pipeline_state.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "common/coding.h"
#include "common/sha256.h"
#include "projections/naming.h"

namespace aiops::projections {
namespace {

v1::IssueState* MutableIssue(PipelineState& state, const std::string& name) {
  auto it = state.issues.find(name);
  return it == state.issues.end() ? nullptr : &it->second;
}

v1::PlanState* MutablePlan(PipelineState& state, const std::string& name) {
  auto it = state.plans.find(name);
  return it == state.plans.end() ? nullptr : &it->second;
}

// The slot of `key` (created when missing), with the key's text kept when it is not a digest's
// hex (snapshots write keys as they came). One decode of the key serves both.
DedupSlot& DedupSlotOf(PipelineState& state, std::string_view key, DedupId& id) {
  std::optional<DedupId> decoded = common::DigestFromHex(key);
  id = decoded.has_value() ? *decoded : common::Sha256Of(key);
  DedupSlot& entry = state.dedup[id];
  entry.set_key_text(decoded.has_value() ? std::string_view() : key);
  return entry;
}

// Lists in one string: the encoding of a PackedStrings, appended to and searched in place.
using google::protobuf::internal::WireFormatLite;
constexpr int kPackedField = v1::PackedStrings::kItemsFieldNumber;
constexpr uint32_t kPackedTag =
    WireFormatLite::MakeTag(kPackedField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);

void AppendPacked(std::string& list, const std::string& item) {
  const size_t at = list.size();
  list.resize(at + WireFormatLite::TagSize(kPackedField, WireFormatLite::TYPE_BYTES) +
              WireFormatLite::BytesSize(item));
  WireFormatLite::WriteBytesToArray(kPackedField, item,
                                    reinterpret_cast<uint8_t*>(list.data() + at));
}

// Visits the items of a PackedStrings encoding in order while `visit` returns true. Returns
// false when the walk meets anything but a whole item (a damaged list). The one reader of the
// format: searches, DecodeSnapshot's check and the readers' lists all go through it, and it
// allocates nothing.
template <typename Visit>
bool WalkPacked(std::string_view list, Visit&& visit) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(list.data()),
                                            static_cast<int>(list.size()));
  while (static_cast<size_t>(in.CurrentPosition()) < list.size()) {
    uint32_t size = 0;
    if (in.ReadTag() != kPackedTag || !in.ReadVarint32(&size)) {
      return false;
    }
    const auto at = static_cast<size_t>(in.CurrentPosition());
    if (size > list.size() - at) {
      return false;
    }
    if (!visit(list.substr(at, size))) {
      return true;
    }
    in.Skip(static_cast<int>(size));
  }
  return true;
}

bool PackedContains(std::string_view list, std::string_view item) {
  bool found = false;
  WalkPacked(list, [&](std::string_view entry) {
    found = entry == item;
    return !found;
  });
  return found;
}

bool PackedIsWhole(std::string_view list) {
  return WalkPacked(list, [](std::string_view) { return true; });
}

std::vector<std::string> Unpacked(std::string_view list) {
  // A state's lists are whole: the fold writes them, and DecodeSnapshot checks them.
  std::vector<std::string> items;
  WalkPacked(list, [&](std::string_view item) {
    items.emplace_back(item);
    return true;
  });
  return items;
}

// One more anomaly for `issue`: its name, and its signal type when new to the issue.
void AddAnomaly(v1::IssueState& issue, const std::string& name, const std::string& signal) {
  AppendPacked(*issue.mutable_anomaly_list(), name);
  if (!PackedContains(issue.signal_list(), signal)) {
    AppendPacked(*issue.mutable_signal_list(), signal);
  }
}

// The issue now holds the dedup entry of `id` (dropped when the issue ends).
void HoldDedupEntry(PipelineState& state, v1::IssueState& issue, const DedupId& id) {
  issue.mutable_dedup_ids()->append(reinterpret_cast<const char*>(id.data()), id.size());
  auto it = state.dedup.find(id);
  if (it != state.dedup.end()) {
    it->second.issue_sequence = issue.opened_sequence();
  }
}

// The dedup entries `issue` holds are dropped: their alerts may fire again.
void DropDedupEntries(PipelineState& state, const v1::IssueState& issue) {
  const std::string& ids = issue.dedup_ids();
  for (size_t at = 0; at + sizeof(DedupId) <= ids.size(); at += sizeof(DedupId)) {
    DedupId id;
    std::memcpy(id.data(), ids.data() + at, sizeof(DedupId));
    auto it = state.dedup.find(id);
    if (it != state.dedup.end() && issue.opened_sequence() != 0 &&
        it->second.issue_sequence == issue.opened_sequence()) {
      state.dedup.erase(it);
    }
  }
}

// An issue ended: its dedup keys may fire again, and it no longer holds its resource.
void EndIssue(PipelineState& state, v1::IssueState& issue, int64_t at_ms, const std::string& why) {
  issue.set_end_reason(why);
  issue.set_ended_at_ms(at_ms);
  DropDedupEntries(state, issue);
  const std::string key = ResourceKey(issue.resource());
  auto open = state.open_issue.find(key);
  if (open != state.open_issue.end() && open->second == issue.name()) {
    state.open_issue.erase(open);
  }
}

void ApplyPayload(PipelineState& state, const v1::Event& event) {
  const int64_t t = event.logical_time_ms();
  switch (event.payload_case()) {
    case v1::Event::kAnomalyRecorded: {
      const v1::AnomalyRecorded& a = event.anomaly_recorded();
      DedupId id;
      DedupSlot& entry = DedupSlotOf(state, a.dedup_key(), id);
      entry.alert_sequence = a.alert_sequence();
      entry.expires_at_ms = a.detected_at_ms() + state.config.dedup_ttl_ms();
      entry.set_incident_id(event.incident_id());
      entry.issue_sequence = 0;
      state.dedup_expiry.Add(entry.expires_at_ms, id);
      break;
    }
    case v1::Event::kIssueOpened: {
      const v1::IssueOpened& o = event.issue_opened();
      v1::IssueState& issue = state.issues[o.issue_name()];
      issue.set_name(o.issue_name());
      issue.set_incident_id(event.incident_id());
      *issue.mutable_resource() = o.resource();
      issue.set_signal_type(o.signal_type());
      issue.set_severity(o.severity());
      issue.set_risk_score(o.risk_score());
      issue.set_state(kDetected);
      issue.set_description(o.description());
      issue.set_source(o.source());
      issue.set_detected_at_ms(o.detected_at_ms());
      issue.set_last_anomaly_ms(o.detected_at_ms());
      AddAnomaly(issue, o.anomaly_name(), o.signal_type());
      issue.set_max_attempts(o.max_remediation_attempts());
      issue.set_previous_issue(o.previous_issue());
      issue.set_recurrence_count(o.recurrence_count());
      issue.set_opened_sequence(event.sequence());
      if (!o.dedup_key().empty()) {
        HoldDedupEntry(state, issue, DedupIdOf(o.dedup_key()));
      }
      const std::string key = ResourceKey(o.resource());
      state.open_issue[key] = o.issue_name();
      v1::ResourceHistory& history = state.history[key];
      history.set_resource_key(key);
      history.set_last_issue(o.issue_name());
      break;
    }
    case v1::Event::kAnomalyCorrelated: {
      const v1::AnomalyCorrelated& c = event.anomaly_correlated();
      v1::IssueState* issue = MutableIssue(state, c.issue_name());
      if (issue == nullptr) {
        break;
      }
      AddAnomaly(*issue, c.anomaly_name(), c.signal_type());
      if (c.reason() != "resolution_cooldown") {
        issue->set_risk_score(c.risk_score());
        issue->set_severity(c.severity());
        issue->set_last_anomaly_ms(t);
        if (!c.dedup_key().empty()) {
          HoldDedupEntry(state, *issue, DedupIdOf(c.dedup_key()));
        }
      }
      break;
    }
    case v1::Event::kIssueStateChanged: {
      v1::IssueState* issue = MutableIssue(state, event.issue_state_changed().issue_name());
      if (issue != nullptr) {
        issue->set_state(event.issue_state_changed().to_state());
      }
      break;
    }
    case v1::Event::kAnalysisRequested: {
      const v1::AnalysisRequested& r = event.analysis_requested();
      v1::IssueState* issue = MutableIssue(state, r.issue_name());
      if (issue != nullptr) {
        issue->set_attempt(r.attempt());
        *issue->mutable_failures() = r.previous_failures();
      }
      break;
    }
    case v1::Event::kContextCollected: {
      const v1::ContextCollected& c = event.context_collected();
      v1::IssueState* issue = MutableIssue(state, c.issue_name());
      if (issue != nullptr && c.current_replicas() > 0) {
        issue->set_current_replicas(c.current_replicas());
      }
      break;
    }
    case v1::Event::kAnalysisCompleted: {
      const v1::AnalysisCompleted& a = event.analysis_completed();
      v1::IssueState* issue = MutableIssue(state, a.issue_name());
      if (issue != nullptr && a.attempt() == issue->attempt()) {
        *issue->mutable_analysis() = a;
        issue->set_analysis_attempt(a.attempt());
        issue->set_analysis_failed(false);
        issue->clear_analysis_error();
      }
      break;
    }
    case v1::Event::kAnalysisFailed: {
      const v1::AnalysisFailed& f = event.analysis_failed();
      v1::IssueState* issue = MutableIssue(state, f.issue_name());
      if (issue != nullptr && f.attempt() == issue->attempt()) {
        issue->clear_analysis();
        issue->set_analysis_attempt(f.attempt());
        issue->set_analysis_failed(true);
        issue->set_analysis_error(f.error());
      }
      break;
    }
    case v1::Event::kRunbookObserved: {
      const v1::RunbookObserved& r = event.runbook_observed();
      v1::RunbookState& rb = state.runbooks[RunbookKey(r.namespace_(), r.name())];
      rb.set_name(r.name());
      rb.set_namespace_(r.namespace_());
      *rb.mutable_spec() = r.spec();
      rb.set_auto_generated(r.auto_generated());
      rb.set_retired(false);
      break;
    }
    case v1::Event::kRunbookDeleted:
      state.runbooks.erase(
          RunbookKey(event.runbook_deleted().namespace_(), event.runbook_deleted().name()));
      break;
    case v1::Event::kRunbookRetired: {
      auto it = state.runbooks.find(
          RunbookKey(event.runbook_retired().namespace_(), event.runbook_retired().name()));
      if (it != state.runbooks.end()) {
        it->second.set_retired(true);
      }
      break;
    }
    case v1::Event::kRunbookGenerated: {
      const v1::RunbookGenerated& g = event.runbook_generated();
      v1::RunbookState& rb = state.runbooks[RunbookKey(g.namespace_(), g.name())];
      rb.set_name(g.name());
      rb.set_namespace_(g.namespace_());
      *rb.mutable_spec() = g.spec();
      rb.set_auto_generated(true);
      rb.set_retired(false);
      rb.set_source_issue(g.issue_name());
      break;
    }
    case v1::Event::kRunbookMatched: {
      const v1::RunbookMatched& m = event.runbook_matched();
      v1::IssueState* issue = MutableIssue(state, m.issue_name());
      auto rb = state.runbooks.find(RunbookKey(m.runbook_namespace(), m.runbook_name()));
      if (issue != nullptr && rb != state.runbooks.end() && !rb->second.auto_generated() &&
          rb->second.spec().max_attempts() > 0) {
        issue->set_max_attempts(rb->second.spec().max_attempts());
      }
      break;
    }
    case v1::Event::kPlanCreated: {
      const v1::PlanCreated& c = event.plan_created();
      v1::IssueState* issue = MutableIssue(state, c.issue_name());
      if (issue == nullptr) {
        break;
      }
      v1::PlanState& plan = state.plans[c.plan_name()];
      plan.set_name(c.plan_name());
      plan.set_issue_name(c.issue_name());
      plan.set_attempt(c.attempt());
      plan.set_runbook_name(c.runbook_name());
      plan.set_strategy(c.strategy());
      *plan.mutable_actions() = c.actions();
      *plan.mutable_safety_constraints() = c.safety_constraints();
      plan.set_dry_run(c.dry_run());
      plan.set_requires_approval(c.requires_approval());
      plan.set_state(kPending);
      plan.set_created_at_ms(t);
      plan.set_namespace_(issue->resource().namespace_());
      plan.set_resource_key(ResourceKey(issue->resource()));
      issue->add_plan_names(c.plan_name());
      break;
    }
    case v1::Event::kPlanStateChanged: {
      const v1::PlanStateChanged& c = event.plan_state_changed();
      v1::PlanState* plan = MutablePlan(state, c.plan_name());
      if (plan == nullptr) {
        break;
      }
      const std::string from = plan->state();
      plan->set_state(c.to_state());
      if (!c.reason().empty()) {
        plan->set_result(c.reason());
      }
      if (c.to_state() == kVerifying) {
        plan->set_verification_due_ms(t + state.config.verification_window_ms());
      }
      if (from == kExecuting && !plan->dry_run()) {  // a dry run changed nothing
        state.cooldown_until_ms[plan->resource_key()] =
            t + state.config.safety().resource_cooldown_ms();
      }
      if (c.to_state() == kRolledBack) {
        plan->set_rolled_back(true);
      }
      break;
    }
    case v1::Event::kApprovalRequested: {
      v1::PlanState* plan = MutablePlan(state, event.approval_requested().plan_name());
      if (plan != nullptr) {
        // A plan created without the need may come to need approval (its issue's severity rose).
        plan->set_requires_approval(true);
        plan->set_approval_expires_at_ms(event.approval_requested().expires_at_ms());
      }
      break;
    }
    case v1::Event::kApprovalGranted: {
      v1::PlanState* plan = MutablePlan(state, event.approval_granted().plan_name());
      if (plan != nullptr) {
        plan->set_approver(event.approval_granted().approver());
      }
      break;
    }
    case v1::Event::kApprovalRejected: {
      v1::PlanState* plan = MutablePlan(state, event.approval_rejected().plan_name());
      if (plan != nullptr) {
        plan->set_approver(event.approval_rejected().approver());
      }
      break;
    }
    case v1::Event::kPreflightSnapshot: {
      v1::PlanState* plan = MutablePlan(state, event.preflight_snapshot().plan_name());
      if (plan != nullptr) {
        plan->set_preflight_recorded(true);
      }
      break;
    }
    case v1::Event::kActionSucceeded: {
      const v1::ActionSucceeded& a = event.action_succeeded();
      v1::PlanState* plan = MutablePlan(state, a.plan_name());
      if (plan != nullptr && plan->state() == kExecuting && a.index() == plan->results_size()) {
        v1::ActionResult* r = plan->add_results();
        r->set_index(a.index());
        r->set_succeeded(true);
        r->set_summary(a.summary());
      }
      break;
    }
    case v1::Event::kActionFailed: {
      const v1::ActionFailed& a = event.action_failed();
      v1::PlanState* plan = MutablePlan(state, a.plan_name());
      if (plan != nullptr && a.index() == plan->results_size()) {
        v1::ActionResult* r = plan->add_results();
        r->set_index(a.index());
        r->set_succeeded(false);
        r->set_summary(a.error());
      }
      break;
    }
    case v1::Event::kIssueResolved: {
      v1::IssueState* issue = MutableIssue(state, event.issue_resolved().issue_name());
      if (issue == nullptr) {
        break;
      }
      EndIssue(state, *issue, t, event.issue_resolved().summary());
      v1::ResourceHistory& history = state.history[ResourceKey(issue->resource())];
      v1::ResolvedIssue* resolved = history.add_resolved();
      resolved->set_issue_name(issue->name());
      resolved->set_resolved_at_ms(t);
      // Only the recurrence window matters: older entries are dropped to bound the state.
      const int64_t horizon = t - state.config.recurrence_window_ms();
      auto* list = history.mutable_resolved();
      list->erase(
          std::remove_if(list->begin(), list->end(),
                         [&](const v1::ResolvedIssue& r) { return r.resolved_at_ms() < horizon; }),
          list->end());
      break;
    }
    case v1::Event::kIssueEscalated: {
      v1::IssueState* issue = MutableIssue(state, event.issue_escalated().issue_name());
      if (issue != nullptr) {
        EndIssue(state, *issue, t, event.issue_escalated().reason());
      }
      break;
    }
    case v1::Event::kIssueRearmed: {
      const v1::IssueRearmed& r = event.issue_rearmed();
      v1::IssueState* issue = MutableIssue(state, r.issue_name());
      if (issue != nullptr && issue->state() == kEscalated &&
          (r.namespace_().empty() || r.namespace_() == issue->resource().namespace_())) {
        issue->set_rearmed(true);
        // Anomalies that joined it during the hold are not duplicates of anything any more.
        DropDedupEntries(state, *issue);
        issue->clear_dedup_ids();
      }
      break;
    }
    case v1::Event::kConfigChanged:
      if (event.config_changed().has_config()) {
        state.config = event.config_changed().config();
      }
      break;
    default:
      // Alerts, duplicates, context text, action starts, rollbacks, verification results and
      // deadlines are decided on, not folded: their effects arrive as the events above.
      break;
  }
}

template <typename Map, typename Repeated>
void CopyValues(const Map& map, Repeated* out) {
  out->Reserve(static_cast<int>(map.size()));
  for (const auto& [key, value] : map) {
    *out->Add() = value;
  }
}

}  // namespace

bool IsTerminalIssueState(std::string_view state) {
  return state == kResolved || state == kEscalated;
}

bool IsTerminalPlanState(std::string_view state) {
  return state == kCompleted || state == kFailed || state == kRolledBack;
}

bool IsActivePlanState(std::string_view state) {
  return state == kWaitingApproval || state == kExecuting || state == kVerifying;
}

PipelineState::PipelineState() : config(DefaultPipelineConfig()) {}

bool PipelineState::operator==(const PipelineState& other) const {
  return EncodeSnapshot(*this) == EncodeSnapshot(other);
}

void Apply(PipelineState& state, const v1::Event& event) {
  ApplyPayload(state, event);
  // An expired dedup entry decides nothing (detection compares expiry with the event's time),
  // so it is dropped as time passes: the state stays bounded by the TTL, not by history.
  const int64_t t = event.logical_time_ms();
  while (!state.dedup_expiry.empty() && state.dedup_expiry.front().first <= t) {
    auto entry = state.dedup.find(state.dedup_expiry.front().second);
    if (entry != state.dedup.end() && entry->second.expires_at_ms <= t) {
      state.dedup.erase(entry);
    }
    state.dedup_expiry.pop_front();
  }
  state.last_sequence = std::max(state.last_sequence, event.sequence());
  state.last_time_ms = std::max(state.last_time_ms, event.logical_time_ms());
}

std::string EncodeSnapshot(const PipelineState& state) {
  v1::PipelineSnapshot snapshot;
  snapshot.set_last_sequence(state.last_sequence);
  snapshot.set_last_time_ms(state.last_time_ms);
  *snapshot.mutable_config() = state.config;
  {
    std::vector<std::pair<std::string, const DedupSlot*>> sorted;
    sorted.reserve(state.dedup.size());
    for (const auto& [id, entry] : state.dedup) {  // purity-ok: sorted before use
      const std::string_view text = entry.key_text();
      sorted.emplace_back(text.empty() ? common::ToHex(id) : std::string(text), &entry);
    }
    // Entries name their issue by its opening sequence; the snapshot writes the name.
    std::map<uint64_t, const std::string*> issue_names;
    for (const auto& [name, issue] : state.issues) {
      issue_names.emplace(issue.opened_sequence(), &name);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [key, entry] : sorted) {
      v1::DedupEntry* e = snapshot.add_dedup();
      e->set_key(std::move(key));
      e->set_alert_sequence(entry->alert_sequence);
      e->set_expires_at_ms(entry->expires_at_ms);
      if (entry->issue_sequence != 0) {
        auto issue = issue_names.find(entry->issue_sequence);
        if (issue != issue_names.end()) {
          e->set_issue_name(*issue->second);
        }
      }
      e->set_incident_id(entry->incident_id());
    }
  }
  CopyValues(state.issues, snapshot.mutable_issues());
  CopyValues(state.plans, snapshot.mutable_plans());
  CopyValues(state.runbooks, snapshot.mutable_runbooks());
  CopyValues(state.history, snapshot.mutable_history());
  for (const auto& [key, until] : state.cooldown_until_ms) {
    v1::Cooldown* c = snapshot.add_cooldowns();
    c->set_resource_key(key);
    c->set_until_ms(until);
  }
  std::string out;
  common::AppendBigEndian(out, kPipelineStateVersion, 4);
  // Deterministic: no maps, fields in number order, repeated fields in key order.
  snapshot.AppendToString(&out);
  return out;
}

absl::StatusOr<PipelineState> DecodeSnapshot(std::string_view bytes) {
  if (bytes.size() < 4) {
    return absl::DataLossError("pipeline snapshot shorter than its version");
  }
  const auto version = static_cast<uint32_t>(common::DecodeBigEndian(bytes.substr(0, 4)));
  if (version != kPipelineStateVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "pipeline snapshot of state version {}, this binary folds version {}: rebuild from the "
        "log",
        version, kPipelineStateVersion));
  }
  v1::PipelineSnapshot snapshot;
  const std::string_view body = bytes.substr(4);
  if (!snapshot.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError("pipeline snapshot does not parse");
  }
  PipelineState state;
  state.last_sequence = snapshot.last_sequence();
  state.last_time_ms = snapshot.last_time_ms();
  state.config = snapshot.config();
  std::map<std::string_view, uint64_t> issue_sequences;  // of the issues dedup entries name
  for (const v1::IssueState& i : snapshot.issues()) {
    issue_sequences.emplace(i.name(), i.opened_sequence());
  }
  for (const v1::DedupEntry& e : snapshot.dedup()) {
    DedupId id;
    DedupSlot& entry = DedupSlotOf(state, e.key(), id);
    entry.alert_sequence = e.alert_sequence();
    entry.expires_at_ms = e.expires_at_ms();
    entry.set_incident_id(e.incident_id());
    if (!e.issue_name().empty()) {
      auto issue = issue_sequences.find(e.issue_name());
      if (issue == issue_sequences.end() || issue->second == 0) {
        return absl::DataLossError(
            fmt::format("pipeline snapshot: dedup entry {} names issue {}, which the snapshot {}",
                        e.key(), e.issue_name(),
                        issue == issue_sequences.end() ? "does not hold"
                                                       : "holds without its opening sequence"));
      }
      entry.issue_sequence = issue->second;
    }
    state.dedup_expiry.AppendUnsorted(e.expires_at_ms(), id);
  }
  // Equal expiries stay in key order (the snapshot's).
  state.dedup_expiry.Sort();
  for (const v1::IssueState& i : snapshot.issues()) {
    if (i.dedup_ids().size() % sizeof(DedupId) != 0) {
      return absl::DataLossError(fmt::format(
          "pipeline snapshot: issue {} holds {} bytes of dedup ids, not a whole number of {}-byte "
          "ids",
          i.name(), i.dedup_ids().size(), sizeof(DedupId)));
    }
    for (const auto& [field, list] : {std::pair{"anomaly_list", &i.anomaly_list()},
                                      std::pair{"signal_list", &i.signal_list()}}) {
      if (!PackedIsWhole(*list)) {
        return absl::DataLossError(
            fmt::format("pipeline snapshot: issue {}'s {} does not parse", i.name(), field));
      }
    }
    state.issues[i.name()] = i;
    if (!IsTerminalIssueState(i.state())) {
      state.open_issue[ResourceKey(i.resource())] = i.name();
    }
  }
  for (const v1::PlanState& p : snapshot.plans()) {
    state.plans[p.name()] = p;
  }
  for (const v1::RunbookState& r : snapshot.runbooks()) {
    state.runbooks[RunbookKey(r.namespace_(), r.name())] = r;
  }
  for (const v1::ResourceHistory& h : snapshot.history()) {
    state.history[h.resource_key()] = h;
  }
  for (const v1::Cooldown& c : snapshot.cooldowns()) {
    state.cooldown_until_ms[c.resource_key()] = c.until_ms();
  }
  return state;
}

std::vector<std::string> AnomalyNames(const v1::IssueState& issue) {
  return Unpacked(issue.anomaly_list());
}

std::vector<std::string> SignalTypes(const v1::IssueState& issue) {
  return Unpacked(issue.signal_list());
}

v1::IssueState IssueForReaders(const v1::IssueState& issue) {
  v1::IssueState out = issue;
  for (std::string& name : AnomalyNames(issue)) {
    out.add_anomaly_names(std::move(name));
  }
  for (std::string& signal : SignalTypes(issue)) {
    out.add_signal_types(std::move(signal));
  }
  out.clear_anomaly_list();
  out.clear_signal_list();
  out.clear_dedup_ids();
  return out;
}

std::string StateDigest(const PipelineState& state) {
  return common::Sha256Hex(EncodeSnapshot(state));
}

DedupSlot::DedupSlot(const DedupSlot& other)
    : expires_at_ms(other.expires_at_ms),
      alert_sequence(other.alert_sequence),
      issue_sequence(other.issue_sequence),
      incident_(other.incident_),
      incident_size_(other.incident_size_),
      rare_(other.rare_ != nullptr ? std::make_unique<Rare>(*other.rare_) : nullptr) {}

DedupSlot& DedupSlot::operator=(const DedupSlot& other) {
  if (this != &other) {
    *this = DedupSlot(other);
  }
  return *this;
}

std::string DedupSlot::incident_id() const {
  return incident_size_ <= kInline ? std::string(incident_.data(), incident_size_)
                                   : rare_->incident_id;
}

void DedupSlot::set_incident_id(std::string_view id) {
  if (id.size() <= kInline) {
    std::memcpy(incident_.data(), id.data(), id.size());
    incident_size_ = static_cast<uint8_t>(id.size());
    if (rare_ != nullptr) {
      rare_->incident_id.clear();
      DropRareIfEmpty();
    }
  } else {
    incident_size_ = kInline + 1;
    MutableRare().incident_id = std::string(id);
  }
}

std::string_view DedupSlot::key_text() const {
  return rare_ != nullptr ? std::string_view(rare_->key_text) : std::string_view();
}

void DedupSlot::set_key_text(std::string_view text) {
  if (!text.empty()) {
    MutableRare().key_text = std::string(text);
  } else if (rare_ != nullptr) {
    rare_->key_text.clear();
    DropRareIfEmpty();
  }
}

size_t DedupSlot::HeapBytes() const {
  if (rare_ == nullptr) {
    return 0;
  }
  auto heap = [](const std::string& x) { return x.capacity() > 15 ? x.capacity() + 1 : 0; };
  return sizeof(Rare) + heap(rare_->key_text) + heap(rare_->incident_id);
}

DedupSlot::Rare& DedupSlot::MutableRare() {
  if (rare_ == nullptr) {
    rare_ = std::make_unique<Rare>();
  }
  return *rare_;
}

void DedupSlot::DropRareIfEmpty() {
  if (rare_->key_text.empty() && rare_->incident_id.empty()) {
    rare_.reset();
  }
}

DedupId DedupIdOf(std::string_view dedup_key) {
  std::optional<DedupId> id = common::DigestFromHex(dedup_key);
  return id.has_value() ? *id : common::Sha256Of(dedup_key);
}

const v1::IssueState* FindIssue(const PipelineState& state, std::string_view name) {
  auto it = state.issues.find(name);
  return it == state.issues.end() ? nullptr : &it->second;
}

const v1::PlanState* FindPlan(const PipelineState& state, std::string_view name) {
  auto it = state.plans.find(name);
  return it == state.plans.end() ? nullptr : &it->second;
}

std::string RunbookKey(std::string_view namespace_name, std::string_view name) {
  return fmt::format("{}/{}", namespace_name, name);
}

std::vector<Deadline> PendingDeadlines(const PipelineState& state) {
  std::vector<Deadline> out;
  for (const auto& [name, plan] : state.plans) {
    if (plan.state() == kWaitingApproval && plan.approval_expires_at_ms() > 0) {
      out.push_back({"approval/" + name, "approval", name, plan.approval_expires_at_ms()});
    } else if (plan.state() == kVerifying) {
      out.push_back({"verification/" + name, "verification", name, plan.verification_due_ms()});
    } else if (plan.state() == kPending) {
      auto cooldown = state.cooldown_until_ms.find(plan.resource_key());
      if (cooldown != state.cooldown_until_ms.end() && cooldown->second > state.last_time_ms) {
        out.push_back({"cooldown/" + name, "cooldown", name, cooldown->second});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Deadline& a, const Deadline& b) {
    return std::tie(a.due_at_ms, a.id) < std::tie(b.due_at_ms, b.id);
  });
  return out;
}

Intents CollectIntents(const PipelineState& state) {
  Intents intents;
  for (const auto& [name, issue] : state.issues) {
    if (issue.state() == kAnalyzing && issue.analysis_attempt() < issue.attempt()) {
      intents.analyses.push_back({name, issue.attempt()});
    }
  }
  for (const auto& [name, plan] : state.plans) {
    if (plan.state() == kExecuting && plan.results_size() < plan.actions_size()) {
      intents.actions.push_back({name, plan.results_size()});
    } else if (plan.state() == kFailed && plan.preflight_recorded() && !plan.rolled_back()) {
      intents.rollbacks.push_back(name);
    } else if (plan.state() == kVerifying) {
      intents.verifications.push_back(name);
    }
  }
  intents.deadlines = PendingDeadlines(state);
  return intents;
}

bool MayChangeIntents(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kAlertObserved:
    case v1::Event::kDuplicateSuppressed:
    case v1::Event::kAnomalyRecorded:
    case v1::Event::kAnomalyCorrelated:
      return false;
    default:
      return true;
  }
}

bool HasCooldownDeadline(const Intents& intents) {
  return std::any_of(intents.deadlines.begin(), intents.deadlines.end(),
                     [](const Deadline& d) { return d.kind == "cooldown"; });
}

}  // namespace aiops::projections
