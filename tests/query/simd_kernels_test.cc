// meterd — tests/query/simd_kernels_test.cc: the vector min / max / 128-bit sum kernels
// (query/scan/simd_kernels.h) at every level this CPU has, against plain loops, over lengths
// around the vector widths and unroll steps, and values at the unsigned extremes (where a signed
// compare or a 64-bit sum would go wrong).
#include "query/scan/simd_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace meterd::query::scan::simd {
namespace simd_kernels_test {

class SimdKernelsTest : public ::testing::TestWithParam<Level> {
 protected:
  void SetUp() override {
    if (GetParam() == Level::kScalar || CpuLevel() < GetParam()) {
      GTEST_SKIP() << "this CPU lacks the instructions";
    }
    TEST_Limit(GetParam());
  }
  void TearDown() override { TEST_Limit(Level::kAvx512); }
};

TEST_P(SimdKernelsTest, MatchPlainLoops) {
  ASSERT_TRUE(Available());
  std::mt19937_64 rng(static_cast<uint64_t>(GetParam()) + 5);
  for (size_t n = 1; n <= 300; ++n) {
    for (int shape = 0; shape < 4; ++shape) {
      std::vector<uint64_t> d(n);
      for (uint64_t& x : d) {
        switch (shape) {
          case 0:
            x = rng();
            break;  // any 64-bit value
          case 1:
            x = ~uint64_t{0} - rng() % 4;
            break;  // near 2^64: sums carry
          case 2:
            x = (uint64_t{1} << 63) + rng() % 3 - 1;
            break;  // around the sign bit
          default:
            x = rng() % 1000;
            break;  // small
        }
      }
      // The extreme sits anywhere, the tail included.
      d[rng() % n] = shape == 3 ? 0 : ~uint64_t{0};
      unsigned __int128 sum = 0;
      for (uint64_t x : d) sum += x;
      const std::string what = "n " + std::to_string(n) + " shape " + std::to_string(shape);
      EXPECT_EQ(MaxU64(d.data(), n), *std::max_element(d.begin(), d.end())) << what;
      EXPECT_EQ(MinU64(d.data(), n), *std::min_element(d.begin(), d.end())) << what;
      EXPECT_TRUE(SumU128(d.data(), n) == sum) << what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryLevel, SimdKernelsTest,
                         ::testing::Values(Level::kAvx2, Level::kAvx512), [](const auto& info) {
                           return info.param == Level::kAvx512 ? "Avx512" : "Avx2";
                         });

}  // namespace simd_kernels_test
}  // namespace meterd::query::scan::simd
