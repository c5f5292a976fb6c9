// KeyedMap: lookups through its index agree with the ordered map it indexes, through inserts,
// erases, copies and moves.
#include "projections/keyed_map.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace aiops::projections {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Keys(const KeyedMap<int>& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) {
    keys.push_back(key);
  }
  return keys;
}

std::vector<int> Values(const KeyedMap<int>& map) {
  std::vector<int> values;
  for (const auto& [key, value] : map) {
    values.push_back(value);
  }
  return values;
}

TEST(KeyedMapTest, FindsWhatWasInsertedAndIteratesInKeyOrder) {
  KeyedMap<int> map;
  // Short keys live inside the map's nodes, long ones on the heap: the index views both.
  map["payments/api-gateway-pod-restart-1771276490"] = 1;
  map["b"] = 2;
  map["a"] = 3;
  EXPECT_EQ(3U, map.size());
  EXPECT_THAT(Keys(map), ElementsAre("a", "b", "payments/api-gateway-pod-restart-1771276490"));
  ASSERT_NE(map.end(), map.find("payments/api-gateway-pod-restart-1771276490"));
  EXPECT_EQ(1, map.find("payments/api-gateway-pod-restart-1771276490")->second);
  EXPECT_EQ(2, map.at("b"));
  EXPECT_EQ(map.end(), map.find("c"));
  EXPECT_FALSE(map.contains("payments/api-gateway"));
  map["b"] = 20;  // an existing key: no second entry
  EXPECT_EQ(3U, map.size());
  EXPECT_EQ(20, map.at("b"));
}

TEST(KeyedMapTest, ErasedKeysAreGoneFromTheIndexToo) {
  KeyedMap<int> map;
  for (int i = 0; i < 1000; ++i) {
    map["key-with-a-long-prefix-" + std::to_string(i)] = i;
  }
  for (int i = 0; i < 1000; i += 2) {
    EXPECT_EQ(1U, map.erase("key-with-a-long-prefix-" + std::to_string(i)));
  }
  EXPECT_EQ(0U, map.erase("key-with-a-long-prefix-0"));
  map.erase(map.find("key-with-a-long-prefix-1"));
  EXPECT_EQ(499U, map.size());
  for (int i = 2; i < 1000; ++i) {
    auto it = map.find("key-with-a-long-prefix-" + std::to_string(i));
    if (i % 2 == 0) {
      EXPECT_EQ(map.end(), it) << i;
    } else {
      ASSERT_NE(map.end(), it) << i;
      EXPECT_EQ(i, it->second);
    }
  }
  // Erased keys can come back.
  map["key-with-a-long-prefix-0"] = -1;
  EXPECT_EQ(-1, map.at("key-with-a-long-prefix-0"));
}

TEST(KeyedMapTest, ACopyIndexesItsOwnEntriesAndOutlivesTheOriginal) {
  auto original = std::make_unique<KeyedMap<int>>();
  (*original)["resource/production/api-gateway"] = 1;
  (*original)["x"] = 2;
  KeyedMap<int> copy(*original);
  KeyedMap<int> assigned;
  assigned["stale"] = 9;
  assigned = *original;
  for (KeyedMap<int>* map : {&copy, &assigned}) {
    // Found through the index, changed: the copy's own entries (its iteration sees the change),
    // not the original's.
    map->find("resource/production/api-gateway")->second += 10;
    map->find("x")->second += 10;
    EXPECT_THAT(Values(*map), ElementsAre(11, 12));
    EXPECT_FALSE(map->contains("stale"));
  }
  EXPECT_THAT(Values(*original), ElementsAre(1, 2));
  original.reset();
  for (KeyedMap<int>* map : {&copy, &assigned}) {
    EXPECT_EQ(map->begin(), map->find("resource/production/api-gateway"));
    EXPECT_EQ(12, map->find("x")->second);
  }
}

TEST(KeyedMapTest, AMovedMapKeepsFindingItsEntries) {
  KeyedMap<int> map;
  map["resource/production/api-gateway"] = 1;
  KeyedMap<int> moved(std::move(map));
  EXPECT_EQ(1, moved.at("resource/production/api-gateway"));
  KeyedMap<int> assigned;
  assigned["other"] = 2;
  assigned = std::move(moved);
  EXPECT_EQ(1, assigned.at("resource/production/api-gateway"));
  EXPECT_FALSE(assigned.contains("other"));
  assigned["later-insert-after-the-move"] = 3;
  EXPECT_EQ(3, assigned.at("later-insert-after-the-move"));
  EXPECT_TRUE(assigned == assigned);
}

}  // namespace
}  // namespace aiops::projections
