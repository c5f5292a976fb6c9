#include "test_events.h"

#include <gtest/gtest.h>

namespace aiops::eventlog::testing {

v1::Event AlertEvent(const std::string& incident_id, size_t message_bytes,
                     int64_t logical_time_ms) {
  v1::Event event;
  event.set_logical_time_ms(logical_time_ms);
  event.set_cluster_id("local");
  event.set_incident_id(incident_id);
  event.set_producer("test");
  v1::AlertObserved* alert = event.mutable_alert_observed();
  alert->set_type("HighRestartCount");
  alert->set_severity("warning");
  alert->set_message(std::string(message_bytes, 'm'));
  alert->set_object("api-gateway-7d9f-abcde");
  alert->set_namespace_("production");
  alert->set_deployment("api-gateway");
  alert->set_timestamp_unix(logical_time_ms / 1000);
  alert->set_source("detector");
  return event;
}

std::unique_ptr<RocksEventLog> OpenUnsyncedLog(const std::string& path) {
  RocksLogOptions options;
  options.path = path;
  options.sync = false;
  auto log = RocksEventLog::Open(options);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

}  // namespace aiops::eventlog::testing
