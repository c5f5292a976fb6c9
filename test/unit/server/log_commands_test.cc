// `aiops log ...` through RunCli: verify naming the first bad record, show/tail output, export
// with prune, import, usage errors, and reading a log that another instance holds read-write.
#include "server/log_commands.h"

#include <filesystem>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include "common/fmt_absl.h"
#include "eventlog/record.h"
#include "eventlog/rocks_event_log.h"
#include "k8s_sync/mirror.h"
#include "projections/pipeline_state.h"
#include "server/cli.h"
#include "server/runner.h"
#include "support/test_dir.h"
#include "test_events.h"
#include <unistd.h>

namespace aiops::server {
namespace {

namespace fs = std::filesystem;
using eventlog::RocksEventLog;
using eventlog::RocksLogOptions;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunAiops(const std::vector<std::string>& args) {
  const std::vector<std::string_view> views(args.begin(), args.end());
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(views, out, err);
  return {code, out.str(), err.str()};
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

v1::Event Alert(const std::string& incident_id, int i) {
  v1::Event event;
  event.set_logical_time_ms(1'700'000'000'000 + int64_t{i} * 1000);
  event.set_cluster_id("cluster-a");
  event.set_incident_id(incident_id);
  event.set_producer("detector");
  v1::AlertObserved* alert = event.mutable_alert_observed();
  alert->set_type("OOMKilled");
  alert->set_severity("critical");
  alert->set_message(fmt::format("container killed, attempt {}", i));
  alert->set_namespace_("shop");
  alert->set_object("cart-0");
  return event;
}

// Overwrites one stored record of a closed log behind RocksEventLog's back, flipping a byte.
void CorruptStoredRecord(const std::string& dir, uint64_t sequence) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  size_t events = names.size();
  for (size_t i = 0; i < names.size(); ++i) {
    descriptors.emplace_back(names[i], rocksdb::ColumnFamilyOptions());
    if (names[i] == "events") {
      events = i;
    }
  }
  ASSERT_LT(events, names.size());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, descriptors, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string key = eventlog::EncodeSequenceKey(sequence);
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), handles[events], key, &value).ok());
  value[value.size() - 1] = static_cast<char>(value[value.size() - 1] ^ 0x40);
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[events], key, value).ok());
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
}

// An ostream buffer that another thread may read while `tail --follow` writes to it.
class SyncedBuffer : public std::streambuf {
 public:
  std::string str() {
    std::lock_guard<std::mutex> lock(mu_);
    return data_;
  }

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      std::lock_guard<std::mutex> lock(mu_);
      data_.push_back(traits_type::to_char_type(c));
    }
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> lock(mu_);
    data_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  std::mutex mu_;
  std::string data_;
};

class LogCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = aiops::testing::FreshTestDir("log-commands");
    dir_ = Path("log");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Path(const std::string& name) const { return (fs::path(root_) / name).string(); }

  static std::unique_ptr<RocksEventLog> OpenReadWrite(const std::string& dir) {
    return aiops::eventlog::testing::OpenUnsyncedLog(dir);
  }

  // Appends events i = 0..count-1 (incident "inc-7" for even i) to the log at `dir`.
  static void Append(RocksEventLog& log, int count, int start = 0) {
    std::vector<v1::Event> events;
    for (int i = start; i < start + count; ++i) {
      events.push_back(Alert(i % 2 == 0 ? "inc-7" : "", i));
    }
    ASSERT_TRUE(log.Append(std::move(events)).ok());
  }

  void MakeLog(int count) {
    auto log = OpenReadWrite(dir_);
    ASSERT_NE(nullptr, log);
    Append(*log, count);
  }

  std::string root_;
  std::string dir_;
};

TEST_F(LogCommandTest, VerifyPassesOnAGoodLogAndNamesTheFirstBadSequence) {
  MakeLog(10);
  Result r = RunAiops({"log", "verify", "--dir", dir_});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "10 records verified, sequences 1..10")) << r.out;
  EXPECT_TRUE(Contains(r.out, "last hash: ")) << r.out;

  r = RunAiops({"log", "verify", "--dir", dir_, "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  const nlohmann::json ok = nlohmann::json::parse(r.out);
  EXPECT_EQ(true, ok["ok"]);
  EXPECT_EQ(10, ok["records"]);
  EXPECT_EQ(64U, ok["last_hash"].get<std::string>().size());

  CorruptStoredRecord(dir_, 4);
  r = RunAiops({"log", "verify", "--dir", dir_});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(0U, r.err.find("aiops log verify: event 4: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "checksum mismatch")) << r.err;

  r = RunAiops({"log", "verify", "--dir", dir_, "--json"});
  EXPECT_EQ(kExitFailure, r.code);
  const nlohmann::json bad = nlohmann::json::parse(r.out);
  EXPECT_EQ(false, bad["ok"]);
  EXPECT_TRUE(Contains(bad["error"].get<std::string>(), "event 4")) << r.out;
}

TEST_F(LogCommandTest, VerifyNamesACorruptLastRecord) {
  MakeLog(6);
  CorruptStoredRecord(dir_, 6);
  const Result r = RunAiops({"log", "verify", "--dir", dir_});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_EQ(0U, r.err.find("aiops log verify: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "event 6: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "checksum mismatch")) << r.err;
}

TEST_F(LogCommandTest, ShowJsonPrintsOneParseableEventPerLine) {
  MakeLog(7);
  Result r = RunAiops({"log", "show", "--dir", dir_, "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(7U, lines.size()) << r.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json json = nlohmann::json::parse(lines[i]);  // throws if not JSON
    ASSERT_TRUE(json.is_object());
    EXPECT_TRUE(json.contains("alert_observed")) << lines[i];  // proto field names kept
    EXPECT_TRUE(json.contains("logical_time_ms")) << lines[i];
    EXPECT_FALSE(json.contains("truncated")) << lines[i];  // defaults are left out
    v1::Event event;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &event).ok()) << lines[i];
    EXPECT_EQ(i + 1, event.sequence());
    EXPECT_EQ("cart-0", event.alert_observed().object());
  }
}

TEST_F(LogCommandTest, ShowSelectsByRangeAndIncidentAndPrintsReadableLines) {
  MakeLog(9);
  Result r = RunAiops({"log", "show", "--dir", dir_, "--from", "3", "--limit", "2"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(2U, lines.size()) << r.out;
  EXPECT_EQ(0U, lines[0].find("       3  2023-11-14T22:13:22.000Z  alert_observed")) << lines[0];
  EXPECT_TRUE(Contains(lines[0], "inc-7")) << lines[0];
  EXPECT_TRUE(Contains(lines[0], "type=OOMKilled severity=critical")) << lines[0];
  EXPECT_EQ(0U, lines[1].find("       4  ")) << lines[1];

  r = RunAiops({"log", "show", "--dir", dir_, "--incident", "inc-7", "--from=4", "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  lines = Lines(r.out);
  ASSERT_EQ(3U, lines.size()) << r.out;  // sequences 5, 7, 9 (even i, from 4)
  for (const std::string& line : lines) {
    EXPECT_EQ("inc-7", nlohmann::json::parse(line)["incident_id"]) << line;
  }
}

TEST_F(LogCommandTest, ShowVerifyTailAndExportWorkWhileAnotherInstanceHoldsTheLog) {
  auto writer = OpenReadWrite(dir_);
  ASSERT_NE(nullptr, writer);
  Append(*writer, 25);

  Result r = RunAiops({"log", "verify", "--dir", dir_});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "25 records verified")) << r.out;

  r = RunAiops({"log", "show", "--dir", dir_});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_EQ(25U, Lines(r.out).size());

  r = RunAiops({"log", "tail", "--dir", dir_});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(20U, lines.size());
  EXPECT_EQ(0U, lines.front().find("       6  ")) << lines.front();
  EXPECT_EQ(0U, lines.back().find("      25  ")) << lines.back();

  // What the writer appends later is visible to the next read-only open.
  Append(*writer, 5, 25);
  r = RunAiops({"log", "tail", "--dir", dir_, "--limit", "3", "--json"});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  ASSERT_EQ(3U, Lines(r.out).size());
  EXPECT_EQ("30", nlohmann::json::parse(Lines(r.out).back())["sequence"]);  // uint64 as string

  const std::string file = Path("held.export");
  r = RunAiops({"log", "export", "--dir", dir_, "--out", file});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "exported 30 events (sequences 1..30)")) << r.out;

  // Writing needs the lock the writer holds: refused, with a hint.
  r = RunAiops({"log", "export", "--dir", dir_, "--out", Path("other.export"), "--prune"});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_EQ(0U, r.err.find("aiops log export: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "read-only")) << r.err;
  EXPECT_EQ(30U, writer->LastSequence());
}

TEST_F(LogCommandTest, TailFollowPrintsEventsAppendedByAnotherInstance) {
  auto writer = OpenReadWrite(dir_);
  ASSERT_NE(nullptr, writer);
  Append(*writer, 3);

  SyncedBuffer out_buffer;
  std::ostream out(&out_buffer);
  std::ostringstream err;
  int code = -1;
  std::thread follower([&] {
    const std::vector<std::string_view> args = {"log", "tail", "--dir", dir_, "--follow"};
    code = RunCli(args, out, err);
  });
  auto wait_for = [&](const std::string& text) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!Contains(out_buffer.str(), text) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return Contains(out_buffer.str(), text);
  };
  EXPECT_TRUE(wait_for("       3  ")) << out_buffer.str();
  Append(*writer, 2, 3);
  EXPECT_TRUE(wait_for("       5  ")) << out_buffer.str();
  RequestLogFollowStop();
  follower.join();
  EXPECT_EQ(kExitOk, code) << err.str();
  const std::vector<std::string> lines = Lines(out_buffer.str());
  ASSERT_EQ(5U, lines.size()) << out_buffer.str();
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(0U, lines[i].find(fmt::format("{:>8}  ", i + 1))) << lines[i];
  }
}

TEST_F(LogCommandTest, ExportWithPruneThenVerifyFromTheAnchorAndImportTheExportedPart) {
  MakeLog(10);
  const std::string file = Path("1-6.export");
  Result r = RunAiops({"log", "export", "--dir", dir_, "--out", file, "--to", "6", "--prune"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "exported 6 events (sequences 1..6)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "pruned: the log now starts at sequence 7")) << r.out;

  r = RunAiops({"log", "verify", "--dir", dir_});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "4 records verified, sequences 7..10")) << r.out;

  const std::string restored = Path("restored");
  r = RunAiops({"log", "import", "--dir", restored, "--in", file, "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  const nlohmann::json imported = nlohmann::json::parse(r.out);
  EXPECT_EQ(6, imported["count"]);
  EXPECT_EQ(6, imported["log_last_sequence"]);
  r = RunAiops({"log", "verify", "--dir", restored});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "6 records verified, sequences 1..6")) << r.out;

  // The rest of the history continues the restored log.
  const std::string rest = Path("7-10.export");
  r = RunAiops({"log", "export", "--dir", dir_, "--out", rest});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  r = RunAiops({"log", "import", "--dir", restored, "--in", rest});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  r = RunAiops({"log", "verify", "--dir", restored});
  EXPECT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, "10 records verified, sequences 1..10")) << r.out;
  // ... but importing it again does not.
  r = RunAiops({"log", "import", "--dir", restored, "--in", rest});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_TRUE(Contains(r.err, "does not continue this log")) << r.err;
}

// The operator restarts from the state's snapshot plus the log's tail: a prune keeps a snapshot
// covering what it deletes, so the state a restart rebuilds is the one before the prune.
TEST_F(LogCommandTest, ExportWithPruneKeepsTheStateARestartRebuilds) {
  std::string before;
  uint64_t last = 0;
  size_t issues = 0;
  {
    auto log = OpenReadWrite(dir_);
    ASSERT_NE(nullptr, log);
    Runner::Options options;
    options.snapshot_every_events = 0;  // no snapshot of its own
    auto runner = Runner::Start(*log, options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    for (int i = 0; i < 6; ++i) {
      v1::Event alert = Alert("", i);
      alert.mutable_alert_observed()->set_object(fmt::format("cart-{}", i % 3));
      ASSERT_TRUE((*runner)->Submit(std::move(alert)).ok());
    }
    (*runner)->Stop();
    auto state = Runner::Rebuild(*log, projections::kPipelineSnapshotName);
    ASSERT_TRUE(state.ok());
    before = projections::StateDigest(*state);
    issues = state->issues.size();
    last = log->LastSequence();
    ASSERT_FALSE(log->GetSnapshot(projections::kPipelineSnapshotName)->has_value());
  }
  ASSERT_EQ(3U, issues);
  auto rebuilt_digest = [&]() {
    auto log = OpenReadWrite(dir_);
    auto state = Runner::Rebuild(*log, projections::kPipelineSnapshotName);
    return state.ok() ? projections::StateDigest(*state) : state.status().ToString();
  };

  Result r = RunAiops({"log", "export", "--dir", dir_, "--out", Path("a.export"), "--to",
                       std::to_string(last - 3), "--prune"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_TRUE(Contains(r.out, fmt::format("state: a restart starts from the pipeline state's "
                                          "snapshot at sequence {}",
                                          last - 3)))
      << r.out;
  EXPECT_EQ(before, rebuilt_digest());
  // Again, further: the snapshot moves up to the new boundary.
  r = RunAiops({"log", "export", "--dir", dir_, "--out", Path("b.export"), "--to",
                std::to_string(last - 1), "--prune", "--json"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_EQ(last - 1, nlohmann::json::parse(r.out)["snapshot_sequence"]);
  EXPECT_EQ(before, rebuilt_digest());

  // History pruned behind the command's back, with no snapshot covering it: nothing more is
  // pruned, and the command says why.
  {
    auto log = OpenReadWrite(dir_);
    ASSERT_TRUE(log->PutSnapshot(projections::kPipelineSnapshotName, eventlog::Snapshot{}).ok());
    ASSERT_TRUE(log->GetSnapshot(projections::kPipelineSnapshotName).ok());
    ASSERT_TRUE(log->Prune(last).ok());
  }
  r = RunAiops({"log", "export", "--dir", dir_, "--out", Path("c.export"), "--prune"});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_TRUE(Contains(r.err, "not pruning: the history before sequence " + std::to_string(last) +
                                  " was pruned earlier and no snapshot of the pipeline state "
                                  "covers it"))
      << r.err;
  EXPECT_EQ(last, OpenReadWrite(dir_)->FirstSequence());
}

// The CR mirror writes Anomaly objects from their events' detail: history it has not handled is
// not pruned.
TEST_F(LogCommandTest, ExportWithPruneStopsAtTheMirrorsCursor) {
  MakeLog(10);
  ASSERT_TRUE(OpenReadWrite(dir_)->PutCursor(k8s_sync::kMirrorFollower, 6).ok());
  Result r = RunAiops({"log", "export", "--dir", dir_, "--out", Path("a.export"), "--prune"});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_TRUE(Contains(r.err,
                       "not pruning: the CR mirror has handled the log up to sequence 6 "
                       "only"))
      << r.err;
  EXPECT_TRUE(Contains(r.err, "prune with --to 6 or less")) << r.err;
  EXPECT_EQ(1U, OpenReadWrite(dir_)->FirstSequence());
  r = RunAiops({"log", "export", "--dir", dir_, "--out", Path("b.export"), "--to", "6", "--prune"});
  ASSERT_EQ(kExitOk, r.code) << r.err;
  EXPECT_EQ(7U, OpenReadWrite(dir_)->FirstSequence());
}

TEST_F(LogCommandTest, ImportOfADamagedFileCreatesNothing) {
  MakeLog(3);
  const std::string file = Path("x.export");
  ASSERT_EQ(kExitOk, RunAiops({"log", "export", "--dir", dir_, "--out", file}).code);
  fs::resize_file(file, fs::file_size(file) - 5);
  const std::string target = Path("target");
  const Result r = RunAiops({"log", "import", "--dir", target, "--in", file});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_EQ(0U, r.err.find("aiops log import: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "torn tail")) << r.err;
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(LogCommandTest, BadUsageExitsTwoNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"log"}, "usage: aiops log"},
      {{"log", "frob", "--dir", "x"}, "unknown subcommand 'frob'"},
      {{"log", "verify"}, "'--dir' is required"},
      {{"log", "verify", "--dir"}, "'--dir' needs a value"},
      {{"log", "show", "--dir", "x", "--limit", "ten"}, "'--limit'"},
      {{"log", "show", "--dir", "x", "--from", "0"}, "'--from'"},
      {{"log", "show", "--dir", "x", "--follow"}, "unknown flag '--follow'"},
      {{"log", "verify", "--dir", "x", "--json=yes"}, "'--json' takes no value"},
      {{"log", "export", "--dir", "x"}, "'--out' is required"},
      {{"log", "export", "--dir", "x", "--out", "f", "--from", "5", "--to", "2"}, "'--to'"},
      {{"log", "import", "--dir", "x"}, "'--in' is required"},
      {{"log", "tail", "--dir", "x", "extra"}, "unexpected argument 'extra'"},
  };
  for (const Case& c : cases) {
    const Result r = RunAiops(c.args);
    EXPECT_EQ(kExitUsage, r.code) << c.args.back();
    EXPECT_TRUE(Contains(r.err, c.message)) << r.err;
  }
  const Result help = RunAiops({"log", "--help"});
  EXPECT_EQ(kExitOk, help.code);
  EXPECT_TRUE(Contains(help.out, "export")) << help.out;
  const Result top = RunAiops({"--help"});
  EXPECT_TRUE(Contains(top.out, "\n  log ")) << top.out;
}

TEST_F(LogCommandTest, AMissingLogIsAFailureNotAnEmptyOne) {
  const Result r = RunAiops({"log", "show", "--dir", Path("nothing-here")});
  EXPECT_EQ(kExitFailure, r.code);
  EXPECT_EQ(0U, r.err.find("aiops log show: ")) << r.err;
  EXPECT_FALSE(fs::exists(Path("nothing-here")));
}

}  // namespace
}  // namespace aiops::server
