#include "eventlog/memory_event_log.h"

#include <algorithm>

#include "common/check.h"

namespace aiops::eventlog {

absl::StatusOr<SequenceRange> InMemoryEventLog::Append(std::vector<v1::Event> events) {
  PreparedBatch prepared;
  if (absl::Status s = PrepareForAppend(events, limits_, prepared); !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  if (injected_failures_left_ > 0) {
    --injected_failures_left_;
    return injected_failure_;
  }
  const uint64_t first = chain_.last_sequence + 1;
  // Collected first and stored after: the thread-safety analysis cannot see into the callback.
  std::vector<std::string> new_values;
  std::vector<std::pair<std::string, uint64_t>> new_index;
  ChainAndEncode(prepared, chain_,
                 [&](uint64_t sequence, std::string_view value, std::string_view incident) {
                   if (!incident.empty()) {
                     new_index.emplace_back(incident, sequence);
                   }
                   new_values.emplace_back(value);
                 });
  for (std::string& value : new_values) {
    values_.push_back(std::move(value));
  }
  for (auto& [incident, sequence] : new_index) {
    by_incident_[incident].push_back(sequence);
  }
  return SequenceRange{first, chain_.last_sequence};
}

uint64_t InMemoryEventLog::FirstSequence() const {
  absl::MutexLock lock(&mu_);
  return anchor_.first_sequence;
}

uint64_t InMemoryEventLog::LastSequence() const {
  absl::MutexLock lock(&mu_);
  return chain_.last_sequence;
}

Anchor InMemoryEventLog::GetAnchor() const {
  absl::MutexLock lock(&mu_);
  return anchor_;
}

absl::StatusOr<std::vector<RawRecord>> InMemoryEventLog::ReadRaw(uint64_t from,
                                                                 size_t max_count) const {
  absl::MutexLock lock(&mu_);
  if (injected_read_failures_left_ > 0) {
    --injected_read_failures_left_;
    return injected_read_failure_;
  }
  std::vector<RawRecord> out;
  from = std::max(from, anchor_.first_sequence);
  for (uint64_t s = from; s <= chain_.last_sequence && out.size() < max_count; ++s) {
    out.push_back(RawRecord{s, values_[s - anchor_.first_sequence]});
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> InMemoryEventLog::IncidentSequences(
    const std::string& incident_id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_incident_.find(incident_id);
  return it == by_incident_.end() ? std::vector<uint64_t>{} : it->second;
}

uint64_t InMemoryEventLog::WaitForSequence(uint64_t sequence, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, sequence]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return chain_.last_sequence >= sequence;
  };
  mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  return chain_.last_sequence;
}

absl::Status InMemoryEventLog::PutSnapshot(const std::string& name, const Snapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  snapshots_[name] = snapshot;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Snapshot>> InMemoryEventLog::GetSnapshot(
    const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = snapshots_.find(name);
  return it == snapshots_.end() ? std::nullopt : std::optional<Snapshot>(it->second);
}

absl::Status InMemoryEventLog::PutCursor(const std::string& follower, uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  cursors_[follower] = sequence;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> InMemoryEventLog::GetCursor(const std::string& follower) const {
  absl::MutexLock lock(&mu_);
  auto it = cursors_.find(follower);
  return it == cursors_.end() ? 0 : it->second;
}

void InMemoryEventLog::FailAppendsForTest(absl::Status status, int count) {
  absl::MutexLock lock(&mu_);
  injected_failure_ = std::move(status);
  injected_failures_left_ = count;
}

void InMemoryEventLog::FailReadsForTest(absl::Status status, int count) {
  absl::MutexLock lock(&mu_);
  injected_read_failure_ = std::move(status);
  injected_read_failures_left_ = count;
}

void InMemoryEventLog::CorruptRecordForTest(uint64_t sequence, std::string value) {
  absl::MutexLock lock(&mu_);
  AIOPS_CHECK(sequence >= anchor_.first_sequence && sequence <= chain_.last_sequence);
  values_[sequence - anchor_.first_sequence] = std::move(value);
}

}  // namespace aiops::eventlog
