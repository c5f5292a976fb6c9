// Checks and bounds applied to every event before it is appended: all string fields must be
// valid UTF-8 (protobuf refuses to parse anything else, so a bad string would make the record
// unreadable), and an event larger than the per-event cap has its longest strings truncated
// with a visible marker. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include <absl/status/status.h>

#include "aiops/v1/events.pb.h"

namespace aiops::eventlog {

// The text appended to a truncated string; `{}` is the number of bytes removed.
inline constexpr char kTruncationMarkerFormat[] = "...[truncated {} bytes]";

// kInvalidArgument naming the first field (by path) that is not valid UTF-8.
absl::Status ValidateUtf8(const v1::Event& event);

// True when `serialized` (a serialized aiops.v1.Event) is well-formed wire format in which every
// string field, at any depth, is valid UTF-8: the checks protobuf's parser makes, without building
// a message (no allocation). False also for input this walk does not follow (groups, nesting
// deeper than 64 levels): the caller then parses the bytes to decide.
bool SerializedStringsValid(std::string_view serialized);

// Shrinks `event` to at most `max_bytes` serialized bytes by cutting its longest strings (at
// UTF-8 boundaries) and appending the marker; sets `truncated` and `original_size`. No-op when it
// already fits. kInvalidArgument when strings cannot be cut enough (too many small fields).
absl::Status TruncateToFit(v1::Event& event, size_t max_bytes);

}  // namespace aiops::eventlog
