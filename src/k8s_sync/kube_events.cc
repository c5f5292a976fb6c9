#include "k8s_sync/kube_events.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "common/utf8.h"
#include "k8s_sync/json_access.h"

namespace aiops::k8s_sync {
namespace {

constexpr size_t kMaxMessageBytes = 1024;

// Valid UTF-8 (an API server's error body may not be) and at most kMaxMessageBytes.
std::string Cut(const std::string& text) {
  return common::TruncateUtf8(common::SanitizeUtf8(text), kMaxMessageBytes, "...");
}

}  // namespace

nlohmann::json KubeEventObject(const KubeEvent& event) {
  const std::string ns = event.namespace_name.empty() ? "default" : event.namespace_name;
  const std::string at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", event.at, absl::UTCTimeZone());
  nlohmann::json involved = {
      {"apiVersion", event.api_version}, {"kind", event.kind}, {"name", event.name}};
  if (!event.namespace_name.empty()) {
    involved["namespace"] = event.namespace_name;
  }
  if (!event.uid.empty()) {
    involved["uid"] = event.uid;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", event.name + "."}, {"namespace", ns}}},
          {"involvedObject", involved},
          {"type", event.type},
          {"reason", event.reason},
          {"message", Cut(event.message)},
          {"source", {{"component", kEventComponent}}},
          {"firstTimestamp", at},
          {"lastTimestamp", at},
          {"count", 1}};
}

namespace {

namespace p = projections;

// The apiVersion of a workload kind (the resources issues are opened on).
std::string ApiVersionOf(const std::string& kind) {
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
      kind == "ReplicaSet") {
    return "apps/v1";
  }
  return "v1";
}

KubeEvent On(std::string api_version, std::string kind, std::string ns, std::string name,
             std::string type, std::string reason, std::string message, absl::Time at) {
  KubeEvent event;
  event.api_version = std::move(api_version);
  event.kind = std::move(kind);
  event.namespace_name = std::move(ns);
  event.name = std::move(name);
  event.type = std::move(type);
  event.reason = std::move(reason);
  event.message = std::move(message);
  event.at = at;
  return event;
}

KubeEvent OnIssue(const v1::IssueState& issue, std::string type, std::string reason,
                  const std::string& message, absl::Time at) {
  return On("platform.chatcli.io/v1alpha1", "Issue", issue.resource().namespace_(), issue.name(),
            std::move(type), std::move(reason),
            fmt::format("incident {}: {}", issue.incident_id(), message), at);
}

// The plan's event and, when the plan's issue is known, its workload's.
void OnPlanAndWorkload(const p::PipelineState& state, const std::string& plan_name,
                       const std::string& type, const std::string& plan_reason,
                       const std::string& plan_message, const std::string& workload_reason,
                       const std::string& workload_message, absl::Time at,
                       std::vector<KubeEvent>& out) {
  const v1::PlanState* plan = p::FindPlan(state, plan_name);
  if (plan == nullptr) {
    return;
  }
  const v1::IssueState* issue = p::FindIssue(state, plan->issue_name());
  const std::string incident = issue != nullptr ? issue->incident_id() : "";
  out.push_back(On("platform.chatcli.io/v1alpha1", "RemediationPlan", plan->namespace_(),
                   plan->name(), type, plan_reason,
                   fmt::format("incident {}: {}", incident, plan_message), at));
  if (issue != nullptr && !workload_reason.empty()) {
    const v1::ResourceRef& r = issue->resource();
    out.push_back(On(ApiVersionOf(r.kind()), r.kind(), r.namespace_(), r.name(), type,
                     workload_reason,
                     fmt::format("chatcli-aiops {} (plan {}, incident {})", workload_message,
                                 plan->name(), incident),
                     at));
  }
}

std::string ActionType(const p::PipelineState& state, const std::string& plan_name, int index) {
  const v1::PlanState* plan = p::FindPlan(state, plan_name);
  return plan != nullptr && index >= 0 && index < plan->actions_size() ? plan->actions(index).type()
                                                                       : std::string("action");
}

}  // namespace

std::vector<KubeEvent> KubeEventsFor(const v1::Event& e, const p::PipelineState& state,
                                     absl::Time at) {
  std::vector<KubeEvent> out;
  switch (e.payload_case()) {
    case v1::Event::kIssueOpened: {
      const v1::IssueOpened& o = e.issue_opened();
      if (const v1::IssueState* issue = p::FindIssue(state, o.issue_name()); issue != nullptr) {
        out.push_back(OnIssue(*issue, "Normal", "Detected",
                              fmt::format("{} on {} {}/{} (severity {}): {}", o.signal_type(),
                                          o.resource().kind(), o.resource().namespace_(),
                                          o.resource().name(), o.severity(), o.description()),
                              at));
      }
      break;
    }
    case v1::Event::kIssueStateChanged: {
      const v1::IssueStateChanged& c = e.issue_state_changed();
      if (const v1::IssueState* issue = p::FindIssue(state, c.issue_name()); issue != nullptr) {
        out.push_back(OnIssue(*issue, c.to_state() == p::kEscalated ? "Warning" : "Normal",
                              c.to_state(),
                              fmt::format("{} -> {}{}{}", c.from_state(), c.to_state(),
                                          c.reason().empty() ? "" : ": ", c.reason()),
                              at));
      }
      break;
    }
    case v1::Event::kActionSucceeded: {
      const v1::ActionSucceeded& a = e.action_succeeded();
      const std::string type = ActionType(state, a.plan_name(), a.index());
      const std::string what = a.already_applied() ? "found already applied" : "applied";
      OnPlanAndWorkload(state, a.plan_name(), "Normal", "ActionSucceeded",
                        fmt::format("action {} ({}) {}: {}", a.index(), type, what, a.summary()),
                        "RemediationApplied", fmt::format("{} {}: {}", what, type, a.summary()), at,
                        out);
      break;
    }
    case v1::Event::kActionFailed: {
      const v1::ActionFailed& a = e.action_failed();
      const std::string type = ActionType(state, a.plan_name(), a.index());
      OnPlanAndWorkload(
          state, a.plan_name(), "Warning", "ActionFailed",
          fmt::format("action {} ({}) failed{}: {}", a.index(), type,
                      a.blocked_by_safety() ? " (blocked by the safety policy)" : "", a.error()),
          "RemediationFailed", fmt::format("could not apply {}: {}", type, a.error()), at, out);
      break;
    }
    case v1::Event::kVerificationPassed: {
      const v1::VerificationPassed& v = e.verification_passed();
      OnPlanAndWorkload(state, v.plan_name(), "Normal", "VerificationPassed",
                        fmt::format("verified: {}", v.summary()), "", "", at, out);
      break;
    }
    case v1::Event::kVerificationFailed: {
      const v1::VerificationFailed& v = e.verification_failed();
      OnPlanAndWorkload(state, v.plan_name(), "Warning", "VerificationFailed",
                        fmt::format("verification failed: {}", v.reason()), "", "", at, out);
      break;
    }
    case v1::Event::kPlanRolledBack: {
      const v1::PlanRolledBack& r = e.plan_rolled_back();
      OnPlanAndWorkload(
          state, r.plan_name(), "Warning", "RolledBack",
          fmt::format("rolled back to the preflight snapshot: {}: {}", r.reason(), r.summary()),
          "RemediationRolledBack",
          fmt::format("rolled its change back ({}): {}", r.reason(), r.summary()), at, out);
      break;
    }
    default:  // the other events call for no Kubernetes Event
      break;
  }
  return out;
}

// --- KubeEventSink

KubeEventSink::KubeEventSink(KubeClient& client, Options options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : common::SystemClock::Get()),
      health_("kubernetes-events",
              common::EdgeHealth::Options{.component = "kube-events", .clock = &clock_}) {}

KubeEventSink::~KubeEventSink() { Stop(); }

void KubeEventSink::Start() {
  thread_ = std::thread([this] { Run(); });
}

void KubeEventSink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  absl::MutexLock lock(&mu_);
  stats_.dropped += queue_.size();  // best effort: a shutdown does not wait for them
  queue_.clear();
}

void KubeEventSink::Post(KubeEvent event) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= options_.max_queue) {
    ++stats_.dropped;
    return;
  }
  queue_.push_back(std::move(event));
}

KubeEventSink::Stats KubeEventSink::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void KubeEventSink::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) {
        return;
      }
    }
    Drain(/*stop_when_stopping=*/true);
  }
}

void KubeEventSink::Flush() { Drain(/*stop_when_stopping=*/false); }

void KubeEventSink::Drain(bool stop_when_stopping) {
  absl::MutexLock write_lock(&write_mu_);
  for (;;) {
    KubeEvent event;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty() || (stopping_ && stop_when_stopping)) {
        return;
      }
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    Write(event);
  }
}

std::string KubeEventSink::LookUpUid(const KubeEvent& event) {
  std::string plural = event.kind;
  std::transform(plural.begin(), plural.end(), plural.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  plural += "s";
  const std::string group_path = event.api_version.find('/') == std::string::npos
                                     ? "/api/" + event.api_version
                                     : "/apis/" + event.api_version;
  if (event.namespace_name.empty() || event.name.empty()) {
    return "";
  }
  absl::StatusOr<nlohmann::json> live = client_.Get(
      fmt::format("{}/namespaces/{}/{}/{}", group_path, event.namespace_name, plural, event.name),
      absl::Seconds(5));
  return live.ok() ? StrAt(At(*live, "metadata"), "uid") : "";
}

void KubeEventSink::Write(const KubeEvent& event) {
  const absl::Time now = clock_.Now();
  const std::string object =
      fmt::format("{}/{}/{}/{}", event.api_version, event.kind, event.namespace_name, event.name);
  const std::string key =
      fmt::format("{}|{}|{}|{}", object, event.type, event.reason, event.message);
  // Aggregation: the same Event again within the window is a count increment.
  if (auto it = written_.find(key);
      it != written_.end() && now - it->second.at < options_.aggregate_window) {
    Written& w = it->second;
    const nlohmann::json patch = {
        {"count", w.count + 1},
        {"lastTimestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", event.at, absl::UTCTimeZone())}};
    const absl::Status s =
        client_
            .Patch(fmt::format("/api/v1/namespaces/{}/events/{}", w.namespace_name, w.name), patch,
                   "application/merge-patch+json", absl::Seconds(5))
            .status();
    if (s.ok()) {
      health_.Success();
    } else if (!IsKubeNotFound(s)) {
      health_.Failure(s, IsKubePermanent(s));
    }
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      ++w.count;
      w.at = now;
      ++stats_.aggregated;
      return;
    }
    if (!IsKubeNotFound(s)) {
      ++stats_.errors;
      return;
    }
    written_.erase(it);  // the Event expired (the API server keeps them an hour): a new one
  }
  // Spam filter per object: a burst, then one per refill period.
  Bucket& bucket = buckets_[object];
  if (bucket.refilled == absl::Time()) {
    bucket.tokens = options_.burst;
    bucket.refilled = now;
  }
  bucket.tokens = std::min<double>(
      options_.burst, bucket.tokens + absl::FDivDuration(now - bucket.refilled, options_.refill));
  bucket.refilled = now;
  if (bucket.tokens < 1) {
    absl::MutexLock lock(&mu_);
    ++stats_.spam_filtered;
    return;
  }
  bucket.tokens -= 1;
  KubeEvent with_uid = event;
  if (with_uid.uid.empty()) {
    with_uid.uid = LookUpUid(event);
  }
  const nlohmann::json object_json = KubeEventObject(with_uid);
  const std::string ns = object_json["metadata"]["namespace"].get<std::string>();
  absl::StatusOr<nlohmann::json> created = client_.Create(
      fmt::format("/api/v1/namespaces/{}/events", ns), object_json, absl::Seconds(5));
  if (created.ok()) {
    health_.Success();
  } else {
    health_.Failure(created.status(), IsKubePermanent(created.status()));
  }
  absl::MutexLock lock(&mu_);
  if (!created.ok()) {
    ++stats_.errors;
    return;
  }
  ++stats_.created;
  const nlohmann::json& meta = At(*created, "metadata");
  written_[key] = Written{StrAt(meta, "name"), ns, 1, now};
  // Forget what can no longer aggregate.
  for (auto it = written_.begin(); it != written_.end();) {
    it = now - it->second.at >= options_.aggregate_window ? written_.erase(it) : std::next(it);
  }
}

}  // namespace aiops::k8s_sync
