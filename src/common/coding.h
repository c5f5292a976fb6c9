// Fixed-width integer encodings used by the on-disk formats (docs/log_format.md,
// docs/export_format.md): little-endian for frame CRCs and lengths (as LevelDB), big-endian for
// keys and fields that must sort numerically. Pure; header-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aiops::common {

inline void AppendFixed32Le(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
  }
}

// `in` must hold at least 4 bytes.
inline uint32_t DecodeFixed32Le(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  }
  return v;
}

// Appends the low `bytes` bytes of `v`, most significant first.
inline void AppendBigEndian(std::string& out, uint64_t v, int bytes = 8) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
  }
}

// Decodes all of `in` (at most 8 bytes) as a big-endian integer.
inline uint64_t DecodeBigEndian(std::string_view in) {
  uint64_t v = 0;
  for (const char c : in) {
    v = (v << 8) | static_cast<uint8_t>(c);
  }
  return v;
}

}  // namespace aiops::common
