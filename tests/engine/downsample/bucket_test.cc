// meterd — tests/engine/downsample/bucket_test.cc
//
// Hand-worked hour-boundary cases for the bucket arithmetic (DESIGN.md section 4): every
// expected number is derived in a comment from the samples, never from the code under test.
#include "engine/downsample/bucket.h"

#include <gtest/gtest.h>

#include <vector>

namespace meterd::engine {
namespace bucket_test {

using namespace storage;  // RollupRow, kCol*, HourOf, DoubleToBits

constexpr int64_t kDay = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kStale = 60;
// Unix second of hh:mm:ss on kDay.
constexpr int64_t At(int h, int m, int s) { return kDay + h * 3600 + m * 60 + s; }
constexpr int64_t kH10 = At(10, 0, 0);
constexpr int64_t kH11 = At(11, 0, 0);
constexpr int64_t kH12 = At(12, 0, 0);

const SeriesShape kIntGauge{MetricKind::kGauge, ValueType::kInt};
const SeriesShape kFloatGauge{MetricKind::kGauge, ValueType::kFloat};
const SeriesShape kCounter{MetricKind::kCounter, ValueType::kInt};
const SeriesShape kState{MetricKind::kState, ValueType::kInt};
constexpr uint64_t kRunning = 1, kStopped = 2;

unsigned __int128 Integral(const RollupRow& r) {
  return (static_cast<unsigned __int128>(r.col[kColIntegralHi]) << 64) | r.col[kColIntegralLo];
}
double F(uint64_t bits) { return BitsToDouble(bits); }

// Runs ComputeBuckets with the newest sample being the last one given.
std::vector<RollupRow> Compute(const SeriesShape& shape, const std::vector<RawSample>& samples,
                               int64_t sealed_before, int64_t from_hour, int64_t to_hour) {
  return ComputeBuckets(7, shape, samples, kStale, sealed_before, samples.back().ts, from_hour,
                        to_hour);
}

// One sample per second over [from, to], every one with `value`.
std::vector<RawSample> EverySecond(int64_t from, int64_t to, uint64_t value) {
  std::vector<RawSample> out;
  for (int64_t t = from; t <= to; ++t) out.push_back(RawSample{t, value});
  return out;
}

TEST(BucketTest, RunningStateAcrossTheHourGetsThirtySecondsInEachHour) {
  // RUNNING sampled every second from 10:59:30 to 11:00:30 inclusive: 61 samples.
  const auto samples = EverySecond(At(10, 59, 30), At(11, 0, 30), kRunning);
  // Hour 10 sealed, hour 11 open (sealed_before = 11:00).
  auto rows = Compute(kState, samples, kH11, kH10, kH11);
  ASSERT_EQ(rows.size(), 2u);
  // Hour 10: the 30 samples 10:59:30..10:59:59 each hold 1 s until the next one; the one at
  // 10:59:59 holds [10:59:59, 11:00:00), so 30 s, all RUNNING.
  EXPECT_EQ(rows[0].hour, kH10);
  EXPECT_EQ(rows[0].series_id, 7u);
  EXPECT_EQ(rows[0].col[kColCount], 30u);
  EXPECT_EQ(rows[0].col[kColHeld], 30u);
  EXPECT_EQ(rows[0].col[kColState0 + kRunning], 30u);
  EXPECT_EQ(rows[0].col[kColState0 + kStopped], 0u);
  EXPECT_EQ(rows[0].col[kColFirstOffset], 3570u);  // 10:59:30 - 10:00:00
  EXPECT_EQ(rows[0].col[kColLastOffset], 3599u);
  // Hour 11: the 30 samples 11:00:00..11:00:29 hold 1 s each = 30 s; 11:00:30 is the newest
  // sample and hour 11 is not sealed, so its hold is not credited yet. 31 samples.
  EXPECT_EQ(rows[1].hour, kH11);
  EXPECT_EQ(rows[1].col[kColCount], 31u);
  EXPECT_EQ(rows[1].col[kColHeld], 30u);
  EXPECT_EQ(rows[1].col[kColState0 + kRunning], 30u);
  EXPECT_EQ(rows[1].col[kColLastOffset], 30u);

  // Once hour 11 is sealed (sealed_before = 12:00), the newest sample holds for the staleness
  // limit: [11:00:30, 11:01:30) = 60 s more, so hour 11 has 30 + 60 = 90 s; hour 10 unchanged.
  rows = Compute(kState, samples, kH12, kH10, kH11);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].col[kColState0 + kRunning], 30u);
  EXPECT_EQ(rows[1].col[kColState0 + kRunning], 90u);
  EXPECT_EQ(rows[1].col[kColHeld], 90u);
}

TEST(BucketTest, StateTransitionsSplitSecondsBetweenCodes) {
  // RUNNING at 10:00:00, STOPPED at 10:00:40, RUNNING at 10:01:00, newest, hour 10 sealed.
  const std::vector<RawSample> samples = {
      {At(10, 0, 0), kRunning}, {At(10, 0, 40), kStopped}, {At(10, 1, 0), kRunning}};
  auto rows = Compute(kState, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  // RUNNING 40 s (until the STOPPED sample) + 60 s (the newest, held for the staleness limit);
  // STOPPED 20 s (10:00:40 -> 10:01:00).
  EXPECT_EQ(rows[0].col[kColState0 + kRunning], 100u);
  EXPECT_EQ(rows[0].col[kColState0 + kStopped], 20u);
  EXPECT_EQ(rows[0].col[kColHeld], 120u);
  EXPECT_EQ(rows[0].col[kColCount], 3u);
}

TEST(BucketTest, CounterDeltaAcrossTheBoundaryBelongsToTheLaterHour) {
  // 1000 at 10:59:59, 1500 at 11:00:01: the delta 500 belongs to 11:00, the later sample's hour.
  const std::vector<RawSample> samples = {{At(10, 59, 59), 1000}, {At(11, 0, 1), 1500}};
  auto rows = Compute(kCounter, samples, kH12, kH10, kH11);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].hour, kH10);
  EXPECT_EQ(rows[0].col[kColCount], 1u);     // the 10:59:59 sample's own statistics
  EXPECT_EQ(rows[0].col[kColIncrease], 0u);  // no earlier sample: no delta
  EXPECT_EQ(rows[0].col[kColLast], 1000u);
  EXPECT_EQ(rows[1].hour, kH11);
  EXPECT_EQ(rows[1].col[kColIncrease], 500u);
  EXPECT_EQ(rows[1].col[kColResets], 0u);
  EXPECT_EQ(rows[1].col[kColMin], 1500u);
  EXPECT_EQ(rows[1].col[kColHeld], 0u);  // counters hold nothing

  // Recomputing hour 11 alone from the same samples (the earlier one given as the previous
  // sample, as the contract requires) gives the same 500 and no row for hour 10.
  rows = Compute(kCounter, samples, kH12, kH11, kH11);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour, kH11);
  EXPECT_EQ(rows[0].col[kColIncrease], 500u);
  EXPECT_EQ(rows[0].col[kColCount], 1u);
}

TEST(BucketTest, CounterResetCountsTheNewValueAsIncrease) {
  bool reset = true;
  EXPECT_EQ(CounterDelta(100, 250, &reset), 150u);
  EXPECT_FALSE(reset);
  EXPECT_EQ(CounterDelta(250, 40, &reset), 40u);  // decrease: a reset, increase = new value
  EXPECT_TRUE(reset);
  EXPECT_EQ(CounterDelta(40, 40, &reset), 0u);
  EXPECT_FALSE(reset);

  // 100, 250, 40 (reset), 90, 0 (reset), 5 at consecutive seconds of hour 10:
  // increase = 150 + 40 + 50 + 0 + 5 = 245, resets = 2.
  const int64_t t = At(10, 20, 0);
  const std::vector<RawSample> samples = {{t, 100},    {t + 1, 250}, {t + 2, 40},
                                          {t + 3, 90}, {t + 4, 0},   {t + 5, 5}};
  auto rows = Compute(kCounter, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColIncrease], 245u);
  EXPECT_EQ(rows[0].col[kColResets], 2u);
  EXPECT_EQ(rows[0].col[kColMin], 0u);
  EXPECT_EQ(rows[0].col[kColMax], 250u);
  EXPECT_EQ(rows[0].col[kColLast], 5u);
  EXPECT_EQ(rows[0].col[kColCount], 6u);

  // AddCounterDelta on a row directly: a reset from 7 to 3 adds 3 and counts one reset.
  RollupRow row;
  AddCounterDelta(7, 3, &row);
  AddCounterDelta(3, 10, &row);
  EXPECT_EQ(row.col[kColIncrease], 3u + 7u);
  EXPECT_EQ(row.col[kColResets], 1u);
}

// Issue 17: an hour's increase of 2^64 or more used to wrap silently in the u64 column. It
// saturates at 2^64 - 1 and flags the row instead, in the recomputation and row by row alike.
TEST(BucketTest, CounterIncreaseSaturatesWithAFlagInsteadOfWrapping) {
  const uint64_t kMax = ~uint64_t{0};
  const int64_t t = At(10, 20, 0);
  // 0, 2^64 - 1 (+2^64 - 1), 5 (a reset: +5): 2^64 + 4 in the hour, which wrapped to 4.
  std::vector<RawSample> samples = {{t, 0}, {t + 1, kMax}, {t + 2, 5}};
  auto rows = Compute(kCounter, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColIncrease], kMax);
  EXPECT_EQ(rows[0].col[kColFlags] & kRowIncreaseSaturated, kRowIncreaseSaturated);
  EXPECT_EQ(rows[0].col[kColResets], 1u);
  // Saturated stays saturated: more increase in the same hour changes nothing.
  samples.push_back({t + 3, 100});
  rows = Compute(kCounter, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColIncrease], kMax);
  EXPECT_NE(rows[0].col[kColFlags] & kRowIncreaseSaturated, 0u);

  // Exactly 2^64 - 1 fits: no flag. The next hour starts afresh.
  samples = {{t, 0}, {t + 1, kMax}, {At(11, 0, 1), 0}, {At(11, 0, 2), 7}};
  rows = Compute(kCounter, samples, kH12, kH10, kH11);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].col[kColIncrease], kMax);
  EXPECT_EQ(rows[0].col[kColFlags], 0u);
  EXPECT_EQ(rows[1].col[kColIncrease], 7u);  // the reset to 0 adds 0, then +7
  EXPECT_EQ(rows[1].col[kColFlags], 0u);

  RollupRow row;
  AddCounterDelta(0, kMax - 1, &row);
  AddCounterDelta(kMax - 1, kMax, &row);
  EXPECT_EQ(row.col[kColIncrease], kMax);
  EXPECT_EQ(row.col[kColFlags], 0u);
  AddCounterDelta(kMax, 1, &row);  // a reset to 1
  EXPECT_EQ(row.col[kColIncrease], kMax);
  EXPECT_EQ(row.col[kColFlags], kRowIncreaseSaturated);
  EXPECT_EQ(row.col[kColResets], 1u);
}

TEST(BucketTest, GaugeBeforeAGapHoldsOnlyForTheStalenessLimit) {
  // 4 at 10:00:00, then silence until 6 at 10:10:00 (newest); hour 10 sealed.
  const std::vector<RawSample> samples = {{At(10, 0, 0), 4}, {At(10, 10, 0), 6}};
  auto rows = Compute(kIntGauge, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  // 4 holds min(600, 60) = 60 s; 6 (newest, hour sealed) holds 60 s: 4*60 + 6*60 = 600.
  EXPECT_EQ(Integral(rows[0]), 600u);
  EXPECT_EQ(rows[0].col[kColHeld], 120u);
  EXPECT_EQ(rows[0].col[kColCount], 2u);
  EXPECT_EQ(F(rows[0].col[kColSum]), 10.0);  // the sum is a double, for averages
  EXPECT_EQ(rows[0].col[kColMin], 4u);
  EXPECT_EQ(rows[0].col[kColMax], 6u);
  EXPECT_EQ(rows[0].col[kColLast], 6u);
  EXPECT_EQ(rows[0].col[kColFirstOffset], 0u);
  EXPECT_EQ(rows[0].col[kColLastOffset], 600u);
}

TEST(BucketTest, GapShorterThanStalenessIsFullyHeld) {
  // 7 at 10:00:00, 9 at 10:00:45 (newest), hour 10 sealed: 7*45 + 9*60 = 315 + 540 = 855.
  const std::vector<RawSample> samples = {{At(10, 0, 0), 7}, {At(10, 0, 45), 9}};
  auto rows = Compute(kIntGauge, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Integral(rows[0]), 855u);
  EXPECT_EQ(rows[0].col[kColHeld], 105u);
  // A gap of exactly the staleness limit is fully held too: 7 at 10:00:00, 9 at 10:01:00:
  // 7*60 + 9*60 = 960.
  rows = Compute(kIntGauge, {{At(10, 0, 0), 7}, {At(10, 1, 0), 9}}, kH11, kH10, kH10);
  EXPECT_EQ(Integral(rows.at(0)), 960u);
}

TEST(BucketTest, HoldAcrossTheBoundaryIsSplitAndCutAtStaleness) {
  // 10 at 10:59:50, then 20 at 11:05:00 (newest), hours 10 and 11 sealed.
  const std::vector<RawSample> samples = {{At(10, 59, 50), 10}, {At(11, 5, 0), 20}};
  auto rows = Compute(kIntGauge, samples, kH12, kH10, kH11);
  ASSERT_EQ(rows.size(), 2u);
  // 10 holds [10:59:50, 11:00:50): 10 s in hour 10 (100), 50 s in hour 11 (500).
  EXPECT_EQ(Integral(rows[0]), 100u);
  EXPECT_EQ(rows[0].col[kColHeld], 10u);
  // Hour 11: 500 + 20 held 60 s (1200) = 1700, held 110 s.
  EXPECT_EQ(Integral(rows[1]), 1700u);
  EXPECT_EQ(rows[1].col[kColHeld], 110u);
  EXPECT_EQ(rows[1].col[kColCount], 1u);
  // A row can carry held seconds before its first sample: hour 11's first sample is at 5:00.
  EXPECT_EQ(rows[1].col[kColFirstOffset], 300u);
}

TEST(BucketTest, NewestSampleHoldsOnlyThroughTheSealedWatermark) {
  // 3 at 10:59:40 is the newest sample. With hour 10 sealed and 11 open, it is credited
  // [10:59:40, 11:00:00) = 20 s (60); the remaining 40 s wait for hour 11's seal or a successor.
  const std::vector<RawSample> samples = {{At(10, 59, 40), 3}};
  auto rows = Compute(kIntGauge, samples, kH11, kH10, kH11);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour, kH10);
  EXPECT_EQ(Integral(rows[0]), 60u);
  // Hour 10 still open (sealed_before = 10:00): nothing credited yet.
  rows = Compute(kIntGauge, samples, kH10, kH10, kH11);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColHeld], 0u);
  EXPECT_EQ(rows[0].col[kColCount], 1u);
  // Both sealed: 20 s in hour 10, 40 s in hour 11 (120).
  rows = Compute(kIntGauge, samples, kH12, kH10, kH11);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(Integral(rows[0]), 60u);
  EXPECT_EQ(Integral(rows[1]), 120u);
  EXPECT_EQ(rows[1].col[kColCount], 0u);
}

TEST(BucketTest, SampleWithASuccessorBeyondTheSpanHoldsTheFullStaleness) {
  // The only sample given is 5 at 10:30:00, but the series' newest sample is later (outside the
  // span): the successor is at least 60 s away, so 5 holds 60 s (300) even with nothing sealed.
  const std::vector<RawSample> samples = {{At(10, 30, 0), 5}};
  auto rows = ComputeBuckets(7, kIntGauge, samples, kStale, /*sealed_before=*/kH10,
                             /*series_last_ts=*/At(13, 0, 0), kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Integral(rows[0]), 300u);
}

TEST(BucketTest, WindowKeepsOnlyItsHoursButSeesHoldsFromBefore) {
  // 5 at 09:59:30, 5 at 10:00:10, 8 at 11:00:00 (newest); only hour 10 is computed.
  const std::vector<RawSample> samples = {
      {At(9, 59, 30), 5}, {At(10, 0, 10), 5}, {At(11, 0, 0), 8}};
  auto rows = Compute(kIntGauge, samples, kH12, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour, kH10);
  // 09:59:30 holds until 10:00:10, 10 s of which are in hour 10 (50); 10:00:10 holds 60 s (300).
  EXPECT_EQ(Integral(rows[0]), 350u);
  EXPECT_EQ(rows[0].col[kColHeld], 70u);
  EXPECT_EQ(rows[0].col[kColCount], 1u);  // only the 10:00:10 sample is in hour 10
}

TEST(BucketTest, IntegerGaugeIntegralIsExactIn128Bits) {
  // 2^40 bytes (1 TiB) sampled every second for the whole of hour 10, hour 10 sealed: each
  // sample holds 1 s (the last one, 10:59:59, until 11:00:00), so 2^40 * 3600 byte-seconds =
  // 3958241859993600, exactly, and 1 TiB for the hour (integral / 3600 = 2^40).
  auto rows =
      Compute(kIntGauge, EverySecond(kH10, At(10, 59, 59), uint64_t{1} << 40), kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColIntegralLo], 3958241859993600u);
  EXPECT_EQ(rows[0].col[kColIntegralHi], 0u);
  EXPECT_EQ(Integral(rows[0]) / 3600, uint64_t{1} << 40);
  EXPECT_EQ(rows[0].col[kColHeld], 3600u);

  // 2^63 for an hour: 2^63 * 3600 = 1800 * 2^64, which needs the high word: hi 1800, lo 0.
  rows = Compute(kIntGauge, EverySecond(kH10, At(10, 59, 59), uint64_t{1} << 63), kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColIntegralHi], 1800u);
  EXPECT_EQ(rows[0].col[kColIntegralLo], 0u);

  // 2^64 - 1 for an hour: 3600 * 2^64 - 3600 = 3599 * 2^64 + (2^64 - 3600).
  rows = Compute(kIntGauge, EverySecond(kH10, At(10, 59, 59), UINT64_MAX), kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].col[kColIntegralHi], 3599u);
  EXPECT_EQ(rows[0].col[kColIntegralLo], UINT64_MAX - 3599u);
  EXPECT_EQ(rows[0].col[kColMax], UINT64_MAX);  // unsigned comparison

  // CreditHold carries from the low word into the high word.
  RollupRow row;
  row.col[kColIntegralLo] = UINT64_MAX;
  CreditHold(kIntGauge, 1, 1, &row);
  EXPECT_EQ(row.col[kColIntegralLo], 0u);
  EXPECT_EQ(row.col[kColIntegralHi], 1u);
}

TEST(BucketTest, FloatGauge) {
  // 0.25 at 10:00:00, 0.75 at 10:00:30 (newest), hour sealed: 0.25*30 + 0.75*60 = 7.5 + 45 =
  // 52.5 (all exact in binary floating point).
  const std::vector<RawSample> samples = {{At(10, 0, 0), DoubleToBits(0.25)},
                                          {At(10, 0, 30), DoubleToBits(0.75)}};
  auto rows = Compute(kFloatGauge, samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(F(rows[0].col[kColIntegralLo]), 52.5);
  EXPECT_EQ(rows[0].col[kColIntegralHi], 0u);
  EXPECT_EQ(F(rows[0].col[kColSum]), 1.0);
  EXPECT_EQ(F(rows[0].col[kColMin]), 0.25);
  EXPECT_EQ(F(rows[0].col[kColMax]), 0.75);
  EXPECT_EQ(F(rows[0].col[kColLast]), 0.75);
  EXPECT_EQ(rows[0].col[kColHeld], 90u);

  // Min and max compare as doubles, not as bit patterns: -1.5 is less than 0.5 (its bit
  // pattern, with the sign bit set, is the larger integer).
  const std::vector<RawSample> signed_samples = {{At(10, 0, 0), DoubleToBits(0.5)},
                                                 {At(10, 0, 1), DoubleToBits(-1.5)},
                                                 {At(10, 0, 2), DoubleToBits(2.0)}};
  rows = Compute(kFloatGauge, signed_samples, kH11, kH10, kH10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(F(rows[0].col[kColMin]), -1.5);
  EXPECT_EQ(F(rows[0].col[kColMax]), 2.0);
  // 0.5*1 - 1.5*1 + 2.0*60 = 119; sum 0.5 - 1.5 + 2 = 1.
  EXPECT_EQ(F(rows[0].col[kColIntegralLo]), 119.0);
  EXPECT_EQ(F(rows[0].col[kColSum]), 1.0);
}

TEST(BucketTest, AddSampleStatsAndCreditHoldDirectly) {
  RollupRow row;
  row.hour = kH10;
  AddSampleStats(kIntGauge, At(10, 5, 0), 9, &row);
  AddSampleStats(kIntGauge, At(10, 6, 0), 3, &row);
  AddSampleStats(kIntGauge, At(10, 7, 0), 5, &row);
  EXPECT_EQ(row.col[kColCount], 3u);
  EXPECT_EQ(row.col[kColFirstOffset], 300u);
  EXPECT_EQ(row.col[kColLastOffset], 420u);
  EXPECT_EQ(row.col[kColMin], 3u);
  EXPECT_EQ(row.col[kColMax], 9u);
  EXPECT_EQ(row.col[kColLast], 5u);
  EXPECT_EQ(F(row.col[kColSum]), 17.0);
  EXPECT_EQ(row.col[kColHeld], 0u);  // a sample's own statistics hold nothing

  RollupRow state;
  CreditHold(kState, 3, 10, &state);           // 10 s of code 3
  CreditHold(kState, 3, 0, &state);            // nothing
  CreditHold(kState, 3, -5, &state);           // nothing
  CreditHold(kState, kStateSlots, 4, &state);  // no slot: held, but in no state column
  EXPECT_EQ(state.col[kColState0 + 3], 10u);
  EXPECT_EQ(state.col[kColHeld], 14u);
  for (size_t c = 0; c < kStateSlots; ++c) {
    if (c != 3) {
      EXPECT_EQ(state.col[kColState0 + c], 0u) << c;
    }
  }
  EXPECT_EQ(state.col[kColIntegralLo], 0u);  // a state has no integral

  RollupRow empty;
  EXPECT_TRUE(RowIsEmpty(empty));
  EXPECT_FALSE(RowIsEmpty(row));
  EXPECT_FALSE(RowIsEmpty(state));
  RollupRow revised = row;
  revised.col[kColRevision] = 3;
  revised.col[kColRevisedAt] = 12345;
  EXPECT_TRUE(SameBucket(row, revised));
  revised.col[kColCount] = 4;
  EXPECT_FALSE(SameBucket(row, revised));
}

}  // namespace bucket_test
}  // namespace meterd::engine
