#include "eventlog/chain_writer.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/crc32c.h"
#include "eventlog/event_limits.h"
#include "eventlog/record.h"
#include "test_events.h"

namespace aiops::eventlog {
namespace {

using testing::AlertEvent;

bool Parses(const std::string& bytes) {
  v1::Event event;
  return event.ParseFromString(bytes);
}

// Events whose serialized form parses back, with text at several depths and of several lengths
// (the walk checks 8 bytes at a time before protobuf's own UTF-8 check).
std::vector<v1::Event> ValidEvents() {
  std::vector<v1::Event> events;
  events.push_back(AlertEvent("inc-1", 300));
  v1::Event accented = AlertEvent();
  accented.mutable_alert_observed()->set_message("Grüße, 世界, and a long ASCII tail after it");
  events.push_back(accented);
  v1::Event nested;
  nested.mutable_analysis_completed()->add_suggested_actions()->add_params()->set_value(
      "0123456789abcdef\xf0\x9f\x98\x80");
  events.push_back(nested);
  v1::Event with_unknown = AlertEvent();
  with_unknown.GetReflection()
      ->MutableUnknownFields(&with_unknown)
      ->AddLengthDelimited(999, "\xff\xfe not text: unknown fields are not checked");
  events.push_back(with_unknown);
  return events;
}

TEST(SerializedStringsValidTest, VouchesForWhatParsesBack) {
  for (const v1::Event& event : ValidEvents()) {
    const std::string bytes = event.SerializeAsString();
    EXPECT_TRUE(Parses(bytes));
    EXPECT_TRUE(SerializedStringsValid(bytes)) << event.ShortDebugString();
  }
}

TEST(SerializedStringsValidTest, RefusesInvalidUtf8AtAnyDepthAndPosition) {
  for (const std::string& bad :
       {std::string("\xff"), std::string("0123456789abcdef\xc3\x28"),
        std::string("01234567\xe2\x82"), std::string("\xc0\xaf and ASCII after it, 8+ bytes")}) {
    v1::Event top = AlertEvent();
    top.set_cluster_id(bad);
    v1::Event nested;
    nested.mutable_analysis_completed()->add_suggested_actions()->add_params()->set_value(bad);
    for (const v1::Event* event : {&top, &nested}) {
      const std::string bytes = event->SerializeAsString();
      EXPECT_FALSE(Parses(bytes));
      EXPECT_FALSE(SerializedStringsValid(bytes)) << event->ShortDebugString();
    }
  }
}

// The walk may decline bytes that parse (the caller then parses them), never the reverse: every
// mutation of a valid envelope that it vouches for must parse back.
TEST(SerializedStringsValidTest, NeverVouchesForBytesThatDoNotParse) {
  std::mt19937 rng(20261126);
  int vouched = 0;
  for (const v1::Event& event : ValidEvents()) {
    const std::string bytes = event.SerializeAsString();
    for (int round = 0; round < 4000; ++round) {
      std::string mutated = bytes;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        const size_t at = rng() % mutated.size();
        switch (rng() % 3) {
          case 0:
            mutated[at] = static_cast<char>(rng() & 0xffU);
            break;
          case 1:
            mutated.resize(at);
            break;
          default:
            mutated.insert(at, 1, static_cast<char>(rng() & 0xffU));
            break;
        }
        if (mutated.empty()) {
          break;
        }
      }
      if (SerializedStringsValid(mutated)) {
        ++vouched;
        EXPECT_TRUE(Parses(mutated)) << "vouched for bytes that do not parse, round " << round;
      }
    }
  }
  EXPECT_GT(vouched, 0);
}

TEST(SerializedStringsValidTest, DeclinesGroupsAndBadWireTypes) {
  EXPECT_FALSE(SerializedStringsValid(std::string("\x0b\x0c", 2)));  // field 1 start/end group
  EXPECT_FALSE(SerializedStringsValid(std::string("\x0f", 1)));      // wire type 7
  EXPECT_FALSE(SerializedStringsValid(std::string("\x00\x01", 2)));  // field number 0
  EXPECT_TRUE(SerializedStringsValid(""));
}

TEST(ChainWriterTest, FrameRecordWritesTheAssignedFieldsAsProtobufDoes) {
  v1::Event body_event = AlertEvent("inc-7");
  const std::string body = body_event.SerializeAsString();
  for (const auto& [sequence, hash] : {std::pair<uint64_t, std::string>{1, ""},
                                       {300, std::string(32, '\x9c')},
                                       {uint64_t{1} << 60, std::string(32, '\x01')}}) {
    v1::Event header;
    header.set_sequence(sequence);
    header.set_prev_hash(hash);
    std::string rest(1, static_cast<char>(kRecordFormatVersion));
    rest += header.SerializeAsString() + body;
    std::string expected;
    const uint32_t crc = common::crc32c::Mask(common::crc32c::Value(rest));
    for (int i = 0; i < 4; ++i) {
      expected.push_back(static_cast<char>((crc >> (8 * i)) & 0xffU));
    }
    expected += rest;

    std::string framed = "stale contents of a reused buffer, longer than nothing";
    FrameRecord(sequence, hash, body, framed);
    EXPECT_EQ(expected, framed) << sequence;
    absl::StatusOr<v1::Event> decoded = DecodeRecord(framed);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(sequence, decoded->sequence());
    EXPECT_EQ(hash, decoded->prev_hash());
    EXPECT_EQ("inc-7", decoded->incident_id());
  }
}

TEST(ChainWriterTest, PrepareForAppendRefusesInvalidUtf8NamingTheEvent) {
  std::vector<v1::Event> events = {AlertEvent(), AlertEvent()};
  events[1].mutable_alert_observed()->set_object("pod-\xff");
  PreparedBatch prepared;
  const absl::Status s = PrepareForAppend(events, LogLimits{}, prepared);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, s.code());
  EXPECT_NE(std::string::npos, std::string(s.message()).find("event 1 of the batch")) << s;
  EXPECT_NE(std::string::npos, std::string(s.message()).find("alert_observed.object")) << s;
}

TEST(ChainWriterTest, PreparedBodiesAreTheEnvelopesWithoutTheLogsFields) {
  std::vector<v1::Event> events = {AlertEvent("inc-1", 100), AlertEvent("", 20)};
  events[0].set_sequence(99);
  events[0].set_prev_hash("forged");
  std::vector<v1::Event> expected = events;
  for (v1::Event& e : expected) {
    e.clear_sequence();
    e.clear_prev_hash();
    e.set_schema_version(kSchemaVersion);
  }
  PreparedBatch prepared;
  ASSERT_TRUE(PrepareForAppend(events, LogLimits{}, prepared).ok());
  ASSERT_EQ(2U, prepared.size());
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(expected[i].SerializeAsString(), prepared.body(i)) << i;
    EXPECT_EQ(expected[i].incident_id(), prepared.incident(i)) << i;
  }
}

}  // namespace
}  // namespace aiops::eventlog
