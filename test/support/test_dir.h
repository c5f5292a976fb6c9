// A fresh, empty folder for the running test: under ::testing::TempDir(), named after the
// prefix, the process and the test, so parallel and repeated runs never collide. The caller
// removes it (std::filesystem::remove_all) when done.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

namespace aiops::testing {

inline std::string FreshTestDir(std::string_view prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      fmt::format("{}-{}-{}", prefix, getpid(), info != nullptr ? info->name() : "global");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace aiops::testing
