// meterd — tests/query/rating_scan_test.cc
//
// ScanRating (query/rating/rating_scan.h) against a row-at-a-time reference: random rollup rows
// of every kind over month-style kPerSeries files, big packed files and small hour parts
// (written with RollupFileWriter), random revisions and open rows, random plans (several
// meters per series, state masks, float gauges, gaps between routes, hourly and daily strides,
// routes outside the data) and random thread splits. Every slot's quantity, hours,
// provisional / revised hours, max revision and first / last hour must match exactly. Plus
// hand cases for the override rule, strides and damage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "query/rating/rating_kernels.h"
#include "query/rating/rating_scan.h"
#include "query/usage.h"
#include "storage/rollup.h"
#include "storage/sample_batch.h"
#include "tests/testing/temp_dir.h"

namespace meterd::query::rating {
namespace rating_scan_test {

using storage::DoubleToBits;
using storage::RollupFileReader;
using storage::RollupFileWriter;
using storage::RollupLayout;
using storage::RollupRow;
using storage::ValueType;
using namespace storage;  // kCol* names

constexpr int64_t kH = 3600;
constexpr int64_t kJan1 = 1767225600;  // 2026-01-01T00:00:00Z (a Thursday; a UTC midnight)

std::string U128(unsigned __int128 v) {
  return std::to_string(static_cast<uint64_t>(v >> 64)) + ":" +
         std::to_string(static_cast<uint64_t>(v));
}

// ---- the reference: one row at a time, independent of the scan ----

struct RefData {
  std::vector<RollupRow> file_rows;
  std::vector<RollupRow> revised, open;
  int64_t sealed_before = 0;
  std::map<uint64_t, SeriesKind> kind;
};

unsigned __int128 RefQuantity(const Meter& m, const RollupRow& r) {
  const auto& c = r.col;
  switch (m.quantity) {
    case Quantity::kStateSeconds: {
      unsigned __int128 q = 0;
      for (size_t s = 0; s < kStateSlots; ++s) {
        if (m.state_mask & (1u << s)) q += c[kColState0 + s];
      }
      return q;
    }
    case Quantity::kGaugeIntegral:
      if (m.type == ValueType::kFloat) {
        // Round half to even by hand (independent of RoundedUnsigned).
        const double x = storage::BitsToDouble(c[kColIntegralLo]);
        if (std::isnan(x) || x <= 0) return 0;
        if (x >= 18446744073709551616.0) return ~uint64_t{0};
        const double f = std::floor(x);
        const double frac = x - f;
        uint64_t v = static_cast<uint64_t>(f);
        if (frac > 0.5 || (frac == 0.5 && (v & 1))) ++v;
        return v;
      }
      return (static_cast<unsigned __int128>(c[kColIntegralHi]) << 64) | c[kColIntegralLo];
    case Quantity::kCounterIncrease:
      return c[kColIncrease];
  }
  return 0;
}

std::vector<SlotTotals> Reference(const RefData& d, const RatingPlan& plan) {
  enum Src { kFile, kRev, kOpen };
  std::map<std::pair<uint64_t, int64_t>, std::pair<const RollupRow*, Src>> serve;
  for (const RollupRow& r : d.file_rows) {
    if (r.hour < d.sealed_before) serve[{r.series_id, r.hour}] = {&r, kFile};
  }
  for (const RollupRow& r : d.revised) serve[{r.series_id, r.hour}] = {&r, kRev};
  for (const RollupRow& r : d.open) serve[{r.series_id, r.hour}] = {&r, kOpen};
  std::vector<SlotTotals> out(plan.slots);
  for (const auto& [key, val] : serve) {
    const auto [id, hour] = key;
    if (hour < plan.from || hour >= plan.to) continue;
    auto first = std::lower_bound(plan.meters.begin(), plan.meters.end(), id,
                                  [](const Meter& m, uint64_t x) { return m.series_id < x; });
    for (auto it = first; it != plan.meters.end() && it->series_id == id; ++it) {
      const Meter& m = *it;
      for (uint32_t i = 0; i < m.route_count; ++i) {
        const Route& r = plan.routes[m.first_route + i];
        if (hour < r.from || hour >= r.to) continue;
        auto floor_div = [](int64_t a, int64_t b) { return a / b - ((a % b) < 0 ? 1 : 0); };
        const uint32_t slot = r.stride == 0
                                  ? r.slot
                                  : r.slot + static_cast<uint32_t>(floor_div(hour, r.stride) -
                                                                   floor_div(r.from, r.stride));
        SlotTotals& t = out[slot];
        const RollupRow& row = *val.first;
        t.quantity += RefQuantity(m, row);
        ++t.hours;
        if (val.second == kOpen) ++t.provisional_hours;
        if (val.second == kRev || row.col[kColRevision] != 0) ++t.revised_hours;
        t.max_revision = std::max(t.max_revision, row.col[kColRevision]);
        t.first_hour = std::min(t.first_hour, hour);
        t.last_hour = std::max(t.last_hour, hour);
      }
    }
  }
  return out;
}

std::string Diff(const std::vector<SlotTotals>& got, const std::vector<SlotTotals>& want) {
  if (got.size() != want.size()) return "slot count differs";
  for (size_t i = 0; i < got.size(); ++i) {
    const SlotTotals &g = got[i], &w = want[i];
    const std::string at = "slot " + std::to_string(i) + ": ";
    if (g.quantity != w.quantity) {
      return at + "quantity " + U128(g.quantity) + " != " + U128(w.quantity);
    }
#define CHECK_FIELD(f) \
  if (g.f != w.f) return at + #f + " " + std::to_string(g.f) + " != " + std::to_string(w.f)
    CHECK_FIELD(hours);
    CHECK_FIELD(provisional_hours);
    CHECK_FIELD(revised_hours);
    CHECK_FIELD(max_revision);
    CHECK_FIELD(first_hour);
    CHECK_FIELD(last_hour);
#undef CHECK_FIELD
  }
  return "";
}

// ---- fixtures ----

std::shared_ptr<const RollupFileReader> WriteFile(const std::string& path, uint64_t file_id,
                                                  RollupLayout layout,
                                                  const std::vector<RollupRow>& rows) {
  auto w = RollupFileWriter::Create(path, file_id, layout);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return nullptr;
  Status st = (*w)->Add(rows.data(), rows.size());
  EXPECT_TRUE(st.ok()) << st.ToString();
  auto info = (*w)->Finish();
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  auto r = RollupFileReader::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::shared_ptr<const RollupFileReader>(std::move(r).value());
}

struct SeriesDef {
  uint64_t id;
  SeriesKind kind;
  ValueType type;
};

RollupRow RandomRow(std::mt19937_64& rng, const SeriesDef& s, int64_t hour, bool steady,
                    const RollupRow& steady_row) {
  if (steady && rng() % 8 != 0) {
    RollupRow r = steady_row;
    r.hour = hour;
    return r;
  }
  RollupRow r;
  r.series_id = s.id;
  r.hour = hour;
  auto& c = r.col;
  c[kColCount] = rng() % 6 != 0 ? 1 + rng() % 3600 : 0;
  switch (s.kind) {
    case SeriesKind::kGauge:
      c[kColHeld] = rng() % 3601;
      if (s.type == ValueType::kFloat) {
        switch (rng() % 8) {
          case 0:
            c[kColIntegralLo] = DoubleToBits(std::nan(""));
            break;
          case 1:
            c[kColIntegralLo] = DoubleToBits(-static_cast<double>(rng() % 1000));
            break;
          case 2:
            c[kColIntegralLo] = DoubleToBits(static_cast<double>(rng() % 1000) + 0.5);
            break;
          case 3:
            c[kColIntegralLo] = DoubleToBits(1e30);
            break;
          default:
            c[kColIntegralLo] = DoubleToBits(static_cast<double>(rng() % 1000000000) / 3.0);
        }
      } else {
        c[kColIntegralLo] = rng() % 3 == 0 ? rng() : rng() % 100000000;
        c[kColIntegralHi] = rng() % 4 == 0 ? rng() % 1000 : 0;
      }
      break;
    case SeriesKind::kCounter:
      c[kColIncrease] = rng() % 3 == 0 ? rng() : rng() % 100000;
      c[kColResets] = rng() % 5 == 0 ? 1 : 0;
      break;
    case SeriesKind::kState:
      c[kColHeld] = rng() % 3601;
      for (size_t i = 0; i < kStateSlots; ++i) {
        c[kColState0 + i] = rng() % 3 == 0 ? rng() % 3601 : (rng() % 50 == 0 ? rng() : 0);
      }
      break;
  }
  if (rng() % 15 == 0) c[kColRevision] = 1 + rng() % 5;
  return r;
}

struct DataSet {
  std::vector<SeriesDef> series;
  RefData ref;
  RollupView view;
};

DataSet MakeDataSet(uint64_t seed, const std::string& dir, int64_t start, size_t hours,
                    size_t nseries) {
  std::mt19937_64 rng(seed);
  DataSet d;
  std::set<uint64_t> ids;
  while (ids.size() < nseries) {
    ids.insert(rng() % 5 == 0 ? UINT64_MAX - rng() % 4 : rng() % 3 == 0 ? rng() % 64 : rng());
  }
  for (uint64_t id : ids) {
    SeriesDef s{id, static_cast<SeriesKind>(1 + rng() % 3), ValueType::kInt};
    if (s.kind == SeriesKind::kGauge && rng() % 3 == 0) s.type = ValueType::kFloat;
    d.series.push_back(s);
    d.ref.kind[id] = s.kind;
  }
  std::vector<RollupRow> all;
  for (const SeriesDef& s : d.series) {
    const unsigned density = static_cast<unsigned>(rng() % 4);
    const bool steady = rng() % 2 == 0;
    const RollupRow steady_row = RandomRow(rng, s, start, false, RollupRow{});
    for (size_t h = 0; h < hours; ++h) {
      if (density < 3 && rng() % 4 > density) continue;
      all.push_back(RandomRow(rng, s, start + static_cast<int64_t>(h) * kH, steady, steady_row));
    }
  }
  auto by_key = [](const RollupRow& a, const RollupRow& b) {
    return a.series_id < b.series_id || (a.series_id == b.series_id && a.hour < b.hour);
  };
  std::sort(all.begin(), all.end(), by_key);
  const int64_t end = start + static_cast<int64_t>(hours) * kH;
  const int64_t c1 = start + static_cast<int64_t>(rng() % (hours / 2 + 1)) * kH;
  const int64_t c2 = c1 + static_cast<int64_t>(rng() % ((end - c1) / kH + 1)) * kH;
  std::vector<std::pair<int64_t, int64_t>> ranges = {{start, c1}, {c1, c2}};
  for (int64_t h = c2; h < end;) {
    const int64_t e = std::min(end, h + static_cast<int64_t>(1 + rng() % 3) * kH);
    ranges.push_back({h, e});
    h = e;
  }
  uint64_t file_id = 1;
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::vector<RollupRow> rows;
    for (const RollupRow& r : all) {
      if (r.hour >= ranges[i].first && r.hour < ranges[i].second) rows.push_back(r);
    }
    if (rows.empty()) continue;
    const RollupLayout layout = i == 0 ? RollupLayout::kPerSeries : RollupLayout::kPacked;
    auto f = WriteFile(dir + "/f" + std::to_string(file_id) + ".mru", file_id, layout, rows);
    ++file_id;
    if (f) d.view.files.files.push_back(f);
  }
  d.ref.file_rows = all;
  const int64_t sealed = end - static_cast<int64_t>(rng() % (hours / 4 + 1)) * kH;
  d.ref.sealed_before = d.view.sealed_before = d.view.files.sealed_before = sealed;
  std::set<std::pair<uint64_t, int64_t>> rev_keys, open_keys;
  const size_t nrev = rng() % 60;
  for (size_t i = 0; i < nrev; ++i) {
    const SeriesDef& s = d.series[rng() % d.series.size()];
    const int64_t h = start + static_cast<int64_t>(rng() % hours) * kH;
    if (!rev_keys.insert({s.id, h}).second) continue;
    RollupRow r = RandomRow(rng, s, h, false, RollupRow{});
    r.col[kColRevision] = 1 + rng() % 4;
    d.ref.revised.push_back(r);
  }
  const size_t nopen = rng() % 80;
  for (size_t i = 0; i < nopen; ++i) {
    const SeriesDef& s = d.series[rng() % d.series.size()];
    const int64_t h = sealed + static_cast<int64_t>(rng() % 4) * kH - (rng() % 8 == 0 ? kH : 0);
    if (!open_keys.insert({s.id, h}).second) continue;
    RollupRow r = RandomRow(rng, s, h, false, RollupRow{});
    r.col[kColRevision] = 0;
    d.ref.open.push_back(r);
  }
  std::sort(d.ref.revised.begin(), d.ref.revised.end(), by_key);
  std::sort(d.ref.open.begin(), d.ref.open.end(), by_key);
  d.view.revised = d.ref.revised;
  d.view.open = d.ref.open;
  return d;
}

// A random plan over some of the data set's series (and some it lacks).
RatingPlan RandomPlan(std::mt19937_64& rng, const DataSet& d, int64_t start, size_t hours) {
  RatingPlan plan;
  const int64_t end = start + static_cast<int64_t>(hours) * kH;
  // Scan range: usually everything, sometimes a cut (aligned to days so strides fit).
  plan.from = start;
  plan.to = end + 2 * 86400;
  if (rng() % 3 == 0) {
    plan.from = start + static_cast<int64_t>(rng() % (hours / 2)) * kH;
    plan.to = plan.from + static_cast<int64_t>(1 + rng() % hours) * kH;
  }
  std::vector<SeriesDef> chosen;
  for (const SeriesDef& s : d.series) {
    if (rng() % 4 != 0) chosen.push_back(s);
  }
  if (rng() % 2) chosen.push_back(SeriesDef{rng(), SeriesKind::kCounter, ValueType::kInt});
  std::sort(chosen.begin(), chosen.end(),
            [](const SeriesDef& a, const SeriesDef& b) { return a.id < b.id; });
  uint32_t slots = 0;
  for (const SeriesDef& s : chosen) {
    const size_t meters = s.kind == SeriesKind::kState ? 1 + rng() % 3 : 1 + rng() % 4 / 3;
    for (size_t k = 0; k < meters; ++k) {
      Meter m;
      m.series_id = s.id;
      m.type = s.type;
      m.quantity = s.kind == SeriesKind::kState   ? Quantity::kStateSeconds
                   : s.kind == SeriesKind::kGauge ? Quantity::kGaugeIntegral
                                                  : Quantity::kCounterIncrease;
      m.state_mask = static_cast<uint8_t>(rng());
      m.first_route = static_cast<uint32_t>(plan.routes.size());
      // Routes: cut [start - 1 day, end + 1 day) at random hours, keep some pieces.
      int64_t t = start - 86400 + static_cast<int64_t>(rng() % 48) * kH;
      const int64_t stop = end + 86400;
      while (t < stop) {
        const unsigned shape = static_cast<unsigned>(rng() % 8);
        Route r;
        if (shape == 0) {  // daily stride, starting and ending anywhere in a day
          r.from = t;
          r.to = t + static_cast<int64_t>(1 + rng() % 120) * kH;
          r.stride = 86400;
        } else if (shape == 1) {  // hourly stride
          r.from = t;
          r.to = t + static_cast<int64_t>(1 + rng() % 60) * kH;
          r.stride = 3600;
        } else {
          r.from = t;
          r.to = t + static_cast<int64_t>(1 + rng() % (shape == 2 ? 3 : 300)) * kH;
        }
        t = r.to + (rng() % 3 == 0 ? static_cast<int64_t>(rng() % 30) * kH : 0);
        if (rng() % 5 == 0) continue;  // a gap
        r.slot = slots;
        slots += RouteSlots(r);
        plan.routes.push_back(r);
      }
      // Sometimes two meters share slots (a route into a slot already used).
      if (m.first_route < plan.routes.size() && slots > 0 && rng() % 6 == 0 &&
          plan.routes[m.first_route].stride == 0) {
        plan.routes[m.first_route].slot = static_cast<uint32_t>(rng() % slots);
      }
      m.route_count = static_cast<uint32_t>(plan.routes.size()) - m.first_route;
      plan.meters.push_back(m);
    }
  }
  plan.slots = slots;
  return plan;
}

std::vector<SlotTotals> Scan(const RollupView& view, const RatingPlan& plan, size_t parts,
                             RatingScanStats* stats = nullptr) {
  std::vector<SlotTotals> totals(plan.slots);
  const std::vector<size_t> cuts = SplitMeters(plan, parts);
  EXPECT_EQ(cuts.size(), parts + 1);
  for (size_t p = 0; p < parts; ++p) {
    std::vector<SlotTotals> part(plan.slots);
    Status st = ScanRating(view, plan, cuts[p], cuts[p + 1], part.data(), stats);
    EXPECT_TRUE(st.ok()) << st.ToString();
    for (size_t i = 0; i < plan.slots; ++i) totals[i].Merge(part[i]);
  }
  return totals;
}

TEST(RatingScanTest, MatchesReferenceOnRandomData) {
  testing::TempDir dir;
  size_t filled = 0, overlay = 0, strided = 0;  // the test must exercise what it claims
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed * 7919);
    const int64_t start = kJan1 - static_cast<int64_t>(seed % 3) * 86400 * 400;  // pre-1970 too
    const size_t hours = 24 + rng() % 200;
    const std::string sub = dir.path() + "/s" + std::to_string(seed);
    ASSERT_TRUE(storage::CreateDirIfMissing(sub).ok());
    DataSet d = MakeDataSet(seed, sub, start, hours, 1 + rng() % 40);
    for (int round = 0; round < 8; ++round) {
      RatingPlan plan = RandomPlan(rng, d, start, hours);
      ASSERT_TRUE(ValidatePlan(plan).ok()) << ValidatePlan(plan).ToString();
      const std::vector<SlotTotals> want = Reference(d.ref, plan);
      for (const SlotTotals& t : want) {
        filled += t.quantity != 0;
        overlay += t.provisional_hours + t.revised_hours;
      }
      for (const Route& r : plan.routes) strided += r.stride != 0;
      for (size_t parts : {size_t{1}, size_t{2}, size_t{3}}) {
        const std::string diff = Diff(Scan(d.view, plan, parts), want);
        ASSERT_EQ(diff, "") << "seed " << seed << " round " << round << " parts " << parts;
      }
    }
  }
  EXPECT_GT(filled, 2000u);
  EXPECT_GT(overlay, 200u);
  EXPECT_GT(strided, 200u);
}

// ScanRating and ScanUsage are two implementations of the same row-serving rule: on the same
// data their sums agree (state seconds, integer integrals, increases, hours).
TEST(RatingScanTest, AgreesWithUsageScan) {
  testing::TempDir dir;
  for (uint64_t seed = 100; seed < 110; ++seed) {
    std::mt19937_64 rng(seed);
    const int64_t start = kJan1;
    const size_t hours = 48 + rng() % 100;
    const std::string sub = dir.path() + "/u" + std::to_string(seed);
    ASSERT_TRUE(storage::CreateDirIfMissing(sub).ok());
    DataSet d = MakeDataSet(seed, sub, start, hours, 5 + rng() % 30);
    RatingPlan plan;
    plan.from = start;
    plan.to = start + static_cast<int64_t>(hours) * kH;
    UsageRequest req;
    req.from = plan.from;
    req.to = plan.to;
    req.granularity = Granularity::kMonth;
    for (const SeriesDef& s : d.series) {
      if (s.type == ValueType::kFloat) continue;  // usage sums float integrals as doubles
      req.series.push_back(UsageSeries{s.id, s.kind, s.type});
      Meter m{s.id,
              s.kind == SeriesKind::kState   ? Quantity::kStateSeconds
              : s.kind == SeriesKind::kGauge ? Quantity::kGaugeIntegral
                                             : Quantity::kCounterIncrease,
              0xFF,
              s.type,
              static_cast<uint32_t>(plan.routes.size()),
              1};
      plan.routes.push_back(Route{plan.from, plan.to, plan.slots++, 0});
      plan.meters.push_back(m);
    }
    std::vector<UsageBucket> buckets;
    ASSERT_TRUE(ScanUsage(d.view, req, &buckets).ok());
    const auto totals = Scan(d.view, plan, 2);
    // (Usage sums state seconds in uint64, wrapping; rating in 128 bits: the random data
    // holds absurd state values, so state series compare mod 2^64.)
    std::map<uint64_t, std::pair<unsigned __int128, uint32_t>> usage;
    for (const UsageBucket& b : buckets) {
      unsigned __int128 q = b.increase + b.int_integral;
      for (uint64_t x : b.state_seconds) q += x;
      usage[b.series_id].first += q;
      usage[b.series_id].second += b.hours;
    }
    for (size_t i = 0; i < plan.meters.size(); ++i) {
      const auto& u = usage[plan.meters[i].series_id];
      unsigned __int128 got = totals[i].quantity, want = u.first;
      if (plan.meters[i].quantity == Quantity::kStateSeconds) {
        got = static_cast<uint64_t>(got);
        want = static_cast<uint64_t>(want);
      }
      EXPECT_EQ(U128(got), U128(want)) << "seed " << seed;
      EXPECT_EQ(totals[i].hours, u.second) << "seed " << seed;
    }
  }
}

RollupRow CounterRow(uint64_t id, int64_t hour, uint64_t increase) {
  RollupRow r;
  r.series_id = id;
  r.hour = hour;
  r.col[kColCount] = 3600;
  r.col[kColIncrease] = increase;
  return r;
}

TEST(RatingScanTest, OverridesAndStrides) {
  testing::TempDir dir;
  // Series 5: a counter with 48 hours of increase 10 (constant column) in a month file.
  std::vector<RollupRow> rows;
  for (int64_t h = 0; h < 48; ++h) rows.push_back(CounterRow(5, kJan1 + h * kH, 10));
  RollupView view;
  view.files.files.push_back(WriteFile(dir.path() + "/m.mru", 1, RollupLayout::kPerSeries, rows));
  view.sealed_before = kJan1 + 47 * kH;  // hour 47 is not sealed: its file row is not served
  view.revised.push_back(CounterRow(5, kJan1 + 3 * kH, 1000));  // revision of hour 3
  view.revised.back().col[kColRevision] = 2;
  view.revised.push_back(CounterRow(5, kJan1 + 30 * kH, 7));  // also open: the open row wins
  view.open.push_back(CounterRow(5, kJan1 + 30 * kH, 100000));
  view.open.push_back(CounterRow(5, kJan1 + 47 * kH, 5));

  RatingPlan plan;
  plan.from = kJan1;
  plan.to = kJan1 + 2 * 86400;
  plan.routes = {{kJan1, kJan1 + 86400, 0, 3600},             // day 1 hourly: slots 0..23
                 {kJan1 + 86400, kJan1 + 2 * 86400, 24, 0}};  // day 2: slot 24
  EXPECT_EQ(RouteSlots(plan.routes[0]), 24u);
  EXPECT_EQ(RouteSlots(Route{kJan1 + 20 * kH, kJan1 + 30 * kH, 0, 86400}), 2u);
  EXPECT_EQ(RouteSlot(Route{kJan1 + 20 * kH, kJan1 + 30 * kH, 5, 86400}, kJan1 + 24 * kH), 6u);
  plan.meters = {Meter{5, Quantity::kCounterIncrease, 0, ValueType::kInt, 0, 2}};
  plan.slots = 25;
  ASSERT_TRUE(ValidatePlan(plan).ok());
  const auto t = Scan(view, plan, 1);
  EXPECT_EQ(t[0].quantity, 10u);
  EXPECT_EQ(t[3].quantity, 1000u);
  EXPECT_EQ(t[3].revised_hours, 1u);
  EXPECT_EQ(t[3].max_revision, 2u);
  EXPECT_EQ(t[23].hours, 1u);
  // Day 2: hours 24..46 from the file (23 x 10), hour 30 open (100000), hour 47 open (5).
  EXPECT_EQ(t[24].quantity, 22u * 10 + 100000 + 5);
  EXPECT_EQ(t[24].hours, 24u);
  EXPECT_EQ(t[24].provisional_hours, 2u);
  EXPECT_EQ(t[24].revised_hours, 0u);
  EXPECT_EQ(t[24].first_hour, kJan1 + 24 * kH);
  EXPECT_EQ(t[24].last_hour, kJan1 + 47 * kH);
}

TEST(RatingScanTest, StateMasksAndFloatRounding) {
  testing::TempDir dir;
  RollupRow s;
  s.series_id = 9;
  s.hour = kJan1;
  s.col[kColState0 + 1] = 3000;  // running
  s.col[kColState0 + 2] = 500;   // stopped
  s.col[kColState0 + 3] = 100;   // allocated
  RollupRow g;
  g.series_id = 11;
  g.hour = kJan1;
  g.col[kColIntegralLo] = DoubleToBits(2.5);  // rounds to 2 (half-even)
  RollupRow g2 = g;
  g2.hour = kJan1 + kH;
  g2.col[kColIntegralLo] = DoubleToBits(3.5);  // rounds to 4
  RollupView view;
  view.files.files.push_back(
      WriteFile(dir.path() + "/p.mrp", 1, RollupLayout::kPacked, {s, g, g2}));
  view.sealed_before = kJan1 + 2 * kH;
  RatingPlan plan;
  plan.from = kJan1;
  plan.to = kJan1 + 2 * kH;
  plan.routes = {
      {kJan1, kJan1 + 2 * kH, 0, 0}, {kJan1, kJan1 + 2 * kH, 1, 0}, {kJan1, kJan1 + 2 * kH, 2, 0}};
  plan.meters = {Meter{9, Quantity::kStateSeconds, 1 << 1, ValueType::kInt, 0, 1},
                 Meter{9, Quantity::kStateSeconds, (1 << 2) | (1 << 3), ValueType::kInt, 1, 1},
                 Meter{11, Quantity::kGaugeIntegral, 0, ValueType::kFloat, 2, 1}};
  plan.slots = 3;
  const auto t = Scan(view, plan, 2);
  EXPECT_EQ(t[0].quantity, 3000u);
  EXPECT_EQ(t[1].quantity, 600u);
  EXPECT_EQ(t[2].quantity, 6u);
  EXPECT_EQ(t[2].hours, 2u);
  EXPECT_EQ(RoundedUnsigned(DoubleToBits(0.5)), 0u);
  EXPECT_EQ(RoundedUnsigned(DoubleToBits(1.5)), 2u);
  EXPECT_EQ(RoundedUnsigned(DoubleToBits(-7.0)), 0u);
  EXPECT_EQ(RoundedUnsigned(DoubleToBits(1e300)), ~uint64_t{0});
}

TEST(RatingScanTest, DamagedBlockIsReportedAndSkipped) {
  testing::TempDir dir;
  std::vector<RollupRow> rows;
  for (int64_t h = 0; h < 10; ++h) rows.push_back(CounterRow(1, kJan1 + h * kH, 3 + h));
  for (int64_t h = 0; h < 10; ++h) rows.push_back(CounterRow(2, kJan1 + h * kH, 1));
  const std::string path = dir.path() + "/m.mru";
  ASSERT_NE(WriteFile(path, 1, RollupLayout::kPerSeries, rows), nullptr);
  {  // Flip a byte inside the first block (series 1).
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(20);
    char c;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(20);
    f.write(&c, 1);
  }
  auto reader = RollupFileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  RollupView view;
  view.files.files.push_back(std::shared_ptr<const RollupFileReader>(std::move(reader).value()));
  view.sealed_before = kJan1 + 10 * kH;
  RatingPlan plan;
  plan.from = kJan1;
  plan.to = kJan1 + 10 * kH;
  plan.routes = {{kJan1, kJan1 + 10 * kH, 0, 0}, {kJan1, kJan1 + 10 * kH, 1, 0}};
  plan.meters = {Meter{1, Quantity::kCounterIncrease, 0, ValueType::kInt, 0, 1},
                 Meter{2, Quantity::kCounterIncrease, 0, ValueType::kInt, 1, 1}};
  plan.slots = 2;
  RatingScanStats stats;
  const auto t = Scan(view, plan, 1, &stats);
  ASSERT_EQ(stats.damaged.size(), 1u);
  EXPECT_EQ(t[0].hours, 0u);
  EXPECT_EQ(t[1].quantity, 10u);
}

TEST(RatingScanTest, ValidatePlanRefusesBadPlans) {
  RatingPlan plan;
  plan.from = kJan1;
  plan.to = kJan1 + kH;
  plan.slots = 1;
  plan.routes = {{kJan1, kJan1 + kH, 1, 0}};  // slot out of range
  plan.meters = {Meter{1, Quantity::kCounterIncrease, 0, ValueType::kInt, 0, 1}};
  EXPECT_FALSE(ValidatePlan(plan).ok());
  plan.routes[0].slot = 0;
  EXPECT_TRUE(ValidatePlan(plan).ok());
  plan.routes[0].to = kJan1 + 1;  // not an hour
  EXPECT_FALSE(ValidatePlan(plan).ok());
  plan.routes = {{kJan1, kJan1 + kH, 0, 0}, {kJan1, kJan1 + kH, 0, 0}};  // overlapping
  plan.meters[0].route_count = 2;
  EXPECT_FALSE(ValidatePlan(plan).ok());
}

}  // namespace rating_scan_test
}  // namespace meterd::query::rating
