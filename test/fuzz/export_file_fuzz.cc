// libFuzzer target: the export-file reader (a file handed to `aiops log import`) on arbitrary
// bytes. It must reject what is not a valid, chained export with a status, never crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "eventlog/export_file.h"
#include <unistd.h>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 is refused, and logged, by protobuf
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kPath = "/tmp/aiops-export-fuzz-" + std::to_string(getpid());
  FILE* f = std::fopen(kPath.c_str(), "wb");
  if (f == nullptr) {
    return 0;
  }
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto contents = aiops::eventlog::ReadExportFile(kPath);
  (void)contents;
  return 0;
}
