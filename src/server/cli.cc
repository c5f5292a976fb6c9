#include "server/cli.h"

#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/version.h"
#include "server/api/commands.h"
#include "server/daemon.h"
#include "server/log_commands.h"
#include "server/replay_command.h"

namespace aiops::server {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
};

int RunVersion(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (!args.empty()) {
    err << fmt::format("aiops version: unexpected argument '{}'\n", args.front());
    return kExitUsage;
  }
  out << fmt::format("aiops {} ({})\n", common::Version(), common::GitRevision());
  out << fmt::format("libraries: {}\n", common::LinkedLibraries());
  return kExitOk;
}

// The one table of subcommands. Later issues add `run`, `log`, `incident`, `replay`, `approve`
// and `reject` here.
constexpr Command kCommands[] = {
    {"run", "run the operator (`aiops run --help`)", &RunDaemonCommand},
    {"version", "print the version of this binary and its libraries", &RunVersion},
    {"log", "verify, show, tail, export or import the event log (`aiops log --help`)",
     &api::RunLogCommandOrRemoteTail},
    {"incident", "list incidents or show one with its timeline (`aiops incident --help`)",
     &api::RunIncidentCommand},
    {"approve", "approve a remediation plan waiting for approval", &api::RunApproveCommand},
    {"reject", "reject a remediation plan waiting for approval", &api::RunRejectCommand},
    {"replay", "rebuild the state from the log; --verify audits, --what-if compares configs",
     &RunReplayCommand},
};

void PrintHelp(std::ostream& out) {
  out << "aiops: an autonomous AIOps operator for Kubernetes, driven by an append-only event log\n"
         "\n"
         "usage: aiops [--help] [--version] <command> [args]\n"
         "\n"
         "commands:\n";
  for (const Command& c : kCommands) {
    out << fmt::format("  {:<12}{}\n", c.name, c.summary);
  }
  out << "\n"
         "options:\n"
         "  -h, --help     show this help and exit\n"
         "  -V, --version  same as `aiops version`\n";
}

}  // namespace

int RunCli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    PrintHelp(err);
    return kExitUsage;
  }
  const std::string_view first = args.front();
  if (first == "-h" || first == "--help" || first == "help") {
    PrintHelp(out);
    return kExitOk;
  }
  if (first == "-V" || first == "--version") {
    return RunVersion(args.subspan(1), out, err);
  }
  for (const Command& c : kCommands) {
    if (c.name == first) {
      return c.run(args.subspan(1), out, err);
    }
  }
  err << fmt::format("aiops: unknown command or option '{}' (see `aiops --help`)\n", first);
  return kExitUsage;
}

}  // namespace aiops::server
