// meterd — tests/engine/downsample/downsampler_test.cc
//
// The downsampler on a real Store and SeriesRegistry, fed as the ingest pipeline feeds it
// (tests/engine/downsample/downsample_harness.h), with an injected clock so that hours close
// exactly when a test says. Expected buckets are worked out by hand in comments, or computed by
// the harness's reference from the raw samples (never by engine/downsample/bucket.cc).
#include "engine/downsample/downsampler.h"

#include <gtest/gtest.h>

#include <functional>

#include "storage/base/checksum.h"
#include "storage/base/coding.h"
#include "storage/io/file.h"
#include "tests/engine/downsample/downsample_harness.h"

namespace meterd::engine {
namespace downsampler_test {

using namespace storage;  // SampleBatch, kCol*, ...
using namespace testing_ds;

constexpr int64_t kH0 = kDay;  // the first hour of every test
constexpr int64_t H(int n) { return kH0 + n * kSecondsPerHour; }
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kRunning = 1, kStopped = 2;

const SeriesShape kIntGauge{MetricKind::kGauge, ValueType::kInt};
const SeriesShape kFloatGauge{MetricKind::kGauge, ValueType::kFloat};
const SeriesShape kCounter{MetricKind::kCounter, ValueType::kInt};
const SeriesShape kState{MetricKind::kState, ValueType::kInt};

SampleBatch One(uint64_t id, int64_t ts, uint64_t v, ValueType type = ValueType::kInt) {
  SampleBatch b;
  b.Add(id, ts, v, type);
  return b;
}

// Streams seconds [from, to): at each second t the clock reads t and gen(t, batch) fills the
// batch sent then; the rollup clock ticks every `tick_every` seconds.
void Stream(Harness* h, int64_t from, int64_t to,
            const std::function<void(int64_t, SampleBatch*)>& gen, int64_t tick_every = 60) {
  SampleBatch batch;
  for (int64_t t = from; t < to; ++t) {
    h->set_now(t);
    batch.Clear();
    gen(t, &batch);
    if (!batch.empty()) {
      const AppendResult r = h->Ingest(batch);
      EXPECT_EQ(r.rejected, 0u) << "at " << t;
    }
    if ((t - from) % tick_every == tick_every - 1) h->Tick();
  }
}

const RollupRow& RowAt(const RowMap& rows, uint64_t id, int64_t hour) {
  static const RollupRow kEmpty;
  auto it = rows.find(Key{id, hour});
  EXPECT_NE(it, rows.end()) << "no row for series " << id << " hour " << (hour - kH0) / 3600;
  return it == rows.end() ? kEmpty : it->second;
}

class DownsamplerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(h_.Open()); }
  Harness h_{kH0};
};

TEST_F(DownsamplerTest, InOrderStreamOverSeveralHoursSealsExactBuckets) {
  const uint64_t mem = h_.Define("vm-1", "vm.memory_bytes");
  const uint64_t cpu = h_.Define("vm-1", "vm.cpu_utilisation");
  const uint64_t ns = h_.Define("vm-1", "vm.cpu_time_ns");
  const uint64_t state = h_.Define("vm-1", "vm.state");
  // Four hours, every second: 4 GiB RUNNING for hours 0-1, then 8 GiB STOPPED for hours 2-3;
  // CPU utilisation 0.5; CPU time grows 1000 ns a second.
  Stream(&h_, H(0), H(4), [&](int64_t t, SampleBatch* b) {
    b->AddInt(mem, t, t < H(2) ? 4 * kGiB : 8 * kGiB);
    b->AddFloat(cpu, t, 0.5);
    b->AddInt(ns, t, 1000 * static_cast<uint64_t>(t - H(0)));
    b->AddInt(state, t, t < H(2) ? kRunning : kStopped);
  });
  // Hour 4 closes at 5:00 + grace (10 min): every hour up to 4 is then sealed.
  h_.AdvanceAndTick(H(5) + 600);
  EXPECT_EQ(h_.ds()->sealed_before(), H(5));
  const RowMap rows = h_.Rows();

  // Memory: hours 0-1 are 4 GiB x 3600 s (the last 4 GiB sample, 1:59:59, holds until the
  // 8 GiB one at 2:00:00), hours 2-3 8 GiB x 3600 s; the newest sample, 3:59:59, holds for the
  // staleness limit, [3:59:59, 4:00:59): 1 s in hour 3 and 59 s in hour 4.
  for (int h : {0, 1}) {
    EXPECT_EQ(RowIntegral(RowAt(rows, mem, H(h))), 4 * kGiB * 3600) << h;
    EXPECT_EQ(RowAt(rows, mem, H(h)).col[kColCount], 3600u);
    EXPECT_EQ(RowAt(rows, mem, H(h)).col[kColHeld], 3600u);
  }
  for (int h : {2, 3}) EXPECT_EQ(RowIntegral(RowAt(rows, mem, H(h))), 8 * kGiB * 3600) << h;
  EXPECT_EQ(RowIntegral(RowAt(rows, mem, H(4))), 8 * kGiB * 59);
  EXPECT_EQ(RowAt(rows, mem, H(4)).col[kColCount], 0u);
  // 4 GiB held for a full hour is 4 GiB·h.
  EXPECT_EQ(RowIntegral(RowAt(rows, mem, H(0))) / 3600, 4 * kGiB);

  // CPU utilisation 0.5 x 3600 s = 1800 a full hour; 0.5 x 59 = 29.5 in hour 4.
  for (int h = 0; h < 4; ++h) EXPECT_EQ(Dbl(RowAt(rows, cpu, H(h)).col[kColIntegralLo]), 1800.0);
  EXPECT_EQ(Dbl(RowAt(rows, cpu, H(4)).col[kColIntegralLo]), 29.5);
  EXPECT_EQ(Dbl(RowAt(rows, cpu, H(0)).col[kColSum]), 1800.0);  // 3600 samples x 0.5

  // CPU time: hour 0 has 3599 deltas of 1000 (its first sample has no predecessor); hours 1-3
  // have 3600 each (the delta from x:59:59 to the next hour's x:00:00 is the later hour's).
  EXPECT_EQ(RowAt(rows, ns, H(0)).col[kColIncrease], 3599u * 1000);
  for (int h = 1; h < 4; ++h) EXPECT_EQ(RowAt(rows, ns, H(h)).col[kColIncrease], 3600u * 1000);
  EXPECT_FALSE(rows.count(Key{ns, H(4)}));  // a counter holds nothing
  EXPECT_EQ(RowAt(rows, ns, H(3)).col[kColLast], 1000u * (4 * 3600 - 1));

  // State: RUNNING 3600 s in hours 0-1, STOPPED 3600 s in hours 2-3 and 59 s in hour 4.
  for (int h : {0, 1}) {
    EXPECT_EQ(RowAt(rows, state, H(h)).col[kColState0 + kRunning], 3600u);
    EXPECT_EQ(RowAt(rows, state, H(h)).col[kColState0 + kStopped], 0u);
  }
  for (int h : {2, 3}) EXPECT_EQ(RowAt(rows, state, H(h)).col[kColState0 + kStopped], 3600u);
  EXPECT_EQ(RowAt(rows, state, H(4)).col[kColState0 + kStopped], 59u);

  for (const auto& [key, row] : rows) EXPECT_EQ(row.col[kColRevision], 0u);
  const DownsampleStats stats = h_.ds()->stats();
  EXPECT_EQ(stats.hours_sealed, 5u);
  EXPECT_EQ(stats.in_order_samples, 4u * 4 * 3600);
  EXPECT_EQ(stats.out_of_order_samples, 0u);
  EXPECT_EQ(stats.revisions, 0u);

  const Shapes shapes = {{mem, kIntGauge}, {cpu, kFloatGauge}, {ns, kCounter}, {state, kState}};
  const auto raw = h_.ScanRaw();
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, raw, INT64_MIN, INT64_MAX), 0);
  EXPECT_EQ(ExpectUsageMatchesReference(*h_.ds(), shapes, raw), 0);

  // ScanUsage by hour reads the same buckets.
  const auto usage = ScanUsageOf(*h_.ds(), shapes, H(0), H(5), query::Granularity::kHour);
  size_t mem_hours = 0;
  for (const query::UsageBucket& b : usage) {
    if (b.series_id != mem) continue;
    ++mem_hours;
    EXPECT_EQ(b.int_integral, RowIntegral(RowAt(rows, mem, b.start)));
    EXPECT_EQ(b.hours, 1u);
    EXPECT_EQ(b.provisional_hours, 0u);
  }
  EXPECT_EQ(mem_hours, 5u);
}

TEST_F(DownsamplerTest, OpenHoursAreProvisionalAndTheNewestHoldWaitsForTheSeal) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  // 2 vCPUs every second over [0:00, 0:30), then silence; the clock at 0:40 (hour 0 open).
  Stream(&h_, H(0), H(0) + 1800, [&](int64_t t, SampleBatch* b) { b->AddInt(g, t, 2); });
  h_.AdvanceAndTick(H(0) + 2400);
  RowMap rows = h_.Rows();
  // 1799 samples hold 1 s each; the newest (0:29:59) has no successor and hour 0 is open, so
  // its hold is not credited yet: 2 x 1799.
  EXPECT_EQ(RowIntegral(RowAt(rows, g, H(0))), 2u * 1799);
  EXPECT_EQ(h_.ds()->View({g}, H(0), H(1)).open.size(), 1u);
  // At the seal the newest sample's hold is credited for the staleness limit: 2 x 1859.
  h_.AdvanceAndTick(H(1) + 600);
  rows = h_.Rows();
  EXPECT_EQ(RowIntegral(RowAt(rows, g, H(0))), 2u * 1859);
  EXPECT_EQ(RowAt(rows, g, H(0)).col[kColHeld], 1859u);
  EXPECT_TRUE(h_.ds()->View({g}, H(0), H(1)).open.empty());
}

TEST_F(DownsamplerTest, GraceDecidesWhenAnHourCloses) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  h_.Ingest(One(g, H(0) + 10, 1));
  // Hour 0 closes at 1:00 + 600 s: one second before, it is still open.
  h_.set_now(H(1) + 599);
  EXPECT_EQ(h_.ds()->CloseDue(), H(0));
  h_.Ingest(One(g, H(0) + 3500, 1));  // in order, into the open hour
  EXPECT_EQ(h_.ds()->stats().late_samples, 0u);
  h_.set_now(H(1) + 600);
  EXPECT_EQ(h_.ds()->CloseDue(), H(1));
  h_.Ingest(One(g, H(0) + 3400, 1));  // now late
  EXPECT_EQ(h_.ds()->stats().late_samples, 1u);
  EXPECT_EQ(h_.ds()->stats().late_queued, 1u);
  h_.Tick();
  EXPECT_EQ(h_.ds()->sealed_before(), H(1));
  EXPECT_EQ(h_.ds()->stats().late_queued, 0u);
  // 0:00:10 holds 60 s, 0:56:40 holds 60 s (its successor is 100 s later) and 0:58:20, the
  // newest, holds 60 s once hour 0 is sealed: 180.
  const RowMap rows = h_.Rows();
  EXPECT_EQ(RowIntegral(RowAt(rows, g, H(0))), 180u);
  EXPECT_EQ(RowAt(rows, g, H(0)).col[kColCount], 3u);
}

TEST_F(DownsamplerTest, DuplicatesAreNeverCountedTwice) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t c = h_.Define("vm-1", "net.rx_bytes");
  // Hour 0 in batches of 10 s; every batch is sent twice (an agent resending after a
  // reconnect), and every 50th batch the previous batch is sent once more (an older resend).
  SampleBatch previous;
  for (int64_t b = H(0); b < H(1); b += 10) {
    SampleBatch batch;
    for (int64_t t = b; t < b + 10; ++t) {
      batch.AddInt(g, t, 7);
      batch.AddInt(c, t, 10 * static_cast<uint64_t>(t - H(0)));
    }
    h_.set_now(b + 10);
    h_.Ingest(batch);
    h_.Ingest(batch);
    if ((b - H(0)) % 500 == 0 && !previous.empty()) h_.Ingest(previous);
    // The newest sample alone, again.
    h_.Ingest(One(g, b + 9, 7));
    previous = batch;
    if ((b - H(0)) % 60 == 0) h_.Tick();
  }
  h_.AdvanceAndTick(H(1) + 600);
  ASSERT_EQ(h_.ds()->sealed_before(), H(1));
  RowMap rows = h_.Rows();
  // Each second once: 3600 samples of 7 each holding 1 s (the newest, 0:59:59, holds until the
  // watermark 1:00) = 7 x 3600; the counter's 3599 deltas of 10.
  EXPECT_EQ(RowAt(rows, g, H(0)).col[kColCount], 3600u);
  EXPECT_EQ(RowIntegral(RowAt(rows, g, H(0))), 7u * 3600);
  EXPECT_EQ(Dbl(RowAt(rows, g, H(0)).col[kColSum]), 7.0 * 3600);
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColCount], 3600u);
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColIncrease], 10u * 3599);
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColResets], 0u);

  // A late resend of an hour-0 batch (hour 0 sealed): stored again, changes nothing, so no
  // revision is written.
  h_.set_now(H(1) + 700);
  h_.Ingest(previous);
  h_.Tick();
  EXPECT_EQ(h_.ds()->stats().late_samples, 20u);
  EXPECT_TRUE(h_.ds()->Revisions(g, H(0)).empty());
  EXPECT_TRUE(h_.ds()->Revisions(c, H(0)).empty());
  EXPECT_EQ(h_.ds()->stats().revisions, 0u);
  EXPECT_EQ(h_.Rows(), rows);
  // Its pending record was resolved: a restart has nothing to redo.
  ASSERT_TRUE(h_.Reopen());
  for (const std::string& line : h_.open_report()) {
    EXPECT_EQ(line.find("resolved after restart"), std::string::npos) << line;
  }
  const Shapes shapes = {{g, kIntGauge}, {c, kCounter}};
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), INT64_MIN, H(1)), 0);
}

TEST_F(DownsamplerTest, OutOfOrderSamplesWithinOpenHours) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t f = h_.Define("vm-1", "vm.cpu_utilisation");
  const uint64_t c = h_.Define("vm-1", "vm.cpu_time_ns");
  const uint64_t s = h_.Define("vm-1", "vm.state");
  const Shapes shapes = {{g, kIntGauge}, {f, kFloatGauge}, {c, kCounter}, {s, kState}};
  // Values that change every second, so a sample applied in the wrong place shows.
  std::map<uint64_t, RawSeries> model;  // what the store must end with (last write wins)
  auto value = [&](uint64_t id, int64_t t) -> uint64_t {
    const uint64_t k = static_cast<uint64_t>(t - H(0));
    if (id == g) return 1 + (k * 7919) % 13;
    if (id == f) return DoubleToBits(static_cast<double>((k * 31) % 64) / 16.0);
    if (id == c) return 5 * k * (k + 1) / 2 + (k % 17);  // increasing
    return 1 + (k / 100) % 6;
  };
  auto add = [&](SampleBatch* b, int64_t t) {
    for (uint64_t id : {g, f, c, s}) {
      const uint64_t v = value(id, t);
      b->Add(id, t, v, id == f ? ValueType::kFloat : ValueType::kInt);
      model[id][t] = v;
    }
  };
  // Held back and delivered later, all while their hours are open:
  //   [0:01:40, 0:01:50) delivered at 0:08:20 in one batch;
  //   0:33:20 delivered at 0:35:00;
  //   a gap [0:25:00, 0:28:20) longer than the staleness, filled at 0:29:10;
  //   [0:59:50, 1:00:10) across the hour boundary, delivered at 1:03:20 (hour 0 still open);
  //   0:50:00 first sent with a wrong value and corrected at 0:50:50 (last write wins).
  auto held_back = [&](int64_t t) {
    return (t >= H(0) + 100 && t < H(0) + 110) || t == H(0) + 2000 || t == H(0) + 3000 ||
           (t >= H(0) + 1500 && t < H(0) + 1700) || (t >= H(0) + 3590 && t < H(1) + 10);
  };
  std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> deliveries = {
      {H(0) + 500, {{H(0) + 100, H(0) + 110}}},
      {H(0) + 2100, {{H(0) + 2000, H(0) + 2001}}},
      {H(0) + 1750, {{H(0) + 1500, H(0) + 1700}}},
      {H(1) + 200, {{H(0) + 3590, H(1) + 10}}},
  };
  Stream(&h_, H(0), H(1) + 1200, [&](int64_t t, SampleBatch* b) {
    if (!held_back(t)) add(b, t);
    if (t == H(0) + 3000) {
      for (uint64_t id : {g, c, s}) {
        b->AddInt(id, t, id == c ? value(c, t) + 1000 : value(id, t) + 1);  // wrong
      }
    }
    if (t == H(0) + 3050) add(b, H(0) + 3000);  // the correction
    if (auto it = deliveries.find(t); it != deliveries.end()) {
      for (auto [from, to] : it->second) {
        for (int64_t u = from; u < to; ++u) add(b, u);
      }
    }
  });
  EXPECT_GT(h_.ds()->stats().out_of_order_samples, 0u);
  EXPECT_EQ(h_.ds()->stats().late_samples, 0u);
  EXPECT_EQ(h_.ScanRaw(), model);
  // While hour 1 is open: the provisional buckets already equal the raw samples'.
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, model, INT64_MIN, INT64_MAX), 0);
  h_.AdvanceAndTick(H(2) + 600);
  EXPECT_EQ(h_.ds()->sealed_before(), H(2));
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, model, INT64_MIN, INT64_MAX), 0);
  EXPECT_EQ(ExpectUsageMatchesReference(*h_.ds(), shapes, model), 0);
  EXPECT_EQ(h_.ds()->stats().revisions, 0u);
}

// One batch holding, for the same series, a sample the hot path takes, then a new hour's
// sample (the slow path), then one of the old hour again (out of order after it, though the
// old hour's HotHour alone would take it), one right after the new hour's and one before
// everything: the buckets must still equal the raw samples' (open and after sealing), and
// later batches take the hot path again.
TEST_F(DownsamplerTest, OneBatchMixingTheHotAndTheSlowPathKeepsBatchOrder) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t f = h_.Define("vm-1", "vm.cpu_utilisation");
  const uint64_t c = h_.Define("vm-1", "vm.cpu_time_ns");
  const uint64_t s = h_.Define("vm-1", "vm.state");
  const Shapes shapes = {{g, kIntGauge}, {f, kFloatGauge}, {c, kCounter}, {s, kState}};
  std::map<uint64_t, RawSeries> model;
  auto value = [&](uint64_t id, int64_t t) -> uint64_t {
    const uint64_t k = static_cast<uint64_t>(t - H(0));
    if (id == g) return 2 + k % 5;
    if (id == f) return DoubleToBits(static_cast<double>(k % 9) / 4.0);
    if (id == c) return 1000 * k + k % 7;
    return 1 + k % 3;
  };
  auto add = [&](SampleBatch* b, int64_t t) {
    for (uint64_t id : {g, f, c, s}) {
      b->Add(id, t, value(id, t), id == f ? ValueType::kFloat : ValueType::kInt);
      model[id][t] = value(id, t);
    }
  };
  h_.set_now(H(0) + 30);
  SampleBatch b;
  for (int64_t t = H(0) + 10; t <= H(0) + 30; t += 10) add(&b, t);  // arms every series
  ASSERT_EQ(h_.Ingest(b).rejected, 0u);
  b.Clear();
  h_.set_now(H(1) + 6);
  // Series by series, so that each one's rows interleave with the others' in one batch.
  for (int64_t t : {H(0) + 40, H(1) + 5, H(0) + 45, H(1) + 6, H(0) + 35}) add(&b, t);
  ASSERT_EQ(h_.Ingest(b).rejected, 0u);
  EXPECT_GT(h_.ds()->stats().out_of_order_samples, 0u);
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, model, INT64_MIN, INT64_MAX), 0);
  const uint64_t in_order = h_.ds()->stats().in_order_samples;
  b.Clear();
  h_.set_now(H(1) + 9);
  for (int64_t t = H(1) + 7; t <= H(1) + 9; ++t) add(&b, t);
  ASSERT_EQ(h_.Ingest(b).rejected, 0u);
  // The first of these re-arms its series through the full path; the other two are hot.
  EXPECT_EQ(h_.ds()->stats().in_order_samples, in_order + 12);
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, model, INT64_MIN, INT64_MAX), 0);
  h_.AdvanceAndTick(H(2) + 600);
  EXPECT_EQ(h_.ds()->sealed_before(), H(2));
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, model, INT64_MIN, INT64_MAX), 0);
  EXPECT_EQ(h_.ds()->stats().revisions, 0u);
}

TEST_F(DownsamplerTest, LateSamplesProduceRevisions) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t c = h_.Define("vm-1", "disk.read_bytes");
  const uint64_t c2 = h_.Define("vm-1", "disk.write_bytes");
  // g = 5 and c = 10 x second, every second of hour 0 except the gap [0:16:40, 0:21:40);
  // c2 = 10 x second until 0:58:20, then from 1:05:00 on (a gap across the hour boundary).
  auto in_gap = [](int64_t t) { return t >= H(0) + 1000 && t < H(0) + 1300; };
  auto counter = [](int64_t t) { return 10 * static_cast<uint64_t>(t - H(0)); };
  Stream(&h_, H(0), H(1) + 700, [&](int64_t t, SampleBatch* b) {
    if (t < H(1) && !in_gap(t)) {
      b->AddInt(g, t, 5);
      b->AddInt(c, t, counter(t));
    }
    if (t <= H(0) + 3500 || t >= H(1) + 300) b->AddInt(c2, t, counter(t));
  });
  h_.Tick();
  ASSERT_EQ(h_.ds()->sealed_before(), H(1));  // hour 0 sealed, hour 1 open
  RowMap rows = h_.Rows();
  // g: 3300 samples. 0:00:00..0:16:38 (999) and 0:21:40..0:59:58 (2299) hold 1 s; 0:16:39 holds
  // the staleness limit, 60 s; 0:59:59, the newest, holds 1 s to the watermark 1:00. Held
  // 999 + 2299 + 60 + 1 = 3359 s; integral 5 x 3359 = 16795.
  EXPECT_EQ(RowAt(rows, g, H(0)).col[kColCount], 3300u);
  EXPECT_EQ(RowAt(rows, g, H(0)).col[kColHeld], 3359u);
  EXPECT_EQ(RowIntegral(RowAt(rows, g, H(0))), 16795u);
  // c: the deltas add up to 10 x 3599 despite the gap.
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColIncrease], 35990u);
  // c2: 3500 deltas of 10 in hour 0; hour 1 (open) has 10 x 400 (0:58:20 -> 1:05:00) + the 399
  // deltas of 10 from 1:05:01 to 1:11:39 = 7990.
  EXPECT_EQ(RowAt(rows, c2, H(0)).col[kColIncrease], 35000u);
  EXPECT_EQ(RowAt(rows, c2, H(1)).col[kColIncrease], 7990u);

  // --- Late sample 1 at 1:11:50: g and c at 0:18:20 (in the gap), c2 at 0:58:30.
  h_.set_now(H(1) + 710);
  SampleBatch late;
  late.AddInt(g, H(0) + 1100, 5);
  late.AddInt(c, H(0) + 1100, counter(H(0) + 1100));
  late.AddInt(c2, H(0) + 3510, counter(H(0) + 3510));
  h_.Ingest(late);
  EXPECT_EQ(h_.ds()->stats().late_queued, 1u);
  h_.Tick();
  rows = h_.Rows();
  // g revision 1: 0:16:39 still holds 60 s (the new sample is 101 s later), 0:18:20 holds 60 s:
  // count 3301, held 3419, integral 17095; stamped with the time it was made.
  const RollupRow& g1 = RowAt(rows, g, H(0));
  EXPECT_EQ(g1.col[kColRevision], 1u);
  EXPECT_EQ(g1.col[kColRevisedAt], static_cast<uint64_t>(H(1) + 710));
  EXPECT_EQ(g1.col[kColCount], 3301u);
  EXPECT_EQ(g1.col[kColHeld], 3419u);
  EXPECT_EQ(RowIntegral(g1), 17095u);
  auto revs = h_.ds()->Revisions(g, H(0));
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0], g1);
  // c revision 1: one more sample, the same increase (999 -> 1100 -> 1300 adds as 999 -> 1300).
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColRevision], 1u);
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColCount], 3301u);
  EXPECT_EQ(RowAt(rows, c, H(0)).col[kColIncrease], 35990u);
  // c2: the delta 0:58:20 -> 0:58:30 (100) moves into sealed hour 0 (revision 1), and the open
  // hour 1 keeps 0:58:30 -> 1:05:00 (3900) + 3990 = 7890: the total is unchanged. (Hour 1 is
  // beyond the late sample's staleness reach; it changes because its first delta starts there.)
  EXPECT_EQ(RowAt(rows, c2, H(0)).col[kColRevision], 1u);
  EXPECT_EQ(RowAt(rows, c2, H(0)).col[kColIncrease], 35100u);
  EXPECT_EQ(RowAt(rows, c2, H(1)).col[kColIncrease], 7890u);
  EXPECT_EQ(RowAt(rows, c2, H(1)).col[kColRevision], 0u);  // open: replaced, not revised
  EXPECT_TRUE(h_.ds()->Revisions(c2, H(1)).empty());
  EXPECT_EQ(h_.ds()->stats().revisions, 3u);

  // --- Late sample 2 at 1:12:00: g at 0:20:00 -> revision 2 (count 3302, held 3479).
  h_.set_now(H(1) + 720);
  h_.Ingest(One(g, H(0) + 1200, 5));
  h_.Tick();
  revs = h_.ds()->Revisions(g, H(0));
  ASSERT_EQ(revs.size(), 2u);
  EXPECT_EQ(revs[0].col[kColRevision], 1u);
  EXPECT_EQ(revs[1].col[kColRevision], 2u);
  EXPECT_EQ(revs[1].col[kColRevisedAt], static_cast<uint64_t>(H(1) + 720));
  EXPECT_EQ(revs[1].col[kColCount], 3302u);
  EXPECT_EQ(revs[1].col[kColHeld], 3479u);
  EXPECT_EQ(RowIntegral(revs[1]), 5u * 3479);
  EXPECT_EQ(h_.Rows().at(Key{g, H(0)}), revs[1]);  // the view serves the latest revision

  // --- A late duplicate (same second, same value): no revision.
  h_.set_now(H(1) + 730);
  h_.Ingest(One(g, H(0) + 1200, 5));
  h_.Tick();
  EXPECT_EQ(h_.ds()->Revisions(g, H(0)).size(), 2u);
  EXPECT_EQ(h_.ds()->stats().revisions, 4u);

  // --- A late resend with another value (last write wins): revision 3, 0:20:00 now holds 6
  // for its 60 s: integral 5 x 3419 + 6 x 60 = 17455.
  h_.set_now(H(1) + 740);
  h_.Ingest(One(g, H(0) + 1200, 6));
  h_.Tick();
  revs = h_.ds()->Revisions(g, H(0));
  ASSERT_EQ(revs.size(), 3u);
  EXPECT_EQ(revs[2].col[kColRevision], 3u);
  EXPECT_EQ(RowIntegral(revs[2]), 17455u);
  EXPECT_EQ(revs[2].col[kColMax], 6u);

  // The whole picture equals the raw samples', through the rows and through ScanUsage, and
  // ScanUsage flags the revised hour.
  const Shapes shapes = {{g, kIntGauge}, {c, kCounter}, {c2, kCounter}};
  const auto raw = h_.ScanRaw();
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, raw, INT64_MIN, INT64_MAX), 0);
  EXPECT_EQ(ExpectUsageMatchesReference(*h_.ds(), shapes, raw), 0);
  const auto usage = ScanUsageOf(*h_.ds(), {{g, kIntGauge}}, H(0), H(1), query::Granularity::kHour);
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].revised_hours, 1u);
  EXPECT_EQ(usage[0].max_revision, 3u);
  EXPECT_EQ(usage[0].last_revised_at, H(1) + 740);
  EXPECT_EQ(usage[0].int_integral, 17455u);

  // Revisions are durable.
  const RowMap before = h_.Rows();
  ASSERT_TRUE(h_.Reopen());
  EXPECT_EQ(h_.ds()->Revisions(g, H(0)), revs);
  EXPECT_EQ(h_.Rows(), before);
}

TEST_F(DownsamplerTest, LateSampleForAClosedButUnsealedHour) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  Stream(&h_, H(0), H(0) + 100, [&](int64_t t, SampleBatch* b) { b->AddInt(g, t, 3); });
  h_.set_now(H(0) + 1000);
  h_.Ingest(One(g, H(0) + 1000, 3));
  // Hour 0 closed but not sealed; a late sample is resolved before the seal: no revision.
  h_.set_now(H(1) + 600);
  EXPECT_EQ(h_.ds()->CloseDue(), H(1));
  h_.Ingest(One(g, H(0) + 500, 4));
  ASSERT_TRUE(h_.ds()->ProcessLate().ok());
  ASSERT_TRUE(h_.ds()->SealDue().ok());
  EXPECT_TRUE(h_.ds()->Revisions(g, H(0)).empty());
  // 100 samples (99 x 1 s + 0:01:39 held 60 s) x 3, 0:08:20 holds 60 s x 4, 0:16:40 (newest)
  // holds 60 s x 3: 3 x 159 + 240 + 180 = 897.
  EXPECT_EQ(RowIntegral(RowAt(h_.Rows(), g, H(0))), 897u);

  // Hour 1 closed, a late sample arrives, and the seal runs before it is resolved: the sealed
  // bucket lacks it, and resolving it makes revision 1.
  h_.Ingest(One(g, H(1) + 10, 3));
  h_.set_now(H(2) + 600);
  EXPECT_EQ(h_.ds()->CloseDue(), H(2));
  h_.Ingest(One(g, H(1) + 100, 9));
  ASSERT_TRUE(h_.ds()->SealDue().ok());
  EXPECT_EQ(RowIntegral(RowAt(h_.Rows(), g, H(1))), 180u);  // 1:00:10 for 60 s, x 3
  ASSERT_TRUE(h_.ds()->ProcessLate().ok());
  const auto revs = h_.ds()->Revisions(g, H(1));
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(RowIntegral(revs[0]), 180u + 540u);  // + 1:01:40 for 60 s, x 9
  const Shapes shapes = {{g, kIntGauge}};
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), INT64_MIN, INT64_MAX), 0);
}

// A scenario with gauges, states and counters (two of them quiet for hours), ticking as it
// goes; `restart_at` lists the seconds after which everything is closed and reopened.
struct Scenario {
  uint64_t g, f, c, s, q, q2, gq;
  Shapes shapes;
};

Scenario DefineScenario(Harness* h) {
  Scenario sc;
  sc.g = h->Define("vm-1", "vm.memory_bytes");
  sc.f = h->Define("vm-1", "vm.cpu_utilisation");
  sc.c = h->Define("vm-1", "vm.cpu_time_ns");
  sc.s = h->Define("vm-1", "vm.state");
  sc.q = h->Define("vm-1", "net.rx_bytes");
  sc.q2 = h->Define("vm-1", "net.tx_bytes");
  sc.gq = h->Define("vm-1", "ip.count");
  sc.shapes = {{sc.g, kIntGauge}, {sc.f, kFloatGauge}, {sc.c, kCounter},  {sc.s, kState},
               {sc.q, kCounter},  {sc.q2, kCounter},   {sc.gq, kIntGauge}};
  return sc;
}

void RunScenario(Harness* h, const Scenario& sc, const std::vector<int64_t>& restart_at,
                 std::vector<RowMap>* before_restart, std::vector<RowMap>* after_restart) {
  auto gen = [&](int64_t t, SampleBatch* b) {
    const uint64_t k = static_cast<uint64_t>(t - H(0));
    b->AddInt(sc.g, t, (1 + k / 1000 % 4) * kGiB);
    b->AddFloat(sc.f, t, static_cast<double>(k % 8) / 8);
    b->AddInt(sc.c, t, k % 5000 == 4999 ? 3 : 1000 * (k % 5000));  // resets every 5000 s
    if (k % 700 < 650) b->AddInt(sc.s, t, 1 + k / 700 % 6);        // 50 s gaps each 700 s
    // q: quiet from 0:30 until 3:01:40; q2: quiet from 0:30 until 2:05.
    if (t <= H(0) + 1800 || t >= H(3) + 100) b->AddInt(sc.q, t, 7 * k);
    if (t <= H(0) + 1800 || t >= H(2) + 300) b->AddInt(sc.q2, t, 3 * k);
    // gq: a sample at 1:59:50 whose hold crosses into hour 2, then from 2:00:30.
    if (t == H(1) + 3590 || t >= H(2) + 30) b->AddInt(sc.gq, t, 2);
  };
  int64_t t = H(0);
  for (int64_t stop : restart_at) {
    Stream(h, t, stop, gen);
    h->Tick();
    before_restart->push_back(h->Rows());
    ASSERT_TRUE(h->Reopen());
    after_restart->push_back(h->Rows());
    t = stop;
  }
  Stream(h, t, H(3) + 1800, gen);
  h->AdvanceAndTick(H(5) + 600);
}

TEST(DownsamplerRestartTest, RestartRebuildsOpenBucketsExactly) {
  // Twin runs of the same input: one without restarts, one restarted twice mid-hour (at 1:30,
  // hour 0 sealed and 1 open; at 2:15, hour 1 sealed, with q, q2 and gq quiet or crossing the
  // watermark). Hour 1 is also restarted after a crash-like close (no head flush: WAL replay).
  Harness plain(H(0)), restarted(H(0));
  ASSERT_TRUE(plain.Open());
  restarted.set_flush_on_close(false);
  ASSERT_TRUE(restarted.Open());
  const Scenario a = DefineScenario(&plain);
  const Scenario b = DefineScenario(&restarted);
  std::vector<RowMap> before, after;
  RunScenario(&plain, a, {}, &before, &after);
  RunScenario(&restarted, b, {H(1) + 1800, H(2) + 900}, &before, &after);
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(after.size(), 2u);
  for (size_t i = 0; i < before.size(); ++i) {
    // Open buckets rebuilt from raw equal the ones kept in memory before, column for column.
    EXPECT_EQ(before[i].size(), after[i].size()) << i;
    for (const auto& [key, row] : before[i]) {
      auto it = after[i].find(key);
      ASSERT_NE(it, after[i].end()) << "restart " << i << " lost series " << key.first << " hour "
                                    << (key.second - H(0)) / 3600;
      EXPECT_EQ(it->second, row) << "restart " << i << " series " << key.first << " hour "
                                 << (key.second - H(0)) / 3600;
    }
  }
  // q's first sample after its silence (3:01:40, after both restarts) and q2's (2:05:00,
  // before the second) take their first delta from the value before the silence.
  const RowMap rows = restarted.Rows();
  EXPECT_EQ(RowAt(rows, a.q, H(3)).col[kColIncrease], 7u * (3 * 3600 + 100 - 1800) + 7 * 1699);
  EXPECT_EQ(RowAt(rows, a.q2, H(2)).col[kColIncrease], 3u * (2 * 3600 + 300 - 1800) + 3 * 3299);
  EXPECT_EQ(plain.Rows(), rows);
  const auto raw = restarted.ScanRaw();
  EXPECT_EQ(raw, plain.ScanRaw());
  EXPECT_EQ(ExpectMatchesReference(*restarted.ds(), b.shapes, raw, INT64_MIN, INT64_MAX), 0);
  EXPECT_EQ(ExpectUsageMatchesReference(*restarted.ds(), b.shapes, raw), 0);
}

TEST_F(DownsamplerTest, PendingLateSampleIsResolvedAtOpenAfterACrash) {
  h_.set_flush_on_close(false);  // closing then replays the WAL, as after kill -9
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  Stream(&h_, H(0), H(1), [&](int64_t t, SampleBatch* b) {
    if (t < H(0) + 1000 || t >= H(0) + 1300) b->AddInt(g, t, 5);
  });
  h_.AdvanceAndTick(H(1) + 700);
  ASSERT_EQ(h_.ds()->sealed_before(), H(1));
  EXPECT_EQ(RowAt(h_.Rows(), g, H(0)).col[kColCount], 3300u);

  // A late sample: pending record written, sample appended and durable, then the process
  // "dies" before ProcessLate turns it into a revision.
  const AppendResult r = h_.Ingest(One(g, H(0) + 1100, 5));
  ASSERT_TRUE(h_.store()->WaitDurable(r.lsn).ok());
  // And a pending record whose sample never reached the WAL (died between the two).
  ASSERT_TRUE(h_.ds()->MarkLate({LateSample{g, H(0) + 1250}}).ok());
  EXPECT_TRUE(h_.ds()->Revisions(g, H(0)).empty());
  h_.Close();

  h_.set_now(H(1) + 800);
  ASSERT_TRUE(h_.Open());
  int resolved = 0;
  for (const std::string& line : h_.open_report()) {
    if (line.find("resolved after restart") != std::string::npos) ++resolved;
  }
  EXPECT_EQ(resolved, 2);
  const auto revs = h_.ds()->Revisions(g, H(0));
  ASSERT_EQ(revs.size(), 1u);  // the sample that never arrived revises nothing
  EXPECT_EQ(revs[0].col[kColRevision], 1u);
  EXPECT_EQ(revs[0].col[kColCount], 3301u);
  EXPECT_EQ(revs[0].col[kColHeld], 3419u);
  EXPECT_EQ(revs[0].col[kColRevisedAt], static_cast<uint64_t>(H(1) + 800));
  EXPECT_EQ(h_.Rows().at(Key{g, H(0)}), revs[0]);

  // Resolved durably: the next start redoes nothing.
  ASSERT_TRUE(h_.Reopen());
  for (const std::string& line : h_.open_report()) {
    EXPECT_EQ(line.find("resolved after restart"), std::string::npos) << line;
  }
  EXPECT_EQ(h_.ds()->Revisions(g, H(0)).size(), 1u);
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), {{g, kIntGauge}}, h_.ScanRaw(), INT64_MIN, H(1)), 0);
}

TEST_F(DownsamplerTest, RebuildReportsUnchangedThenRevisesAfterAStalenessChange) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t s = h_.Define("vm-1", "vm.state");
  const uint64_t c = h_.Define("vm-1", "vm.cpu_time_ns");
  // A sample every 45 s: between the new staleness (30 s) and the old one (60 s).
  Stream(&h_, H(0), H(3) + 1800, [&](int64_t t, SampleBatch* b) {
    if ((t - H(0)) % 45 != 0) return;
    b->AddInt(g, t, 4);
    b->AddInt(s, t, kRunning);
    b->AddInt(c, t, static_cast<uint64_t>(t - H(0)));
  });
  h_.Tick();
  ASSERT_EQ(h_.ds()->sealed_before(), H(3));  // hours 0-2 sealed, hour 3 open
  const RowMap before = h_.Rows();
  EXPECT_EQ(RowAt(before, g, H(0)).col[kColHeld], 3600u);  // 80 samples x 45 s

  auto report = h_.ds()->Rebuild(H(0), H(4), {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->series, 3u);
  EXPECT_EQ(report->hours, 12u);
  EXPECT_EQ(report->unchanged, 12u);
  EXPECT_EQ(report->revisions, 0u);
  EXPECT_EQ(report->open_replaced, 0u);
  EXPECT_TRUE(report->first_changes.empty());
  EXPECT_EQ(h_.Rows(), before);

  // Reopen with a 30 s staleness: the open hour is rebuilt with it at once; sealed hours change
  // only through Rebuild, as revisions.
  h_.ds_options().staleness_seconds = 30;
  ASSERT_TRUE(h_.Reopen());
  RowMap rows = h_.Rows();
  // Hour 3 open: samples at 3:00:00 .. 3:29:15 (40), the newest not yet held: 39 x 30 s.
  EXPECT_EQ(RowAt(rows, g, H(3)).col[kColHeld], 39u * 30);
  EXPECT_EQ(RowAt(rows, g, H(0)), RowAt(before, g, H(0)));

  report = h_.ds()->Rebuild(H(0), H(3), {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->hours, 9u);
  EXPECT_EQ(report->revisions, 6u);  // g and s in each sealed hour; c has no holds
  EXPECT_EQ(report->unchanged, 3u);
  EXPECT_EQ(report->first_changes.size(), 6u);
  rows = h_.Rows();
  for (int hour = 0; hour < 3; ++hour) {
    // 80 samples x 30 s.
    EXPECT_EQ(RowAt(rows, g, H(hour)).col[kColHeld], 2400u) << hour;
    EXPECT_EQ(RowIntegral(RowAt(rows, g, H(hour))), 4u * 2400) << hour;
    EXPECT_EQ(RowAt(rows, g, H(hour)).col[kColRevision], 1u);
    EXPECT_EQ(RowAt(rows, s, H(hour)).col[kColState0 + kRunning], 2400u) << hour;
    EXPECT_EQ(RowAt(rows, c, H(hour)), RowAt(before, c, H(hour))) << hour;
  }
  EXPECT_EQ(h_.ds()->Revisions(g, H(1)).size(), 1u);
  // A rebuild over data that now agrees changes nothing.
  report = h_.ds()->Rebuild(H(0), H(4), {g});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->series, 1u);
  EXPECT_EQ(report->unchanged, 4u);
  EXPECT_EQ(report->revisions, 0u);
  EXPECT_EQ(h_.Rows(), rows);

  h_.AdvanceAndTick(H(5) + 600);
  const Shapes shapes = {{g, kIntGauge}, {s, kState}, {c, kCounter}};
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), INT64_MIN, INT64_MAX), 0);
}

// Issue 18: a rebuild over imported hours recomputed them from raw samples that do not exist and
// turned them into empty buckets. Imported buckets are kept; hours with raw samples are rebuilt
// (flagged kRowRebuilt), and the report says so per hour.
TEST_F(DownsamplerTest, RebuildKeepsImportedBucketsAndRebuildsHoursWithRawSamples) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");  // live in hours 1-3, imported in hour 0
  const uint64_t s = h_.Define("vm-2", "vm.state");  // imported only
  // A sample every 45 s from hour 1 on: between the new staleness (30 s) and the old (60 s).
  Stream(&h_, H(0), H(3) + 1800, [&](int64_t t, SampleBatch* b) {
    if (t >= H(1) && (t - H(1)) % 45 == 0) b->AddInt(g, t, 4);
  });
  h_.Tick();
  ASSERT_EQ(h_.ds()->sealed_before(), H(3));
  std::vector<ImportedQuantity> q;
  q.push_back(ImportedQuantity{.index = 0, .series_id = g, .hour = H(0), .value_bits = 2});
  for (int hour = 0; hour < 3; ++hour) {
    q.push_back(ImportedQuantity{.index = static_cast<uint32_t>(q.size()),
                                 .series_id = s,
                                 .hour = H(hour),
                                 .state = kRunning,
                                 .value_bits = 3600});
  }
  auto imported = h_.ds()->Import(q);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ASSERT_EQ(imported->imported, 4u);
  const RowMap before = h_.Rows();
  EXPECT_EQ(RowAt(before, s, H(1)).col[kColState0 + kRunning], 3600u);
  EXPECT_EQ(RowAt(before, g, H(1)).col[kColHeld], 3600u);  // 80 samples x 45 s

  h_.ds_options().staleness_seconds = 30;
  ASSERT_TRUE(h_.Reopen());
  auto report = h_.ds()->Rebuild(H(0), H(3), {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->series, 2u);
  EXPECT_EQ(report->hours, 6u);
  EXPECT_EQ(report->kept_imported, 4u);  // g's hour 0, s's hours 0-2
  EXPECT_EQ(report->revisions, 2u);      // g's hours 1 and 2: 80 samples x 30 s now
  EXPECT_EQ(report->unchanged, 0u);
  EXPECT_EQ(report->kept_without_raw, 0u);
  ASSERT_EQ(report->by_hour.size(), 3u);
  EXPECT_EQ(report->by_hour[0].hour, H(0));
  EXPECT_EQ(report->by_hour[0].kept_imported, 2u);
  EXPECT_EQ(report->by_hour[0].rebuilt, 0u);
  for (int hour = 1; hour < 3; ++hour) {
    EXPECT_EQ(report->by_hour[hour].hour, H(hour));
    EXPECT_EQ(report->by_hour[hour].kept_imported, 1u) << hour;
    EXPECT_EQ(report->by_hour[hour].rebuilt, 1u) << hour;
    EXPECT_EQ(report->by_hour[hour].unchanged, 0u) << hour;
  }
  const RowMap rows = h_.Rows();
  for (int hour = 0; hour < 3; ++hour) {
    EXPECT_EQ(RowAt(rows, s, H(hour)), RowAt(before, s, H(hour))) << hour;
    EXPECT_EQ(RowAt(rows, s, H(hour)).col[kColFlags] & ~kRowImportIdMask, kRowImported) << hour;
  }
  EXPECT_EQ(RowAt(rows, g, H(0)), RowAt(before, g, H(0)));
  for (int hour = 1; hour < 3; ++hour) {
    EXPECT_EQ(RowAt(rows, g, H(hour)).col[kColHeld], 2400u) << hour;
    EXPECT_EQ(RowAt(rows, g, H(hour)).col[kColFlags], kRowRebuilt) << hour;
    EXPECT_EQ(RowAt(rows, g, H(hour)).col[kColRevision], 1u) << hour;
  }

  // Again: the rebuilt hours agree with raw now (the origin flag aside), nothing is written.
  report = h_.ds()->Rebuild(H(0), H(3), {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->unchanged, 2u);
  EXPECT_EQ(report->kept_imported, 4u);
  EXPECT_EQ(report->revisions, 0u);
  EXPECT_EQ(h_.Rows(), rows);
  EXPECT_EQ(h_.ds()->Revisions(g, H(1)).size(), 1u);
}

// Sealed buckets whose raw samples retention has dropped are kept by a rebuild (it used to
// revise them to empty buckets: measured usage erased).
TEST_F(DownsamplerTest, RebuildKeepsSealedBucketsWhoseRawSamplesAreGone) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  Stream(&h_, H(0), H(3) + 1800, [&](int64_t t, SampleBatch* b) {
    if ((t - H(0)) % 45 == 0) b->AddInt(g, t, 4);
  });
  h_.Tick();
  ASSERT_EQ(h_.ds()->sealed_before(), H(3));
  const RowMap before = h_.Rows(H(0), H(3));
  ASSERT_EQ(RowAt(before, g, H(1)).col[kColHeld], 3600u);
  // 37 days on, the raw partition of those hours (one day, starting at kH0) is past the 35-day
  // retention and dropped.
  ASSERT_TRUE(h_.store()->Flush().ok());
  h_.set_now(kH0 + 37 * kDay);
  ASSERT_TRUE(h_.store()->EnforceRetention().ok());
  ASSERT_TRUE(h_.ScanRaw().empty());

  auto report = h_.ds()->Rebuild(H(0), H(3), {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->hours, 3u);
  EXPECT_EQ(report->kept_without_raw, 3u);
  EXPECT_EQ(report->revisions, 0u);
  ASSERT_EQ(report->by_hour.size(), 3u);
  for (const RebuildHourCounts& c : report->by_hour) EXPECT_EQ(c.kept_without_raw, 1u);
  EXPECT_EQ(h_.Rows(H(0), H(3)), before);
}

TEST_F(DownsamplerTest, FarFutureSamplesAreRefusedAndNotRolledUp) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  h_.set_now(H(0) + 100);
  SampleBatch b;
  b.AddInt(g, H(0) + 50, 2);
  b.AddInt(g, H(0) + 100 + 601, 99);  // more than max_future (600 s) ahead of the clock
  const AppendResult r = h_.Ingest(b);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.rejected, 1u);
  h_.AdvanceAndTick(H(1) + 600);
  const RowMap rows = h_.Rows();
  const RollupRow& row = RowAt(rows, g, H(0));
  EXPECT_EQ(row.col[kColCount], 1u);
  EXPECT_EQ(row.col[kColMax], 2u);
  EXPECT_EQ(RowIntegral(row), 120u);
}

TEST_F(DownsamplerTest, MergedMonthFileServesTheSameRowsAndTakesRevisions) {
  h_.ds_options().merge_min_parts = 2;
  ASSERT_TRUE(h_.Reopen());
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t c = h_.Define("vm-1", "vm.cpu_time_ns");
  Stream(&h_, H(0), H(3), [&](int64_t t, SampleBatch* b) {
    if (t % 2 == 0) b->AddInt(g, t, 1 + static_cast<uint64_t>(t / 600 % 3));
    b->AddInt(c, t, 4 * static_cast<uint64_t>(t - H(0)));
  });
  h_.AdvanceAndTick(H(3) + 600);
  const RowMap before = h_.Rows();
  EXPECT_GE(h_.ds()->stats().files.part_files, 2u);
  h_.Tick(/*merge=*/true);
  const DownsampleStats stats = h_.ds()->stats();
  EXPECT_GE(stats.files.month_files, 1u);
  EXPECT_EQ(stats.files.part_files, 0u);
  EXPECT_EQ(h_.Rows(), before);
  // A late sample revises a bucket that now lives in the month file.
  h_.set_now(H(3) + 700);
  h_.Ingest(One(g, H(1) + 1, 7));
  h_.Tick(true);
  const auto revs = h_.ds()->Revisions(g, H(1));
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0].col[kColCount], RowAt(before, g, H(1)).col[kColCount] + 1);
  EXPECT_EQ(revs[0].col[kColMax], 7u);
  const Shapes shapes = {{g, kIntGauge}, {c, kCounter}};
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), INT64_MIN, INT64_MAX), 0);
  ASSERT_TRUE(h_.Reopen());
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), INT64_MIN, INT64_MAX), 0);
}

// Issue 18: imported and revised buckets become columnar data. With a buffer of 10 rows, each
// import of more rows is folded into the month files before it returns: the buffer never holds
// more than its bound after a call, the rows read the same before and after, the month files
// carry each bucket's origin (imported, revised), a restart replays nothing folded, and a
// re-import compares against the folded rows (unchanged).
TEST_F(DownsamplerTest, ImportedAndRevisedBucketsAreFoldedIntoMonthFiles) {
  h_.ds_options().revision_buffer_rows = 10;
  ASSERT_TRUE(h_.Reopen());
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");
  const uint64_t c = h_.Define("vm-1", "vm.cpu_time_ns");
  const uint64_t st = h_.Define("vm-2", "vm.state");
  const uint64_t tx = h_.Define("vm-2", "net.tx_bytes");
  Stream(&h_, H(0), H(3), [&](int64_t t, SampleBatch* b) {
    if (t % 2 == 0) b->AddInt(g, t, 1 + static_cast<uint64_t>(t / 600 % 3));
    b->AddInt(c, t, 4 * static_cast<uint64_t>(t - H(0)));
  });
  h_.AdvanceAndTick(H(3) + 600);
  ASSERT_EQ(h_.ds()->sealed_before(), H(3));
  // December 2025's last 48 hours (sealed: before the first hour rolled up) for vm-2, in
  // imports of 24 quantities.
  const int64_t dec = kH0 - 48 * kSecondsPerHour;
  std::vector<ImportedQuantity> all;
  for (int h = 0; h < 48; ++h) {
    const int64_t hour = dec + h * kSecondsPerHour;
    all.push_back(ImportedQuantity{.index = static_cast<uint32_t>(all.size()),
                                   .series_id = st,
                                   .hour = hour,
                                   .state = kRunning,
                                   .value_bits = 3600});
    all.push_back(ImportedQuantity{.index = static_cast<uint32_t>(all.size()),
                                   .series_id = tx,
                                   .hour = hour,
                                   .value_bits = 1000 + static_cast<uint64_t>(h)});
  }
  for (size_t i = 0; i < all.size(); i += 24) {
    std::vector<ImportedQuantity> chunk(all.begin() + i, all.begin() + i + 24);
    auto rep = h_.ds()->Import(chunk);
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();
    EXPECT_EQ(rep->imported, 24u);
    EXPECT_LE(h_.ds()->stats().revision_buffer_rows, 10u) << i;
  }
  DownsampleStats stats = h_.ds()->stats();
  EXPECT_EQ(stats.folds, 4u);
  EXPECT_EQ(stats.revision_buffer_rows, 0u);
  EXPECT_EQ(stats.files.folded_rows, 96u);
  // A late sample revises hour 1 (in a part): buffered (1 row), then folded on demand.
  h_.set_now(H(3) + 700);
  h_.Ingest(One(g, H(1) + 1, 7));
  h_.Tick();
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 1u);
  const RowMap before = h_.Rows();
  ASSERT_TRUE(h_.ds()->FoldRevisions(true).ok());
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 0u);
  // Everything is in the files now: no revised row is held in memory, the rows are the same.
  query::RollupView view = h_.ds()->View({}, INT64_MIN, INT64_MAX);
  EXPECT_TRUE(view.revised.empty());
  EXPECT_EQ(h_.Rows(), before);
  const RowMap in_files = Harness::RowsOf(view, INT64_MIN, H(3));
  for (int h = 0; h < 48; ++h) {
    const int64_t hour = dec + h * kSecondsPerHour;
    const RollupRow& srow = RowAt(in_files, st, hour);
    EXPECT_EQ(srow.col[kColFlags] & ~kRowImportIdMask, kRowImported);
    EXPECT_EQ(srow.col[kColRevision], 1u);
    EXPECT_EQ(srow.col[kColState0 + kRunning], 3600u);
    EXPECT_EQ(RowAt(in_files, tx, hour).col[kColIncrease], 1000u + static_cast<uint64_t>(h));
  }
  const RollupRow& late = RowAt(in_files, g, H(1));
  EXPECT_EQ(late.col[kColRevision], 1u);  // revised by late data
  EXPECT_EQ(late.col[kColFlags] & kRowOrigin, 0u);
  EXPECT_EQ(late.col[kColMax], 7u);
  EXPECT_EQ(RowAt(in_files, g, H(0)).col[kColRevision], 0u);  // live
  EXPECT_EQ(h_.ds()->Revisions(g, H(1)).size(), 1u);          // the latest, from the file
  EXPECT_EQ(h_.ds()->Revisions(g, H(0)).size(), 0u);
  // The usage scan counts the origins from the columns.
  std::vector<query::UsageBucket> usage;
  query::UsageRequest req;
  req.series = {{st, query::SeriesKind::kState, storage::ValueType::kInt}};
  req.from = dec;
  req.to = kH0;
  req.granularity = query::Granularity::kMonth;
  ASSERT_TRUE(query::ScanUsage(view, req, &usage).ok());
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].hours, 48u);
  EXPECT_EQ(usage[0].imported_hours, 48u);
  EXPECT_EQ(usage[0].state_seconds[kRunning], 48u * 3600);

  // A restart replays no folded row, and serves the same.
  const uint64_t log_bytes = h_.ds()->stats().revision_log_bytes;
  EXPECT_LT(log_bytes, 64u);  // the log's header and little else
  ASSERT_TRUE(h_.Reopen());
  for (const std::string& line : h_.open_report()) {
    EXPECT_EQ(line.find("revision rows replayed"), std::string::npos) << line;
  }
  EXPECT_EQ(h_.Rows(), before);
  // Importing the same quantities again changes nothing: they are compared with the files.
  auto again = h_.ds()->Import(all);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->imported, 0u);
  EXPECT_EQ(again->unchanged, 96u);
  const Shapes shapes = {{g, kIntGauge}, {c, kCounter}};
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), H(0), H(3)), 0);
}

// Issue 18: every import has an id, carried by the buckets it writes and journalled with what
// they held before. A resent chunk is counted once; a dry run writes nothing; a rollback gives
// back what the import replaced (a live bucket, or nothing) where the import's row is still
// there, leaves buckets another import wrote since (superseded), and is recorded: a second
// rollback, even after a restart, changes nothing and reports the first one.
TEST_F(DownsamplerTest, ImportsHaveIdsResendsCountOnceAndRollBack) {
  const uint64_t g = h_.Define("vm-1", "vm.vcpus");       // live: 4 vCPUs
  const uint64_t tx = h_.Define("vm-1", "net.tx_bytes");  // imported only
  Stream(&h_, H(0), H(3), [&](int64_t t, SampleBatch* b) {
    if (t % 30 == 0) b->AddInt(g, t, 4);
  });
  h_.AdvanceAndTick(H(3) + 600);
  ASSERT_EQ(h_.ds()->sealed_before(), H(3));
  const RowMap live = h_.Rows();
  auto q = [](uint64_t series, int64_t hour, uint64_t value) {
    return ImportedQuantity{.index = 0, .series_id = series, .hour = hour, .value_bits = value};
  };
  // Import A, chunk 0: a start (id 0) that replaces a live bucket and fills two empty ones.
  auto a0 = h_.ds()->Import({q(g, H(0), 2), q(tx, H(0), 100), q(tx, H(1), 200)});
  ASSERT_TRUE(a0.ok()) << a0.status().ToString();
  const uint64_t a = a0->import_id;
  ASSERT_NE(a, 0u);
  EXPECT_EQ(a0->imported, 3u);
  EXPECT_FALSE(a0->repeated);
  auto a1 = h_.ds()->Import({q(tx, H(2), 300), q(tx, H(0), 100)}, {.import_id = a, .chunk = 1});
  ASSERT_TRUE(a1.ok()) << a1.status().ToString();
  EXPECT_EQ(a1->import_id, a);
  EXPECT_EQ(a1->imported, 1u);
  EXPECT_EQ(a1->unchanged, 1u);
  // The same chunk again (its acknowledgement was lost): the counts recorded the first time.
  auto resent = h_.ds()->Import({q(tx, H(2), 300), q(tx, H(0), 100)}, {.import_id = a, .chunk = 1});
  ASSERT_TRUE(resent.ok());
  EXPECT_TRUE(resent->repeated);
  EXPECT_EQ(resent->imported, 1u);
  EXPECT_EQ(resent->unchanged, 1u);
  RowMap rows = h_.Rows();
  EXPECT_EQ(RowAt(rows, tx, H(2)).col[kColIncrease], 300u);
  EXPECT_EQ(RowImportId(RowAt(rows, tx, H(2)).col[kColFlags]), a);
  EXPECT_EQ(RowImportId(RowAt(rows, g, H(0)).col[kColFlags]), a);
  EXPECT_EQ(RowAt(rows, g, H(0)).col[kColMax], 2u);
  // An unknown import id is refused; a dry run counts and writes nothing.
  EXPECT_TRUE(h_.ds()->Import({q(tx, H(1), 1)}, {.import_id = a + 7}).status().IsNotFound());
  auto dry = h_.ds()->Import({q(tx, H(1), 555), q(tx, H(0), 100)}, {.dry_run = true});
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->import_id, 0u);
  EXPECT_EQ(dry->imported, 1u);
  EXPECT_EQ(dry->unchanged, 1u);
  EXPECT_EQ(h_.Rows(), rows);
  // Import B replaces one of A's buckets.
  auto b0 = h_.ds()->Import({q(tx, H(1), 555)});
  ASSERT_TRUE(b0.ok());
  const uint64_t b = b0->import_id;
  EXPECT_GT(b, a);
  // A dry rollback counts; the rollback restores the live bucket and empties A's two others.
  auto dry_back = h_.ds()->Rollback(a, /*dry_run=*/true);
  ASSERT_TRUE(dry_back.ok()) << dry_back.status().ToString();
  EXPECT_EQ(dry_back->restored, 3u);
  EXPECT_EQ(dry_back->superseded, 1u);
  EXPECT_EQ(RowAt(h_.Rows(), tx, H(0)).col[kColIncrease], 100u);
  auto back = h_.ds()->Rollback(a, /*dry_run=*/false);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->restored, 3u);    // g H(0), tx H(0), tx H(2)
  EXPECT_EQ(back->superseded, 1u);  // tx H(1): import B's now
  EXPECT_FALSE(back->already);
  rows = h_.Rows();
  const RollupRow& restored = RowAt(rows, g, H(0));
  EXPECT_TRUE(SameBucket(restored, RowAt(live, g, H(0))));
  EXPECT_EQ(restored.col[kColRevision], 2u);  // live 0, import 1, rollback 2
  EXPECT_EQ(restored.col[kColFlags] & kRowImported, 0u);
  for (int64_t hour : {H(0), H(2)}) {
    auto it = rows.find({tx, hour});
    ASSERT_TRUE(it == rows.end() || RowIsEmpty(it->second)) << hour;
  }
  EXPECT_EQ(RowAt(rows, tx, H(1)).col[kColIncrease], 555u);
  // Recorded: again (and after a restart) nothing changes and the first rollback is reported.
  ASSERT_TRUE(h_.Reopen());
  auto again = h_.ds()->Rollback(a, false);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already);
  EXPECT_EQ(again->restored, 3u);
  EXPECT_EQ(h_.Rows(), rows);
  // Rolling B back gives tx H(1) what B replaced: A's row (undo in reverse order restores both).
  auto back_b = h_.ds()->Rollback(b, false);
  ASSERT_TRUE(back_b.ok());
  EXPECT_EQ(back_b->restored, 1u);
  EXPECT_EQ(RowAt(h_.Rows(), tx, H(1)).col[kColIncrease], 200u);
  // Ids are never reused across a restart; an unknown id is NotFound.
  auto c0 = h_.ds()->Import({q(tx, H(2), 7)});
  ASSERT_TRUE(c0.ok());
  EXPECT_GT(c0->import_id, b);
  EXPECT_TRUE(h_.ds()->Rollback(c0->import_id + 1, false).status().IsNotFound());
  const Shapes shapes = {{g, kIntGauge}};
  EXPECT_EQ(ExpectMatchesReference(*h_.ds(), shapes, h_.ScanRaw(), H(1), H(3)), 0);
}

// Revisions buffered when the process dies are replayed at the next start (the log is their
// write-ahead log) and folded there once the buffer is full again; a store whose revisions were
// all folded replays nothing.
TEST_F(DownsamplerTest, BufferedRevisionsSurviveARestartAndFoldLater) {
  h_.ds_options().revision_buffer_rows = 8;
  ASSERT_TRUE(h_.Reopen());
  const uint64_t tx = h_.Define("vm-2", "net.tx_bytes");
  Stream(&h_, H(0), H(0) + 60, [&](int64_t, SampleBatch*) {});
  auto import = [&](int first, int n) {
    std::vector<ImportedQuantity> q;
    for (int h = first; h < first + n; ++h) {
      q.push_back(ImportedQuantity{.index = static_cast<uint32_t>(q.size()),
                                   .series_id = tx,
                                   .hour = kH0 - (h + 1) * kSecondsPerHour,
                                   .value_bits = 5 + static_cast<uint64_t>(h)});
    }
    auto rep = h_.ds()->Import(q);
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();
    EXPECT_EQ(rep->imported, static_cast<uint64_t>(n));
  };
  import(0, 5);  // buffered: 5 < 8
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 5u);
  EXPECT_EQ(h_.ds()->stats().folds, 0u);
  const RowMap before = h_.Rows();
  h_.set_flush_on_close(false);
  ASSERT_TRUE(h_.Reopen());
  EXPECT_EQ(h_.Rows(), before);
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 5u);
  import(5, 4);  // 9 >= 8: folded
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 0u);
  EXPECT_EQ(h_.ds()->stats().folds, 1u);
  const RowMap after = h_.Rows();
  EXPECT_EQ(after.size(), 9u);
  ASSERT_TRUE(h_.Reopen());
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 0u);
  EXPECT_EQ(h_.Rows(), after);
  for (int h = 0; h < 9; ++h) {
    EXPECT_EQ(RowAt(after, tx, kH0 - (h + 1) * kSecondsPerHour).col[kColIncrease],
              5u + static_cast<uint64_t>(h));
  }
}

// A store written before issue 18: a version 1 ROLLUP (no revision_log) and every revision in
// revisions.log. The start replays that log, folding whenever the buffer fills (the manifest
// keeps revision_log 0 meanwhile, so a crash would replay and fold the same rows again), and
// the first fold after the start drops it. Nothing read changes on the way.
TEST_F(DownsamplerTest, AVersion1StoreMigratesItsRevisionLog) {
  h_.ds_options().revision_buffer_rows = 1000;  // nothing folds while the old store is written
  ASSERT_TRUE(h_.Reopen());
  const uint64_t tx = h_.Define("vm-2", "net.tx_bytes");
  // Seven imports, seven records in the log: 5 rows each, then 3.
  for (int first = 0; first < 33; first += 5) {
    std::vector<ImportedQuantity> q;
    for (int h = first; h < std::min(first + 5, 33); ++h) {
      q.push_back(ImportedQuantity{.index = static_cast<uint32_t>(h),
                                   .series_id = tx,
                                   .hour = kH0 - (h + 1) * kSecondsPerHour,
                                   .value_bits = 100 + static_cast<uint64_t>(h)});
    }
    auto rep = h_.ds()->Import(q);
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();
    ASSERT_EQ(rep->imported, q.size());
  }
  const RowMap before = h_.Rows();
  h_.Close();
  // Turn the store into what a version 1 meterd left: revisions.log, ROLLUP version 1.
  const std::string rollup = h_.dir() + "/rollup";
  ASSERT_TRUE(storage::RenameFile(rollup + "/revisions-1.log", rollup + "/revisions.log").ok());
  std::string m;
  ASSERT_TRUE(storage::ReadWholeFile(rollup + "/ROLLUP", &m).ok());
  ASSERT_EQ(m[7], '\x02');
  std::string v1 = m.substr(0, 40) + m.substr(48, m.size() - 48 - 8);
  v1[7] = '\x01';
  base::PutFixed64(&v1, base::Checksum64(v1));
  ASSERT_TRUE(storage::WriteFileAtomic(rollup + "/ROLLUP", v1).ok());

  h_.ds_options().revision_buffer_rows = 8;
  ASSERT_TRUE(h_.Open());
  EXPECT_EQ(h_.Rows(), before);
  DownsampleStats stats = h_.ds()->stats();
  EXPECT_EQ(stats.files.folds, 3u);  // after records 2, 4 and 6: 30 rows folded in the replay
  EXPECT_EQ(stats.revision_buffer_rows, 3u);
  EXPECT_EQ(stats.files.folded_rows, 30u);
  EXPECT_TRUE(storage::FileExists(rollup + "/revisions.log"));  // still the log to replay
  ASSERT_TRUE(h_.ds()->FoldRevisions(true).ok());
  EXPECT_FALSE(storage::FileExists(rollup + "/revisions.log"));
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 0u);
  EXPECT_EQ(h_.Rows(), before);
  ASSERT_TRUE(h_.Reopen());
  EXPECT_EQ(h_.ds()->stats().revision_buffer_rows, 0u);
  EXPECT_EQ(h_.Rows(), before);
  ASSERT_TRUE(storage::ReadWholeFile(rollup + "/ROLLUP", &m).ok());
  EXPECT_EQ(m[7], '\x02');
}

}  // namespace downsampler_test
}  // namespace meterd::engine
