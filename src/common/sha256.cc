#include "common/sha256.h"

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

std::string BytesToHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  char* d = out.data();
  for (const char c : bytes) {
    const auto b = static_cast<uint8_t>(c);
    *d++ = kHex[b >> 4];
    *d++ = kHex[b & 0x0f];
  }
  return out;
}

std::optional<Sha256Digest> DigestFromHex(std::string_view hex) {
  Sha256Digest digest{};
  if (hex.size() != 2 * digest.size()) {
    return std::nullopt;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  for (size_t i = 0; i < digest.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    digest[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return digest;
}

std::string ToHex(const Sha256Digest& digest) {
  return BytesToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string Sha256Hex(std::string_view data) { return ToHex(Sha256Of(data)); }

}  // namespace aiops::common
