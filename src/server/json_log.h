// gRPC's own log output in the daemon's JSON lines (common/log.h).
#pragma once

namespace aiops::server {

// Routes gRPC's own log output (gpr_log: connection errors, GOAWAYs, ...) through
// common::LogJson as component "grpc" with its file and line, instead of gRPC's plain-text lines
// on stderr. gRPC's severities map to debug, info and error; gRPC itself still drops what is
// below its verbosity (GRPC_VERBOSITY, ERROR by default). Process-wide; call once before
// starting gRPC servers or channels. Idempotent.
void RouteGrpcLogsToJson();

}  // namespace aiops::server
