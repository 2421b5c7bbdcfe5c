// meterd — tests/storage/base/coding_test.cc
#include "storage/base/coding.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace meterd::base {
namespace coding_test {

TEST(CodingTest, VarintRoundTripAndLength) {
  std::mt19937_64 rng(1);
  std::vector<uint64_t> values = {0,     1,     127,        128,
                                  16383, 16384, UINT32_MAX, std::numeric_limits<uint64_t>::max()};
  for (int i = 0; i < 1000; ++i) values.push_back(rng() >> (rng() % 64));
  std::string buf;
  for (uint64_t v : values) PutVarint64(&buf, v);
  ByteReader r(buf);
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(r.GetVarint64(&got));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(VarintLength(0), 1);
  EXPECT_EQ(VarintLength(std::numeric_limits<uint64_t>::max()), 10);
}

TEST(CodingTest, MalformedVarintsFail) {
  const std::string truncated("\x80\x80", 2);
  ByteReader r1(truncated);
  uint64_t v;
  EXPECT_FALSE(r1.GetVarint64(&v));
  EXPECT_EQ(r1.remaining(), 2u);  // the cursor did not move
  const std::string too_long(11, '\xff');
  ByteReader r2(too_long);
  EXPECT_FALSE(r2.GetVarint64(&v));
  const std::string overflow("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);  // > 64 bits
  ByteReader r3(overflow);
  EXPECT_FALSE(r3.GetVarint64(&v));
}

TEST(CodingTest, ZigZag) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(ZigZagDecode(ZigZagEncode(v)), v);
  }
  EXPECT_EQ(ZigZagEncode(-1), 1u);
  EXPECT_EQ(ZigZagEncode(1), 2u);
}

TEST(CodingTest, FixedAndShortReads) {
  std::string buf;
  PutFixed16(&buf, 0xBEEF);
  PutFixed32(&buf, 0xDEADBEEF);
  PutFixed64(&buf, 0x0123456789ABCDEFull);
  EXPECT_EQ(static_cast<uint8_t>(buf[0]), 0xEF);  // little-endian on disk
  ByteReader r(buf);
  uint16_t a;
  uint32_t b;
  uint64_t c;
  ASSERT_TRUE(r.GetFixed16(&a) && r.GetFixed32(&b) && r.GetFixed64(&c));
  EXPECT_EQ(a, 0xBEEF);
  EXPECT_EQ(b, 0xDEADBEEFu);
  EXPECT_EQ(c, 0x0123456789ABCDEFull);
  EXPECT_FALSE(r.GetFixed8(reinterpret_cast<uint8_t*>(&a)));
}

}  // namespace coding_test
}  // namespace meterd::base
