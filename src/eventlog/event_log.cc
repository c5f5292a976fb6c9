#include "eventlog/event_log.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/sha256.h"
#include "eventlog/record.h"

namespace aiops::eventlog {

absl::StatusOr<std::vector<v1::Event>> EventLog::Read(uint64_t from, size_t max_count) const {
  absl::StatusOr<std::vector<RawRecord>> raw = ReadRaw(from, max_count);
  if (!raw.ok()) {
    return raw.status();
  }
  std::vector<v1::Event> events;
  events.reserve(raw->size());
  for (const RawRecord& record : *raw) {
    if (absl::Status s = DecodeRecordInto(record.value, events.emplace_back()); !s.ok()) {
      return absl::Status(s.code(), fmt::format("event {}: {}", record.sequence, s.message()));
    }
  }
  return events;
}

absl::StatusOr<std::vector<v1::Event>> ReadIncidentEvents(const EventLog& log,
                                                          const std::string& incident_id,
                                                          uint64_t from, uint64_t to) {
  absl::StatusOr<std::vector<uint64_t>> sequences = log.IncidentSequences(incident_id);
  if (!sequences.ok()) {
    return absl::Status(
        sequences.status().code(),
        fmt::format("the incident index of {}: {}", incident_id, sequences.status().message()));
  }
  const uint64_t first = std::max(from, log.FirstSequence());
  std::vector<uint64_t> wanted;
  for (const uint64_t s : *sequences) {
    if (s >= first && (to == 0 || s <= to)) {
      wanted.push_back(s);
    }
  }
  std::vector<v1::Event> events;
  events.reserve(wanted.size());
  for (size_t i = 0; i < wanted.size();) {
    size_t j = i + 1;
    while (j < wanted.size() && wanted[j] == wanted[j - 1] + 1) {
      ++j;
    }
    absl::StatusOr<std::vector<v1::Event>> read = log.Read(wanted[i], j - i);
    if (!read.ok()) {
      return absl::Status(read.status().code(),
                          fmt::format("reading event {} of incident {}: {}", wanted[i], incident_id,
                                      read.status().message()));
    }
    if (read->size() != j - i) {
      const uint64_t missing = wanted[i] + read->size();
      return absl::DataLossError(fmt::format(
          "event {} of incident {} is in the incident index but not in the log (its last "
          "sequence is {})",
          missing, incident_id, log.LastSequence()));
    }
    for (v1::Event& e : *read) {
      events.push_back(std::move(e));
    }
    i = j;
  }
  return events;
}

absl::StatusOr<std::vector<v1::Event>> Subscription::Next(size_t max_count,
                                                          absl::Duration timeout) {
  if (log_.LastSequence() < next_sequence_) {
    log_.WaitForSequence(next_sequence_, timeout);
  }
  absl::StatusOr<std::vector<v1::Event>> events = log_.Read(next_sequence_, max_count);
  if (events.ok() && !events->empty()) {
    next_sequence_ = events->back().sequence() + 1;
  }
  return events;
}

absl::StatusOr<VerifyReport> VerifyLog(const EventLog& log, void (*progress)(uint64_t)) {
  const Anchor anchor = log.GetAnchor();
  VerifyReport report;
  report.first_sequence = anchor.first_sequence;
  std::string prev_hash = anchor.prev_hash;
  uint64_t expected = anchor.first_sequence;
  constexpr size_t kChunk = 4096;
  for (;;) {
    absl::StatusOr<std::vector<RawRecord>> chunk = log.ReadRaw(expected, kChunk);
    if (!chunk.ok()) {
      return chunk.status();
    }
    if (chunk->empty()) {
      break;
    }
    for (const RawRecord& record : *chunk) {
      if (record.sequence != expected) {
        return absl::DataLossError(fmt::format("gap in the log: expected sequence {}, found {}",
                                               expected, record.sequence));
      }
      absl::StatusOr<v1::Event> event = DecodeRecord(record.value);
      if (!event.ok()) {
        return absl::DataLossError(
            fmt::format("event {}: {}", record.sequence, event.status().message()));
      }
      if (event->sequence() != record.sequence) {
        return absl::DataLossError(fmt::format("event {}: the envelope says sequence {}",
                                               record.sequence, event->sequence()));
      }
      if (event->prev_hash() != prev_hash) {
        return absl::DataLossError(fmt::format(
            "event {}: hash chain broken (previous-hash {} but the previous record hashes to {})",
            record.sequence, common::BytesToHex(event->prev_hash()),
            common::BytesToHex(prev_hash)));
      }
      const common::Sha256Digest hash = RecordHash(record.value);
      prev_hash.assign(reinterpret_cast<const char*>(hash.data()), hash.size());
      ++report.records;
      report.last_sequence = record.sequence;
      if (progress != nullptr && report.records % 100'000 == 0) {
        progress(record.sequence);
      }
      ++expected;
    }
  }
  if (report.records == 0) {
    report.last_sequence = anchor.first_sequence - 1;
  }
  if (log.LastSequence() != report.last_sequence) {
    return absl::DataLossError(
        fmt::format("the log says its last sequence is {} but records end at {}",
                    log.LastSequence(), report.last_sequence));
  }
  report.last_hash_hex = common::BytesToHex(prev_hash);
  return report;
}

absl::StatusOr<std::optional<Snapshot>> SnapshotToFoldFrom(const EventLog& log,
                                                           const std::string& name,
                                                           uint32_t state_version, uint64_t until) {
  absl::StatusOr<std::optional<Snapshot>> snapshot = log.GetSnapshot(name);
  if (!snapshot.ok() || !snapshot->has_value()) {
    return snapshot;
  }
  const Snapshot& s = **snapshot;
  if (s.state_version != state_version || s.sequence > std::min(until, log.LastSequence()) ||
      s.sequence + 1 < log.FirstSequence()) {
    return std::nullopt;
  }
  return snapshot;
}

}  // namespace aiops::eventlog
