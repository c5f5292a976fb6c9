// UTF-8 for outside text (API server answers, LLM answers, Event messages): validation, repair
// and cutting on a character boundary. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aiops::common {

// U+FFFD, written in place of every byte that is not part of a well-formed UTF-8 sequence.
inline constexpr char kReplacementCharacter[] = "\xEF\xBF\xBD";

bool IsValidUtf8(std::string_view text);

// `text` with every invalid byte (stray continuation bytes, overlong forms, surrogates, code
// points above U+10FFFF, truncated sequences) replaced by U+FFFD. Valid input is returned as is.
std::string SanitizeUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not split a UTF-8
// sequence (`text` must be valid UTF-8).
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

// `text` if it fits in `max_bytes`; otherwise a prefix cut on a character boundary followed by
// `marker`, the whole at most `max_bytes` bytes (`text` must be valid UTF-8).
std::string TruncateUtf8(std::string_view text, size_t max_bytes, std::string_view marker);

}  // namespace aiops::common
