// The append-only event log: the product's source of truth (DESIGN.md §6, docs/log_format.md).
// EventLog is the seam; RocksEventLog (rocks_event_log.h) is the product's implementation and
// InMemoryEventLog (memory_event_log.h) the test double. Both share the write path of
// chain_writer.h, so they assign sequences, hashes, truncation and framing identically.
// Depends on common and proto (and RocksDB in rocks_event_log only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include "aiops/v1/events.pb.h"
#include "common/sha256.h"

namespace aiops::eventlog {

struct SequenceRange {
  uint64_t first = 0;  // sequences [first, last] were assigned, in the order given
  uint64_t last = 0;
};

// One stored record: its key and framed value, exactly as stored (for verify and export).
struct RawRecord {
  uint64_t sequence = 0;
  std::string value;
};

// Where the stored log starts: 1 with an empty previous hash, or after a prune, the first kept
// sequence and the hash of the record before it (the anchor `log verify` starts from).
struct Anchor {
  uint64_t first_sequence = 1;
  std::string prev_hash;  // 32 raw bytes, or empty at sequence 1
  bool operator==(const Anchor&) const = default;
};

// A projection's persisted state: opaque bytes valid as of `sequence`, made by fold code of
// `state_version` (a reader discards a snapshot of another version and replays from the start).
struct Snapshot {
  uint64_t sequence = 0;
  uint32_t state_version = 0;
  std::string data;
  bool operator==(const Snapshot&) const = default;
};

struct LogLimits {
  size_t max_event_bytes = 1 << 20;   // larger events have their longest strings truncated
  size_t max_batch_events = 100'000;  // one Append call
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  // Appends `events` atomically (all or none) with dense sequence numbers in the given order.
  // The log sets sequence, schema_version, prev_hash, truncated and original_size; the caller
  // sets everything else and must set a payload. Thread-safe: concurrent callers are
  // group-committed, and the call returns once the batch is durable as configured.
  // Errors: kInvalidArgument (no payload, invalid UTF-8, empty or too large a batch),
  // kFailedPrecondition (opened read-only), kResourceExhausted (the write queue is full),
  // kUnavailable / kDataLoss (storage failed; the log refuses further appends).
  virtual absl::StatusOr<SequenceRange> Append(std::vector<v1::Event> events) = 0;

  // First stored sequence (the anchor's) and last appended sequence (first - 1 when empty).
  virtual uint64_t FirstSequence() const = 0;
  virtual uint64_t LastSequence() const = 0;
  virtual Anchor GetAnchor() const = 0;

  // Up to `max_count` records from `from` on, in order. kDataLoss for a corrupt record
  // (naming its sequence); an empty result past the end.
  virtual absl::StatusOr<std::vector<RawRecord>> ReadRaw(uint64_t from, size_t max_count) const = 0;
  // The same records decoded (kDataLoss naming the sequence of a corrupt one).
  virtual absl::StatusOr<std::vector<v1::Event>> Read(uint64_t from, size_t max_count) const;

  // Sequences of the events carrying `incident_id`, ascending.
  virtual absl::StatusOr<std::vector<uint64_t>> IncidentSequences(
      const std::string& incident_id) const = 0;

  // Blocks until LastSequence() >= `sequence` or `timeout` passes; returns LastSequence().
  virtual uint64_t WaitForSequence(uint64_t sequence, absl::Duration timeout) const = 0;

  virtual absl::Status PutSnapshot(const std::string& name, const Snapshot& snapshot) = 0;
  virtual absl::StatusOr<std::optional<Snapshot>> GetSnapshot(const std::string& name) const = 0;

  // Cursors of log followers (the mirror, effectors): the last sequence each has handled.
  virtual absl::Status PutCursor(const std::string& follower, uint64_t sequence) = 0;
  virtual absl::StatusOr<uint64_t> GetCursor(const std::string& follower) const = 0;  // 0: none
};

// A tail reader: delivers every event from a start sequence on, waiting for new ones. Any
// number of subscriptions may read one log concurrently; each is used by one thread.
// The log must outlive the subscription.
class Subscription {
 public:
  Subscription(const EventLog& log, uint64_t next_sequence)
      : log_(log), next_sequence_(next_sequence) {}

  // Returns the next events (at most `max_count`), waiting up to `timeout` for at least one;
  // empty when none arrived in time.
  absl::StatusOr<std::vector<v1::Event>> Next(size_t max_count, absl::Duration timeout);
  uint64_t next_sequence() const { return next_sequence_; }

 private:
  const EventLog& log_;
  uint64_t next_sequence_;
};

// The stored events of `incident_id` (by the incident index) whose sequence is in
// [from, to] (to 0: no upper bound), in log order; runs of consecutive sequences are read in
// one call. Sequences before the log's first (pruned) are skipped. An indexed event that cannot
// be read is an error naming its sequence, never a silent gap.
absl::StatusOr<std::vector<v1::Event>> ReadIncidentEvents(const EventLog& log,
                                                          const std::string& incident_id,
                                                          uint64_t from = 0, uint64_t to = 0);

// Snapshot `name` of `log` when fold code of `state_version` can start from it to rebuild a
// state as of sequence `until` (clamped to the log's end): of that version, taken at or before
// `until`, and covering the pruned history (its sequence is at least the first stored one minus
// one). nullopt otherwise; decoding it is the caller's.
absl::StatusOr<std::optional<Snapshot>> SnapshotToFoldFrom(const EventLog& log,
                                                           const std::string& name,
                                                           uint32_t state_version, uint64_t until);

// The result of walking a log's records: CRCs, density and the hash chain from the anchor.
struct VerifyReport {
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
  uint64_t records = 0;
  std::string last_hash_hex;
};

// Checks every record of `log` from its anchor: kDataLoss naming the first bad sequence (a gap,
// a CRC mismatch, an envelope whose sequence disagrees with its key, or a broken chain).
// `progress` (optional) is called every 100,000 records with the sequence reached.
absl::StatusOr<VerifyReport> VerifyLog(const EventLog& log,
                                       void (*progress)(uint64_t sequence) = nullptr);

}  // namespace aiops::eventlog
