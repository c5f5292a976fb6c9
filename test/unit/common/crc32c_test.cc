#include "common/crc32c.h"

#include <string>

#include <gtest/gtest.h>

namespace aiops::common::crc32c {
namespace {

// Vectors from RFC 3720 section B.4, as used by LevelDB's crc32c_test.
TEST(Crc32cTest, MatchesRfc3720Vectors) {
  std::string buf(32, '\0');
  EXPECT_EQ(0x8a9136aaU, Value(buf));

  buf.assign(32, '\xff');
  EXPECT_EQ(0x62a8ab43U, Value(buf));

  for (int i = 0; i < 32; ++i) {
    buf[static_cast<size_t>(i)] = static_cast<char>(i);
  }
  EXPECT_EQ(0x46dd794eU, Value(buf));

  for (int i = 0; i < 32; ++i) {
    buf[static_cast<size_t>(i)] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(0x113fdb5cU, Value(buf));

  const unsigned char iscsi_read[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(0xd9963a56U, Extend(0, iscsi_read, sizeof(iscsi_read)));
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(0xe3069283U, Value("123456789"));
  EXPECT_EQ(0U, Value(""));
}

TEST(Crc32cTest, ExtendEqualsValueOfConcatenationAtEverySplit) {
  const std::string data = "hello world, this crosses the eight byte stride of the tables";
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = Value(std::string_view(data).substr(0, split));
    EXPECT_EQ(Value(data), Extend(first, data.data() + split, data.size() - split))
        << "split=" << split;
  }
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::string data(100, 'a');
  const uint32_t before = Value(data);
  data[57] = static_cast<char>(data[57] ^ 0x04);
  EXPECT_NE(before, Value(data));
}

// The CRC32 instruction path and the tables agree at every length and alignment (the
// instruction handles 8 bytes at a time and the tail byte by byte) and when continuing a CRC.
TEST(Crc32cTest, HardwareAndPortablePathsAgree) {
  if (!internal::HardwareAvailable()) {
    GTEST_SKIP() << "this CPU has no SSE4.2: Extend uses the tables, tested above";
  }
  std::string data(400, '\0');
  uint32_t x = 12345;
  for (char& c : data) {
    x = x * 1103515245U + 12345U;  // fixed pseudo-random bytes
    c = static_cast<char>(x >> 24);
  }
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t size = 0; size + offset <= data.size(); size += (size < 64 ? 1 : 37)) {
      const char* p = data.data() + offset;
      ASSERT_EQ(internal::ExtendPortable(0, p, size), internal::ExtendHardware(0, p, size))
          << "offset " << offset << " size " << size;
      ASSERT_EQ(internal::ExtendPortable(0xdeadbeefU, p, size),
                internal::ExtendHardware(0xdeadbeefU, p, size))
          << "offset " << offset << " size " << size;
    }
  }
  EXPECT_EQ(0xe3069283U, internal::ExtendHardware(0, "123456789", 9));
  EXPECT_EQ(0xe3069283U, internal::ExtendPortable(0, "123456789", 9));
}

TEST(Crc32cTest, MaskIsNotIdentityAndUnmaskInvertsIt) {
  const uint32_t crc = Value("foo");
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));
}

}  // namespace
}  // namespace aiops::common::crc32c
