// meterd — tests/storage/codec/fused_decode_test.cc: the fused unpack + zigzag + running-sum
// decoders of the delta codecs (bit_packing.cc, bit_unpack_avx2.cc) and the word-at-a-time
// sparse decoder, at every group width 0..64 and at the row counts around group and chunk
// boundaries, with the vector unpackers on and off. Each column is built so that its groups
// have exactly the width under test, encoded by the (unchanged) encoder, and must decode back
// bit for bit from a buffer of exactly its size (ASan catches any read past it); decoded in any
// order, the same rows must come out with the first and the last in place.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/base/coding.h"
#include "storage/codec.h"
#include "storage/codec/bit_packing.h"
#include "storage/codec/bit_unpack_simd.h"

namespace meterd::storage {
namespace fused_decode_test {

constexpr size_t kRowCounts[] = {1,   2,   3,   4,   9,   31,  32,  33,  34,  127, 128, 129,
                                 130, 131, 159, 160, 161, 255, 256, 257, 258, 719, 720, 1000};

// zigzag values whose groups of 128 all have exactly `width` bits: each group holds its
// reference and reference + 2^width - 1 (for width 64: 0 and 2^64 - 1).
std::vector<uint64_t> ZigZagValues(size_t m, int width, std::mt19937_64& rng) {
  std::vector<uint64_t> z(m);
  const uint64_t span = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  for (size_t begin = 0; begin < m; begin += kPackGroupSize) {
    const size_t end = std::min(m, begin + kPackGroupSize);
    const uint64_t ref = width == 64 ? 0 : rng() % (~uint64_t{0} - span);
    for (size_t i = begin; i < end; ++i) z[i] = ref + (span == 0 ? 0 : rng() % span);
    z[begin] = ref;
    z[end - 1] = ref + span;
    if (end - begin > 2) z[begin + (end - begin) / 2] = ref + span;
  }
  return z;
}

// Values whose deltas (kIntDeltaPacked) or deltas of deltas (kIntDelta2Packed) zigzag to z.
std::vector<uint64_t> Integrate(const std::vector<uint64_t>& z, size_t n, bool second,
                                std::mt19937_64& rng) {
  std::vector<uint64_t> v(n);
  v[0] = rng();
  if (n == 1) return v;
  if (!second) {
    for (size_t i = 1; i < n; ++i)
      v[i] = v[i - 1] + static_cast<uint64_t>(base::ZigZagDecode(z[i - 1]));
    return v;
  }
  uint64_t d = rng();
  v[1] = v[0] + d;
  for (size_t i = 2; i < n; ++i) {
    d += static_cast<uint64_t>(base::ZigZagDecode(z[i - 2]));
    v[i] = v[i - 1] + d;
  }
  return v;
}

// The width byte of the first packed group of a delta (1 varint before the groups) or delta2
// (2 varints) column.
int FirstGroupWidth(const std::string& enc, int varints) {
  base::ByteReader r(enc);
  uint8_t e = 0, width = 0;
  uint64_t x = 0;
  r.GetFixed8(&e);
  for (int i = 0; i < varints; ++i) r.GetVarint64(&x);
  r.GetFixed8(&width);
  return width;
}

// Encodes v with `encoding` and decodes it from an exactly-sized heap copy; returns the bytes.
std::string ExpectRoundTrip(const std::vector<uint64_t>& v, ColumnEncoding encoding,
                            const std::string& what) {
  std::string enc;
  EncodeIntColumn(v.data(), v.size(), ColumnPlan{encoding, 0, 0}, &enc);
  auto exact = std::make_unique<char[]>(enc.size());
  std::memcpy(exact.get(), enc.data(), enc.size());
  std::vector<uint64_t> out(v.size(), 0xdeadbeef);
  Status st = DecodeIntColumn(std::string_view(exact.get(), enc.size()), v.size(), out.data());
  EXPECT_TRUE(st.ok()) << what << ": " << st.ToString();
  EXPECT_EQ(out, v) << what;
  // Any order: the same rows, the first and the last in place.
  std::vector<uint64_t> any(v.size(), 0xdeadbeef);
  st = DecodeIntColumnAnyOrder(std::string_view(exact.get(), enc.size()), v.size(), any.data());
  EXPECT_TRUE(st.ok()) << what << " (any order): " << st.ToString();
  EXPECT_EQ(any.front(), v.front()) << what;
  EXPECT_EQ(any.back(), v.back()) << what;
  std::vector<uint64_t> sorted_any = any, sorted_v = v;
  std::sort(sorted_any.begin(), sorted_any.end());
  std::sort(sorted_v.begin(), sorted_v.end());
  EXPECT_EQ(sorted_any, sorted_v) << what << " (any order)";
  size_t skipped = 0;
  EXPECT_TRUE(SkipColumn(std::string_view(exact.get(), enc.size()), v.size(), &skipped).ok());
  EXPECT_EQ(skipped, enc.size()) << what;
  return enc;
}

class FusedDecodeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { codec::simd::TEST_Disable(!GetParam()); }
  void TearDown() override { codec::simd::TEST_Disable(false); }
};

TEST_P(FusedDecodeTest, DeltaPackedEveryWidthAndBoundary) {
  std::mt19937_64 rng(11);
  for (int width = 0; width <= 64; ++width) {
    for (size_t n : kRowCounts) {
      if (n < 2) continue;
      const auto v = Integrate(ZigZagValues(n - 1, width, rng), n, false, rng);
      const std::string what = "delta width " + std::to_string(width) + " n " + std::to_string(n);
      const std::string enc = ExpectRoundTrip(v, ColumnEncoding::kIntDeltaPacked, what);
      if (n > 2 || width == 0) {
        ASSERT_EQ(FirstGroupWidth(enc, 1), width) << what;
      }
    }
  }
}

TEST_P(FusedDecodeTest, Delta2PackedEveryWidthAndBoundary) {
  std::mt19937_64 rng(12);
  for (int width = 0; width <= 64; ++width) {
    for (size_t n : kRowCounts) {
      if (n < 3) continue;
      const auto v = Integrate(ZigZagValues(n - 2, width, rng), n, true, rng);
      const std::string what = "delta2 width " + std::to_string(width) + " n " + std::to_string(n);
      const std::string enc = ExpectRoundTrip(v, ColumnEncoding::kIntDelta2Packed, what);
      if (n > 3 || width == 0) {
        ASSERT_EQ(FirstGroupWidth(enc, 2), width) << what;
      }
    }
  }
}

// Groups of different widths back to back: the running sums carry across groups and across
// the vector / scalar / padded parts of a group.
TEST_P(FusedDecodeTest, MixedWidthsCarryAcrossGroups) {
  std::mt19937_64 rng(13);
  for (int t = 0; t < 200; ++t) {
    const size_t n = 3 + rng() % 1500;
    std::vector<uint64_t> z;
    while (z.size() < n) {
      const auto g = ZigZagValues(kPackGroupSize, static_cast<int>(rng() % 65), rng);
      z.insert(z.end(), g.begin(), g.end());
    }
    const bool second = t % 2 == 1;
    z.resize(second ? n - 2 : n - 1);
    ExpectRoundTrip(Integrate(z, n, second, rng),
                    second ? ColumnEncoding::kIntDelta2Packed : ColumnEncoding::kIntDeltaPacked,
                    "mixed t " + std::to_string(t));
  }
}

TEST_P(FusedDecodeTest, SparseAtEveryDensity) {
  std::mt19937_64 rng(14);
  for (double density : {0.0, 0.01, 0.05, 0.2, 0.26, 0.4, 0.7, 1.0}) {
    for (size_t n : kRowCounts) {
      if (n < 2) continue;
      for (int width : {1, 7, 33, 64}) {
        std::vector<uint64_t> v(n);
        v[0] = rng();
        for (size_t i = 1; i < n; ++i) {
          const bool nonzero = static_cast<double>(rng() % 1000) < density * 1000;
          uint64_t d = 0;
          if (nonzero) {
            d = width == 64 ? rng() : (rng() & ((uint64_t{1} << width) - 1));
            if (d == 0) d = 1;
          }
          v[i] = v[i - 1] + d;
        }
        ExpectRoundTrip(v, ColumnEncoding::kIntDeltaSparse,
                        "sparse density " + std::to_string(density) + " n " + std::to_string(n) +
                            " width " + std::to_string(width));
      }
    }
  }
}

TEST_P(FusedDecodeTest, TooFewRowsAndBadWidthsAreCorruption) {
  std::vector<uint64_t> out(4);
  // A packed-delta column of one row, a delta2 column of two rows: not valid encodings.
  EXPECT_TRUE(DecodeIntColumn(std::string("\x03\x05", 2), 1, out.data()).IsCorruption());
  EXPECT_TRUE(DecodeIntColumn(std::string("\x04\x05\x02", 3), 2, out.data()).IsCorruption());
  // A group width of 65.
  EXPECT_TRUE(DecodeIntColumn(std::string("\x03\x05\x41\x00", 4), 2, out.data()).IsCorruption());
  // A truncated payload: width 64 needs 8 bytes for one value.
  EXPECT_TRUE(
      DecodeIntColumn(std::string("\x03\x05\x40\x00\x01\x02", 6), 2, out.data()).IsCorruption());
}

INSTANTIATE_TEST_SUITE_P(ScalarAndVector, FusedDecodeTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Vector" : "Scalar"; });

}  // namespace fused_decode_test
}  // namespace meterd::storage
