#include "server/api/commands.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <absl/strings/string_view.h>
#include <absl/time/clock.h>
#include <absl/time/time.h>
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "aiops/v1/service.grpc.pb.h"
#include "common/fmt_absl.h"
#include "common/stop_signal.h"
#include "eventlog/rocks_event_log.h"
#include "server/api/grpc_server.h"
#include "server/api/incidents.h"
#include "server/api/timeline.h"
#include "server/cli.h"
#include "server/flags.h"
#include "server/log_commands.h"
#include "server/runner.h"

namespace aiops::api {
namespace {

using server::kExitFailure;
using server::kExitOk;
using server::kExitUsage;
using server::ParsedFlags;

constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr uint64_t kDefaultTailCount = 20;

std::atomic<bool> g_tail_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);  // set from a signal handler

extern "C" void OnRemoteTailStopSignal(int /*signal*/) { g_tail_stop.store(true); }

constexpr std::string_view kIncidentUsage =
    "usage: aiops incident list [--state S] [--namespace NS] [--json] [connection]\n"
    "       aiops incident show ID [--json] [connection]\n"
    "       aiops incident rearm ISSUE [--by NAME] [--reason R] [--json] [--server ...]\n"
    "\n"
    "  list   the incidents (issues) the operator knows, oldest first; --state filters by\n"
    "         Detected, Analyzing, Remediating, Resolved, Escalated or open\n"
    "  show   one incident (an issue name or incident id): its state, plans and a timeline of\n"
    "         every event with what caused it\n"
    "  rearm  end the hold on an escalated issue's resource (--by defaults to $USER): the next\n"
    "         anomaly there opens a new issue, analysed and remediated afresh; until then, or\n"
    "         until the resource is quiet for the escalation hold, anomalies join the escalated\n"
    "         issue. Needs the running operator (--server).\n"
    "         example: aiops incident rearm web-oom-kill-1771276354 --reason \"raised the quota\"\n"
    "\n"
    "connection (one of):\n"
    "  --server ADDR       the operator's gRPC API (default 127.0.0.1:50051)\n"
    "  --token-file FILE   bearer token file (default: $AIOPS_TOKEN)\n"
    "  --tls, --ca-file F  connect with TLS (system roots, or the CA certificates in F)\n"
    "  --data-dir DIR      read the event log folder DIR directly, without a running operator\n"
    "                      (opened read-only; the state is rebuilt from it)\n";

constexpr std::string_view kDecisionUsage =
    "usage: aiops {} PLAN [--reason R] [--approver NAME] [--json] [--server ADDR]\n"
    "                     [--token-file FILE] [--tls] [--ca-file F]\n"
    "\n"
    "{}s a remediation plan that waits for approval, through the operator's gRPC API\n"
    "(default 127.0.0.1:50051; token from --token-file or $AIOPS_TOKEN). The approver defaults\n"
    "to $USER.\n";

constexpr std::string_view kRemoteTailUsage =
    "usage: aiops log tail --server ADDR [--from N] [--limit N] [--follow] [--incident ID]\n"
    "                      [--json] [--token-file FILE] [--tls] [--ca-file F]\n"
    "\n"
    "Prints events through the operator's TailEvents API: the last 20 (or --limit N), or from\n"
    "sequence N on; --follow keeps printing new events until interrupted.\n";

const std::vector<std::string_view> kConnectionFlags = {"server", "token-file", "ca-file"};

std::vector<std::string_view> With(std::vector<std::string_view> a,
                                   const std::vector<std::string_view>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Splits `args` into positional arguments and flags (a value flag keeps its value).
void SplitArgs(std::span<const std::string_view> args,
               const std::vector<std::string_view>& value_flags,
               std::vector<std::string_view>& positional, std::vector<std::string_view>& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      flags.push_back(arg);
      const std::string_view name = arg.substr(2);
      if (name.find('=') == std::string_view::npos &&
          std::find(value_flags.begin(), value_flags.end(), name) != value_flags.end() &&
          i + 1 < args.size()) {
        flags.push_back(args[++i]);
      }
    } else if (arg == "-h") {
      flags.push_back(arg);
    } else {
      positional.push_back(arg);
    }
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return "{}";
  }
  return json;
}

// --- Connection --------------------------------------------------------------------------------

struct Connection {
  std::string server;
  std::string token;
  std::unique_ptr<v1::AiopsService::Stub> stub;

  // A context for one call: the token and, for unary calls, a deadline.
  std::unique_ptr<grpc::ClientContext> Context(bool deadline = true) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) {
      context->AddMetadata("authorization", "Bearer " + token);
    }
    if (deadline) {
      context->set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
    }
    return context;
  }
};

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(fmt::format("cannot read the CA file '{}'", path));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::StatusOr<Connection> Connect(const ParsedFlags& flags) {
  Connection c;
  c.server = flags.Get("server", kDefaultServer);
  if (flags.Has("token-file")) {
    absl::StatusOr<std::string> token = ReadTokenFile(flags.Get("token-file"));
    if (!token.ok()) {
      return token.status();
    }
    c.token = *std::move(token);
  } else if (const char* env = std::getenv(kTokenEnv)) {  // NOLINT(concurrency-mt-unsafe)
    c.token = env;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (flags.Has("tls") || flags.Has("ca-file")) {
    grpc::SslCredentialsOptions ssl;
    if (flags.Has("ca-file")) {
      absl::StatusOr<std::string> ca = ReadPem(flags.Get("ca-file"));
      if (!ca.ok()) {
        return ca.status();
      }
      ssl.pem_root_certs = *std::move(ca);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  c.stub = v1::AiopsService::NewStub(grpc::CreateChannel(c.server, credentials));
  return c;
}

int RpcFailure(std::ostream& err, std::string_view command, const std::string& server,
               const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      err << fmt::format("aiops {}: cannot reach the operator at {}: {}\n", command, server,
                         status.error_message());
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << fmt::format("aiops {}: the operator at {} did not answer in time\n", command, server);
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      err << fmt::format(
          "aiops {}: the operator at {} refused the call: {} (give the token with --token-file "
          "or ${})\n",
          command, server, status.error_message(), kTokenEnv);
      break;
    default:
      err << fmt::format("aiops {}: {}\n", command, status.error_message());
  }
  return kExitFailure;
}

int Fail(std::ostream& err, std::string_view command, const absl::Status& status) {
  err << fmt::format("aiops {}: {}\n", command, status.message());
  return kExitFailure;
}

int Usage(std::ostream& err, std::string_view command, absl::string_view message,
          std::string_view usage) {
  err << fmt::format("aiops {}: {}\n{}", command, message, usage);
  return kExitUsage;
}

// --- Offline state -----------------------------------------------------------------------------

struct OfflineLog {
  std::unique_ptr<eventlog::RocksEventLog> log;
  projections::PipelineState state;
};

absl::StatusOr<OfflineLog> OpenOffline(const std::string& dir) {
  eventlog::RocksLogOptions options;
  options.path = dir;
  options.mode = eventlog::RocksLogOptions::Mode::kReadOnly;
  options.open_check = eventlog::RocksLogOptions::OpenCheck::kEndsOnly;
  absl::StatusOr<std::unique_ptr<eventlog::RocksEventLog>> log =
      eventlog::RocksEventLog::Open(options);
  if (!log.ok()) {
    return log.status();
  }
  absl::StatusOr<projections::PipelineState> state =
      server::Runner::Rebuild(**log, projections::kPipelineSnapshotName);
  if (!state.ok()) {
    return state.status();
  }
  return OfflineLog{*std::move(log), *std::move(state)};
}

// --- incident list / show ----------------------------------------------------------------------

void PrintIncidentTable(const v1::ListIncidentsResponse& list, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"NAME", "STATE", "SEVERITY", "RISK", "SIGNAL", "RESOURCE", "ATTEMPT", "DETECTED", "PLAN"});
  for (const v1::IncidentSummary& s : list.incidents()) {
    std::string plan = "-";
    if (!s.plan_names().empty()) {
      plan = fmt::format("{} ({})", s.plan_names(s.plan_names_size() - 1), s.latest_plan_state());
    }
    rows.push_back({s.name(), s.state(), s.severity(), std::to_string(s.risk_score()),
                    s.signal_type(),
                    fmt::format("{}/{}/{}", s.resource().kind(), s.resource().namespace_(),
                                s.resource().name()),
                    fmt::format("{}/{}", s.attempt(), s.max_attempts()),
                    FormatTimeMs(s.detected_at_ms()), plan});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], widths[i]);
    }
    out << line << '\n';
  }
}

int IncidentList(const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  v1::ListIncidentsRequest request;
  request.set_state(flags.Get("state"));
  request.set_namespace_(flags.Get("namespace"));
  if (absl::StatusOr<std::string> state = NormalizeStateFilter(request.state()); !state.ok()) {
    return Usage(err, "incident list", state.status().message(), kIncidentUsage);
  }
  v1::ListIncidentsResponse response;
  if (flags.Has("data-dir")) {
    absl::StatusOr<OfflineLog> offline = OpenOffline(flags.Get("data-dir"));
    if (!offline.ok()) {
      return Fail(err, "incident list", offline.status());
    }
    absl::StatusOr<v1::ListIncidentsResponse> listed = ListIncidents(offline->state, request);
    if (!listed.ok()) {
      return Fail(err, "incident list", listed.status());
    }
    response = *std::move(listed);
  } else {
    absl::StatusOr<Connection> connection = Connect(flags);
    if (!connection.ok()) {
      return Fail(err, "incident list", connection.status());
    }
    const grpc::Status status =
        connection->stub->ListIncidents(connection->Context().get(), request, &response);
    if (!status.ok()) {
      return RpcFailure(err, "incident list", connection->server, status);
    }
  }
  if (flags.Has("json")) {
    out << ToJson(response) << '\n';
  } else if (response.incidents().empty()) {
    out << fmt::format("no incidents{} (as of sequence {})\n",
                       request.state().empty() ? "" : " in state " + request.state(),
                       response.as_of_sequence());
  } else {
    PrintIncidentTable(response, out);
  }
  return kExitOk;
}

int IncidentShow(const std::string& id, const ParsedFlags& flags, std::ostream& out,
                 std::ostream& err) {
  v1::GetIncidentResponse response;
  if (flags.Has("data-dir")) {
    absl::StatusOr<OfflineLog> offline = OpenOffline(flags.Get("data-dir"));
    if (!offline.ok()) {
      return Fail(err, "incident show", offline.status());
    }
    absl::StatusOr<v1::GetIncidentResponse> found = FindIncident(offline->state, id);
    if (!found.ok()) {
      return Fail(err, "incident show", found.status());
    }
    absl::StatusOr<std::vector<v1::TimelineEntry>> timeline =
        ReadTimeline(*offline->log, found->issue().incident_id());
    if (!timeline.ok()) {
      return Fail(err, "incident show", timeline.status());
    }
    response = *std::move(found);
    for (v1::TimelineEntry& entry : *timeline) {
      *response.add_timeline() = std::move(entry);
    }
  } else {
    absl::StatusOr<Connection> connection = Connect(flags);
    if (!connection.ok()) {
      return Fail(err, "incident show", connection.status());
    }
    v1::GetIncidentRequest request;
    request.set_id(id);
    const grpc::Status status =
        connection->stub->GetIncident(connection->Context().get(), request, &response);
    if (!status.ok()) {
      return RpcFailure(err, "incident show", connection->server, status);
    }
  }
  if (flags.Has("json")) {
    out << ToJson(response) << '\n';
  } else {
    for (const std::string& line : RenderIncident(response)) {
      out << line << '\n';
    }
  }
  return kExitOk;
}

// --- approve / reject --------------------------------------------------------------------------

// Who acts: the value of `flag`, else $USER ("" when neither is set).
std::string PersonFromFlagOrUser(const ParsedFlags& flags, const char* flag) {
  std::string who = flags.Get(flag);
  if (who.empty()) {
    if (const char* user = std::getenv("USER")) {  // NOLINT(concurrency-mt-unsafe)
      who = user;
    }
  }
  return who;
}

int Decide(bool approve, std::span<const std::string_view> args, std::ostream& out,
           std::ostream& err) {
  const std::string_view command = approve ? "approve" : "reject";
  const std::string usage = fmt::format(kDecisionUsage, command, approve ? "Approve" : "Reject");
  const std::vector<std::string_view> value_flags = With({"reason", "approver"}, kConnectionFlags);
  std::vector<std::string_view> positional;
  std::vector<std::string_view> flag_args;
  SplitArgs(args, value_flags, positional, flag_args);
  absl::StatusOr<ParsedFlags> flags =
      server::ParseFlagArgs(flag_args, value_flags, {"tls", "json"});
  if (!flags.ok()) {
    return Usage(err, command, flags.status().message(), usage);
  }
  if (flags->help) {
    out << usage;
    return kExitOk;
  }
  if (positional.size() != 1) {
    return Usage(err, command,
                 positional.empty() ? "which plan? (give its name, e.g. from `aiops incident show`)"
                                    : fmt::format("unexpected argument '{}'", positional[1]),
                 usage);
  }
  const std::string approver = PersonFromFlagOrUser(*flags, "approver");
  if (approver.empty()) {
    return Usage(err, command, "who decides? give --approver NAME ($USER is not set)", usage);
  }
  absl::StatusOr<Connection> connection = Connect(*flags);
  if (!connection.ok()) {
    return Fail(err, command, connection.status());
  }
  v1::ApprovalDecision request;
  request.set_plan_name(std::string(positional[0]));
  request.set_approver(approver);
  request.set_reason(flags->Get("reason"));
  v1::ApprovalDecisionResponse response;
  const auto context = connection->Context();
  const grpc::Status status = approve ? connection->stub->Approve(context.get(), request, &response)
                                      : connection->stub->Reject(context.get(), request, &response);
  if (!status.ok()) {
    return RpcFailure(err, command, connection->server, status);
  }
  if (flags->Has("json")) {
    out << ToJson(response) << '\n';
  } else {
    out << fmt::format("{} plan {} as {} (event #{}); the plan is now {}, issue {} is {}\n",
                       approve ? "approved" : "rejected", response.plan_name(), approver,
                       response.sequence(), response.plan_state(), response.issue_name(),
                       response.issue_state());
  }
  return kExitOk;
}

// --- log tail --server -------------------------------------------------------------------------

int RemoteTail(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  const std::vector<std::string_view> value_flags =
      With({"from", "limit", "incident"}, kConnectionFlags);
  absl::StatusOr<ParsedFlags> flags =
      server::ParseFlagArgs(args, value_flags, {"follow", "json", "tls"});
  if (!flags.ok()) {
    return Usage(err, "log tail", flags.status().message(), kRemoteTailUsage);
  }
  if (flags->help) {
    out << kRemoteTailUsage;
    return kExitOk;
  }
  absl::StatusOr<std::optional<uint64_t>> from = flags->GetUint("from");
  absl::StatusOr<std::optional<uint64_t>> limit = flags->GetUint("limit");
  if (!from.ok() || !limit.ok()) {
    return Usage(err, "log tail", (!from.ok() ? from : limit).status().message(), kRemoteTailUsage);
  }
  if (limit->value_or(1) == 0) {
    return Usage(err, "log tail", "flag '--limit' must be at least 1", kRemoteTailUsage);
  }
  absl::StatusOr<Connection> connection = Connect(*flags);
  if (!connection.ok()) {
    return Fail(err, "log tail", connection.status());
  }
  const bool follow = flags->Has("follow");
  const bool json = flags->Has("json");
  v1::TailEventsRequest request;
  request.set_from_sequence(from->value_or(0));
  if (!from->has_value()) {
    request.set_last(limit->value_or(kDefaultTailCount));
  }
  request.set_stop_at_end(!follow);
  request.set_incident_id(flags->Get("incident"));
  // With --from, --limit caps the number of events printed.
  const uint64_t max_events = from->has_value() ? limit->value_or(UINT64_MAX) : UINT64_MAX;

  const auto context = connection->Context(/*deadline=*/!follow);
  std::optional<common::StopSignalScope> signals;
  std::atomic<bool> done{false};
  std::thread canceller;
  if (follow) {
    g_tail_stop.store(false);
    signals.emplace(&OnRemoteTailStopSignal);
    // A signal handler cannot call into gRPC: this thread turns the flag into a cancellation.
    canceller = std::thread([&] {
      while (!done.load()) {
        if (g_tail_stop.load()) {
          context->TryCancel();
          return;
        }
        absl::SleepFor(absl::Milliseconds(50));
      }
    });
  }
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
      connection->stub->TailEvents(context.get(), request);
  uint64_t printed = 0;
  v1::Event event;
  absl::Status print_status;
  while (printed < max_events && reader->Read(&event)) {
    print_status = server::PrintLogEvent(event, json, out);
    if (!print_status.ok()) {
      break;
    }
    ++printed;
    if (follow) {
      out.flush();
    }
  }
  const bool stopped = g_tail_stop.load();
  if (printed >= max_events || !print_status.ok()) {
    context->TryCancel();
  }
  const grpc::Status status = reader->Finish();
  done.store(true);
  if (canceller.joinable()) {
    canceller.join();
  }
  if (!print_status.ok()) {
    return Fail(err, "log tail", print_status);
  }
  if (!status.ok() && !(status.error_code() == grpc::StatusCode::CANCELLED &&
                        (stopped || g_tail_stop.load() || printed >= max_events))) {
    return RpcFailure(err, "log tail", connection->server, status);
  }
  return kExitOk;
}

}  // namespace

namespace {

// `aiops incident rearm ISSUE`: the Rearm call of the operator's gRPC API.
int Rearm(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  const std::string_view command = "incident rearm";
  const std::vector<std::string_view> value_flags = With({"reason", "by"}, kConnectionFlags);
  std::vector<std::string_view> positional;
  std::vector<std::string_view> flag_args;
  SplitArgs(args, value_flags, positional, flag_args);
  absl::StatusOr<ParsedFlags> flags =
      server::ParseFlagArgs(flag_args, value_flags, {"tls", "json"});
  if (!flags.ok()) {
    return Usage(err, command, flags.status().message(), kIncidentUsage);
  }
  if (flags->help) {
    out << kIncidentUsage;
    return kExitOk;
  }
  if (positional.size() != 1) {
    return Usage(err, command,
                 positional.empty()
                     ? "which issue? (give its name, e.g. from `aiops incident list`)"
                     : fmt::format("unexpected argument '{}'", positional[1]),
                 kIncidentUsage);
  }
  const std::string by = PersonFromFlagOrUser(*flags, "by");
  if (by.empty()) {
    return Usage(err, command, "who re-arms it? give --by NAME ($USER is not set)", kIncidentUsage);
  }
  absl::StatusOr<Connection> connection = Connect(*flags);
  if (!connection.ok()) {
    return Fail(err, command, connection.status());
  }
  v1::RearmRequest request;
  request.set_issue_name(std::string(positional[0]));
  request.set_by(by);
  request.set_reason(flags->Get("reason"));
  v1::RearmResponse response;
  const auto context = connection->Context();
  const grpc::Status status = connection->stub->Rearm(context.get(), request, &response);
  if (!status.ok()) {
    return RpcFailure(err, command, connection->server, status);
  }
  if (flags->Has("json")) {
    out << ToJson(response) << '\n';
  } else {
    out << fmt::format(
        "re-armed issue {} as {} (event #{}); the next anomaly on its resource opens a new "
        "issue\n",
        response.issue_name(), by, response.sequence());
  }
  return kExitOk;
}

}  // namespace

int RunIncidentCommand(std::span<const std::string_view> args, std::ostream& out,
                       std::ostream& err) {
  if (args.empty()) {
    err << kIncidentUsage;
    return kExitUsage;
  }
  const std::string_view sub = args.front();
  if (sub == "-h" || sub == "--help" || sub == "help") {
    out << kIncidentUsage;
    return kExitOk;
  }
  if (sub == "rearm") {
    return Rearm(args.subspan(1), out, err);
  }
  if (sub != "list" && sub != "show") {
    return Usage(err, "incident", fmt::format("unknown subcommand '{}'", sub), kIncidentUsage);
  }
  const std::string command = fmt::format("incident {}", sub);
  std::vector<std::string_view> value_flags = With({"data-dir"}, kConnectionFlags);
  if (sub == "list") {
    value_flags.push_back("state");
    value_flags.push_back("namespace");
  }
  std::vector<std::string_view> positional;
  std::vector<std::string_view> flag_args;
  SplitArgs(args.subspan(1), value_flags, positional, flag_args);
  absl::StatusOr<ParsedFlags> flags =
      server::ParseFlagArgs(flag_args, value_flags, {"json", "tls"});
  if (!flags.ok()) {
    return Usage(err, command, flags.status().message(), kIncidentUsage);
  }
  if (flags->help) {
    out << kIncidentUsage;
    return kExitOk;
  }
  if (flags->Has("data-dir") && (flags->Has("server") || flags->Has("token-file"))) {
    return Usage(err, command, "--data-dir reads the log directly: it excludes --server",
                 kIncidentUsage);
  }
  if (sub == "list") {
    if (!positional.empty()) {
      return Usage(err, command, fmt::format("unexpected argument '{}'", positional[0]),
                   kIncidentUsage);
    }
    return IncidentList(*flags, out, err);
  }
  if (positional.size() != 1) {
    return Usage(err, command,
                 positional.empty() ? "which incident? (an issue name or incident id)"
                                    : fmt::format("unexpected argument '{}'", positional[1]),
                 kIncidentUsage);
  }
  return IncidentShow(std::string(positional[0]), *flags, out, err);
}

int RunApproveCommand(std::span<const std::string_view> args, std::ostream& out,
                      std::ostream& err) {
  return Decide(/*approve=*/true, args, out, err);
}

int RunRejectCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  return Decide(/*approve=*/false, args, out, err);
}

int RunLogCommandOrRemoteTail(std::span<const std::string_view> args, std::ostream& out,
                              std::ostream& err) {
  if (!args.empty() && args.front() == "tail") {
    const bool remote = std::any_of(args.begin() + 1, args.end(), [](std::string_view a) {
      return a == "--server" || a.substr(0, 9) == "--server=";
    });
    if (remote) {
      return RemoteTail(args.subspan(1), out, err);
    }
  }
  return server::RunLogCommand(args, out, err);
}

void RequestRemoteTailStop() { g_tail_stop.store(true); }

}  // namespace aiops::api
