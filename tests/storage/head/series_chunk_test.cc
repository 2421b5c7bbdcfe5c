// meterd — tests/storage/head/series_chunk_test.cc
#include "storage/head/series_chunk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>

namespace meterd::storage {
namespace series_chunk_test {

// Reference: last write wins per second.
using Reference = std::map<int64_t, uint64_t>;

void ExpectMatches(const SeriesChunk& chunk, const Reference& ref, int64_t from, int64_t to,
                   uint64_t seed) {
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;
  chunk.Read(from, to, &ts, &values);
  auto it = ref.lower_bound(from);
  size_t i = 0;
  for (; it != ref.end() && it->first < to; ++it, ++i) {
    ASSERT_LT(i, ts.size()) << "seed " << seed;
    ASSERT_EQ(ts[i], it->first) << "seed " << seed << " row " << i;
    ASSERT_EQ(values[i], it->second) << "seed " << seed << " ts " << ts[i];
  }
  EXPECT_EQ(i, ts.size()) << "seed " << seed;
}

uint64_t RandomValue(std::mt19937_64& rng, ValueType type, uint64_t prev) {
  if (type == ValueType::kFloat) {
    switch (rng() % 8) {
      case 0:
        return DoubleToBits(std::numeric_limits<double>::quiet_NaN());
      case 1:
        return DoubleToBits(-0.0);
      case 2:
        return DoubleToBits(std::numeric_limits<double>::infinity());
      case 3:
        return prev;
      case 4:
        return rng();  // any bit pattern, NaN payloads included
      default:
        return DoubleToBits(static_cast<double>(rng() % 10000) / 100.0);
    }
  }
  switch (rng() % 6) {
    case 0:
      return prev;  // a level that holds
    case 1:
      return prev + rng() % 1000;  // a counter
    case 2:
      return 0;  // a reset
    case 3:
      return std::numeric_limits<uint64_t>::max() - rng() % 3;  // wrap edge
    case 4:
      return rng();
    default:
      return prev + (uint64_t{1} << (rng() % 64));
  }
}

TEST(SeriesChunkTest, RandomRoundTripWithLateAndDuplicateSamples) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    const ValueType type = seed % 2 ? ValueType::kInt : ValueType::kFloat;
    SeriesChunk chunk(type);
    Reference ref;
    int64_t t = static_cast<int64_t>(rng() % 2000000000) - 1000000000;
    uint64_t v = rng();
    const int n = 1 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n; ++i) {
      int64_t ts;
      switch (rng() % 10) {
        case 0:
          ts = t - static_cast<int64_t>(rng() % 100);
          break;  // late or duplicate
        case 1:
          ts = t + static_cast<int64_t>(rng() % 100000);
          break;  // a gap
        case 2:
          ts = t + static_cast<int64_t>(rng() % (int64_t{1} << 40));
          break;  // huge gap
        default:
          ts = t + 1;
      }
      t = std::max(t, ts);
      v = RandomValue(rng, type, v);
      chunk.Append(ts, v);
      ref[ts] = v;
    }
    ExpectMatches(chunk, ref, INT64_MIN, INT64_MAX, seed);
    if (!ref.empty()) {
      const int64_t mid = std::next(ref.begin(), static_cast<long>(ref.size() / 2))->first;
      ExpectMatches(chunk, ref, mid, INT64_MAX, seed);
      ExpectMatches(chunk, ref, INT64_MIN, mid, seed);
    }
  }
}

TEST(SeriesChunkTest, RegularSecondsAndHeldLevelCostAboutTwoBitsASample) {
  SeriesChunk chunk(ValueType::kInt);
  for (int i = 0; i < 36000; ++i) chunk.Append(1700000000 + i, 4ull << 30);
  // 1 bit of timestamp + 1 bit of value per sample, plus capacity slack.
  EXPECT_LT(chunk.heap_bytes(), 36000 * 2 / 8 * 5 / 4 + 64);
  EXPECT_EQ(chunk.samples(), 36000u);
}

TEST(SeriesChunkTest, EmptyAndOneSample) {
  SeriesChunk chunk(ValueType::kFloat);
  std::vector<int64_t> ts;
  std::vector<uint64_t> values;
  chunk.Read(INT64_MIN, INT64_MAX, &ts, &values);
  EXPECT_TRUE(ts.empty());
  chunk.Append(5, DoubleToBits(-0.0));
  chunk.Read(INT64_MIN, INT64_MAX, &ts, &values);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(values[0], DoubleToBits(-0.0));
}

}  // namespace series_chunk_test
}  // namespace meterd::storage
