// RocksDB-specific behaviour: durability across reopen, recovery checks on open, read-only and
// secondary readers beside a writer, prune with a chain anchor, verbatim import.
#include "eventlog/rocks_event_log.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "common/crc32c.h"
#include "eventlog/record.h"
#include "support/test_dir.h"
#include "test_events.h"
#include <unistd.h>

namespace aiops::eventlog {
namespace {

using testing::AlertEvent;
namespace fs = std::filesystem;

class RocksEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = aiops::testing::FreshTestDir("rocks-log"); }
  void TearDown() override { fs::remove_all(dir_); }

  RocksLogOptions Options(RocksLogOptions::Mode mode = RocksLogOptions::Mode::kReadWrite) {
    RocksLogOptions options;
    options.path = dir_;
    options.mode = mode;
    options.sync = false;
    if (mode == RocksLogOptions::Mode::kSecondary) {
      options.secondary_path = dir_ + "-secondary";
    }
    return options;
  }

  std::unique_ptr<RocksEventLog> MustOpen(RocksLogOptions options) {
    auto log = RocksEventLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  void Fill(int n, const std::string& incident = "inc") {
    auto log = MustOpen(Options());
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(log->Append({AlertEvent(incident)}).ok());
    }
  }

  // Runs `edit` on the raw RocksDB database of the log (closed), with its column families.
  template <typename F>
  void EditRaw(F edit) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "events", "by_incident", "meta", "snapshots"}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_, cfs, &handles, &db).ok());
    edit(*db, handles);
    for (auto* h : handles) {
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    }
    delete db;
  }

  std::string dir_;
};

TEST_F(RocksEventLogTest, ReopenKeepsEverythingAndTheChainContinues) {
  {
    auto log = MustOpen(Options());
    ASSERT_TRUE(log->Append({AlertEvent("a"), AlertEvent("b")}).ok());
    ASSERT_TRUE(log->PutCursor("mirror", 2).ok());
    ASSERT_TRUE(log->PutSnapshot("issues", Snapshot{2, 1, "s"}).ok());
  }
  auto log = MustOpen(Options());
  EXPECT_EQ(2U, log->LastSequence());
  ASSERT_TRUE(log->Append({AlertEvent("a")}).ok());
  EXPECT_EQ(3U, log->LastSequence());
  EXPECT_EQ((std::vector<uint64_t>{1, 3}), *log->IncidentSequences("a"));
  EXPECT_EQ(2U, *log->GetCursor("mirror"));
  EXPECT_EQ("s", log->GetSnapshot("issues")->value().data);
  auto report = VerifyLog(*log);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(3U, report->records);
}

TEST_F(RocksEventLogTest, OpenReportsACorruptRecordByItsSequence) {
  Fill(10);
  EditRaw([](rocksdb::DB& db, std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    std::string value;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), cfs[1], EncodeSequenceKey(7), &value).ok());
    value[value.size() / 2] = static_cast<char>(value[value.size() / 2] ^ 0x10);
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs[1], EncodeSequenceKey(7), value).ok());
  });
  auto log = RocksEventLog::Open(Options());
  ASSERT_EQ(absl::StatusCode::kDataLoss, log.status().code());
  EXPECT_NE(std::string::npos, std::string(log.status().message()).find("event 7: record checksum"))
      << log.status();
  // A reader that checks only the ends opens it, and verify names the same record.
  RocksLogOptions ends = Options(RocksLogOptions::Mode::kReadOnly);
  ends.open_check = RocksLogOptions::OpenCheck::kEndsOnly;
  auto reader = MustOpen(ends);
  const absl::Status verify = VerifyLog(*reader).status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, verify.code());
  EXPECT_NE(std::string::npos, std::string(verify.message()).find("event 7")) << verify;
}

// Long reads use two threads: the events still come in order, and a bad record (a CRC mismatch
// found by the scan, or an envelope that does not parse) is reported by its sequence, the lowest
// one first.
TEST_F(RocksEventLogTest, LongReadsDecodeInOrderAndNameTheFirstBadRecord) {
  // From the memtables (parsed in two halves on two threads) and, after a reopen, from table
  // files (scanned on a helper thread): the same events in the same order.
  auto read_in_order = [](RocksEventLog& log) {
    for (const auto& [from, count] :
         {std::pair<uint64_t, size_t>{1, 4096}, {17, 2000}, {2990, 300}, {2700, 257}}) {
      absl::StatusOr<std::vector<v1::Event>> events = log.Read(from, count);
      ASSERT_TRUE(events.ok()) << events.status();
      ASSERT_EQ(std::min<size_t>(count, 3000 - from + 1), events->size());
      for (size_t i = 0; i < events->size(); ++i) {
        ASSERT_EQ(from + i, (*events)[i].sequence());
        ASSERT_EQ(1'700'000'000'000 + static_cast<int64_t>(from + i - 1),
                  (*events)[i].logical_time_ms());
      }
    }
  };
  {
    auto log = MustOpen(Options());
    std::vector<v1::Event> batch;
    for (int i = 0; i < 3000; ++i) {
      batch.push_back(AlertEvent(i % 7 == 0 ? "inc" : "", 64, 1'700'000'000'000 + i));
    }
    ASSERT_TRUE(log->Append(std::move(batch)).ok());
    read_in_order(*log);
  }
  {
    auto log = MustOpen(Options());
    read_in_order(*log);
  }
  EditRaw([](rocksdb::DB& db, std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    std::string value;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), cfs[1], EncodeSequenceKey(2500), &value).ok());
    value[value.size() / 2] = static_cast<char>(value[value.size() / 2] ^ 0x10);
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs[1], EncodeSequenceKey(2500), value).ok());
    // A well-framed record whose envelope does not parse, earlier in the log.
    std::string junk(1, static_cast<char>(kRecordFormatVersion));
    junk += "\xff\xff\xff";
    std::string framed;
    const uint32_t crc = common::crc32c::Mask(common::crc32c::Value(junk));
    for (int i = 0; i < 4; ++i) {
      framed.push_back(static_cast<char>((crc >> (8 * i)) & 0xffU));
    }
    framed += junk;
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), cfs[1], EncodeSequenceKey(1200), framed).ok());
  });
  RocksLogOptions ends = Options();
  ends.open_check = RocksLogOptions::OpenCheck::kEndsOnly;
  auto log = MustOpen(ends);
  const absl::Status parse_first = log->Read(1, 4096).status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, parse_first.code());
  EXPECT_NE(std::string::npos,
            std::string(parse_first.message()).find("event 1200: record envelope"))
      << parse_first;
  const absl::Status crc = log->Read(1300, 4096).status();
  EXPECT_EQ(absl::StatusCode::kDataLoss, crc.code());
  EXPECT_NE(std::string::npos, std::string(crc.message()).find("event 2500: record checksum"))
      << crc;
  EXPECT_TRUE(log->Read(2501, 4096).ok());
}

TEST_F(RocksEventLogTest, OpenReportsAGapAndMissingTail) {
  Fill(10);
  EditRaw([](rocksdb::DB& db, std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), cfs[1], EncodeSequenceKey(4)).ok());
  });
  auto gap = RocksEventLog::Open(Options());
  ASSERT_EQ(absl::StatusCode::kDataLoss, gap.status().code());
  EXPECT_NE(std::string::npos,
            std::string(gap.status().message()).find("gap: expected sequence 4, found 5"))
      << gap.status();

  EditRaw([](rocksdb::DB& db, std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.DeleteRange(cfs[1], EncodeSequenceKey(4), EncodeSequenceKey(11)).ok());
    ASSERT_TRUE(db.Write(rocksdb::WriteOptions(), &batch).ok());
  });
  auto tail = RocksEventLog::Open(Options());
  ASSERT_EQ(absl::StatusCode::kDataLoss, tail.status().code());
  EXPECT_NE(
      std::string::npos,
      std::string(tail.status().message()).find("last sequence is 10 but the last record is 3"))
      << tail.status();
}

TEST_F(RocksEventLogTest, DamagedTableFilesAreReportedNotCrashedOn) {
  Fill(2000);
  EditRaw([](rocksdb::DB& db, std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
    ASSERT_TRUE(db.Flush(rocksdb::FlushOptions(), cfs[1]).ok());
  });
  fs::path sst;
  uintmax_t largest = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() == ".sst" && entry.file_size() > largest) {
      largest = entry.file_size();
      sst = entry.path();
    }
  }
  ASSERT_FALSE(sst.empty());
  // Flip bytes in the middle of the table: RocksDB's block checksums catch it on the scan.
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(largest / 3));
    f.write("\x55\xaa\x55\xaa\x55\xaa\x55\xaa", 8);
  }
  auto flipped = RocksEventLog::Open(Options());
  EXPECT_FALSE(flipped.ok());
  EXPECT_FALSE(std::string(flipped.status().message()).empty());
  // A truncated table file is refused too.
  fs::resize_file(sst, largest / 2);
  auto truncated = RocksEventLog::Open(Options());
  EXPECT_FALSE(truncated.ok());
  EXPECT_FALSE(std::string(truncated.status().message()).empty()) << truncated.status();
}

// The files of a folder and their contents, without RocksDB's own info logs (LOG, LOG.old.*),
// which any open writes: a refused open must leave every data file as it was.
std::map<std::string, std::string> DataFiles(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("LOG", 0) == 0) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    out[name] = bytes.str();
  }
  return out;
}

fs::path OnlyFileWithExtension(const std::string& dir, const std::string& extension) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == extension && entry.file_size() > 0) {
      EXPECT_TRUE(found.empty()) << "more than one " << extension << " file";
      found = entry.path();
    }
  }
  return found;
}

void FlipBit(const fs::path& file, uintmax_t offset, int bit) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// Issue #21: one bit flipped anywhere in the write-ahead log of a stopped log (before any flush)
// is refused by every open (writer and reader), never recovered as a shorter history; the refused
// open changes no data file, so a restart refuses again.
TEST_F(RocksEventLogTest, ABitFlippedAnywhereInTheWalIsRefusedNotDropped) {
  constexpr int kRecords = 70;
  Fill(kRecords);
  const fs::path wal = OnlyFileWithExtension(dir_, ".log");
  ASSERT_FALSE(wal.empty());
  const uintmax_t size = fs::file_size(wal);
  const std::string pristine = dir_ + "-pristine";
  fs::copy(dir_, pristine, fs::copy_options::recursive);
  int refused = 0;
  int intact = 0;
  // Offsets all through the file, the first and last bytes included.
  std::vector<uintmax_t> offsets;
  for (uintmax_t at = 0; at < size; at += size / 37 + 1) {
    offsets.push_back(at);
  }
  offsets.push_back(size - 1);
  for (uintmax_t offset : offsets) {
    SCOPED_TRACE(offset);
    fs::remove_all(dir_);
    fs::copy(pristine, dir_, fs::copy_options::recursive);
    FlipBit(dir_ / fs::path(wal.filename()), offset, static_cast<int>(offset % 8));
    const std::map<std::string, std::string> before = DataFiles(dir_);
    for (RocksLogOptions::Mode mode :
         {RocksLogOptions::Mode::kReadOnly, RocksLogOptions::Mode::kReadWrite}) {
      auto log = RocksEventLog::Open(Options(mode));
      if (log.ok()) {
        // Only a flip that damages no record (block padding) may open, with every record.
        EXPECT_EQ(static_cast<uint64_t>(kRecords), (*log)->LastSequence());
        intact += 1;
      } else {
        EXPECT_EQ(absl::StatusCode::kDataLoss, log.status().code()) << log.status();
        // The message names the file, the place, and how far the log is intact.
        EXPECT_THAT(std::string(log.status().message()),
                    ::testing::AllOf(
                        ::testing::HasSubstr(fmt::format(
                            "the write-ahead log {} is damaged at byte ", wal.filename().string())),
                        ::testing::HasSubstr("nothing was changed")));
        const size_t at = std::string(log.status().message()).find("damaged at byte ");
        if (at != std::string::npos) {
          // The damaged record starts at or before the flipped byte, within one block.
          const uintmax_t reported = std::stoull(log.status().message().substr(at + 16).data());
          EXPECT_LE(reported, offset);
          EXPECT_LT(offset - reported, 32768U);
        }
        refused += 1;
      }
    }
    EXPECT_EQ(before, DataFiles(dir_)) << "a refused open changed the folder";
  }
  EXPECT_GT(refused, 2 * static_cast<int>(offsets.size()) - 4);
  fs::remove_all(pristine);
}

// `aiops log salvage`: examining changes nothing; --truncate keeps a copy, cuts after the last
// intact record and records the cut in the log, whose chain then verifies.
TEST_F(RocksEventLogTest, SalvageCutsAfterTheLastIntactRecordAndRecordsTheCut) {
  Fill(70);
  const fs::path wal = OnlyFileWithExtension(dir_, ".log");
  FlipBit(wal, fs::file_size(wal) / 2, 3);
  const std::map<std::string, std::string> damaged = DataFiles(dir_);
  const absl::Time now = absl::FromUnixSeconds(1'771'276'354);

  absl::StatusOr<SalvageReport> examined = SalvageLog(dir_, /*truncate=*/false, now);
  ASSERT_TRUE(examined.ok()) << examined.status();
  EXPECT_TRUE(examined->damaged);
  EXPECT_THAT(examined->damage, ::testing::HasSubstr("is damaged at byte"));
  EXPECT_GT(examined->last_intact_sequence, 0U);
  EXPECT_LT(examined->last_intact_sequence, 70U);
  EXPECT_THAT(examined->lost, ::testing::HasSubstr("bytes of records after the last intact one"));
  EXPECT_EQ(damaged, DataFiles(dir_));
  EXPECT_FALSE(RocksEventLog::Open(Options()).ok());  // still refused

  absl::StatusOr<SalvageReport> salvaged = SalvageLog(dir_, /*truncate=*/true, now);
  ASSERT_TRUE(salvaged.ok()) << salvaged.status();
  EXPECT_EQ(examined->last_intact_sequence, salvaged->last_intact_sequence);
  EXPECT_EQ(salvaged->last_intact_sequence + 1, salvaged->salvaged_sequence);
  EXPECT_EQ(dir_ + ".damaged-20260216T211234Z", salvaged->damaged_copy);
  EXPECT_EQ(damaged, DataFiles(salvaged->damaged_copy));  // the damaged files, kept as found
  auto log = MustOpen(Options());
  ASSERT_NE(nullptr, log);
  EXPECT_EQ(salvaged->salvaged_sequence, log->LastSequence());
  auto events = log->Read(log->LastSequence(), 1);
  ASSERT_TRUE(events.ok());
  ASSERT_TRUE((*events)[0].has_log_salvaged());
  EXPECT_EQ(salvaged->last_intact_sequence, (*events)[0].log_salvaged().last_intact_sequence());
  EXPECT_EQ(salvaged->damaged_copy, (*events)[0].log_salvaged().damaged_copy());
  EXPECT_TRUE(VerifyLog(*log).ok());
  ASSERT_TRUE(log->Append({AlertEvent("after")}).ok());  // and the log goes on
  log.reset();
  // Salvaging a healthy log does nothing.
  absl::StatusOr<SalvageReport> healthy = SalvageLog(dir_, /*truncate=*/true, now);
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_FALSE(healthy->damaged);
  fs::remove_all(salvaged->damaged_copy);
}

// A deleted CURRENT (or the MANIFEST it names) is refused by every start, without creating a new
// empty log beside the old files (a pod restart must not begin a new history); salvage rebuilds
// the metadata from the files and keeps every record.
TEST_F(RocksEventLogTest, AMissingCurrentOrManifestIsRefusedEveryTimeAndSalvageRebuildsIt) {
  for (const bool manifest : {false, true}) {
    SCOPED_TRACE(manifest ? "MANIFEST deleted" : "CURRENT deleted");
    fs::remove_all(dir_);
    Fill(40);
    if (manifest) {
      // Without the MANIFEST only what the table files hold can be rebuilt: flush first.
      EditRaw([](rocksdb::DB& db, std::vector<rocksdb::ColumnFamilyHandle*>& cfs) {
        ASSERT_TRUE(db.Flush(rocksdb::FlushOptions(), cfs).ok());
      });
      std::ifstream current(fs::path(dir_) / "CURRENT");
      std::string name;
      std::getline(current, name);
      fs::remove(fs::path(dir_) / name);
    } else {
      fs::remove(fs::path(dir_) / "CURRENT");
    }
    const std::map<std::string, std::string> before = DataFiles(dir_);
    for (int start = 0; start < 2; ++start) {
      auto refused = RocksEventLog::Open(Options());
      ASSERT_FALSE(refused.ok());
      EXPECT_EQ(absl::StatusCode::kDataLoss, refused.status().code()) << refused.status();
      EXPECT_THAT(std::string(refused.status().message()),
                  ::testing::HasSubstr("nothing was changed"));
      EXPECT_EQ(before, DataFiles(dir_)) << "start " << start;
    }
    absl::StatusOr<SalvageReport> salvaged =
        SalvageLog(dir_, /*truncate=*/true, absl::FromUnixSeconds(1'771'276'354));
    ASSERT_TRUE(salvaged.ok()) << salvaged.status();
    EXPECT_EQ(40U, salvaged->last_intact_sequence);
    EXPECT_THAT(salvaged->lost, ::testing::HasSubstr(manifest ? "without the MANIFEST"
                                                              : "CURRENT is written again"));
    auto log = MustOpen(Options());
    ASSERT_NE(nullptr, log);
    EXPECT_EQ(41U, log->LastSequence());
    EXPECT_TRUE(VerifyLog(*log).ok());
    log.reset();
    fs::remove_all(salvaged->damaged_copy);
  }
}

TEST_F(RocksEventLogTest, ReadOnlyAndSecondaryReadersWorkBesideTheWriter) {
  auto writer = MustOpen(Options());
  ASSERT_TRUE(writer->Append({AlertEvent("a"), AlertEvent("a")}).ok());

  auto second_writer = RocksEventLog::Open(Options());
  EXPECT_EQ(absl::StatusCode::kUnavailable, second_writer.status().code())
      << second_writer.status();

  auto reader = MustOpen(Options(RocksLogOptions::Mode::kReadOnly));
  EXPECT_EQ(2U, reader->LastSequence());
  EXPECT_EQ(2U, reader->Read(1, 10)->size());
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, reader->Append({AlertEvent()}).status().code());

  auto secondary = MustOpen(Options(RocksLogOptions::Mode::kSecondary));
  ASSERT_TRUE(writer->Append({AlertEvent("a")}).ok());
  EXPECT_EQ(3U, secondary->WaitForSequence(3, absl::Seconds(10)));
  Subscription subscription(*secondary, 3);
  auto events = subscription.Next(10, absl::Seconds(10));
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(1U, events->size());
  EXPECT_EQ(3U, (*events)[0].sequence());
  fs::remove_all(dir_ + "-secondary");
}

TEST_F(RocksEventLogTest, MissingLogIsNotFoundForReaders) {
  auto reader = RocksEventLog::Open(Options(RocksLogOptions::Mode::kReadOnly));
  EXPECT_EQ(absl::StatusCode::kNotFound, reader.status().code());
}

TEST_F(RocksEventLogTest, PruneKeepsAnAnchorThatVerifyStartsFrom) {
  auto log = MustOpen(Options());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(log->Append({AlertEvent(i < 5 ? "old" : "new")}).ok());
  }
  ASSERT_TRUE(log->Prune(6).ok());
  EXPECT_EQ(6U, log->FirstSequence());
  EXPECT_EQ(10U, log->LastSequence());
  EXPECT_TRUE(log->IncidentSequences("old")->empty());
  EXPECT_EQ(5U, log->IncidentSequences("new")->size());
  EXPECT_TRUE(log->Read(1, 10).ok());
  EXPECT_EQ(6U, log->Read(1, 10)->front().sequence());
  auto report = VerifyLog(*log);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(5U, report->records);
  EXPECT_EQ(6U, report->first_sequence);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, log->Prune(12).code());

  log.reset();
  log = MustOpen(Options());
  EXPECT_EQ(6U, log->FirstSequence());
  ASSERT_TRUE(log->Append({AlertEvent()}).ok());
  EXPECT_TRUE(VerifyLog(*log).ok());
}

TEST_F(RocksEventLogTest, VerbatimImportRecreatesALogAndRefusesRecordsThatDoNotContinueIt) {
  auto source = MustOpen(Options());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(source->Append({AlertEvent("x")}).ok());
  }
  ASSERT_TRUE(source->Prune(3).ok());
  auto records = source->ReadRaw(3, 100);
  ASSERT_TRUE(records.ok());

  RocksLogOptions target_options = Options();
  target_options.path = dir_ + "-target";
  fs::remove_all(target_options.path);
  auto target = MustOpen(target_options);
  ASSERT_TRUE(target->AppendVerbatim(source->GetAnchor(), *records).ok());
  EXPECT_EQ(3U, target->FirstSequence());
  EXPECT_EQ(8U, target->LastSequence());
  EXPECT_EQ(6U, target->IncidentSequences("x")->size());
  EXPECT_TRUE(VerifyLog(*target).ok());

  // The same records again do not continue the chain: refused, and the log stays usable.
  const absl::Status again = target->AppendVerbatim(source->GetAnchor(), *records);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, again.code()) << again;
  ASSERT_TRUE(target->Append({AlertEvent()}).ok());
  EXPECT_EQ(9U, target->LastSequence());
  EXPECT_TRUE(VerifyLog(*target).ok());
  target.reset();
  fs::remove_all(target_options.path);
}

TEST_F(RocksEventLogTest, GroupCommitWithADelayStillAcknowledgesEveryAppend) {
  RocksLogOptions options = Options();
  options.sync = true;
  options.group_commit_max_delay = absl::Milliseconds(2);
  options.group_commit_max_events = 64;
  auto log = MustOpen(options);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        ASSERT_TRUE(log->Append({AlertEvent()}).ok());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(100U, log->LastSequence());
  EXPECT_TRUE(VerifyLog(*log).ok());
}

}  // namespace
}  // namespace aiops::eventlog
