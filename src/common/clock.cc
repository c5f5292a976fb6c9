#include "common/clock.h"

namespace aiops::common {

absl::Time SystemClock::Now() const { return absl::Now(); }

SystemClock& SystemClock::Get() {
  static SystemClock* const kClock = new SystemClock();  // never destroyed: safe at exit
  return *kClock;
}

absl::Time FakeClock::Now() const {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
}

void FakeClock::Set(absl::Time t) {
  absl::MutexLock lock(&mu_);
  now_ = t;
}

}  // namespace aiops::common
