// The JSON lines the common logger (common/log.h) writes while a CapturedLog lives, parsed.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace aiops::testing {

class CapturedLog {
 public:
  CapturedLog() { common::SetLogSink(&sink_); }
  ~CapturedLog() { common::SetLogSink(nullptr); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::vector<nlohmann::json> Lines() const {
    std::vector<nlohmann::json> lines;
    std::istringstream in(sink_.str());
    for (std::string line; std::getline(in, line);) {
      lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
  }

 private:
  std::ostringstream sink_;
};

}  // namespace aiops::testing
