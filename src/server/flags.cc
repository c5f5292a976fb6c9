#include "server/flags.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace aiops::server {
namespace {

bool Contains(const std::vector<std::string_view>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string ParsedFlags::Get(std::string_view name, std::string_view fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string(fallback) : it->second;
}

absl::StatusOr<std::optional<uint64_t>> ParsedFlags::GetUint(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return std::nullopt;
  }
  uint64_t value = 0;
  const std::string& text = it->second;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return absl::InvalidArgumentError(
        fmt::format("flag '--{}' needs an unsigned integer, not '{}'", name, text));
  }
  return value;
}

absl::StatusOr<ParsedFlags> ParseFlagArgs(std::span<const std::string_view> args,
                                          const std::vector<std::string_view>& value_flags,
                                          const std::vector<std::string_view>& bool_flags) {
  ParsedFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      flags.help = true;
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(fmt::format("unexpected argument '{}'", arg));
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> value;
    if (const size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (Contains(bool_flags, name)) {
      if (value.has_value()) {
        return absl::InvalidArgumentError(fmt::format("flag '--{}' takes no value", name));
      }
      flags.values_[std::string(name)] = "true";
      continue;
    }
    if (!Contains(value_flags, name)) {
      return absl::InvalidArgumentError(fmt::format("unknown flag '--{}'", name));
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(fmt::format("flag '--{}' needs a value", name));
      }
      value = args[++i];
    }
    if (value->empty()) {
      return absl::InvalidArgumentError(fmt::format("flag '--{}' needs a non-empty value", name));
    }
    flags.values_[std::string(name)] = std::string(*value);
  }
  return flags;
}

}  // namespace aiops::server
