#include "server/analysis/redact.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <vector>

namespace aiops::analysis {
namespace {

constexpr std::string_view kRedactedView = kRedacted;

// Key names whose value is a secret (matched case-insensitively as substrings of the key).
constexpr std::array<std::string_view, 16> kSensitiveWords = {
    "password",    "passwd",      "passphrase", "secret",       "token",      "apikey",
    "api_key",     "api-key",     "accesskey",  "access_key",   "access-key", "privatekey",
    "private_key", "private-key", "credential", "authorization"};
// Key names that are secrets only when they are the whole key.
constexpr std::array<std::string_view, 3> kSensitiveExactKeys = {"auth", "pwd", "pass"};

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsIdentChar(char c) { return IsAlnum(c) || c == '_' || c == '-' || c == '.'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool IsTokenChar(char c) { return IsAlnum(c) || c == '_' || c == '-'; }
// RFC 6750 token68 characters.
bool IsBearerChar(char c) {
  return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' ||
         c == '=';
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsSensitiveKey(std::string_view key) {
  const std::string lower = ToLower(key);
  std::string_view bare = lower;
  while (!bare.empty() && bare.front() == '-') {
    bare.remove_prefix(1);  // command-line flags: --password=x
  }
  if (std::find(kSensitiveExactKeys.begin(), kSensitiveExactKeys.end(), bare) !=
      kSensitiveExactKeys.end()) {
    return true;
  }
  return std::any_of(kSensitiveWords.begin(), kSensitiveWords.end(),
                     [&](std::string_view w) { return lower.find(w) != std::string::npos; });
}

size_t Indent(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
    ++i;
  }
  return i;
}

std::string_view Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (IsSpace(s[b]) || s[b] == '\n')) {
    ++b;
  }
  while (e > b && (IsSpace(s[e - 1]) || s[e - 1] == '\n')) {
    --e;
  }
  return s.substr(b, e - b);
}

// "- key: v" -> "key: v" (a YAML list item).
std::string_view WithoutDash(std::string_view trimmed) {
  if (StartsWith(trimmed, "- ")) {
    return Trim(trimmed.substr(2));
  }
  return trimmed;
}

// ---------------------------------------------------------------------------------------------
// PEM private keys: everything between the BEGIN and END lines.

std::string RedactPem(std::string_view text) {
  if (text.find("-----BEGIN ") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t begin = text.find("-----BEGIN ", pos);
    if (begin == std::string_view::npos) {
      break;
    }
    const size_t label_start = begin + 11;
    const size_t label_end = text.find("-----", label_start);
    if (label_end == std::string_view::npos) {
      break;
    }
    const std::string_view label = text.substr(label_start, label_end - label_start);
    if (label.find('\n') != label.npos || label.find("PRIVATE KEY") == std::string_view::npos) {
      // Not a private key's BEGIN line (a certificate, a public key, or "-----BEGIN " inside
      // other text): search on right after this BEGIN, because its closing dashes may be the
      // opening dashes of a real private key block.
      out.append(text.substr(pos, label_start - pos));
      pos = label_start;
      continue;
    }
    const size_t body_start = label_end + 5;
    out.append(text.substr(pos, body_start - pos));
    const size_t end = text.find("-----END ", body_start);
    // Without an END line (a cut context) everything after BEGIN is key material. An empty body
    // hides nothing and stays empty (see Redact on why no rule masks an empty span).
    pos = end == std::string_view::npos ? text.size() : end;
    if (pos > body_start) {
      out.append(kRedactedView);
    }
  }
  out.append(text.substr(std::min(pos, text.size())));
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON Secret dumps: string values of "data" / "stringData" objects.

size_t SkipSpaces(std::string_view s, size_t i) {
  while (i < s.size() && (IsSpace(s[i]) || s[i] == '\n')) {
    ++i;
  }
  return i;
}

// The index just past the JSON string that starts at s[i] == '"'.
size_t SkipJsonString(std::string_view s, size_t i) {
  ++i;
  while (i < s.size() && s[i] != '"') {
    i += s[i] == '\\' ? size_t{2} : size_t{1};
  }
  return std::min(i + 1, s.size());
}

bool HasJsonSecret(std::string_view text) {
  for (size_t at = text.find("\"kind\""); at != std::string_view::npos;
       at = text.find("\"kind\"", at + 1)) {
    size_t i = SkipSpaces(text, at + 6);
    if (i < text.size() && text[i] == ':') {
      i = SkipSpaces(text, i + 1);
      if (StartsWith(text.substr(i), "\"Secret\"")) {
        return true;
      }
    }
  }
  return false;
}

std::string RedactJsonSecretData(std::string_view text) {
  if (text.find("\"kind\"") == std::string_view::npos || !HasJsonSecret(text)) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const std::string_view rest = text.substr(i);
    size_t key_len = 0;
    if (StartsWith(rest, "\"data\"")) {
      key_len = 6;
    } else if (StartsWith(rest, "\"stringData\"")) {
      key_len = 12;
    } else {
      continue;
    }
    size_t j = SkipSpaces(text, i + key_len);
    if (j >= text.size() || text[j] != ':') {
      continue;
    }
    j = SkipSpaces(text, j + 1);
    if (j >= text.size() || text[j] != '{') {
      continue;
    }
    // Inside the object: every string that follows a ':' is a value to mask.
    int depth = 0;
    bool after_colon = false;
    size_t k = j;
    for (; k < text.size(); ++k) {
      const char c = text[k];
      if (c == '{') {
        ++depth;
      } else if (c == '}') {
        if (--depth == 0) {
          break;
        }
      } else if (c == ':') {
        after_colon = true;
      } else if (c == '"') {
        const size_t end = SkipJsonString(text, k);
        // The closing quote is kept; an unterminated string (a cut context) is masked to the end.
        const size_t content_end = end - 1 > k && text[end - 1] == '"' ? end - 1 : text.size();
        if (after_colon && content_end > k + 1) {
          out.append(text.substr(pos, k + 1 - pos));
          out.append(kRedactedView);
          pos = content_end;
        }
        after_colon = false;
        k = end - 1;
      } else if (c == ',') {
        after_colon = false;
      }
    }
    i = k;
  }
  out.append(text.substr(pos));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Line rules.

// "Bearer <credential>" anywhere (any case).
std::string RedactBearer(std::string_view line) {
  std::string out;
  size_t pos = 0;
  const std::string lower = ToLower(line);
  for (size_t at = lower.find("bearer"); at != std::string::npos;
       at = lower.find("bearer", at + 6)) {
    if (at > 0 && IsAlnum(line[at - 1])) {
      continue;
    }
    size_t i = at + 6;
    if (i >= line.size() || !IsSpace(line[i])) {
      continue;
    }
    while (i < line.size() && IsSpace(line[i])) {
      ++i;
    }
    size_t end = i;
    while (end < line.size() && IsBearerChar(line[end])) {
      ++end;
    }
    if (end == i) {
      continue;
    }
    out.append(line.substr(pos, i - pos));
    out.append(kRedactedView);
    pos = end;
  }
  out.append(line.substr(pos));
  return out;
}

// "scheme://user:password@host" -> "scheme://user:[REDACTED]@host".
std::string RedactUrlPasswords(std::string_view line) {
  std::string out;
  size_t pos = 0;
  for (size_t at = line.find("://"); at != std::string_view::npos; at = line.find("://", at + 3)) {
    const size_t start = at + 3;
    size_t i = start;
    while (i < line.size() && line[i] != '/' && line[i] != '@' && !IsSpace(line[i]) &&
           line[i] != '"' && line[i] != '\'') {
      ++i;
    }
    if (i >= line.size() || line[i] != '@') {
      continue;
    }
    const size_t colon = line.find(':', start);
    if (colon == std::string_view::npos || colon >= i || colon + 1 == i ||
        line.substr(colon + 1, i - colon - 1) == kRedactedView) {
      continue;
    }
    out.append(line.substr(pos, colon + 1 - pos));
    out.append(kRedactedView);
    pos = i;
  }
  out.append(line.substr(pos));
  return out;
}

struct TokenShape {
  std::string_view prefix;
  size_t rest_min;
  bool (*is_char)(char);
  size_t rest_exact = 0;  // 0: any length >= rest_min
};

bool IsUpperAlnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsWordChar(char c) { return IsAlnum(c) || c == '_'; }

constexpr std::array<TokenShape, 17> kTokenShapes = {{
    {"sk-ant-", 8, IsTokenChar},  // Anthropic (before the generic sk- shape)
    {"sk-", 16, IsTokenChar},     // OpenAI (sk-..., sk-proj-...)
    {"github_pat_", 20, IsWordChar},
    {"ghp_", 20, IsAlnum},
    {"gho_", 20, IsAlnum},
    {"ghu_", 20, IsAlnum},
    {"ghs_", 20, IsAlnum},
    {"ghr_", 20, IsAlnum},
    {"glpat-", 20, IsTokenChar},
    {"xoxb-", 10, IsTokenChar},
    {"xoxp-", 10, IsTokenChar},
    {"xoxa-", 10, IsTokenChar},
    {"xoxr-", 10, IsTokenChar},
    {"xoxs-", 10, IsTokenChar},
    {"AKIA", 16, IsUpperAlnum, 16},
    {"ASIA", 16, IsUpperAlnum, 16},
    {"AIza", 30, IsTokenChar},  // Google API keys
}};

// The length of a JSON Web Token starting at line[i] ("eyJ<header>.<payload>.<signature>"), or
// 0.
size_t JwtLength(std::string_view line, size_t i) {
  if (!StartsWith(line.substr(i), "eyJ")) {
    return 0;
  }
  size_t k = i;
  for (int part = 0; part < 3; ++part) {
    const size_t start = k;
    while (k < line.size() && IsTokenChar(line[k])) {
      ++k;
    }
    if (part < 2) {
      if (k - start < 10 || k >= line.size() || line[k] != '.') {
        return 0;
      }
      ++k;
    }
  }
  return k - i;
}

std::string RedactTokenShapes(std::string_view line) {
  std::string out;
  size_t pos = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (i > 0 && IsTokenChar(line[i - 1])) {
      continue;
    }
    size_t length = JwtLength(line, i);
    for (const TokenShape& shape : kTokenShapes) {
      if (length > 0) {
        break;
      }
      if (!StartsWith(line.substr(i), shape.prefix)) {
        continue;
      }
      size_t k = i + shape.prefix.size();
      while (k < line.size() && shape.is_char(line[k])) {
        ++k;
      }
      const size_t rest = k - i - shape.prefix.size();
      if (rest >= shape.rest_min && (shape.rest_exact == 0 || rest == shape.rest_exact)) {
        length = k - i;
      }
    }
    if (length > 0) {
      out.append(line.substr(pos, i - pos));
      out.append(kRedactedView);
      pos = i + length;
      i = pos - 1;
    }
  }
  out.append(line.substr(pos));
  return out;
}

bool IsBlockScalarIndicator(std::string_view v) {
  return v == "|" || v == ">" || v == "|-" || v == ">-" || v == "|+" || v == ">+";
}

// `key: value`, `key=value`, `"key": "value"` with a sensitive key. Sets *block_scalar when the
// value is a YAML block scalar, whose lines follow.
std::string RedactKeyValues(std::string_view line, bool* block_scalar) {
  std::string out;
  size_t pos = 0;
  const size_t n = line.size();
  size_t i = 0;
  while (i < n) {
    if (!IsIdentChar(line[i]) || (i > 0 && IsIdentChar(line[i - 1]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < n && IsIdentChar(line[j])) {
      ++j;
    }
    const std::string_view key = line.substr(i, j - i);
    i = j;
    if (!IsSensitiveKey(key)) {
      continue;
    }
    size_t k = j;
    if (k < n && (line[k] == '"' || line[k] == '\'')) {
      ++k;  // the closing quote of a quoted key
    }
    while (k < n && IsSpace(line[k])) {
      ++k;
    }
    if (k >= n || (line[k] != ':' && line[k] != '=')) {
      continue;
    }
    size_t v = k + 1;
    // "key:value" without a space is an image tag, a port or a URL, not YAML or JSON.
    if (line[k] == ':' && v < n && !IsSpace(line[v]) && line[v] != '"' && line[v] != '\'') {
      continue;
    }
    while (v < n && IsSpace(line[v])) {
      ++v;
    }
    if (v >= n) {
      continue;  // the value is a mapping on the following lines
    }
    size_t start = v;
    size_t end = v;
    const bool quoted = line[v] == '"' || line[v] == '\'';
    if (quoted) {
      const char quote = line[v];
      start = end = v + 1;
      while (end < n && line[end] != quote) {
        end += (line[end] == '\\' && quote == '"') ? size_t{2} : size_t{1};
      }
      end = std::min(end, n);
    } else {
      // Masks at the start of the value stay as they are, and what is glued after them is masked
      // ("[REDACTED]tail": the tail may be the rest of the secret). An existing mask ends the
      // value too: cutting into it would unmask its tail (see Redact).
      while (StartsWith(line.substr(start), kRedactedView)) {
        start += kRedactedView.size();
      }
      end = start;
      while (end < n && !IsSpace(line[end]) &&
             std::string_view(",;}])&\"'").find(line[end]) == std::string_view::npos &&
             !StartsWith(line.substr(end), kRedactedView)) {
        ++end;
      }
    }
    std::string_view value = line.substr(start, end - start);
    if (!quoted && IsBlockScalarIndicator(value)) {
      *block_scalar = true;
      i = end;
      continue;
    }
    // "Authorization: Basic abc" keeps the scheme word.
    if (ToLower(key).find("authorization") != std::string::npos) {
      size_t word = start;
      while (word < n && std::isalpha(static_cast<unsigned char>(line[word])) != 0) {
        ++word;
      }
      if (word > start && word < n && IsSpace(line[word])) {
        start = word;
        while (start < n && IsSpace(line[start])) {
          ++start;
        }
        end = start;
        while (end < n && !IsSpace(line[end]) && line[end] != '"' && line[end] != '\'') {
          ++end;
        }
        value = line.substr(start, end - start);
      }
    }
    if (value.empty() || value == kRedactedView) {
      i = std::max(i, end);
      continue;
    }
    out.append(line.substr(pos, start - pos));
    out.append(kRedactedView);
    pos = end;
    i = end;
  }
  out.append(line.substr(pos));
  return out;
}

// Secret documents of a YAML dump: a document starts at "---" or at an apiVersion line (the first
// key kubectl prints), and is a Secret when it has "kind: Secret" or a Secret type.
std::vector<bool> SecretDocumentLines(const std::vector<std::string_view>& lines) {
  std::vector<bool> secret(lines.size(), false);
  size_t doc_start = 0;
  bool is_secret = false;
  const auto close = [&](size_t end) {
    std::fill(secret.begin() + static_cast<std::ptrdiff_t>(doc_start),
              secret.begin() + static_cast<std::ptrdiff_t>(end), is_secret);
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view t = WithoutDash(Trim(lines[i]));
    if (Trim(lines[i]) == "---" || StartsWith(t, "apiVersion:")) {
      close(i);
      doc_start = i;
      is_secret = false;
    }
    if (t == "kind: Secret" || t == "type: Opaque" || StartsWith(t, "type: kubernetes.io/")) {
      is_secret = true;
    }
  }
  close(lines.size());
  return secret;
}

std::string RedactLines(std::string_view text) {
  // Lines without their '\n', so that no rule can swallow a line break.
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= text.size();) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  const bool maybe_yaml_secret = text.find("Secret") != std::string_view::npos ||
                                 text.find("type: ") != std::string_view::npos;
  const std::vector<bool> secret_doc =
      maybe_yaml_secret ? SecretDocumentLines(lines) : std::vector<bool>(lines.size(), false);

  std::string out;
  out.reserve(text.size() + 64);
  // Lines indented deeper than `block_indent` belong to the block being masked (a Secret's data
  // map, or a block scalar under a sensitive key); -1: no such block.
  int64_t block_indent = -1;
  for (size_t li = 0; li < lines.size(); ++li) {
    if (li > 0) {
      out.push_back('\n');
    }
    const std::string_view line = lines[li];
    const std::string_view trimmed = Trim(line);
    const size_t indent = Indent(line);
    if (block_indent >= 0) {
      if (trimmed.empty()) {
        out.append(line);
        continue;
      }
      if (static_cast<int64_t>(indent) > block_indent) {
        // Keep the key of "key: value" lines inside a data map and nested keys; mask the rest.
        const size_t colon = line.find(": ");
        if (trimmed.back() == ':') {
          out.append(line);
        } else if (colon != std::string_view::npos && colon > indent) {
          out.append(line.substr(0, colon + 2));
          out.append(kRedactedView);
        } else {
          out.append(line.substr(0, indent));
          out.append(kRedactedView);
        }
        continue;
      }
      block_indent = -1;
    }
    const std::string_view item = WithoutDash(trimmed);
    if (secret_doc[li] && (StartsWith(item, "data:") || StartsWith(item, "stringData:"))) {
      const size_t colon = line.find(':');
      if (Trim(line.substr(colon + 1)).empty()) {
        block_indent = static_cast<int64_t>(indent + (StartsWith(trimmed, "- ") ? 2 : 0));
        out.append(line);
      } else {  // an inline map: "data: {a: b}" (the spaces after the colon are kept)
        size_t value = colon + 1;
        while (value < line.size() && IsSpace(line[value])) {
          ++value;
        }
        out.append(line.substr(0, value));
        out.append(kRedactedView);
      }
      continue;
    }
    bool block_scalar = false;
    std::string redacted = RedactBearer(line);
    redacted = RedactKeyValues(redacted, &block_scalar);
    redacted = RedactUrlPasswords(redacted);
    redacted = RedactTokenShapes(redacted);
    out.append(redacted);
    if (block_scalar) {
      block_indent = static_cast<int64_t>(indent + (StartsWith(trimmed, "- ") ? 2 : 0));
    }
  }
  return out;
}

std::string RedactOnce(std::string_view text) {
  const std::string pem = RedactPem(text);
  const std::string json = RedactJsonSecretData(pem);
  return RedactLines(json);
}

}  // namespace

std::string Redact(std::string_view text) {
  // One pass can change what the next one would see: a masked bearer token takes away the dashes
  // that ended a false PEM label, and the label then reaches a real "PRIVATE KEY" line. So the
  // pass is repeated until it changes nothing, and the result is a fixed point (idempotent).
  //
  // Why this terminates. Let M(t) = |t| - 10 * (occurrences of "[REDACTED]" in t): the bytes
  // outside masks ("[REDACTED]" has no border, so its occurrences never overlap and M counts
  // each byte once). Every change a pass makes replaces a span S of its input by "[REDACTED]",
  // where S is non-empty, is not itself "[REDACTED]", and holds existing masks only whole:
  // - PEM bodies start after "-----" and end at "-----END " or the end of the text; JSON
  //   string values lie between quotes (or run to the end of the text); URL passwords lie
  //   between ':' and '@'; bearer and token shapes are runs of characters that exclude '[';
  //   masked block lines start after indentation or ": " (a Secret's inline data map after
  //   "data:" and its spaces) and run to the end of the line; a quoted key value lies between
  //   quotes; an authorization credential starts after spaces and ends at a space or quote; an
  //   unquoted key value starts after ':', '=', spaces or the masks that begin it, and stops
  //   before an existing mask. No such delimiter occurs inside "[REDACTED]", and masks never
  //   span lines, so no span starts or ends inside a mask;
  // - no rule masks an empty span; a span equal to "[REDACTED]" is replaced by itself.
  // If S holds u > 0 bytes outside masks, M falls by at least u (masks formed across the
  // span's edges only lower it further). If u = 0, S is k >= 2 whole masks and |t| falls by
  // 10 * (k - 1) while M stays. So each pass that changes the text lowers the pair (M, |t|) of
  // natural numbers in lexicographic order, which cannot go on forever. In practice two passes
  // settle every input the fuzzer has found.
  std::string out = RedactOnce(text);
  while (true) {
    std::string again = RedactOnce(out);
    if (again == out) {
      return out;
    }
    out = std::move(again);
  }
}

}  // namespace aiops::analysis
