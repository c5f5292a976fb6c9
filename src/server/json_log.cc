#include "server/json_log.h"

#include <string>

#include "common/log.h"
#include <grpc/support/log.h>

namespace aiops::server {
namespace {

void LogGrpc(gpr_log_func_args* args) {
  using common::LogLevel;
  LogLevel level = LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) {
    level = LogLevel::kDebug;
  } else if (args->severity == GPR_LOG_SEVERITY_INFO) {
    level = LogLevel::kInfo;
  }
  common::LogJson(
      level, "grpc", args->message != nullptr ? args->message : "",
      {{"file", args->file != nullptr ? args->file : ""}, {"line", std::to_string(args->line)}});
}

}  // namespace

void RouteGrpcLogsToJson() { gpr_set_log_function(&LogGrpc); }

}  // namespace aiops::server
