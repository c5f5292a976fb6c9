// The projected state of the whole pipeline and its fold (DESIGN.md §2, §4): Apply(state, event)
// changes the state from one event and emits nothing. Pure: no clock, randomness, I/O or
// hash-ordered iteration (std::map only); time is the events' logical time. Events that refer to
// unknown issues or plans change nothing (edges validate what they append; the fold never
// crashes on history). Thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>  // purity-ok: see `dedup`
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "aiops/v1/config.pb.h"
#include "aiops/v1/events.pb.h"
#include "aiops/v1/state.pb.h"
#include "common/sha256.h"
#include "projections/expiry_queue.h"
#include "projections/keyed_map.h"

namespace aiops::projections {

// Bump on ANY change to the fold logic or the state's shape: snapshots of another version are
// discarded and the state is rebuilt from the log.
inline constexpr uint32_t kPipelineStateVersion = 5;
// The name the runner stores the state's snapshot under in the log (the API's replay and the
// log commands read it, and `log export --prune` keeps one covering what it prunes).
inline constexpr char kPipelineSnapshotName[] = "pipeline";

inline constexpr char kDetected[] = "Detected";
inline constexpr char kAnalyzing[] = "Analyzing";
inline constexpr char kRemediating[] = "Remediating";
inline constexpr char kResolved[] = "Resolved";
inline constexpr char kEscalated[] = "Escalated";

inline constexpr char kPending[] = "Pending";
inline constexpr char kWaitingApproval[] = "WaitingApproval";
inline constexpr char kExecuting[] = "Executing";
inline constexpr char kVerifying[] = "Verifying";
inline constexpr char kCompleted[] = "Completed";
inline constexpr char kFailed[] = "Failed";
inline constexpr char kRolledBack[] = "RolledBack";

bool IsTerminalIssueState(std::string_view state);
bool IsTerminalPlanState(std::string_view state);
// Plans that may hold a remediation slot (count against the concurrency limits); with decision
// rules 1 a WaitingApproval plan holds none (stages::WaitReason).
bool IsActivePlanState(std::string_view state);

// A dedup key as the state holds it: the SHA-256 digest whose hex is the events' dedup_key (see
// DedupDigest), 32 bytes kept inline in the table, so a lookup compares them without following a
// pointer to a heap string (the storm profile's largest cost). A key that is not such hex (none
// is written by this binary) is held as the digest of its text, and its text kept in the slot.
using DedupId = common::Sha256Digest;
DedupId DedupIdOf(std::string_view dedup_key);
// The id's bytes are a digest, uniform already: the first eight are the hash. A fixed function,
// so the table's layout is the same on every run (it is still never iterated unsorted).
struct DedupIdHash {
  size_t operator()(const DedupId& id) const {
    size_t h = 0;
    std::memcpy(&h, id.data(), sizeof(h));
    return h;
  }
};
// One entry of the dedup table (v1::DedupEntry in snapshots), 56 bytes: what detection and the
// fold read (expiry, first sequence, incident id, issue) is kept in place, next to the key, and
// nothing is allocated for an entry of this binary's own making. Rare content (a key that is not
// a digest's hex, an incident id longer than 16 characters) lives in one heap block.
class DedupSlot {
 public:
  int64_t expires_at_ms = 0;
  uint64_t alert_sequence = 0;
  // The issue the anomaly was correlated into, by the sequence of its IssueOpened (unique per
  // issue; 0 until correlated). Snapshots write that issue's name.
  uint64_t issue_sequence = 0;

  DedupSlot() = default;
  DedupSlot(const DedupSlot& other);
  DedupSlot& operator=(const DedupSlot& other);
  DedupSlot(DedupSlot&&) noexcept = default;
  DedupSlot& operator=(DedupSlot&&) noexcept = default;
  ~DedupSlot() = default;

  // The anomaly's incident: its duplicates are logged under it.
  std::string incident_id() const;
  void set_incident_id(std::string_view id);
  // The key as written, when it is not a digest's hex (DedupIdOf); empty otherwise.
  std::string_view key_text() const;
  void set_key_text(std::string_view text);
  // Heap bytes held beyond the slot itself (bench/core_bench.cc's dedup_bytes).
  size_t HeapBytes() const;

 private:
  struct Rare {
    std::string key_text;
    std::string incident_id;  // over kInline characters
  };
  static constexpr size_t kInline = 16;  // IncidentId's length
  Rare& MutableRare();
  void DropRareIfEmpty();

  std::array<char, kInline> incident_{};
  uint8_t incident_size_ = 0;  // kInline + 1: the id is in rare_
  std::unique_ptr<Rare> rare_;
};

struct PipelineState {
  uint64_t last_sequence = 0;
  int64_t last_time_ms = 0;
  v1::PipelineConfig config;  // DefaultPipelineConfig() until a ConfigChanged event
  // Ordered maps with transparent comparators (lookups by string_view allocate nothing).
  // By dedup key. Hashed because detection looks it up for every alert; it is never iterated in
  // a decision, and EncodeSnapshot sorts it, so its order never shows.
  absl::flat_hash_map<DedupId, DedupSlot, DedupIdHash> dedup;  // purity-ok: never iterated unsorted
  // The maps every alert's correlation looks up are KeyedMaps: ordered, with a hashed index.
  KeyedMap<v1::IssueState> issues;                                // by issue name
  KeyedMap<std::string> open_issue;                               // resource key -> open issue
  std::map<std::string, v1::PlanState, std::less<>> plans;        // by plan name
  std::map<std::string, v1::RunbookState, std::less<>> runbooks;  // by "namespace/name"
  KeyedMap<v1::ResourceHistory> history;                          // by resource key
  std::map<std::string, int64_t, std::less<>> cooldown_until_ms;  // by resource key
  // Dedup entries by expiry, to drop them once expired (derived from `dedup`, not persisted;
  // an entry whose key was refreshed is skipped when its old expiry comes up). Sorted by expiry,
  // equal expiries in insertion order.
  ExpiryQueue<DedupId> dedup_expiry;

  PipelineState();
  // Equal states have equal snapshots (protobuf messages compare by their encoding here).
  bool operator==(const PipelineState& other) const;
};

// Folds one event into `state`.
void Apply(PipelineState& state, const v1::Event& event);

// Snapshot bytes: [state version (4, BE)][PipelineSnapshot], entries in key order.
std::string EncodeSnapshot(const PipelineState& state);
// kFailedPrecondition for a snapshot of another state version; kDataLoss when it does not parse.
absl::StatusOr<PipelineState> DecodeSnapshot(std::string_view bytes);
// SHA-256 hex of the snapshot encoding: the golden-log digest.
std::string StateDigest(const PipelineState& state);

const v1::IssueState* FindIssue(const PipelineState& state, std::string_view name);
// The names of an issue's anomalies, in order of correlation (IssueState.anomaly_list).
std::vector<std::string> AnomalyNames(const v1::IssueState& issue);
// The distinct signal types of an issue's anomalies, in order of first appearance
// (IssueState.signal_list).
std::vector<std::string> SignalTypes(const v1::IssueState& issue);
// The issue as the aiops.v1 API shows it: its anomalies' names and signal types listed in
// anomaly_names and signal_types, the fold's packed fields (anomaly_list, signal_list, dedup_ids)
// left out.
v1::IssueState IssueForReaders(const v1::IssueState& issue);
const v1::PlanState* FindPlan(const PipelineState& state, std::string_view name);
std::string RunbookKey(std::string_view namespace_name, std::string_view name);

// A deadline the timer edge turns into a DeadlineReached event when it falls due.
struct Deadline {
  std::string id;    // unique and stable: "<kind>/<target>"
  std::string kind;  // approval | verification | cooldown
  std::string target;
  int64_t due_at_ms = 0;
  bool operator==(const Deadline&) const = default;
};
// Pending deadlines, ordered by due time then id.
std::vector<Deadline> PendingDeadlines(const PipelineState& state);

// Work the effectors owe the pipeline (DESIGN.md §2): derived from the state, so a restart
// rebuilds it from the log.
struct Intents {
  struct Analysis {
    std::string issue_name;
    int32_t attempt = 0;
    bool operator==(const Analysis&) const = default;
  };
  struct Action {
    std::string plan_name;
    int32_t index = 0;
    bool operator==(const Action&) const = default;
  };
  std::vector<Analysis> analyses;          // requested, no result yet
  std::vector<Action> actions;             // next action of each executing plan
  std::vector<std::string> rollbacks;      // failed plans with a preflight snapshot to restore
  std::vector<std::string> verifications;  // plans waiting for their rollout to settle
  std::vector<Deadline> deadlines;
  bool operator==(const Intents&) const = default;
};
Intents CollectIntents(const PipelineState& state);

// Whether folding `event` can change what CollectIntents returns. False only for the detection
// events (alert observed, duplicate suppressed, anomaly recorded, anomaly correlated): they touch
// dedup entries and an issue's anomalies, risk and severity, never what the intents are made of.
// Logical time still moves with every event, and a cooldown deadline ends when time passes it:
// intents holding a cooldown deadline must be recomputed whatever the event (runners reuse the
// previous intents across a group of detection events otherwise; the replay property test
// checks the rule on every event of its random histories).
bool MayChangeIntents(const v1::Event& event);
bool HasCooldownDeadline(const Intents& intents);

}  // namespace aiops::projections
