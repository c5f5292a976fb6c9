// JSON-lines logs for the daemon (one object per line on stderr by default):
//   {"ts":"2026-11-26T08:00:00.123Z","level":"info","component":"effectors","msg":"...",...}
// Thread-safe. Tests may redirect the sink.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiops::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Extra string fields of one line, in order.
using LogFields = std::vector<std::pair<std::string, std::string>>;

void LogJson(LogLevel level, std::string_view component, std::string_view message,
             const LogFields& fields = {});

// Lines below `level` are dropped (default info). "debug" | "info" | "warn" | "error".
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view text, LogLevel& level);
// Where lines go (default std::cerr); the stream must outlive its use.
void SetLogSink(std::ostream* sink);

}  // namespace aiops::server
