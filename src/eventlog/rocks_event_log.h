// The product's EventLog on RocksDB (docs/log_format.md). Column families: `events` (8-byte
// big-endian sequence -> framed record), `by_incident` (incident id, NUL, sequence -> empty),
// `meta` (anchor, last sequence, follower cursors) and `snapshots`. One writer at a time owns the
// write path: concurrent Append calls queue up, and the one at the front commits the queued group
// in one WriteBatch (synced when configured) before all of them are acknowledged. Read-only and
// secondary modes let `aiops log ...` read a log that a running operator holds open. Thread-safe.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>

#include "eventlog/chain_writer.h"
#include "eventlog/event_log.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace aiops::eventlog {

struct RocksLogOptions {
  enum class Mode { kReadWrite, kReadOnly, kSecondary };
  // What Open checks before serving: every record's key density and frame (CRC), or that plus
  // the hash chain, or only the ends of the log.
  enum class OpenCheck { kFrames, kChain, kEndsOnly };

  std::string path;
  Mode mode = Mode::kReadWrite;
  std::string secondary_path;  // kSecondary: a private folder for the secondary's own files
  OpenCheck open_check = OpenCheck::kFrames;
  bool sync = true;  // fsync every group commit (an acknowledged append survives power loss)
  size_t group_commit_max_events = 4096;
  // How long the writer waits for more appends before committing a group that is not full.
  // Zero commits whatever has queued while the previous write ran (natural batching).
  absl::Duration group_commit_max_delay = absl::ZeroDuration();
  size_t max_pending_appends = 10'000;  // beyond: kResourceExhausted
  LogLimits limits;
  // Only for `aiops log salvage`: recover the longest intact prefix of a damaged write-ahead log
  // (RocksDB's point-in-time recovery) instead of refusing to open it. Never for normal opens:
  // that mode drops every record after a damaged one without a word.
  bool salvage_wal_prefix = false;
};

class RocksEventLog final : public EventLog {
 public:
  // Opens (kReadWrite: creates) the log at options.path. kDataLoss naming the sequence when a
  // record is missing or corrupt, or the metadata disagrees with the records; kNotFound when a
  // read-only or secondary open finds no log; kUnavailable when RocksDB cannot open it (for
  // example, another process holds it read-write).
  static absl::StatusOr<std::unique_ptr<RocksEventLog>> Open(const RocksLogOptions& options);

  // Closes the database. No Append may be running.
  ~RocksEventLog() override;
  RocksEventLog(const RocksEventLog&) = delete;
  RocksEventLog& operator=(const RocksEventLog&) = delete;
  RocksEventLog(RocksEventLog&&) = delete;
  RocksEventLog& operator=(RocksEventLog&&) = delete;

  absl::StatusOr<SequenceRange> Append(std::vector<v1::Event> events) override;
  uint64_t FirstSequence() const override;
  uint64_t LastSequence() const override;
  Anchor GetAnchor() const override;
  absl::StatusOr<std::vector<RawRecord>> ReadRaw(uint64_t from, size_t max_count) const override;
  // Decodes into a result sized once. Short reads, and reads of records still in the memtables,
  // parse straight from RocksDB's buffers; longer reads of table files scan, frame-check and copy
  // the values on a helper thread while this thread parses them (in order; the first bad record
  // by sequence is the one reported).
  absl::StatusOr<std::vector<v1::Event>> Read(uint64_t from, size_t max_count) const override;
  absl::StatusOr<std::vector<uint64_t>> IncidentSequences(
      const std::string& incident_id) const override;
  // In secondary mode this also catches up with the primary while it waits.
  uint64_t WaitForSequence(uint64_t sequence, absl::Duration timeout) const override;
  absl::Status PutSnapshot(const std::string& name, const Snapshot& snapshot) override;
  absl::StatusOr<std::optional<Snapshot>> GetSnapshot(const std::string& name) const override;
  absl::Status PutCursor(const std::string& follower, uint64_t sequence) override;
  absl::StatusOr<uint64_t> GetCursor(const std::string& follower) const override;

  // Secondary mode: reads what the primary has written since the last catch-up.
  absl::Status CatchUp() const;

  // Deletes the records before `sequence` (history is exported first, by the caller) and moves
  // the anchor there, keeping the hash of the record before it so the chain still verifies.
  absl::Status Prune(uint64_t before_sequence);

  // Stores already-verified records exactly as given (import). On an empty log, `anchor` becomes
  // the log's anchor; otherwise the records must continue the chain. kFailedPrecondition when
  // they do not.
  absl::Status AppendVerbatim(const Anchor& anchor, std::vector<RawRecord> records);

  const RocksLogOptions& options() const { return options_; }

 private:
  struct PendingAppend;
  struct Handles;

  explicit RocksEventLog(RocksLogOptions options);
  absl::Status Load();
  void LeadGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CommitGroup(std::vector<PendingAppend*>& group);
  absl::StatusOr<SequenceRange> Enqueue(PendingAppend& pending);
  // The anchor and the last sequence recorded in the meta column family.
  struct Meta {
    Anchor anchor;
    std::optional<uint64_t> last_sequence;
  };
  absl::StatusOr<Meta> ReadMeta() const;
  absl::Status RefreshTail() const;
  // Calls visit(sequence, value) for up to `max_count` acknowledged records from `from` on;
  // `visit` returns a status to stop the scan.
  // How many records a read from `from` of up to `max_count` should find (to size its result).
  size_t ExpectedCount(uint64_t from, size_t max_count) const;
  template <typename Visit>
  absl::Status Scan(uint64_t from, size_t max_count, Visit&& visit) const;

  const RocksLogOptions options_;
  std::unique_ptr<Handles> handles_;
  rocksdb::DB* db_ = nullptr;  // owned by handles_

  mutable absl::Mutex mu_;
  std::deque<PendingAppend*> queue_ ABSL_GUARDED_BY(mu_);
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  mutable Anchor anchor_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // The chain's end and an anchor set by an import: written only by the current group leader
  // (or Load), which the queue makes exclusive.
  ChainState chain_;
  std::optional<Anchor> pending_anchor_;
};

// `aiops log salvage` (docs/log_format.md, "Damage and salvage"). A log whose open is refused
// as damaged (a damaged write-ahead log record, a missing CURRENT or MANIFEST) is examined:
// `damage` says where, `last_intact_sequence` how far the history can still be read. With
// `truncate`, a copy of the whole folder is first kept aside in `damaged_copy`, then the log is
// cut after the last intact record (or its metadata rebuilt from its files), and a LogSalvaged
// event naming what was lost is appended: the hash chain continues through it, so `log verify`
// passes and the cut stays in the history. Without `truncate` nothing is changed.
struct SalvageReport {
  bool damaged = false;  // false: the log opens as it is; nothing to do
  std::string damage;
  uint64_t last_intact_sequence = 0;
  std::string lost;                // what a truncation cuts (or cut) off
  std::string damaged_copy;        // with truncate: the copy of the folder as it was found
  uint64_t salvaged_sequence = 0;  // with truncate: the LogSalvaged event's sequence
};
// kFailedPrecondition when the damage is of a kind a cut cannot mend (a damaged table file:
// restore from an export or a backup); kNotFound when `path` holds no log. `now` stamps the
// event and names the copy.
absl::StatusOr<SalvageReport> SalvageLog(const std::string& path, bool truncate, absl::Time now);

}  // namespace aiops::eventlog
