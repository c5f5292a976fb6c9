// The one logger of every layer: JSON lines, one object per line on stderr by
// default:
//   {"ts":"2026-11-26T08:00:00.123Z","level":"info","component":"effectors","msg":"...",...}
// Thread-safe. Tests may redirect the sink. Pure code (projections, deciders) never logs: what
// they decide is an event.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiops::common {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Extra string fields of one line, in order.
using LogFields = std::vector<std::pair<std::string, std::string>>;

void LogJson(LogLevel level, std::string_view component, std::string_view message,
             const LogFields& fields = {});

// Lines below `level` are dropped (default info). "debug" | "info" | "warn" | "error".
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view text, LogLevel& level);
const char* LogLevelName(LogLevel level);
// Where lines go (default std::cerr); the stream must outlive its use. Once this returns, no
// line is being written to the previous sink any more (readers may inspect it safely).
void SetLogSink(std::ostream* sink);

}  // namespace aiops::common
