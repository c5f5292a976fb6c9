#include "common/version.h"

#include <string>

#include <absl/base/config.h>
#include <fmt/core.h>
#include <openssl/opensslv.h>

namespace aiops::common {

std::string_view Version() { return AIOPS_VERSION; }
std::string_view GitRevision() { return AIOPS_GIT_DESCRIBE; }

std::string_view LinkedLibraries() {
  static const std::string kLibraries =
      fmt::format("abseil {}, fmt {}.{}.{}, {}", ABSL_LTS_RELEASE_VERSION, FMT_VERSION / 10000,
                  FMT_VERSION / 100 % 100, FMT_VERSION % 100, OPENSSL_VERSION_TEXT);
  return kLibraries;
}

}  // namespace aiops::common
