// The runner on a real RocksDB log: batches with causation, group commit from many threads,
// restart from snapshot + tail, and a failed append that leaves no trace in the state.
#include "server/runner.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eventlog/memory_event_log.h"
#include "eventlog/rocks_event_log.h"
#include "stages/replay.h"
#include "support/test_dir.h"

namespace aiops::server {
namespace {

v1::Event Alert(const std::string& deployment, const std::string& uid = "uid-1") {
  v1::Event e;
  e.set_logical_time_ms(1'771'276'354'000);
  e.set_producer("detector");
  v1::AlertObserved* a = e.mutable_alert_observed();
  a->set_type("HighRestartCount");
  a->set_deployment(deployment);
  a->set_namespace_("production");
  a->set_source("detector");
  a->set_source_object_uid(uid);
  return e;
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = aiops::testing::FreshTestDir("runner"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<eventlog::RocksEventLog> OpenLog() {
    eventlog::RocksLogOptions options;
    options.path = dir_;
    options.sync = false;
    auto log = eventlog::RocksEventLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return *std::move(log);
  }

  std::string dir_;
};

TEST_F(RunnerTest, CommitsEachInputWithItsConsequencesAndPublishesIntents) {
  auto log = OpenLog();
  auto runner = Runner::Start(*log);
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto sequence = (*runner)->Submit(Alert("api-gateway"));
  ASSERT_TRUE(sequence.ok()) << sequence.status();
  EXPECT_EQ(1U, *sequence);
  auto events = log->Read(1, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(5U, events->size());  // alert, anomaly, issue, state change, analysis request
  EXPECT_EQ(0U, (*events)[0].causation_sequence());
  for (size_t i = 1; i < events->size(); ++i) {
    EXPECT_EQ(1U, (*events)[i].causation_sequence());
    EXPECT_EQ("engine", (*events)[i].producer());
  }
  auto view = (*runner)->View();
  EXPECT_EQ(5U, view->sequence);
  ASSERT_EQ(1U, view->intents().analyses.size());
  EXPECT_EQ(1, view->intents().analyses[0].attempt);

  auto rebuilt = Runner::Rebuild(*log, "pipeline");
  ASSERT_TRUE(rebuilt.ok());
  (*runner)->ReadState(
      [&](const projections::PipelineState& state) { EXPECT_TRUE(state == *rebuilt); });
}

TEST_F(RunnerTest, ConcurrentProducersAreGroupCommittedAndEveryDecisionReplays) {
  auto log = OpenLog();
  auto runner = Runner::Start(*log);
  ASSERT_TRUE(runner.ok());
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto s =
            (*runner)->Submit(Alert("app-" + std::to_string(i % 7), "uid-" + std::to_string(t)));
        ASSERT_TRUE(s.ok()) << s.status();
      }
    });
  }
  for (auto& p : producers) {
    p.join();
  }
  stages::Replayer verify(stages::Replayer::Mode::kVerify);
  auto events = log->Read(1, 100'000);
  ASSERT_TRUE(events.ok());
  uint64_t inputs = 0;
  for (const v1::Event& e : *events) {
    ASSERT_TRUE(verify.Add(e).ok());
    inputs += e.causation_sequence() == 0 ? 1U : 0U;
  }
  verify.Finish();
  EXPECT_EQ(200U, inputs);
  EXPECT_TRUE(verify.divergences().empty()) << verify.divergences()[0].detail;
  EXPECT_TRUE(eventlog::VerifyLog(*log).ok());
}

TEST_F(RunnerTest, RestartsFromSnapshotPlusTail) {
  Runner::Options options;
  options.snapshot_every_events = 7;
  uint64_t snapshot_sequence = 0;
  {
    auto log = OpenLog();
    auto runner = Runner::Start(*log, options);
    ASSERT_TRUE(runner.ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE((*runner)->Submit(Alert("app-" + std::to_string(i))).ok());
    }
    // The snapshotter follows the committed log on its own thread; Stop lets it catch up.
    (*runner)->Stop();
    auto snapshot = log->GetSnapshot("pipeline");
    ASSERT_TRUE(snapshot.ok() && snapshot->has_value());
    snapshot_sequence = (*snapshot)->sequence;
    EXPECT_GT(snapshot_sequence, 0U);
  }
  {
    // More inputs without snapshots: a tail after the snapshot.
    Runner::Options no_snapshots = options;
    no_snapshots.snapshot_every_events = 0;
    auto log = OpenLog();
    auto runner = Runner::Start(*log, no_snapshots);
    ASSERT_TRUE(runner.ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*runner)->Submit(Alert("tail-" + std::to_string(i))).ok());
    }
    (*runner)->Stop();
    auto snapshot = log->GetSnapshot("pipeline");
    ASSERT_TRUE(snapshot.ok() && snapshot->has_value());
    EXPECT_EQ(snapshot_sequence, (*snapshot)->sequence);
    EXPECT_LT(snapshot_sequence, log->LastSequence());
  }
  auto log = OpenLog();
  auto from_scratch = Runner::Rebuild(*log, "no-such-snapshot");
  ASSERT_TRUE(from_scratch.ok()) << from_scratch.status();
  auto runner = Runner::Start(*log, options);
  ASSERT_TRUE(runner.ok());
  (*runner)->ReadState(
      [&](const projections::PipelineState& s) { EXPECT_TRUE(s == *from_scratch); });
  auto next = (*runner)->Submit(Alert("app-new"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(from_scratch->last_sequence + 1, *next);
}

TEST_F(RunnerTest, SnapshotsFollowTheCommittedLogAndMatchItsFold) {
  Runner::Options options;
  options.snapshot_every_events = 50;
  auto log = OpenLog();
  auto runner = Runner::Start(*log, options);
  ASSERT_TRUE(runner.ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE((*runner)->Submit(Alert("app-" + std::to_string(i % 9), std::to_string(i))).ok());
  }
  (*runner)->Stop();
  auto snapshot = log->GetSnapshot("pipeline");
  ASSERT_TRUE(snapshot.ok() && snapshot->has_value());
  auto restored = projections::DecodeSnapshot((*snapshot)->data);
  ASSERT_TRUE(restored.ok()) << restored.status();
  // The snapshot is exactly the fold of the log up to its sequence.
  projections::PipelineState folded;
  auto events = log->Read(1, (*snapshot)->sequence);
  ASSERT_TRUE(events.ok());
  for (const v1::Event& e : *events) {
    projections::Apply(folded, e);
  }
  EXPECT_EQ((*snapshot)->sequence, folded.last_sequence);
  EXPECT_TRUE(*restored == folded);
}

TEST_F(RunnerTest, ASnapshotOfAnotherStateVersionIsIgnored) {
  auto log = OpenLog();
  {
    auto runner = Runner::Start(*log);
    ASSERT_TRUE((*runner)->Submit(Alert("api")).ok());
  }
  ASSERT_TRUE(log->PutSnapshot("pipeline", eventlog::Snapshot{5, 999, "garbage"}).ok());
  auto rebuilt = Runner::Rebuild(*log, "pipeline");
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_EQ(1U, rebuilt->issues.size());
}

TEST(RunnerFaultTest, AFailedAppendLeavesNeitherLogNorStateChanged) {
  eventlog::InMemoryEventLog log;
  auto runner = Runner::Start(log);
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Submit(Alert("first")).ok());
  projections::PipelineState before;
  (*runner)->ReadState([&](const projections::PipelineState& s) { before = s; });
  log.FailAppendsForTest(absl::UnavailableError("disk full"));
  auto failed = (*runner)->Submit(Alert("second"));
  EXPECT_EQ(absl::StatusCode::kUnavailable, failed.status().code());
  (*runner)->ReadState([&](const projections::PipelineState& s) { EXPECT_TRUE(s == before); });
  auto ok = (*runner)->Submit(Alert("second"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(before.last_sequence + 1, *ok);
}

// When the rebuild after a failed append fails too, the runner's state holds decisions the log
// does not: it must neither publish nor extend them. It fails for good and says so.
TEST(RunnerFaultTest, AFailedRebuildAfterAFailedAppendStopsTheRunnerForGood) {
  eventlog::InMemoryEventLog log;
  absl::Status reported;
  int reports = 0;
  Runner::Options options;
  options.snapshot_every_events = 0;
  options.on_failure = [&](const absl::Status& s) {
    reported = s;
    ++reports;
  };
  auto runner = Runner::Start(log, options);
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Submit(Alert("first")).ok());
  const std::shared_ptr<const PipelineView> committed = (*runner)->View();
  ASSERT_EQ(log.LastSequence(), committed->sequence);
  ASSERT_FALSE(committed->intents().analyses.empty());  // the issue of "first" wants analysis
  log.FailAppendsForTest(absl::UnavailableError("disk full"));
  log.FailReadsForTest(absl::DataLossError("unreadable"), 1000);
  auto failed = (*runner)->Submit(Alert("second"));
  EXPECT_EQ(absl::StatusCode::kUnavailable, failed.status().code()) << failed.status();
  EXPECT_EQ(1, reports);
  EXPECT_EQ(absl::StatusCode::kInternal, reported.code());
  EXPECT_THAT(std::string(reported.message()), ::testing::HasSubstr("disk full"));
  EXPECT_THAT(std::string(reported.message()), ::testing::HasSubstr("unreadable"));
  EXPECT_EQ(reported, (*runner)->health());
  // The view is still the last committed one; nothing of "second" is readable.
  EXPECT_EQ(committed, (*runner)->View());
  (*runner)->ReadState([&](const projections::PipelineState& s) {
    for (const auto& [name, issue] : s.issues) {
      EXPECT_EQ(std::string::npos, name.find("second")) << name;
    }
  });
  // Later inputs are refused with the reason, even once the log works again.
  log.FailReadsForTest(absl::OkStatus(), 0);
  auto refused = (*runner)->Submit(Alert("third"));
  EXPECT_EQ(reported, refused.status());
  EXPECT_EQ(1, reports);
  const uint64_t last = log.LastSequence();
  EXPECT_EQ(committed->sequence, last);
  // A restart recovers by replay.
  (*runner)->Stop();
  auto restarted = Runner::Start(log, options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_TRUE((*restarted)->health().ok());
  ASSERT_TRUE((*restarted)->Submit(Alert("third")).ok());
  EXPECT_GT(log.LastSequence(), last);
}

TEST(RunnerFaultTest, InputsWithoutPayloadAreRefused) {
  eventlog::InMemoryEventLog log;
  auto runner = Runner::Start(log);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, (*runner)->Submit(v1::Event()).status().code());
  (*runner)->Stop();
  EXPECT_EQ(absl::StatusCode::kUnavailable, (*runner)->Submit(Alert("x")).status().code());
}

TEST_F(RunnerTest, ABatchIsCommittedInOneAppendInOrderEvenWhenLargerThanAGroup) {
  auto log = OpenLog();
  Runner::Options options;
  options.max_group_inputs = 4;
  auto runner = Runner::Start(*log, options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<v1::Event> inputs;
  for (int i = 0; i < 10; ++i) {
    inputs.push_back(Alert("app-" + std::to_string(i % 3), "uid-" + std::to_string(i)));
  }
  auto sequences = (*runner)->SubmitBatch(std::move(inputs));
  ASSERT_TRUE(sequences.ok()) << sequences.status();
  ASSERT_EQ(10U, sequences->size());
  auto events = log->Read(1, 1000);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(log->LastSequence(), events->back().sequence());
  for (size_t i = 0; i < sequences->size(); ++i) {
    const v1::Event& input = (*events)[(*sequences)[i] - 1];
    ASSERT_TRUE(input.has_alert_observed()) << "sequence " << (*sequences)[i];
    EXPECT_EQ("uid-" + std::to_string(i), input.alert_observed().source_object_uid());
    EXPECT_EQ(0U, input.causation_sequence());
    if (i > 0) {
      EXPECT_LT((*sequences)[i - 1], (*sequences)[i]);
    }
  }
  // Nothing was left out: every event is an input of the batch or caused by one.
  for (const v1::Event& e : *events) {
    if (e.causation_sequence() != 0) {
      EXPECT_TRUE(std::find(sequences->begin(), sequences->end(), e.causation_sequence()) !=
                  sequences->end());
    }
  }
  EXPECT_TRUE((*runner)->SubmitBatch({}).ok());
}

TEST(RunnerFaultTest, AFailedAppendAlsoFailsTheGroupsDecidedOnTopOfIt) {
  eventlog::InMemoryEventLog log;
  Runner::Options options;
  options.max_group_inputs = 1;  // many small groups, so several are in flight at once
  auto runner = Runner::Start(log, options);
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Submit(Alert("warm-up")).ok());
  log.FailAppendsForTest(absl::UnavailableError("disk full"), 3);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::vector<absl::StatusOr<uint64_t>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        results[static_cast<size_t>(t)].push_back(
            (*runner)->Submit(Alert("app-" + std::to_string(i % 5), fmt::format("t{}-{}", t, i))));
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  int failed = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const absl::StatusOr<uint64_t>& r = results[static_cast<size_t>(t)][static_cast<size_t>(i)];
      if (!r.ok()) {
        ++failed;
        EXPECT_EQ(absl::StatusCode::kUnavailable, r.status().code()) << r.status();
        continue;
      }
      // An acknowledged input is in the log at its sequence.
      auto event = log.Read(*r, 1);
      ASSERT_TRUE(event.ok() && event->size() == 1U);
      EXPECT_EQ(fmt::format("t{}-{}", t, i), (*event)[0].alert_observed().source_object_uid());
    }
  }
  EXPECT_GE(failed, 3);
  // The log is dense, holds nothing of the failed groups, and the state is exactly its fold.
  auto all = log.Read(1, 100'000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(log.LastSequence(), all->size());
  size_t inputs = 0;
  for (const v1::Event& e : *all) {
    inputs += e.has_alert_observed() ? 1U : 0U;
  }
  EXPECT_EQ(static_cast<size_t>(1 + kThreads * kPerThread - failed), inputs);
  auto folded = Runner::Rebuild(log, "none");
  ASSERT_TRUE(folded.ok());
  (*runner)->ReadState([&](const projections::PipelineState& s) { EXPECT_TRUE(s == *folded); });
  EXPECT_EQ(log.LastSequence(), (*runner)->View()->sequence);
}

TEST(RunnerFaultTest, ABatchIsAllOrNothing) {
  eventlog::InMemoryEventLog log;
  Runner::Options options;
  options.max_group_inputs = 2;
  options.max_queue = 5;
  auto runner = Runner::Start(log, options);
  ASSERT_TRUE(runner.ok());
  // A failed append: none of the batch's inputs is in the log.
  log.FailAppendsForTest(absl::UnavailableError("disk full"));
  auto failed = (*runner)->SubmitBatch({Alert("a", "u1"), Alert("b", "u2"), Alert("c", "u3")});
  EXPECT_EQ(absl::StatusCode::kUnavailable, failed.status().code());
  EXPECT_EQ(0U, log.LastSequence());
  auto ok = (*runner)->SubmitBatch({Alert("a", "u1"), Alert("b", "u2"), Alert("c", "u3")});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(3U, ok->size());
  // More inputs than the queue holds: refused whole, with the numbers.
  std::vector<v1::Event> many(6, Alert("d", "u4"));
  auto full = (*runner)->SubmitBatch(std::move(many));
  EXPECT_EQ(absl::StatusCode::kResourceExhausted, full.status().code());
  EXPECT_NE(std::string::npos, full.status().message().find("6 more offered, room for 5"))
      << full.status();
  // One input without a payload refuses the whole batch, naming it.
  const uint64_t before = log.LastSequence();
  auto invalid = (*runner)->SubmitBatch({Alert("e", "u5"), v1::Event()});
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, invalid.status().code());
  EXPECT_NE(std::string::npos, invalid.status().message().find("input 1")) << invalid.status();
  EXPECT_EQ(before, log.LastSequence());
}

}  // namespace
}  // namespace aiops::server
