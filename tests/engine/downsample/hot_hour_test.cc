// meterd — tests/engine/downsample/hot_hour_test.cc
//
// HotHour must give the bucket bit for bit what the recomputation from raw samples gives
// (ComputeBuckets), for every metric kind and value type: a property test over random in-order
// samples of one hour, with gaps longer and shorter than the staleness limit, counter resets,
// state changes and fractional float values.
#include "engine/downsample/hot_hour.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "engine/downsample/bucket.h"

namespace meterd::engine {
namespace hot_hour_test {

using namespace storage;

constexpr int64_t kHour = 1767261600;  // 2026-01-01T10:00:00Z
constexpr int64_t kStale = 60;

struct Case {
  SeriesShape shape;
  const char* name;
};

uint64_t RandomValue(const SeriesShape& shape, std::mt19937_64& rng, uint64_t prev) {
  switch (shape.kind) {
    case MetricKind::kState:
      return rng() % kStateSlots;
    case MetricKind::kCounter:
      return rng() % 20 == 0 ? rng() % 1000 : prev + rng() % 100000;  // 1 in 20 resets
    case MetricKind::kGauge:
      if (shape.type == ValueType::kFloat)
        return DoubleToBits(static_cast<double>(rng() % 10000) / 7.0);
      // Large levels too, so the 128-bit integral carries into its high word.
      return rng() % 4 == 0 ? ~uint64_t{0} - rng() % 1000 : rng() % (uint64_t{64} << 30);
  }
  return 0;
}

// Random ascending seconds of the hour: mostly every second, with gaps beyond the staleness.
std::vector<RawSample> RandomHour(const SeriesShape& shape, std::mt19937_64& rng) {
  std::vector<RawSample> out;
  uint64_t value = RandomValue(shape, rng, 0);
  for (int64_t off = rng() % 30; off < kSecondsPerHour;) {
    out.push_back(RawSample{kHour + off, value});
    if (rng() % 3 == 0) value = RandomValue(shape, rng, value);
    const uint64_t pick = rng() % 50;
    off += pick == 0 ? 61 + rng() % 300 : pick == 1 ? 2 + rng() % 58 : 1;
  }
  return out;
}

TEST(HotHourTest, MatchesTheRecomputationFromRawBitForBit) {
  const Case cases[] = {{{MetricKind::kGauge, ValueType::kInt}, "int gauge"},
                        {{MetricKind::kGauge, ValueType::kFloat}, "float gauge"},
                        {{MetricKind::kCounter, ValueType::kInt}, "counter"},
                        {{MetricKind::kState, ValueType::kInt}, "state"}};
  std::mt19937_64 rng(20261201);
  for (const Case& c : cases) {
    for (int round = 0; round < 50; ++round) {
      const std::vector<RawSample> samples = RandomHour(c.shape, rng);
      ASSERT_GE(samples.size(), 2u);
      // The hour is open (sealed_before = kHour): the newest sample's hold is not credited yet.
      const std::vector<RollupRow> expected =
          ComputeBuckets(7, c.shape, samples, kStale, kHour, samples.back().ts, kHour, kHour);
      ASSERT_EQ(expected.size(), 1u);

      // What the downsampler does: the first sample through the full row, then armed.
      RollupRow row;
      row.series_id = 7;
      row.hour = kHour;
      AddSampleStats(c.shape, samples[0].ts, samples[0].value, &row);
      HotHour hot;
      ASSERT_TRUE(hot.Arm(c.shape.kind, c.shape.type, row, samples[0].ts, samples[0].value))
          << c.name;
      for (size_t i = 1; i < samples.size(); ++i) {
        hot.Apply(static_cast<uint16_t>(samples[i].ts - kHour), samples[i].value, kStale);
      }
      EXPECT_EQ(hot.newest_ts(), samples.back().ts);
      EXPECT_EQ(hot.last_value, samples.back().value);
      hot.WriteBack(&row);
      EXPECT_EQ(row, expected[0]) << c.name << " round " << round;
    }
  }
}

// Issue 17: the in-order path saturates a counter's increase at 2^64 - 1 and flags the row, as
// the recomputation does (BucketTest.CounterIncreaseSaturatesWithAFlagInsteadOfWrapping).
TEST(HotHourTest, CounterIncreaseSaturatesLikeTheRecomputation) {
  const SeriesShape counter{MetricKind::kCounter, ValueType::kInt};
  const uint64_t kMax = ~uint64_t{0};
  const std::vector<RawSample> samples = {
      {kHour + 1, 10}, {kHour + 2, kMax - 5}, {kHour + 3, 3}, {kHour + 4, kMax}, {kHour + 5, 9}};
  for (size_t n = 2; n <= samples.size(); ++n) {
    const std::vector<RawSample> prefix(samples.begin(), samples.begin() + n);
    const std::vector<RollupRow> expected =
        ComputeBuckets(7, counter, prefix, kStale, kHour, prefix.back().ts, kHour, kHour);
    ASSERT_EQ(expected.size(), 1u);
    RollupRow row;
    row.series_id = 7;
    row.hour = kHour;
    AddSampleStats(counter, prefix[0].ts, prefix[0].value, &row);
    HotHour hot;
    ASSERT_TRUE(hot.Arm(counter.kind, counter.type, row, prefix[0].ts, prefix[0].value));
    for (size_t i = 1; i < n; ++i) {
      hot.Apply(static_cast<uint16_t>(prefix[i].ts - kHour), prefix[i].value, kStale);
    }
    hot.WriteBack(&row);
    EXPECT_EQ(row, expected[0]) << n << " samples";
    // (2^64 - 16) + 3 (a reset) still fits; the fourth sample's 2^64 - 4 does not.
    EXPECT_EQ(row.col[kColIncrease], n >= 4 ? kMax : n == 3 ? kMax - 12 : kMax - 15) << n;
    EXPECT_EQ(row.col[kColFlags], n >= 4 ? kRowIncreaseSaturated : 0) << n << " samples";
  }
  // A row already saturated keeps its flag through Arm and WriteBack.
  RollupRow row;
  row.series_id = 7;
  row.hour = kHour;
  AddSampleStats(counter, kHour + 1, 10, &row);
  row.col[kColIncrease] = kMax;
  row.col[kColFlags] = kRowIncreaseSaturated;
  HotHour hot;
  ASSERT_TRUE(hot.Arm(counter.kind, counter.type, row, kHour + 1, 10));
  hot.Apply(2, 20, kStale);
  hot.WriteBack(&row);
  EXPECT_EQ(row.col[kColIncrease], kMax);
  EXPECT_EQ(row.col[kColFlags], kRowIncreaseSaturated);
}

TEST(HotHourTest, ArmThenWriteBackLeavesTheRowUnchanged) {
  RollupRow row;
  row.series_id = 3;
  row.hour = kHour;
  const SeriesShape gauge{MetricKind::kGauge, ValueType::kInt};
  AddSampleStats(gauge, kHour + 5, 42, &row);
  CreditHold(gauge, 42, 0, &row);
  AddSampleStats(gauge, kHour + 9, 40, &row);
  row.col[kColIntegralHi] = 5;  // every mirrored column survives the round trip
  const RollupRow before = row;
  HotHour hot;
  ASSERT_TRUE(hot.Arm(gauge.kind, gauge.type, row, kHour + 9, 40));
  hot.WriteBack(&row);
  EXPECT_EQ(row, before);
}

TEST(HotHourTest, RefusesRowsItCannotHold) {
  const SeriesShape state{MetricKind::kState, ValueType::kInt};
  RollupRow row;
  row.hour = kHour;
  AddSampleStats(state, kHour + 10, 1, &row);
  HotHour hot;
  // The newest sample must be the row's last one, inside the hour.
  EXPECT_FALSE(hot.Arm(state.kind, state.type, row, kHour + 11, 1));
  EXPECT_FALSE(hot.Arm(state.kind, state.type, row, kHour + 3600 + 10, 1));
  EXPECT_FALSE(hot.armed());
  // More seconds than an hour has (only a damaged or hand-made row): stays on the full path.
  row.col[kColState0 + 1] = 3601;
  EXPECT_FALSE(hot.Arm(state.kind, state.type, row, kHour + 10, 1));
  row.col[kColState0 + 1] = 3600;
  EXPECT_TRUE(hot.Arm(state.kind, state.type, row, kHour + 10, 1));
  EXPECT_TRUE(hot.armed());
  hot.Disarm();
  EXPECT_FALSE(hot.armed());
}

}  // namespace hot_hour_test
}  // namespace meterd::engine
