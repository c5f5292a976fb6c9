// The write path shared by every EventLog implementation, in two steps:
//  1. PrepareForAppend, on the caller's thread (callers run it in parallel): validates a batch,
//     bounds its events, and serializes each envelope without the fields the log assigns; the
//     serialized bytes are checked as protobuf's parser would (SerializedStringsValid, parsing
//     back only the bytes that check does not vouch for), so a record that protobuf would refuse
//     to read (invalid UTF-8, for one) is refused now instead of poisoning the log;
//  2. ChainAndEncode, on the single writer: prepends each event's sequence and previous hash
//     (protobuf fields may appear in any order), frames the record and advances the chain.
// Thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <absl/status/status.h>

#include "aiops/v1/events.pb.h"
#include "eventlog/event_log.h"

namespace aiops::eventlog {

// The end of the chain: the last sequence written and the hash of its record (raw 32 bytes;
// for an empty log, the anchor's previous hash).
struct ChainState {
  uint64_t last_sequence = 0;
  std::string last_hash;
};

// A batch ready for the writer: each envelope serialized without sequence and prev_hash, all
// in one buffer (one allocation per batch, not per event).
struct PreparedBatch {
  struct Entry {
    size_t body_offset = 0;
    size_t body_size = 0;
    size_t incident_offset = 0;
    size_t incident_size = 0;
  };
  std::string buffer;
  std::vector<Entry> entries;

  size_t size() const { return entries.size(); }
  std::string_view body(size_t i) const {
    return std::string_view(buffer).substr(entries[i].body_offset, entries[i].body_size);
  }
  std::string_view incident(size_t i) const {
    return std::string_view(buffer).substr(entries[i].incident_offset, entries[i].incident_size);
  }
};

// kInvalidArgument for an empty or oversized batch, an event without a payload or with invalid
// UTF-8 (naming the field), or one that cannot be truncated to the cap. Consumes `events`.
absl::Status PrepareForAppend(std::vector<v1::Event>& events, const LogLimits& limits,
                              PreparedBatch& out);

// Frames each prepared event as the next record of the chain, calling
// emit(sequence, value, incident_id) in order (both views valid only during the call), and
// advances `state`.
template <typename Emit>
void ChainAndEncode(const PreparedBatch& batch, ChainState& state, Emit&& emit);

// Frames one record: [masked CRC32C][version][sequence and prev_hash fields][body] into `out`.
void FrameRecord(uint64_t sequence, std::string_view prev_hash, std::string_view body,
                 std::string& out);
// Sets `hash` to the raw SHA-256 of a stored record value.
void HashRecord(std::string_view value, std::string& hash);

template <typename Emit>
void ChainAndEncode(const PreparedBatch& batch, ChainState& state, Emit&& emit) {
  std::string value;
  for (size_t i = 0; i < batch.size(); ++i) {
    const uint64_t sequence = ++state.last_sequence;
    FrameRecord(sequence, state.last_hash, batch.body(i), value);
    HashRecord(value, state.last_hash);
    emit(sequence, std::string_view(value), batch.incident(i));
  }
}

}  // namespace aiops::eventlog
