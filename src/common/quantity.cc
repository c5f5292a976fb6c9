#include "common/quantity.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace aiops::common {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<long double> QuantityValue(std::string_view quantity) {
  size_t i = 0;
  long double mantissa = 0;
  size_t digits = 0;
  while (i < quantity.size() && IsDigit(quantity[i])) {
    mantissa = mantissa * 10 + (quantity[i] - '0');
    ++i;
    ++digits;
  }
  if (i < quantity.size() && quantity[i] == '.') {
    ++i;
    long double scale = 0.1L;
    while (i < quantity.size() && IsDigit(quantity[i])) {
      mantissa += scale * (quantity[i] - '0');
      scale /= 10;
      ++i;
      ++digits;
    }
  }
  if (digits == 0) {
    return std::nullopt;
  }
  const std::string_view suffix = quantity.substr(i);
  static constexpr std::array<std::pair<std::string_view, long double>, 13> kSuffixes = {{
      {"", 1.0L},
      {"k", 1e3L},
      {"M", 1e6L},
      {"G", 1e9L},
      {"T", 1e12L},
      {"P", 1e15L},
      {"E", 1e18L},
      {"Ki", 1024.0L},
      {"Mi", 1048576.0L},
      {"Gi", 1073741824.0L},
      {"Ti", 1099511627776.0L},
      {"Pi", 1125899906842624.0L},
      {"Ei", 1152921504606846976.0L},
  }};
  if (suffix == "m") {
    return mantissa / 1000;  // divided: 1e-3 has no exact binary form
  }
  for (const auto& [name, factor] : kSuffixes) {
    if (suffix == name) {
      return mantissa * factor;
    }
  }
  // An exponent: e or E, an optional sign, digits ("E" alone is the exa suffix, handled above).
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t k = 1;
    const bool negative = suffix[k] == '-';
    if (suffix[k] == '+' || suffix[k] == '-') {
      ++k;
    }
    if (k == suffix.size()) {
      return std::nullopt;
    }
    int exponent = 0;
    for (; k < suffix.size(); ++k) {
      if (!IsDigit(suffix[k]) || exponent > 100) {
        return std::nullopt;
      }
      exponent = exponent * 10 + (suffix[k] - '0');
    }
    const long double power = std::pow(10.0L, exponent);
    return negative ? mantissa / power : mantissa * power;
  }
  return std::nullopt;
}

bool SameQuantity(std::string_view a, std::string_view b) {
  const std::optional<long double> x = QuantityValue(a);
  const std::optional<long double> y = QuantityValue(b);
  if (!x || !y) {
    return false;
  }
  const long double scale = std::max(std::fabs(*x), std::fabs(*y));
  return std::fabs(*x - *y) <= scale * 1e-12L;
}

}  // namespace aiops::common
