// The stored form of one event (docs/log_format.md): keys are 8-byte big-endian sequence
// numbers; values are [masked CRC32C of the rest (4, little-endian)][format version (1)]
// [serialized aiops.v1.Event]. The hash chain links SHA-256 digests of whole stored values.
// Pure functions; thread-safe. Depends on common and proto.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>

#include "aiops/v1/events.pb.h"
#include "common/sha256.h"

namespace aiops::eventlog {

inline constexpr uint8_t kRecordFormatVersion = 1;
inline constexpr size_t kRecordHeaderSize = 5;
// The schema version written into every envelope (docs/event-schema.md).
inline constexpr uint32_t kSchemaVersion = 1;

std::string EncodeSequenceKey(uint64_t sequence);
// kDataLoss when `key` is not an 8-byte sequence key.
absl::StatusOr<uint64_t> DecodeSequenceKey(std::string_view key);

// Frames a serialized envelope. `event` must have a payload (checked).
std::string EncodeRecord(const v1::Event& event);

// Checks the frame and parses the envelope. kDataLoss for a short value, a CRC mismatch, an
// unknown format version or an unparsable envelope; kFailedPrecondition for a payload type this
// binary does not know that is not marked ignorable. Messages describe the defect but not the
// sequence: callers add it.
absl::StatusOr<v1::Event> DecodeRecord(std::string_view value);
// The same into `event` (cleared first; left partly filled on error), which lets a reader parse
// into the storage it returns.
absl::Status DecodeRecordInto(std::string_view value, v1::Event& event);
// DecodeRecordInto without the frame check, for a value that passed CheckRecordFrame already.
absl::Status ParseCheckedRecord(std::string_view value, v1::Event& event);

// Only the frame check (CRC and version), without parsing: the cheap check of open-time scans.
absl::Status CheckRecordFrame(std::string_view value);

common::Sha256Digest RecordHash(std::string_view value);

// The name of an event's payload type ("alert_observed", ...), "unknown" when none is set.
std::string_view PayloadName(const v1::Event& event);

}  // namespace aiops::eventlog
