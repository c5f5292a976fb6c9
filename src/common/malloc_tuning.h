// The glibc malloc tuning the operator runs with (docs/operations.md, "Memory"): its heap on
// transparent huge pages, asked for through GLIBC_TUNABLES, which glibc reads at process start.
#pragma once

#include <string_view>

namespace aiops::common {

// The GLIBC_TUNABLES entry the operator's image sets.
inline constexpr char kMallocHugePagesTunable[] = "glibc.malloc.hugetlb=1";

// Whether `tunables` (GLIBC_TUNABLES' colon-separated list) holds kMallocHugePagesTunable.
bool TunablesAskForHugePages(std::string_view tunables);
// The same for this process's GLIBC_TUNABLES.
bool MallocHugePagesRequested();

}  // namespace aiops::common
