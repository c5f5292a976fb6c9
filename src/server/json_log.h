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
// Where lines go (default std::cerr); the stream must outlive its use. Once this returns, no
// line is being written to the previous sink any more (readers may inspect it safely).
void SetLogSink(std::ostream* sink);

// Routes gRPC's own log output (gpr_log: connection errors, GOAWAYs, ...) through LogJson as
// component "grpc" with its file and line, instead of gRPC's plain-text lines on stderr. gRPC's
// severities map to debug, info and error; gRPC itself still drops what is below its verbosity
// (GRPC_VERBOSITY, ERROR by default). Process-wide; call once before starting gRPC servers or
// channels. Idempotent.
void RouteGrpcLogsToJson();

}  // namespace aiops::server
