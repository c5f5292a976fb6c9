// server::ReadPipelined: chunks arrive in log order on the calling thread, the fold they feed
// rebuilds the same state as a one-thread loop, and errors from either side stop it.
#include "server/pipelined_read.h"

#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <gtest/gtest.h>

#include "eventlog/memory_event_log.h"
#include "pipeline_harness.h"
#include "projections/pipeline_state.h"

namespace aiops::core_testing {
namespace {

namespace p = projections;

// A log of a few hundred events from alerts on a handful of deployments, and the state the
// engine had after them.
struct Recorded {
  eventlog::InMemoryEventLog log;
  std::string digest;
};

void Record(Recorded& out) {
  PipelineHarness h;
  for (int i = 0; i < 200; ++i) {
    h.Advance(7'000);
    h.Feed(Alert(i % 3 == 0 ? "OOMKilled" : "HighRestartCount", "api-" + std::to_string(i % 7),
                 "production", "uid-" + std::to_string(i % 11)));
  }
  ASSERT_TRUE(out.log.Append(h.log()).ok());
  out.digest = p::StateDigest(h.state());
}

TEST(PipelinedReadTest, ChunksArriveInLogOrderAndRebuildTheSameState) {
  Recorded recorded;
  Record(recorded);
  const uint64_t last = recorded.log.LastSequence();
  ASSERT_GT(last, 200U);
  for (const size_t chunk : {1U, 7U, 4096U}) {
    server::PipelinedReadOptions options;
    options.chunk = chunk;
    p::PipelineState state;
    uint64_t expected = recorded.log.FirstSequence();
    const absl::Status s =
        server::ReadPipelined(recorded.log, expected, options, [&](std::vector<v1::Event>& events) {
          EXPECT_LE(events.size(), chunk);
          for (const v1::Event& e : events) {
            EXPECT_EQ(expected++, e.sequence());
            p::Apply(state, e);
          }
          return absl::OkStatus();
        });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(last + 1, expected);
    EXPECT_EQ(recorded.digest, p::StateDigest(state)) << "chunk " << chunk;
  }
}

TEST(PipelinedReadTest, StopsAtTheLastSequenceAsked) {
  Recorded recorded;
  Record(recorded);
  server::PipelinedReadOptions options;
  options.chunk = 10;
  options.last = 25;
  std::vector<uint64_t> seen;
  ASSERT_TRUE(server::ReadPipelined(recorded.log, 3, options, [&](std::vector<v1::Event>& events) {
                for (const v1::Event& e : events) {
                  seen.push_back(e.sequence());
                }
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(23U, seen.size());
  EXPECT_EQ(3U, seen.front());
  EXPECT_EQ(25U, seen.back());
}

TEST(PipelinedReadTest, AReadErrorComesAfterTheChunksBeforeIt) {
  Recorded recorded;
  Record(recorded);
  recorded.log.CorruptRecordForTest(45, "not a record");
  server::PipelinedReadOptions options;
  options.chunk = 10;
  uint64_t consumed = 0;
  const absl::Status s =
      server::ReadPipelined(recorded.log, 1, options, [&](std::vector<v1::Event>& events) {
        consumed += events.size();
        return absl::OkStatus();
      });
  EXPECT_EQ(absl::StatusCode::kDataLoss, s.code()) << s;
  EXPECT_EQ(40U, consumed);  // the chunks [1, 40]; [41, 50] holds the corrupt record
}

TEST(PipelinedReadTest, AConsumerErrorStopsTheRead) {
  Recorded recorded;
  Record(recorded);
  server::PipelinedReadOptions options;
  options.chunk = 5;
  int calls = 0;
  const absl::Status s =
      server::ReadPipelined(recorded.log, 1, options, [&](std::vector<v1::Event>&) {
        return ++calls == 3 ? absl::CancelledError("enough") : absl::OkStatus();
      });
  EXPECT_EQ(absl::StatusCode::kCancelled, s.code());
  EXPECT_EQ(3, calls);
}

}  // namespace
}  // namespace aiops::core_testing
