// libFuzzer target: the event-log record decoder on arbitrary bytes (a stored value read back
// from disk, or a record inside an export file). It must return a status, never crash, and a
// record it accepts must frame back to a record it accepts again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "common/check.h"
#include "common/crc32c.h"
#include "eventlog/event_limits.h"
#include "eventlog/record.h"

namespace {

// The input as an envelope behind a correct frame, so the fuzzer reaches the envelope parser
// instead of stopping at the CRC.
std::string Framed(std::string_view body) {
  std::string rest(1, static_cast<char>(aiops::eventlog::kRecordFormatVersion));
  rest.append(body);
  const uint32_t crc = aiops::common::crc32c::Mask(aiops::common::crc32c::Value(rest));
  std::string value;
  for (int i = 0; i < 4; ++i) {
    value.push_back(static_cast<char>((crc >> (8 * i)) & 0xffU));
  }
  return value + rest;
}

void Check(std::string_view input) {
  auto event = aiops::eventlog::DecodeRecord(input);
  if (!event.ok() || event->payload_case() == aiops::v1::Event::PAYLOAD_NOT_SET) {
    return;
  }
  // Whatever decodes is valid UTF-8 (protobuf checked it) and re-encodes to a decodable record.
  AIOPS_CHECK(aiops::eventlog::ValidateUtf8(*event).ok());
  auto again = aiops::eventlog::DecodeRecord(aiops::eventlog::EncodeRecord(*event));
  AIOPS_CHECK(again.ok());
  AIOPS_CHECK(again->SerializeAsString() == event->SerializeAsString());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Protobuf logs every invalid UTF-8 string it refuses; the refusal is what is tested.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Check(input);
  Check(Framed(input));
  return 0;
}
