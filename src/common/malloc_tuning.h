// The glibc malloc tuning the operator runs with (docs/operations.md, "Memory"): its heap on
// transparent huge pages, asked for through GLIBC_TUNABLES, which glibc reads at process start;
// and heap thresholds that keep freed memory for reuse, set with mallopt when the process starts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aiops::common {

// The GLIBC_TUNABLES entry the operator's image sets.
inline constexpr char kMallocHugePagesTunable[] = "glibc.malloc.hugetlb=1";

// Whether `tunables` (GLIBC_TUNABLES' colon-separated list) holds kMallocHugePagesTunable.
bool TunablesAskForHugePages(std::string_view tunables);
// The same for this process's GLIBC_TUNABLES.
bool MallocHugePagesRequested();

// The runner allocates each group's events (a few hundred KiB) on its deciding thread and the
// log frees them on the committing thread. With glibc's defaults, the freed top of the heap is
// returned to the kernel after almost every group and the next group's allocation faults fresh
// (zeroed, on huge pages 2 MiB) pages back in, and the larger vectors are mmap'ed and unmapped
// each time: up to a tenth of the deciding thread's time in the storm benchmark. So freed heap
// memory is kept up to kMallocTrimThreshold, and allocations below kMallocMmapThreshold come from
// the heap.
inline constexpr size_t kMallocTrimThreshold = size_t{64} << 20;
inline constexpr size_t kMallocMmapThreshold = size_t{4} << 20;

// Whether `tunables` sets glibc.malloc.trim_threshold or glibc.malloc.mmap_threshold (then the
// person who set them decides, and SetMallocThresholds leaves both alone).
bool TunablesSetThresholds(std::string_view tunables);
// Sets the thresholds above with mallopt unless GLIBC_TUNABLES sets either; returns what the
// heap runs with, for the start-up log ("trim 64 MiB, mmap 4 MiB", "from GLIBC_TUNABLES", or the
// allocator's own under a sanitizer). `aiops` calls it first thing; calling it again is harmless.
std::string SetMallocThresholds();

}  // namespace aiops::common
