// meterd — tests/storage/codec/int_column_test.cc
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "storage/codec.h"

namespace meterd::storage {
namespace int_column_test {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

ColumnEncoding RoundTrip(const std::vector<uint64_t>& v, const std::string& what) {
  const ColumnPlan plan = AnalyzeIntColumn(v.data(), v.size());
  std::string enc;
  EncodeIntColumn(v.data(), v.size(), plan, &enc);
  EXPECT_EQ(enc.size(), plan.encoded_size) << what;
  size_t skipped = 0;
  EXPECT_TRUE(SkipColumn(enc, v.size(), &skipped).ok()) << what;
  EXPECT_EQ(skipped, enc.size()) << what;
  std::vector<uint64_t> out(v.size());
  Status st = DecodeIntColumn(enc, v.size(), out.data());
  EXPECT_TRUE(st.ok()) << what << ": " << st.ToString();
  EXPECT_EQ(out, v) << what << " (" << ColumnEncodingName(plan.encoding) << ")";
  return plan.encoding;
}

std::vector<uint64_t> Shape(int shape, size_t n, std::mt19937_64& rng) {
  std::vector<uint64_t> v(n);
  uint64_t x = rng();
  for (size_t i = 0; i < n; ++i) {
    switch (shape) {
      case 0:
        v[i] = x;
        break;  // constant
      case 1:
        v[i] = 1700000000 + i;
        break;  // 1 s timestamps
      case 2:
        x += 1000000000 + rng() % 1000;
        v[i] = x;
        break;  // steady counter
      case 3:
        x += rng() % 20 == 0 ? rng() % 1000000 : 0;
        v[i] = x;
        break;  // bursty
      case 4:
        v[i] = rng();
        break;  // random
      case 5:
        v[i] = kMax - 5 + i;
        break;  // wraps at 2^64
      case 6:
        v[i] = (i % 2) ? 0 : kMax;
        break;  // huge jumps
      case 7:
        v[i] = static_cast<uint64_t>(std::numeric_limits<int64_t>::min()) + (i % 3);
        break;
      case 8:
        x += (rng() % 100 == 0) ? (uint64_t{1} << 40) : 1;
        v[i] = x;
        break;  // huge gaps
      case 9:
        v[i] = static_cast<uint64_t>(-1000 + static_cast<int64_t>(i) * 7);
        break;  // negative
      default:
        x += rng() % 3;
        v[i] = x;  // small deltas
    }
  }
  return v;
}

TEST(IntColumnTest, RoundTripPropertyOverShapesAndSizes) {
  const size_t sizes[] = {1, 2, 3, 127, 128, 129, 255, 256, 257, 1000, 3600, 8192};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    for (int shape = 0; shape <= 10; ++shape) {
      for (size_t n : sizes) {
        RoundTrip(Shape(shape, n, rng), "seed " + std::to_string(seed) + " shape " +
                                            std::to_string(shape) + " n " + std::to_string(n));
      }
    }
  }
}

TEST(IntColumnTest, ChoosesTheObviousEncodings) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(RoundTrip(Shape(0, 3600, rng), "const"), ColumnEncoding::kIntConst);
  EXPECT_EQ(RoundTrip(Shape(1, 3600, rng), "ts"), ColumnEncoding::kIntConstDelta);
  EXPECT_EQ(RoundTrip(Shape(5, 3600, rng), "wrap"), ColumnEncoding::kIntConstDelta);
  EXPECT_EQ(RoundTrip(Shape(3, 3600, rng), "bursty"), ColumnEncoding::kIntDeltaSparse);
  EXPECT_EQ(RoundTrip(Shape(2, 3600, rng), "steady"), ColumnEncoding::kIntDelta2Packed);
}

TEST(IntColumnTest, CompactOnRegularData) {
  std::mt19937_64 rng(2);
  auto v = Shape(1, 8192, rng);
  EXPECT_LE(AnalyzeIntColumn(v.data(), v.size()).encoded_size, 8u);  // 1 s cadence: ~0 bits
  v = Shape(3, 8192, rng);
  EXPECT_LT(AnalyzeIntColumn(v.data(), v.size()).encoded_size, 8192u / 2);  // < 4 bits a row
}

TEST(IntColumnTest, MalformedInputIsCorruptionNeverACrash) {
  std::mt19937_64 rng(3);
  for (int shape = 0; shape <= 10; ++shape) {
    const auto v = Shape(shape, 300, rng);
    std::string enc;
    EncodeIntColumn(v.data(), v.size(), AnalyzeIntColumn(v.data(), v.size()), &enc);
    std::vector<uint64_t> out(v.size());
    for (size_t cut = 0; cut < enc.size(); ++cut) {
      EXPECT_FALSE(DecodeIntColumn(std::string_view(enc).substr(0, cut), v.size(), out.data()).ok())
          << "shape " << shape << " cut " << cut;
    }
    for (int flip = 0; flip < 200; ++flip) {
      std::string bad = enc;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      (void)DecodeIntColumn(bad, v.size(), out.data());  // any result but a crash
      size_t skipped;
      (void)SkipColumn(bad, v.size(), &skipped);
    }
    std::string garbage(rng() % 64, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    (void)DecodeIntColumn(garbage, v.size(), out.data());
  }
  std::vector<uint64_t> out(4);
  EXPECT_TRUE(DecodeIntColumn(std::string("\x63\x01", 2), 4, out.data()).IsCorruption());
  EXPECT_TRUE(DecodeIntColumn(std::string("\x03\x01\x41\x00", 4), 4, out.data()).IsCorruption());
}

}  // namespace int_column_test
}  // namespace meterd::storage
