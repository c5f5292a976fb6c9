#include "common/malloc_tuning.h"

#include <cstdlib>

#include <fmt/format.h>

#include <malloc.h>

namespace aiops::common {
namespace {

// Whether an entry of the colon-separated `tunables` satisfies `match`.
template <typename Match>
bool AnyEntry(std::string_view tunables, Match match) {
  while (!tunables.empty()) {
    const size_t colon = tunables.find(':');
    if (match(tunables.substr(0, colon))) {
      return true;
    }
    tunables = colon == std::string_view::npos ? std::string_view() : tunables.substr(colon + 1);
  }
  return false;
}

std::string_view Tunables() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr ? tunables : "";
}

}  // namespace

bool TunablesAskForHugePages(std::string_view tunables) {
  return AnyEntry(tunables,
                  [](std::string_view entry) { return entry == kMallocHugePagesTunable; });
}

bool MallocHugePagesRequested() { return TunablesAskForHugePages(Tunables()); }

bool TunablesSetThresholds(std::string_view tunables) {
  return AnyEntry(tunables, [](std::string_view entry) {
    return entry.starts_with("glibc.malloc.trim_threshold=") ||
           entry.starts_with("glibc.malloc.mmap_threshold=");
  });
}

std::string SetMallocThresholds() {
  if (TunablesSetThresholds(Tunables())) {
    return "from GLIBC_TUNABLES";
  }
  // Sanitizers replace malloc and refuse mallopt: their allocator keeps its own settings.
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(kMallocTrimThreshold)) != 1 ||
      mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMallocMmapThreshold)) != 1) {
    return "the allocator's own (mallopt refused)";
  }
  return fmt::format("trim {} MiB, mmap {} MiB", kMallocTrimThreshold >> 20,
                     kMallocMmapThreshold >> 20);
}

}  // namespace aiops::common
