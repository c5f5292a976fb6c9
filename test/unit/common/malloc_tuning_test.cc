#include "common/malloc_tuning.h"

#include <gtest/gtest.h>

namespace aiops::common {
namespace {

TEST(MallocTuningTest, TheHugePageEntryIsFoundAnywhereInTheListAndOnlyWhole) {
  EXPECT_TRUE(TunablesAskForHugePages("glibc.malloc.hugetlb=1"));
  EXPECT_TRUE(TunablesAskForHugePages("glibc.malloc.tcache_count=64:glibc.malloc.hugetlb=1"));
  EXPECT_TRUE(TunablesAskForHugePages("glibc.malloc.hugetlb=1:glibc.malloc.mxfast=0"));
  EXPECT_FALSE(TunablesAskForHugePages(""));
  EXPECT_FALSE(TunablesAskForHugePages("glibc.malloc.hugetlb=0"));
  EXPECT_FALSE(TunablesAskForHugePages("glibc.malloc.hugetlb=10"));
  EXPECT_FALSE(TunablesAskForHugePages("xglibc.malloc.hugetlb=1"));
}

}  // namespace
}  // namespace aiops::common
