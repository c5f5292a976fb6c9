// How an edge (a component that talks to the outside: the API server, a watch, the Lease, the
// GetAlerts bridge, an analyzer, the webhook, the mirror) reports its failures, so none is
// silent. The edge calls Failure() on each failed exchange and Success() on each good one;
// EdgeHealth turns that into log lines a person can act on and into metrics:
//   - the first failure after a success logs a warning with the cause; a failure that retrying
//     cannot fix (`permanent`: a Forbidden, an invalid name) logs an error;
//   - while failing, one reminder per `repeat` with the failure count and the latest cause;
//   - the recovery (failing -> ok) logs a warning with how long and how many failures;
//   - state changes are rate-limited to one line per `min_interval`: a flapping edge writes
//     one line per interval, naming how many changes it did not log.
// Every live EdgeHealth is listed by EdgeHealth::All() (for /metrics and /readyz); names should
// be unique per process. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/status.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include "common/clock.h"

namespace aiops::common {

class EdgeHealth {
 public:
  struct Options {
    std::string component = "";  // the log line's component (default: the edge's name)
    absl::Duration repeat = absl::Minutes(1);
    absl::Duration min_interval = absl::Seconds(30);
    const Clock* clock = nullptr;  // default: the system clock
  };
  struct Snapshot {
    std::string name;
    bool failing = false;
    bool permanent = false;  // the current failure cannot be fixed by retrying
    uint64_t failures = 0;   // since construction
    uint64_t successes = 0;
    absl::Time failing_since = absl::InfinitePast();
    std::string last_error;  // the latest failure's cause (kept after a recovery)
  };

  explicit EdgeHealth(std::string name);
  EdgeHealth(std::string name, Options options);
  ~EdgeHealth();
  EdgeHealth(const EdgeHealth&) = delete;
  EdgeHealth& operator=(const EdgeHealth&) = delete;
  EdgeHealth(EdgeHealth&&) = delete;
  EdgeHealth& operator=(EdgeHealth&&) = delete;

  void Failure(const absl::Status& cause, bool permanent = false);
  void Success();

  const std::string& name() const { return name_; }
  Snapshot snapshot() const;
  bool failing() const;

  // Every live EdgeHealth's snapshot, by name.
  static std::vector<Snapshot> All();

 private:
  // Whether a state change may be logged now (rate limit); counts it when not.
  bool MayLogChange(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const Options options_;
  const Clock& clock_;

  mutable absl::Mutex mu_;
  Snapshot state_ ABSL_GUARDED_BY(mu_);
  uint64_t failures_in_run_ ABSL_GUARDED_BY(mu_) = 0;  // since failing began
  bool failing_logged_ ABSL_GUARDED_BY(mu_) = false;   // this failing run's first line was written
  absl::Time last_change_log_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_reminder_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t unlogged_changes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace aiops::common
