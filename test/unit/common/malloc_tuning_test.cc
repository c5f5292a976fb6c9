#include "common/malloc_tuning.h"

#include <cstdlib>
#include <string>

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

TEST(MallocTuningTest, ThresholdsSetInTheTunablesAreLeftToThem) {
  EXPECT_TRUE(TunablesSetThresholds("glibc.malloc.trim_threshold=1048576"));
  EXPECT_TRUE(TunablesSetThresholds("glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=65536"));
  EXPECT_FALSE(TunablesSetThresholds(""));
  EXPECT_FALSE(TunablesSetThresholds("glibc.malloc.hugetlb=1:glibc.malloc.top_pad=0"));
  EXPECT_FALSE(TunablesSetThresholds("xglibc.malloc.trim_threshold=1"));

  const char* before = std::getenv("GLIBC_TUNABLES");
  const std::string saved = before != nullptr ? before : "";
  ASSERT_EQ(0, setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576", 1));
  EXPECT_EQ("from GLIBC_TUNABLES", SetMallocThresholds());
  if (before != nullptr) {
    setenv("GLIBC_TUNABLES", saved.c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace
}  // namespace aiops::common
