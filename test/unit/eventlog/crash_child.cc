// Child process of the event-log crash test: appends batches to the log at argv[1] with synced
// group commit from two threads, and after each acknowledged append writes "first last\n" to
// stdout with one write(2), until it is killed.
#include <cstdio>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "eventlog/rocks_event_log.h"
#include "test_events.h"
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: eventlog_crash_child DIR SEED\n");
    return 2;
  }
  aiops::eventlog::RocksLogOptions options;
  options.path = argv[1];
  options.sync = true;
  auto log = aiops::eventlog::RocksEventLog::Open(options);
  if (!log.ok()) {
    std::fprintf(stderr, "open: %s\n", log.status().ToString().c_str());
    return 1;
  }
  const unsigned seed = static_cast<unsigned>(std::stoul(argv[2]));
  auto run = [&](unsigned thread) {
    unsigned state = seed * 2654435761U + thread;
    for (;;) {
      state = state * 1103515245U + 12345U;
      const size_t n = 1 + (state >> 16) % 16;
      std::vector<aiops::v1::Event> batch;
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(aiops::eventlog::testing::AlertEvent(
            fmt::format("incident-{}", (state >> 8) % 7), 32 + (state >> 4) % 512));
      }
      auto range = (*log)->Append(std::move(batch));
      if (!range.ok()) {
        std::fprintf(stderr, "append: %s\n", range.status().ToString().c_str());
        std::_Exit(1);
      }
      const std::string line = fmt::format("{} {}\n", range->first, range->last);
      if (write(STDOUT_FILENO, line.data(), line.size()) < 0) {
        std::_Exit(1);
      }
    }
  };
  std::thread other(run, 1U);
  run(0U);
  other.join();
  return 0;
}
