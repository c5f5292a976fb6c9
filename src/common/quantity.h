// Kubernetes resource quantities ("512Mi", "1Gi", "500m", "1.5G", "2e3"): their value, so two
// spellings of one amount compare equal. The API server stores quantities in canonical form
// ("1024Mi" is read back as "1Gi"), so text written and text read back may differ.
#pragma once

#include <optional>
#include <string_view>

namespace aiops::common {

// The value in base units (bytes, cores): a decimal number with an optional binary (Ki..Ei),
// decimal (m, k, M..E) or exponent (e3, E-2) suffix. nullopt for anything else (a sign, spaces,
// an empty number).
std::optional<long double> QuantityValue(std::string_view quantity);

// Both parse and hold the same amount (to a relative 1e-12: fractions of binary units).
bool SameQuantity(std::string_view a, std::string_view b);

}  // namespace aiops::common
