#include "server/replay_command.h"

#include <map>
#include <memory>
#include <optional>

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fmt_absl.h"
#include "eventlog/rocks_event_log.h"
#include "projections/pipeline_state.h"
#include "server/cli.h"
#include "server/daemon_config.h"
#include "server/flags.h"
#include "server/pipeline_config.h"
#include "stages/replay.h"

namespace aiops::server {
namespace {

constexpr char kUsage[] =
    "usage: aiops replay --dir DIR [--until SEQ] [--verify] [--what-if CONFIG.json] [--json]\n"
    "\n"
    "Rebuilds the pipeline state by folding the event log at DIR (opened read-only).\n"
    "  --until SEQ          stop after sequence SEQ (the state as of then)\n"
    "  --verify             re-decide every input with this binary and report the first\n"
    "                       decision that differs from the one on record\n"
    "  --what-if FILE       run the recorded inputs under the pipeline config in FILE and list\n"
    "                       the inputs decided differently. FILE is the daemon's config file\n"
    "                       (its \"pipeline\" object is used) or a pipeline config alone (JSON,\n"
    "                       overlaid on the defaults); the cluster id stays the recorded one\n"
    "  --json               one JSON object as output\n";

constexpr uint64_t kProgressEvery = 100'000;
constexpr size_t kMaxWhatIfShown = 20;

std::map<std::string, int> CountStates(const projections::PipelineState& state, bool plans) {
  std::map<std::string, int> counts;
  if (plans) {
    for (const auto& [name, plan] : state.plans) {
      ++counts[plan.state()];
    }
  } else {
    for (const auto& [name, issue] : state.issues) {
      ++counts[issue.state()];
    }
  }
  return counts;
}

std::string Counts(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [state, n] : counts) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", state, n);
  }
  return out.empty() ? "none" : out;
}

// The pipeline configuration of a --what-if FILE: the daemon's own config file (recognised by
// its keys) or a pipeline configuration alone.
absl::StatusOr<v1::PipelineConfig> LoadWhatIfConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "the --what-if file");
  if (!text.ok()) {
    return text.status();
  }
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  static constexpr std::string_view kDaemonOnlyKeys[] = {"pipeline",
                                                         "dataDir",
                                                         "grpcListen",
                                                         "httpListen",
                                                         "authTokenFile",
                                                         "tlsCertFile",
                                                         "tlsKeyFile",
                                                         "kubeconfig",
                                                         "logLevel",
                                                         "leaderElection",
                                                         "watcher",
                                                         "analyzer",
                                                         "chatcliBridge",
                                                         "kubeClient",
                                                         "reconcileInstances",
                                                         "mirrorRetentionSeconds"};
  bool daemon = false;
  if (j.is_object()) {
    for (std::string_view key : kDaemonOnlyKeys) {
      daemon = daemon || j.contains(key);
    }
  }
  if (!daemon) {
    return LoadPipelineConfigText(path, *text);
  }
  absl::StatusOr<DaemonConfig> config = LoadDaemonConfigText(path, *text);
  if (!config.ok()) {
    return config.status();
  }
  return config->pipeline;
}

}  // namespace

int RunReplayCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<ParsedFlags> flags =
      ParseFlagArgs(args, {"dir", "until", "what-if"}, {"verify", "json"});
  if (!flags.ok()) {
    err << fmt::format("aiops replay: {}\n{}", flags.status().message(), kUsage);
    return kExitUsage;
  }
  if (flags->help) {
    out << kUsage;
    return kExitOk;
  }
  absl::StatusOr<std::optional<uint64_t>> until = flags->GetUint("until");
  if (!flags->Has("dir") || !until.ok() || (flags->Has("verify") && flags->Has("what-if"))) {
    err << fmt::format("aiops replay: {}\n{}",
                       !until.ok() ? std::string(until.status().message())
                       : !flags->Has("dir")
                           ? std::string("--dir is required")
                           : std::string("--verify and --what-if exclude each other"),
                       kUsage);
    return kExitUsage;
  }
  std::optional<v1::PipelineConfig> what_if;
  if (flags->Has("what-if")) {
    absl::StatusOr<v1::PipelineConfig> config = LoadWhatIfConfig(flags->Get("what-if"));
    if (!config.ok()) {
      err << fmt::format("aiops replay: {}\n", config.status().message());
      return kExitFailure;
    }
    what_if = *config;
  }
  eventlog::RocksLogOptions options;
  options.path = flags->Get("dir");
  options.mode = eventlog::RocksLogOptions::Mode::kReadOnly;
  options.open_check = eventlog::RocksLogOptions::OpenCheck::kEndsOnly;
  absl::StatusOr<std::unique_ptr<eventlog::RocksEventLog>> log =
      eventlog::RocksEventLog::Open(options);
  if (!log.ok()) {
    err << fmt::format("aiops replay: {}\n", log.status().message());
    return kExitFailure;
  }
  const stages::Replayer::Mode mode = flags->Has("verify")  ? stages::Replayer::Mode::kVerify
                                      : what_if.has_value() ? stages::Replayer::Mode::kWhatIf
                                                            : stages::Replayer::Mode::kFold;
  const v1::PipelineConfig* config = what_if.has_value() ? &*what_if : nullptr;
  const uint64_t last = until->value_or((*log)->LastSequence());
  uint64_t from = (*log)->FirstSequence();
  std::optional<stages::Replayer> replayer;
  if (from > 1) {
    // A pruned log: the fold starts from the pipeline state's snapshot that covers the pruned
    // history (`log export --prune` keeps one); without one, the state cannot be rebuilt.
    absl::StatusOr<std::optional<eventlog::Snapshot>> snapshot = eventlog::SnapshotToFoldFrom(
        **log, projections::kPipelineSnapshotName, projections::kPipelineStateVersion, last);
    absl::StatusOr<projections::PipelineState> restored =
        absl::FailedPreconditionError("no snapshot of the pipeline state");
    if (!snapshot.ok()) {
      restored = snapshot.status();
    } else if (snapshot->has_value()) {
      restored = projections::DecodeSnapshot((*snapshot)->data);
    }
    if (!restored.ok()) {
      err << fmt::format(
          "aiops replay: the history before sequence {} was pruned and no usable snapshot of the "
          "pipeline state covers it up to sequence {}: {}\n",
          from, last, restored.status().message());
      return kExitFailure;
    }
    from = (*snapshot)->sequence + 1;
    err << fmt::format(
        "aiops replay: the log was pruned; starting from the state snapshot at "
        "sequence {}\n",
        from - 1);
    replayer.emplace(mode, *std::move(restored), config);
  } else {
    replayer.emplace(mode, config);
  }
  const uint64_t first_replayed = from;
  const absl::Time start = absl::Now();
  uint64_t next_progress = kProgressEvery;
  while (from <= last) {
    absl::StatusOr<std::vector<v1::Event>> events =
        (*log)->Read(from, static_cast<size_t>(std::min<uint64_t>(4096, last - from + 1)));
    if (!events.ok()) {
      err << fmt::format("aiops replay: {}\n", events.status().message());
      return kExitFailure;
    }
    if (events->empty()) {
      break;
    }
    for (const v1::Event& e : *events) {
      if (absl::Status s = replayer->Add(e); !s.ok()) {
        err << fmt::format("aiops replay: {}\n", s.message());
        return kExitFailure;
      }
    }
    from = events->back().sequence() + 1;
    if (replayer->events() >= next_progress) {
      err << fmt::format("aiops replay: {} events ({:.0f}%)\n", replayer->events(),
                         100.0 * static_cast<double>(from - first_replayed) /
                             static_cast<double>(last - first_replayed + 1));
      next_progress += kProgressEvery;
    }
  }
  replayer->Finish();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const projections::PipelineState& state = replayer->state();
  const auto& divergences = replayer->divergences();
  const bool diverged = mode == stages::Replayer::Mode::kVerify && !divergences.empty();

  if (flags->Has("json")) {
    nlohmann::json j = {{"events", replayer->events()},
                        {"inputs", replayer->inputs()},
                        {"lastSequence", state.last_sequence},
                        {"seconds", seconds},
                        {"issues", CountStates(state, false)},
                        {"plans", CountStates(state, true)},
                        {"stateDigest", projections::StateDigest(state)}};
    if (mode != stages::Replayer::Mode::kFold) {
      nlohmann::json list = nlohmann::json::array();
      for (const stages::Divergence& d : divergences) {
        list.push_back({{"inputSequence", d.input_sequence},
                        {"inputType", d.input_type},
                        {"recorded", d.recorded},
                        {"decided", d.decided},
                        {"detail", d.detail}});
      }
      j[mode == stages::Replayer::Mode::kVerify ? "divergence" : "differences"] = list;
    }
    out << j.dump() << "\n";
    return diverged ? kExitFailure : kExitOk;
  }
  out << fmt::format("replayed {} events ({} inputs) up to sequence {} in {:.2f} s\n",
                     replayer->events(), replayer->inputs(), state.last_sequence, seconds);
  out << fmt::format("issues: {} ({})\n", state.issues.size(), Counts(CountStates(state, false)));
  out << fmt::format("plans: {} ({})\n", state.plans.size(), Counts(CountStates(state, true)));
  out << fmt::format("state digest: {}\n", projections::StateDigest(state));
  if (mode == stages::Replayer::Mode::kVerify) {
    if (divergences.empty()) {
      out << fmt::format("verify: OK: all {} inputs re-decided identically\n", replayer->inputs());
    } else {
      const stages::Divergence& d = divergences.front();
      out << fmt::format("verify: DIVERGED at input {} ({})\n  {}\n", d.input_sequence,
                         d.input_type, d.detail);
    }
  } else if (mode == stages::Replayer::Mode::kWhatIf) {
    out << fmt::format("what-if: {} of {} inputs decided differently\n", divergences.size(),
                       replayer->inputs());
    for (size_t i = 0; i < divergences.size() && i < kMaxWhatIfShown; ++i) {
      const stages::Divergence& d = divergences[i];
      out << fmt::format("  input {} ({}): recorded [{}] -> what-if [{}]\n", d.input_sequence,
                         d.input_type, fmt::join(d.recorded, ", "), fmt::join(d.decided, ", "));
    }
  }
  return diverged ? kExitFailure : kExitOk;
}

}  // namespace aiops::server
