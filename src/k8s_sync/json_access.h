// Reading Kubernetes objects (outside input) without exceptions: nlohmann's operator[] and
// value() throw or assert on the wrong shape; these return an empty value instead.
#pragma once

#include <cstdint>
#include <string>

#include <absl/time/time.h>
#include <fmt/format.h>
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

// An RFC 3339 timestamp field of an object (InfinitePast when absent or malformed).
inline absl::Time TimeOf(const std::string& text) {
  absl::Time t;
  std::string error;
  return absl::ParseTime(absl::RFC3339_full, text, &t, &error) ? t : absl::InfinitePast();
}

// Percent-encoding for a query value (label selectors carry '/', '=' and ','; continue tokens
// '=' and '/').
inline std::string QueryEscape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// The `labelSelector` query value (URL-escaped) of a selector's matchLabels; "" when empty.
inline std::string LabelSelectorQuery(const nlohmann::json& match_labels) {
  std::string query;
  if (!match_labels.is_object()) {
    return query;
  }
  for (const auto& [k, v] : match_labels.items()) {
    query += fmt::format("{}{}%3D{}", query.empty() ? "" : "%2C", k,
                         v.is_string() ? v.get<std::string>() : v.dump());
  }
  return query;
}

}  // namespace aiops::k8s_sync
