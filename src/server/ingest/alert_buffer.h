// The recent alerts the ChatCLI-compatible GetAlerts serves (DESIGN.md §1): a bounded,
// thread-safe buffer of AlertObserved payloads, fed by the daemon with what its detectors
// submit. It plays the role of the upstream server's watcher window: an alert stays while it is
// younger than `max_age` (by the time it was added, read from the injected clock) and while
// fewer than `capacity` newer alerts arrived. A repeat of the same alert (type, namespace,
// deployment, object) replaces the older entry and moves it to the newest position, so the
// buffer holds the current alert list rather than every repetition. Part of the server layer;
// depends on proto and common.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/container/flat_hash_map.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include "aiops/v1/events.pb.h"
#include "common/clock.h"

namespace aiops::ingest {

class AlertBuffer {
 public:
  struct Options {
    size_t capacity = 1024;                   // > 0
    absl::Duration max_age = absl::Hours(1);  // <= 0: no age limit
  };

  // `clock` must outlive the buffer.
  AlertBuffer(Options options, const common::Clock& clock);
  explicit AlertBuffer(const common::Clock& clock) : AlertBuffer(Options(), clock) {}
  AlertBuffer(const AlertBuffer&) = delete;
  AlertBuffer& operator=(const AlertBuffer&) = delete;
  AlertBuffer(AlertBuffer&&) = delete;
  AlertBuffer& operator=(AlertBuffer&&) = delete;

  // Records `alert`; evicts the oldest entry when the buffer is full.
  void Add(const v1::AlertObserved& alert);
  // Records the event's payload when it is an AlertObserved; ignores every other event.
  void AddEvent(const v1::Event& event);

  // The alerts younger than max_age, oldest first, whose namespace and deployment equal the
  // filters (an empty filter matches everything).
  std::vector<v1::AlertObserved> Recent(std::string_view namespace_filter = "",
                                        std::string_view deployment_filter = "") const;

  size_t size() const;

  // Wraps a submit callback (the runner's Submit) so that every alert it accepts is also
  // recorded here: the daemon hands the result to the detectors. `buffer` must outlive it.
  using Submit = std::function<absl::StatusOr<uint64_t>(v1::Event)>;
  static Submit Recording(AlertBuffer& buffer, Submit submit);

 private:
  struct Entry {
    std::string key;
    absl::Time added;
    v1::AlertObserved alert;
  };

  void ExpireLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const common::Clock& clock_;
  mutable absl::Mutex mu_;
  // Oldest first. Mutable: readers drop expired entries.
  mutable std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Lookup only, never iterated.
  mutable absl::flat_hash_map<std::string, std::list<Entry>::iterator> by_key_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aiops::ingest
