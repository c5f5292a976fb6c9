#include "k8s_sync/leader_election.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "k8s_sync/json_access.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

std::string MicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

}  // namespace

LeaderElector::LeaderElector(KubeClient& client, Options options, Callbacks callbacks)
    : client_(client),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      clock_(options_.clock != nullptr ? *options_.clock : common::SystemClock::Get()),
      health_(fmt::format("lease {}/{}", options_.namespace_name, options_.lease_name),
              common::EdgeHealth::Options{.component = "leader-election", .clock = &clock_}) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void LeaderElector::AbandonForTest() {
  {
    absl::MutexLock lock(&mu_);
    abandon_ = true;
    stopping_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool LeaderElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

bool LeaderElector::WaitForLeadership(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto leading = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return leader_; };
  return mu_.AwaitWithTimeout(absl::Condition(&leading), timeout);
}

bool LeaderElector::TryAcquireOrRenew(absl::Time deadline) {
  const std::string path = fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}",
                                       options_.namespace_name, options_.lease_name);
  const absl::Time now = clock_.Now();
  if (now >= deadline) {
    return false;
  }
  // What is left of the renew deadline bounds each request (the client's clock is assumed to
  // run at the rate of ours; both are the system clock outside tests).
  auto left = [&] { return std::max(deadline - clock_.Now(), absl::Nanoseconds(1)); };
  const auto duration_s = static_cast<int>(absl::ToInt64Seconds(options_.lease_duration));
  absl::StatusOr<Json> lease = client_.Get(path, left());
  if (!lease.ok()) {
    if (!IsKubeNotFound(lease.status())) {
      Report(lease.status());
      return false;
    }
    const Json fresh = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", options_.lease_name}, {"namespace", options_.namespace_name}}},
        {"spec",
         {{"holderIdentity", options_.identity},
          {"leaseDurationSeconds", duration_s},
          {"acquireTime", MicroTime(now)},
          {"renewTime", MicroTime(now)},
          {"leaseTransitions", 0}}}};
    return Report(client_
                      .Create(fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases",
                                          options_.namespace_name),
                              fresh, left())
                      .status());
  }
  Report(absl::OkStatus());
  Json spec =
      lease->contains("spec") && (*lease)["spec"].is_object() ? (*lease)["spec"] : Json::object();
  const std::string holder = StrAt(spec, "holderIdentity");
  const std::string record = holder + "|" + StrAt(spec, "renewTime");
  {
    absl::MutexLock lock(&mu_);
    if (record != observed_record_) {
      observed_record_ = record;
      observed_at_ = now;
    }
    const bool held_by_other = !holder.empty() && holder != options_.identity;
    if (held_by_other && now < observed_at_ + options_.lease_duration) {
      return false;  // someone else holds a live Lease
    }
  }
  const int transitions =
      spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer()
          ? spec["leaseTransitions"].get<int>()
          : 0;
  if (holder != options_.identity) {
    spec["acquireTime"] = MicroTime(now);
    spec["leaseTransitions"] = transitions + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = MicroTime(now);
  Json updated = *lease;
  updated["spec"] = spec;
  // The read resourceVersion travels in metadata: a concurrent writer makes this a conflict.
  return Report(client_.Replace(path, updated, left()).status());
}

bool LeaderElector::Report(const absl::Status& s) {
  // Losing a race for the Lease (a conflict) is the election working, not a failure.
  if (s.ok() || IsKubeConflict(s) || IsKubeAlreadyExists(s)) {
    health_.Success();
  } else {
    health_.Failure(s, IsKubePermanent(s));
  }
  return s.ok();
}

void LeaderElector::Release() {
  const std::string path = fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}",
                                       options_.namespace_name, options_.lease_name);
  // Best effort and bounded: a stop must not hang on an unreachable API server.
  absl::StatusOr<Json> lease = client_.Get(path, options_.renew_deadline);
  if (!lease.ok() || StrAt((*lease)["spec"], "holderIdentity") != options_.identity) {
    return;
  }
  Json updated = *lease;
  updated["spec"]["holderIdentity"] = "";
  updated["spec"]["leaseDurationSeconds"] = 1;
  // why: best effort; the Lease expires anyway
  client_.Replace(path, updated, options_.renew_deadline).IgnoreError();
}

void LeaderElector::Run() {
  for (;;) {
    absl::Time deadline;          // when a leader that has not renewed steps down
    absl::Time attempt_deadline;  // when this attempt's requests are cut off
    bool was_leader = false;
    {
      // As in client-go, a leader's renewal round starts with its first attempt after the last
      // successful renewal and must succeed within the renew deadline, and never later than the
      // Lease's expiry (a slow started_leading callback delays the round; it must not let the
      // Lease run out unnoticed). A candidate's attempt gets a renew deadline too.
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_.Now();
      was_leader = leader_;
      if (leader_) {
        if (renew_started_ == absl::InfiniteFuture()) {
          renew_started_ = now;
        }
        deadline = std::min(renew_started_ + options_.renew_deadline,
                            last_renewed_ + options_.lease_duration);
      } else {
        deadline = now + options_.renew_deadline;
      }
      // A leader past its deadline before it even tried (the process was stalled: frozen, or a
      // slow started_leading callback) still gets one attempt of a retry period: the write is
      // conditional on the read resourceVersion, so it renews only a Lease nobody else took,
      // and if it fails leadership ends at once.
      attempt_deadline = std::max(
          deadline, now + (deadline <= now ? options_.retry_period : absl::ZeroDuration()));
    }
    const bool held = TryAcquireOrRenew(attempt_deadline);
    const absl::Time now = clock_.Now();
    bool started = false;
    bool stopped = false;
    bool exiting = false;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (held) {
        last_renewed_ = now;
        renew_started_ = absl::InfiniteFuture();
        started = !leader_ && !stopping_;
      } else if (was_leader && leader_ && now >= deadline) {
        leader_ = false;  // could not renew in time: another process may take over
        renew_started_ = absl::InfiniteFuture();
        stopped = true;
      }
      if (stopping_) {
        exiting = true;
        release = leader_ && options_.release_on_stop && !abandon_;
        stopped = stopped || leader_;
        leader_ = false;
      }
    }
    if (started) {
      // The callback runs before IsLeader() says so: whoever waits for leadership finds the
      // leader's work (the opened log) ready.
      if (callbacks_.started_leading) {
        callbacks_.started_leading();
      }
      absl::MutexLock lock(&mu_);
      leader_ = true;
    }
    if (stopped && callbacks_.stopped_leading) {
      callbacks_.stopped_leading();
    }
    if (exiting) {
      if (release) {
        Release();
      }
      return;
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    // A leader that failed to renew tries again at the latest when its round's deadline ends,
    // so that it steps down then and not a retry period later.
    absl::Duration wait = options_.retry_period;
    if (leader_ && !held) {
      wait = std::min(wait, std::max(absl::ZeroDuration(), deadline - clock_.Now()));
    }
    mu_.AwaitWithTimeout(absl::Condition(&stopping), wait);
  }
}

}  // namespace aiops::k8s_sync
