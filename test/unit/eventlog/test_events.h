// Event builders shared by the event-log tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "aiops/v1/events.pb.h"
#include "eventlog/rocks_event_log.h"

namespace aiops::eventlog::testing {

// An alert-observed event with the given incident id and a message of `message_bytes` bytes.
v1::Event AlertEvent(const std::string& incident_id = "", size_t message_bytes = 64,
                     int64_t logical_time_ms = 1'700'000'000'000);

// Opens (creating) a RocksEventLog at `path` without fsync; a failed open fails the test and
// returns null.
std::unique_ptr<RocksEventLog> OpenUnsyncedLog(const std::string& path);

}  // namespace aiops::eventlog::testing
