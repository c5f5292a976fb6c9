#include "eventlog/record.h"

#include <fmt/format.h>

#include "common/check.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/fmt_absl.h"
#include "common/status_macros.h"

namespace aiops::eventlog {
std::string EncodeSequenceKey(uint64_t sequence) {
  std::string key;
  key.reserve(8);
  common::AppendBigEndian(key, sequence);
  return key;
}

absl::StatusOr<uint64_t> DecodeSequenceKey(std::string_view key) {
  if (key.size() != 8) {
    return absl::DataLossError(fmt::format("event key has {} bytes, expected 8", key.size()));
  }
  return common::DecodeBigEndian(key);
}

std::string EncodeRecord(const v1::Event& event) {
  AIOPS_CHECK(event.payload_case() != v1::Event::PAYLOAD_NOT_SET);
  std::string value;
  value.reserve(kRecordHeaderSize + event.ByteSizeLong());
  value.resize(4);
  value.push_back(static_cast<char>(kRecordFormatVersion));
  AIOPS_CHECK(event.AppendToString(&value));
  const uint32_t crc = common::crc32c::Value(std::string_view(value).substr(4));
  std::string header;
  common::AppendFixed32Le(header, common::crc32c::Mask(crc));
  value.replace(0, 4, header);
  return value;
}

absl::Status CheckRecordFrame(std::string_view value) {
  if (value.size() < kRecordHeaderSize) {
    return absl::DataLossError(fmt::format("record too short: {} bytes, the header alone is {}",
                                           value.size(), kRecordHeaderSize));
  }
  const uint32_t stored = common::crc32c::Unmask(common::DecodeFixed32Le(value));
  const uint32_t actual = common::crc32c::Value(value.substr(4));
  if (stored != actual) {
    return absl::DataLossError(
        fmt::format("record checksum mismatch (stored {:08x}, computed {:08x})", stored, actual));
  }
  const auto version = static_cast<uint8_t>(value[4]);
  if (version != kRecordFormatVersion) {
    return absl::DataLossError(fmt::format("unknown record format version {}", version));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> DecodeRecord(std::string_view value) {
  v1::Event event;
  AIOPS_RETURN_IF_ERROR(DecodeRecordInto(value, event));
  return event;
}

absl::Status DecodeRecordInto(std::string_view value, v1::Event& event) {
  AIOPS_RETURN_IF_ERROR(CheckRecordFrame(value));
  return ParseCheckedRecord(value, event);
}

absl::Status ParseCheckedRecord(std::string_view value, v1::Event& event) {
  const std::string_view body = value.substr(kRecordHeaderSize);
  if (!event.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError("record envelope does not parse as aiops.v1.Event");
  }
  if (event.payload_case() == v1::Event::PAYLOAD_NOT_SET && !event.ignorable()) {
    return absl::FailedPreconditionError(fmt::format(
        "event {} has a payload type this binary does not know (schema version {}); upgrade "
        "the binary to read this log",
        event.sequence(), event.schema_version()));
  }
  return absl::OkStatus();
}

common::Sha256Digest RecordHash(std::string_view value) { return common::Sha256Of(value); }

std::string_view PayloadName(const v1::Event& event) {
  const auto* field = v1::Event::descriptor()->FindFieldByNumber(event.payload_case());
  return field == nullptr ? std::string_view("unknown") : std::string_view(field->name());
}

}  // namespace aiops::eventlog
