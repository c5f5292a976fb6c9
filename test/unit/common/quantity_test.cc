#include "common/quantity.h"

#include <gtest/gtest.h>

namespace aiops::common {
namespace {

TEST(QuantityTest, ReadsEverySuffixForm) {
  EXPECT_EQ(QuantityValue("512Mi"), 512.0L * 1024 * 1024);
  EXPECT_EQ(QuantityValue("1Gi"), 1024.0L * 1024 * 1024);
  EXPECT_EQ(QuantityValue("1.5Gi"), 1.5L * 1024 * 1024 * 1024);
  EXPECT_EQ(QuantityValue("500m"), 0.5L);
  EXPECT_EQ(QuantityValue("2"), 2.0L);
  EXPECT_EQ(QuantityValue("1k"), 1000.0L);
  EXPECT_EQ(QuantityValue("3E"), 3e18L);
  EXPECT_EQ(QuantityValue("2e3"), 2000.0L);
  EXPECT_EQ(QuantityValue(".5"), 0.5L);
  for (const char* bad : {"", "Mi", "-1Gi", "1 Gi", "1GB", "1e", "1e+", "1ee3", "abc", "1.2.3"}) {
    EXPECT_FALSE(QuantityValue(bad).has_value()) << bad;
  }
}

// The API server reads "1024Mi" back as "1Gi": one amount, two spellings.
TEST(QuantityTest, CanonicalAndWrittenFormsAreTheSameAmount) {
  EXPECT_TRUE(SameQuantity("1024Mi", "1Gi"));
  EXPECT_TRUE(SameQuantity("1536Mi", "1.5Gi"));
  EXPECT_TRUE(SameQuantity("0.5", "500m"));
  EXPECT_TRUE(SameQuantity("1000M", "1G"));
  EXPECT_FALSE(SameQuantity("1000Mi", "1G"));
  EXPECT_FALSE(SameQuantity("512Mi", "1Gi"));
  EXPECT_FALSE(SameQuantity("x", "x"));  // unparsable is never the same amount
}

}  // namespace
}  // namespace aiops::common
