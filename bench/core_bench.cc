// Core benchmarks (bench/README.md, "## core_bench"): the pure engine on a synthetic alert storm
// (fold + decide throughput, per-input decide latency, snapshot bytes per incident) and what a
// restart does with a log of 1M events (open a RocksEventLog, read it in chunks, fold every
// event into a fresh PipelineState), with the fold alone over events already decoded.
//
// The storm is deterministic (fixed seed): 1,000,000 AlertObserved inputs over 10,000
// deployments (20 namespaces x 500), logical time advancing 5 ms per input (83 minutes in all),
// so the 10-minute correlation window and the 30-minute dedup TTL both come into play. Inputs
// are built before the timed region and fed in groups of 512 to stages::ProcessInputInto, as the
// runner does (sequence = the log's next sequence); the latency figures time stages::ProcessInput
// on one input at a time.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "aiops/v1/state.pb.h"
#include "common/fmt_absl.h"
#include "common/malloc_tuning.h"
#include "eventlog/event_log.h"
#include "eventlog/rocks_event_log.h"
#include "projections/naming.h"
#include "projections/pipeline_state.h"
#include "stages/engine.h"
#include "temp_dir.h"
#include <sys/mman.h>

namespace {

using aiops::bench::TempDir;

namespace v1 = aiops::v1;
namespace projections = aiops::projections;
namespace stages = aiops::stages;
using aiops::eventlog::RocksEventLog;
using aiops::eventlog::RocksLogOptions;
using Clock = std::chrono::steady_clock;

// The storm.
constexpr size_t kStormInputs = 1'000'000;
constexpr uint64_t kNamespaces = 20;
constexpr uint64_t kDeploymentsPerNamespace = 500;
constexpr uint64_t kResources = kNamespaces * kDeploymentsPerNamespace;
constexpr uint64_t kPodsPerDeployment = 3;
constexpr uint64_t kStepMs = 5;
constexpr int64_t kStartMs = 1'771'276'354'000;  // 2026-02-16T21:12:34Z
// Incident waves: most alerts come from a band of deployments that changes every minute of
// logical time (a failing dependency, a bad rollout); the rest are spread over all deployments.
constexpr uint64_t kWaveInputs = 12'000;  // 60 s at kStepMs
constexpr uint64_t kWaveResources = 200;
constexpr uint64_t kWavePercent = 70;
// Pods are replaced about every 40 minutes (a new pod, a new uid: a new dedup key).
constexpr uint64_t kPodLifetimeMs = 40 * 60'000;
constexpr uint64_t kSeed = 0x5eedc0de20260216;
constexpr char kClusterId[] = "bench-cluster";

// The restart.
constexpr uint64_t kReplayEvents = 1'000'000;
constexpr size_t kReadChunk = 4096;
constexpr size_t kPrefillAppendEvents = 4096;  // events per Append call while pre-filling

// ---------------------------------------------------------------------------------------------
// Helpers

// Printed with the machine's context: whether glibc's malloc was asked for transparent huge pages
// (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, as the operator's image runs; bench/README.md). The
// state's tables are read at random, so the figures depend on it.
const bool kHugePagesContext = [] {
  benchmark::AddCustomContext(
      "malloc_hugetlb",
      aiops::common::MallocHugePagesRequested()
          ? "on"
          : fmt::format("off (set GLIBC_TUNABLES={})", aiops::common::kMallocHugePagesTunable));
  return true;
}();

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double PercentileMicros(std::vector<int64_t>& nanos, double p) {
  if (nanos.empty()) {
    return 0;
  }
  std::sort(nanos.begin(), nanos.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(nanos.size())));
  return static_cast<double>(nanos[std::clamp<size_t>(rank, 1, nanos.size()) - 1]) / 1000.0;
}

// splitmix64: the storm's only source of variety.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}
uint64_t Mix(uint64_t a, uint64_t b) { return Mix(a ^ Mix(b)); }
uint64_t Mix(uint64_t a, uint64_t b, uint64_t c) { return Mix(a, Mix(b, c)); }

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15;
    return Mix(state_);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

std::string Uid(uint64_t h) {
  const uint64_t g = Mix(h);
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", h >> 32, (h >> 16) & 0xffff, h & 0xffff,
                     g >> 48, g & 0xffffffffffff);
}

// ---------------------------------------------------------------------------------------------
// The storm

struct AlertKind {
  const char* type;
  const char* severity;
  const char* source;
  const char* producer;
  bool pod_level;   // about one pod (its uid) rather than the deployment
  uint64_t weight;  // percent of the alerts
};

constexpr std::array<AlertKind, 5> kAlertKinds = {{
    {"HighRestartCount", "warning", "detector", "detector", true, 30},
    {"OOMKilled", "critical", "detector", "detector", true, 15},
    {"PodNotReady", "warning", "watcher", "bridge", true, 25},
    {"DeploymentFailing", "critical", "detector", "detector", false, 10},
    {"HighErrorRate", "warning", "alertmanager", "webhook", false, 20},
}};

constexpr std::array<const char*, kNamespaces> kNamespaceNames = {
    "payments",  "checkout",  "catalog", "search",  "identity",  "billing", "orders",
    "shipping",  "inventory", "pricing", "reviews", "recommend", "notify",  "media",
    "analytics", "gateway",   "auth",    "cart",    "ledger",    "support"};
constexpr std::array<const char*, 5> kRoles = {"api", "worker", "web", "consumer", "cron"};

struct Resource {
  std::string ns;
  std::string deployment;
  std::string uid;
};

// Yields the storm's inputs in order; the same sequence on every run.
class StormGenerator {
 public:
  StormGenerator() : rng_(kSeed) {
    resources_.reserve(kResources);
    for (uint64_t r = 0; r < kResources; ++r) {
      const uint64_t n = r / kDeploymentsPerNamespace;
      const uint64_t d = r % kDeploymentsPerNamespace;
      resources_.push_back({kNamespaceNames[n],
                            fmt::format("{}-{}-{:03}", kNamespaceNames[n],
                                        kRoles[d % kRoles.size()], d / kRoles.size()),
                            Uid(Mix(kSeed, r))});
    }
  }

  v1::Event Next() {
    const uint64_t i = index_++;
    const uint64_t elapsed_ms = i * kStepMs;
    const int64_t t = kStartMs + static_cast<int64_t>(elapsed_ms);
    const uint64_t wave_start = Mix(kSeed ^ 0x3a7e, i / kWaveInputs) % kResources;
    const uint64_t r = rng_.Below(100) < kWavePercent
                           ? (wave_start + rng_.Below(kWaveResources)) % kResources
                           : rng_.Below(kResources);
    const AlertKind& kind = PickKind();
    const Resource& res = resources_[r];

    v1::Event e;
    e.set_logical_time_ms(t);
    e.set_cluster_id(kClusterId);
    e.set_producer(kind.producer);
    v1::AlertObserved* a = e.mutable_alert_observed();
    a->set_type(kind.type);
    a->set_severity(kind.severity);
    a->set_namespace_(res.ns);
    a->set_deployment(res.deployment);
    a->set_timestamp_unix(t / 1000);
    a->set_source(kind.source);
    if (kind.pod_level) {
      const uint64_t pod = rng_.Below(kPodsPerDeployment);
      const uint64_t generation =
          (elapsed_ms + Mix(kSeed, r, pod) % kPodLifetimeMs) / kPodLifetimeMs;
      const uint64_t h = Mix(r, pod, generation);
      a->set_object(
          fmt::format("{}-{:010x}-{:05x}", res.deployment, Mix(r, generation) >> 24, h & 0xfffff));
      a->set_object_kind("Pod");
      a->set_source_object_uid(Uid(h));
    } else {
      a->set_object(res.deployment);
      a->set_object_kind("Deployment");
      a->set_source_object_uid(res.uid);
    }
    const uint64_t x = rng_.Next();
    switch (kind.type[0]) {
      case 'H':
        if (kind.type[4] == 'R') {
          a->set_message(
              fmt::format("container app restarted {} times in the last 10 minutes", 3 + x % 20));
        } else {
          a->set_message(
              fmt::format("5xx ratio {}.{}% over 5m (threshold 5%)", 5 + x % 20, (x >> 8) % 10));
          v1::Param* alertname = a->add_labels();
          alertname->set_key("alertname");
          alertname->set_value(kind.type);
          v1::Param* job = a->add_labels();
          job->set_key("job");
          job->set_value(res.deployment);
        }
        break;
      case 'O':
        a->set_message("container app was OOMKilled (memory limit 512Mi)");
        break;
      case 'P':
        a->set_message(fmt::format("pod has not been ready for {} s", 30 + x % 300));
        break;
      default:
        a->set_message(fmt::format("deployment has {}/3 available replicas", x % 3));
        break;
    }
    return e;
  }

 private:
  const AlertKind& PickKind() {
    uint64_t w = rng_.Below(100);
    for (const AlertKind& k : kAlertKinds) {
      if (w < k.weight) {
        return k;
      }
      w -= k.weight;
    }
    return kAlertKinds.back();
  }

  Rng rng_;
  uint64_t index_ = 0;
  std::vector<Resource> resources_;
};

// The storm in chunks of kInputChunk inputs, each built while the timer is paused: a daemon
// parses alerts as they arrive, and the runner decides them in groups of up to
// Runner::Options::max_group_inputs (512 by default) that it hands on to the log, which frees
// them once written. So the memory of processed inputs is reused by the next ones. (Building all
// 1M inputs up front instead held 1 GB of input that was only ever freed: glibc's fast bins
// filled with those chunks, and every large allocation of the engine then paid for
// consolidating all of them.)
constexpr size_t kInputChunk = 512;

// Calls `process(inputs)` for every chunk of the storm (pointers to its inputs, in order, as the
// runner holds a group), and `after_chunk()` after each, with the timer paused. Returns the
// wall-clock seconds of the timed part (the `process` calls).
template <typename Process, typename AfterChunk>
double FeedStorm(benchmark::State& state, Process process, AfterChunk after_chunk) {
  double timed_s = 0;
  StormGenerator storm;
  std::vector<v1::Event> chunk;
  std::vector<v1::Event*> inputs;
  chunk.reserve(kInputChunk);
  inputs.reserve(kInputChunk);
  for (size_t done = 0; done < kStormInputs; done += chunk.size()) {
    state.PauseTiming();
    chunk.clear();
    inputs.clear();
    for (size_t i = 0; i < std::min(kInputChunk, kStormInputs - done); ++i) {
      chunk.push_back(storm.Next());
    }
    for (v1::Event& input : chunk) {
      inputs.push_back(&input);
    }
    state.ResumeTiming();
    const Clock::time_point start = Clock::now();
    process(std::span<v1::Event* const>(inputs));
    timed_s += Seconds(Clock::now() - start);
    state.PauseTiming();
    after_chunk();
    state.ResumeTiming();
  }
  return timed_s;
}

// What the runner's commit side does with decided events (Runner::CommitLoop hands them to
// EventLog::Append, which frees them once written): here they are only freed, timed on their
// own, so the storm's figures show the deciding thread's work and the freeing separately. The
// freeing runs on a second, long-lived thread, as the commit thread does: which thread frees a
// block decides where the allocator keeps it for reuse (glibc's per-thread cache holds what its
// own thread frees), so freeing on the deciding thread would flatter its next allocations. The
// deciding thread waits for each free (the timer paused), so the two never run at once.
class HandedOn {
 public:
  HandedOn() : freer_([this] { FreeLoop(); }) {}
  HandedOn(const HandedOn&) = delete;
  HandedOn& operator=(const HandedOn&) = delete;
  ~HandedOn() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    freer_.join();
  }

  // The group's vector, which stages::ProcessInputInto appends to (as in Runner::WriterLoop).
  std::vector<v1::Event>& events() { return events_; }
  // A batch of stages::ProcessInput, moved into the group's vector.
  void Add(std::vector<v1::Event>& batch) {
    for (v1::Event& e : batch) {
      events_.push_back(std::move(e));
    }
  }
  // Hands the group's events to the freeing thread and waits until they are freed.
  void Free() {
    std::unique_lock lock(mu_);
    handed_ = std::move(events_);
    events_ = std::vector<v1::Event>();
    pending_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !pending_; });
  }
  double free_s() const {
    std::lock_guard lock(mu_);
    return free_s_;
  }

 private:
  void FreeLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return pending_ || stop_; });
      if (!pending_) {
        return;
      }
      const Clock::time_point start = Clock::now();
      std::vector<v1::Event>().swap(handed_);
      free_s_ += Seconds(Clock::now() - start);
      pending_ = false;
      cv_.notify_all();
    }
  }

  std::vector<v1::Event> events_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::Event> handed_;  // guarded by mu_
  bool pending_ = false;           // guarded by mu_
  bool stop_ = false;              // guarded by mu_
  double free_s_ = 0;              // guarded by mu_
  std::thread freer_;              // last: started once the members above exist
};

// The first input of every log: the configuration (the defaults, with the bench's cluster id).
v1::Event ConfigInput() {
  v1::Event e;
  e.set_logical_time_ms(kStartMs);
  e.set_cluster_id(kClusterId);
  e.set_producer("config");
  v1::ConfigChanged* c = e.mutable_config_changed();
  c->set_source("file");
  *c->mutable_config() = projections::DefaultPipelineConfig();
  c->mutable_config()->set_cluster_id(kClusterId);
  return e;
}

// The engine as the runner drives it: a state and the log's next sequence.
struct Engine {
  Engine() : config_batch(Process(ConfigInput())) {}

  std::vector<v1::Event> Process(v1::Event input) {
    std::vector<v1::Event> batch = stages::ProcessInput(*state, std::move(input), next_sequence);
    next_sequence += batch.size();
    return batch;
  }

  std::unique_ptr<projections::PipelineState> state =
      std::make_unique<projections::PipelineState>();
  uint64_t next_sequence = 1;
  std::vector<v1::Event> config_batch;  // the batch of sequence 1, the config input
};

// What the storm's inputs turned into.
struct Tally {
  uint64_t inputs = 0;
  uint64_t derived = 0;
  uint64_t duplicates = 0;
  uint64_t anomalies = 0;
  uint64_t correlated = 0;
  uint64_t issues_opened = 0;

  // Inputs and derived events, in any number of batches.
  void Add(std::span<const v1::Event> events) {
    for (const v1::Event& e : events) {
      if (stages::IsInput(e)) {
        ++inputs;
        continue;
      }
      ++derived;
      switch (e.payload_case()) {
        case v1::Event::kDuplicateSuppressed:
          ++duplicates;
          break;
        case v1::Event::kAnomalyRecorded:
          ++anomalies;
          break;
        case v1::Event::kAnomalyCorrelated:
          ++correlated;
          break;
        case v1::Event::kIssueOpened:
          ++issues_opened;
          break;
        default:
          break;
      }
    }
  }
};

uint64_t OpenIssues(const projections::PipelineState& state) {
  return static_cast<uint64_t>(std::count_if(
      state.issues.begin(), state.issues.end(),
      [](const auto& entry) { return !projections::IsTerminalIssueState(entry.second.state()); }));
}

benchmark::Counter Avg(double value) {
  return benchmark::Counter(value, benchmark::Counter::kAvgIterations);
}

// ---------------------------------------------------------------------------------------------
// 1. Fold + decide throughput: the whole storm through ProcessInputInto, no log I/O. The timed
// part is what the runner's deciding thread does: the ProcessInputInto calls on each group,
// which appends their events to the group's vector handed on to the log. Freeing those events (the
// log's work once it wrote them, on its own thread) is timed apart: free_s, and
// with_free_inputs_per_s counts it in.

void BM_StormFoldDecide(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  Tally total;
  uint64_t open_issues = 0;
  double decide_s = 0;  // wall-clock seconds of the timed part
  double free_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>();
    Tally run;
    HandedOn handed_on;
    state.ResumeTiming();
    decide_s += FeedStorm(
        state,
        [&](std::span<v1::Event* const> inputs) {
          std::vector<v1::Event>& out = handed_on.events();
          const size_t before = out.size();
          out.reserve(before + 3 * inputs.size());  // as the runner does
          for (v1::Event* input : inputs) {
            engine->next_sequence += stages::ProcessInputInto(*engine->state, std::move(*input),
                                                              engine->next_sequence, out);
          }
          run.Add(std::span<const v1::Event>(out).subspan(before));
        },
        [&] { handed_on.Free(); });
    state.PauseTiming();
    free_s += handed_on.free_s();
    total.inputs += run.inputs;
    total.derived += run.derived;
    total.duplicates += run.duplicates;
    total.anomalies += run.anomalies;
    total.correlated += run.correlated;
    total.issues_opened += run.issues_opened;
    open_issues += OpenIssues(*engine->state);
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(total.inputs));
  state.counters["inputs_per_s"] =
      benchmark::Counter(static_cast<double>(total.inputs), benchmark::Counter::kIsRate);
  state.counters["derived_per_s"] =
      benchmark::Counter(static_cast<double>(total.derived), benchmark::Counter::kIsRate);
  state.counters["inputs"] = Avg(static_cast<double>(total.inputs));
  state.counters["derived"] = Avg(static_cast<double>(total.derived));
  state.counters["duplicates"] = Avg(static_cast<double>(total.duplicates));
  state.counters["anomalies"] = Avg(static_cast<double>(total.anomalies));
  state.counters["correlated"] = Avg(static_cast<double>(total.correlated));
  state.counters["issues_opened"] = Avg(static_cast<double>(total.issues_opened));
  state.counters["issues_open_at_end"] = Avg(static_cast<double>(open_issues));
  state.counters["free_s"] = Avg(free_s);
  // The deciding and the freeing on one core (wall-clock seconds of both).
  state.counters["with_free_inputs_per_s"] =
      decide_s + free_s > 0 ? static_cast<double>(total.inputs) / (decide_s + free_s) : 0;
}

BENCHMARK(BM_StormFoldDecide)->Iterations(1)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// 4. Decide latency: each ProcessInput call of the storm timed with steady_clock (the call
// itself; the batch's events are handed on and freed per chunk, as in 1). Also the median by
// outcome: a duplicate, an anomaly joining an open issue, an anomaly opening an issue.

void BM_StormDecideLatency(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  std::vector<int64_t> all;
  std::vector<int64_t> duplicate;
  std::vector<int64_t> correlated;
  std::vector<int64_t> opened;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>();
    all.clear();
    all.reserve(kStormInputs);
    duplicate.clear();
    correlated.clear();
    opened.clear();
    HandedOn handed_on;
    state.ResumeTiming();
    FeedStorm(
        state,
        [&](std::span<v1::Event* const> inputs) {
          for (v1::Event* input : inputs) {
            const Clock::time_point start = Clock::now();
            std::vector<v1::Event> batch =
                stages::ProcessInput(*engine->state, std::move(*input), engine->next_sequence);
            const int64_t nanos =
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
            engine->next_sequence += batch.size();
            all.push_back(nanos);
            if (batch.size() > 1) {
              switch (batch[1].payload_case()) {
                case v1::Event::kDuplicateSuppressed:
                  duplicate.push_back(nanos);
                  break;
                case v1::Event::kAnomalyRecorded:
                  (batch.size() > 2 && batch[2].has_issue_opened() ? opened : correlated)
                      .push_back(nanos);
                  break;
                default:
                  break;
              }
            }
            handed_on.Add(batch);
          }
        },
        [&] { handed_on.Free(); });
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(all.size()));
  state.counters["samples"] = static_cast<double>(all.size());
  state.counters["p50_us"] = PercentileMicros(all, 0.50);
  state.counters["p99_us"] = PercentileMicros(all, 0.99);
  state.counters["p999_us"] = PercentileMicros(all, 0.999);
  state.counters["max_us"] = PercentileMicros(all, 1.0);
  state.counters["dup_p50_us"] = PercentileMicros(duplicate, 0.50);
  state.counters["join_p50_us"] = PercentileMicros(correlated, 0.50);
  state.counters["open_p50_us"] = PercentileMicros(opened, 0.50);
  state.counters["dup_p999_us"] = PercentileMicros(duplicate, 0.999);
  state.counters["join_p999_us"] = PercentileMicros(correlated, 0.999);
  state.counters["open_p999_us"] = PercentileMicros(opened, 0.999);
}

BENCHMARK(BM_StormDecideLatency)->Iterations(1)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// 3. Bytes of state per incident: the storm runs untimed; the timed part is EncodeSnapshot (what
// a snapshot costs), and the counters divide its size by the open (non-terminal) issues and by
// all issues. dedup_bytes (the dedup table in memory) and issue_bytes (issue states, encoded) are
// its two largest parts; dedup_expired counts the dedup entries whose TTL had passed at the end of
// the storm.

void BM_StormStateBytes(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  Engine engine;
  StormGenerator storm;
  for (size_t i = 0; i < kStormInputs; ++i) {
    engine.Process(storm.Next());
  }
  const projections::PipelineState& s = *engine.state;
  size_t snapshot_bytes = 0;
  for (auto _ : state) {
    const std::string snapshot = projections::EncodeSnapshot(s);
    snapshot_bytes = snapshot.size();
    benchmark::DoNotOptimize(snapshot.data());
  }
  size_t dedup_bytes = 0;
  size_t dedup_expired = 0;
  // In memory: the key, the slot and what the slot holds on the heap.
  for (const auto& [id, entry] : s.dedup) {
    dedup_bytes += sizeof(id) + sizeof(entry) + entry.HeapBytes();
    dedup_expired += entry.expires_at_ms <= s.last_time_ms ? 1U : 0U;
  }
  size_t issue_bytes = 0;
  size_t anomaly_names = 0;
  int max_anomalies = 0;
  for (const auto& [name, issue] : s.issues) {
    issue_bytes += issue.ByteSizeLong();
    const auto anomalies = static_cast<int>(projections::AnomalyNames(issue).size());
    anomaly_names += static_cast<size_t>(anomalies);
    max_anomalies = std::max(max_anomalies, anomalies);
  }
  const auto issues = static_cast<double>(s.issues.size());
  const auto open = static_cast<double>(OpenIssues(s));
  const auto bytes = static_cast<double>(snapshot_bytes);
  state.counters["snapshot_bytes"] = bytes;
  state.counters["issues"] = issues;
  state.counters["open_issues"] = open;
  state.counters["bytes_per_open_issue"] = open > 0 ? bytes / open : 0;
  state.counters["bytes_per_issue"] = issues > 0 ? bytes / issues : 0;
  state.counters["dedup_entries"] = static_cast<double>(s.dedup.size());
  state.counters["dedup_expired"] = static_cast<double>(dedup_expired);
  state.counters["dedup_bytes"] = static_cast<double>(dedup_bytes);
  state.counters["issue_bytes"] = static_cast<double>(issue_bytes);
  state.counters["anomalies_per_issue"] =
      issues > 0 ? static_cast<double>(anomaly_names) / issues : 0;
  state.counters["max_anomalies_per_issue"] = max_anomalies;
}

BENCHMARK(BM_StormStateBytes)->Iterations(3)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// 2. Restart: a RocksEventLog pre-filled (untimed) with the batches the engine produced for the
// storm's inputs until it holds at least kReplayEvents events, closed, and reopened once (so
// that RocksDB recovers its write-ahead log into SST files, as after a long run). Built on first
// use, shared by the two replay benchmarks, removed at exit.

class ReplayFixture {
 public:
  ReplayFixture() { status_ = Prefill(); }

  const absl::Status& status() const { return status_; }
  const std::string& path() const { return dir_.path(); }
  uint64_t events() const { return events_; }
  uint64_t inputs() const { return inputs_; }
  // StateDigest of the engine's state after the last input: what a replay must rebuild.
  const std::string& engine_digest() const { return engine_digest_; }

 private:
  absl::Status Prefill() {
    if (!dir_.ok()) {
      return absl::InternalError("cannot create a temp folder");
    }
    RocksLogOptions options;
    options.path = dir_.path();
    options.sync = false;
    absl::StatusOr<std::unique_ptr<RocksEventLog>> log = RocksEventLog::Open(options);
    if (!log.ok()) {
      return log.status();
    }
    Engine engine;
    std::vector<v1::Event> pending = std::move(engine.config_batch);
    inputs_ = 1;
    uint64_t appended = 0;
    auto flush = [&]() -> absl::Status {
      if (pending.empty()) {
        return absl::OkStatus();
      }
      const size_t n = pending.size();
      absl::StatusOr<aiops::eventlog::SequenceRange> range = (*log)->Append(std::move(pending));
      pending.clear();
      if (!range.ok()) {
        return range.status();
      }
      if (range->first != appended + 1 || range->last != appended + n) {
        return absl::InternalError(fmt::format("the log assigned [{}, {}], the engine [{}, {}]",
                                               range->first, range->last, appended + 1,
                                               appended + n));
      }
      appended += n;
      return absl::OkStatus();
    };
    StormGenerator storm;
    while (engine.next_sequence - 1 < kReplayEvents) {
      std::vector<v1::Event> batch = engine.Process(storm.Next());
      ++inputs_;
      for (v1::Event& e : batch) {
        pending.push_back(std::move(e));
      }
      if (pending.size() >= kPrefillAppendEvents) {
        if (absl::Status s = flush(); !s.ok()) {
          return s;
        }
      }
    }
    if (absl::Status s = flush(); !s.ok()) {
      return s;
    }
    events_ = appended;
    engine_digest_ = projections::StateDigest(*engine.state);
    log->reset();
    options.open_check = RocksLogOptions::OpenCheck::kEndsOnly;
    log = RocksEventLog::Open(options);
    return log.status();  // closed when `log` goes out of scope
  }

  TempDir dir_{"aiops-core-bench"};  // declared first: removed after everything else
  absl::Status status_;
  uint64_t events_ = 0;
  uint64_t inputs_ = 0;
  std::string engine_digest_;
};

ReplayFixture& Fixture() {
  static const std::unique_ptr<ReplayFixture> fixture = std::make_unique<ReplayFixture>();
  return *fixture;
}

// Open (RocksEventLog's defaults: read-write, every frame checked), Read in chunks of
// kReadChunk, Apply each event to a fresh PipelineState. open_s, read_decode_s (Read calls and
// freeing the decoded chunks) and fold_s split the time; state_matches checks the rebuilt state
// against the engine's.
void BM_ReplayFromLog(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const ReplayFixture& fixture = Fixture();
  if (!fixture.status().ok()) {
    state.SkipWithError(fmt::format("prefill: {}", fixture.status()).c_str());
    return;
  }
  double open_s = 0;
  double read_s = 0;
  double fold_s = 0;
  double total_s = 0;
  double matches = -1;
  for (auto _ : state) {
    const Clock::time_point t0 = Clock::now();
    RocksLogOptions options;
    options.path = fixture.path();
    absl::StatusOr<std::unique_ptr<RocksEventLog>> opened = RocksEventLog::Open(options);
    if (!opened.ok()) {
      state.SkipWithError(fmt::format("open: {}", opened.status()).c_str());
      return;
    }
    std::unique_ptr<RocksEventLog> log = *std::move(opened);
    const Clock::time_point t1 = Clock::now();
    open_s += Seconds(t1 - t0);
    auto folded = std::make_unique<projections::PipelineState>();
    uint64_t count = 0;
    std::vector<v1::Event> chunk;
    for (uint64_t from = log->FirstSequence();;) {
      const Clock::time_point r0 = Clock::now();
      absl::StatusOr<std::vector<v1::Event>> events = log->Read(from, kReadChunk);
      if (!events.ok()) {
        state.SkipWithError(fmt::format("read: {}", events.status()).c_str());
        return;
      }
      chunk = *std::move(events);
      const Clock::time_point r1 = Clock::now();
      if (chunk.empty()) {
        read_s += Seconds(r1 - r0);
        break;
      }
      for (const v1::Event& e : chunk) {
        projections::Apply(*folded, e);
      }
      const Clock::time_point r2 = Clock::now();
      count += chunk.size();
      from = chunk.back().sequence() + 1;
      chunk.clear();
      const Clock::time_point r3 = Clock::now();
      read_s += Seconds(r1 - r0) + Seconds(r3 - r2);
      fold_s += Seconds(r2 - r1);
    }
    total_s += Seconds(Clock::now() - t0);
    state.PauseTiming();
    if (count != fixture.events()) {
      state.SkipWithError(
          fmt::format("replayed {} events, the log holds {}", count, fixture.events()).c_str());
      return;
    }
    if (matches < 0) {
      matches = projections::StateDigest(*folded) == fixture.engine_digest() ? 1 : 0;
    }
    folded.reset();
    log.reset();
    state.ResumeTiming();
  }
  const auto events = static_cast<double>(fixture.events());
  state.SetItemsProcessed(static_cast<int64_t>(fixture.events()) * state.iterations());
  state.counters["events"] = events;
  state.counters["inputs"] = static_cast<double>(fixture.inputs());
  state.counters["events_per_s"] = benchmark::Counter(
      events * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["replay_s"] = Avg(total_s);
  state.counters["open_s"] = Avg(open_s);
  state.counters["read_decode_s"] = Avg(read_s);
  state.counters["fold_s"] = Avg(fold_s);
  state.counters["state_matches"] = matches;
}

// The fold alone: the same events, read and decoded beforehand (untimed), applied to a fresh
// PipelineState.
void BM_FoldDecoded(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const ReplayFixture& fixture = Fixture();
  if (!fixture.status().ok()) {
    state.SkipWithError(fmt::format("prefill: {}", fixture.status()).c_str());
    return;
  }
  std::vector<v1::Event> all;
  {
    RocksLogOptions options;
    options.path = fixture.path();
    options.open_check = RocksLogOptions::OpenCheck::kEndsOnly;
    absl::StatusOr<std::unique_ptr<RocksEventLog>> log = RocksEventLog::Open(options);
    if (!log.ok()) {
      state.SkipWithError(fmt::format("open: {}", log.status()).c_str());
      return;
    }
    all.reserve(fixture.events());
    for (uint64_t from = (*log)->FirstSequence();;) {
      absl::StatusOr<std::vector<v1::Event>> events = (*log)->Read(from, kReadChunk);
      if (!events.ok()) {
        state.SkipWithError(fmt::format("read: {}", events.status()).c_str());
        return;
      }
      if (events->empty()) {
        break;
      }
      from = events->back().sequence() + 1;
      for (v1::Event& e : *events) {
        all.push_back(std::move(e));
      }
    }
  }
  double fold_s = 0;
  double matches = -1;
  for (auto _ : state) {
    const Clock::time_point t0 = Clock::now();
    auto folded = std::make_unique<projections::PipelineState>();
    for (const v1::Event& e : all) {
      projections::Apply(*folded, e);
    }
    fold_s += Seconds(Clock::now() - t0);
    state.PauseTiming();
    if (matches < 0) {
      matches = projections::StateDigest(*folded) == fixture.engine_digest() ? 1 : 0;
    }
    folded.reset();
    state.ResumeTiming();
  }
  const auto events = static_cast<double>(all.size());
  state.SetItemsProcessed(static_cast<int64_t>(all.size()) * state.iterations());
  state.counters["events"] = events;
  state.counters["events_per_s"] = benchmark::Counter(
      events * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["fold_s"] = Avg(fold_s);
  state.counters["state_matches"] = matches;
}

BENCHMARK(BM_ReplayFromLog)->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FoldDecoded)->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// 5. What the state's growth pays per MB: the first write to each 4 KiB page of 64 MiB of fresh
// anonymous memory, on transparent huge pages (madvise(MADV_HUGEPAGE), as glibc's malloc asks
// with glibc.malloc.hugetlb=1) or on 4 KiB pages (MADV_NOHUGEPAGE). Counter: ms_per_mb.

void BM_HeapFirstTouch(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const bool huge = state.range(0) != 0;
  constexpr size_t kBytes = size_t{64} << 20;
  constexpr size_t kHugePage = size_t{2} << 20;
  constexpr size_t kPage = 4096;
  double touch_s = 0;
  for (auto _ : state) {
    void* raw = mmap(nullptr, kBytes + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      return;
    }
    // Aligned to a huge page, so that every 2 MiB of the range can be one.
    auto* p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHugePage - 1) &
                                      ~(uintptr_t{kHugePage} - 1));
    (void)madvise(p, kBytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    const Clock::time_point start = Clock::now();
    for (size_t i = 0; i < kBytes; i += kPage) {
      p[i] = 1;
    }
    benchmark::ClobberMemory();
    const double s = Seconds(Clock::now() - start);
    touch_s += s;
    state.SetIterationTime(s);
    munmap(raw, kBytes + kHugePage);
  }
  state.counters["ms_per_mb"] = Avg(touch_s * 1000.0 / static_cast<double>(kBytes >> 20));
}

BENCHMARK(BM_HeapFirstTouch)
    ->ArgName("huge_pages")
    ->Arg(1)
    ->Arg(0)
    ->UseManualTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);

}  // namespace
