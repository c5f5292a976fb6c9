#include "eventlog/chain_writer.h"

#include <cstring>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

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
  // First pass: the checks that need the message, and each envelope's final size (ByteSizeLong
  // also caches the sizes that serialization below relies on).
  size_t total = 0;
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
    size_t size = event.ByteSizeLong();
    if (size + 50 > limits.max_event_bytes) {
      AIOPS_RETURN_IF_ERROR(TruncateToFit(event, limits.max_event_bytes - 50));
      size = event.ByteSizeLong();
    }
    total += size + event.incident_id().size();
  }
  // Second pass: serialize every envelope into one buffer, sized once.
  out.buffer.resize(total);
  out.entries.clear();
  out.entries.reserve(events.size());
  auto* const base = reinterpret_cast<uint8_t*>(out.buffer.data());
  size_t offset = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::Event& event = events[i];
    PreparedBatch::Entry& entry = out.entries.emplace_back();
    entry.body_offset = offset;
    offset = static_cast<size_t>(event.SerializeWithCachedSizesToArray(base + offset) - base);
    entry.body_size = offset - entry.body_offset;
    AIOPS_CHECK(entry.body_size == static_cast<size_t>(event.GetCachedSize()));
    // A record protobuf would refuse to read back (invalid UTF-8, for one) is refused now instead
    // of poisoning the log. The wire walk makes the parser's checks without building a message;
    // only when it does not vouch for the bytes are they parsed back, which decides.
    if (!SerializedStringsValid(out.body(i))) {
      const std::string_view body = out.body(i);
      v1::Event parsed;
      if (!parsed.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        const absl::Status utf8 = ValidateUtf8(event);
        return absl::InvalidArgumentError(
            fmt::format("event {} of the batch: {}", i,
                        utf8.ok() ? std::string("its envelope does not parse back")
                                  : std::string(utf8.message())));
      }
    }
    entry.incident_offset = offset;
    entry.incident_size = event.incident_id().size();
    std::memcpy(base + offset, event.incident_id().data(), entry.incident_size);
    offset += entry.incident_size;
  }
  AIOPS_CHECK(offset == total);
  return absl::OkStatus();
}

void FrameRecord(uint64_t sequence, std::string_view prev_hash, std::string_view body,
                 std::string& out) {
  // The two fields the log assigns, written with protobuf's own wire-format encoders (the bytes
  // serializing a message holding only them would give: proto3 omits a zero sequence and an empty
  // hash) and placed before the body.
  using google::protobuf::internal::WireFormatLite;
  constexpr size_t kMaxSequenceField = 1 + 10;   // tag, varint
  constexpr size_t kMaxHashFieldHeader = 1 + 5;  // tag, length
  out.resize(kRecordHeaderSize + kMaxSequenceField + kMaxHashFieldHeader + prev_hash.size() +
             body.size());
  auto* const start = reinterpret_cast<uint8_t*>(out.data());
  uint8_t* p = start + 4;
  *p++ = kRecordFormatVersion;
  if (sequence != 0) {
    p = WireFormatLite::WriteUInt64ToArray(v1::Event::kSequenceFieldNumber, sequence, p);
  }
  if (!prev_hash.empty()) {
    p = WireFormatLite::WriteTagToArray(v1::Event::kPrevHashFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED, p);
    p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
        static_cast<uint32_t>(prev_hash.size()), p);
    std::memcpy(p, prev_hash.data(), prev_hash.size());
    p += prev_hash.size();
  }
  std::memcpy(p, body.data(), body.size());
  p += body.size();
  out.resize(static_cast<size_t>(p - start));
  const uint32_t crc = common::crc32c::Mask(common::crc32c::Value(std::string_view(out).substr(4)));
  std::string crc_bytes;  // short: no allocation
  common::AppendFixed32Le(crc_bytes, crc);
  std::memcpy(start, crc_bytes.data(), crc_bytes.size());
}

void HashRecord(std::string_view value, std::string& hash) {
  const common::Sha256Digest digest = RecordHash(value);
  hash.assign(reinterpret_cast<const char*>(digest.data()), digest.size());
}

}  // namespace aiops::eventlog
