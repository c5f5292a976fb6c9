#include "eventlog/chain_writer.h"

#include <fmt/format.h>
#include <google/protobuf/arena.h>

#include "common/check.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/fmt_absl.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "eventlog/event_limits.h"
#include "eventlog/record.h"

namespace aiops::eventlog {

absl::Status PrepareForAppend(std::vector<v1::Event>& events, const LogLimits& limits,
                              PreparedBatch& out) {
  if (events.empty()) {
    return absl::InvalidArgumentError("append of an empty batch");
  }
  if (events.size() > limits.max_batch_events) {
    return absl::InvalidArgumentError(fmt::format("append of {} events exceeds the batch limit {}",
                                                  events.size(), limits.max_batch_events));
  }
  // Parsing back into an arena costs bump allocations only, all freed at once.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 4096;
  arena_options.max_block_size = 1 << 20;
  google::protobuf::Arena arena(arena_options);
  out.buffer.clear();
  out.entries.clear();
  out.entries.reserve(events.size());
  size_t total = 0;
  for (const v1::Event& event : events) {
    total += event.ByteSizeLong() + event.incident_id().size();
  }
  out.buffer.reserve(total);
  for (size_t i = 0; i < events.size(); ++i) {
    v1::Event& event = events[i];
    if (event.payload_case() == v1::Event::PAYLOAD_NOT_SET) {
      return absl::InvalidArgumentError(fmt::format("event {} of the batch has no payload", i));
    }
    // Fields the log owns start blank so the caller cannot forge them.
    event.clear_sequence();
    event.clear_prev_hash();
    event.clear_truncated();
    event.clear_original_size();
    event.set_schema_version(kSchemaVersion);
    // The record adds at most 5 + 11 + 34 bytes of frame, sequence and previous hash.
    if (event.ByteSizeLong() + 50 > limits.max_event_bytes) {
      AIOPS_RETURN_IF_ERROR(TruncateToFit(event, limits.max_event_bytes - 50));
    }
    PreparedBatch::Entry& entry = out.entries.emplace_back();
    entry.body_offset = out.buffer.size();
    AIOPS_CHECK(event.AppendToString(&out.buffer));
    entry.body_size = out.buffer.size() - entry.body_offset;
    const std::string_view body = out.body(i);
    auto* parsed = google::protobuf::Arena::CreateMessage<v1::Event>(&arena);
    if (!parsed->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      const absl::Status utf8 = ValidateUtf8(event);
      return absl::InvalidArgumentError(
          fmt::format("event {} of the batch: {}", i,
                      utf8.ok() ? std::string("its envelope does not parse back")
                                : std::string(utf8.message())));
    }
    entry.incident_offset = out.buffer.size();
    entry.incident_size = event.incident_id().size();
    out.buffer.append(event.incident_id());
  }
  return absl::OkStatus();
}

void FrameRecord(uint64_t sequence, std::string_view prev_hash, std::string_view body,
                 std::string& out) {
  // The two fields the log assigns, encoded by protobuf itself and placed before the body.
  thread_local v1::Event header;
  header.set_sequence(sequence);
  header.set_prev_hash(prev_hash.data(), prev_hash.size());
  out.assign(4, '\0');
  out.push_back(static_cast<char>(kRecordFormatVersion));
  AIOPS_CHECK(header.AppendToString(&out));
  out.append(body);
  const uint32_t crc = common::crc32c::Mask(common::crc32c::Value(std::string_view(out).substr(4)));
  std::string crc_bytes;
  common::AppendFixed32Le(crc_bytes, crc);
  out.replace(0, 4, crc_bytes);
}

void HashRecord(std::string_view value, std::string& hash) {
  const common::Sha256Digest digest = RecordHash(value);
  hash.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
}

}  // namespace aiops::eventlog
