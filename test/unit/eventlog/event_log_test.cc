// Behaviour every EventLog implementation shares, run against the in-memory and RocksDB logs.
#include "eventlog/event_log.h"

#include <filesystem>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eventlog/memory_event_log.h"
#include "eventlog/record.h"
#include "eventlog/rocks_event_log.h"
#include "support/test_dir.h"
#include "test_events.h"
#include <unistd.h>

namespace aiops::eventlog {
namespace {

using testing::AlertEvent;

struct MemoryLog {
  static std::unique_ptr<EventLog> Make(const std::string&, LogLimits limits) {
    return std::make_unique<InMemoryEventLog>(limits);
  }
};

struct RocksLog {
  static std::unique_ptr<EventLog> Make(const std::string& dir, LogLimits limits) {
    RocksLogOptions options;
    options.path = dir;
    options.sync = false;
    options.limits = limits;
    auto log = RocksEventLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }
};

template <typename Factory>
class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = aiops::testing::FreshTestDir("eventlog");
    log_ = Factory::Make(dir_, limits_);
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  SequenceRange MustAppend(std::vector<v1::Event> events) {
    auto range = log_->Append(std::move(events));
    EXPECT_TRUE(range.ok()) << range.status();
    return range.ok() ? *range : SequenceRange{};
  }

  LogLimits limits_;
  std::string dir_;
  std::unique_ptr<EventLog> log_;
};

using Implementations = ::testing::Types<MemoryLog, RocksLog>;
TYPED_TEST_SUITE(EventLogTest, Implementations);

TYPED_TEST(EventLogTest, AssignsDenseSequencesAndChainsHashes) {
  EXPECT_EQ(0U, this->log_->LastSequence());
  EXPECT_EQ(1U, this->log_->FirstSequence());
  const SequenceRange a = this->MustAppend({AlertEvent("i1"), AlertEvent("i2")});
  const SequenceRange b = this->MustAppend({AlertEvent("i1")});
  EXPECT_EQ(1U, a.first);
  EXPECT_EQ(2U, a.last);
  EXPECT_EQ(3U, b.first);
  EXPECT_EQ(3U, b.last);
  EXPECT_EQ(3U, this->log_->LastSequence());

  auto events = this->log_->Read(1, 100);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(3U, events->size());
  EXPECT_TRUE((*events)[0].prev_hash().empty());
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ(i + 1, (*events)[i].sequence());
    EXPECT_EQ(kSchemaVersion, (*events)[i].schema_version());
    if (i > 0) {
      EXPECT_EQ(32U, (*events)[i].prev_hash().size());
    }
  }
  auto report = VerifyLog(*this->log_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(3U, report->records);
  EXPECT_EQ(3U, report->last_sequence);
  EXPECT_EQ(64U, report->last_hash_hex.size());
}

TYPED_TEST(EventLogTest, TheLogOwnsSequenceAndHashFieldsSoCallersCannotForgeThem) {
  v1::Event forged = AlertEvent();
  forged.set_sequence(1000);
  forged.set_prev_hash("forged");
  forged.set_truncated(true);
  this->MustAppend({forged});
  auto events = this->log_->Read(1, 1);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(1U, (*events)[0].sequence());
  EXPECT_TRUE((*events)[0].prev_hash().empty());
  EXPECT_FALSE((*events)[0].truncated());
}

TYPED_TEST(EventLogTest, RejectsBadBatchesWholeAndWritesNothing) {
  this->MustAppend({AlertEvent()});
  v1::Event no_payload;
  v1::Event bad_utf8 = AlertEvent();
  bad_utf8.mutable_alert_observed()->set_message("\xff\xfe");
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, this->log_->Append({}).status().code());
  EXPECT_EQ(absl::StatusCode::kInvalidArgument,
            this->log_->Append({AlertEvent(), no_payload}).status().code());
  const absl::Status utf8 = this->log_->Append({AlertEvent(), bad_utf8}).status();
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, utf8.code());
  EXPECT_NE(std::string::npos, std::string(utf8.message()).find("alert_observed.message"));
  EXPECT_EQ(1U, this->log_->LastSequence());
  EXPECT_EQ(2U, this->MustAppend({AlertEvent()}).first);
  EXPECT_TRUE(VerifyLog(*this->log_).ok());
}

TYPED_TEST(EventLogTest, OversizedEventsAreTruncatedWithAMarkerNotDropped) {
  this->log_.reset();
  this->limits_.max_event_bytes = 4096;
  this->log_ = TypeParam::Make(this->dir_, this->limits_);
  this->MustAppend({AlertEvent("i", 100'000)});
  auto events = this->log_->Read(1, 1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(1U, events->size());
  EXPECT_TRUE((*events)[0].truncated());
  EXPECT_GT((*events)[0].original_size(), 100'000U);
  EXPECT_NE(std::string::npos, (*events)[0].alert_observed().message().find("...[truncated "));
}

TYPED_TEST(EventLogTest, IndexesEventsByIncident) {
  this->MustAppend({AlertEvent("a"), AlertEvent("b"), AlertEvent("")});
  this->MustAppend({AlertEvent("a")});
  EXPECT_EQ((std::vector<uint64_t>{1, 4}), *this->log_->IncidentSequences("a"));
  EXPECT_EQ((std::vector<uint64_t>{2}), *this->log_->IncidentSequences("b"));
  EXPECT_TRUE(this->log_->IncidentSequences("c")->empty());
  // A prefix of an incident id is a different incident.
  this->MustAppend({AlertEvent("ab")});
  EXPECT_EQ((std::vector<uint64_t>{1, 4}), *this->log_->IncidentSequences("a"));
}

TYPED_TEST(EventLogTest, ReadsAnIncidentsEventsInOrderWithinBounds) {
  this->MustAppend({AlertEvent("a"), AlertEvent("b"), AlertEvent("a")});
  this->MustAppend({AlertEvent("a"), AlertEvent(""), AlertEvent("a")});
  auto sequences = [](const absl::StatusOr<std::vector<v1::Event>>& events) {
    std::vector<uint64_t> out;
    EXPECT_TRUE(events.ok()) << events.status();
    for (const v1::Event& e : events.value_or(std::vector<v1::Event>{})) {
      EXPECT_EQ("a", e.incident_id());
      out.push_back(e.sequence());
    }
    return out;
  };
  EXPECT_EQ((std::vector<uint64_t>{1, 3, 4, 6}), sequences(ReadIncidentEvents(*this->log_, "a")));
  EXPECT_EQ((std::vector<uint64_t>{3, 4}), sequences(ReadIncidentEvents(*this->log_, "a", 2, 5)));
  EXPECT_EQ((std::vector<uint64_t>{6}), sequences(ReadIncidentEvents(*this->log_, "a", 5)));
  EXPECT_TRUE(sequences(ReadIncidentEvents(*this->log_, "none")).empty());
}

TYPED_TEST(EventLogTest, ReadsRangesAndStopsAtTheEnd) {
  for (int i = 0; i < 10; ++i) {
    this->MustAppend({AlertEvent()});
  }
  auto middle = this->log_->Read(4, 3);
  ASSERT_TRUE(middle.ok());
  ASSERT_EQ(3U, middle->size());
  EXPECT_EQ(4U, middle->front().sequence());
  EXPECT_EQ(6U, middle->back().sequence());
  EXPECT_EQ(2U, this->log_->Read(9, 100)->size());
  EXPECT_TRUE(this->log_->Read(11, 100)->empty());
}

TYPED_TEST(EventLogTest, StoresSnapshotsAndCursors) {
  EXPECT_FALSE(this->log_->GetSnapshot("issues")->has_value());
  const Snapshot snapshot{17, 3, std::string("state\0bytes", 11)};
  ASSERT_TRUE(this->log_->PutSnapshot("issues", snapshot).ok());
  EXPECT_EQ(snapshot, this->log_->GetSnapshot("issues")->value());

  EXPECT_EQ(0U, *this->log_->GetCursor("mirror"));
  ASSERT_TRUE(this->log_->PutCursor("mirror", 41).ok());
  ASSERT_TRUE(this->log_->PutCursor("mirror", 42).ok());
  EXPECT_EQ(42U, *this->log_->GetCursor("mirror"));
  EXPECT_EQ(0U, *this->log_->GetCursor("actuator"));
}

TYPED_TEST(EventLogTest, WaitForSequenceTimesOutWithTheLastSequence) {
  this->MustAppend({AlertEvent()});
  const absl::Time start = absl::Now();
  EXPECT_EQ(1U, this->log_->WaitForSequence(5, absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(40));
  EXPECT_EQ(1U, this->log_->WaitForSequence(1, absl::Seconds(10)));
}

TYPED_TEST(EventLogTest, SubscriptionsDeliverEverythingInOrderFromAnyStart) {
  constexpr int kEvents = 300;
  std::vector<std::vector<uint64_t>> seen(3);
  std::vector<std::thread> readers;
  const uint64_t starts[] = {1, 1, 100};
  for (size_t r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      Subscription subscription(*this->log_, starts[r]);
      while (seen[r].empty() || seen[r].back() < kEvents) {
        auto events = subscription.Next(7, absl::Seconds(10));
        ASSERT_TRUE(events.ok()) << events.status();
        ASSERT_FALSE(events->empty()) << "timed out waiting for events";
        for (const v1::Event& e : *events) {
          seen[r].push_back(e.sequence());
        }
      }
    });
  }
  for (int i = 0; i < kEvents; ++i) {
    this->MustAppend({AlertEvent()});
  }
  for (std::thread& t : readers) {
    t.join();
  }
  for (size_t r = 0; r < 3; ++r) {
    ASSERT_EQ(kEvents - starts[r] + 1, seen[r].size()) << r;
    for (size_t i = 0; i < seen[r].size(); ++i) {
      ASSERT_EQ(starts[r] + i, seen[r][i]);
    }
  }
}

TYPED_TEST(EventLogTest, ConcurrentAppendersGetContiguousRangesAndADenseChain) {
  constexpr int kThreads = 4;
  constexpr int kAppends = 100;
  std::vector<std::vector<SequenceRange>> ranges(kThreads);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        const size_t n = static_cast<size_t>(1 + (i + t) % 5);
        std::vector<v1::Event> batch(n, AlertEvent("t" + std::to_string(t)));
        auto range = this->log_->Append(std::move(batch));
        ASSERT_TRUE(range.ok()) << range.status();
        ASSERT_EQ(n, range->last - range->first + 1);
        ranges[static_cast<size_t>(t)].push_back(*range);
      }
    });
  }
  for (std::thread& w : writers) {
    w.join();
  }
  std::set<uint64_t> assigned;
  uint64_t total = 0;
  for (const auto& per_thread : ranges) {
    for (const SequenceRange& r : per_thread) {
      for (uint64_t s = r.first; s <= r.last; ++s) {
        EXPECT_TRUE(assigned.insert(s).second) << "sequence " << s << " assigned twice";
      }
      total += r.last - r.first + 1;
    }
  }
  EXPECT_EQ(total, this->log_->LastSequence());
  EXPECT_EQ(total, assigned.size());
  auto report = VerifyLog(*this->log_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(total, report->records);
  // Each thread's events carry its incident id, and the index agrees with the ranges.
  for (int t = 0; t < kThreads; ++t) {
    auto indexed = this->log_->IncidentSequences("t" + std::to_string(t));
    uint64_t expected = 0;
    for (const SequenceRange& r : ranges[static_cast<size_t>(t)]) {
      expected += r.last - r.first + 1;
    }
    EXPECT_EQ(expected, indexed->size());
  }
}

TEST(InMemoryEventLogTest, InjectedFailuresStoreNothingAndVerifyCatchesCorruption) {
  InMemoryEventLog log;
  ASSERT_TRUE(log.Append({AlertEvent(), AlertEvent()}).ok());
  log.FailAppendsForTest(absl::UnavailableError("disk gone"), 1);
  EXPECT_EQ(absl::StatusCode::kUnavailable, log.Append({AlertEvent()}).status().code());
  EXPECT_EQ(2U, log.LastSequence());
  ASSERT_TRUE(log.Append({AlertEvent()}).ok());
  ASSERT_TRUE(VerifyLog(log).ok());

  // A record replaced by a valid record of other content breaks the chain at the next one.
  v1::Event other = AlertEvent("other");
  other.set_sequence(2);
  log.CorruptRecordForTest(2, EncodeRecord(other));
  const absl::Status chain = VerifyLog(log).status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, chain.code());
  EXPECT_NE(std::string::npos, std::string(chain.message()).find("event 2: hash chain broken"))
      << chain;

  log.CorruptRecordForTest(2, "garbage");
  const absl::Status crc = VerifyLog(log).status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, crc.code());
  EXPECT_NE(std::string::npos, std::string(crc.message()).find("event 2:")) << crc;
}

TEST(InMemoryEventLogTest, AnIncidentEventThatCannotBeReadIsAnErrorNamingIt) {
  InMemoryEventLog log;
  ASSERT_TRUE(log.Append({AlertEvent("a"), AlertEvent("b"), AlertEvent("a")}).ok());
  log.CorruptRecordForTest(3, "garbage");
  const absl::Status corrupt = ReadIncidentEvents(log, "a").status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, corrupt.code());
  EXPECT_NE(std::string::npos, std::string(corrupt.message()).find("event 3 of incident a"))
      << corrupt;
  // Sequence 1 alone still reads.
  auto first = ReadIncidentEvents(log, "a", 0, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(1U, first->size());

  InMemoryEventLog failing;
  ASSERT_TRUE(failing.Append({AlertEvent("a")}).ok());
  failing.FailReadsForTest(absl::UnavailableError("disk gone"), 1);
  const absl::Status unavailable = ReadIncidentEvents(failing, "a").status();
  EXPECT_EQ(absl::StatusCode::kUnavailable, unavailable.code());
  EXPECT_NE(std::string::npos, std::string(unavailable.message()).find("disk gone")) << unavailable;
}

}  // namespace
}  // namespace aiops::eventlog
