// Replay properties over seeded random histories (CONVENTIONS.md §2.10): the same inputs give
// the same log and state; folding the log rebuilds the engine's state; snapshot + tail equals a
// full replay; re-deciding every input reproduces the recorded derived events.
// AIOPS_SEED runs one seed; AIOPS_SEEDS scales the number of seeds (default 200).
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "projections/naming.h"
#include "projections/pipeline_state.h"
#include "random_history.h"
#include "stages/engine.h"
#include "stages/replay.h"

namespace aiops::replay_testing {
namespace {

namespace p = projections;

std::vector<uint64_t> Seeds() {
  if (const char* one = std::getenv("AIOPS_SEED")) {
    return {std::stoull(one)};
  }
  const char* many = std::getenv("AIOPS_SEEDS");
  const uint64_t n = many != nullptr ? std::stoull(many) : 200;
  std::vector<uint64_t> seeds;
  for (uint64_t s = 1; s <= n; ++s) {
    seeds.push_back(s);
  }
  return seeds;
}

std::string Bytes(const std::vector<v1::Event>& log) {
  std::string out;
  for (const v1::Event& e : log) {
    out += e.SerializeAsString();
  }
  return out;
}

TEST(ReplayPropertyTest, DeterministicRebuildableSnapshotableAndReDecidable) {
  uint64_t issues = 0;
  uint64_t events = 0;
  for (const uint64_t seed : Seeds()) {
    SCOPED_TRACE(::testing::Message() << "AIOPS_SEED=" << seed);
    const History run = RandomHistory(seed, 300);
    const History again = RandomHistory(seed, 300);
    ASSERT_TRUE(run.state == again.state);
    ASSERT_EQ(Bytes(run.log), Bytes(again.log));
    events += run.log.size();
    issues += run.state.issues.size();

    // Folding the log (derived events are folded, never re-decided) rebuilds the state.
    p::PipelineState folded;
    for (const v1::Event& e : run.log) {
      p::Apply(folded, e);
    }
    ASSERT_TRUE(folded == run.state);

    // Snapshot at k, encoded and decoded, plus the tail equals the full replay.
    const size_t k = seed % run.log.size();
    p::PipelineState prefix;
    for (size_t i = 0; i < k; ++i) {
      p::Apply(prefix, run.log[i]);
    }
    auto restored = p::DecodeSnapshot(p::EncodeSnapshot(prefix));
    ASSERT_TRUE(restored.ok()) << restored.status();
    for (size_t i = k; i < run.log.size(); ++i) {
      p::Apply(*restored, run.log[i]);
    }
    ASSERT_TRUE(*restored == run.state);

    // Re-deciding every input reproduces every recorded decision.
    stages::Replayer verify(stages::Replayer::Mode::kVerify);
    for (const v1::Event& e : run.log) {
      ASSERT_TRUE(verify.Add(e).ok());
    }
    verify.Finish();
    ASSERT_TRUE(verify.divergences().empty()) << verify.divergences()[0].detail;
    ASSERT_TRUE(verify.state() == run.state);
  }
  // The histories exercise the pipeline, not just its entry.
  EXPECT_GT(issues, 100U);
  EXPECT_GT(events, 10'000U);
}

// The rule runners use to skip recomputing intents: an event MayChangeIntents calls inert
// leaves the intents as they were, unless they hold a cooldown deadline (time ends those).
TEST(ReplayPropertyTest, EventsThatCannotChangeIntentsLeaveThemUnchanged) {
  uint64_t inert = 0;
  uint64_t changing = 0;
  for (const uint64_t seed : Seeds()) {
    SCOPED_TRACE(::testing::Message() << "AIOPS_SEED=" << seed);
    const History run = RandomHistory(seed, 300);
    p::PipelineState state;
    p::Intents before = p::CollectIntents(state);
    for (const v1::Event& e : run.log) {
      p::Apply(state, e);
      p::Intents after = p::CollectIntents(state);
      if (!p::MayChangeIntents(e) && !p::HasCooldownDeadline(before)) {
        ++inert;
        ASSERT_TRUE(after == before) << "sequence " << e.sequence() << ": " << e.ShortDebugString();
      } else {
        changing += after == before ? 0U : 1U;
      }
      before = std::move(after);
    }
  }
  // Both kinds occur: the check is not vacuous.
  EXPECT_GT(inert, 10'000U);
  EXPECT_GT(changing, 1'000U);
}

// The runner appends the batches of a group of inputs to one vector (ProcessInputInto): it must
// give the log that deciding them one by one gave.
TEST(ReplayPropertyTest, GroupsOfInputsDecideAsInputsOneByOne) {
  uint64_t duplicates = 0;
  for (const uint64_t seed : Seeds()) {
    SCOPED_TRACE(::testing::Message() << "AIOPS_SEED=" << seed);
    const History run = RandomHistory(seed, 300);
    std::vector<v1::Event> inputs;
    for (const v1::Event& e : run.log) {
      if (stages::IsInput(e)) {
        inputs.push_back(e);
      }
      duplicates += e.has_duplicate_suppressed() ? 1U : 0U;
    }
    p::PipelineState state;
    std::vector<v1::Event> log;
    size_t group = 1 + seed % 7;  // groups of 1 to 64 inputs, changing as the run goes
    for (size_t i = 0; i < inputs.size(); i += group, group = 1 + (group * 5 + seed) % 64) {
      std::vector<v1::Event> group_events;  // the group's vector, as the runner's
      for (size_t k = i; k < std::min(inputs.size(), i + group); ++k) {
        stages::ProcessInputInto(state, std::move(inputs[k]), log.size() + group_events.size() + 1,
                                 group_events);
      }
      log.insert(log.end(), group_events.begin(), group_events.end());
    }
    ASSERT_EQ(Bytes(run.log), Bytes(log));
    ASSERT_TRUE(state == run.state);
  }
  EXPECT_GT(duplicates, 300U);  // alerts found in the dedup table, not only new ones
}

TEST(ReplayPropertyTest, VerifyFindsATamperedDecision) {
  History run = RandomHistory(7, 200);
  for (v1::Event& e : run.log) {
    if (e.has_issue_opened()) {
      e.mutable_issue_opened()->set_risk_score(e.issue_opened().risk_score() + 1);
      break;
    }
  }
  stages::Replayer verify(stages::Replayer::Mode::kVerify);
  for (const v1::Event& e : run.log) {
    ASSERT_TRUE(verify.Add(e).ok());
  }
  verify.Finish();
  ASSERT_EQ(1U, verify.divergences().size());
  EXPECT_EQ("alert_observed", verify.divergences()[0].input_type);
  EXPECT_NE(std::string::npos, verify.divergences()[0].detail.find("risk_score"));
}

TEST(ReplayPropertyTest, WhatIfReportsWhereAnotherConfigurationDecidesDifferently) {
  const History run = RandomHistory(11, 300);
  v1::PipelineConfig dry = p::DefaultPipelineConfig();
  dry.mutable_dry_run()->set_global(true);
  stages::Replayer what_if(stages::Replayer::Mode::kWhatIf, &dry);
  for (const v1::Event& e : run.log) {
    ASSERT_TRUE(what_if.Add(e).ok());
  }
  what_if.Finish();
  ASSERT_FALSE(what_if.divergences().empty());
  for (const auto& [name, plan] : what_if.state().plans) {
    EXPECT_TRUE(plan.dry_run()) << name;
    // A dry run changes nothing, so it is never verified. (It can look rolled back here: the
    // recorded run's rollback results are replayed as inputs to the plan of the same name.)
    EXPECT_NE(p::kVerifying, plan.state()) << name;
  }
  EXPECT_TRUE(what_if.state().cooldown_until_ms.empty());
  // The same configuration as recorded diverges nowhere.
  stages::Replayer same(stages::Replayer::Mode::kVerify);
  for (const v1::Event& e : run.log) {
    ASSERT_TRUE(same.Add(e).ok());
  }
  same.Finish();
  EXPECT_TRUE(same.divergences().empty());
}

TEST(ReplayPropertyTest, EventsOutOfOrderAreRefused) {
  const History run = RandomHistory(3, 20);
  stages::Replayer fold(stages::Replayer::Mode::kFold);
  ASSERT_TRUE(fold.Add(run.log[1]).ok());
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, fold.Add(run.log[0]).code());
}

}  // namespace
}  // namespace aiops::replay_testing
