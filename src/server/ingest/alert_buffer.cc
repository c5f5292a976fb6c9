#include "server/ingest/alert_buffer.h"

#include <utility>

#include <fmt/format.h>

#include "common/check.h"

namespace aiops::ingest {
namespace {

std::string KeyOf(const v1::AlertObserved& alert) {
  // '\x1f' (unit separator) cannot be confused with the characters of Kubernetes names.
  return fmt::format("{}\x1f{}\x1f{}\x1f{}", alert.type(), alert.namespace_(), alert.deployment(),
                     alert.object());
}

}  // namespace

AlertBuffer::AlertBuffer(Options options, const common::Clock& clock)
    : options_(options), clock_(clock) {
  AIOPS_CHECK(options_.capacity > 0);
}

void AlertBuffer::ExpireLocked(absl::Time now) const {
  if (options_.max_age <= absl::ZeroDuration()) {
    return;
  }
  while (!entries_.empty() && now - entries_.front().added >= options_.max_age) {
    by_key_.erase(entries_.front().key);
    entries_.pop_front();
  }
}

void AlertBuffer::Add(const v1::AlertObserved& alert) {
  const absl::Time now = clock_.Now();
  std::string key = KeyOf(alert);
  absl::MutexLock lock(&mu_);
  if (const auto it = by_key_.find(key); it != by_key_.end()) {
    entries_.erase(it->second);
    by_key_.erase(it);
  }
  ExpireLocked(now);
  while (entries_.size() >= options_.capacity) {
    by_key_.erase(entries_.front().key);
    entries_.pop_front();
  }
  entries_.push_back(Entry{key, now, alert});
  by_key_.emplace(std::move(key), std::prev(entries_.end()));
}

void AlertBuffer::AddEvent(const v1::Event& event) {
  if (event.has_alert_observed()) {
    Add(event.alert_observed());
  }
}

std::vector<v1::AlertObserved> AlertBuffer::Recent(std::string_view namespace_filter,
                                                   std::string_view deployment_filter) const {
  const absl::Time now = clock_.Now();
  std::vector<v1::AlertObserved> out;
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  for (const Entry& e : entries_) {
    if ((namespace_filter.empty() || e.alert.namespace_() == namespace_filter) &&
        (deployment_filter.empty() || e.alert.deployment() == deployment_filter)) {
      out.push_back(e.alert);
    }
  }
  return out;
}

size_t AlertBuffer::size() const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  return entries_.size();
}

AlertBuffer::Submit AlertBuffer::Recording(AlertBuffer& buffer, Submit submit) {
  return [&buffer, submit = std::move(submit)](v1::Event event) -> absl::StatusOr<uint64_t> {
    // Copied before the submit consumes the event; recorded only once the core accepted it.
    v1::AlertObserved alert;
    const bool is_alert = event.has_alert_observed();
    if (is_alert) {
      alert = event.alert_observed();
    }
    absl::StatusOr<uint64_t> sequence = submit(std::move(event));
    if (sequence.ok() && is_alert) {
      buffer.Add(alert);
    }
    return sequence;
  };
}

}  // namespace aiops::ingest
