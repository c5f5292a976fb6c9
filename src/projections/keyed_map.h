// KeyedMap: an ordered map by string key with a hashed index. Iteration is in key order (what
// decisions, snapshots and readers see); a lookup by key probes a hash table of views of the
// map's own keys (one or two cache lines and one key compare) instead of walking a red-black tree
// of long strings kept on the heap (issue names, resource keys), which the storm profile showed as
// the largest cost of folding and deciding. The index was a B-tree of 64-bit hashes until the
// storm measured the hash table 1.2% fewer instructions and a few percent faster, with no longer
// pauses when it grows (bench/README.md, core_bench). The index holds iterators into the map
// (std::map nodes never move, not even when the map is moved, so neither do the keys it views);
// it is never iterated, so its per-process hash seed never shows. Copies rebuild the index.
// Thread-compatible.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <absl/container/flat_hash_map.h>  // purity-ok: the index is never iterated

namespace aiops::projections {

template <typename V>
class KeyedMap {
 public:
  using Map = std::map<std::string, V, std::less<>>;
  using iterator = typename Map::iterator;
  using const_iterator = typename Map::const_iterator;
  using value_type = typename Map::value_type;

  KeyedMap() = default;
  KeyedMap(const KeyedMap& other) : map_(other.map_) { Reindex(); }
  KeyedMap& operator=(const KeyedMap& other) {
    if (this != &other) {
      map_ = other.map_;
      Reindex();
    }
    return *this;
  }
  KeyedMap(KeyedMap&& other) noexcept = default;
  KeyedMap& operator=(KeyedMap&& other) noexcept = default;
  ~KeyedMap() = default;

  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  size_t size() const { return map_.size(); }
  bool operator==(const KeyedMap& other) const { return map_ == other.map_; }
  bool empty() const { return map_.empty(); }

  iterator find(std::string_view key) {
    auto it = Lookup(key);
    return it == index_.end() ? map_.end() : it->second;
  }
  const_iterator find(std::string_view key) const {
    auto it = Lookup(key);
    return it == index_.end() ? map_.end() : const_iterator(it->second);
  }
  size_t count(std::string_view key) const { return contains(key) ? 1 : 0; }
  bool contains(std::string_view key) const { return Lookup(key) != index_.end(); }
  // As std::map::at (throws std::out_of_range for a missing key; our code never calls it so).
  V& at(std::string_view key) {
    auto it = find(key);
    return it != map_.end() ? it->second : map_.at(std::string(key));
  }
  const V& at(std::string_view key) const {
    auto it = find(key);
    return it != map_.end() ? it->second : map_.at(std::string(key));
  }

  // The value of `key`, inserted (value-initialized) when missing.
  V& operator[](std::string_view key) {
    auto it = Lookup(key);
    if (it != index_.end()) {
      return it->second->second;
    }
    auto inserted = map_.emplace(std::string(key), V()).first;
    index_.emplace(std::string_view(inserted->first), inserted);
    return inserted->second;
  }

  iterator erase(iterator it) {
    index_.erase(std::string_view(it->first));
    return map_.erase(it);
  }
  size_t erase(std::string_view key) {
    auto it = find(key);
    if (it == map_.end()) {
      return 0;
    }
    erase(it);
    return 1;
  }
  void clear() {
    index_.clear();
    map_.clear();
  }

 private:
  // Keys are views of the map's own keys (std::map nodes never move).
  using Index = absl::flat_hash_map<std::string_view, iterator>;  // purity-ok: never iterated

  typename Index::const_iterator Lookup(std::string_view key) const { return index_.find(key); }

  void Reindex() {
    index_.clear();
    for (auto it = map_.begin(); it != map_.end(); ++it) {
      index_.emplace(std::string_view(it->first), it);
    }
  }

  Map map_;
  Index index_;
};

}  // namespace aiops::projections
