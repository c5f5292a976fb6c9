#include "common/malloc_tuning.h"

#include <cstdlib>

namespace aiops::common {

bool TunablesAskForHugePages(std::string_view tunables) {
  while (!tunables.empty()) {
    const size_t colon = tunables.find(':');
    if (tunables.substr(0, colon) == kMallocHugePagesTunable) {
      return true;
    }
    tunables = colon == std::string_view::npos ? std::string_view() : tunables.substr(colon + 1);
  }
  return false;
}

bool MallocHugePagesRequested() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr && TunablesAskForHugePages(tunables);
}

}  // namespace aiops::common
