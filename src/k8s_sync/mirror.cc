#include "k8s_sync/mirror.h"

#include <cmath>

#include <absl/strings/numbers.h>
#include <absl/time/time.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "k8s_sync/json_access.h"
#include "projections/naming.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
namespace p = projections;

constexpr char kApiVersion[] = "platform.chatcli.io/v1alpha1";

std::string Path(const std::string& ns, const char* plural, const std::string& name) {
  return fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/{}/{}", ns, plural, name);
}

// Whether `live` holds everything `desired` says: objects may have more keys, arrays and scalars
// are equal (numbers by value).
bool Covers(const Json& live, const Json& desired) {
  if (desired.is_object()) {
    if (!live.is_object()) {
      return false;
    }
    for (const auto& [key, value] : desired.items()) {
      if (!live.contains(key) || !Covers(live[key], value)) {
        return false;
      }
    }
    return true;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) {
      return false;
    }
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!Covers(live[i], desired[i])) {
        return false;
      }
    }
    return true;
  }
  return live == desired;
}

// Whether the object the API server holds is already what `object` and `status` would write:
// labels, annotations and spec include ours (the API server adds the CRDs' defaults to spec, e.g.
// a Runbook's maxAttempts), owner references and status are ours exactly (no other writer).
bool AlreadyWritten(const Json& live, const Json& object, const Json& status) {
  const Json& live_meta = At(live, "metadata");
  const Json& meta = At(object, "metadata");
  return Covers(At(live_meta, "labels"), At(meta, "labels")) &&
         Covers(At(live_meta, "annotations"), At(meta, "annotations")) &&
         At(live_meta, "ownerReferences") == At(meta, "ownerReferences") &&
         Covers(At(live, "spec"), At(object, "spec")) &&
         (status.is_null() || At(live, "status") == status);
}

std::string Rfc3339(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

Json Resource(const v1::ResourceRef& r) {
  return {{"kind", r.kind()}, {"name", r.name()}, {"namespace", r.namespace_()}};
}

Json Params(const google::protobuf::RepeatedPtrField<v1::Param>& params) {
  Json out = Json::object();
  for (const v1::Param& p : params) {
    out[p.key()] = p.value();
  }
  return out;
}

Json Object(const char* kind, const std::string& name, const std::string& ns, Json labels) {
  return {{"apiVersion", kApiVersion},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", std::move(labels)}}}};
}

Json IssueLabels(const v1::IssueState& issue) {
  return {{kLabelIncident, LabelValue(issue.incident_id())},
          {kLabelSignal, LabelValue(issue.signal_type())},
          {kLabelSeverity, LabelValue(issue.severity())},
          {kLabelIssue, LabelValue(issue.name())}};
}

}  // namespace

absl::Status CheckLogNotBehindCluster(KubeClient& client, const std::string& cluster_id,
                                      uint64_t last_sequence) {
  std::string next;
  do {
    std::string path = fmt::format("/apis/{}/issues?limit=500", kApiVersion);
    if (!next.empty()) {
      path += "&continue=" + QueryEscape(next);
    }
    absl::StatusOr<Json> list = client.Get(path);
    if (IsKubeNotFound(list.status())) {
      return absl::OkStatus();  // no Issue CRD: nothing was written
    }
    if (!list.ok()) {
      return absl::Status(list.status().code(),
                          fmt::format("cannot check the log against the cluster's Issues: {}",
                                      list.status().message()));
    }
    const Json& items = At(*list, "items");
    if (!items.is_array()) {
      break;
    }
    for (const Json& item : items) {
      const Json& annotations = At(At(item, "metadata"), "annotations");
      const std::string seq = StrAt(annotations, kAnnotationOpenedSequence);
      uint64_t opened = 0;
      if (StrAt(annotations, kAnnotationClusterId) != cluster_id || seq.empty() ||
          !absl::SimpleAtoi(seq, &opened) || opened <= last_sequence) {
        continue;
      }
      return absl::FailedPreconditionError(fmt::format(
          "the event log is behind the cluster: it ends at sequence {}, but Issue {}/{} of "
          "cluster '{}' was opened at sequence {}. The log lost history (restored from an older "
          "copy, emptied, or this replica has a volume of its own), and acting on it would "
          "repeat or contradict what was done. Restore the log from its latest backup; or, to "
          "start a new history on purpose, delete this cluster's Issues first (kubectl delete "
          "issues -A -l {}) or give it another clusterId",
          last_sequence, StrAt(At(item, "metadata"), "namespace"),
          StrAt(At(item, "metadata"), "name"), cluster_id, opened, kLabelIncident));
    }
    next = StrAt(At(*list, "metadata"), "continue");
  } while (!next.empty());
  return absl::OkStatus();
}

KubeEvent ParkedObjectEvent(const std::string& object, const absl::Status& error, absl::Time at) {
  KubeEvent event;
  event.api_version = kApiVersion;
  const size_t space = object.find(' ');
  const std::string where = space == std::string::npos ? object : object.substr(space + 1);
  const size_t slash = where.find('/');
  event.kind = space == std::string::npos ? "" : object.substr(0, space);
  event.namespace_name = slash == std::string::npos ? "" : where.substr(0, slash);
  event.name = slash == std::string::npos ? where : where.substr(slash + 1);
  event.type = "Warning";
  event.reason = "MirrorRefused";
  event.message = fmt::format(
      "chatcli-aiops cannot write this {}: the API server refused it: {}. The event log keeps it "
      "(aiops incident show); it is written again when it changes.",
      event.kind, error.message());
  event.at = at;
  return event;
}

std::string LabelValue(const std::string& raw) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  std::string out;
  out.reserve(raw.size());
  for (const char c : raw) {
    const bool ok = alnum(c) || c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '-');
  }
  const bool valid = out == raw && out.size() <= kMaxLabelValueLength &&
                     (out.empty() || (alnum(out.front()) && alnum(out.back())));
  if (valid) {
    return out;
  }
  // Anything changed (cut, a character replaced, an edge trimmed) gets a hash of the whole raw
  // value, so two raw values that clean to the same text still give different label values.
  const std::string suffix = common::Sha256Hex(raw).substr(0, 8);
  if (out.size() > kMaxLabelValueLength - suffix.size() - 1) {
    out.resize(kMaxLabelValueLength - suffix.size() - 1);
  }
  while (!out.empty() && !alnum(out.back())) {
    out.pop_back();
  }
  size_t first = 0;
  while (first < out.size() && !alnum(out[first])) {
    ++first;
  }
  out.erase(0, first);
  return out.empty() ? suffix : out + "-" + suffix;
}

Mirror::Mirror(eventlog::EventLog& log, KubeClient& client, Options options)
    : log_(log),
      client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : common::SystemClock::Get()) {}

void Mirror::Fold(const v1::Event& e, Dirty& dirty) {
  p::Apply(state_, e);
  ++stats_.events;
  auto issue_of_plan = [&](const std::string& plan) {
    dirty.plans.insert(plan);
    if (const v1::PlanState* ps = p::FindPlan(state_, plan)) {
      dirty.issues.insert(ps->issue_name());
    }
  };
  switch (e.payload_case()) {
    case v1::Event::kAnomalyRecorded:
      anomalies_[e.anomaly_recorded().anomaly_name()].recorded = e.anomaly_recorded();
      dirty.anomalies.insert(e.anomaly_recorded().anomaly_name());
      break;
    case v1::Event::kIssueOpened:
      anomalies_[e.issue_opened().anomaly_name()].issue_name = e.issue_opened().issue_name();
      dirty.anomalies.insert(e.issue_opened().anomaly_name());
      dirty.issues.insert(e.issue_opened().issue_name());
      break;
    case v1::Event::kAnomalyCorrelated:
      anomalies_[e.anomaly_correlated().anomaly_name()].issue_name =
          e.anomaly_correlated().issue_name();
      dirty.anomalies.insert(e.anomaly_correlated().anomaly_name());
      dirty.issues.insert(e.anomaly_correlated().issue_name());
      break;
    case v1::Event::kIssueStateChanged:
      dirty.issues.insert(e.issue_state_changed().issue_name());
      break;
    case v1::Event::kAnalysisRequested:
      dirty.issues.insert(e.analysis_requested().issue_name());
      break;
    case v1::Event::kAnalysisCompleted: {
      // The insight's generatedAt is the logical time of the analysis the issue holds (the fold
      // keeps only an answer to the issue's current attempt), so a rebuild writes the same time.
      const v1::AnalysisCompleted& a = e.analysis_completed();
      const v1::IssueState* issue = p::FindIssue(state_, a.issue_name());
      if (issue != nullptr && issue->analysis_attempt() == a.attempt() &&
          !issue->analysis_failed() && issue->attempt() == a.attempt()) {
        analyzed_at_ms_[a.issue_name()] = e.logical_time_ms();
      }
      dirty.issues.insert(a.issue_name());
      break;
    }
    case v1::Event::kAnalysisFailed:
      dirty.issues.insert(e.analysis_failed().issue_name());
      break;
    case v1::Event::kRunbookMatched:
      dirty.issues.insert(e.runbook_matched().issue_name());
      break;
    case v1::Event::kRunbookGenerated:
      dirty.runbooks.insert(
          p::RunbookKey(e.runbook_generated().namespace_(), e.runbook_generated().name()));
      break;
    case v1::Event::kIssueResolved:
      dirty.issues.insert(e.issue_resolved().issue_name());
      break;
    case v1::Event::kIssueEscalated:
      dirty.issues.insert(e.issue_escalated().issue_name());
      break;
    case v1::Event::kPlanCreated:
      issue_of_plan(e.plan_created().plan_name());
      break;
    case v1::Event::kPlanStateChanged:
      issue_of_plan(e.plan_state_changed().plan_name());
      break;
    case v1::Event::kApprovalRequested:
      issue_of_plan(e.approval_requested().plan_name());
      break;
    case v1::Event::kApprovalGranted:
      issue_of_plan(e.approval_granted().plan_name());
      break;
    case v1::Event::kApprovalRejected:
      issue_of_plan(e.approval_rejected().plan_name());
      break;
    case v1::Event::kActionSucceeded:
      issue_of_plan(e.action_succeeded().plan_name());
      break;
    case v1::Event::kActionFailed:
      issue_of_plan(e.action_failed().plan_name());
      break;
    case v1::Event::kPlanRolledBack:
      issue_of_plan(e.plan_rolled_back().plan_name());
      break;
    default:
      break;
  }
}

absl::Status Mirror::Start() {
  Dirty all;
  // A retried Start (after a failed write) folds only what the first attempt did not.
  uint64_t from = folded_ == 0 ? log_.FirstSequence() : folded_ + 1;
  if (folded_ == 0 && from > 1) {
    AIOPS_ASSIGN_OR_RETURN(
        std::optional<eventlog::Snapshot> snapshot,
        eventlog::SnapshotToFoldFrom(log_, p::kPipelineSnapshotName, p::kPipelineStateVersion,
                                     log_.LastSequence()));
    if (!snapshot.has_value()) {
      return absl::FailedPreconditionError(fmt::format(
          "the log's history before sequence {} was pruned and no usable snapshot of the "
          "pipeline state covers it: the mirror cannot rebuild its objects",
          from));
    }
    AIOPS_ASSIGN_OR_RETURN(state_, p::DecodeSnapshot(snapshot->data));
    snapshot_start_ = snapshot->sequence;
    from = snapshot->sequence + 1;
    cursor_ = folded_ = snapshot->sequence;
  }
  for (;;) {
    AIOPS_ASSIGN_OR_RETURN(std::vector<v1::Event> events, log_.Read(from, 4096));
    if (events.empty()) {
      break;
    }
    Dirty ignored;
    for (const v1::Event& e : events) {
      Fold(e, ignored);
    }
    from = events.back().sequence() + 1;
    cursor_ = events.back().sequence();
    folded_ = cursor_;
  }
  // Level-based: every object of the state, whatever the cursor said was already written.
  for (const auto& [name, issue] : state_.issues) {
    all.issues.insert(name);
  }
  for (const auto& [name, anomaly] : anomalies_) {
    all.anomalies.insert(name);
  }
  for (const auto& [name, plan] : state_.plans) {
    all.plans.insert(name);
  }
  for (const auto& [key, rb] : state_.runbooks) {
    if (rb.auto_generated()) {
      all.runbooks.insert(key);
    }
  }
  AIOPS_RETURN_IF_ERROR(CollectExpired(all));
  // Objects already as the log says are not written again: a leader start after a restart
  // writes what changed, not every object at the mirror's QPS.
  ListLive();
  const absl::Status applied = ApplyDirty(all);
  live_.clear();
  AIOPS_RETURN_IF_ERROR(applied);
  return log_.PutCursor(options_.follower, cursor_);
}

absl::StatusOr<uint64_t> Mirror::SyncOnce(absl::Duration wait) {
  // Events are folded once; what they touched stays pending until written, so a failed write is
  // retried on the next call without folding anything twice.
  eventlog::Subscription subscription(log_, folded_ + 1);
  AIOPS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                         subscription.Next(options_.max_batch_events, wait));
  for (const v1::Event& e : events) {
    Fold(e, pending_);
    folded_ = e.sequence();
    if (options_.on_written && unannounced_.size() < 10'000) {
      unannounced_.push_back(e);
    }
  }
  RetryParked(pending_);
  AIOPS_RETURN_IF_ERROR(CollectExpired(pending_));
  AIOPS_RETURN_IF_ERROR(ApplyDirty(pending_));
  for (const v1::Event& e : unannounced_) {
    options_.on_written(e, state_);
  }
  unannounced_.clear();
  if (folded_ != cursor_) {
    cursor_ = folded_;
    AIOPS_RETURN_IF_ERROR(log_.PutCursor(options_.follower, cursor_));
  }
  return events.size();
}

absl::Status Mirror::CollectExpired(Dirty& dirty) {
  const int64_t horizon = clock_.NowUnixMs() - absl::ToInt64Milliseconds(options_.retention);
  for (const auto& [name, issue] : state_.issues) {
    if (!p::IsTerminalIssueState(issue.state()) || issue.ended_at_ms() > horizon ||
        deleted_issues_.count(name) > 0) {
      continue;
    }
    AIOPS_RETURN_IF_ERROR(CheckStop());
    // Children (insight, plans) go with the Issue through their owner references.
    absl::StatusOr<Json> deleted =
        client_.Delete(Path(issue.resource().namespace_(), "issues", name));
    if (!deleted.ok() && !IsKubeNotFound(deleted.status())) {
      return deleted.status();
    }
    for (const std::string& anomaly : p::AnomalyNames(issue)) {
      absl::StatusOr<Json> gone =
          client_.Delete(Path(issue.resource().namespace_(), "anomalies", anomaly));
      if (!gone.ok() && !IsKubeNotFound(gone.status())) {
        return gone.status();
      }
      anomalies_.erase(anomaly);
      dirty.anomalies.erase(anomaly);
    }
    for (const std::string& plan : issue.plan_names()) {
      dirty.plans.erase(plan);
    }
    dirty.issues.erase(name);
    deleted_issues_.insert(name);
    ++stats_.deletes;
  }
  return absl::OkStatus();
}

absl::Status Mirror::CheckStop() const {
  if (options_.stop != nullptr && options_.stop->load()) {
    return absl::CancelledError("the mirror is stopping");
  }
  return absl::OkStatus();
}

namespace {

// Whether retrying the same write cannot succeed until something else changes: the object (its
// state, so it is written again then), the CRDs or the RBAC rules. 401 (credentials: every write
// fails alike), 409 (a conflict) and 429 (throttling) are retried as before, as are 5xx and
// transport errors.
bool RetryCannotFix(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsPermissionDenied(s) || absl::IsNotFound(s) ||
         absl::IsFailedPrecondition(s) || absl::IsUnknown(s);
}

}  // namespace

absl::Status Mirror::Write(const std::string& key, const std::function<absl::Status()>& write) {
  const absl::Status s = write();
  auto parked = parked_.find(key);
  if (s.ok()) {
    if (parked != parked_.end()) {
      parked_.erase(parked);
      stats_.parked = parked_.size();
      if (options_.on_parked) {
        options_.on_parked(key, absl::OkStatus());
      }
    }
    return s;
  }
  if (!RetryCannotFix(s)) {
    return s;
  }
  const bool first = parked == parked_.end() || parked->second.error != s.message();
  parked_[key] = Parked{std::string(s.message()), clock_.Now() + options_.parked_retry};
  stats_.parked = parked_.size();
  if (first && options_.on_parked) {
    options_.on_parked(key, s);
  }
  return absl::OkStatus();
}

void Mirror::RetryParked(Dirty& dirty) {
  const absl::Time now = clock_.Now();
  for (auto& [key, parked] : parked_) {
    if (parked.retry_at > now) {
      continue;
    }
    parked.retry_at = now + options_.parked_retry;  // written again below, or parked again
    const size_t space = key.find(' ');
    const std::string kind = key.substr(0, space);
    const std::string rest = key.substr(space + 1);
    const std::string name = rest.substr(rest.find('/') + 1);
    if (kind == "Issue" || kind == "AIInsight") {
      dirty.issues.insert(name);
    } else if (kind == "Anomaly") {
      dirty.anomalies.insert(name);
    } else if (kind == "RemediationPlan") {
      dirty.plans.insert(name);
    } else if (kind == "Runbook") {
      dirty.runbooks.insert(rest);
    }
  }
}

absl::Status Mirror::ApplyDirty(Dirty& dirty) {
  // Issues first: their uids are the owner references of insights and plans.
  while (!dirty.issues.empty()) {
    AIOPS_RETURN_IF_ERROR(CheckStop());
    const std::string& name = *dirty.issues.begin();
    const v1::IssueState* issue = p::FindIssue(state_, name);
    if (issue != nullptr && deleted_issues_.count(name) == 0) {
      const std::string where = fmt::format("{}/{}", issue->resource().namespace_(), name);
      AIOPS_RETURN_IF_ERROR(Write("Issue " + where, [&] { return ApplyIssue(*issue); }));
      // An analysis from before a pruned log's snapshot: its insight is in the cluster already,
      // and its time is not known here (writing it without would remove generatedAt).
      const bool analysis_pruned = snapshot_start_ > 0 && !analyzed_at_ms_.contains(issue->name());
      if (issue->analysis_attempt() > 0 && !issue->analysis_failed() && !analysis_pruned) {
        AIOPS_RETURN_IF_ERROR(Write("AIInsight " + where, [&] { return ApplyInsight(*issue); }));
      }
    }
    dirty.issues.erase(dirty.issues.begin());
  }
  while (!dirty.anomalies.empty()) {
    AIOPS_RETURN_IF_ERROR(CheckStop());
    const std::string& name = *dirty.anomalies.begin();
    auto it = anomalies_.find(name);
    if (it != anomalies_.end() && it->second.recorded.anomaly_name() == name) {
      AIOPS_RETURN_IF_ERROR(
          Write(fmt::format("Anomaly {}/{}", it->second.recorded.resource().namespace_(), name),
                [&] { return ApplyAnomaly(name, it->second); }));
    }
    dirty.anomalies.erase(dirty.anomalies.begin());
  }
  while (!dirty.plans.empty()) {
    AIOPS_RETURN_IF_ERROR(CheckStop());
    const v1::PlanState* plan = p::FindPlan(state_, *dirty.plans.begin());
    if (plan != nullptr && deleted_issues_.count(plan->issue_name()) == 0) {
      AIOPS_RETURN_IF_ERROR(
          Write(fmt::format("RemediationPlan {}/{}", plan->namespace_(), plan->name()),
                [&] { return ApplyPlan(*plan); }));
    }
    dirty.plans.erase(dirty.plans.begin());
  }
  while (!dirty.runbooks.empty()) {
    AIOPS_RETURN_IF_ERROR(CheckStop());
    auto it = state_.runbooks.find(*dirty.runbooks.begin());
    if (it != state_.runbooks.end() && it->second.auto_generated() && !it->second.retired()) {
      AIOPS_RETURN_IF_ERROR(
          Write("Runbook " + it->first, [&] { return ApplyRunbook(it->second); }));
    }
    dirty.runbooks.erase(dirty.runbooks.begin());
  }
  return absl::OkStatus();
}

void Mirror::ListLive() {
  live_.clear();
  for (const char* plural : {"issues", "anomalies", "aiinsights", "remediationplans", "runbooks"}) {
    std::string next;
    do {
      std::string path = fmt::format("/apis/{}/{}?limit=500", kApiVersion, plural);
      if (!next.empty()) {
        path += "&continue=" + QueryEscape(next);
      }
      absl::StatusOr<Json> list = client_.Get(path);
      if (!list.ok() || !At(*list, "items").is_array()) {
        break;  // written as before: a failed list costs writes, never a missed one
      }
      for (Json& item : (*list)["items"]) {
        const Json& meta = At(item, "metadata");
        live_[Path(StrAt(meta, "namespace"), plural, StrAt(meta, "name"))] = std::move(item);
      }
      next = StrAt(At(*list, "metadata"), "continue");
    } while (!next.empty());
  }
}

absl::Status Mirror::ApplyObject(const std::string& path, Json object, const Json& status) {
  if (auto found = live_.find(path); found != live_.end()) {
    const Json live = std::move(found->second);
    live_.erase(found);
    if (AlreadyWritten(live, object, status)) {
      ++stats_.skipped;
      if (object["kind"] == "Issue") {
        issue_uids_[object["metadata"]["name"].get<std::string>()] =
            StrAt(At(live, "metadata"), "uid");
      }
      return absl::OkStatus();
    }
  }
  absl::StatusOr<Json> live = client_.Apply(path, object, kFieldManager);
  ++stats_.applies;
  ++stats_.objects;
  if (!live.ok()) {
    ++stats_.errors;
    return live.status();
  }
  if (object["kind"] == "Issue") {
    issue_uids_[object["metadata"]["name"].get<std::string>()] =
        (*live)["metadata"].value("uid", "");
  }
  if (status.is_null()) {
    return absl::OkStatus();
  }
  Json status_object = {{"apiVersion", object["apiVersion"]},
                        {"kind", object["kind"]},
                        {"metadata", {{"name", object["metadata"]["name"]}}},
                        {"status", status}};
  absl::StatusOr<Json> written = client_.Apply(path + "/status", status_object, kFieldManager);
  ++stats_.applies;
  if (!written.ok()) {
    ++stats_.errors;
    return written.status();
  }
  return absl::OkStatus();
}

Json Mirror::OwnerReferences(const std::string& issue_name) const {
  auto uid = issue_uids_.find(issue_name);
  if (uid == issue_uids_.end() || uid->second.empty()) {
    return Json::array();
  }
  return Json::array({{{"apiVersion", kApiVersion},
                       {"kind", "Issue"},
                       {"name", issue_name},
                       {"uid", uid->second},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

absl::Status Mirror::ApplyIssue(const v1::IssueState& issue) {
  Json object = Object("Issue", issue.name(), issue.resource().namespace_(), IssueLabels(issue));
  object["spec"] = {{"severity", issue.severity()},
                    {"source", issue.source().empty() ? "watcher" : issue.source()},
                    {"signalType", issue.signal_type()},
                    {"description", issue.description()},
                    {"resource", Resource(issue.resource())},
                    {"riskScore", issue.risk_score()}};
  if (!issue.previous_issue().empty()) {
    object["spec"]["previousIssue"] = issue.previous_issue();
  }
  object["metadata"]["annotations"] = {
      {kAnnotationOpenedSequence, std::to_string(issue.opened_sequence())},
      {kAnnotationClusterId, state_.config.cluster_id()}};
  Json status = {{"state", issue.state()},
                 {"detectedAt", Rfc3339(issue.detected_at_ms())},
                 {"remediationAttempts", issue.plan_names_size()},
                 {"maxRemediationAttempts", issue.max_attempts()},
                 {"anomalies", Json(p::AnomalyNames(issue))}};
  if (issue.state() == p::kResolved) {
    status["resolvedAt"] = Rfc3339(issue.ended_at_ms());
    status["resolution"] = issue.end_reason();
  } else if (issue.state() == p::kEscalated) {
    status["escalationReason"] = issue.end_reason();
  }
  return ApplyObject(Path(issue.resource().namespace_(), "issues", issue.name()), object, status);
}

absl::Status Mirror::ApplyAnomaly(const std::string& name, const AnomalyView& anomaly) {
  const v1::AnomalyRecorded& r = anomaly.recorded;
  Json labels = {{kLabelSignal, LabelValue(r.signal_type())},
                 {kLabelSeverity, LabelValue(r.severity())}};
  const v1::IssueState* issue =
      anomaly.issue_name.empty() ? nullptr : p::FindIssue(state_, anomaly.issue_name);
  if (issue != nullptr) {
    labels[kLabelIssue] = LabelValue(issue->name());
    labels[kLabelIncident] = LabelValue(issue->incident_id());
  }
  Json object = Object("Anomaly", name, r.resource().namespace_(), labels);
  object["spec"] = {{"signalType", r.signal_type()},  {"source", r.source()},
                    {"severity", r.severity()},       {"resource", Resource(r.resource())},
                    {"description", r.description()}, {"detectedAt", Rfc3339(r.detected_at_ms())}};
  Json status = {{"correlated", issue != nullptr}};
  if (issue != nullptr) {
    status["issueRef"] = {{"name", issue->name()}};
  }
  return ApplyObject(Path(r.resource().namespace_(), "anomalies", name), object, status);
}

absl::Status Mirror::ApplyInsight(const v1::IssueState& issue) {
  const v1::AnalysisCompleted& a = issue.analysis();
  const std::string name = p::Dns1123Name(issue.name() + "-insight");
  Json object = Object("AIInsight", name, issue.resource().namespace_(), IssueLabels(issue));
  object["metadata"]["ownerReferences"] = OwnerReferences(issue.name());
  object["spec"] = {
      {"issueRef", {{"name", issue.name()}}}, {"provider", a.provider()}, {"model", a.model()}};
  Json actions = Json::array();
  for (const v1::ActionSpec& s : a.suggested_actions()) {
    actions.push_back({{"name", s.name().empty() ? s.type() : s.name()},
                       {"action", s.type()},
                       {"description", s.description()},
                       {"params", Params(s.params())}});
  }
  Json status = {{"analysis", a.analysis()},
                 {"confidence", std::round(static_cast<double>(a.confidence()) * 100.0) /
                                    100.0},  // 0.7, not 0.699999988
                 {"recommendations", Json(std::vector<std::string>(a.recommendations().begin(),
                                                                   a.recommendations().end()))},
                 {"suggestedActions", actions},
                 {"attempt", a.attempt()},
                 {"fallback", a.fallback()}};
  if (auto at = analyzed_at_ms_.find(issue.name()); at != analyzed_at_ms_.end()) {
    status["generatedAt"] = Rfc3339(at->second);
  }
  return ApplyObject(Path(issue.resource().namespace_(), "aiinsights", name), object, status);
}

absl::Status Mirror::ApplyPlan(const v1::PlanState& plan) {
  const v1::IssueState* issue = p::FindIssue(state_, plan.issue_name());
  if (issue == nullptr) {
    return absl::OkStatus();
  }
  Json object = Object("RemediationPlan", plan.name(), plan.namespace_(), IssueLabels(*issue));
  object["metadata"]["ownerReferences"] = OwnerReferences(issue->name());
  Json actions = Json::array();
  for (const v1::ActionSpec& a : plan.actions()) {
    Json action = {{"type", a.type()}};
    if (a.params_size() > 0) {
      action["params"] = Params(a.params());
    }
    actions.push_back(action);
  }
  object["spec"] = {
      {"issueRef", {{"name", plan.issue_name()}}},
      {"attempt", plan.attempt()},
      {"strategy", plan.strategy()},
      {"runbookRef", {{"name", plan.runbook_name()}}},
      {"actions", actions},
      {"safetyConstraints", Json(std::vector<std::string>(plan.safety_constraints().begin(),
                                                          plan.safety_constraints().end()))},
      {"dryRun", plan.dry_run()}};
  Json results = Json::array();
  for (const v1::ActionResult& r : plan.results()) {
    results.push_back(
        {{"index", r.index()}, {"succeeded", r.succeeded()}, {"summary", r.summary()}});
  }
  Json status = {{"state", plan.state()},
                 {"result", plan.result()},
                 {"rollbackPerformed", plan.rolled_back()},
                 {"actionResults", results}};
  if (!plan.approver().empty()) {
    status["approvedBy"] = plan.approver();
  }
  return ApplyObject(Path(plan.namespace_(), "remediationplans", plan.name()), object, status);
}

absl::Status Mirror::ApplyRunbook(const v1::RunbookState& runbook) {
  Json labels = {{kLabelAutoGenerated, "true"}};
  if (!runbook.source_issue().empty()) {
    labels[kLabelSourceIssue] = LabelValue(runbook.source_issue());
  }
  Json object = Object("Runbook", runbook.name(), runbook.namespace_(), labels);
  const v1::RunbookSpec& spec = runbook.spec();
  Json steps = Json::array();
  for (const v1::ActionSpec& s : spec.steps()) {
    Json step = {{"name", s.name().empty() ? s.type() : s.name()}, {"action", s.type()}};
    if (!s.description().empty()) {
      step["description"] = s.description();
    }
    if (s.params_size() > 0) {
      step["params"] = Params(s.params());
    }
    steps.push_back(step);
  }
  object["spec"] = {{"description", spec.description()},
                    {"trigger",
                     {{"signalType", spec.trigger().signal_type()},
                      {"severity", spec.trigger().severity()},
                      {"resourceKind", spec.trigger().resource_kind()}}},
                    {"steps", steps}};
  return ApplyObject(Path(runbook.namespace_(), "runbooks", runbook.name()), object, Json());
}

}  // namespace aiops::k8s_sync
