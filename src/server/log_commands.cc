#include "server/log_commands.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <absl/time/clock.h>
#include <absl/time/time.h>
#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "common/fmt_absl.h"
#include "common/sha256.h"
#include "common/stop_signal.h"
#include "eventlog/event_log.h"
#include "eventlog/export_file.h"
#include "eventlog/record.h"
#include "eventlog/rocks_event_log.h"
#include "k8s_sync/mirror.h"
#include "projections/pipeline_state.h"
#include "server/cli.h"
#include "server/runner.h"
#include <stdlib.h>

namespace aiops::server {
namespace {

namespace fs = std::filesystem;
using eventlog::RocksEventLog;
using eventlog::RocksLogOptions;
using Mode = RocksLogOptions::Mode;
using OpenCheck = RocksLogOptions::OpenCheck;

constexpr size_t kDefaultTailCount = 20;
constexpr size_t kReadChunk = 1024;
constexpr size_t kSummaryMax = 120;
constexpr size_t kSummaryStringMax = 60;
constexpr absl::Duration kFollowPoll = absl::Milliseconds(200);

std::atomic<bool> g_follow_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);  // set from a signal handler

extern "C" void OnFollowStopSignal(int /*signal*/) { g_follow_stop.store(true); }

constexpr std::string_view kUsage =
    "usage: aiops log <subcommand> --dir DIR [options]\n"
    "\n"
    "subcommands:\n"
    "  verify   check every record's checksum, the sequence density and the hash chain\n"
    "           from the log's anchor; exits 1 naming the first bad sequence\n"
    "  show     print events: [--from N] [--limit N] [--incident ID]\n"
    "  tail     print the last events (20 unless --limit N, or from --from N); --follow keeps\n"
    "           printing new events as the operator appends them, until interrupted\n"
    "  export   write events to a verified export file: --out FILE [--from N] [--to N]\n"
    "           [--prune] (--prune then deletes the exported history from the log)\n"
    "  import   verify an export file, then append it to the log (creating the log): --in FILE\n"
    "  salvage  examine a log whose open is refused as damaged: where the damage is and how far\n"
    "           the history is intact (changes nothing); with --truncate, keep a copy of the\n"
    "           folder aside (DIR.damaged-<time>), cut the log after its last intact record (or\n"
    "           rebuild a missing CURRENT/MANIFEST from its files) and record the cut as a\n"
    "           LogSalvaged event. Stop the operator first.\n"
    "           example: aiops log salvage --dir /var/lib/chatcli-aiops/log --truncate\n"
    "\n"
    "options:\n"
    "  --dir DIR   the event log's RocksDB folder (required)\n"
    "  --json      machine-readable output: one JSON object per line\n"
    "  -h, --help  show this help\n";

// --- Command line ------------------------------------------------------------------------------

struct Flags {
  std::string dir;
  bool json = false;
  std::optional<uint64_t> from;
  std::optional<uint64_t> to;
  std::optional<uint64_t> limit;
  std::optional<std::string> incident;
  std::string out_path;
  std::string in_path;
  bool follow = false;
  bool prune = false;
  bool truncate = false;
  bool help = false;
};

struct Subcommand {
  std::string_view name;
  // Flags accepted besides --dir and --json.
  std::vector<std::string_view> value_flags;
  std::vector<std::string_view> bool_flags;
};

bool Contains(const std::vector<std::string_view>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Parses `args` into `flags`; on a usage error returns its message.
std::optional<std::string> ParseFlags(const Subcommand& sub, std::span<const std::string_view> args,
                                      Flags& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      flags.help = true;
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return fmt::format("unexpected argument '{}'", arg);
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> inline_value;
    if (const size_t eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const bool is_value = name == "dir" || Contains(sub.value_flags, name);
    const bool is_bool = name == "json" || Contains(sub.bool_flags, name);
    if (!is_value && !is_bool) {
      return fmt::format("unknown flag '--{}' (see `aiops log --help`)", name);
    }
    if (is_bool) {
      if (inline_value.has_value()) {
        return fmt::format("flag '--{}' takes no value", name);
      }
      if (name == "json") {
        flags.json = true;
      } else if (name == "follow") {
        flags.follow = true;
      } else if (name == "prune") {
        flags.prune = true;
      } else if (name == "truncate") {
        flags.truncate = true;
      }
      continue;
    }
    std::string_view value;
    if (inline_value.has_value()) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return fmt::format("flag '--{}' needs a value", name);
    }
    if (value.empty()) {
      return fmt::format("flag '--{}' needs a non-empty value", name);
    }
    if (name == "from" || name == "to" || name == "limit") {
      uint64_t number = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return fmt::format("invalid value '{}' for '--{}' (expected a non-negative integer)", value,
                           name);
      }
      if (number == 0) {
        return fmt::format("invalid value '{}' for '--{}' (must be at least 1)", value, name);
      }
      (name == "from" ? flags.from : name == "to" ? flags.to : flags.limit) = number;
    } else if (name == "dir") {
      flags.dir = std::string(value);
    } else if (name == "incident") {
      flags.incident = std::string(value);
    } else if (name == "out") {
      flags.out_path = std::string(value);
    } else if (name == "in") {
      flags.in_path = std::string(value);
    }
  }
  return std::nullopt;
}

int Fail(std::ostream& err, std::string_view sub, const absl::Status& status) {
  err << fmt::format("aiops log {}: {}\n", sub, status.message());
  return kExitFailure;
}

int Usage(std::ostream& err, std::string_view sub, const std::string& message) {
  err << fmt::format("aiops log {}: {}\n", sub, message);
  return kExitUsage;
}

absl::StatusOr<std::unique_ptr<RocksEventLog>> OpenLog(const std::string& dir, Mode mode,
                                                       OpenCheck check,
                                                       const std::string& secondary_path = "") {
  RocksLogOptions options;
  options.path = dir;
  options.mode = mode;
  options.open_check = check;
  options.secondary_path = secondary_path;
  return RocksEventLog::Open(options);
}

// --- Event formatting --------------------------------------------------------------------------

std::string FormatLogicalTime(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

std::string ShortString(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (out.size() >= kSummaryStringMax) {
      out += "...";
      break;
    }
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  return out.find(' ') == std::string::npos && !out.empty() ? out : fmt::format("\"{}\"", out);
}

// `name=value` for the set scalar fields of a payload, in declaration order: enough to tell
// events apart in a listing (the JSON form has everything).
std::string Summarize(const v1::Event& event) {
  using google::protobuf::FieldDescriptor;
  const FieldDescriptor* payload_field =
      v1::Event::descriptor()->FindFieldByNumber(event.payload_case());
  if (payload_field == nullptr) {
    return "";
  }
  const google::protobuf::Message& payload =
      event.GetReflection()->GetMessage(event, payload_field);
  const google::protobuf::Reflection* reflection = payload.GetReflection();
  const google::protobuf::Descriptor* descriptor = payload.GetDescriptor();
  std::vector<std::string> parts;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string& name = field->name();
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(payload, field);
      if (size > 0) {
        parts.push_back(fmt::format("{}=[{}]", name, size));
      }
      continue;
    }
    if (!reflection->HasField(payload, field)) {
      continue;
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (field->type() != FieldDescriptor::TYPE_BYTES) {
          parts.push_back(
              fmt::format("{}={}", name, ShortString(reflection->GetString(payload, field))));
        }
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        parts.push_back(fmt::format("{}={}", name, reflection->GetInt32(payload, field)));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        parts.push_back(fmt::format("{}={}", name, reflection->GetInt64(payload, field)));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        parts.push_back(fmt::format("{}={}", name, reflection->GetUInt32(payload, field)));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        parts.push_back(fmt::format("{}={}", name, reflection->GetUInt64(payload, field)));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        parts.push_back(fmt::format("{}={}", name, reflection->GetFloat(payload, field)));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        parts.push_back(fmt::format("{}={}", name, reflection->GetDouble(payload, field)));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        parts.push_back(name);  // set means true
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        parts.push_back(fmt::format("{}={}", name, reflection->GetEnum(payload, field)->name()));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (field->message_type() == v1::ResourceRef::descriptor()) {
          const auto& ref =
              static_cast<const v1::ResourceRef&>(reflection->GetMessage(payload, field));
          parts.push_back(
              fmt::format("{}={}/{}/{}", name, ref.kind(), ref.namespace_(), ref.name()));
        }
        break;
    }
  }
  std::string summary;
  for (const std::string& part : parts) {
    if (!summary.empty()) {
      summary.push_back(' ');
    }
    summary += part;
    if (summary.size() > kSummaryMax) {
      summary.resize(kSummaryMax);
      summary += "...";
      break;
    }
  }
  return summary;
}

absl::Status PrintEvent(const v1::Event& event, bool json, std::ostream& out) {
  if (json) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = false;
    options.always_print_primitive_fields = false;
    options.preserve_proto_field_names = true;
    std::string line;
    const auto status = google::protobuf::util::MessageToJsonString(event, &line, options);
    if (!status.ok()) {
      return absl::InternalError(
          fmt::format("event {}: cannot print as JSON: {}", event.sequence(), status.ToString()));
    }
    out << line << '\n';
    return absl::OkStatus();
  }
  out << fmt::format("{:>8}  {}  {:<22}  {:<20}  {:>8}  {}\n", event.sequence(),
                     FormatLogicalTime(event.logical_time_ms()), eventlog::PayloadName(event),
                     event.incident_id().empty() ? std::string("-") : event.incident_id(),
                     event.causation_sequence() == 0 ? std::string("-")
                                                     : std::to_string(event.causation_sequence()),
                     Summarize(event));
  return absl::OkStatus();
}

// Prints events from `from` up to `to` (inclusive) or `limit` events, whichever comes first;
// returns the next sequence to print.
absl::StatusOr<uint64_t> PrintRange(const eventlog::EventLog& log, uint64_t from, uint64_t to,
                                    uint64_t limit, bool json, std::ostream& out) {
  uint64_t printed = 0;
  uint64_t next = from;
  while (next <= to && printed < limit) {
    const uint64_t want = std::min<uint64_t>({kReadChunk, to - next + 1, limit - printed});
    absl::StatusOr<std::vector<v1::Event>> events = log.Read(next, want);
    if (!events.ok()) {
      return events.status();
    }
    if (events->empty()) {
      break;
    }
    for (const v1::Event& event : *events) {
      if (absl::Status s = PrintEvent(event, json, out); !s.ok()) {
        return s;
      }
    }
    printed += events->size();
    next = events->back().sequence() + 1;
  }
  return next;
}

// --- Subcommands -------------------------------------------------------------------------------

int RunVerify(const Flags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::unique_ptr<RocksEventLog>> log =
      OpenLog(flags.dir, Mode::kReadOnly, OpenCheck::kEndsOnly);
  if (!log.ok() && log.status().code() == absl::StatusCode::kDataLoss) {
    // The ends-only open checks the last record's frame but does not say which record failed;
    // a scan of every frame names the first bad sequence.
    absl::StatusOr<std::unique_ptr<RocksEventLog>> scanned =
        OpenLog(flags.dir, Mode::kReadOnly, OpenCheck::kFrames);
    if (!scanned.ok()) {
      log = scanned.status();
    }
  }
  absl::StatusOr<eventlog::VerifyReport> report =
      log.ok() ? eventlog::VerifyLog(**log) : absl::StatusOr<eventlog::VerifyReport>(log.status());
  if (!report.ok()) {
    if (flags.json) {
      out << nlohmann::json{{"ok", false},
                            {"dir", flags.dir},
                            {"error", std::string(report.status().message())}}
                 .dump()
          << '\n';
    }
    return Fail(err, "verify", report.status());
  }
  if (flags.json) {
    out << nlohmann::json{{"ok", true},
                          {"dir", flags.dir},
                          {"records", report->records},
                          {"first_sequence", report->first_sequence},
                          {"last_sequence", report->last_sequence},
                          {"last_hash", report->last_hash_hex}}
               .dump()
        << '\n';
    return kExitOk;
  }
  if (report->records == 0) {
    out << fmt::format("ok: {}: the log is empty (it starts at sequence {})\n", flags.dir,
                       report->first_sequence);
  } else {
    out << fmt::format("ok: {}: {} records verified, sequences {}..{}{}\n", flags.dir,
                       report->records, report->first_sequence, report->last_sequence,
                       report->first_sequence > 1 ? " (from the anchor kept by a prune)" : "");
  }
  out << fmt::format("last hash: {}\n",
                     report->last_hash_hex.empty() ? std::string("(none)") : report->last_hash_hex);
  return kExitOk;
}

int RunShow(const Flags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::unique_ptr<RocksEventLog>> log =
      OpenLog(flags.dir, Mode::kReadOnly, OpenCheck::kEndsOnly);
  if (!log.ok()) {
    return Fail(err, "show", log.status());
  }
  const uint64_t first = (*log)->FirstSequence();
  const uint64_t last = (*log)->LastSequence();
  const uint64_t limit = flags.limit.value_or(UINT64_MAX);
  if (flags.incident.has_value()) {
    absl::StatusOr<std::vector<uint64_t>> sequences = (*log)->IncidentSequences(*flags.incident);
    if (!sequences.ok()) {
      return Fail(err, "show", sequences.status());
    }
    uint64_t printed = 0;
    for (const uint64_t sequence : *sequences) {
      if (printed >= limit) {
        break;
      }
      if (sequence < flags.from.value_or(0) || sequence < first || sequence > last) {
        continue;
      }
      absl::StatusOr<uint64_t> next = PrintRange(**log, sequence, sequence, 1, flags.json, out);
      if (!next.ok()) {
        return Fail(err, "show", next.status());
      }
      ++printed;
    }
    return kExitOk;
  }
  uint64_t from = flags.from.value_or(first);
  if (from < first) {
    err << fmt::format("aiops log show: note: sequences before {} were pruned; showing from {}\n",
                       first, first);
    from = first;
  }
  absl::StatusOr<uint64_t> next = PrintRange(**log, from, last, limit, flags.json, out);
  return next.ok() ? kExitOk : Fail(err, "show", next.status());
}

// A private folder for a secondary instance's files, removed on return.
class TempFolder {
 public:
  absl::Status Create() {
    std::error_code ec;
    std::string pattern = (fs::temp_directory_path(ec) / "aiops-log-tail-XXXXXX").string();
    if (ec) {
      pattern = "/tmp/aiops-log-tail-XXXXXX";
    }
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::UnavailableError(fmt::format("cannot create a temporary folder {}: {}", pattern,
                                                std::generic_category().message(errno)));
    }
    path_ = pattern;
    return absl::OkStatus();
  }
  ~TempFolder() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);  // why: best effort; a leftover folder in /tmp is harmless
    }
  }
  TempFolder() = default;
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int RunTail(const Flags& flags, std::ostream& out, std::ostream& err) {
  TempFolder secondary;  // destroyed after the log below
  if (flags.follow) {
    if (absl::Status s = secondary.Create(); !s.ok()) {
      return Fail(err, "tail", s);
    }
  }
  absl::StatusOr<std::unique_ptr<RocksEventLog>> log =
      flags.follow ? OpenLog(flags.dir, Mode::kSecondary, OpenCheck::kEndsOnly, secondary.path())
                   : OpenLog(flags.dir, Mode::kReadOnly, OpenCheck::kEndsOnly);
  if (!log.ok()) {
    return Fail(err, "tail", log.status());
  }
  const uint64_t first = (*log)->FirstSequence();
  const uint64_t last = (*log)->LastSequence();
  uint64_t from = first;
  uint64_t limit = UINT64_MAX;
  if (flags.from.has_value()) {
    from = std::max(*flags.from, first);
    limit = flags.limit.value_or(UINT64_MAX);
  } else {
    const uint64_t count = flags.limit.value_or(kDefaultTailCount);
    from = last >= first && last - first + 1 > count ? last - count + 1 : first;
  }
  absl::StatusOr<uint64_t> next = PrintRange(**log, from, last, limit, flags.json, out);
  if (!next.ok()) {
    return Fail(err, "tail", next.status());
  }
  if (!flags.follow) {
    return kExitOk;
  }
  out.flush();
  g_follow_stop.store(false);
  const common::StopSignalScope signals(&OnFollowStopSignal);
  eventlog::Subscription subscription(**log, std::max(*next, last + 1));
  while (!g_follow_stop.load() && out.good()) {
    absl::StatusOr<std::vector<v1::Event>> events = subscription.Next(kReadChunk, kFollowPoll);
    if (!events.ok()) {
      return Fail(err, "tail", events.status());
    }
    for (const v1::Event& event : *events) {
      if (absl::Status s = PrintEvent(event, flags.json, out); !s.ok()) {
        return Fail(err, "tail", s);
      }
    }
    if (!events->empty()) {
      out.flush();
    }
  }
  return kExitOk;
}

nlohmann::json SummaryJson(const eventlog::ExportSummary& summary) {
  return nlohmann::json{{"file", summary.path},
                        {"count", summary.count},
                        {"first_sequence", summary.first_sequence},
                        {"last_sequence", summary.last_sequence},
                        {"bytes", summary.bytes},
                        {"cluster_id", summary.cluster_id},
                        {"anchor_prev_hash", common::BytesToHex(summary.anchor.prev_hash)},
                        {"last_hash", summary.last_hash_hex}};
}

int RunExport(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.out_path.empty()) {
    return Usage(err, "export", "flag '--out' is required");
  }
  if (flags.from.has_value() && flags.to.has_value() && *flags.to + 1 < *flags.from) {
    return Usage(err, "export",
                 fmt::format("flag '--to' ({}) is before '--from' ({})", *flags.to, *flags.from));
  }
  absl::StatusOr<std::unique_ptr<RocksEventLog>> log =
      flags.prune ? OpenLog(flags.dir, Mode::kReadWrite, OpenCheck::kFrames)
                  : OpenLog(flags.dir, Mode::kReadOnly, OpenCheck::kEndsOnly);
  if (!log.ok()) {
    return Fail(err, "export", log.status());
  }
  if (flags.prune && flags.from.has_value() && *flags.from != (*log)->FirstSequence()) {
    return Fail(err, "export",
                absl::FailedPreconditionError(fmt::format(
                    "--prune deletes every record before --to, so the export must start at the "
                    "log's first sequence {} (not --from {})",
                    (*log)->FirstSequence(), *flags.from)));
  }
  absl::StatusOr<eventlog::ExportSummary> summary =
      eventlog::ExportLog(**log, flags.from.value_or(eventlog::kExportFromFirst),
                          flags.to.value_or(eventlog::kExportToLast), flags.out_path);
  if (!summary.ok()) {
    return Fail(err, "export", summary.status());
  }
  bool pruned = false;
  uint64_t snapshot_sequence = 0;  // of the state snapshot a restart starts from, once pruned
  if (flags.prune && summary->count > 0) {
    // History is deleted only once the file on disk has been read back and verified.
    absl::StatusOr<eventlog::ExportContents> check = eventlog::ReadExportFile(flags.out_path);
    if (!check.ok()) {
      return Fail(err, "export",
                  absl::DataLossError(fmt::format("not pruning: the export does not verify: {}",
                                                  check.status().message())));
    }
    if (check->records.size() != summary->count || check->last_hash_hex != summary->last_hash_hex) {
      return Fail(
          err, "export",
          absl::DataLossError("not pruning: the export file differs from what was written"));
    }
    // The CR mirror writes an Anomaly object from its event's detail, which the state does not
    // keep: history it has not handled yet is not pruned (a cursor of 0: no mirror ran).
    absl::StatusOr<uint64_t> mirrored = (*log)->GetCursor(k8s_sync::kMirrorFollower);
    if (!mirrored.ok()) {
      return Fail(err, "export", mirrored.status());
    }
    if (*mirrored > 0 && *mirrored < summary->last_sequence) {
      return Fail(err, "export",
                  absl::FailedPreconditionError(fmt::format(
                      "not pruning: the CR mirror has handled the log up to sequence {} only, and "
                      "the Anomaly objects of later events are written from their detail; prune "
                      "with --to {} or less, or after the operator has caught up",
                      *mirrored, *mirrored)));
    }
    // The operator restarts from the state's snapshot plus the log's tail: with the history
    // gone, the snapshot must cover it (kept unless one at or after the last pruned exists).
    absl::StatusOr<uint64_t> kept = Runner::KeepStateBeforePrune(
        **log, projections::kPipelineSnapshotName, summary->last_sequence);
    if (!kept.ok()) {
      return Fail(err, "export",
                  absl::Status(kept.status().code(),
                               fmt::format("not pruning: {}", kept.status().message())));
    }
    snapshot_sequence = *kept;
    if (absl::Status s = (*log)->Prune(summary->last_sequence + 1); !s.ok()) {
      return Fail(err, "export", s);
    }
    pruned = true;
  }
  if (flags.json) {
    nlohmann::json json = SummaryJson(*summary);
    json["ok"] = true;
    json["pruned"] = pruned;
    if (pruned) {
      json["snapshot_sequence"] = snapshot_sequence;
    }
    json["log_first_sequence"] = (*log)->FirstSequence();
    out << json.dump() << '\n';
    return kExitOk;
  }
  out << fmt::format("exported {} events (sequences {}..{}) to {}, {} bytes\n", summary->count,
                     summary->first_sequence, summary->last_sequence, summary->path,
                     summary->bytes);
  out << fmt::format("last hash: {}\n", summary->last_hash_hex.empty() ? std::string("(none)")
                                                                       : summary->last_hash_hex);
  if (pruned) {
    out << fmt::format("pruned: the log now starts at sequence {}\n", (*log)->FirstSequence());
    out << fmt::format(
        "state: a restart starts from the pipeline state's snapshot at sequence {}\n",
        snapshot_sequence);
  }
  return kExitOk;
}

int RunImport(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.in_path.empty()) {
    return Usage(err, "import", "flag '--in' is required");
  }
  // Verify before creating or opening anything: a bad file leaves no trace.
  absl::StatusOr<eventlog::ExportContents> contents = eventlog::ReadExportFile(flags.in_path);
  if (!contents.ok()) {
    return Fail(err, "import", contents.status());
  }
  absl::StatusOr<std::unique_ptr<RocksEventLog>> log =
      OpenLog(flags.dir, Mode::kReadWrite, OpenCheck::kFrames);
  if (!log.ok()) {
    return Fail(err, "import", log.status());
  }
  const uint64_t count = contents->records.size();
  const uint64_t first = contents->header.anchor.first_sequence;
  if (absl::Status s = eventlog::ImportContents(*std::move(contents), **log); !s.ok()) {
    return Fail(
        err, "import",
        absl::Status(s.code(), fmt::format("importing {}: {}", flags.in_path, s.message())));
  }
  if (flags.json) {
    out << nlohmann::json{{"ok", true},
                          {"file", flags.in_path},
                          {"count", count},
                          {"first_sequence", first},
                          {"last_sequence", first + count - 1},
                          {"log_first_sequence", (*log)->FirstSequence()},
                          {"log_last_sequence", (*log)->LastSequence()}}
               .dump()
        << '\n';
    return kExitOk;
  }
  if (count == 0) {
    out << fmt::format("{} holds no events: nothing imported\n", flags.in_path);
  } else {
    out << fmt::format("imported {} events (sequences {}..{}) into {}; the log now holds {}..{}\n",
                       count, first, first + count - 1, flags.dir, (*log)->FirstSequence(),
                       (*log)->LastSequence());
  }
  return kExitOk;
}

int RunSalvage(const Flags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<eventlog::SalvageReport> report =
      eventlog::SalvageLog(flags.dir, flags.truncate, absl::Now());
  if (!report.ok()) {
    return Fail(err, "salvage", report.status());
  }
  const eventlog::SalvageReport& r = *report;
  if (flags.json) {
    out << nlohmann::json{{"damaged", r.damaged},
                          {"dir", flags.dir},
                          {"damage", r.damage},
                          {"last_intact_sequence", r.last_intact_sequence},
                          {"lost", r.lost},
                          {"truncated", flags.truncate && r.damaged},
                          {"damaged_copy", r.damaged_copy},
                          {"salvaged_sequence", r.salvaged_sequence}}
               .dump()
        << '\n';
  } else if (!r.damaged) {
    out << fmt::format("ok: {}: the log opens as it is; nothing to salvage\n", flags.dir);
  } else if (!flags.truncate) {
    out << fmt::format(
        "damaged: {}: {}\nintact: sequences up to {}\nwould lose: {}\nnothing was changed; "
        "`aiops log salvage --dir {} --truncate` keeps a copy of the folder aside, cuts the log "
        "there and records the cut\n",
        flags.dir, r.damage, r.last_intact_sequence, r.lost, flags.dir);
  } else {
    out << fmt::format(
        "salvaged: {}: {}\nkept: sequences up to {}; lost: {}\nthe cut is recorded as event {} "
        "(LogSalvaged); the folder as it was is in {}\n",
        flags.dir, r.damage, r.last_intact_sequence, r.lost, r.salvaged_sequence, r.damaged_copy);
  }
  // A damaged log that was only examined is still damaged: not a success for scripts.
  return r.damaged && !flags.truncate ? kExitFailure : kExitOk;
}

}  // namespace

void RequestLogFollowStop() { g_follow_stop.store(true); }

absl::Status PrintLogEvent(const v1::Event& event, bool json, std::ostream& out) {
  return PrintEvent(event, json, out);
}

int RunLogCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  static const Subcommand kSubcommands[] = {
      {"verify", {}, {}},
      {"show", {"from", "limit", "incident"}, {}},
      {"tail", {"from", "limit"}, {"follow"}},
      {"export", {"out", "from", "to"}, {"prune"}},
      {"import", {"in"}, {}},
      {"salvage", {}, {"truncate"}},
  };
  if (args.empty()) {
    err << kUsage;
    return kExitUsage;
  }
  const std::string_view name = args.front();
  if (name == "-h" || name == "--help" || name == "help") {
    out << kUsage;
    return kExitOk;
  }
  const Subcommand* sub = nullptr;
  for (const Subcommand& candidate : kSubcommands) {
    if (candidate.name == name) {
      sub = &candidate;
    }
  }
  if (sub == nullptr) {
    err << fmt::format("aiops log: unknown subcommand '{}' (see `aiops log --help`)\n", name);
    return kExitUsage;
  }
  Flags flags;
  if (std::optional<std::string> error = ParseFlags(*sub, args.subspan(1), flags)) {
    return Usage(err, name, *error);
  }
  if (flags.help) {
    out << kUsage;
    return kExitOk;
  }
  if (flags.dir.empty()) {
    return Usage(err, name, "flag '--dir' is required");
  }
  if (name == "verify") {
    return RunVerify(flags, out, err);
  }
  if (name == "show") {
    return RunShow(flags, out, err);
  }
  if (name == "tail") {
    return RunTail(flags, out, err);
  }
  if (name == "export") {
    return RunExport(flags, out, err);
  }
  if (name == "salvage") {
    return RunSalvage(flags, out, err);
  }
  return RunImport(flags, out, err);
}

}  // namespace aiops::server
