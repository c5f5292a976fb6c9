// The write path shared by every EventLog implementation, in two steps:
//  1. PrepareForAppend, on the caller's thread: validates a batch and bounds its events;
//  2. ChainAndEncode, on the single writer: assigns sequences and previous-event hashes and
//     frames each record, advancing the chain.
// Pure functions of their inputs; thread-compatible.
#pragma once

#include <string>
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

// kInvalidArgument for an empty or oversized batch, an event without a payload or with invalid
// UTF-8, or one that cannot be truncated to the cap. On success every event fits the cap.
absl::Status PrepareForAppend(std::vector<v1::Event>& events, const LogLimits& limits);

// Appends one framed record per event to `out` (in order) and advances `state`. The events are
// updated with their sequence, schema version and previous hash.
void ChainAndEncode(std::vector<v1::Event>& events, ChainState& state, std::vector<RawRecord>& out);

}  // namespace aiops::eventlog
