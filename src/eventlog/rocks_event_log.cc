#include "eventlog/rocks_event_log.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/check.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/fmt_absl.h"
#include "common/status_macros.h"
#include "eventlog/record.h"
#include "eventlog/wal_scan.h"

namespace aiops::eventlog {
namespace {

constexpr char kEventsCf[] = "events";
constexpr char kByIncidentCf[] = "by_incident";
constexpr char kMetaCf[] = "meta";
constexpr char kSnapshotsCf[] = "snapshots";
constexpr char kAnchorKey[] = "anchor";
constexpr char kLastSequenceKey[] = "last_sequence";
constexpr char kCursorPrefix[] = "cursor/";

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) {
    return absl::OkStatus();
  }
  const std::string message = fmt::format("{}: {}", what, s.ToString());
  if (s.IsNotFound()) {
    return absl::NotFoundError(message);
  }
  if (s.IsCorruption()) {
    return absl::DataLossError(message);
  }
  if (s.IsInvalidArgument()) {
    return absl::InvalidArgumentError(message);
  }
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

std::string EncodeAnchor(const Anchor& anchor) {
  return EncodeSequenceKey(anchor.first_sequence) + anchor.prev_hash;
}

absl::StatusOr<Anchor> DecodeAnchor(std::string_view value) {
  if (value.size() != 8 && value.size() != 8 + 32) {
    return absl::DataLossError(fmt::format("log anchor has {} bytes", value.size()));
  }
  return Anchor{common::DecodeBigEndian(value.substr(0, 8)), std::string(value.substr(8))};
}

// Snapshot value: [masked CRC32C of the rest (4)][sequence (8)][state version (4)][data].
std::string EncodeSnapshot(const Snapshot& snapshot) {
  std::string body = EncodeSequenceKey(snapshot.sequence);
  common::AppendBigEndian(body, snapshot.state_version, 4);
  body += snapshot.data;
  std::string value;
  common::AppendFixed32Le(value, common::crc32c::Mask(common::crc32c::Value(body)));
  return value + body;
}

absl::StatusOr<Snapshot> DecodeSnapshot(std::string_view value) {
  if (value.size() < 16) {
    return absl::DataLossError(fmt::format("snapshot value too short ({} bytes)", value.size()));
  }
  const uint32_t stored = common::DecodeFixed32Le(value);
  if (common::crc32c::Unmask(stored) != common::crc32c::Value(value.substr(4))) {
    return absl::DataLossError("snapshot checksum mismatch");
  }
  return Snapshot{common::DecodeBigEndian(value.substr(4, 8)),
                  static_cast<uint32_t>(common::DecodeBigEndian(value.substr(12, 4))),
                  std::string(value.substr(16))};
}

std::string IncidentKey(const std::string& incident_id, uint64_t sequence) {
  std::string key = incident_id;
  key.push_back('\0');
  return key + EncodeSequenceKey(sequence);
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// Reads of at least this many records use two threads (RecordPrefetch).
constexpr size_t kPrefetchMin = 256;

// A long read on two threads. The helper scans the log (RocksDB's iterator, the frame check, a
// copy of each value) while the reading thread parses the values already scanned, from the
// front; once its scan is done the helper parses too, from the back, until the two meet (a scan
// of table files takes about 0.4 of a parse). parse(index, sequence, value) is called once per
// scanned record, from either thread, never twice for one index. Of the bad records, the one
// with the lowest index is reported; a scan error comes after every parse error (it is further).
class RecordPrefetch {
 public:
  using ParseFn = std::function<absl::Status(size_t, uint64_t, std::string_view)>;

  // `scan(visit)` runs on the helper; `visit(sequence, value)` stores a record and returns a
  // status that stops the scan when not ok. At most `max_records` records.
  template <typename ScanFn>
  RecordPrefetch(size_t max_records, ScanFn scan, ParseFn parse) : parse_(std::move(parse)) {
    slots_.reserve(max_records);
    helper_ = std::thread([this, scan = std::move(scan)]() mutable {
      absl::Status status =
          scan([this](uint64_t sequence, std::string_view value) { return Add(sequence, value); });
      {
        absl::MutexLock lock(&mu_);
        scan_status_ = std::move(status);
        published_ = slots_.size();
        back_ = slots_.size();
        done_ = true;
      }
      ParseFromBack();
    });
  }
  ~RecordPrefetch() {
    stop_.store(true);
    helper_.join();
  }
  RecordPrefetch(const RecordPrefetch&) = delete;
  RecordPrefetch& operator=(const RecordPrefetch&) = delete;

  // Parses from the front until every scanned record is parsed (by either thread); returns the
  // number of records scanned, or the first error.
  absl::StatusOr<size_t> Run() {
    for (;;) {
      size_t begin = 0;
      size_t end = 0;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return published_ > front_ || (done_ && front_ >= back_);
        };
        mu_.Await(absl::Condition(&ready));
        if (front_ >= back_ || front_ >= error_index_) {
          break;  // the rest is the helper's, or past an error
        }
        begin = front_;
        end = std::min({published_, back_, front_ + kClaim});
        front_ = end;
      }
      ParseRange(begin, end);
    }
    absl::MutexLock lock(&mu_);
    auto parsed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return helper_parsed_; };
    mu_.Await(absl::Condition(&parsed));
    if (!parse_status_.ok()) {
      return parse_status_;
    }
    if (!scan_status_.ok()) {
      return scan_status_;
    }
    return slots_.size();
  }

 private:
  static constexpr size_t kPublishEvery = 64;
  static constexpr size_t kClaim = 64;
  static constexpr size_t kStorageBlock = 60 << 10;  // below malloc's mmap threshold
  struct Slot {
    uint64_t sequence;
    const char* data;
    size_t size;
  };

  // On the helper: copies the record (the iterator's buffers change as it moves on) and publishes
  // every kPublishEvery records.
  absl::Status Add(uint64_t sequence, std::string_view value) {
    if (stop_.load(std::memory_order_relaxed)) {
      return absl::CancelledError("the reader stopped");
    }
    AIOPS_CHECK(slots_.size() < slots_.capacity());  // slots never move
    if (storage_.empty() || storage_used_ + value.size() > storage_size_) {
      storage_size_ = std::max(kStorageBlock, value.size());
      storage_.push_back(std::make_unique_for_overwrite<char[]>(storage_size_));
      storage_used_ = 0;
    }
    char* const copy = storage_.back().get() + storage_used_;
    std::memcpy(copy, value.data(), value.size());
    storage_used_ += value.size();
    slots_.push_back(Slot{sequence, copy, value.size()});
    if (slots_.size() % kPublishEvery == 0) {
      absl::MutexLock lock(&mu_);
      published_ = slots_.size();
    }
    return absl::OkStatus();
  }

  // On the helper, after the scan: claims chunks from the back until the threads meet.
  void ParseFromBack() {
    for (;;) {
      size_t begin = 0;
      size_t end = 0;
      {
        absl::MutexLock lock(&mu_);
        if (back_ <= front_) {
          helper_parsed_ = true;
          return;
        }
        end = back_;
        begin = back_ - std::min(kClaim, back_ - front_);
        back_ = begin;
      }
      ParseRange(begin, end);
    }
  }

  // Parses [begin, end); stops at a bad record (and tells the scan to stop).
  void ParseRange(size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const Slot& slot = slots_[i];
      absl::Status s = parse_(i, slot.sequence, std::string_view(slot.data, slot.size));
      if (!s.ok()) {
        stop_.store(true);  // records after this one are not needed
        absl::MutexLock lock(&mu_);
        if (i < error_index_) {
          error_index_ = i;
          parse_status_ = std::move(s);
        }
        return;
      }
    }
  }

  const ParseFn parse_;
  // Appended by the helper only; the first `published_` are read by both threads.
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<char[]>> storage_;
  size_t storage_size_ = 0;
  size_t storage_used_ = 0;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  size_t published_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status scan_status_ ABSL_GUARDED_BY(mu_);
  size_t front_ ABSL_GUARDED_BY(mu_) = 0;        // [0, front_) claimed by the reading thread
  size_t back_ ABSL_GUARDED_BY(mu_) = SIZE_MAX;  // [back_, end) claimed by the helper once done
  bool helper_parsed_ ABSL_GUARDED_BY(mu_) = false;
  size_t error_index_ ABSL_GUARDED_BY(mu_) = SIZE_MAX;
  absl::Status parse_status_ ABSL_GUARDED_BY(mu_);
  std::thread helper_;  // last: started once everything above is initialized
};

}  // namespace

struct RocksEventLog::PendingAppend {
  PreparedBatch events;
  // Import: records stored verbatim instead of `events`, and the anchor for an empty log.
  std::vector<RawRecord> verbatim;
  std::optional<Anchor> anchor;
  absl::Status status;
  SequenceRange range;
  bool done = false;
};

struct RocksEventLog::Handles {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;  // default, events, by_incident, meta, snapshots
  ~Handles() {
    for (rocksdb::ColumnFamilyHandle* h : cfs) {
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();  // why: closing; nothing to do
    }
  }
  rocksdb::ColumnFamilyHandle* events() const { return cfs[1]; }
  rocksdb::ColumnFamilyHandle* by_incident() const { return cfs[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return cfs[3]; }
  rocksdb::ColumnFamilyHandle* snapshots() const { return cfs[4]; }
};

RocksEventLog::RocksEventLog(RocksLogOptions options) : options_(std::move(options)) {}

namespace {

// A file of `dir` that only a RocksDB database holds (its name), if any.
std::optional<std::string> ADataFile(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string ext = entry.path().extension().string();
    if (name.rfind("MANIFEST-", 0) == 0 || name.rfind("OPTIONS-", 0) == 0 || name == "IDENTITY" ||
        ext == ".sst" || ext == ".log") {
      return name;
    }
  }
  return std::nullopt;
}

// The MANIFEST file that `dir`'s CURRENT names, when it is missing.
std::optional<std::string> MissingManifest(const std::string& dir) {
  std::ifstream in(std::filesystem::path(dir) / "CURRENT");
  std::string name;
  if (!in || !std::getline(in, name) || name.empty()) {
    return std::nullopt;  // no CURRENT (handled on its own), or RocksDB reports its damage
  }
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / name, ec) ? std::nullopt
                                                                        : std::optional(name);
}

// The error for an open RocksDB refused as corrupt, with what a person needs: where the damage
// is (RocksDB's message names an SST file and offset, not a write-ahead log's) and which records
// are intact (a read-only open that stops before the damage; it changes no file).
absl::Status CorruptionOnOpen(const RocksLogOptions& options, const rocksdb::Status& s) {
  std::string where = s.ToString();
  if (std::optional<WalDamage> damage = FindWalDamage(options.path)) {
    where = fmt::format("the write-ahead log {} is damaged at byte {} ({})", damage->file,
                        damage->offset, damage->what);
  }
  std::string intact;
  if (!options.salvage_wal_prefix) {
    RocksLogOptions probe = options;
    probe.mode = RocksLogOptions::Mode::kReadOnly;
    probe.open_check = RocksLogOptions::OpenCheck::kEndsOnly;
    probe.salvage_wal_prefix = true;
    absl::StatusOr<std::unique_ptr<RocksEventLog>> prefix = RocksEventLog::Open(probe);
    if (prefix.ok()) {
      intact = (*prefix)->LastSequence() == 0
                   ? "; no record before the damage is intact"
                   : fmt::format(
                         "; the records up to sequence {} are intact, the later ones "
                         "cannot be read",
                         (*prefix)->LastSequence());
    }
  }
  return absl::DataLossError(
      fmt::format("event log {}: {}{}. The log was not opened and nothing was changed (see `aiops "
                  "log salvage`)",
                  options.path, where, intact));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksEventLog>> RocksEventLog::Open(const RocksLogOptions& options) {
  using Mode = RocksLogOptions::Mode;
  if (options.path.empty()) {
    return absl::InvalidArgumentError("event log path is empty");
  }
  if (options.mode != Mode::kReadWrite &&
      !std::filesystem::exists(std::filesystem::path(options.path) / "CURRENT")) {
    return absl::NotFoundError(fmt::format("no event log at {}", options.path));
  }
  if (options.mode == Mode::kSecondary && options.secondary_path.empty()) {
    return absl::InvalidArgumentError("secondary mode needs a secondary_path");
  }
  if (std::optional<std::string> missing = MissingManifest(options.path)) {
    return absl::DataLossError(fmt::format(
        "event log {}: CURRENT names {}, which is missing. The log was not opened and nothing was "
        "changed (see `aiops log salvage`)",
        options.path, *missing));
  }
  // Without CURRENT, RocksDB would create a new, empty database beside the old files (and the
  // next start would use it): a folder that holds data files but no CURRENT is refused as it is.
  if (options.mode == Mode::kReadWrite &&
      !std::filesystem::exists(std::filesystem::path(options.path) / "CURRENT")) {
    if (std::optional<std::string> file = ADataFile(options.path)) {
      return absl::DataLossError(fmt::format(
          "event log {} holds RocksDB data ({}) but no CURRENT file: it was deleted or damaged. "
          "The log was not opened and nothing was changed (see `aiops log salvage`)",
          options.path, *file));
    }
  }
  std::unique_ptr<RocksEventLog> log(new RocksEventLog(options));
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.mode == Mode::kReadWrite;
  db_options.create_missing_column_families = options.mode == Mode::kReadWrite;
  // A damaged record anywhere in the write-ahead log is an error: point-in-time recovery would
  // silently keep only the records before it (the acknowledged ones after it lost for good, and
  // the next append continuing the chain over the gap). Only an incomplete record at the very
  // end is tolerated: a write that was cut by a crash was never acknowledged (appends are
  // acknowledged after their synced write returns).
  db_options.wal_recovery_mode = options.salvage_wal_prefix
                                     ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  if (options.mode == Mode::kSecondary) {
    db_options.max_open_files = -1;  // required by secondary instances
  }
  // Every append rewrites the last-sequence key of the meta family: updated in place, it costs a
  // lookup in a one-key memtable instead of a new skip-list node per write (which made RocksDB's
  // share of an append 1.4x a raw put's). In-place updates need memtable writes from one thread,
  // which the log's single group-commit leader is anyway.
  db_options.allow_concurrent_memtable_write = false;
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::ColumnFamilyOptions meta_options;
  meta_options.inplace_update_support = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kEventsCf, kByIncidentCf,
                           kMetaCf, kSnapshotsCf}) {
    descriptors.emplace_back(name, std::string(name) == kMetaCf ? meta_options : cf_options);
  }
  auto handles = std::make_unique<Handles>();
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  switch (options.mode) {
    case Mode::kReadWrite:
      s = rocksdb::DB::Open(db_options, options.path, descriptors, &handles->cfs, &db);
      break;
    case Mode::kReadOnly:
      s = rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &handles->cfs, &db);
      break;
    case Mode::kSecondary:
      s = rocksdb::DB::OpenAsSecondary(db_options, options.path, options.secondary_path,
                                       descriptors, &handles->cfs, &db);
      break;
  }
  if (s.IsCorruption()) {
    return CorruptionOnOpen(options, s);
  }
  if (!s.ok()) {
    const absl::Status status = FromRocks(s, fmt::format("opening event log {}", options.path));
    return s.IsIOError() && s.ToString().find("lock") != std::string::npos
               ? absl::UnavailableError(fmt::format(
                     "{} (another process holds it; open it read-only or as a secondary)",
                     status.message()))
               : status;
  }
  handles->db.reset(db);
  log->db_ = db;
  log->handles_ = std::move(handles);
  AIOPS_RETURN_IF_ERROR(log->Load());
  if (options.open_check == RocksLogOptions::OpenCheck::kChain) {
    AIOPS_RETURN_IF_ERROR(VerifyLog(*log).status());
  }
  return log;
}

absl::StatusOr<RocksEventLog::Meta> RocksEventLog::ReadMeta() const {
  Meta meta;
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_->meta(), kAnchorKey, &value);
  if (s.ok()) {
    AIOPS_ASSIGN_OR_RETURN(meta.anchor, DecodeAnchor(value));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading the log anchor");
  }
  s = db_->Get(rocksdb::ReadOptions(), handles_->meta(), kLastSequenceKey, &value);
  if (s.ok()) {
    if (value.size() != 8) {
      return absl::DataLossError(fmt::format("last-sequence metadata has {} bytes", value.size()));
    }
    meta.last_sequence = common::DecodeBigEndian(value);
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading the last sequence");
  }
  return meta;
}

absl::Status RocksEventLog::Load() {
  AIOPS_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  const Anchor& anchor = meta.anchor;
  ChainState chain{anchor.first_sequence - 1, anchor.prev_hash};
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_->events()));
  std::string last_value;
  if (options_.open_check == RocksLogOptions::OpenCheck::kEndsOnly) {
    it->SeekToFirst();
    if (it->Valid()) {
      AIOPS_ASSIGN_OR_RETURN(const uint64_t first, DecodeSequenceKey(View(it->key())));
      if (first != anchor.first_sequence) {
        return absl::DataLossError(fmt::format(
            "the log starts at sequence {} but its anchor says {}", first, anchor.first_sequence));
      }
      it->SeekToLast();
      AIOPS_ASSIGN_OR_RETURN(chain.last_sequence, DecodeSequenceKey(View(it->key())));
      last_value.assign(it->value().data(), it->value().size());
      if (absl::Status frame = CheckRecordFrame(last_value); !frame.ok()) {
        return absl::DataLossError(fmt::format("event log {}: event {}: {}", options_.path,
                                               chain.last_sequence, frame.message()));
      }
    }
  } else {
    // Every key must follow the previous one and every frame must check out: a gap or a corrupt
    // record is reported with its sequence, never skipped.
    uint64_t expected = anchor.first_sequence;
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++expected) {
      absl::StatusOr<uint64_t> sequence = DecodeSequenceKey(View(it->key()));
      if (!sequence.ok()) {
        return absl::DataLossError(fmt::format("event log {}: after sequence {}: {}", options_.path,
                                               expected - 1, sequence.status().message()));
      }
      if (*sequence != expected) {
        return absl::DataLossError(fmt::format("event log {}: gap: expected sequence {}, found {}",
                                               options_.path, expected, *sequence));
      }
      if (absl::Status frame = CheckRecordFrame(View(it->value())); !frame.ok()) {
        return absl::DataLossError(
            fmt::format("event log {}: event {}: {}", options_.path, *sequence, frame.message()));
      }
      chain.last_sequence = *sequence;
    }
    if (chain.last_sequence >= anchor.first_sequence) {
      it->SeekToLast();
      last_value.assign(it->value().data(), it->value().size());
    }
  }
  AIOPS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning the event log"));
  if (!last_value.empty()) {
    const common::Sha256Digest hash = RecordHash(last_value);
    chain.last_hash.assign(reinterpret_cast<const char*>(hash.data()), hash.size());
  }
  if (meta.last_sequence.has_value() && *meta.last_sequence != chain.last_sequence) {
    return absl::DataLossError(fmt::format(
        "event log {}: metadata says the last sequence is {} but the last record is {}: records "
        "are missing",
        options_.path, *meta.last_sequence, chain.last_sequence));
  }
  chain_ = chain;
  absl::MutexLock lock(&mu_);
  anchor_ = anchor;
  last_sequence_ = chain.last_sequence;
  return absl::OkStatus();
}

RocksEventLog::~RocksEventLog() = default;

absl::StatusOr<SequenceRange> RocksEventLog::Append(std::vector<v1::Event> events) {
  if (options_.mode != RocksLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("the event log is open read-only");
  }
  PendingAppend pending;
  AIOPS_RETURN_IF_ERROR(PrepareForAppend(events, options_.limits, pending.events));
  events.clear();  // freed here, on the caller's thread, not while holding the write path
  return Enqueue(pending);
}

absl::StatusOr<SequenceRange> RocksEventLog::Enqueue(PendingAppend& pending) {
  absl::MutexLock lock(&mu_);
  if (!fatal_.ok()) {
    return absl::Status(
        fatal_.code(),
        fmt::format("the event log refuses appends after a failed write: {}", fatal_.message()));
  }
  if (queue_.size() >= options_.max_pending_appends) {
    return absl::ResourceExhaustedError(
        fmt::format("event log write queue is full ({} appends pending)", queue_.size()));
  }
  // Group commit with a leader (as LevelDB and RocksDB write): the append at the front of the
  // queue commits itself and whatever queued behind it in one write, then hands the front to the
  // next waiter. A lone caller commits on its own thread with no hand-off; only one leader runs
  // at a time, so sequences and hashes are still assigned in one place.
  queue_.push_back(&pending);
  auto done_or_leader = [this, &pending]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pending.done || queue_.front() == &pending;
  };
  mu_.Await(absl::Condition(&done_or_leader));
  if (!pending.done) {
    LeadGroup();
  }
  if (!pending.status.ok()) {
    return pending.status;
  }
  return pending.range;
}

void RocksEventLog::LeadGroup() {
  auto queued_events = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t n = 0;
    for (const PendingAppend* p : queue_) {
      n += p->events.size() + p->verbatim.size();
    }
    return n;
  };
  if (options_.group_commit_max_delay > absl::ZeroDuration()) {
    auto full = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return queued_events() >= options_.group_commit_max_events;
    };
    mu_.AwaitWithTimeout(absl::Condition(&full), options_.group_commit_max_delay);
  }
  // Take whole appends, up to the group limit (at least one); an import goes alone. The group
  // stays at the front of the queue while it commits, so no other leader starts.
  std::vector<PendingAppend*> group;
  size_t events = 0;
  for (PendingAppend* next : queue_) {
    const bool is_import = !next->verbatim.empty();
    if (!group.empty() && (is_import || !group[0]->verbatim.empty() ||
                           events + next->events.size() > options_.group_commit_max_events)) {
      break;
    }
    group.push_back(next);
    events += next->events.size() + next->verbatim.size();
  }
  mu_.Unlock();
  const absl::Status status = CommitGroup(group);
  mu_.Lock();
  if (status.ok()) {
    last_sequence_ = chain_.last_sequence;
    if (pending_anchor_.has_value()) {
      anchor_ = *pending_anchor_;
      pending_anchor_.reset();
    }
  } else if (status.code() != absl::StatusCode::kFailedPrecondition) {
    fatal_ = status;
  }
  for (PendingAppend* p : group) {
    if (!status.ok()) {
      p->status = status;
    }
    p->done = true;
    queue_.pop_front();
  }
}

absl::Status RocksEventLog::CommitGroup(std::vector<PendingAppend*>& group) {
  ChainState next = chain_;
  std::optional<Anchor> new_anchor;
  // Sized once: growing the batch's buffer put by put would copy it about log2(size) times.
  // Per record at most: a put's tag, column family, key and value lengths (1 + 5 + 5 + 5), the
  // key (8), the frame, sequence and previous hash (50); an index put adds about as much again.
  constexpr size_t kPerRecord = 16 + 8 + 50;
  size_t reserve = 64;  // the batch header and the last-sequence and anchor puts
  for (const PendingAppend* p : group) {
    reserve += p->events.buffer.size() + 2 * kPerRecord * p->events.size();
    for (const RawRecord& record : p->verbatim) {
      reserve += record.value.size() + kPerRecord;
    }
  }
  rocksdb::WriteBatch batch(reserve);
  for (PendingAppend* p : group) {
    if (p->verbatim.empty()) {
      p->range.first = next.last_sequence + 1;
      ChainAndEncode(
          p->events, next,
          [&](uint64_t sequence, std::string_view value, std::string_view incident) {
            const std::string key = EncodeSequenceKey(sequence);
            batch.Put(handles_->events(), key, rocksdb::Slice(value.data(), value.size()));
            if (!incident.empty()) {
              batch.Put(handles_->by_incident(), IncidentKey(std::string(incident), sequence), "");
            }
          });
      p->range.last = next.last_sequence;
    } else {
      // Import: the records must continue this log's chain, or start an empty log.
      const bool empty = next.last_sequence == 0 && next.last_hash.empty();
      if (empty && p->anchor.has_value()) {
        next = ChainState{p->anchor->first_sequence - 1, p->anchor->prev_hash};
        new_anchor = p->anchor;
      }
      p->range.first = next.last_sequence + 1;
      for (RawRecord& record : p->verbatim) {
        absl::StatusOr<v1::Event> event = DecodeRecord(record.value);
        if (!event.ok() || record.sequence != next.last_sequence + 1 ||
            event->prev_hash() != next.last_hash) {
          return absl::FailedPreconditionError(
              fmt::format("imported record {} does not continue this log (its last sequence is {})",
                          record.sequence, next.last_sequence));
        }
        if (!event->incident_id().empty()) {
          batch.Put(handles_->by_incident(), IncidentKey(event->incident_id(), record.sequence),
                    "");
        }
        const common::Sha256Digest hash = RecordHash(record.value);
        next.last_hash.assign(reinterpret_cast<const char*>(hash.data()), hash.size());
        next.last_sequence = record.sequence;
      }
      for (const RawRecord& record : p->verbatim) {
        batch.Put(handles_->events(), EncodeSequenceKey(record.sequence), record.value);
      }
      p->range.last = next.last_sequence;
    }
  }
  batch.Put(handles_->meta(), kLastSequenceKey, EncodeSequenceKey(next.last_sequence));
  if (new_anchor.has_value()) {
    batch.Put(handles_->meta(), kAnchorKey, EncodeAnchor(*new_anchor));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  AIOPS_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "writing to the event log"));
  chain_ = next;
  pending_anchor_ = new_anchor;
  return absl::OkStatus();
}

absl::Status RocksEventLog::AppendVerbatim(const Anchor& anchor, std::vector<RawRecord> records) {
  if (options_.mode != RocksLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("the event log is open read-only");
  }
  if (records.empty()) {
    return absl::OkStatus();
  }
  PendingAppend pending;
  pending.verbatim = std::move(records);
  pending.anchor = anchor;
  return Enqueue(pending).status();
}

uint64_t RocksEventLog::FirstSequence() const {
  absl::MutexLock lock(&mu_);
  return anchor_.first_sequence;
}

uint64_t RocksEventLog::LastSequence() const {
  absl::MutexLock lock(&mu_);
  return last_sequence_;
}

Anchor RocksEventLog::GetAnchor() const {
  absl::MutexLock lock(&mu_);
  return anchor_;
}

template <typename Visit>
absl::Status RocksEventLog::Scan(uint64_t from, size_t max_count, Visit&& visit) const {
  // Only what was acknowledged: a record being committed is invisible until its group is.
  const uint64_t last = LastSequence();
  if (from > last || max_count == 0) {
    return absl::OkStatus();
  }
  rocksdb::ReadOptions read_options;
  if (max_count > 64) {
    read_options.readahead_size = 2 << 20;  // long sequential scans (replay, export, verify)
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, handles_->events()));
  size_t count = 0;
  for (it->Seek(EncodeSequenceKey(from)); it->Valid() && count < max_count; it->Next(), ++count) {
    AIOPS_ASSIGN_OR_RETURN(const uint64_t sequence, DecodeSequenceKey(View(it->key())));
    if (sequence > last) {
      break;
    }
    AIOPS_RETURN_IF_ERROR(visit(sequence, View(it->value())));
  }
  return FromRocks(it->status(), "reading the event log");
}

size_t RocksEventLog::ExpectedCount(uint64_t from, size_t max_count) const {
  const uint64_t last = LastSequence();
  return from > last ? 0 : static_cast<size_t>(std::min<uint64_t>(max_count, last - from + 1));
}

absl::StatusOr<std::vector<RawRecord>> RocksEventLog::ReadRaw(uint64_t from,
                                                              size_t max_count) const {
  std::vector<RawRecord> out;
  out.reserve(ExpectedCount(from, max_count));
  AIOPS_RETURN_IF_ERROR(Scan(from, max_count, [&](uint64_t sequence, std::string_view value) {
    out.push_back(RawRecord{sequence, std::string(value)});
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Event>> RocksEventLog::Read(uint64_t from, size_t max_count) const {
  // At most this many records (Scan stops there even if more are acknowledged meanwhile).
  const size_t expected = ExpectedCount(from, max_count);
  std::vector<v1::Event> out;
  out.reserve(expected);
  // Parsed in place: no event is moved, and the vector never grows.
  auto named = [](uint64_t sequence, const absl::Status& s) {
    return absl::Status(s.code(), fmt::format("event {}: {}", sequence, s.message()));
  };
  if (expected < kPrefetchMin) {
    AIOPS_RETURN_IF_ERROR(Scan(from, expected, [&](uint64_t sequence, std::string_view value) {
      absl::Status s = DecodeRecordInto(value, out.emplace_back());
      return s.ok() ? s : named(sequence, s);
    }));
    return out;
  }
  // Long reads (replay, catch-up) scan and frame-check on a helper thread while this one parses,
  // and the helper parses too once its scan is done.
  out.resize(expected);
  RecordPrefetch prefetch(
      expected,
      [&](auto visit) {
        return Scan(from, expected, [&](uint64_t sequence, std::string_view value) {
          absl::Status s = CheckRecordFrame(value);
          return s.ok() ? visit(sequence, value) : named(sequence, s);
        });
      },
      [&](size_t index, uint64_t sequence, std::string_view value) {
        absl::Status s = ParseCheckedRecord(value, out[index]);
        return s.ok() ? s : named(sequence, s);
      });
  AIOPS_ASSIGN_OR_RETURN(const size_t scanned, prefetch.Run());
  out.resize(scanned);
  return out;
}

absl::StatusOr<std::vector<uint64_t>> RocksEventLog::IncidentSequences(
    const std::string& incident_id) const {
  std::string prefix = incident_id;
  prefix.push_back('\0');
  std::vector<uint64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_->by_incident()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string_view key = View(it->key());
    out.push_back(common::DecodeBigEndian(key.substr(prefix.size())));
  }
  AIOPS_RETURN_IF_ERROR(FromRocks(it->status(), "reading the incident index"));
  return out;
}

uint64_t RocksEventLog::WaitForSequence(uint64_t sequence, absl::Duration timeout) const {
  if (options_.mode == RocksLogOptions::Mode::kReadWrite) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, sequence]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return last_sequence_ >= sequence; };
    mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
    return last_sequence_;
  }
  // Read-only and secondary logs see another process's appends only by polling.
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (options_.mode == RocksLogOptions::Mode::kSecondary) {
      CatchUp().IgnoreError();  // why: a failed catch-up is retried on the next poll
    }
    const uint64_t last = LastSequence();
    if (last >= sequence || absl::Now() >= deadline) {
      return last;
    }
    absl::SleepFor(std::min(absl::Milliseconds(50), deadline - absl::Now()));
  }
}

absl::Status RocksEventLog::CatchUp() const {
  if (options_.mode != RocksLogOptions::Mode::kSecondary) {
    return absl::OkStatus();
  }
  AIOPS_RETURN_IF_ERROR(FromRocks(db_->TryCatchUpWithPrimary(), "catching up with the primary"));
  return RefreshTail();
}

absl::Status RocksEventLog::RefreshTail() const {
  AIOPS_ASSIGN_OR_RETURN(const Meta meta, ReadMeta());
  absl::MutexLock lock(&mu_);
  anchor_ = meta.anchor;
  last_sequence_ = meta.last_sequence.value_or(meta.anchor.first_sequence - 1);
  return absl::OkStatus();
}

absl::Status RocksEventLog::Prune(uint64_t before_sequence) {
  if (options_.mode != RocksLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("the event log is open read-only");
  }
  const Anchor old_anchor = GetAnchor();
  const uint64_t last = LastSequence();
  if (before_sequence <= old_anchor.first_sequence) {
    return absl::OkStatus();
  }
  if (before_sequence > last + 1) {
    return absl::InvalidArgumentError(
        fmt::format("cannot prune before {}: the log ends at {}", before_sequence, last));
  }
  // Prune runs beside appends without joining the write queue: it only deletes records below
  // the last one and moves the anchor, which appends never touch (an import sets the anchor only
  // on an empty log, where there is nothing to prune).
  // The new anchor keeps the hash of the last pruned record: verify starts from it.
  AIOPS_ASSIGN_OR_RETURN(std::vector<RawRecord> boundary, ReadRaw(before_sequence - 1, 1));
  if (boundary.empty() || boundary[0].sequence != before_sequence - 1) {
    return absl::DataLossError(fmt::format("record {} is missing", before_sequence - 1));
  }
  const common::Sha256Digest hash = RecordHash(boundary[0].value);
  Anchor anchor{before_sequence,
                std::string(reinterpret_cast<const char*>(hash.data()), hash.size())};
  rocksdb::WriteBatch batch;
  for (uint64_t from = old_anchor.first_sequence; from < before_sequence;) {
    AIOPS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                           Read(from, std::min<uint64_t>(4096, before_sequence - from)));
    if (events.empty()) {
      break;
    }
    for (const v1::Event& event : events) {
      if (!event.incident_id().empty()) {
        batch.Delete(handles_->by_incident(), IncidentKey(event.incident_id(), event.sequence()));
      }
    }
    from = events.back().sequence() + 1;
  }
  batch.DeleteRange(handles_->events(), EncodeSequenceKey(old_anchor.first_sequence),
                    EncodeSequenceKey(before_sequence));
  batch.Put(handles_->meta(), kAnchorKey, EncodeAnchor(anchor));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  AIOPS_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "pruning the event log"));
  absl::MutexLock lock(&mu_);
  anchor_ = anchor;
  return absl::OkStatus();
}

absl::Status RocksEventLog::PutSnapshot(const std::string& name, const Snapshot& snapshot) {
  if (options_.mode != RocksLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("the event log is open read-only");
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  return FromRocks(db_->Put(write_options, handles_->snapshots(), name, EncodeSnapshot(snapshot)),
                   fmt::format("writing snapshot {}", name));
}

absl::StatusOr<std::optional<Snapshot>> RocksEventLog::GetSnapshot(const std::string& name) const {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_->snapshots(), name, &value);
  if (s.IsNotFound()) {
    return std::nullopt;
  }
  AIOPS_RETURN_IF_ERROR(FromRocks(s, fmt::format("reading snapshot {}", name)));
  absl::StatusOr<Snapshot> snapshot = DecodeSnapshot(value);
  if (!snapshot.ok()) {
    return absl::DataLossError(fmt::format("snapshot {}: {}", name, snapshot.status().message()));
  }
  return std::optional<Snapshot>(*std::move(snapshot));
}

absl::Status RocksEventLog::PutCursor(const std::string& follower, uint64_t sequence) {
  if (options_.mode != RocksLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("the event log is open read-only");
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  return FromRocks(db_->Put(write_options, handles_->meta(), kCursorPrefix + follower,
                            EncodeSequenceKey(sequence)),
                   fmt::format("writing cursor {}", follower));
}

absl::StatusOr<uint64_t> RocksEventLog::GetCursor(const std::string& follower) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), handles_->meta(), kCursorPrefix + follower, &value);
  if (s.IsNotFound()) {
    return 0;
  }
  AIOPS_RETURN_IF_ERROR(FromRocks(s, fmt::format("reading cursor {}", follower)));
  if (value.size() != 8) {
    return absl::DataLossError(fmt::format("cursor {} has {} bytes", follower, value.size()));
  }
  return common::DecodeBigEndian(value);
}

namespace {

// The newest MANIFEST file of `dir` (by number), if any.
std::optional<std::string> NewestManifest(const std::string& dir) {
  std::optional<std::string> newest;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    // MANIFEST-<6+ digits>: zero-padded, so a longer name is a larger number.
    if (name.rfind("MANIFEST-", 0) == 0 &&
        (!newest || std::make_pair(name.size(), name) > std::make_pair(newest->size(), *newest))) {
      newest = name;
    }
  }
  return newest;
}

// What cutting at `damage` loses: the rest of its write-ahead log and every later one.
std::string WalLoss(const std::string& dir, const WalDamage& damage) {
  uint64_t bytes = 0;
  int later = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".log") {
      continue;
    }
    if (name == damage.file) {
      bytes += entry.file_size() - std::min<uint64_t>(entry.file_size(), damage.offset);
    } else if (name > damage.file) {
      bytes += entry.file_size();
      ++later;
    }
  }
  return fmt::format(
      "the write-ahead log {} from byte {} on{}: {} bytes of records after the "
      "last intact one",
      damage.file, damage.offset, later > 0 ? fmt::format(" and {} later logs", later) : "", bytes);
}

std::vector<rocksdb::ColumnFamilyDescriptor> LogColumnFamilies() {
  std::vector<rocksdb::ColumnFamilyDescriptor> out;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kEventsCf, kByIncidentCf,
                           kMetaCf, kSnapshotsCf}) {
    out.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  return out;
}

}  // namespace

absl::StatusOr<SalvageReport> SalvageLog(const std::string& path, bool truncate, absl::Time now) {
  namespace fs = std::filesystem;
  SalvageReport report;
  const bool has_current = fs::exists(fs::path(path) / "CURRENT");
  if (!has_current && !ADataFile(path).has_value()) {
    return absl::NotFoundError(fmt::format("no event log at {}", path));
  }
  RocksLogOptions probe;
  probe.path = path;
  probe.mode = RocksLogOptions::Mode::kReadOnly;
  probe.open_check = RocksLogOptions::OpenCheck::kFrames;
  enum class Kind { kWal, kMetadata } kind = Kind::kWal;
  std::optional<WalDamage> wal;
  if (!has_current || MissingManifest(path).has_value()) {
    kind = Kind::kMetadata;
    report.damage = !has_current
                        ? "the CURRENT file is missing"
                        : fmt::format("CURRENT names {}, which is missing", *MissingManifest(path));
    report.lost = !has_current && NewestManifest(path).has_value()
                      ? "nothing: CURRENT is written again, naming the newest MANIFEST"
                      : "the records that were only in the write-ahead log (not yet in table "
                        "files): without the MANIFEST their column families are unknown. The "
                        "metadata is rebuilt from the table files";
  } else {
    absl::StatusOr<std::unique_ptr<RocksEventLog>> log = RocksEventLog::Open(probe);
    if (log.ok()) {
      return report;  // opens as it is
    }
    wal = FindWalDamage(path);
    if (!wal.has_value()) {
      return absl::FailedPreconditionError(fmt::format(
          "{}; the damage is not in the write-ahead log, so cutting the log's end cannot mend it: "
          "restore the folder from a backup or import an export (`aiops log import`)",
          log.status().message()));
    }
    report.damage = fmt::format("the write-ahead log {} is damaged at byte {} ({})", wal->file,
                                wal->offset, wal->what);
    report.lost = WalLoss(path, *wal);
    probe.salvage_wal_prefix = true;
    probe.open_check = RocksLogOptions::OpenCheck::kEndsOnly;
    absl::StatusOr<std::unique_ptr<RocksEventLog>> prefix = RocksEventLog::Open(probe);
    if (!prefix.ok()) {
      return absl::FailedPreconditionError(
          fmt::format("{}; not even the records before it can be read: {}", report.damage,
                      prefix.status().message()));
    }
    report.last_intact_sequence = (*prefix)->LastSequence();
  }
  report.damaged = true;
  if (!truncate) {
    return report;
  }
  report.damaged_copy = fmt::format("{}.damaged-{}", path,
                                    absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone()));
  std::error_code ec;
  fs::copy(path, report.damaged_copy, fs::copy_options::recursive, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        fmt::format("cannot keep a copy of the damaged log in {}: {}; nothing was changed",
                    report.damaged_copy, ec.message()));
  }
  RocksLogOptions open;
  open.path = path;
  if (kind == Kind::kMetadata && !has_current && NewestManifest(path).has_value()) {
    // Only CURRENT is gone: it names the newest MANIFEST (one line), as RocksDB writes it.
    const std::string tmp = (fs::path(path) / "CURRENT.salvage").string();
    {
      std::ofstream current(tmp, std::ios::trunc);
      current << *NewestManifest(path) << '\n';
      if (!current.flush()) {
        return absl::FailedPreconditionError(fmt::format("cannot write {}", tmp));
      }
    }
    fs::rename(tmp, fs::path(path) / "CURRENT", ec);
    if (ec) {
      return absl::FailedPreconditionError(
          fmt::format("cannot write {}/CURRENT: {}", path, ec.message()));
    }
  } else if (kind == Kind::kMetadata) {
    rocksdb::Options db_options;
    const rocksdb::Status repaired = rocksdb::RepairDB(path, db_options, LogColumnFamilies());
    if (!repaired.ok()) {
      return FromRocks(repaired, fmt::format("rebuilding the metadata of {} (a copy of the folder "
                                             "as it was is in {})",
                                             path, report.damaged_copy));
    }
  } else {
    open.salvage_wal_prefix = true;
  }
  absl::StatusOr<std::unique_ptr<RocksEventLog>> log = RocksEventLog::Open(open);
  if (!log.ok()) {
    return absl::Status(log.status().code(),
                        fmt::format("{} (a copy of the folder as it was is in {})",
                                    log.status().message(), report.damaged_copy));
  }
  report.last_intact_sequence = (*log)->LastSequence();
  v1::Event event;
  event.set_logical_time_ms(absl::ToUnixMillis(now));
  event.set_producer("salvage");
  v1::LogSalvaged* salvaged = event.mutable_log_salvaged();
  salvaged->set_last_intact_sequence(report.last_intact_sequence);
  salvaged->set_damage(report.damage);
  salvaged->set_lost(report.lost);
  salvaged->set_damaged_copy(report.damaged_copy);
  AIOPS_ASSIGN_OR_RETURN(const SequenceRange range, (*log)->Append({std::move(event)}));
  report.salvaged_sequence = range.last;
  return report;
}

}  // namespace aiops::eventlog
