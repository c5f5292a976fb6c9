// A small command-line flag tokenizer shared by the `aiops` subcommands: `--name value`,
// `--name=value` and boolean `--name`, with usage errors that name the bad flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>

namespace aiops::server {

class ParsedFlags {
 public:
  bool Has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
  // The flag's value, or `fallback` when absent.
  std::string Get(std::string_view name, std::string_view fallback = "") const;
  // kInvalidArgument naming the flag when the value is not an unsigned integer.
  absl::StatusOr<std::optional<uint64_t>> GetUint(std::string_view name) const;
  bool help = false;

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlagArgs(std::span<const std::string_view>,
                                                   const std::vector<std::string_view>&,
                                                   const std::vector<std::string_view>&);
  std::map<std::string, std::string, std::less<>> values_;
};

// kInvalidArgument for an unknown flag, a missing or empty value, a value given to a boolean
// flag, or a positional argument. `-h`/`--help` set `help`.
absl::StatusOr<ParsedFlags> ParseFlagArgs(std::span<const std::string_view> args,
                                          const std::vector<std::string_view>& value_flags,
                                          const std::vector<std::string_view>& bool_flags);

}  // namespace aiops::server
