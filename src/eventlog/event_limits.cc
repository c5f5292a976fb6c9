#include "eventlog/event_limits.h"

#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/stubs/common.h>

namespace aiops::eventlog {
namespace {

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
