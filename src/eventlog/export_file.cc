#include "eventlog/export_file.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "common/coding.h"
#include "common/crc32c.h"
#include "common/fmt_absl.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "eventlog/record.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aiops::eventlog {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMagicSize = sizeof(kExportMagic) - 1;
static_assert(kMagicSize == 16);
constexpr size_t kHashHexSize = 64;
constexpr size_t kReadChunk = 4096;
constexpr size_t kWriteBuffer = 1 << 20;

// --- Byte helpers --------------------------------------------------------------------------------

// Reads fixed-size fields from a payload; every Take fails once the payload is exhausted.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : rest_(data) {}
  bool Take(size_t n, std::string_view& out) {
    if (rest_.size() < n) {
      return false;
    }
    out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool TakeBigEndian(size_t n, uint64_t& out) {
    std::string_view bytes;
    if (!Take(n, bytes)) {
      return false;
    }
    out = common::DecodeBigEndian(bytes);
    return true;
  }
  size_t remaining() const { return rest_.size(); }

 private:
  std::string_view rest_;
};

uint32_t FrameCrc(uint8_t type, std::string_view payload) {
  const uint32_t crc = common::crc32c::Extend(0, &type, 1);
  return common::crc32c::Extend(crc, payload.data(), payload.size());
}

void AppendFrame(std::string& out, uint8_t type, std::string_view payload) {
  common::AppendFixed32Le(out, common::crc32c::Mask(FrameCrc(type, payload)));
  common::AppendFixed32Le(out, static_cast<uint32_t>(payload.size()));
  out.push_back(static_cast<char>(type));
  out.append(payload);
}

std::string RawHash(std::string_view value) {
  const common::Sha256Digest hash = RecordHash(value);
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// A hash field: [length (1): 0 or 64][lower-case hex].
void PutHashField(std::string& out, const std::string& raw_hash) {
  const std::string hex = common::BytesToHex(raw_hash);
  out.push_back(static_cast<char>(hex.size()));
  out += hex;
}

// Parses a hash field into raw bytes; false when malformed.
bool TakeHashField(Cursor& cursor, std::string& raw_hash) {
  uint64_t size = 0;
  std::string_view hex;
  if (!cursor.TakeBigEndian(1, size) || (size != 0 && size != kHashHexSize) ||
      !cursor.Take(size, hex)) {
    return false;
  }
  raw_hash.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int byte = 0;
    for (size_t j = i; j < i + 2; ++j) {
      const char c = hex[j];
      int nibble = 0;
      if (c >= '0' && c <= '9') {
        nibble = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        nibble = c - 'a' + 10;
      } else {
        return false;
      }
      byte = byte * 16 + nibble;
    }
    raw_hash.push_back(static_cast<char>(byte));
  }
  return true;
}

std::string EncodeHeader(const ExportHeader& header) {
  std::string out(kExportMagic, kMagicSize);
  common::AppendBigEndian(out, header.format_version, 4);
  common::AppendBigEndian(out, header.anchor.first_sequence, 8);
  common::AppendBigEndian(out, header.count, 8);
  PutHashField(out, header.anchor.prev_hash);
  common::AppendBigEndian(out, header.cluster_id.size(), 2);
  out += header.cluster_id;
  return out;
}

std::string EncodeFooter(uint64_t count, const std::string& raw_last_hash) {
  std::string out;
  common::AppendBigEndian(out, count, 8);
  PutHashField(out, raw_last_hash);
  return out;
}

// --- Files ---------------------------------------------------------------------------------------

absl::Status ErrnoStatus(int err, const std::string& what) {
  const std::string message = fmt::format("{}: {}", what, std::generic_category().message(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoStatus(errno, fmt::format("writing {}", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectoryOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus(errno, fmt::format("opening directory {}", dir));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus(err, fmt::format("syncing directory {}", dir));
}

// Moves `from` to `to` unless `to` exists (an export is never overwritten).
absl::Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  if (errno != EINVAL && errno != ENOSYS) {
    return ErrnoStatus(errno, fmt::format("renaming {} to {}", from, to));
  }
  // The file system cannot refuse atomically: link (which never replaces), then unlink.
  if (::link(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(errno, fmt::format("linking {} to {}", from, to));
  }
  ::unlink(from.c_str());
  return absl::OkStatus();
}

// The temporary file of an export: removed unless committed.
class TempExportFile {
 public:
  explicit TempExportFile(std::string path) : path_(std::move(path)) {}
  ~TempExportFile() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    if (!committed_) {
      ::unlink(path_.c_str());
    }
  }
  TempExportFile(const TempExportFile&) = delete;
  TempExportFile& operator=(const TempExportFile&) = delete;

  absl::Status Open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd_ >= 0 ? absl::OkStatus() : ErrnoStatus(errno, fmt::format("creating {}", path_));
  }

  absl::Status Append(uint8_t type, std::string_view payload) {
    if (payload.size() > kExportMaxPayload) {
      return absl::InvalidArgumentError(
          fmt::format("a record of {} bytes exceeds the export format's limit of {} bytes",
                      payload.size(), kExportMaxPayload));
    }
    AppendFrame(buffer_, type, payload);
    bytes_ += kExportFrameHeaderSize + payload.size();
    if (buffer_.size() >= kWriteBuffer) {
      return Flush();
    }
    return absl::OkStatus();
  }

  // Flushes, fsyncs and closes the file, then renames it to `final_path` and syncs the folder.
  absl::Status Commit(const std::string& final_path) {
    AIOPS_RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) {
      return ErrnoStatus(errno, fmt::format("syncing {}", path_));
    }
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) {
      return ErrnoStatus(errno, fmt::format("closing {}", path_));
    }
    AIOPS_RETURN_IF_ERROR(RenameNoReplace(path_, final_path));
    committed_ = true;
    return SyncDirectoryOf(final_path);
  }

  uint64_t bytes() const { return bytes_; }

 private:
  absl::Status Flush() {
    AIOPS_RETURN_IF_ERROR(WriteAll(fd_, buffer_, path_));
    buffer_.clear();
    return absl::OkStatus();
  }

  const std::string path_;
  int fd_ = -1;
  bool committed_ = false;
  std::string buffer_;
  uint64_t bytes_ = 0;
};

// Checks one record read from the log during an export and advances the chain.
absl::Status CheckLogRecord(const RawRecord& record, uint64_t expected, std::string& prev_hash,
                            v1::Event* first_event) {
  if (record.sequence != expected) {
    return absl::DataLossError(fmt::format("the log has a gap: expected sequence {}, found {}",
                                           expected, record.sequence));
  }
  absl::StatusOr<v1::Event> event = DecodeRecord(record.value);
  if (!event.ok()) {
    return absl::Status(event.status().code(),
                        fmt::format("event {}: {}", record.sequence, event.status().message()));
  }
  if (event->sequence() != record.sequence) {
    return absl::DataLossError(
        fmt::format("event {}: the envelope says sequence {}", record.sequence, event->sequence()));
  }
  if (first_event != nullptr) {
    *first_event = *event;
  } else if (event->prev_hash() != prev_hash) {
    return absl::DataLossError(fmt::format(
        "event {}: hash chain broken (previous-hash {} but the previous record hashes to {})",
        record.sequence, common::BytesToHex(event->prev_hash()), common::BytesToHex(prev_hash)));
  }
  prev_hash = RawHash(record.value);
  return absl::OkStatus();
}

absl::StatusOr<ExportSummary> WriteExport(const EventLog& log, uint64_t from, uint64_t to,
                                          const Anchor& log_anchor, const std::string& path) {
  const uint64_t count = to + 1 - from;
  ExportHeader header;
  header.anchor.first_sequence = from;
  std::vector<RawRecord> chunk;
  std::string prev_hash;
  if (count > 0) {
    AIOPS_ASSIGN_OR_RETURN(chunk, log.ReadRaw(from, std::min<uint64_t>(kReadChunk, count)));
    if (chunk.empty()) {
      return absl::DataLossError(fmt::format("record {} is missing from the log", from));
    }
    v1::Event first;
    AIOPS_RETURN_IF_ERROR(CheckLogRecord(chunk[0], from, prev_hash, &first));
    if (from == log_anchor.first_sequence && first.prev_hash() != log_anchor.prev_hash) {
      return absl::DataLossError(fmt::format(
          "event {}: hash chain broken (previous-hash {} but the log's anchor is {})", from,
          common::BytesToHex(first.prev_hash()), common::BytesToHex(log_anchor.prev_hash)));
    }
    header.anchor.prev_hash = first.prev_hash();
    header.cluster_id = first.cluster_id();
  } else if (from == log_anchor.first_sequence) {
    header.anchor = log_anchor;
  } else {
    // An empty range after the start: the anchor is the hash of the record before it.
    AIOPS_ASSIGN_OR_RETURN(std::vector<RawRecord> before, log.ReadRaw(from - 1, 1));
    if (before.empty() || before[0].sequence != from - 1) {
      return absl::DataLossError(fmt::format("record {} is missing from the log", from - 1));
    }
    AIOPS_RETURN_IF_ERROR(CheckRecordFrame(before[0].value));
    header.anchor.prev_hash = RawHash(before[0].value);
  }
  if (count == 0) {
    prev_hash = header.anchor.prev_hash;
  }
  header.count = count;
  if (header.cluster_id.size() > 0xffff) {
    header.cluster_id.clear();  // not a cluster id anyone set on purpose; it is informational
  }

  TempExportFile file(path + ".tmp");
  AIOPS_RETURN_IF_ERROR(file.Open());
  AIOPS_RETURN_IF_ERROR(file.Append(kExportHeaderType, EncodeHeader(header)));
  uint64_t next = from;
  std::string payload;
  while (next <= to && count > 0) {
    if (chunk.empty()) {
      AIOPS_ASSIGN_OR_RETURN(chunk,
                             log.ReadRaw(next, std::min<uint64_t>(kReadChunk, to + 1 - next)));
      if (chunk.empty()) {
        return absl::DataLossError(
            fmt::format("the log ends before sequence {} (exporting up to {})", next, to));
      }
    }
    for (const RawRecord& record : chunk) {
      if (record.sequence != from) {  // the first record was checked above
        AIOPS_RETURN_IF_ERROR(CheckLogRecord(record, next, prev_hash, nullptr));
      }
      payload = EncodeSequenceKey(record.sequence);
      payload += record.value;
      AIOPS_RETURN_IF_ERROR(file.Append(kExportEventType, payload));
      ++next;
    }
    chunk.clear();
  }
  AIOPS_RETURN_IF_ERROR(file.Append(kExportFooterType, EncodeFooter(count, prev_hash)));
  AIOPS_RETURN_IF_ERROR(file.Commit(path));

  ExportSummary summary;
  summary.path = path;
  summary.anchor = header.anchor;
  summary.first_sequence = from;
  summary.last_sequence = to;
  summary.count = count;
  summary.bytes = file.bytes();
  summary.cluster_id = header.cluster_id;
  summary.last_hash_hex = common::BytesToHex(prev_hash);
  return summary;
}

// --- Reading -------------------------------------------------------------------------------------

absl::Status ParseHeader(const std::string& path, std::string_view payload, ExportHeader& header) {
  Cursor cursor(payload);
  std::string_view magic;
  if (!cursor.Take(kMagicSize, magic) || magic != std::string_view(kExportMagic, kMagicSize)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: offset 0: not an aiops log export (bad magic)", path));
  }
  uint64_t version = 0;
  if (!cursor.TakeBigEndian(4, version)) {
    return absl::InvalidArgumentError(fmt::format("{}: offset 0: header too short", path));
  }
  if (version != kExportFormatVersion) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: offset 0: export format version {} is not supported (this binary reads version {})",
        path, version, kExportFormatVersion));
  }
  header.format_version = static_cast<uint32_t>(version);
  uint64_t cluster_size = 0;
  std::string_view cluster;
  if (!cursor.TakeBigEndian(8, header.anchor.first_sequence) ||
      !cursor.TakeBigEndian(8, header.count) || !TakeHashField(cursor, header.anchor.prev_hash) ||
      !cursor.TakeBigEndian(2, cluster_size) || !cursor.Take(cluster_size, cluster) ||
      cursor.remaining() != 0) {
    return absl::InvalidArgumentError(fmt::format("{}: offset 0: malformed header", path));
  }
  header.cluster_id = std::string(cluster);
  const uint64_t first = header.anchor.first_sequence;
  if (first == 0 || header.count > std::numeric_limits<uint64_t>::max() - first) {
    return absl::InvalidArgumentError(
        fmt::format("{}: offset 0: header range is invalid (first sequence {}, {} events)", path,
                    first, header.count));
  }
  if ((first == 1) != header.anchor.prev_hash.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: offset 0: header anchor is invalid (first sequence {} with a {}-byte previous hash)",
        path, first, header.anchor.prev_hash.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExportSummary> ExportLog(const EventLog& log, uint64_t from, uint64_t to,
                                        const std::string& path) {
  if (path.empty()) {
    return absl::InvalidArgumentError("export path is empty");
  }
  const Anchor log_anchor = log.GetAnchor();
  const uint64_t last = log.LastSequence();
  if (from == kExportFromFirst) {
    from = log_anchor.first_sequence;
  }
  if (to == kExportToLast) {
    to = last;
  }
  if (from < log_anchor.first_sequence) {
    return absl::InvalidArgumentError(fmt::format(
        "cannot export from sequence {}: the log starts at {} (earlier records were pruned)", from,
        log_anchor.first_sequence));
  }
  if (to > last) {
    return absl::InvalidArgumentError(
        fmt::format("cannot export up to sequence {}: the log ends at {}", to, last));
  }
  if (from > to + 1) {
    return absl::InvalidArgumentError(
        fmt::format("cannot export from sequence {} to {}: the range is reversed", from, to));
  }
  std::error_code ec;
  if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) {
    return absl::AlreadyExistsError(
        fmt::format("{} already exists (an export is never overwritten)", path));
  }
  absl::StatusOr<ExportSummary> summary = WriteExport(log, from, to, log_anchor, path);
  if (!summary.ok()) {
    return absl::Status(summary.status().code(),
                        fmt::format("exporting to {}: {}", path, summary.status().message()));
  }
  return summary;
}

absl::StatusOr<ExportContents> ReadExportFile(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) {
    return ErrnoStatus(ec.value(), fmt::format("reading {}", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(fmt::format("cannot open {}", path));
  }
  if (size == 0) {
    return absl::DataLossError(
        fmt::format("{}: offset 0: torn tail: the file is empty (no header)", path));
  }

  ExportContents contents;
  contents.file_bytes = size;
  bool have_header = false;
  bool have_footer = false;
  std::string prev_hash;
  uint64_t offset = 0;
  std::string frame(kExportFrameHeaderSize, '\0');
  std::string payload;
  while (offset < size) {
    const uint64_t start = offset;
    // What a defect at offset 0 most likely means: the file is something else entirely.
    const std::string_view hint = start == 0 ? " (not an aiops log export?)" : "";
    if (have_footer) {
      return absl::DataLossError(fmt::format("{}: offset {}: {} unexpected bytes after the footer",
                                             path, start, size - start));
    }
    if (size - start < kExportFrameHeaderSize) {
      return absl::DataLossError(fmt::format(
          "{}: offset {}: torn tail: the file ends {} bytes into a record's {}-byte frame header",
          path, start, size - start, kExportFrameHeaderSize));
    }
    if (!in.read(frame.data(), static_cast<std::streamsize>(frame.size()))) {
      return absl::UnavailableError(fmt::format("{}: offset {}: read failed", path, start));
    }
    const uint32_t stored_crc = common::crc32c::Unmask(common::DecodeFixed32Le(frame));
    const uint32_t length = common::DecodeFixed32Le(std::string_view(frame).substr(4));
    const auto type = static_cast<uint8_t>(frame[8]);
    const uint64_t available = size - start - kExportFrameHeaderSize;
    if (length > kExportMaxPayload) {
      return absl::DataLossError(
          fmt::format("{}: offset {}: corrupt record: implausible payload length {}{}", path, start,
                      length, hint));
    }
    if (length > available) {
      return absl::DataLossError(fmt::format(
          "{}: offset {}: torn tail: the record declares {} payload bytes but the file ends {} "
          "bytes later",
          path, start, length, available));
    }
    payload.resize(length);
    if (!in.read(payload.data(), static_cast<std::streamsize>(length))) {
      return absl::UnavailableError(fmt::format("{}: offset {}: read failed", path, start));
    }
    offset = start + kExportFrameHeaderSize + length;
    if (FrameCrc(type, payload) != stored_crc) {
      return absl::DataLossError(fmt::format(
          "{}: offset {}: corrupt record: checksum mismatch (type {}, {} payload bytes){}", path,
          start, type, length, hint));
    }
    if (!have_header && type != kExportHeaderType) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: offset {}: the first record is of type {}, not a header (not an aiops log export)",
          path, start, type));
    }
    ExportHeader& header = contents.header;
    switch (type) {
      case kExportHeaderType:
        if (have_header) {
          return absl::DataLossError(fmt::format("{}: offset {}: a second header", path, start));
        }
        AIOPS_RETURN_IF_ERROR(ParseHeader(path, payload, header));
        have_header = true;
        prev_hash = header.anchor.prev_hash;
        break;
      case kExportEventType: {
        const uint64_t expected = header.anchor.first_sequence + contents.records.size();
        if (contents.records.size() >= header.count) {
          return absl::DataLossError(fmt::format(
              "{}: offset {}: more events than the header's count {}", path, start, header.count));
        }
        if (payload.size() < 8) {
          return absl::DataLossError(
              fmt::format("{}: offset {}: event record of {} bytes, shorter than its sequence",
                          path, start, payload.size()));
        }
        const uint64_t sequence = common::DecodeBigEndian(std::string_view(payload).substr(0, 8));
        if (sequence != expected) {
          return absl::DataLossError(fmt::format("{}: offset {}: expected event {}, found event {}",
                                                 path, start, expected, sequence));
        }
        RawRecord record{sequence, payload.substr(8)};
        absl::StatusOr<v1::Event> event = DecodeRecord(record.value);
        if (!event.ok()) {
          return absl::Status(event.status().code(),
                              fmt::format("{}: offset {}: event {}: {}", path, start, sequence,
                                          event.status().message()));
        }
        if (event->sequence() != sequence) {
          return absl::DataLossError(
              fmt::format("{}: offset {}: event {}: the envelope says sequence {}", path, start,
                          sequence, event->sequence()));
        }
        if (event->prev_hash() != prev_hash) {
          return absl::DataLossError(fmt::format(
              "{}: offset {}: event {}: hash chain broken (previous-hash {} but the previous "
              "record hashes to {})",
              path, start, sequence, common::BytesToHex(event->prev_hash()),
              common::BytesToHex(prev_hash)));
        }
        prev_hash = RawHash(record.value);
        contents.records.push_back(std::move(record));
        break;
      }
      case kExportFooterType: {
        Cursor cursor(payload);
        uint64_t count = 0;
        std::string last_hash;
        if (!cursor.TakeBigEndian(8, count) || !TakeHashField(cursor, last_hash) ||
            cursor.remaining() != 0) {
          return absl::DataLossError(fmt::format("{}: offset {}: malformed footer", path, start));
        }
        if (count != header.count || count != contents.records.size()) {
          return absl::DataLossError(fmt::format(
              "{}: offset {}: the footer counts {} events, the header {}, the file holds {}", path,
              start, count, header.count, contents.records.size()));
        }
        if (last_hash != prev_hash) {
          return absl::DataLossError(fmt::format(
              "{}: offset {}: the footer's last hash {} differs from the last record's {}", path,
              start, common::BytesToHex(last_hash), common::BytesToHex(prev_hash)));
        }
        have_footer = true;
        break;
      }
      default:
        return absl::DataLossError(
            fmt::format("{}: offset {}: unknown record type {}", path, start, type));
    }
  }
  if (!have_footer) {
    return absl::DataLossError(fmt::format(
        "{}: offset {}: torn tail: the file ends after {} of {} events, without a footer", path,
        size, contents.records.size(), contents.header.count));
  }
  contents.last_hash_hex = common::BytesToHex(prev_hash);
  return contents;
}

absl::Status ImportContents(ExportContents contents, RocksEventLog& log) {
  return log.AppendVerbatim(contents.header.anchor, std::move(contents.records));
}

absl::Status ImportLog(const std::string& path, RocksEventLog& log) {
  AIOPS_ASSIGN_OR_RETURN(ExportContents contents, ReadExportFile(path));
  absl::Status status = ImportContents(std::move(contents), log);
  if (!status.ok()) {
    return absl::Status(status.code(), fmt::format("importing {}: {}", path, status.message()));
  }
  return status;
}

}  // namespace aiops::eventlog
