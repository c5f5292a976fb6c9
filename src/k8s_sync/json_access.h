// Reading Kubernetes objects (outside input) without exceptions: nlohmann's operator[] and
// value() throw or assert on the wrong shape; these return an empty value instead.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace aiops::k8s_sync {

// `obj[key]`, or null when `obj` is not an object or lacks `key`.
inline const nlohmann::json& At(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json kNull;
  return obj.is_object() && obj.contains(key) ? obj[key] : kNull;
}

// A string field ("" when absent or not a string; numbers are printed).
inline std::string StrAt(const nlohmann::json& obj, const char* key) {
  const nlohmann::json& v = At(obj, key);
  return v.is_string() ? v.get<std::string>() : (v.is_number() ? v.dump() : "");
}

// An integer field (0 when absent or not an integer).
inline int64_t IntAt(const nlohmann::json& obj, const char* key) {
  const nlohmann::json& v = At(obj, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

}  // namespace aiops::k8s_sync
