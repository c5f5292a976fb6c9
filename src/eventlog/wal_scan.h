// Diagnosis of a damaged RocksDB write-ahead log, for the message of a refused open and for
// `aiops log salvage`: RocksDB reports "Corruption: checksum mismatch" without naming the file or
// the place, and its public API has no WAL reader. The format read here is RocksDB's log format
// (LevelDB's, documented in RocksDB's wiki "Write Ahead Log File Format"): 32 KiB blocks of
// records, each with a 7-byte header (masked CRC32C of type and payload, 16-bit length, type) or,
// for recyclable logs, an 11-byte one that adds the log number to the CRC. Pure file reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aiops::eventlog {

struct WalDamage {
  std::string file;     // the log file's name within the folder, e.g. "000004.log"
  uint64_t offset = 0;  // of the first damaged record's header
  std::string what;     // "checksum mismatch", "record length runs past its block", ...
};

// The first damaged record of `contents` (one WAL file), or nullopt when every record checks
// out. An incomplete record at the very end is not damage (a write cut by a crash); neither are
// the zeros of preallocated space after the last record.
std::optional<WalDamage> FindWalDamageIn(std::string_view contents);

// The first damaged record of the WAL files (*.log) of the RocksDB folder `dir`, oldest first.
std::optional<WalDamage> FindWalDamage(const std::string& dir);

}  // namespace aiops::eventlog
