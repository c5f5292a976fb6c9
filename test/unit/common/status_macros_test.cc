#include "common/status_macros.h"

#include <gtest/gtest.h>

namespace aiops::common {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) {
    return absl::InvalidArgumentError("odd");
  }
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  AIOPS_ASSIGN_OR_RETURN(const int half, Half(x));
  AIOPS_ASSIGN_OR_RETURN(const int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  AIOPS_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(2, *Quarter(8));
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, Quarter(6).status().code());
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, Quarter(7).status().code());
}

TEST(StatusMacrosTest, ReturnIfErrorReturnsOnlyOnError) {
  EXPECT_TRUE(CheckEven(4).ok());
  const absl::Status s = CheckEven(5);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, s.code());
  EXPECT_EQ("odd", s.message());
}

}  // namespace
}  // namespace aiops::common
