// SHA-256 through OpenSSL's EVP interface, as raw bytes or lower-case hex. Used for the event
// log's hash chain, dedup keys and incident ids. Thread-safe; no state.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/types.h>

namespace aiops::common {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hasher for data that arrives in pieces. Not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256() = default;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&&) = default;
  Sha256& operator=(Sha256&&) = default;

  void Update(std::string_view data);
  // Returns the digest; the hasher must not be used afterwards.
  Sha256Digest Finish();

 private:
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const;
  };
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx_;
};

Sha256Digest Sha256Of(std::string_view data);
std::string Sha256Hex(std::string_view data);
std::string ToHex(const Sha256Digest& digest);
// Lower-case hex of arbitrary bytes (digests stored as raw strings in protobuf `bytes` fields).
std::string BytesToHex(std::string_view bytes);
// The digest whose ToHex is `hex` (64 lower-case hex digits); nullopt for anything else.
std::optional<Sha256Digest> DigestFromHex(std::string_view hex);

}  // namespace aiops::common
