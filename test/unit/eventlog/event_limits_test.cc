#include "eventlog/event_limits.h"

#include <string>

#include <gtest/gtest.h>

#include "test_events.h"

namespace aiops::eventlog {
namespace {

using testing::AlertEvent;

TEST(EventLimitsTest, ValidUtf8PassesAndInvalidNamesTheField) {
  v1::Event event = AlertEvent();
  event.mutable_alert_observed()->set_message("Grüße, 世界");
  EXPECT_TRUE(ValidateUtf8(event).ok());

  v1::Event nested;
  nested.mutable_analysis_completed()->add_suggested_actions()->add_params()->set_value(
      std::string("bad \xc3\x28 byte"));
  const absl::Status s = ValidateUtf8(nested);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, s.code());
  EXPECT_NE(std::string::npos,
            std::string(s.message()).find("analysis_completed.suggested_actions.params.value"))
      << s;
}

TEST(EventLimitsTest, FittingEventsAreLeftAlone) {
  v1::Event event = AlertEvent("", 100);
  const std::string before = event.SerializeAsString();
  ASSERT_TRUE(TruncateToFit(event, 4096).ok());
  EXPECT_EQ(before, event.SerializeAsString());
  EXPECT_FALSE(event.truncated());
}

TEST(EventLimitsTest, OversizedEventsLoseTheirLongestTextWithAMarker) {
  v1::Event event;
  v1::ContextCollected* context = event.mutable_context_collected();
  context->set_issue_name("api-gateway-pod-restart-1771276354");
  context->set_context(std::string(2'000'000, 'c'));
  context->set_error(std::string(300, 'e'));
  const size_t original = event.ByteSizeLong();
  ASSERT_TRUE(TruncateToFit(event, 64 * 1024).ok());
  EXPECT_LE(event.ByteSizeLong(), 64U * 1024U);
  EXPECT_TRUE(event.truncated());
  EXPECT_EQ(original, event.original_size());
  EXPECT_EQ("api-gateway-pod-restart-1771276354", context->issue_name());
  EXPECT_EQ(std::string(300, 'e'), context->error());
  EXPECT_NE(std::string::npos, context->context().find("...[truncated "));
}

TEST(EventLimitsTest, TruncationNeverSplitsAUtf8Character) {
  v1::Event event;
  std::string text;
  while (text.size() < 100'000) {
    text += "é世";  // 2- and 3-byte sequences
  }
  event.mutable_analysis_completed()->set_analysis(text);
  for (size_t cap : {1000U, 1001U, 1002U, 4099U}) {
    v1::Event copy = event;
    ASSERT_TRUE(TruncateToFit(copy, cap).ok());
    EXPECT_TRUE(ValidateUtf8(copy).ok()) << cap;
    v1::Event parsed;
    EXPECT_TRUE(parsed.ParseFromString(copy.SerializeAsString())) << cap;
  }
}

TEST(EventLimitsTest, ManySmallFieldsThatCannotBeCutAreRefused) {
  v1::Event event;
  for (int i = 0; i < 5000; ++i) {
    event.mutable_analysis_completed()->add_recommendations("short");
  }
  const absl::Status s = TruncateToFit(event, 1024);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, s.code());
}

}  // namespace
}  // namespace aiops::eventlog
