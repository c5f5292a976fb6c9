// fmt formatters for Abseil types. Debian's Abseil has its own string_view (not an alias of
// std::string_view), which fmt cannot format on its own; absl::Status formats as ToString().
#pragma once

#include <string_view>

#include <absl/status/status.h>
#include <absl/strings/string_view.h>
#include <fmt/format.h>

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const absl::Status& s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(s.ToString(), ctx);
  }
};
