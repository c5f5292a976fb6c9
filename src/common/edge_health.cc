#include "common/edge_health.h"

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/log.h"

namespace aiops::common {
namespace {

absl::Mutex registry_mu(absl::kConstInit);
std::set<const EdgeHealth*>& Registry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static auto* edges = new std::set<const EdgeHealth*>();
  return *edges;
}

std::string Ago(absl::Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1))); }

}  // namespace

EdgeHealth::EdgeHealth(std::string name) : EdgeHealth(std::move(name), Options{}) {}

EdgeHealth::EdgeHealth(std::string name, Options options)
    : name_(std::move(name)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock::Get()) {
  state_.name = name_;
  absl::MutexLock lock(&registry_mu);
  Registry().insert(this);
}

EdgeHealth::~EdgeHealth() {
  absl::MutexLock lock(&registry_mu);
  Registry().erase(this);
}

bool EdgeHealth::MayLogChange(absl::Time now) {
  if (now - last_change_log_ < options_.min_interval) {
    ++unlogged_changes_;
    return false;
  }
  last_change_log_ = now;
  return true;
}

void EdgeHealth::Failure(const absl::Status& cause, bool permanent) {
  const absl::Time now = clock_.Now();
  const std::string& component = options_.component.empty() ? name_ : options_.component;
  absl::MutexLock lock(&mu_);
  ++state_.failures;
  // Code and message only: payloads (a Kubernetes Status reason) are for code, not people.
  state_.last_error =
      fmt::format("{}: {}", absl::StatusCodeToString(cause.code()), cause.message());
  const bool became_permanent = permanent && !state_.permanent;
  state_.permanent = permanent;
  if (!state_.failing) {
    state_.failing = true;
    state_.failing_since = now;
    failures_in_run_ = 0;
    failing_logged_ = false;
  }
  ++failures_in_run_;
  if (!failing_logged_ || became_permanent) {
    // A permanent failure is always said at once: a person must act on it.
    if (!permanent && !MayLogChange(now)) {
      return;
    }
    LogFields fields = {{"edge", name_}, {"cause", state_.last_error}};
    if (unlogged_changes_ > 0) {
      fields.emplace_back("unlogged_changes", std::to_string(unlogged_changes_));
      unlogged_changes_ = 0;
    }
    LogJson(permanent ? LogLevel::kError : LogLevel::kWarn, component,
            permanent ? fmt::format("{}: failing, and retrying cannot fix it: {}", name_,
                                    state_.last_error)
                      : fmt::format("{}: failing: {}", name_, state_.last_error),
            fields);
    failing_logged_ = true;
    last_reminder_ = now;
    return;
  }
  if (now - last_reminder_ >= options_.repeat) {
    last_reminder_ = now;
    LogJson(permanent ? LogLevel::kError : LogLevel::kWarn, component,
            fmt::format("{}: still failing after {} ({} failures): {}", name_,
                        Ago(now - state_.failing_since), failures_in_run_, state_.last_error),
            {{"edge", name_},
             {"cause", state_.last_error},
             {"failures", std::to_string(failures_in_run_)}});
  }
}

void EdgeHealth::Success() {
  const absl::Time now = clock_.Now();
  const std::string& component = options_.component.empty() ? name_ : options_.component;
  absl::MutexLock lock(&mu_);
  ++state_.successes;
  if (!state_.failing) {
    return;
  }
  state_.failing = false;
  state_.permanent = false;
  // The recovery of a failing run nobody was told of is not news (it is counted instead).
  if (!failing_logged_) {
    ++unlogged_changes_;
    return;
  }
  last_change_log_ = now;
  LogJson(LogLevel::kWarn, component,
          fmt::format("{}: recovered after {} ({} failures)", name_,
                      Ago(now - state_.failing_since), failures_in_run_),
          {{"edge", name_},
           {"failures", std::to_string(failures_in_run_)},
           {"last_cause", state_.last_error}});
}

EdgeHealth::Snapshot EdgeHealth::snapshot() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool EdgeHealth::failing() const {
  absl::MutexLock lock(&mu_);
  return state_.failing;
}

std::vector<EdgeHealth::Snapshot> EdgeHealth::All() {
  std::vector<Snapshot> all;
  {
    absl::MutexLock lock(&registry_mu);
    for (const EdgeHealth* edge : Registry()) {
      all.push_back(edge->snapshot());
    }
  }
  std::sort(all.begin(), all.end(),
            [](const Snapshot& a, const Snapshot& b) { return a.name < b.name; });
  return all;
}

}  // namespace aiops::common
