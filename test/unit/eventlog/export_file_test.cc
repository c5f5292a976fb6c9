// The export file (docs/export_format.md): round trips through RocksEventLog, prune anchors,
// and a reader that rejects every flipped byte and every truncation, naming the offset, without
// writing anything to the target log.
#include "eventlog/export_file.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/fmt_absl.h"
#include "eventlog/record.h"
#include "eventlog/rocks_event_log.h"
#include "support/test_dir.h"
#include "test_events.h"
#include <unistd.h>

namespace aiops::eventlog {
namespace {

namespace fs = std::filesystem;

v1::Event Alert(const std::string& incident_id, int i) {
  v1::Event event;
  event.set_logical_time_ms(1'700'000'000'000 + int64_t{i} * 1000);
  event.set_cluster_id("cluster-a");
  event.set_incident_id(incident_id);
  event.set_producer("detector");
  v1::AlertObserved* alert = event.mutable_alert_observed();
  alert->set_type("HighRestartCount");
  alert->set_severity("high");
  alert->set_message(fmt::format("pod web-{} restarted {} times", i % 3, i));
  alert->set_namespace_("default");
  alert->set_object(fmt::format("web-{}", i % 3));
  return event;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Start offsets of the framed records of an export file (from their length fields).
std::vector<size_t> RecordOffsets(const std::string& bytes) {
  std::vector<size_t> offsets;
  for (size_t offset = 0; offset + kExportFrameHeaderSize <= bytes.size();) {
    offsets.push_back(offset);
    uint32_t length = 0;
    for (size_t i = 0; i < 4; ++i) {
      length |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + 4 + i])) << (8 * i);
    }
    offset += kExportFrameHeaderSize + length;
  }
  return offsets;
}

class ExportFileTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = aiops::testing::FreshTestDir("export-file"); }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  static std::unique_ptr<RocksEventLog> Open(const std::string& path) {
    return testing::OpenUnsyncedLog(path);
  }

  // A log of `count` events, every third one in incident "inc-1".
  std::unique_ptr<RocksEventLog> MakeLog(const std::string& name, int count) {
    std::unique_ptr<RocksEventLog> log = Open(Path(name));
    std::vector<v1::Event> events;
    for (int i = 0; i < count; ++i) {
      events.push_back(Alert(i % 3 == 0 ? "inc-1" : "", i));
    }
    if (log != nullptr && count > 0) {
      EXPECT_TRUE(log->Append(std::move(events)).ok());
    }
    return log;
  }

  static std::vector<RawRecord> All(const EventLog& log) {
    absl::StatusOr<std::vector<RawRecord>> records = log.ReadRaw(log.FirstSequence(), 1'000'000);
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<RawRecord>{};
  }

  static void ExpectSameRecords(const std::vector<RawRecord>& a, const std::vector<RawRecord>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].sequence, b[i].sequence);
      EXPECT_EQ(a[i].value, b[i].value) << "record " << a[i].sequence;
    }
  }

  std::string dir_;
};

TEST_F(ExportFileTest, RoundTripIntoAFreshLogGivesIdenticalRecordsThatVerify) {
  auto source = MakeLog("source", 50);
  const std::string file = Path("all.export");
  absl::StatusOr<ExportSummary> summary = ExportLog(*source, kExportFromFirst, kExportToLast, file);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(50U, summary->count);
  EXPECT_EQ(1U, summary->first_sequence);
  EXPECT_EQ(50U, summary->last_sequence);
  EXPECT_EQ("cluster-a", summary->cluster_id);
  EXPECT_EQ(fs::file_size(file), summary->bytes);
  EXPECT_FALSE(fs::exists(file + ".tmp"));

  absl::StatusOr<ExportContents> contents = ReadExportFile(file);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(Anchor{}, contents->header.anchor);
  EXPECT_EQ(50U, contents->header.count);
  EXPECT_EQ("cluster-a", contents->header.cluster_id);
  ExpectSameRecords(All(*source), contents->records);
  absl::StatusOr<VerifyReport> source_report = VerifyLog(*source);
  ASSERT_TRUE(source_report.ok()) << source_report.status();
  EXPECT_EQ(source_report->last_hash_hex, contents->last_hash_hex);
  EXPECT_EQ(summary->last_hash_hex, contents->last_hash_hex);

  auto target = Open(Path("target"));
  const absl::Status imported = ImportLog(file, *target);
  ASSERT_TRUE(imported.ok()) << imported;
  ExpectSameRecords(All(*source), All(*target));
  EXPECT_EQ(source->GetAnchor(), target->GetAnchor());
  EXPECT_EQ(*source->IncidentSequences("inc-1"), *target->IncidentSequences("inc-1"));
  absl::StatusOr<VerifyReport> report = VerifyLog(*target);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(50U, report->records);
  EXPECT_EQ(source_report->last_hash_hex, report->last_hash_hex);

  // The imported log keeps working: a new append chains onto the imported records.
  ASSERT_TRUE(target->Append({Alert("", 99)}).ok());
  EXPECT_TRUE(VerifyLog(*target).ok());
}

TEST_F(ExportFileTest, AnExistingFileIsNeverOverwritten) {
  auto source = MakeLog("source", 3);
  const std::string file = Path("x.export");
  ASSERT_TRUE(ExportLog(*source, kExportFromFirst, kExportToLast, file).ok());
  const std::string before = ReadBytes(file);
  ASSERT_TRUE(source->Append({Alert("", 7)}).ok());
  absl::StatusOr<ExportSummary> again = ExportLog(*source, kExportFromFirst, kExportToLast, file);
  EXPECT_EQ(absl::StatusCode::kAlreadyExists, again.status().code()) << again.status();
  EXPECT_EQ(before, ReadBytes(file));
  EXPECT_FALSE(fs::exists(file + ".tmp"));
}

TEST_F(ExportFileTest, ExportPruneKeepsAnAnchorThatVerifiesAndPartsImportInOrder) {
  auto source = MakeLog("source", 30);
  const std::string old_part = Path("1-20.export");
  absl::StatusOr<ExportSummary> first = ExportLog(*source, kExportFromFirst, 20, old_part);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(20U, first->count);
  ASSERT_TRUE(source->Prune(21).ok());

  absl::StatusOr<VerifyReport> pruned = VerifyLog(*source);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(21U, pruned->first_sequence);
  EXPECT_EQ(30U, pruned->last_sequence);
  EXPECT_EQ(10U, pruned->records);
  // The anchor kept by the prune is the hash of the last exported record.
  EXPECT_EQ(first->last_hash_hex, common::BytesToHex(source->GetAnchor().prev_hash));

  // Exporting pruned history is refused, not silently shortened.
  EXPECT_EQ(absl::StatusCode::kInvalidArgument,
            ExportLog(*source, 5, kExportToLast, Path("gone.export")).status().code());
  EXPECT_EQ(absl::StatusCode::kInvalidArgument,
            ExportLog(*source, kExportFromFirst, 31, Path("future.export")).status().code());

  // The kept part, exported from the anchor, imports into an empty log and verifies from it.
  const std::string new_part = Path("21-30.export");
  absl::StatusOr<ExportSummary> second =
      ExportLog(*source, kExportFromFirst, kExportToLast, new_part);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(source->GetAnchor(), second->anchor);
  auto tail_only = Open(Path("tail-only"));
  ASSERT_TRUE(ImportLog(new_part, *tail_only).ok());
  EXPECT_EQ(source->GetAnchor(), tail_only->GetAnchor());
  absl::StatusOr<VerifyReport> tail_report = VerifyLog(*tail_only);
  ASSERT_TRUE(tail_report.ok()) << tail_report.status();
  EXPECT_EQ(21U, tail_report->first_sequence);
  EXPECT_EQ(pruned->last_hash_hex, tail_report->last_hash_hex);

  // Both parts, in order, rebuild the whole history.
  auto whole = Open(Path("whole"));
  ASSERT_TRUE(ImportLog(old_part, *whole).ok());
  const absl::Status continued = ImportLog(new_part, *whole);
  ASSERT_TRUE(continued.ok()) << continued;
  absl::StatusOr<VerifyReport> whole_report = VerifyLog(*whole);
  ASSERT_TRUE(whole_report.ok()) << whole_report.status();
  EXPECT_EQ(1U, whole_report->first_sequence);
  EXPECT_EQ(30U, whole_report->records);
  EXPECT_EQ(pruned->last_hash_hex, whole_report->last_hash_hex);
}

TEST_F(ExportFileTest, EveryFlippedByteIsRejectedNamingTheRecordOffsetAndNothingIsImported) {
  auto source = MakeLog("source", 5);
  const std::string file = Path("good.export");
  ASSERT_TRUE(ExportLog(*source, kExportFromFirst, kExportToLast, file).ok());
  const std::string good = ReadBytes(file);
  const std::vector<size_t> offsets = RecordOffsets(good);
  ASSERT_EQ(7U, offsets.size());  // header, 5 events, footer

  const std::string bad = Path("bad.export");
  size_t record = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    while (record + 1 < offsets.size() && offsets[record + 1] <= i) {
      ++record;
    }
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x20);
    WriteBytes(bad, bytes);
    absl::StatusOr<ExportContents> contents = ReadExportFile(bad);
    ASSERT_FALSE(contents.ok()) << "flipping byte " << i << " went unnoticed";
    const absl::StatusCode code = contents.status().code();
    EXPECT_TRUE(code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument)
        << contents.status();
    EXPECT_NE(
        std::string::npos,
        std::string(contents.status().message()).find(fmt::format("offset {}:", offsets[record])))
        << "byte " << i << ": " << contents.status();
  }

  // One flip in the third event's value: the import refuses before writing anything.
  std::string bytes = good;
  bytes[offsets[3] + kExportFrameHeaderSize + 8 + 10] ^= 0x01;
  WriteBytes(bad, bytes);
  auto target = Open(Path("target"));
  const absl::Status imported = ImportLog(bad, *target);
  EXPECT_EQ(absl::StatusCode::kDataLoss, imported.code()) << imported;
  EXPECT_NE(std::string::npos,
            std::string(imported.message()).find(fmt::format("offset {}:", offsets[3])))
      << imported;
  EXPECT_EQ(0U, target->LastSequence());
  EXPECT_TRUE(All(*target).empty());
  target.reset();
  target = Open(Path("target"));
  EXPECT_EQ(0U, target->LastSequence());
  EXPECT_EQ(Anchor{}, target->GetAnchor());
}

TEST_F(ExportFileTest, EveryTruncationIsATornTailNamingAnOffsetAndNothingIsImported) {
  auto source = MakeLog("source", 4);
  const std::string file = Path("good.export");
  ASSERT_TRUE(ExportLog(*source, kExportFromFirst, kExportToLast, file).ok());
  const std::string good = ReadBytes(file);
  const std::string cut = Path("cut.export");
  for (size_t size = 0; size < good.size(); ++size) {
    WriteBytes(cut, good.substr(0, size));
    absl::StatusOr<ExportContents> contents = ReadExportFile(cut);
    ASSERT_FALSE(contents.ok()) << "a file cut to " << size << " bytes went unnoticed";
    EXPECT_EQ(absl::StatusCode::kDataLoss, contents.status().code()) << contents.status();
    const std::string message(contents.status().message());
    EXPECT_NE(std::string::npos, message.find("torn tail")) << size << ": " << message;
    EXPECT_NE(std::string::npos, message.find("offset ")) << size << ": " << message;
  }

  // Cut inside the last event: the events before it are intact but nothing is imported.
  const std::vector<size_t> offsets = RecordOffsets(good);
  WriteBytes(cut, good.substr(0, offsets[4] + 12));
  auto target = Open(Path("target"));
  const absl::Status imported = ImportLog(cut, *target);
  EXPECT_EQ(absl::StatusCode::kDataLoss, imported.code()) << imported;
  EXPECT_NE(std::string::npos,
            std::string(imported.message()).find(fmt::format("offset {}: torn tail", offsets[4])))
      << imported;
  EXPECT_EQ(0U, target->LastSequence());
  EXPECT_TRUE(All(*target).empty());
}

TEST_F(ExportFileTest, ImportThatDoesNotContinueTheTargetChainFailsAndWritesNothing) {
  auto source = MakeLog("source", 10);
  const std::string file = Path("source.export");
  ASSERT_TRUE(ExportLog(*source, kExportFromFirst, kExportToLast, file).ok());
  const std::string later = Path("later.export");
  ASSERT_TRUE(ExportLog(*source, 6, kExportToLast, later).ok());

  // A log with its own history: sequence 1 is taken and its chain differs (its events do).
  auto target = Open(Path("target"));
  std::vector<v1::Event> own;
  for (int i = 0; i < 5; ++i) {
    own.push_back(Alert("inc-2", 100 + i));
  }
  ASSERT_TRUE(target->Append(std::move(own)).ok());
  const std::vector<RawRecord> before = All(*target);
  const absl::Status clash = ImportLog(file, *target);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, clash.code()) << clash;
  // Sequences 6.. would follow 5, but their chain links to the source's record 5, not this one.
  const absl::Status fork = ImportLog(later, *target);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, fork.code()) << fork;
  ExpectSameRecords(before, All(*target));
  EXPECT_TRUE(VerifyLog(*target).ok());
  ASSERT_TRUE(target->Append({Alert("", 42)}).ok());  // still usable
  EXPECT_TRUE(VerifyLog(*target).ok());

  // The same file twice: the second import overlaps the first and is refused.
  auto empty = Open(Path("empty"));
  ASSERT_TRUE(ImportLog(file, *empty).ok());
  const absl::Status twice = ImportLog(file, *empty);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, twice.code()) << twice;
  EXPECT_EQ(10U, empty->LastSequence());
}

TEST_F(ExportFileTest, AnEmptyRangeExportsAnAnchorOnly) {
  auto log = MakeLog("empty", 0);
  const std::string file = Path("empty.export");
  absl::StatusOr<ExportSummary> summary = ExportLog(*log, kExportFromFirst, kExportToLast, file);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(0U, summary->count);
  absl::StatusOr<ExportContents> contents = ReadExportFile(file);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_TRUE(contents->records.empty());
  EXPECT_EQ(Anchor{}, contents->header.anchor);

  auto full = MakeLog("full", 3);
  const std::string after = Path("after.export");
  summary = ExportLog(*full, 4, kExportToLast, after);
  ASSERT_TRUE(summary.ok()) << summary.status();
  contents = ReadExportFile(after);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(4U, contents->header.anchor.first_sequence);
  EXPECT_EQ(VerifyLog(*full)->last_hash_hex, contents->last_hash_hex);
}

TEST_F(ExportFileTest, OtherFilesAndTrailingBytesAreRejected) {
  const std::string text = Path("notes.txt");
  WriteBytes(text, "this is not an export file, just some notes\n");
  absl::StatusOr<ExportContents> contents = ReadExportFile(text);
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(std::string::npos, std::string(contents.status().message()).find("offset 0:"))
      << contents.status();

  EXPECT_EQ(absl::StatusCode::kNotFound, ReadExportFile(Path("missing.export")).status().code());

  auto source = MakeLog("source", 2);
  const std::string file = Path("good.export");
  ASSERT_TRUE(ExportLog(*source, kExportFromFirst, kExportToLast, file).ok());
  const std::string good = ReadBytes(file);
  WriteBytes(file, good + good);  // two exports glued together
  contents = ReadExportFile(file);
  EXPECT_EQ(absl::StatusCode::kDataLoss, contents.status().code());
  EXPECT_NE(std::string::npos, std::string(contents.status().message())
                                   .find(fmt::format("offset {}: {} unexpected bytes after the "
                                                     "footer",
                                                     good.size(), good.size())))
      << contents.status();
}

}  // namespace
}  // namespace aiops::eventlog
