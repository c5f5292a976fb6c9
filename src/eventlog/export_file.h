// The export file of `aiops log export` / `aiops log import` (docs/export_format.md): a framed,
// checksummed copy of a range of the event log, with a header naming the chain anchor and a
// footer with the count and the last record's hash, so that a file can be verified on its own
// and imported into a fresh log (or appended to the log it continues) byte for byte.
// Depends on common, proto and the event log; touches only the file it is given.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "eventlog/event_log.h"
#include "eventlog/rocks_event_log.h"

namespace aiops::eventlog {

// Record types of the framing (docs/export_format.md).
inline constexpr uint8_t kExportHeaderType = 1;
inline constexpr uint8_t kExportEventType = 2;
inline constexpr uint8_t kExportFooterType = 3;
inline constexpr uint32_t kExportFormatVersion = 1;
inline constexpr char kExportMagic[] = "aiops-log-export";  // 16 bytes, no terminator stored
// [masked CRC32C (4, LE)][payload length (4, LE)][type (1)]
inline constexpr size_t kExportFrameHeaderSize = 9;
// No record is larger: a length beyond it is a corrupt length field, not a big record.
inline constexpr uint32_t kExportMaxPayload = 64U << 20;

// Range sentinels for ExportLog: the log's first and last sequences.
inline constexpr uint64_t kExportFromFirst = 0;
inline constexpr uint64_t kExportToLast = std::numeric_limits<uint64_t>::max();

struct ExportHeader {
  uint32_t format_version = kExportFormatVersion;
  std::string cluster_id;  // of the first exported event; empty when unknown
  // first_sequence: the first exported record; prev_hash: the hash that record links to.
  Anchor anchor;
  uint64_t count = 0;  // events in the file
};

struct ExportContents {
  ExportHeader header;
  std::vector<RawRecord> records;  // dense from header.anchor.first_sequence, verified
  std::string last_hash_hex;       // SHA-256 of the last record (the anchor's when empty)
  uint64_t file_bytes = 0;
};

struct ExportSummary {
  std::string path;
  Anchor anchor;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;  // first_sequence - 1 when count is 0
  uint64_t count = 0;
  uint64_t bytes = 0;
  std::string cluster_id;
  std::string last_hash_hex;
};

// Writes the records [from, to] of `log` to `path` (through path + ".tmp", fsynced, renamed;
// the directory is fsynced too). `from` may be kExportFromFirst and `to` kExportToLast; an
// empty range (from == to + 1) writes a file with no events. The records are checked while
// they are copied (density, frames, envelope sequences and the hash chain), so a damaged log is
// never exported silently. Errors: kInvalidArgument for a range outside the log, kAlreadyExists
// when `path` exists (an export is never overwritten), kDataLoss for a damaged record (naming
// its sequence), kUnavailable / kInternal for I/O failures. Nothing is left at `path` on error.
absl::StatusOr<ExportSummary> ExportLog(const EventLog& log, uint64_t from, uint64_t to,
                                        const std::string& path);

// Reads and fully verifies an export file: framing CRCs, header first and footer last, dense
// sequences, every record decodes and its envelope agrees with its sequence, the hash chain
// from the header's anchor, the footer's count and last hash, nothing after the footer.
// kDataLoss for a torn tail or a corrupt record, naming the byte offset (and the sequence once
// known); kInvalidArgument for a file that is not an export or of an unsupported version;
// kFailedPrecondition for an event of a payload type this binary does not know; kNotFound /
// kUnavailable when the file cannot be read.
absl::StatusOr<ExportContents> ReadExportFile(const std::string& path);

// Stores verified contents in `log` with RocksEventLog::AppendVerbatim: on an empty log the
// file's anchor becomes the log's; otherwise the records must continue the log's chain
// (kFailedPrecondition if not, and nothing is written).
absl::Status ImportContents(ExportContents contents, RocksEventLog& log);

// ReadExportFile, then ImportContents: a bad file writes nothing.
absl::Status ImportLog(const std::string& path, RocksEventLog& log);

}  // namespace aiops::eventlog
