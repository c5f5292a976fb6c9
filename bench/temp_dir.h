// TempDir: a fresh folder under the system temp folder ($TMPDIR, else /tmp) named
// "<prefix>-XXXXXX", removed (recursively) on destruction. Shared by the benchmarks.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <stdlib.h>  // mkdtemp

namespace aiops::bench {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix) {
    std::error_code ec;
    std::string pattern =
        (std::filesystem::temp_directory_path(ec) / (std::string(prefix) + "-XXXXXX")).string();
    if (!ec && ::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);  // why: best effort; nothing to do on failure
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace aiops::bench
