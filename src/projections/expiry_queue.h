// ExpiryQueue: (time, key) entries sorted by time, equal times in insertion order, taken from
// the front as time passes. A vector with a moving head rather than a std::deque: entries are
// almost always added at the end (logical time rarely goes back) and taken from the front, which
// makes a deque allocate and free a block every dozen entries and now and then reallocate its
// block map; the vector grows to the queue's peak size once and is then reused (the taken front
// is dropped in one move when it is at least half of the vector). Thread-compatible.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace aiops::projections {

template <typename Key>
class ExpiryQueue {
 public:
  using Entry = std::pair<int64_t, Key>;
  using const_iterator = typename std::vector<Entry>::const_iterator;

  bool empty() const { return head_ == entries_.size(); }
  size_t size() const { return entries_.size() - head_; }
  const Entry& front() const { return entries_[head_]; }
  const_iterator begin() const { return entries_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return entries_.end(); }

  // Queues `key` at `at_ms`, after every entry due earlier or at the same time.
  void Add(int64_t at_ms, const Key& key) {
    if (empty() || entries_.back().first <= at_ms) {
      entries_.emplace_back(at_ms, key);
      return;
    }
    auto after =
        std::upper_bound(entries_.begin() + static_cast<std::ptrdiff_t>(head_), entries_.end(),
                         at_ms, [](int64_t t, const Entry& e) { return t < e.first; });
    entries_.emplace(after, at_ms, key);
  }

  void pop_front() {
    ++head_;
    if (head_ == entries_.size()) {
      entries_.clear();
      head_ = 0;
    } else if (head_ >= kCompactAt && head_ >= entries_.size() / 2) {
      entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() {
    entries_.clear();
    head_ = 0;
  }

  // Bulk loading (a snapshot's entries, in its order): append them all, then Sort once.
  void AppendUnsorted(int64_t at_ms, const Key& key) { entries_.emplace_back(at_ms, key); }
  // By time; equal times keep the order they were appended in, as Add would have queued them.
  void Sort() {
    std::stable_sort(entries_.begin() + static_cast<std::ptrdiff_t>(head_), entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.first < b.first; });
  }

 private:
  // Below this many taken entries the front is left in place (dropping it is a move of the rest).
  static constexpr size_t kCompactAt = 1024;

  std::vector<Entry> entries_;
  size_t head_ = 0;
};

}  // namespace aiops::projections
