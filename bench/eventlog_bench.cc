// Event-log benchmarks (bench/README.md): append throughput of RocksEventLog against raw RocksDB
// WriteBatch puts of the same bytes, sequential read throughput, and the latency from an Append
// call to a subscriber holding the event. Every benchmark works in a fresh temp folder (under
// $TMPDIR, else /tmp) that it removes afterwards.
//
// Naming: each BM_LogAppend/batch:B/sync:S/writers:W has the twin BM_RawRocksPut/batch:B/sync:S/
// writers:W, so ours/raw is a ratio of two rows of the same run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <absl/status/status.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "aiops/v1/events.pb.h"
#include "common/fmt_absl.h"
#include "eventlog/event_log.h"
#include "eventlog/record.h"
#include "eventlog/rocks_event_log.h"
#include "temp_dir.h"

namespace {

using aiops::bench::TempDir;

namespace v1 = aiops::v1;
using aiops::eventlog::RocksEventLog;
using aiops::eventlog::RocksLogOptions;

constexpr size_t kTargetEventBytes = 256;  // serialized stored event (without the 5-byte frame)
constexpr size_t kReadPrefillEvents = 200'000;
constexpr size_t kReadChunk = 4096;

// What the log adds to an event it stores: sequence, schema version and previous hash.
v1::Event StoredForm(v1::Event event, uint64_t sequence) {
  event.set_sequence(sequence);
  event.set_schema_version(aiops::eventlog::kSchemaVersion);
  event.set_prev_hash(std::string(32, '\x5a'));
  return event;
}

// The event handed to Append (log-owned fields blank): an alert whose message is padded so that
// the stored event serializes to ~kTargetEventBytes (exactly, at six-digit sequences).
const v1::Event& TemplateEvent() {
  static const v1::Event* const event = [] {
    auto* e = new v1::Event;
    e->set_logical_time_ms(1'700'000'000'000);
    e->set_cluster_id("bench-cluster-eu-west-1");
    e->set_producer("detector");
    v1::AlertObserved* alert = e->mutable_alert_observed();
    alert->set_type("HighRestartCount");
    alert->set_severity("critical");
    alert->set_object("checkout-7d9f8b6c5d-x2x9k");
    alert->set_namespace_("shop");
    alert->set_deployment("checkout");
    alert->set_timestamp_unix(1'700'000'000);
    alert->set_source("detector");
    alert->set_object_kind("Pod");
    alert->set_message("container app restarted 7 times in 10 minutes: ");
    while (StoredForm(*e, 100'000).ByteSizeLong() < kTargetEventBytes) {
      alert->mutable_message()->push_back('x');
    }
    return e;
  }();
  return *event;
}

// The framed record RocksEventLog stores for the template event: the raw twin's value.
const std::string& TemplateRecord() {
  static const std::string* const record =
      new std::string(aiops::eventlog::EncodeRecord(StoredForm(TemplateEvent(), 100'000)));
  return *record;
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

size_t ArgAt(const benchmark::State& state, size_t i) {
  return static_cast<size_t>(state.range(i));
}

// ---------------------------------------------------------------------------------------------
// Append targets: ours and the raw twin. Batch is what the caller has in hand before the timed
// call (built while the timer is paused); Write is the timed operation and is thread-safe.

class LogTarget {
 public:
  using Batch = std::vector<v1::Event>;

  absl::Status Open(bool sync) {
    if (!dir_.ok()) {
      return absl::InternalError("cannot create a temp folder");
    }
    RocksLogOptions options;
    options.path = dir_.path();
    options.sync = sync;
    absl::StatusOr<std::unique_ptr<RocksEventLog>> log = RocksEventLog::Open(options);
    if (!log.ok()) {
      return log.status();
    }
    log_ = *std::move(log);
    return absl::OkStatus();
  }
  static Batch MakeBatch(size_t n) { return Batch(n, TemplateEvent()); }
  absl::Status Write(Batch&& batch) { return log_->Append(std::move(batch)).status(); }
  RocksEventLog& log() { return *log_; }

 private:
  TempDir dir_{"aiops-eventlog-bench"};  // declared first: removed after the log is closed
  std::unique_ptr<RocksEventLog> log_;
};

class RawTarget {
 public:
  using Batch = size_t;  // the number of puts; the WriteBatch is built in the timed call

  absl::Status Open(bool sync) {
    if (!dir_.ok()) {
      return absl::InternalError("cannot create a temp folder");
    }
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, dir_.path(), &db);
    if (!s.ok()) {
      return absl::UnavailableError(s.ToString());
    }
    db_.reset(db);
    write_options_.sync = sync;
    return absl::OkStatus();
  }
  static Batch MakeBatch(size_t n) { return n; }
  absl::Status Write(Batch&& n) {
    uint64_t sequence = next_.fetch_add(n, std::memory_order_relaxed);
    rocksdb::WriteBatch batch;
    for (size_t i = 0; i < n; ++i) {
      batch.Put(aiops::eventlog::EncodeSequenceKey(sequence++), TemplateRecord());
    }
    const rocksdb::Status s = db_->Write(write_options_, &batch);
    return s.ok() ? absl::OkStatus() : absl::UnavailableError(s.ToString());
  }

 private:
  TempDir dir_{"aiops-eventlog-bench"};
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
  std::atomic<uint64_t> next_{1};
};

// Events per timed iteration: fixed per configuration, large enough to amortize the pause.
size_t AppendEventsPerIteration(size_t batch, bool sync, size_t writers) {
  if (!sync) {
    return 8192;
  }
  return std::max<size_t>(64 * writers, 32 * batch);
}

// Runs each writer's batches (writer 0 on this thread, the others on their own threads).
template <typename Target>
absl::Status RunWriters(Target& target, std::vector<std::vector<typename Target::Batch>>& work) {
  absl::Mutex mu;
  absl::Status first_error;
  auto run = [&](std::vector<typename Target::Batch>& batches) {
    for (typename Target::Batch& batch : batches) {
      if (absl::Status s = target.Write(std::move(batch)); !s.ok()) {
        absl::MutexLock lock(&mu);
        first_error.Update(s);
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < work.size(); ++w) {
    threads.emplace_back(run, std::ref(work[w]));
  }
  run(work[0]);
  for (std::thread& t : threads) {
    t.join();
  }
  absl::MutexLock lock(&mu);
  return first_error;
}

// Args: batch (events per write call), sync (0/1), writers (concurrent appending threads).
template <typename Target>
void RunAppendBenchmark(benchmark::State& state) {
  const size_t batch = ArgAt(state, 0);
  const bool sync = state.range(1) != 0;
  const size_t writers = ArgAt(state, 2);
  const size_t per_iteration = AppendEventsPerIteration(batch, sync, writers);
  const size_t calls_per_writer = per_iteration / writers / batch;
  Target target;
  if (absl::Status s = target.Open(sync); !s.ok()) {
    state.SkipWithError(fmt::format("open: {}", s).c_str());
    return;
  }
  std::vector<std::vector<typename Target::Batch>> work(writers);
  for (auto _ : state) {
    state.PauseTiming();
    for (std::vector<typename Target::Batch>& batches : work) {
      batches.clear();
      for (size_t c = 0; c < calls_per_writer; ++c) {
        batches.push_back(Target::MakeBatch(batch));
      }
    }
    state.ResumeTiming();
    if (absl::Status s = RunWriters(target, work); !s.ok()) {
      state.SkipWithError(fmt::format("write: {}", s).c_str());
      break;
    }
  }
  const auto events = static_cast<int64_t>(state.iterations()) *
                      static_cast<int64_t>(calls_per_writer * writers * batch);
  state.SetItemsProcessed(events);
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["value_bytes"] = static_cast<double>(TemplateRecord().size());
}

void BM_LogAppend(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  RunAppendBenchmark<LogTarget>(state);
}

void BM_RawRocksPut(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  RunAppendBenchmark<RawTarget>(state);
}

// Registered twin by twin (ours, then raw, for each configuration) rather than with BENCHMARK,
// so that each pair runs back to back and sees the same machine load.
const bool kAppendBenchmarksRegistered = [] {
  struct Config {
    int64_t batch;
    int64_t sync;
    int64_t writers;
  };
  constexpr Config kConfigs[] = {{1, 0, 1},  {64, 0, 1},   {1024, 0, 1}, {1, 1, 1},
                                 {64, 1, 1}, {1024, 1, 1}, {1, 1, 2},    {1, 1, 8}};
  for (const Config& c : kConfigs) {
    for (const auto& [name, fn] :
         {std::pair{"BM_LogAppend", &BM_LogAppend}, std::pair{"BM_RawRocksPut", &BM_RawRocksPut}}) {
      benchmark::RegisterBenchmark(name, fn)
          ->ArgNames({"batch", "sync", "writers"})
          ->Args({c.batch, c.sync, c.writers})
          ->UseRealTime()
          ->MinTime(1.0)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

// ---------------------------------------------------------------------------------------------
// Sequential read: kReadPrefillEvents events appended (unsynced, 1024 per call), then read from
// the first to the last in chunks of kReadChunk. reopened:0 reads right after the appends (the
// records are in the memtable); reopened:1 closes and reopens the log first, so RocksDB flushes
// the recovered WAL and the records come from SST files.

template <bool kDecoded>
void RunReadBenchmark(benchmark::State& state) {
  const bool reopen = state.range(0) != 0;
  TempDir dir("aiops-eventlog-bench");
  if (!dir.ok()) {
    state.SkipWithError("cannot create a temp folder");
    return;
  }
  RocksLogOptions options;
  options.path = dir.path();
  options.sync = false;
  std::unique_ptr<RocksEventLog> log;
  {
    absl::StatusOr<std::unique_ptr<RocksEventLog>> opened = RocksEventLog::Open(options);
    if (!opened.ok()) {
      state.SkipWithError(fmt::format("open: {}", opened.status()).c_str());
      return;
    }
    log = *std::move(opened);
  }
  for (size_t done = 0; done < kReadPrefillEvents;) {
    const size_t n = std::min<size_t>(1024, kReadPrefillEvents - done);
    if (absl::Status s = log->Append(LogTarget::MakeBatch(n)).status(); !s.ok()) {
      state.SkipWithError(fmt::format("prefill: {}", s).c_str());
      return;
    }
    done += n;
  }
  if (reopen) {
    log.reset();
    options.open_check = RocksLogOptions::OpenCheck::kEndsOnly;  // do not pre-read the records
    absl::StatusOr<std::unique_ptr<RocksEventLog>> opened = RocksEventLog::Open(options);
    if (!opened.ok()) {
      state.SkipWithError(fmt::format("reopen: {}", opened.status()).c_str());
      return;
    }
    log = *std::move(opened);
  }
  const uint64_t first = log->FirstSequence();
  for (auto _ : state) {
    size_t count = 0;
    for (uint64_t from = first;;) {
      uint64_t last = 0;
      size_t n = 0;
      if constexpr (kDecoded) {
        absl::StatusOr<std::vector<v1::Event>> events = log->Read(from, kReadChunk);
        if (!events.ok()) {
          state.SkipWithError(fmt::format("read: {}", events.status()).c_str());
          return;
        }
        n = events->size();
        if (n > 0) {
          last = events->back().sequence();
        }
        benchmark::DoNotOptimize(events->data());
      } else {
        absl::StatusOr<std::vector<aiops::eventlog::RawRecord>> records =
            log->ReadRaw(from, kReadChunk);
        if (!records.ok()) {
          state.SkipWithError(fmt::format("read: {}", records.status()).c_str());
          return;
        }
        n = records->size();
        if (n > 0) {
          last = records->back().sequence;
        }
        benchmark::DoNotOptimize(records->data());
      }
      if (n == 0) {
        break;
      }
      count += n;
      from = last + 1;
    }
    if (count != kReadPrefillEvents) {
      state.SkipWithError(
          fmt::format("read {} events, expected {}", count, kReadPrefillEvents).c_str());
      return;
    }
  }
  const auto events =
      static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kReadPrefillEvents);
  state.SetItemsProcessed(events);
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}

void BM_LogRead(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  RunReadBenchmark<true>(state);
}

void BM_LogReadRaw(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  RunReadBenchmark<false>(state);
}

BENCHMARK(BM_LogRead)
    ->ArgName("reopened")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LogReadRaw)
    ->ArgName("reopened")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Iterations(5)
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Append-to-subscriber latency: one thread appends single events, each after the subscriber has
// received the previous one; a Subscription on another thread takes each event with Next. The
// latency of an event is from just before its Append call to Next returning it (decoded).
// Also reported: the Append call's own latency (until it acknowledged).

double PercentileMicros(std::vector<int64_t>& nanos, double p) {
  if (nanos.empty()) {
    return 0;
  }
  std::sort(nanos.begin(), nanos.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(nanos.size())));
  return static_cast<double>(nanos[std::clamp<size_t>(rank, 1, nanos.size()) - 1]) / 1000.0;
}

void BM_AppendToSubscriberLatency(  // NOLINT(readability-identifier-naming): convention
    benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const size_t samples = sync ? 500 : 5000;
  constexpr size_t kWarmup = 50;
  const size_t total = kWarmup + samples;
  LogTarget target;
  if (absl::Status s = target.Open(sync); !s.ok()) {
    state.SkipWithError(fmt::format("open: {}", s).c_str());
    return;
  }
  RocksEventLog& log = target.log();
  std::vector<int64_t> wake_nanos;
  std::vector<int64_t> ack_nanos;
  for (auto _ : state) {
    wake_nanos.clear();
    ack_nanos.clear();
    std::atomic<int64_t> append_start{0};
    absl::Mutex mu;
    uint64_t received = 0;         // guarded by mu
    std::string subscriber_error;  // guarded by mu
    // Positioned before the first append, so that it cannot start past the first event.
    aiops::eventlog::Subscription subscription(log, log.LastSequence() + 1);
    std::thread subscriber([&] {
      for (size_t i = 0; i < total; ++i) {
        absl::StatusOr<std::vector<v1::Event>> events = subscription.Next(1, absl::Seconds(10));
        const int64_t now = NowNanos();
        if (!events.ok() || events->empty()) {
          absl::MutexLock lock(&mu);
          subscriber_error = events.ok() ? std::string("no event within 10 s")
                                         : fmt::format("next: {}", events.status());
          return;
        }
        if (i >= kWarmup) {
          wake_nanos.push_back(now - append_start.load(std::memory_order_acquire));
        }
        absl::MutexLock lock(&mu);
        received = events->back().sequence();
      }
    });
    std::string error;
    for (size_t i = 0; i < total && error.empty(); ++i) {
      std::vector<v1::Event> one = LogTarget::MakeBatch(1);
      const int64_t start = NowNanos();
      append_start.store(start, std::memory_order_release);
      absl::StatusOr<aiops::eventlog::SequenceRange> range = log.Append(std::move(one));
      const int64_t acked = NowNanos();
      if (!range.ok()) {
        error = fmt::format("append: {}", range.status());
        break;
      }
      if (i >= kWarmup) {
        ack_nanos.push_back(acked - start);
      }
      absl::MutexLock lock(&mu);
      const uint64_t want = range->last;
      auto caught_up = [&] { return received >= want || !subscriber_error.empty(); };
      mu.AwaitWithTimeout(absl::Condition(&caught_up), absl::Seconds(20));
      if (!subscriber_error.empty()) {
        error = subscriber_error;
      } else if (received < want) {
        error = "the subscriber did not receive the event within 20 s";
      }
    }
    subscriber.join();  // it returns after `total` events or an error
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(samples));
  state.counters["samples"] = static_cast<double>(wake_nanos.size());
  state.counters["p50_us"] = PercentileMicros(wake_nanos, 0.50);
  state.counters["p99_us"] = PercentileMicros(wake_nanos, 0.99);
  state.counters["max_us"] = PercentileMicros(wake_nanos, 1.0);
  state.counters["ack_p50_us"] = PercentileMicros(ack_nanos, 0.50);
  state.counters["ack_p99_us"] = PercentileMicros(ack_nanos, 0.99);
}

BENCHMARK(BM_AppendToSubscriberLatency)
    ->ArgName("sync")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
