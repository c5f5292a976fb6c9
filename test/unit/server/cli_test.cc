#include "server/cli.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/version.h"
#include "server/daemon.h"
#include "server/json_log.h"
#include <grpc/support/log.h>

namespace aiops::server {
namespace {

using common::LogJson;
using common::LogLevel;
using common::SetLogLevel;
using common::SetLogSink;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunAiops(std::vector<std::string_view> args) {
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(args, out, err);
  return {code, out.str(), err.str()};
}

TEST(CliTest, HelpListsCommandsOnStdoutAndSucceeds) {
  for (std::string_view flag : {"--help", "-h", "help"}) {
    const Result r = RunAiops({flag});
    EXPECT_EQ(kExitOk, r.code) << flag;
    EXPECT_NE(std::string::npos, r.out.find("usage: aiops")) << flag;
    EXPECT_NE(std::string::npos, r.out.find("version")) << flag;
    EXPECT_TRUE(r.err.empty()) << flag;
  }
}

TEST(CliTest, VersionPrintsTheBuildVersion) {
  for (const std::vector<std::string_view>& args :
       {std::vector<std::string_view>{"--version"}, std::vector<std::string_view>{"version"}}) {
    const Result r = RunAiops(args);
    EXPECT_EQ(kExitOk, r.code);
    EXPECT_EQ(0U, r.out.find("aiops " + std::string(common::Version())));
    EXPECT_NE(std::string::npos, r.out.find("OpenSSL"));
  }
}

TEST(CliTest, NoArgumentsIsAUsageErrorWithHelpOnStderr) {
  const Result r = RunAiops({});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(std::string::npos, r.err.find("usage: aiops"));
}

TEST(CliTest, UnknownCommandIsAUsageErrorNamingIt) {
  const Result r = RunAiops({"frobnicate"});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find("unknown command or option 'frobnicate'"));
}

TEST(CliTest, VersionRejectsExtraArguments) {
  const Result r = RunAiops({"version", "--json"});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find("unexpected argument '--json'"));
}

// --- aiops run: flags, the configuration file and the environment --------------------------------

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

// Sets an environment variable for one test and restores it (tests here run on one thread).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) {  // NOLINT(concurrency-mt-unsafe)
      old_ = old;
      had_ = true;
    }
    setenv(name, value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      unsetenv(name_);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ScopedEnv(ScopedEnv&&) = delete;
  ScopedEnv& operator=(ScopedEnv&&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

absl::StatusOr<DaemonConfig> RunConfig(std::vector<std::string_view> args) {
  absl::StatusOr<ParsedFlags> flags = ParseRunFlags(args);
  if (!flags.ok()) {
    return flags.status();
  }
  return RunConfigFromFlags(*flags);
}

TEST(RunCommandTest, ABadFlagIsAUsageErrorNamingIt) {
  Result r = RunAiops({"run", "--grpc-port", "1"});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find("--grpc-port")) << r.err;
  EXPECT_NE(std::string::npos, r.err.find("usage: aiops run")) << r.err;

  r = RunAiops({"run", "--data-dir"});  // a value flag without its value
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find("--data-dir")) << r.err;

  r = RunAiops({"run", "--log-level", "loud"});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find("--log-level must be debug, info, warn or error"))
      << r.err;
}

TEST(RunCommandTest, AMissingOrMalformedConfigFileIsAUsageErrorNamingTheFileAndKey) {
  Result r = RunAiops({"run", "--config", "/nonexistent/aiops.json"});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find("/nonexistent/aiops.json")) << r.err;

  const std::string bad_json = WriteFile("run-bad.json", "{\"clusterId\": ");
  r = RunAiops({"run", "--config", bad_json});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find(bad_json + ": the configuration is not valid JSON"))
      << r.err;

  const std::string bad_key = WriteFile("run-bad-key.json", R"({"analyzer": {"chatcliTls": 1}})");
  r = RunAiops({"run", "--config", bad_key});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find(bad_key)) << r.err;
  EXPECT_NE(std::string::npos, r.err.find("\"analyzer.chatcliTls\" must be true or false"))
      << r.err;
}

TEST(RunCommandTest, AiopsConfigChoosesTheFileAndConfigOverridesIt) {
  const std::string from_env =
      WriteFile("run-env.json", R"({"clusterId": "from-env", "dataDir": "/env"})");
  const std::string from_flag = WriteFile("run-flag.json", R"({"clusterId": "from-flag"})");
  ScopedEnv env("AIOPS_CONFIG", from_env);
  absl::StatusOr<DaemonConfig> c = RunConfig({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ("from-env", c->cluster_id);
  EXPECT_EQ("/env", c->data_dir);

  c = RunConfig({"--config", from_flag});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ("from-flag", c->cluster_id);

  // The command itself reads $AIOPS_CONFIG: a malformed file named there stops it, by name.
  const std::string malformed = WriteFile("run-env-bad.json", R"({"dataDir": 3})");
  ScopedEnv bad("AIOPS_CONFIG", malformed);
  const Result r = RunAiops({"run"});
  EXPECT_EQ(kExitUsage, r.code);
  EXPECT_NE(std::string::npos, r.err.find(malformed + ": \"dataDir\" must be a string")) << r.err;
}

TEST(RunCommandTest, FlagsOverrideTheFile) {
  const std::string file = WriteFile("run-overrides.json", R"({
    "clusterId": "file", "dataDir": "/file", "grpcListen": "127.0.0.1:1", "httpListen": ":2",
    "kubeconfig": "/file/kubeconfig", "logLevel": "warn",
    "leaderElection": {"enabled": true}, "pipeline": {"dryRun": {"global": true}}
  })");
  absl::StatusOr<DaemonConfig> c = RunConfig({"--config", file});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ("file", c->cluster_id);
  EXPECT_EQ("warn", c->log_level);
  EXPECT_TRUE(c->leader_election.enabled);

  c = RunConfig({"--config", file, "--cluster-id", "flag", "--data-dir=/flag", "--grpc-listen",
                 "127.0.0.1:3", "--http-listen", "127.0.0.1:4", "--kubeconfig", "/flag/kubeconfig",
                 "--log-level", "debug", "--no-leader-election"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ("flag", c->cluster_id);
  EXPECT_EQ("flag", c->pipeline.cluster_id());  // the pipeline follows the flag
  EXPECT_EQ("/flag", c->data_dir);
  EXPECT_EQ("127.0.0.1:3", c->grpc_listen);
  EXPECT_EQ("127.0.0.1:4", c->http_listen);
  EXPECT_EQ("/flag/kubeconfig", c->kubeconfig);
  EXPECT_EQ("debug", c->log_level);
  EXPECT_FALSE(c->leader_election.enabled);
  EXPECT_TRUE(c->pipeline.dry_run().global());  // the file stays authoritative for the pipeline
}

// --- JSON-lines logs
// ------------------------------------------------------------------------------

TEST(JsonLogTest, EveryLineIsOneJsonObjectWithTsLevelComponentAndMsgGrpcLinesIncluded) {
  std::ostringstream sink;
  SetLogSink(&sink);
  SetLogLevel(LogLevel::kDebug);
  RouteGrpcLogsToJson();
  const gpr_log_severity verbosity = GPR_LOG_SEVERITY_DEBUG;
  gpr_set_log_verbosity(verbosity);

  LogJson(LogLevel::kInfo, "daemon", "multi\nline \"quoted\" \xff message", {{"key", "v\nw"}});
  LogJson(LogLevel::kWarn, "mirror", "");
  gpr_log(GPR_ERROR, "connection %s failed:\n%d", "to 10.0.0.1", 7);
  gpr_log(GPR_INFO, "an info line");
  gpr_log(GPR_DEBUG, "a debug line");
  SetLogLevel(LogLevel::kWarn);
  gpr_log(GPR_INFO, "dropped below the level");
  SetLogSink(nullptr);
  SetLogLevel(LogLevel::kInfo);
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);

  std::vector<nlohmann::json> lines;
  std::istringstream in(sink.str());
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << line;
    ASSERT_TRUE(j.is_object()) << line;
    for (const char* key : {"ts", "level", "component", "msg"}) {
      ASSERT_TRUE(j.contains(key) && j[key].is_string()) << key << " in " << line;
    }
    lines.push_back(j);
  }
  ASSERT_EQ(5U, lines.size()) << sink.str();
  EXPECT_EQ("info", lines[0]["level"]);
  EXPECT_EQ("daemon", lines[0]["component"]);
  EXPECT_EQ("v\nw", lines[0]["key"]);
  EXPECT_EQ("warn", lines[1]["level"]);
  EXPECT_EQ("error", lines[2]["level"]);
  EXPECT_EQ("grpc", lines[2]["component"]);
  EXPECT_EQ("connection to 10.0.0.1 failed:\n7", lines[2]["msg"]);
  EXPECT_EQ(std::string(__FILE__), lines[2]["file"]);
  EXPECT_EQ("info", lines[3]["level"]);
  EXPECT_EQ("an info line", lines[3]["msg"]);
  EXPECT_EQ("debug", lines[4]["level"]);
  EXPECT_EQ("grpc", lines[4]["component"]);
}

}  // namespace
}  // namespace aiops::server
