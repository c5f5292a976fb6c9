#include "common/sha256.h"

#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace aiops::common {
namespace {

// FIPS 180-2 test vectors.
TEST(Sha256Test, MatchesFipsVectors) {
  EXPECT_EQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Sha256Hex(""));
  EXPECT_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Sha256Hex("abc"));
  EXPECT_EQ("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"));
}

TEST(Sha256Test, IncrementalUpdatesEqualOneShot) {
  const std::string million(1'000'000, 'a');
  Sha256 hasher;
  for (size_t i = 0; i < million.size(); i += 4096) {
    hasher.Update(std::string_view(million).substr(i, 4096));
  }
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  EXPECT_EQ(expected, ToHex(hasher.Finish()));
  EXPECT_EQ(expected, Sha256Hex(million));
}

TEST(Sha256Test, RawDigestIsThirtyTwoBytesMatchingHex) {
  const Sha256Digest d = Sha256Of("abc");
  EXPECT_EQ(0xbaU, d[0]);
  EXPECT_EQ(0xadU, d[31]);
}

TEST(Sha256Test, DigestFromHexInvertsToHexAndRejectsAnythingElse) {
  const Sha256Digest d = Sha256Of("abc");
  const std::optional<Sha256Digest> back = DigestFromHex(ToHex(d));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(d, *back);
  const std::string hex = ToHex(d);
  EXPECT_FALSE(DigestFromHex(hex.substr(1)).has_value());  // too short
  EXPECT_FALSE(DigestFromHex(hex + "0").has_value());      // too long
  std::string upper = hex;
  upper[0] = 'B';  // upper case is not ToHex's output
  EXPECT_FALSE(DigestFromHex(upper).has_value());
  std::string bad = hex;
  bad[63] = 'g';
  EXPECT_FALSE(DigestFromHex(bad).has_value());
  bad[10] = '\xe0';  // not ASCII
  EXPECT_FALSE(DigestFromHex(bad).has_value());
  EXPECT_EQ("00ff10", BytesToHex(std::string("\x00\xff\x10", 3)));
  // Every byte value, both ways.
  std::string all_bytes;
  std::string all_hex;
  for (int b = 0; b < 256; ++b) {
    all_bytes.push_back(static_cast<char>(b));
    constexpr char kDigits[] = "0123456789abcdef";
    all_hex += {kDigits[b / 16], kDigits[b % 16]};
  }
  EXPECT_EQ(all_hex, BytesToHex(all_bytes));
  for (size_t i = 0; i < 256; i += 32) {
    const std::optional<Sha256Digest> chunk = DigestFromHex(all_hex.substr(2 * i, 64));
    ASSERT_TRUE(chunk.has_value()) << i;
    EXPECT_EQ(all_bytes.substr(i, 32),
              std::string(reinterpret_cast<const char*>(chunk->data()), chunk->size()));
  }
}

}  // namespace
}  // namespace aiops::common
