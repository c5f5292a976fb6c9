#include "eventlog/wal_scan.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/coding.h"
#include "common/crc32c.h"

namespace aiops::eventlog {
namespace {

constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 7;             // crc (4), length (2), type (1)
constexpr size_t kRecyclableHeaderSize = 11;  // ... and the log number (4)
constexpr uint8_t kMaxLegacyType = 4;         // full, first, middle, last
constexpr uint8_t kFirstRecyclableType = 5;
constexpr uint8_t kLastRecyclableType = 8;
constexpr uint8_t kSetCompressionType = 9;

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

}  // namespace

std::optional<WalDamage> FindWalDamageIn(std::string_view contents) {
  for (size_t block = 0; block < contents.size(); block += kBlockSize) {
    const size_t end = std::min(block + kBlockSize, contents.size());
    size_t pos = block;
    while (end - pos >= kHeaderSize) {
      const std::string_view header = contents.substr(pos, kHeaderSize);
      if (AllZero(header)) {
        // Preallocated space or a block's trailer: only zeros may follow in this block.
        if (!AllZero(contents.substr(pos, end - pos))) {
          return WalDamage{"", pos, "bytes after an empty record header in its block"};
        }
        break;
      }
      const uint8_t type = static_cast<uint8_t>(header[6]);
      const size_t length = static_cast<size_t>(static_cast<unsigned char>(header[4])) |
                            (static_cast<size_t>(static_cast<unsigned char>(header[5])) << 8);
      const bool recyclable = type >= kFirstRecyclableType && type <= kLastRecyclableType;
      if (type == 0 || (type > kMaxLegacyType && !recyclable && type != kSetCompressionType)) {
        return WalDamage{"", pos, "unknown record type " + std::to_string(type)};
      }
      const size_t header_size = recyclable ? kRecyclableHeaderSize : kHeaderSize;
      if (pos + header_size + length > end) {
        if (pos + header_size + length > contents.size() && end == contents.size()) {
          return std::nullopt;  // the last record was cut short: a write that never completed
        }
        return WalDamage{"", pos, "record length runs past its block"};
      }
      // The CRC covers the type byte, then (recyclable) the log number, then the payload.
      const uint32_t expected = common::crc32c::Unmask(common::DecodeFixed32Le(header));
      const uint32_t actual = common::crc32c::Extend(
          common::crc32c::Extend(0, contents.data() + pos + 6, 1),
          contents.data() + pos + kHeaderSize, header_size - kHeaderSize + length);
      if (expected != actual) {
        return WalDamage{"", pos, "checksum mismatch"};
      }
      pos += header_size + length;
    }
    if (end - pos > 0 && end - pos < kHeaderSize && !AllZero(contents.substr(pos, end - pos))) {
      return WalDamage{"", pos, "a block's trailer is not zero"};
    }
  }
  return std::nullopt;
}

std::optional<WalDamage> FindWalDamage(const std::string& dir) {
  std::vector<std::filesystem::path> logs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".log") {
      logs.push_back(entry.path());
    }
  }
  std::sort(logs.begin(), logs.end());  // zero-padded numbers: name order is age order
  for (const std::filesystem::path& path : logs) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (std::optional<WalDamage> damage = FindWalDamageIn(bytes.str())) {
      damage->file = path.filename().string();
      return damage;
    }
  }
  return std::nullopt;
}

}  // namespace aiops::eventlog
