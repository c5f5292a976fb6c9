#include "server/cli.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/version.h"

namespace aiops::server {
namespace {

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

}  // namespace
}  // namespace aiops::server
