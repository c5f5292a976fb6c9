#include "common/log.h"

#include <atomic>
#include <iostream>
#include <string>

#include <absl/synchronization/mutex.h>
#include <absl/time/clock.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

namespace aiops::common {
namespace {

absl::Mutex sink_mu(absl::kConstInit);
std::ostream* sink ABSL_GUARDED_BY(sink_mu) = nullptr;
std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

}  // namespace

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void LogJson(LogLevel level, std::string_view component, std::string_view message,
             const LogFields& fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) {
    return;
  }
  nlohmann::ordered_json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LogLevelName(level);
  line["component"] = std::string(component);
  line["msg"] = std::string(message);
  for (const auto& [key, value] : fields) {
    line[key] = value;
  }
  // Invalid UTF-8 (from a remote error message) is replaced rather than thrown on.
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  absl::MutexLock lock(&sink_mu);
  std::ostream& out = sink != nullptr ? *sink : std::cerr;
  out << text << '\n';
  out.flush();
}

void SetLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

bool ParseLogLevel(std::string_view text, LogLevel& level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LogLevelName(l)) {
      level = l;
      return true;
    }
  }
  return false;
}

void SetLogSink(std::ostream* out) {
  absl::MutexLock lock(&sink_mu);
  sink = out;
}

}  // namespace aiops::common
