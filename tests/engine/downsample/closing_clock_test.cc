// meterd — tests/engine/downsample/closing_clock_test.cc
//
// A wall clock that steps (NTP, an operator) never closes an hour early or twice, and never
// seals an hour that is still receiving data on time (issue 17). First the rule of
// engine/downsample/closing_clock.h alone, then the downsampler on a real store with a wall
// clock that steps back an hour and forward a day while real (monotonic) time runs evenly.
#include "engine/downsample/closing_clock.h"

#include <gtest/gtest.h>

#include "tests/engine/downsample/downsample_harness.h"

namespace meterd::engine {
namespace closing_clock_test {

using namespace storage;  // SampleBatch, kCol*, ...
using namespace testing_ds;

constexpr int64_t kH0 = kDay;
constexpr int64_t H(int n) { return kH0 + n * kSecondsPerHour; }
constexpr int64_t kNanos = 1'000'000'000;
constexpr int64_t kGrace = 600;

TEST(ClosingClockTest, FollowsAWallClockThatRunsEvenly) {
  ClosingClock c;
  EXPECT_EQ(c.Advance(1000, 5 * kNanos), 1000);
  EXPECT_EQ(c.Advance(1001, 6 * kNanos), 1001);
  EXPECT_EQ(c.Advance(1061, 66 * kNanos), 1061);
  // Ticks of half a second add up to real time.
  EXPECT_EQ(c.Advance(1061, 66 * kNanos + kNanos / 2), 1061);
  EXPECT_EQ(c.Advance(1062, 67 * kNanos), 1062);
  EXPECT_EQ(c.Advance(1062, 67 * kNanos + kNanos / 2), 1062);
  EXPECT_EQ(c.Advance(1063, 68 * kNanos), 1063);
}

TEST(ClosingClockTest, NeverMovesBackAndWaitsForTheWallClockToCatchUp) {
  ClosingClock c;
  c.Advance(10'000, 0);
  EXPECT_EQ(c.Advance(10'000 - 3600, 1 * kNanos), 10'000);  // stepped back an hour
  for (int s = 2; s < 3600; ++s) ASSERT_EQ(c.Advance(10'000 - 3600 + s, s * kNanos), 10'000);
  EXPECT_EQ(c.Advance(10'001, 3601 * kNanos), 10'001);  // caught up: follows it again
}

TEST(ClosingClockTest, AForwardStepIsFollowedOnlyAtTheRateOfRealTime) {
  ClosingClock c;
  c.Advance(10'000, 0);
  EXPECT_EQ(c.Advance(10'001 + 86400, 1 * kNanos), 10'001);  // a day ahead: one second passed
  EXPECT_EQ(c.Advance(10'060 + 86400, 60 * kNanos), 10'060);
  // The wall clock steps back to the truth: nothing moves back, nothing jumps.
  EXPECT_EQ(c.Advance(10'061, 61 * kNanos), 10'061);
}

TEST(ClosingClockTest, OnTimeSamplesCatchUpWithAForwardCorrection) {
  ClosingClock c;
  c.Advance(10'000, 0);
  // The wall clock was 500 s behind and is corrected: agents' samples show the real time.
  EXPECT_EQ(c.Advance(10'501, 1 * kNanos), 10'001);
  c.NoteSample(10'502);
  EXPECT_EQ(c.Advance(10'502, 2 * kNanos), 10'502);
  // Samples never take it past the wall clock.
  c.NoteSample(20'000);
  EXPECT_EQ(c.Advance(10'503, 3 * kNanos), 10'503);
}

// The downsampler with a wall clock (the harness's now, also the store's) that can step away
// from real time, which runs one second per second on the injected monotonic clock.
class SteppingWallClockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.ds_options().grace_seconds = kGrace;
    h_.ds_options().monotonic_nanos = [this] { return real_ * kNanos; };
    ASSERT_TRUE(h_.Open());
    g_ = h_.Define("vm-1", "vm.vcpus");
  }

  // Runs real time to `to`, the wall clock reading real time + `step`; an on-time sample
  // (stamped with real time, as agents with good clocks send) every 10 s when `send`, and a
  // tick every second. Checks the rules at every tick.
  void Run(int64_t to, int64_t step, bool send = true) {
    for (; real_ < to; ++real_) {
      h_.set_now(real_ + step);
      if (send && real_ % 10 == 0) {
        SampleBatch b;
        b.Add(g_, real_, 4, ValueType::kInt);
        EXPECT_EQ(h_.Ingest(b).accepted, 1u) << "at " << real_ - kH0;
      }
      const int64_t sealed = h_.ds()->sealed_before();
      h_.Tick();
      const int64_t closing = h_.ds()->closing_before();
      // No hour closes before real time says so: the hour holding real - grace is open.
      ASSERT_LE(closing, std::max(kH0, HourOf(real_ - kGrace)))
          << "at " << real_ - kH0 << " s, wall clock stepped by " << step;
      // Nothing moves back, and an hour is sealed once: each seal moves sealed_before on.
      ASSERT_GE(closing, last_closing_);
      ASSERT_GE(h_.ds()->sealed_before(), sealed);
      ASSERT_EQ(h_.ds()->stats().hours_sealed,
                static_cast<uint64_t>((h_.ds()->sealed_before() - kH0) / kSecondsPerHour));
      last_closing_ = closing;
    }
  }

  Harness h_{kH0};
  int64_t real_ = kH0;
  int64_t last_closing_ = 0;
  uint64_t g_ = 0;
};

TEST_F(SteppingWallClockTest, AForwardStepOfADayNeverSealsAnHourStillReceivingOnTimeData) {
  Run(H(0) + 1800, 0);
  Run(H(3) + 1200, 86400);  // the wall clock runs a day ahead for three hours
  // Every sample was on time, none late; hours 0..2 closed and were sealed once each, at real
  // h + 1 h + grace.
  EXPECT_EQ(h_.ds()->stats().late_samples, 0u);
  EXPECT_EQ(h_.ds()->closing_before(), H(3));
  EXPECT_EQ(h_.ds()->sealed_before(), H(3));
  EXPECT_EQ(h_.ds()->stats().revisions, 0u);
  const RowMap rows = h_.Rows(H(0), H(3));
  for (int hour = 0; hour < 3; ++hour) {
    auto it = rows.find(Key{g_, H(hour)});
    ASSERT_NE(it, rows.end()) << hour;
    EXPECT_EQ(it->second.col[kColCount], 360u) << hour;  // one sample every 10 s
    EXPECT_EQ(it->second.col[kColRevision], 0u) << hour;
  }
  // The wall clock is corrected back a day: nothing closes again, nothing moves back.
  Run(H(5) + 1200, 0);
  EXPECT_EQ(h_.ds()->sealed_before(), H(5));
  EXPECT_EQ(h_.ds()->stats().late_samples, 0u);
}

TEST_F(SteppingWallClockTest, ABackwardStepOfAnHourNeverClosesAnHourTwice) {
  Run(H(1) + 900, 0);  // hour 0 closed and sealed
  ASSERT_EQ(h_.ds()->sealed_before(), H(1));
  // The wall clock steps back an hour (agents' samples would be an hour in its future and
  // refused by the store's far-future check, so none are sent while it is behind).
  Run(H(2) + 900, -3600, /*send=*/false);
  EXPECT_EQ(h_.ds()->sealed_before(), H(1));  // the wall clock only now reaches 1:15 again
  Run(H(3) + 900, -3600, /*send=*/false);
  EXPECT_EQ(h_.ds()->sealed_before(), H(2));  // hour 1 sealed once, an hour late, never twice
  EXPECT_EQ(h_.ds()->stats().hours_sealed, 2u);
}

}  // namespace closing_clock_test
}  // namespace meterd::engine
