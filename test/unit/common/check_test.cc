#include "common/check.h"

#include <gtest/gtest.h>

namespace aiops::common {
namespace {

TEST(CheckDeathTest, FailedCheckAbortsNamingFileAndCondition) {
  const int answer = 41;
  EXPECT_DEATH(AIOPS_CHECK(answer == 42), "check_test.cc:[0-9]+: AIOPS_CHECK failed: answer == 42");
  EXPECT_DEATH(AIOPS_CHECK_MSG(answer > 100, "too small"), "answer > 100: too small");
}

TEST(CheckDeathTest, PassingCheckDoesNothing) {
  int evaluated = 0;
  AIOPS_CHECK(++evaluated == 1);
  EXPECT_EQ(1, evaluated);
}

}  // namespace
}  // namespace aiops::common
