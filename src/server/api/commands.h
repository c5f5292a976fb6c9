// The CLI commands that use the operator's gRPC API (docs/api.md): `aiops incident list|show`
// (through the API, or offline on a log folder with --data-dir), `aiops approve|reject PLAN`
// and `aiops log tail --server ADDR`. They are dispatched from server/cli.cc and compiled into
// the aiops::server library (they use its flag parser, the runner's Rebuild and the log
// printer), on top of aiops::api.
#pragma once

#include <ostream>
#include <span>
#include <string_view>

namespace aiops::api {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";
inline constexpr char kTokenEnv[] = "AIOPS_TOKEN";

// `aiops incident list|show ...` (args start at the subcommand).
int RunIncidentCommand(std::span<const std::string_view> args, std::ostream& out,
                       std::ostream& err);
// `aiops approve PLAN ...` and `aiops reject PLAN ...` (args start after the command name).
int RunApproveCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
int RunRejectCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
// `aiops log ...`: `log tail --server ADDR ...` goes through TailEvents; everything else to the
// local log tools (server/log_commands.h).
int RunLogCommandOrRemoteTail(std::span<const std::string_view> args, std::ostream& out,
                              std::ostream& err);

// Makes a running `aiops log tail --server ... --follow` return, as SIGINT and SIGTERM do. Safe
// to call from any thread.
void RequestRemoteTailStop();

}  // namespace aiops::api
