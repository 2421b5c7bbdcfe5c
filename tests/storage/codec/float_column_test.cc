// meterd — tests/storage/codec/float_column_test.cc
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "storage/codec.h"
#include "storage/sample_batch.h"

namespace meterd::storage {
namespace float_column_test {

ColumnEncoding RoundTrip(const std::vector<uint64_t>& v, const std::string& what) {
  const ColumnPlan plan = AnalyzeFloatColumn(v.data(), v.size());
  std::string enc;
  EncodeFloatColumn(v.data(), v.size(), plan, &enc);
  EXPECT_EQ(enc.size(), plan.encoded_size) << what;
  size_t skipped = 0;
  EXPECT_TRUE(SkipColumn(enc, v.size(), &skipped).ok()) << what;
  EXPECT_EQ(skipped, enc.size()) << what;
  std::vector<uint64_t> out(v.size());
  Status st = DecodeFloatColumn(enc, v.size(), out.data());
  EXPECT_TRUE(st.ok()) << what << ": " << st.ToString();
  EXPECT_EQ(out, v) << what << " (" << ColumnEncodingName(plan.encoding) << ")";  // bit for bit
  return plan.encoding;
}

std::vector<uint64_t> Shape(int shape, size_t n, std::mt19937_64& rng) {
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                             -std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             -0.0,
                             0.0,
                             DBL_MAX,
                             -DBL_MAX,
                             DBL_MIN,
                             4.9e-324,
                             1e300};
  std::vector<uint64_t> v(n);
  double x = 50;
  for (size_t i = 0; i < n; ++i) {
    switch (shape) {
      case 0:
        v[i] = DoubleToBits(12.5);
        break;
      case 1:
        x += static_cast<double>(static_cast<int>(rng() % 21) - 10) / 100;
        v[i] = DoubleToBits(std::round(x * 100) / 100);
        break;  // 2-decimal gauge
      case 2:
        v[i] = DoubleToBits(static_cast<double>(rng() % 1000000000) / 1e9);
        break;
      case 3:
        v[i] = DoubleToBits(specials[rng() % std::size(specials)]);
        break;
      case 4:
        v[i] = rng();
        break;  // any bits, NaN payloads
      case 5:
        v[i] = DoubleToBits(std::sin(static_cast<double>(i) / 10));
        break;
      case 6:
        v[i] = DoubleToBits(static_cast<double>(rng() % 1000) * 0.25);
        break;
      default:
        v[i] = DoubleToBits(static_cast<double>(i % 7) - 3);
        break;
    }
  }
  return v;
}

TEST(FloatColumnTest, RoundTripPropertyBitForBit) {
  const size_t sizes[] = {1, 2, 3, 128, 129, 1000, 8192};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    for (int shape = 0; shape <= 7; ++shape) {
      for (size_t n : sizes) {
        RoundTrip(Shape(shape, n, rng), "seed " + std::to_string(seed) + " shape " +
                                            std::to_string(shape) + " n " + std::to_string(n));
      }
    }
  }
}

TEST(FloatColumnTest, DecimalGaugesAreScaledOthersGorilla) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(RoundTrip(Shape(1, 3600, rng), "2 decimals"), ColumnEncoding::kFloatScaled);
  EXPECT_EQ(RoundTrip(Shape(6, 3600, rng), "quarters"), ColumnEncoding::kFloatScaled);
  EXPECT_EQ(RoundTrip(Shape(5, 3600, rng), "sin"), ColumnEncoding::kFloatGorilla);
  EXPECT_EQ(RoundTrip(Shape(3, 3600, rng), "specials"), ColumnEncoding::kFloatGorilla);
  const std::vector<uint64_t> neg_zero(10, DoubleToBits(-0.0));
  EXPECT_EQ(RoundTrip(neg_zero, "-0.0"), ColumnEncoding::kFloatGorilla);
}

TEST(FloatColumnTest, MalformedInputIsCorruptionNeverACrash) {
  std::mt19937_64 rng(5);
  for (int shape = 0; shape <= 7; ++shape) {
    const auto v = Shape(shape, 300, rng);
    std::string enc;
    EncodeFloatColumn(v.data(), v.size(), AnalyzeFloatColumn(v.data(), v.size()), &enc);
    std::vector<uint64_t> out(v.size());
    for (size_t cut = 0; cut < enc.size(); ++cut) {
      EXPECT_FALSE(
          DecodeFloatColumn(std::string_view(enc).substr(0, cut), v.size(), out.data()).ok())
          << "shape " << shape << " cut " << cut;
    }
    for (int flip = 0; flip < 200; ++flip) {
      std::string bad = enc;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      (void)DecodeFloatColumn(bad, v.size(), out.data());
    }
  }
}

}  // namespace float_column_test
}  // namespace meterd::storage
