// Readable incidents: a one-line summary of each event for people, an incident's timeline
// (the events of its index, plus the inputs that caused them) and its text rendering, shared by
// the gRPC API (GetIncident) and `aiops incident show`. Everything but ReadTimeline is pure.
// Depends on eventlog (ReadTimeline), projections and proto.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

#include "aiops/v1/events.pb.h"
#include "aiops/v1/service.pb.h"
#include "eventlog/event_log.h"

namespace aiops::api {

// "2026-02-16T21:12:34.000Z" (UTC, milliseconds).
std::string FormatTimeMs(int64_t ms);

// One line describing `event` for people ("alert OOMKilled on production/api-gateway: ...",
// "plan api-plan-1 Executing -> Verifying: ..."). Never empty, never contains a newline.
std::string EventSummary(const v1::Event& event);

// The timeline entry of `event`; `cause` marks an event outside the incident's index.
v1::TimelineEntry ToTimelineEntry(const v1::Event& event, bool cause);

// The timeline of `incident_id`: every event of the incident index (up to `max_sequence`; 0 for
// no limit) plus the events that caused them but are not in the index, in sequence order.
// kDataLoss from the log for a corrupt record.
absl::StatusOr<std::vector<v1::TimelineEntry>> ReadTimeline(const eventlog::EventLog& log,
                                                            const std::string& incident_id,
                                                            uint64_t max_sequence = 0);

// Text lines of a timeline: sequence, time, type, summary and "← caused by #N" when the cause
// is another event. Each line is one entry.
std::vector<std::string> RenderTimeline(const std::vector<v1::TimelineEntry>& timeline);

// The whole `aiops incident show` text: the issue, its plans, then its timeline.
std::vector<std::string> RenderIncident(const v1::GetIncidentResponse& incident);

}  // namespace aiops::api
