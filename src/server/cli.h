// The `aiops` command line: parses the subcommand and dispatches to it. Commands are registered
// in one table (cli.cc) so that `--help` always lists exactly what this binary can do.
// Depends on everything below server/ as commands are added.
#pragma once

#include <ostream>
#include <span>
#include <string_view>

namespace aiops::server {

// Exit codes of the CLI, stable for scripts.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // bad command line

// Runs the command line `args` (without the program name). Writes results to `out` and
// diagnostics to `err`; returns the process exit code.
int RunCli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace aiops::server
