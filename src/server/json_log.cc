#include "server/json_log.h"

#include <atomic>
#include <iostream>
#include <string>

#include <absl/synchronization/mutex.h>
#include <absl/time/clock.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <grpc/support/log.h>

namespace aiops::server {
namespace {

absl::Mutex sink_mu(absl::kConstInit);
std::ostream* sink ABSL_GUARDED_BY(sink_mu) = nullptr;
std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
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

void LogGrpc(gpr_log_func_args* args) {
  LogLevel level = LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) {
    level = LogLevel::kDebug;
  } else if (args->severity == GPR_LOG_SEVERITY_INFO) {
    level = LogLevel::kInfo;
  }
  LogJson(
      level, "grpc", args->message != nullptr ? args->message : "",
      {{"file", args->file != nullptr ? args->file : ""}, {"line", std::to_string(args->line)}});
}

}  // namespace

void RouteGrpcLogsToJson() { gpr_set_log_function(&LogGrpc); }

void LogJson(LogLevel level, std::string_view component, std::string_view message,
             const LogFields& fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) {
    return;
  }
  nlohmann::ordered_json line;
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
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
    if (text == LevelName(l)) {
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

}  // namespace aiops::server
