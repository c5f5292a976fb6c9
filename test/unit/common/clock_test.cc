#include "common/clock.h"

#include <gtest/gtest.h>

namespace aiops::common {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixMillis(1'000));
  EXPECT_EQ(1'000, clock.NowUnixMs());
  EXPECT_EQ(1'000, clock.NowUnixMs());
  clock.Advance(absl::Milliseconds(250));
  EXPECT_EQ(1'250, clock.NowUnixMs());
  clock.Set(absl::FromUnixSeconds(5));
  EXPECT_EQ(5'000, clock.NowUnixMs());
}

TEST(ClockTest, SystemClockIsCloseToAbslNowAndMonotoneEnough) {
  const absl::Time before = absl::Now();
  const absl::Time now = SystemClock::Get().Now();
  EXPECT_GE(now, before);
  EXPECT_LT(now - before, absl::Seconds(5));
}

}  // namespace
}  // namespace aiops::common
