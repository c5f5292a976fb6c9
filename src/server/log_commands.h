// `aiops log verify|show|tail|export|import`: tools over the event log's RocksDB folder
// (docs/export_format.md for the export file). verify, show, tail and export without --prune
// open the log read-only (tail --follow as a secondary), so they work beside a running operator
// that holds it read-write; export --prune and import open it read-write.
// Depends on eventlog and proto.
#pragma once

#include <ostream>
#include <span>
#include <string_view>

#include <absl/status/status.h>

#include "aiops/v1/events.pb.h"

namespace aiops::server {

// Runs `aiops log <subcommand> [flags]` (`args` starts at the subcommand). Returns kExitOk,
// kExitFailure (the command failed: `aiops log <sub>: <message>` on `err`) or kExitUsage (bad
// command line, naming the bad flag).
int RunLogCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

// Makes a running `aiops log tail --follow` return after its current poll, as SIGINT and SIGTERM
// do. Safe to call from any thread.
void RequestLogFollowStop();

// Prints one event as `aiops log show|tail` do: a text line, or with `json` one JSON object per
// line. kInternal when the event cannot be printed as JSON.
absl::Status PrintLogEvent(const v1::Event& event, bool json, std::ostream& out);

}  // namespace aiops::server
