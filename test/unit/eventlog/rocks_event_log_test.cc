// RocksDB-specific behaviour: durability across reopen, recovery checks on open, read-only and
// secondary readers beside a writer, prune with a chain anchor, verbatim import.
#include "eventlog/rocks_event_log.h"

#include <filesystem>
#include <fstream>
#include <thread>

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
