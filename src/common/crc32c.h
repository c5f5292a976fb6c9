// CRC32C (Castagnoli), plus LevelDB-style masking for CRCs stored next to the data they cover.
// Pure; no dependencies. Neither absl 20220623 nor Debian 12 ships a CRC32C (RocksDB's is not in
// its public headers). On x86-64 CPUs with SSE4.2 the CRC32 instruction does the work (chosen
// once, at first use); elsewhere slicing-by-8 tables do. Both give the same values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace aiops::common::crc32c {

// Returns the CRC32C of `data` continued from `init_crc` (the CRC of the bytes before it).
uint32_t Extend(uint32_t init_crc, const void* data, size_t size);

inline uint32_t Value(std::string_view data) { return Extend(0, data.data(), data.size()); }

namespace internal {
// The two implementations behind Extend, for tests that compare them.
uint32_t ExtendPortable(uint32_t init_crc, const void* data, size_t size);
bool HardwareAvailable();
uint32_t ExtendHardware(uint32_t init_crc, const void* data, size_t size);  // needs the above
}  // namespace internal

// A CRC stored in the data it covers confuses a CRC of that data; masking avoids it (LevelDB).
inline uint32_t Mask(uint32_t crc) {
  constexpr uint32_t kMaskDelta = 0xa282ead8U;
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

inline uint32_t Unmask(uint32_t masked_crc) {
  constexpr uint32_t kMaskDelta = 0xa282ead8U;
  const uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace aiops::common::crc32c
