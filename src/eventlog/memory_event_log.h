// An EventLog in memory, for tests: the same write path, framing, chain and errors as the
// RocksDB log, with fault injection. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>

#include "eventlog/chain_writer.h"
#include "eventlog/event_log.h"

namespace aiops::eventlog {

class InMemoryEventLog final : public EventLog {
 public:
  explicit InMemoryEventLog(LogLimits limits = {}) : limits_(limits) {}

  absl::StatusOr<SequenceRange> Append(std::vector<v1::Event> events) override;
  uint64_t FirstSequence() const override;
  uint64_t LastSequence() const override;
  Anchor GetAnchor() const override;
  absl::StatusOr<std::vector<RawRecord>> ReadRaw(uint64_t from, size_t max_count) const override;
  absl::StatusOr<std::vector<uint64_t>> IncidentSequences(
      const std::string& incident_id) const override;
  uint64_t WaitForSequence(uint64_t sequence, absl::Duration timeout) const override;
  absl::Status PutSnapshot(const std::string& name, const Snapshot& snapshot) override;
  absl::StatusOr<std::optional<Snapshot>> GetSnapshot(const std::string& name) const override;
  absl::Status PutCursor(const std::string& follower, uint64_t sequence) override;
  absl::StatusOr<uint64_t> GetCursor(const std::string& follower) const override;

  // The next `count` appends fail with `status` and store nothing.
  void FailAppendsForTest(absl::Status status, int count = 1);
  // The next `count` reads (ReadRaw, hence Read) fail with `status`.
  void FailReadsForTest(absl::Status status, int count = 1);
  // Replaces the stored value of `sequence` (to test corruption handling).
  void CorruptRecordForTest(uint64_t sequence, std::string value);

 private:
  const LogLimits limits_;
  mutable absl::Mutex mu_;
  Anchor anchor_ ABSL_GUARDED_BY(mu_);
  ChainState chain_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> values_ ABSL_GUARDED_BY(mu_);  // values_[i]: anchor + i
  std::map<std::string, std::vector<uint64_t>> by_incident_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Snapshot> snapshots_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> cursors_ ABSL_GUARDED_BY(mu_);
  absl::Status injected_failure_ ABSL_GUARDED_BY(mu_);
  int injected_failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Status injected_read_failure_ ABSL_GUARDED_BY(mu_);
  mutable int injected_read_failures_left_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace aiops::eventlog
