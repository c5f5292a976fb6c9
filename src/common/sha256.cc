#include "common/sha256.h"

#include <array>
#include <cstdint>
#include <cstring>

#include <openssl/evp.h>

#include "common/check.h"

namespace aiops::common {

void Sha256::CtxDeleter::operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation or digest-init failure is out of memory or a broken OpenSSL: a crash, not an error.
  AIOPS_CHECK(ctx_ != nullptr);
  AIOPS_CHECK(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1);
}

void Sha256::Update(std::string_view data) {
  AIOPS_CHECK(EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) == 1);
}

Sha256Digest Sha256::Finish() {
  Sha256Digest digest{};
  unsigned int size = 0;
  AIOPS_CHECK(EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size) == 1);
  AIOPS_CHECK(size == digest.size());
  return digest;
}

Sha256Digest Sha256Of(std::string_view data) {
  // One context per thread, reused: creating and initializing a context costs as much as hashing
  // a small record. The digest algorithm is fetched once (an implicit fetch per call is slow in
  // OpenSSL 3).
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  AIOPS_CHECK(kSha256 != nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> kCtx(EVP_MD_CTX_new(),
                                                                             &EVP_MD_CTX_free);
  AIOPS_CHECK(kCtx != nullptr);
  Sha256Digest digest{};
  unsigned int size = 0;
  AIOPS_CHECK(EVP_DigestInit_ex(kCtx.get(), kSha256, nullptr) == 1);
  AIOPS_CHECK(EVP_DigestUpdate(kCtx.get(), data.data(), data.size()) == 1);
  AIOPS_CHECK(EVP_DigestFinal_ex(kCtx.get(), digest.data(), &size) == 1);
  AIOPS_CHECK(size == digest.size());
  return digest;
}

namespace {

// Both hex digits of every byte value, and the value of every hex digit (-1: not one), built at
// compile time: a byte is then one table read each way, not two digit computations.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char kDigits[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> pairs{};
  for (size_t b = 0; b < pairs.size(); ++b) {
    pairs[b] = {kDigits[b >> 4], kDigits[b & 0x0f]};
  }
  return pairs;
}();

constexpr std::array<int8_t, 256> kHexValues = [] {
  std::array<int8_t, 256> values{};
  for (auto& v : values) {
    v = -1;
  }
  for (int c = '0'; c <= '9'; ++c) {
    values[static_cast<size_t>(c)] = static_cast<int8_t>(c - '0');
  }
  for (int c = 'a'; c <= 'f'; ++c) {
    values[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'a' + 10);
  }
  return values;
}();

}  // namespace

std::string BytesToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2, '\0');
  char* d = out.data();
  for (const char c : bytes) {
    std::memcpy(d, kHexPairs[static_cast<uint8_t>(c)].data(), 2);
    d += 2;
  }
  return out;
}

std::optional<Sha256Digest> DigestFromHex(std::string_view hex) {
  Sha256Digest digest{};
  if (hex.size() != 2 * digest.size()) {
    return std::nullopt;
  }
  int invalid = 0;  // the OR of every digit's value: negative once one is not a digit
  for (size_t i = 0; i < digest.size(); ++i) {
    const int hi = kHexValues[static_cast<uint8_t>(hex[2 * i])];
    const int lo = kHexValues[static_cast<uint8_t>(hex[2 * i + 1])];
    invalid |= hi | lo;
    digest[i] = static_cast<uint8_t>((hi << 4) | (lo & 0x0f));
  }
  if (invalid < 0) {
    return std::nullopt;
  }
  return digest;
}

std::string ToHex(const Sha256Digest& digest) {
  return BytesToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string Sha256Hex(std::string_view data) { return ToHex(Sha256Of(data)); }

}  // namespace aiops::common
