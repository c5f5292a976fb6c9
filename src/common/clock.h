// Wall time enters the program only through a Clock held by the edges (k8s_sync, server).
// Projections and stages never see a Clock: their time is the logical time of events.
// SystemClock reads the real clock; FakeClock is advanced by hand in tests. Both are thread-safe.
#pragma once

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

namespace aiops::common {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // Milliseconds since the Unix epoch: the unit of logical time stamped on events.
  int64_t NowUnixMs() const { return absl::ToUnixMillis(Now()); }
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override;
  // A process-wide instance; it outlives every user.
  static SystemClock& Get();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aiops::common
