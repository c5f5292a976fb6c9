#include "eventlog/event_limits.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/stubs/common.h>

namespace aiops::eventlog {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

template <typename MessageT>
struct StringRefT {
  MessageT* message;
  const FieldDescriptor* field;
  int index;  // -1 for a singular field
  size_t size;
};
using StringRef = StringRefT<Message>;

// Visits every set string field of `message` and its sub-messages (depth first, field order).
// MessageT is Message (the visitor may then change strings through the StringRef) or const
// Message.
template <typename MessageT, typename F>
void ForEachString(MessageT& message, std::string& path, F&& visit) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const size_t path_size = path.size();
    path.append(path.empty() ? "" : ".").append(field->name());
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          visit(StringRefT<MessageT>{&message, field, i, 0},
                reflection->GetRepeatedString(message, field, i), path);
        }
      } else {
        visit(StringRefT<MessageT>{&message, field, -1, 0}, reflection->GetString(message, field),
              path);
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          if constexpr (std::is_const_v<MessageT>) {
            ForEachString(reflection->GetRepeatedMessage(message, field, i), path, visit);
          } else {
            ForEachString(*reflection->MutableRepeatedMessage(&message, field, i), path, visit);
          }
        }
      } else {
        if constexpr (std::is_const_v<MessageT>) {
          ForEachString(reflection->GetMessage(message, field), path, visit);
        } else {
          ForEachString(*reflection->MutableMessage(&message, field), path, visit);
        }
      }
    }
    path.resize(path_size);
  }
}

void SetString(const StringRef& ref, std::string value) {
  const Reflection* reflection = ref.message->GetReflection();
  if (ref.index < 0) {
    reflection->SetString(ref.message, ref.field, std::move(value));
  } else {
    reflection->SetRepeatedString(ref.message, ref.field, ref.index, std::move(value));
  }
}

// Largest prefix length <= `limit` that does not split a UTF-8 sequence.
size_t Utf8Boundary(const std::string& s, size_t limit) {
  size_t n = std::min(limit, s.size());
  while (n > 0 && n < s.size() && (static_cast<uint8_t>(s[n]) & 0xc0U) == 0x80U) {
    --n;
  }
  return n;
}

}  // namespace

namespace {

// Fast check of every string, no copies and no path building; the path is found only on failure.
bool AllStringsValid(const Message& message) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  std::string scratch;
  for (const FieldDescriptor* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          const std::string& v =
              reflection->GetRepeatedStringReference(message, field, i, &scratch);
          if (!google::protobuf::internal::IsStructurallyValidUTF8(v.data(),
                                                                   static_cast<int>(v.size()))) {
            return false;
          }
        }
      } else {
        const std::string& v = reflection->GetStringReference(message, field, &scratch);
        if (!google::protobuf::internal::IsStructurallyValidUTF8(v.data(),
                                                                 static_cast<int>(v.size()))) {
          return false;
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          if (!AllStringsValid(reflection->GetRepeatedMessage(message, field, i))) {
            return false;
          }
        }
      } else if (!AllStringsValid(reflection->GetMessage(message, field))) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

namespace {

// What the wire walk of SerializedStringsValid does with a length-delimited field.
enum class WireField : uint8_t { kSkip, kString, kMessage };

// One message type's fields, indexed by field number (numbers past the end are unknown: kSkip).
struct WireMessage {
  std::vector<WireField> kinds;
  std::vector<uint32_t> children;  // kMessage: the index of the field type's WireMessage
  bool sparse = false;             // a field number too large to index: the walk gives up
};

// The string and message fields of a message type and of every type it reaches, built once from
// the descriptors (the same ones the generated parser was made from).
class WireSchema {
 public:
  explicit WireSchema(const Descriptor* root) { Add(root); }
  const WireMessage& message(uint32_t index) const { return messages_[index]; }

 private:
  static constexpr int kMaxIndexedNumber = 1024;

  uint32_t Add(const Descriptor* type) {
    if (const auto it = index_.find(type); it != index_.end()) {
      return it->second;
    }
    const auto index = static_cast<uint32_t>(messages_.size());
    index_.emplace(type, index);
    messages_.emplace_back();  // reserved: a recursive type finds its index above
    WireMessage message;
    int max_number = 0;
    for (int i = 0; i < type->field_count(); ++i) {
      max_number = std::max(max_number, type->field(i)->number());
    }
    message.sparse = max_number > kMaxIndexedNumber;
    const auto slots = static_cast<size_t>(std::min(max_number, kMaxIndexedNumber)) + 1;
    message.kinds.assign(slots, WireField::kSkip);
    message.children.assign(slots, 0);
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      const auto number = static_cast<size_t>(field->number());
      if (number >= slots) {
        continue;
      }
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        message.kinds[number] = WireField::kString;
      } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
        message.kinds[number] = WireField::kMessage;
        message.children[number] = Add(field->message_type());
      }
    }
    messages_[index] = std::move(message);
    return index;
  }

  std::vector<WireMessage> messages_;
  std::map<const Descriptor*, uint32_t> index_;
};

bool ReadVarint(const char*& p, const char* end, uint64_t& value) {
  if (p < end && (static_cast<uint8_t>(*p) & 0x80U) == 0) {  // one byte: most tags and lengths
    value = static_cast<uint8_t>(*p++);
    return true;
  }
  value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto byte = static_cast<uint8_t>(*p++);
    value |= static_cast<uint64_t>(byte & 0x7fU) << shift;
    if ((byte & 0x80U) == 0) {
      return true;
    }
  }
  return false;
}

// protobuf's UTF-8 check, after a fast skip over the ASCII prefix (most text), 8 bytes at a time.
bool Utf8Valid(const char* p, size_t size) {
  constexpr uint64_t kHighBits = 0x8080808080808080U;
  size_t ascii = 0;
  for (uint64_t word = 0; ascii + 8 <= size; ascii += 8) {
    std::memcpy(&word, p + ascii, 8);
    if ((word & kHighBits) != 0) {
      break;
    }
  }
  while (ascii < size && (static_cast<uint8_t>(p[ascii]) & 0x80U) == 0) {
    ++ascii;
  }
  return ascii == size || google::protobuf::internal::IsStructurallyValidUTF8(
                              p + ascii, static_cast<int>(size - ascii));
}

// Walks one message's fields in [p, end): false at the first invalid string or anything the walk
// does not follow.
bool WalkWire(const WireSchema& schema, uint32_t index, const char* p, const char* end, int depth) {
  constexpr int kMaxDepth = 64;  // protobuf's parser allows 100
  const WireMessage& message = schema.message(index);
  if (message.sparse) {
    return false;
  }
  while (p < end) {
    uint64_t tag = 0;
    if (!ReadVarint(p, end, tag) || tag > UINT32_MAX || (tag >> 3) == 0) {
      return false;
    }
    const uint64_t number = tag >> 3;
    uint64_t value = 0;
    switch (tag & 7U) {
      case 0:  // varint
        if (!ReadVarint(p, end, value)) {
          return false;
        }
        break;
      case 1:  // fixed64
        if (end - p < 8) {
          return false;
        }
        p += 8;
        break;
      case 5:  // fixed32
        if (end - p < 4) {
          return false;
        }
        p += 4;
        break;
      case 2: {  // length-delimited
        if (!ReadVarint(p, end, value) || value > static_cast<uint64_t>(end - p) ||
            value > INT_MAX) {
          return false;
        }
        const auto size = static_cast<size_t>(value);
        const WireField kind =
            number < message.kinds.size() ? message.kinds[number] : WireField::kSkip;
        if (kind == WireField::kString && !Utf8Valid(p, size)) {
          return false;
        }
        if (kind == WireField::kMessage &&
            (depth >= kMaxDepth ||
             !WalkWire(schema, message.children[number], p, p + size, depth + 1))) {
          return false;
        }
        p += size;
        break;
      }
      default:  // groups (deprecated, unused by our schema) and invalid wire types
        return false;
    }
  }
  return true;
}

}  // namespace

bool SerializedStringsValid(std::string_view serialized) {
  static const WireSchema* const kSchema = new WireSchema(v1::Event::descriptor());
  return WalkWire(*kSchema, 0, serialized.data(), serialized.data() + serialized.size(), 0);
}

absl::Status ValidateUtf8(const v1::Event& event) {
  if (AllStringsValid(event)) {
    return absl::OkStatus();
  }
  std::string path;
  std::string bad_path;
  const Message& message = event;
  ForEachString(message, path,
                [&](const auto&, const std::string& value, const std::string& field_path) {
                  if (bad_path.empty() && !google::protobuf::internal::IsStructurallyValidUTF8(
                                              value.data(), static_cast<int>(value.size()))) {
                    bad_path = field_path;
                  }
                });
  return absl::InvalidArgumentError(
      fmt::format("event field '{}' is not valid UTF-8; sanitize it at the edge", bad_path));
}

absl::Status TruncateToFit(v1::Event& event, size_t max_bytes) {
  const size_t original = event.ByteSizeLong();
  if (original <= max_bytes) {
    return absl::OkStatus();
  }
  event.set_truncated(true);
  event.set_original_size(original);
  // Cut the longest string first, repeatedly, until the event fits. Each cut leaves a marker, so
  // a reader always sees that (and how much) text is missing.
  for (int round = 0; round < 64; ++round) {
    const size_t size = event.ByteSizeLong();
    if (size <= max_bytes) {
      break;
    }
    std::string path;
    StringRef longest{nullptr, nullptr, -1, 0};
    Message& message = event;
    ForEachString(message, path,
                  [&](const StringRef& ref, const std::string& value, const std::string&) {
                    if (value.size() > longest.size) {
                      longest = ref;
                      longest.size = value.size();
                    }
                  });
    if (longest.message == nullptr || longest.size <= 64) {
      return absl::InvalidArgumentError(fmt::format(
          "event of {} bytes exceeds the {}-byte cap and its strings cannot be cut further",
          original, max_bytes));
    }
    const std::string current =
        longest.index < 0
            ? longest.message->GetReflection()->GetString(*longest.message, longest.field)
            : longest.message->GetReflection()->GetRepeatedString(*longest.message, longest.field,
                                                                  longest.index);
    const size_t excess = size - max_bytes;
    const size_t marker_room = 40;
    const size_t keep_target = current.size() > excess + marker_room
                                   ? current.size() - excess - marker_room
                                   : current.size() / 2;
    const size_t keep = Utf8Boundary(current, keep_target);
    SetString(longest, current.substr(0, keep) +
                           fmt::format(kTruncationMarkerFormat, current.size() - keep));
  }
  if (event.ByteSizeLong() > max_bytes) {
    return absl::InvalidArgumentError(fmt::format(
        "event of {} bytes could not be truncated below the {}-byte cap", original, max_bytes));
  }
  return absl::OkStatus();
}

}  // namespace aiops::eventlog
