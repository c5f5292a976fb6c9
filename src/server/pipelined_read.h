// Reading a log while folding it, on two threads (DESIGN.md §2, the edge side of a replay): a
// reader thread reads and decodes chunks of events with EventLog::Read while the calling thread
// consumes the previous chunk (projections::Apply, stages::Replayer::Add). Chunks reach `consume`
// one at a time, in log order, on the calling thread, so whatever it folds is exactly what a
// one-thread loop folds; only the reading overlaps. Header-only (the standard library's threads),
// so that benchmarks and tools can use it without linking the server.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <absl/functional/function_ref.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "aiops/v1/events.pb.h"
#include "eventlog/event_log.h"

namespace aiops::server {

struct PipelinedReadOptions {
  size_t chunk = 4096;  // events per EventLog::Read call
  size_t ahead = 2;     // chunks decoded ahead of the consumer (bounds the memory held)
  uint64_t last = std::numeric_limits<uint64_t>::max();  // last sequence to read (inclusive)
};

// Reads `log` from sequence `from` to `options.last` (or its end) and calls `consume` with each
// chunk, in order, on the calling thread. Stops at the first error: a Read error is returned once
// the chunks before it were consumed; an error from `consume` is returned as is (the reader stops
// after at most `ahead` more chunks). `log` must allow Read from another thread (EventLog does).
inline absl::Status ReadPipelined(
    const eventlog::EventLog& log, uint64_t from, const PipelinedReadOptions& options,
    absl::FunctionRef<absl::Status(std::vector<v1::Event>& chunk)> consume) {
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::vector<v1::Event>> ready;  // guarded by mu
  absl::Status read_status;                  // guarded by mu; set once the reader is done
  bool reader_done = false;                  // guarded by mu
  bool stop = false;                         // guarded by mu: the consumer gave up
  const size_t ahead = options.ahead == 0 ? 1 : options.ahead;

  std::thread reader([&] {
    absl::Status status;
    for (uint64_t next = from; next <= options.last;) {
      const uint64_t left = options.last - next + 1;
      absl::StatusOr<std::vector<v1::Event>> events =
          log.Read(next, left < options.chunk ? static_cast<size_t>(left) : options.chunk);
      if (!events.ok()) {
        status = events.status();
        break;
      }
      if (events->empty()) {
        break;
      }
      next = events->back().sequence() + 1;
      std::unique_lock lock(mu);
      changed.wait(lock, [&] { return stop || ready.size() < ahead; });
      if (stop) {
        break;
      }
      ready.push_back(*std::move(events));
      changed.notify_all();
      if (next == 0) {
        break;  // the last sequence was the largest there is
      }
    }
    std::lock_guard lock(mu);
    read_status = std::move(status);
    reader_done = true;
    changed.notify_all();
  });

  absl::Status status;
  for (;;) {
    std::vector<v1::Event> chunk;
    {
      std::unique_lock lock(mu);
      changed.wait(lock, [&] { return !ready.empty() || reader_done; });
      if (ready.empty()) {
        status = read_status;
        break;
      }
      chunk = std::move(ready.front());
      ready.pop_front();
      changed.notify_all();
    }
    status = consume(chunk);
    if (!status.ok()) {
      std::lock_guard lock(mu);
      stop = true;
      changed.notify_all();
      break;
    }
  }
  reader.join();
  return status;
}

}  // namespace aiops::server
