#include "eventlog/record.h"

#include <string>

#include <gtest/gtest.h>

#include "common/crc32c.h"
#include "test_events.h"

namespace aiops::eventlog {
namespace {

using testing::AlertEvent;

// Frames `body` exactly as EncodeRecord does, for bodies EncodeRecord would refuse to make.
std::string FrameRaw(const std::string& body, uint8_t version = kRecordFormatVersion) {
  std::string rest(1, static_cast<char>(version));
  rest += body;
  const uint32_t crc = common::crc32c::Mask(common::crc32c::Value(rest));
  std::string value;
  for (int i = 0; i < 4; ++i) {
    value.push_back(static_cast<char>((crc >> (8 * i)) & 0xffU));
  }
  return value + rest;
}

TEST(RecordTest, RoundTripsAnEvent) {
  v1::Event event = AlertEvent("inc-1");
  event.set_sequence(42);
  const std::string value = EncodeRecord(event);
  auto decoded = DecodeRecord(value);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(event.SerializeAsString(), decoded->SerializeAsString());
  EXPECT_EQ("alert_observed", PayloadName(*decoded));
}

TEST(RecordTest, SequenceKeysAreBigEndianSoBytewiseOrderIsNumericOrder) {
  EXPECT_EQ(std::string("\0\0\0\0\0\0\x01\x00", 8), EncodeSequenceKey(256));
  for (uint64_t a : {0ULL, 1ULL, 255ULL, 256ULL, 65'535ULL, 1ULL << 40}) {
    EXPECT_LT(EncodeSequenceKey(a), EncodeSequenceKey(a + 1));
    EXPECT_EQ(a, *DecodeSequenceKey(EncodeSequenceKey(a)));
  }
  EXPECT_EQ(absl::StatusCode::kDataLoss, DecodeSequenceKey("short").status().code());
}

TEST(RecordTest, EveryFlippedBitIsDetected) {
  const std::string value = EncodeRecord(AlertEvent("inc-1", 100));
  for (size_t i = 0; i < value.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string corrupt = value;
      corrupt[i] = static_cast<char>(corrupt[i] ^ (1 << bit));
      const auto decoded = DecodeRecord(corrupt);
      ASSERT_FALSE(decoded.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(absl::StatusCode::kDataLoss, decoded.status().code());
    }
  }
}

TEST(RecordTest, TruncatedRecordsAreDataLossNotCrashes) {
  const std::string value = EncodeRecord(AlertEvent());
  for (size_t n = 0; n < value.size(); ++n) {
    const auto decoded = DecodeRecord(value.substr(0, n));
    EXPECT_EQ(absl::StatusCode::kDataLoss, decoded.status().code()) << n;
  }
  EXPECT_NE(std::string::npos,
            std::string(DecodeRecord("abc").status().message()).find("too short"));
}

TEST(RecordTest, UnknownFormatVersionAndUnparsableEnvelopeAreDataLoss) {
  const std::string body = AlertEvent().SerializeAsString();
  auto wrong_version = DecodeRecord(FrameRaw(body, 7));
  EXPECT_EQ(absl::StatusCode::kDataLoss, wrong_version.status().code());
  EXPECT_NE(std::string::npos,
            std::string(wrong_version.status().message()).find("format version 7"));
  auto garbage = DecodeRecord(FrameRaw("\xff\xff\xff\xff\xff"));
  EXPECT_EQ(absl::StatusCode::kDataLoss, garbage.status().code());
}

TEST(RecordTest, UnknownCriticalPayloadStopsTheReaderButIgnorableOnesPass) {
  v1::Event event;
  event.set_sequence(9);
  std::string body = event.SerializeAsString();
  body += std::string("\xba\x3e\x00", 3);  // field 999, length-delimited, empty: a future type
  auto critical = DecodeRecord(FrameRaw(body));
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, critical.status().code());
  EXPECT_NE(std::string::npos, std::string(critical.status().message()).find("event 9"));

  event.set_ignorable(true);
  body = event.SerializeAsString() + std::string("\xba\x3e\x00", 3);
  auto ignorable = DecodeRecord(FrameRaw(body));
  ASSERT_TRUE(ignorable.ok()) << ignorable.status();
  EXPECT_EQ("unknown", PayloadName(*ignorable));
}

}  // namespace
}  // namespace aiops::eventlog
