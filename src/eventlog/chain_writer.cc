#include "eventlog/chain_writer.h"

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/status_macros.h"
#include "eventlog/event_limits.h"
#include "eventlog/record.h"

namespace aiops::eventlog {

absl::Status PrepareForAppend(std::vector<v1::Event>& events, const LogLimits& limits) {
  if (events.empty()) {
    return absl::InvalidArgumentError("append of an empty batch");
  }
  if (events.size() > limits.max_batch_events) {
    return absl::InvalidArgumentError(fmt::format("append of {} events exceeds the batch limit {}",
                                                  events.size(), limits.max_batch_events));
  }
  for (size_t i = 0; i < events.size(); ++i) {
    v1::Event& event = events[i];
    if (event.payload_case() == v1::Event::PAYLOAD_NOT_SET) {
      return absl::InvalidArgumentError(fmt::format("event {} of the batch has no payload", i));
    }
    if (absl::Status s = ValidateUtf8(event); !s.ok()) {
      return absl::InvalidArgumentError(fmt::format("event {} of the batch: {}", i, s.message()));
    }
    // Fields the log owns start blank so the caller cannot forge them.
    event.clear_sequence();
    event.clear_prev_hash();
    event.clear_truncated();
    event.clear_original_size();
    event.set_schema_version(kSchemaVersion);
    AIOPS_RETURN_IF_ERROR(TruncateToFit(event, limits.max_event_bytes));
  }
  return absl::OkStatus();
}

void ChainAndEncode(std::vector<v1::Event>& events, ChainState& state,
                    std::vector<RawRecord>& out) {
  for (v1::Event& event : events) {
    event.set_sequence(++state.last_sequence);
    event.set_prev_hash(state.last_hash);
    RawRecord record{state.last_sequence, EncodeRecord(event)};
    const common::Sha256Digest hash = RecordHash(record.value);
    state.last_hash.assign(reinterpret_cast<const char*>(hash.data()), hash.size());
    out.push_back(std::move(record));
  }
}

}  // namespace aiops::eventlog
