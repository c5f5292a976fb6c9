// The recent-alert buffer behind GetAlerts: filters, capacity, age, repeats, the recording
// submit wrapper, and concurrent writers and readers.
#include "server/ingest/alert_buffer.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace aiops::ingest {
namespace {

v1::AlertObserved Alert(const std::string& type, const std::string& ns,
                        const std::string& deployment, const std::string& object = "") {
  v1::AlertObserved a;
  a.set_type(type);
  a.set_severity("warning");
  a.set_namespace_(ns);
  a.set_deployment(deployment);
  a.set_object(object.empty() ? deployment + "-pod" : object);
  a.set_message(type + " on " + deployment);
  return a;
}

std::vector<std::string> Types(const std::vector<v1::AlertObserved>& alerts) {
  std::vector<std::string> out;
  for (const v1::AlertObserved& a : alerts) {
    out.push_back(a.type() + "@" + a.namespace_() + "/" + a.deployment());
  }
  return out;
}

using ::testing::ElementsAre;

TEST(AlertBufferTest, FiltersByNamespaceAndDeploymentOldestFirst) {
  common::FakeClock clock;
  AlertBuffer buffer(clock);
  buffer.Add(Alert("OOMKilled", "shop", "cart"));
  buffer.Add(Alert("PodNotReady", "shop", "checkout"));
  buffer.Add(Alert("HighRestartCount", "billing", "cart"));

  EXPECT_THAT(Types(buffer.Recent()),
              ElementsAre("OOMKilled@shop/cart", "PodNotReady@shop/checkout",
                          "HighRestartCount@billing/cart"));
  EXPECT_THAT(Types(buffer.Recent("shop")),
              ElementsAre("OOMKilled@shop/cart", "PodNotReady@shop/checkout"));
  EXPECT_THAT(Types(buffer.Recent("", "cart")),
              ElementsAre("OOMKilled@shop/cart", "HighRestartCount@billing/cart"));
  EXPECT_THAT(Types(buffer.Recent("shop", "cart")), ElementsAre("OOMKilled@shop/cart"));
  EXPECT_TRUE(buffer.Recent("nowhere").empty());
}

TEST(AlertBufferTest, EvictsTheOldestBeyondCapacity) {
  common::FakeClock clock;
  AlertBuffer buffer({.capacity = 2, .max_age = absl::ZeroDuration()}, clock);
  buffer.Add(Alert("A", "n", "a"));
  buffer.Add(Alert("B", "n", "b"));
  buffer.Add(Alert("C", "n", "c"));
  EXPECT_THAT(Types(buffer.Recent()), ElementsAre("B@n/b", "C@n/c"));
  EXPECT_EQ(buffer.size(), 2U);
}

TEST(AlertBufferTest, ForgetsAlertsOlderThanMaxAge) {
  common::FakeClock clock;
  AlertBuffer buffer({.capacity = 10, .max_age = absl::Minutes(10)}, clock);
  buffer.Add(Alert("A", "n", "a"));
  clock.Advance(absl::Minutes(6));
  buffer.Add(Alert("B", "n", "b"));
  clock.Advance(absl::Minutes(4));  // A is 10 minutes old
  EXPECT_THAT(Types(buffer.Recent()), ElementsAre("B@n/b"));
  clock.Advance(absl::Minutes(6));
  EXPECT_TRUE(buffer.Recent().empty());
}

TEST(AlertBufferTest, ARepeatReplacesTheEarlierEntryAndRefreshesIt) {
  common::FakeClock clock;
  AlertBuffer buffer({.capacity = 10, .max_age = absl::Minutes(10)}, clock);
  buffer.Add(Alert("A", "n", "a"));
  buffer.Add(Alert("B", "n", "b"));
  clock.Advance(absl::Minutes(8));
  v1::AlertObserved again = Alert("A", "n", "a");
  again.set_message("still failing");
  buffer.Add(again);
  const std::vector<v1::AlertObserved> recent = buffer.Recent();
  ASSERT_THAT(Types(recent), ElementsAre("B@n/b", "A@n/a"));
  EXPECT_EQ(recent[1].message(), "still failing");
  clock.Advance(absl::Minutes(5));  // B expired, A refreshed 5 minutes ago
  EXPECT_THAT(Types(buffer.Recent()), ElementsAre("A@n/a"));
  // Another pod of the same deployment is another alert.
  buffer.Add(Alert("A", "n", "a", "a-other-pod"));
  EXPECT_EQ(buffer.size(), 2U);
}

TEST(AlertBufferTest, RecordingSubmitKeepsOnlyAcceptedAlerts) {
  common::FakeClock clock;
  AlertBuffer buffer(clock);
  bool accept = true;
  int calls = 0;
  AlertBuffer::Submit submit =
      AlertBuffer::Recording(buffer, [&](v1::Event) -> absl::StatusOr<uint64_t> {
        ++calls;
        if (!accept) {
          return absl::UnavailableError("stopped");
        }
        return static_cast<uint64_t>(calls);
      });
  v1::Event event;
  *event.mutable_alert_observed() = Alert("OOMKilled", "shop", "cart");
  ASSERT_TRUE(submit(event).ok());
  accept = false;
  *event.mutable_alert_observed() = Alert("PodNotReady", "shop", "cart");
  EXPECT_EQ(submit(event).status().code(), absl::StatusCode::kUnavailable);
  v1::Event other;
  other.mutable_deadline_reached();
  accept = true;
  ASSERT_TRUE(submit(other).ok());
  EXPECT_EQ(calls, 3);
  EXPECT_THAT(Types(buffer.Recent()), ElementsAre("OOMKilled@shop/cart"));
}

TEST(AlertBufferTest, ConcurrentWritersAndReadersSeeABoundedConsistentBuffer) {
  common::FakeClock clock;
  AlertBuffer buffer({.capacity = 64, .max_age = absl::Hours(1)}, clock);
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 2000; ++i) {
        buffer.Add(Alert("T" + std::to_string(i % 100), "ns" + std::to_string(w), "d"));
      }
    });
  }
  std::thread reader([&] {
    while (!done) {
      const std::vector<v1::AlertObserved> recent = buffer.Recent("ns1");
      EXPECT_LE(recent.size(), 64U);
    }
  });
  for (std::thread& t : writers) {
    t.join();
  }
  done = true;
  reader.join();
  EXPECT_EQ(buffer.size(), 64U);
}

}  // namespace
}  // namespace aiops::ingest
