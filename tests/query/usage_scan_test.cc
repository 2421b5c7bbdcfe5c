// meterd — tests/query/usage_scan_test.cc
//
// ScanUsage against a row-at-a-time reference: random rollup rows over several files (month
// files of kPerSeries blocks and packed hour parts, written with RollupFileWriter), random
// revisions and open buckets, random series subsets, [from, to) ranges and granularities; every
// integer field must match exactly, float sums within a tight relative tolerance (the kernels
// add in another order). Plus hand cases for period boundaries, overrides and damage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "query/usage.h"
#include "storage/rollup.h"
#include "storage/sample_batch.h"
#include "tests/testing/temp_dir.h"

namespace meterd::query {
namespace usage_scan_test {

using storage::BitsToDouble;
using storage::DoubleToBits;
using storage::RollupFileReader;
using storage::RollupFileWriter;
using storage::RollupLayout;
using storage::RollupRow;
using storage::ValueType;
using namespace storage;  // kCol* names

constexpr int64_t kH = 3600;
constexpr int64_t kJan1 = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kFeb1 = kJan1 + 31 * 86400;

// ---- the reference: independent of query/scan ----

// Period start via the C library (UTC), independent of the scan's civil arithmetic.
int64_t RefPeriodStart(Granularity g, int64_t ts) {
  auto floor_div = [](int64_t a, int64_t b) { return a / b - ((a % b) < 0 ? 1 : 0); };
  if (g == Granularity::kHour) return floor_div(ts, kH) * kH;
  if (g == Granularity::kDay) return floor_div(ts, 86400) * 86400;
  const time_t t = static_cast<time_t>(ts);
  struct tm tm;
  gmtime_r(&t, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return static_cast<int64_t>(timegm(&tm));
}

uint64_t TotalOrderKey(ValueType t, uint64_t v) {
  if (t != ValueType::kFloat) return v;
  return (v >> 63) ? ~v : v | (uint64_t{1} << 63);
}

struct RefView {
  std::vector<RollupRow> file_rows;  // every row written to a file (no damage in property tests)
  std::vector<RollupRow> revised, open;
  int64_t sealed_before = 0;
};

struct RefBucket {
  UsageBucket b;
  bool any_samples = false;
};

std::vector<UsageBucket> Reference(const RefView& v, const UsageRequest& req) {
  enum Src { kFile, kRev, kOpen };
  // (series, hour) -> the serving row: open > revision > sealed file row.
  std::map<std::pair<uint64_t, int64_t>, std::pair<const RollupRow*, Src>> serve;
  for (const RollupRow& r : v.file_rows) {
    if (r.hour < v.sealed_before) serve[{r.series_id, r.hour}] = {&r, kFile};
  }
  for (const RollupRow& r : v.revised) serve[{r.series_id, r.hour}] = {&r, kRev};
  for (const RollupRow& r : v.open) serve[{r.series_id, r.hour}] = {&r, kOpen};
  std::map<uint64_t, UsageSeries> want;
  for (const UsageSeries& s : req.series) want[s.id] = s;
  std::map<std::pair<uint64_t, int64_t>, RefBucket> buckets;
  for (const auto& [key, val] : serve) {  // ascending (series, hour)
    auto it = want.find(key.first);
    if (it == want.end() || key.second < req.from || key.second >= req.to) continue;
    const UsageSeries& s = it->second;
    const RollupRow& r = *val.first;
    const auto& c = r.col;
    const int64_t start = RefPeriodStart(req.granularity, r.hour);
    RefBucket& rb = buckets[{s.id, start}];
    UsageBucket& b = rb.b;
    b.series_id = s.id;
    b.start = start;
    ++b.hours;
    if (val.second == kOpen) ++b.provisional_hours;
    if (val.second == kRev || c[kColRevision] != 0) ++b.revised_hours;
    if (c[kColFlags] & kRowImported) ++b.imported_hours;
    b.max_revision = std::max(b.max_revision, c[kColRevision]);
    b.last_revised_at = std::max(b.last_revised_at, static_cast<int64_t>(c[kColRevisedAt]));
    b.count += c[kColCount];
    if (s.kind != SeriesKind::kState && c[kColCount] != 0) {
      if (!rb.any_samples) {
        b.min = c[kColMin];
        b.max = c[kColMax];
      } else {
        if (TotalOrderKey(s.type, c[kColMin]) < TotalOrderKey(s.type, b.min)) b.min = c[kColMin];
        if (TotalOrderKey(s.type, c[kColMax]) > TotalOrderKey(s.type, b.max)) b.max = c[kColMax];
      }
      b.last = c[kColLast];
      rb.any_samples = true;
    }
    switch (s.kind) {
      case SeriesKind::kGauge:
        b.held_seconds += c[kColHeld];
        b.sum += BitsToDouble(c[kColSum]);
        if (s.type == ValueType::kFloat) {
          b.float_integral += BitsToDouble(c[kColIntegralLo]);
        } else {
          b.int_integral +=
              (static_cast<unsigned __int128>(c[kColIntegralHi]) << 64) | c[kColIntegralLo];
        }
        break;
      case SeriesKind::kCounter:
        b.increase += c[kColIncrease];
        b.resets += c[kColResets];
        break;
      case SeriesKind::kState:
        b.held_seconds += c[kColHeld];
        for (size_t i = 0; i < kStateSlots; ++i) b.state_seconds[i] += c[kColState0 + i];
        break;
    }
  }
  std::vector<UsageBucket> out;
  for (auto& [key, rb] : buckets) out.push_back(rb.b);
  return out;
}

std::string U128(unsigned __int128 v) {
  return std::to_string(static_cast<uint64_t>(v >> 64)) + ":" +
         std::to_string(static_cast<uint64_t>(v));
}

bool Close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

// Field-for-field comparison; returns a description of the first difference, or "".
std::string Diff(const std::vector<UsageBucket>& got, const std::vector<UsageBucket>& want) {
  if (got.size() != want.size()) {
    return "bucket count " + std::to_string(got.size()) + " != " + std::to_string(want.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const UsageBucket &g = got[i], &w = want[i];
    const std::string at = "bucket " + std::to_string(i) + " (series " +
                           std::to_string(w.series_id) + ", start " + std::to_string(w.start) +
                           "): ";
#define CHECK_FIELD(f) \
  if (g.f != w.f) return at + #f + " " + std::to_string(g.f) + " != " + std::to_string(w.f)
    CHECK_FIELD(series_id);
    CHECK_FIELD(start);
    CHECK_FIELD(hours);
    CHECK_FIELD(provisional_hours);
    CHECK_FIELD(revised_hours);
    CHECK_FIELD(imported_hours);
    CHECK_FIELD(max_revision);
    CHECK_FIELD(last_revised_at);
    CHECK_FIELD(count);
    CHECK_FIELD(held_seconds);
    CHECK_FIELD(min);
    CHECK_FIELD(max);
    CHECK_FIELD(last);
    CHECK_FIELD(resets);
#undef CHECK_FIELD
    if (g.int_integral != w.int_integral) {
      return at + "int_integral " + U128(g.int_integral) + " != " + U128(w.int_integral);
    }
    if (g.increase != w.increase) {
      return at + "increase " + U128(g.increase) + " != " + U128(w.increase);
    }
    if (g.state_seconds != w.state_seconds) return at + "state_seconds differ";
    if (!Close(g.sum, w.sum)) {
      return at + "sum " + std::to_string(g.sum) + " != " + std::to_string(w.sum);
    }
    if (!Close(g.float_integral, w.float_integral)) {
      return at + "float_integral " + std::to_string(g.float_integral) +
             " != " + std::to_string(w.float_integral);
    }
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

RollupRow Row(uint64_t series, int64_t hour, uint64_t count) {
  RollupRow r;
  r.series_id = series;
  r.hour = hour;
  r.col[kColCount] = count;
  return r;
}

RollupRow GaugeRow(uint64_t series, int64_t hour, uint64_t value, uint64_t count = 3600) {
  RollupRow r = Row(series, hour, count);
  r.col[kColHeld] = 3600;
  r.col[kColSum] = DoubleToBits(static_cast<double>(value) * static_cast<double>(count));
  r.col[kColMin] = r.col[kColMax] = r.col[kColLast] = value;
  r.col[kColIntegralLo] = value * 3600;
  return r;
}

// A random data set: series of every kind and type, rows over [start, start + hours*3600),
// spread over month files (kPerSeries) and packed parts.
struct DataSet {
  std::vector<UsageSeries> series;  // sorted by id
  RefView ref;
  RollupView view;
};

uint64_t RandomValue(std::mt19937_64& rng, const UsageSeries& s) {
  if (s.type == ValueType::kInt) {
    switch (rng() % 4) {
      case 0:
        return rng();  // full range
      case 1:
        return rng() % 10;
      default:
        return rng() % 1000000;
    }
  }
  switch (rng() % 10) {
    case 0:
      return DoubleToBits(-0.0);
    case 1:
      return DoubleToBits(0.0);
    case 2:
      return DoubleToBits(std::nan(""));
    case 3:
      return DoubleToBits(-std::numeric_limits<double>::infinity());
    default:
      return DoubleToBits(static_cast<double>(static_cast<int64_t>(rng() % 2000001) - 1000000) /
                          (1 << (rng() % 8)));
  }
}

// kRandomCount: each row draws its own sample count; kMostlyFullCount: 3600, but one row in 20
// has none or draws one, so the count column is encoded unlike the value columns.
constexpr uint64_t kRandomCount = UINT64_MAX;
constexpr uint64_t kMostlyFullCount = UINT64_MAX - 1;

RollupRow RandomRow(std::mt19937_64& rng, const UsageSeries& s, int64_t hour, bool steady,
                    const RollupRow& steady_row, uint64_t count = kRandomCount) {
  if (steady && rng() % 8 != 0) {
    RollupRow r = steady_row;
    r.hour = hour;
    return r;
  }
  RollupRow r;
  r.series_id = s.id;
  r.hour = hour;
  auto& c = r.col;
  if (count == kMostlyFullCount) count = rng() % 20 != 0 ? 3600 : rng() % 2 ? 0 : rng() % 3600;
  const bool samples = count == kRandomCount ? rng() % 6 != 0 : count != 0;
  c[kColCount] = count != kRandomCount ? count : samples ? 1 + rng() % 3600 : 0;
  c[kColFirstOffset] = rng() % 3600;
  c[kColLastOffset] = rng() % 3600;
  if (samples) {
    c[kColMin] = RandomValue(rng, s);
    c[kColMax] = RandomValue(rng, s);
    c[kColLast] = RandomValue(rng, s);
  }
  switch (s.kind) {
    case SeriesKind::kGauge:
      c[kColHeld] = rng() % 3601;
      // Positive sums keep the reordered double additions within the tolerance.
      c[kColSum] = DoubleToBits(static_cast<double>(rng() % 100000000) / 7.0);
      if (s.type == ValueType::kFloat) {
        c[kColIntegralLo] = DoubleToBits(static_cast<double>(rng() % 1000000000) / 3.0);
      } else {
        c[kColIntegralLo] = rng();
        c[kColIntegralHi] = rng() % 4 == 0 ? rng() % 1000 : 0;
      }
      break;
    case SeriesKind::kCounter:
      c[kColIncrease] = rng() % 3 == 0 ? rng() : rng() % 100000;
      c[kColResets] = rng() % 5 == 0 ? 1 + rng() % 3 : 0;
      break;
    case SeriesKind::kState: {
      c[kColHeld] = rng() % 3601;
      for (size_t i = 0; i < kStateSlots; ++i)
        c[kColState0 + i] = rng() % 3 == 0 ? rng() % 3601 : 0;
      break;
    }
  }
  if (rng() % 10 == 0) c[kColFlags] = kRowImported | (rng() % 2 ? 4 : 0);
  if (rng() % 15 == 0) {  // a month merge may carry a revision number
    c[kColRevision] = 1 + rng() % 5;
    c[kColRevisedAt] = static_cast<uint64_t>(hour + 7200 + static_cast<int64_t>(rng() % 1000));
  }
  return r;
}

// whole_blocks: every series has a row in every hour, most with one sample count for all their
// rows, and [start, start + hours) is one sealed month-style kPerSeries file: the blocks a
// month-granularity scan aggregates whole (with their varying columns decoded in any order).
DataSet MakeDataSet(uint64_t seed, const std::string& dir, int64_t start, size_t hours,
                    size_t nseries, bool whole_blocks = false) {
  std::mt19937_64 rng(seed);
  DataSet d;
  std::set<uint64_t> ids;
  while (ids.size() < nseries) {
    const uint64_t id = rng() % 5 == 0   ? UINT64_MAX - rng() % 4
                        : rng() % 3 == 0 ? rng() % 64
                                         : rng();
    ids.insert(id);
  }
  for (uint64_t id : ids) {
    UsageSeries s;
    s.id = id;
    s.kind = static_cast<SeriesKind>(1 + rng() % 3);
    s.type = (s.kind == SeriesKind::kGauge && rng() % 2) ? ValueType::kFloat : ValueType::kInt;
    d.series.push_back(s);
  }
  // Rows: per series a random density; some series steady (constant columns).
  std::vector<RollupRow> all;
  for (const UsageSeries& s : d.series) {
    const unsigned density =
        whole_blocks ? 3 : static_cast<unsigned>(rng() % 4);  // 0: sparse .. 3: every hour
    const bool steady = !whole_blocks && rng() % 2 == 0;
    // whole_blocks: most series one count for the month (some none at all), a quarter one
    // that changes in a few rows (rows without samples among them).
    const uint64_t count = !whole_blocks    ? kRandomCount
                           : rng() % 4 == 0 ? kMostlyFullCount
                           : rng() % 6 == 0 ? 0
                                            : (rng() % 2 ? 3600 : 1 + rng() % 3600);
    const RollupRow steady_row = RandomRow(rng, s, start, false, RollupRow{});
    for (size_t h = 0; h < hours; ++h) {
      if (density < 3 && rng() % 4 > density) continue;
      all.push_back(
          RandomRow(rng, s, start + static_cast<int64_t>(h) * kH, steady, steady_row, count));
      if (whole_blocks && s.type == ValueType::kInt) {
        // Values of 40 bits: deltas the vector unpackers take (wider ones stay scalar, in row
        // order), so the permuted decode is what the comparison meets; with samples, min, max
        // and last at least 2^39, so a row without samples (all 0) taken for one shows.
        auto& c = all.back().col;
        const uint64_t floor = c[kColCount] != 0 ? uint64_t{1} << 39 : 0;
        for (RollupColumn k : {kColMin, kColMax, kColLast}) {
          c[k] = c[k] == 0 && floor == 0 ? 0 : floor | (c[k] & ((uint64_t{1} << 39) - 1));
        }
        c[kColIncrease] &= (uint64_t{1} << 40) - 1;
        c[kColIntegralLo] &= (uint64_t{1} << 40) - 1;
      }
    }
  }
  std::sort(all.begin(), all.end(), [](const RollupRow& a, const RollupRow& b) {
    return a.series_id < b.series_id || (a.series_id == b.series_id && a.hour < b.hour);
  });
  // Files: hours split at two random cuts: [start, c1) one month-style kPerSeries file,
  // [c1, c2) a big packed file (multiple blocks, series crossing block boundaries), and
  // [c2, end) one packed part per 1-3 hours.
  const int64_t end = start + static_cast<int64_t>(hours) * kH;
  const int64_t c1 =
      whole_blocks ? end : start + static_cast<int64_t>(rng() % (hours / 2 + 1)) * kH;
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
  // Watermark somewhere in the last quarter; file rows at or after it are not served.
  const int64_t sealed =
      whole_blocks ? end : end - static_cast<int64_t>(rng() % (hours / 4 + 1)) * kH;
  d.ref.sealed_before = d.view.sealed_before = d.view.files.sealed_before = sealed;
  // Revisions: some of existing file rows, some of hours with no file row; a few at or after
  // the watermark (served unless an open row has the hour).
  std::set<std::pair<uint64_t, int64_t>> rev_keys, open_keys;
  const size_t nrev = rng() % 60;
  for (size_t i = 0; i < nrev; ++i) {
    const UsageSeries& s = d.series[rng() % d.series.size()];
    const int64_t h = start + static_cast<int64_t>(rng() % hours) * kH;
    if (!rev_keys.insert({s.id, h}).second) continue;
    RollupRow r = RandomRow(rng, s, h, false, RollupRow{});
    r.col[kColRevision] = 1 + rng() % 4;
    r.col[kColRevisedAt] = static_cast<uint64_t>(sealed + static_cast<int64_t>(rng() % 100000));
    d.ref.revised.push_back(r);
  }
  const size_t nopen = rng() % 80;
  for (size_t i = 0; i < nopen; ++i) {
    const UsageSeries& s = d.series[rng() % d.series.size()];
    const int64_t h = sealed + static_cast<int64_t>(rng() % 4) * kH - (rng() % 8 == 0 ? kH : 0);
    if (!open_keys.insert({s.id, h}).second) continue;
    RollupRow r = RandomRow(rng, s, h, false, RollupRow{});
    r.col[kColRevision] = 0;
    r.col[kColRevisedAt] = 0;
    d.ref.open.push_back(r);
  }
  auto by_key = [](const RollupRow& a, const RollupRow& b) {
    return a.series_id < b.series_id || (a.series_id == b.series_id && a.hour < b.hour);
  };
  std::sort(d.ref.revised.begin(), d.ref.revised.end(), by_key);
  std::sort(d.ref.open.begin(), d.ref.open.end(), by_key);
  d.view.revised = d.ref.revised;
  d.view.open = d.ref.open;
  return d;
}

UsageRequest RandomRequest(std::mt19937_64& rng, const DataSet& d, int64_t start, size_t hours) {
  UsageRequest req;
  const unsigned mode = static_cast<unsigned>(rng() % 4);
  std::set<uint64_t> ids;
  for (const UsageSeries& s : d.series) {
    if (mode == 0 || rng() % (mode + 1) == 0) req.series.push_back(s);
  }
  // Sometimes ids the data does not have.
  if (rng() % 3 == 0) {
    UsageSeries extra;
    extra.id = rng();
    extra.kind = SeriesKind::kCounter;
    auto it = std::lower_bound(req.series.begin(), req.series.end(), extra.id,
                               [](const UsageSeries& s, uint64_t id) { return s.id < id; });
    if (it == req.series.end() || it->id != extra.id) req.series.insert(it, extra);
  }
  const int64_t span = static_cast<int64_t>(hours) * kH;
  if (rng() % 4 == 0) {
    req.from = start - kH;
    req.to = start + span + kH;
  } else {
    req.from = start - kH + static_cast<int64_t>(rng() % static_cast<uint64_t>(span + kH));
    req.to = req.from + static_cast<int64_t>(rng() % static_cast<uint64_t>(span + kH));
  }
  req.granularity = static_cast<Granularity>(1 + rng() % 3);
  return req;
}

// ---- PeriodStart ----

TEST(PeriodStartTest, Boundaries) {
  const int64_t jan31_23 = kFeb1 - kH;
  EXPECT_EQ(PeriodStart(Granularity::kMonth, jan31_23), kJan1);
  EXPECT_EQ(PeriodStart(Granularity::kMonth, kFeb1), kFeb1);
  EXPECT_EQ(PeriodStart(Granularity::kMonth, kFeb1 - 1), kJan1);
  EXPECT_EQ(PeriodStart(Granularity::kDay, jan31_23 + 3599), kFeb1 - 86400);
  EXPECT_EQ(PeriodStart(Granularity::kDay, kFeb1), kFeb1);
  EXPECT_EQ(PeriodStart(Granularity::kHour, kFeb1 + 3599), kFeb1);
  // Leap day 2024-02-29 and the 1st of March.
  const int64_t mar1_2024 = 1709251200;
  EXPECT_EQ(PeriodStart(Granularity::kMonth, mar1_2024 - 1), 1706745600);  // 2024-02-01
  EXPECT_EQ(PeriodStart(Granularity::kMonth, mar1_2024), mar1_2024);
}

TEST(PeriodStartTest, NegativeTimestamps) {
  EXPECT_EQ(PeriodStart(Granularity::kHour, -1), -3600);
  EXPECT_EQ(PeriodStart(Granularity::kHour, -3600), -3600);
  EXPECT_EQ(PeriodStart(Granularity::kHour, -3601), -7200);
  EXPECT_EQ(PeriodStart(Granularity::kDay, -1), -86400);
  EXPECT_EQ(PeriodStart(Granularity::kDay, -86400), -86400);
  EXPECT_EQ(PeriodStart(Granularity::kMonth, -1), -31 * 86400);  // 1969-12-01
  EXPECT_EQ(PeriodStart(Granularity::kMonth, 0), 0);             // 1970-01-01
  EXPECT_EQ(PeriodStart(Granularity::kMonth, -31 * 86400), -31 * 86400);
  EXPECT_EQ(PeriodStart(Granularity::kMonth, -31 * 86400 - 1), -61 * 86400);  // 1969-11-01
  EXPECT_EQ(PeriodStart(Granularity::kMonth, -2208988800 + 5), -2208988800);  // 1900-01-01
}

TEST(PeriodStartTest, MatchesLibcOnRandomTimestamps) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    // Years ~1700..2240, negative ones included.
    const int64_t ts = static_cast<int64_t>(rng() % 17000000000ull) - 8500000000ll;
    for (Granularity g : {Granularity::kHour, Granularity::kDay, Granularity::kMonth}) {
      ASSERT_EQ(PeriodStart(g, ts), RefPeriodStart(g, ts)) << ts << " g=" << int(g);
    }
  }
  EXPECT_LE(PeriodStart(Granularity::kMonth, INT64_MIN), INT64_MIN + 0);  // clamps, no UB
  EXPECT_LE(PeriodStart(Granularity::kMonth, INT64_MAX), INT64_MAX);
}

// ---- hand cases ----

class UsageScanTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  uint64_t next_file_ = 1;
  std::shared_ptr<const RollupFileReader> File(RollupLayout layout, std::vector<RollupRow> rows) {
    const uint64_t id = next_file_++;
    return WriteFile(dir_.path() + "/f" + std::to_string(id), id, layout, rows);
  }
};

TEST_F(UsageScanTest, EmptyViewAndEmptyRequest) {
  RollupView view;
  UsageRequest req;
  req.from = 0;
  req.to = 1 << 30;
  std::vector<UsageBucket> out;
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  EXPECT_TRUE(out.empty());
  req.series.push_back(UsageSeries{5, SeriesKind::kGauge, ValueType::kInt});
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_F(UsageScanTest, UnsortedRequestIsRefused) {
  RollupView view;
  UsageRequest req;
  req.series = {{9, SeriesKind::kGauge, ValueType::kInt}, {3, SeriesKind::kGauge, ValueType::kInt}};
  req.to = 10;
  std::vector<UsageBucket> out;
  EXPECT_TRUE(ScanUsage(view, req, &out).IsInvalidArgument());
  req.series[0].id = 3;  // duplicate
  EXPECT_TRUE(ScanUsage(view, req, &out).IsInvalidArgument());
}

TEST_F(UsageScanTest, OpenAndRevisedRowsWithoutFiles) {
  RollupView view;
  view.sealed_before = kFeb1;
  RollupRow rev = GaugeRow(7, kFeb1 - 2 * kH, 4);
  rev.col[kColRevision] = 3;
  rev.col[kColRevisedAt] = static_cast<uint64_t>(kFeb1 + 100);
  view.revised = {rev};
  view.open = {GaugeRow(7, kFeb1, 5), GaugeRow(7, kFeb1 + kH, 6, 0), GaugeRow(8, kFeb1, 1)};
  view.open[1].col[kColHeld] = 30;  // a held-only hour: no samples
  view.open[1].col[kColIntegralLo] = 6 * 30;
  view.open[1].col[kColMin] = view.open[1].col[kColMax] = view.open[1].col[kColLast] = 0;
  UsageRequest req;
  req.series = {{7, SeriesKind::kGauge, ValueType::kInt}};
  req.from = kJan1;
  req.to = kFeb1 + 10 * kH;
  req.granularity = Granularity::kMonth;
  std::vector<UsageBucket> out;
  UsageStats stats;
  ASSERT_TRUE(ScanUsage(view, req, &out, &stats).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start, kJan1);
  EXPECT_EQ(out[0].hours, 1u);
  EXPECT_EQ(out[0].revised_hours, 1u);
  EXPECT_EQ(out[0].max_revision, 3u);
  EXPECT_EQ(out[0].last_revised_at, kFeb1 + 100);
  EXPECT_EQ(out[0].int_integral, 4u * 3600);
  EXPECT_EQ(out[1].start, kFeb1);
  EXPECT_EQ(out[1].hours, 2u);
  EXPECT_EQ(out[1].provisional_hours, 2u);
  EXPECT_EQ(out[1].count, 3600u);
  EXPECT_EQ(out[1].min, 5u);
  EXPECT_EQ(out[1].max, 5u);
  EXPECT_EQ(out[1].last, 5u);  // the held-only hour has no sample: last stays 5
  EXPECT_EQ(out[1].held_seconds, 3630u);
  EXPECT_EQ(out[1].int_integral, 5u * 3600 + 6 * 30);
  EXPECT_EQ(stats.rows_scanned, 3u);
}

TEST_F(UsageScanTest, MonthAndDayBoundaries) {
  const uint64_t s = 42;
  const int64_t jan31_23 = kFeb1 - kH;
  RollupView view;
  view.files.files = {
      File(RollupLayout::kPerSeries, {GaugeRow(s, jan31_23 - kH, 1), GaugeRow(s, jan31_23, 2),
                                      GaugeRow(s, kFeb1, 3), GaugeRow(s, kFeb1 + kH, 4)})};
  view.sealed_before = view.files.sealed_before = kFeb1 + 10 * kH;
  UsageRequest req;
  req.series = {{s, SeriesKind::kGauge, ValueType::kInt}};
  req.from = kJan1;
  req.to = kFeb1 + 24 * kH;
  for (Granularity g : {Granularity::kMonth, Granularity::kDay}) {
    req.granularity = g;
    std::vector<UsageBucket> out;
    ASSERT_TRUE(ScanUsage(view, req, &out).ok());
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].start, g == Granularity::kMonth ? kJan1 : kFeb1 - 86400);
    EXPECT_EQ(out[0].hours, 2u);
    EXPECT_EQ(out[0].min, 1u);
    EXPECT_EQ(out[0].max, 2u);
    EXPECT_EQ(out[0].last, 2u);
    EXPECT_EQ(out[0].int_integral, 3u * 3600);
    EXPECT_EQ(out[1].start, kFeb1);
    EXPECT_EQ(out[1].hours, 2u);
    EXPECT_EQ(out[1].min, 3u);
    EXPECT_EQ(out[1].last, 4u);
    EXPECT_DOUBLE_EQ(out[1].sum, 7.0 * 3600);
  }
  // [from, to) by hour, unaligned: from inside Jan 31 22:00 excludes that hour.
  req.granularity = Granularity::kHour;
  req.from = jan31_23 - kH + 1;
  req.to = kFeb1 + 1;
  std::vector<UsageBucket> out;
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start, jan31_23);
  EXPECT_EQ(out[1].start, kFeb1);
}

TEST_F(UsageScanTest, NegativeHours) {
  const uint64_t s = 1;
  RollupView view;
  std::vector<RollupRow> rows;
  for (int64_t h = -30; h < 30; ++h) rows.push_back(GaugeRow(s, h * kH, 1));
  view.files.files = {File(RollupLayout::kPerSeries, rows)};
  view.sealed_before = 1000 * kH;
  UsageRequest req;
  req.series = {{s, SeriesKind::kGauge, ValueType::kInt}};
  req.from = -100 * kH;
  req.to = 100 * kH;
  req.granularity = Granularity::kDay;
  std::vector<UsageBucket> out;
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  ASSERT_EQ(out.size(), 4u);  // hours -30..-25, -24..-1, 0..23, 24..29
  EXPECT_EQ(out[0].start, -2 * 86400);
  EXPECT_EQ(out[0].hours, 6u);
  EXPECT_EQ(out[1].start, -86400);
  EXPECT_EQ(out[1].hours, 24u);
  EXPECT_EQ(out[2].start, 0);
  EXPECT_EQ(out[2].hours, 24u);
  EXPECT_EQ(out[3].start, 86400);
  EXPECT_EQ(out[3].hours, 6u);
  req.granularity = Granularity::kMonth;
  out.clear();
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start, -31 * 86400);
  EXPECT_EQ(out[0].hours, 30u);
}

TEST_F(UsageScanTest, RevisionOverridesSealedRow) {
  const uint64_t s = 9;
  RollupView view;
  std::vector<RollupRow> rows;
  for (int64_t h = 0; h < 10; ++h) {
    RollupRow r = Row(s, kJan1 + h * kH, 3600);
    r.col[kColMin] = 100 + static_cast<uint64_t>(h);
    r.col[kColMax] = r.col[kColLast] = 200 + static_cast<uint64_t>(h);
    r.col[kColIncrease] = 10;
    rows.push_back(r);
  }
  view.files.files = {File(RollupLayout::kPerSeries, rows)};
  view.sealed_before = kJan1 + 10 * kH;
  RollupRow rev = rows[4];
  rev.col[kColIncrease] = 1000;
  rev.col[kColMin] = 5;
  rev.col[kColCount] = 3601;
  rev.col[kColRevision] = 2;
  rev.col[kColRevisedAt] = static_cast<uint64_t>(kJan1 + 99999);
  view.revised = {rev};
  UsageRequest req;
  req.series = {{s, SeriesKind::kCounter, ValueType::kInt}};
  req.from = kJan1;
  req.to = kJan1 + 100 * kH;
  req.granularity = Granularity::kMonth;
  std::vector<UsageBucket> out;
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].hours, 10u);
  EXPECT_EQ(out[0].revised_hours, 1u);
  EXPECT_EQ(out[0].max_revision, 2u);
  EXPECT_EQ(out[0].last_revised_at, kJan1 + 99999);
  EXPECT_EQ(out[0].increase, 9u * 10 + 1000);
  EXPECT_EQ(out[0].count, 9u * 3600 + 3601);
  EXPECT_EQ(out[0].min, 5u);
  EXPECT_EQ(out[0].max, 209u);
  EXPECT_EQ(out[0].last, 209u);
}

TEST_F(UsageScanTest, OpenRowBeyondSealedBefore) {
  const uint64_t s = 9;
  RollupView view;
  // The file still holds hours 5..6 (sealed by a newer store snapshot than the view's
  // watermark); the view has the open bucket of hour 5 and nothing for hour 6.
  std::vector<RollupRow> rows;
  for (int64_t h = 0; h < 7; ++h) rows.push_back(GaugeRow(s, kJan1 + h * kH, 10));
  view.files.files = {File(RollupLayout::kPacked, rows)};
  view.sealed_before = kJan1 + 5 * kH;
  view.open = {GaugeRow(s, kJan1 + 5 * kH, 20)};
  UsageRequest req;
  req.series = {{s, SeriesKind::kGauge, ValueType::kInt}};
  req.from = kJan1;
  req.to = kJan1 + 100 * kH;
  req.granularity = Granularity::kDay;
  std::vector<UsageBucket> out;
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].hours, 6u);
  EXPECT_EQ(out[0].provisional_hours, 1u);
  EXPECT_EQ(out[0].max, 20u);
  EXPECT_EQ(out[0].last, 20u);
  EXPECT_EQ(out[0].int_integral, (5u * 10 + 20) * 3600);
}

TEST_F(UsageScanTest, DamagedBlockIsReportedAndSkipped) {
  // Three series, one block each; damage the middle block's body.
  std::vector<RollupRow> rows;
  for (uint64_t s = 1; s <= 3; ++s) {
    for (int64_t h = 0; h < 24; ++h) rows.push_back(GaugeRow(s, kJan1 + h * kH, s * 10 + h));
  }
  const std::string path = dir_.path() + "/damaged.mru";
  ASSERT_NE(WriteFile(path, 77, RollupLayout::kPerSeries, rows), nullptr);
  {
    auto r = RollupFileReader::Open(path);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ((*r)->blocks().size(), 3u);
    const auto& b = (*r)->blocks()[1];
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(b.offset + b.size / 2);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(at);
    f.write(&c, 1);
  }
  auto reader = RollupFileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  RollupView view;
  view.files.files = {std::shared_ptr<const RollupFileReader>(std::move(reader).value())};
  view.sealed_before = kFeb1;
  UsageRequest req;
  for (uint64_t s = 1; s <= 3; ++s) req.series.push_back({s, SeriesKind::kGauge, ValueType::kInt});
  req.from = kJan1;
  req.to = kFeb1;
  req.granularity = Granularity::kMonth;
  std::vector<UsageBucket> out;
  UsageStats stats;
  ASSERT_TRUE(ScanUsage(view, req, &out, &stats).ok());
  ASSERT_EQ(stats.damaged.size(), 1u);
  EXPECT_NE(stats.damaged[0].find("damaged.mru"), std::string::npos) << stats.damaged[0];
  EXPECT_EQ(stats.blocks_read, 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].series_id, 1u);
  EXPECT_EQ(out[1].series_id, 3u);
  EXPECT_EQ(out[1].hours, 24u);
}

TEST_F(UsageScanTest, AppendsAfterExistingOutput) {
  RollupView view;
  view.files.files = {File(RollupLayout::kPerSeries, {GaugeRow(3, kJan1, 1)})};
  view.sealed_before = kFeb1;
  UsageRequest req;
  req.series = {{3, SeriesKind::kGauge, ValueType::kInt}};
  req.from = kJan1;
  req.to = kFeb1;
  req.granularity = Granularity::kMonth;
  std::vector<UsageBucket> out(1);
  out[0].series_id = 3;  // an earlier result with the same key is left alone
  out[0].start = kJan1;
  ASSERT_TRUE(ScanUsage(view, req, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].hours, 0u);
  EXPECT_EQ(out[1].hours, 1u);
}

TEST_F(UsageScanTest, SeriesSpanningBlocksMatchesReference) {
  // A kPerSeries file whose first series has more hours than a block holds, and a packed file
  // with a damaged block among several: the scan must equal the reference over what is served.
  std::mt19937_64 rng(5);
  std::vector<UsageSeries> series = {{10, SeriesKind::kCounter, ValueType::kInt},
                                     {11, SeriesKind::kGauge, ValueType::kFloat},
                                     {12, SeriesKind::kState, ValueType::kInt}};
  RefView ref;
  std::vector<RollupRow> long_rows, packed_rows;
  for (int64_t h = 0; h < 5000; ++h) {
    long_rows.push_back(RandomRow(rng, series[0], kJan1 + h * kH, false, RollupRow{}));
  }
  for (int64_t h = 0; h < 30; ++h) {
    long_rows.push_back(RandomRow(rng, series[1], kJan1 + h * kH, false, RollupRow{}));
  }
  for (const auto& s : series) {
    for (int64_t h = 5000; h < 6500; ++h) {
      packed_rows.push_back(RandomRow(rng, s, kJan1 + h * kH, false, RollupRow{}));
    }
  }
  RollupView view;
  view.files.files = {File(RollupLayout::kPerSeries, long_rows)};
  const std::string path = dir_.path() + "/packed";
  ASSERT_NE(WriteFile(path, 99, RollupLayout::kPacked, packed_rows), nullptr);
  ASSERT_GT(view.files.files[0]->blocks().size(), 2u);  // 5000 rows: two blocks of series 10
  {
    auto r = RollupFileReader::Open(path);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ((*r)->blocks().size(), 2u);  // 4500 rows
    // Damage block 1 (rows 4096..4499: series 12's last hours).
    const auto& b = (*r)->blocks()[1];
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(b.offset + 200));
    f.write("\xff\xff", 2);
  }
  auto reader = RollupFileReader::Open(path);
  ASSERT_TRUE(reader.ok());
  view.files.files.push_back(std::shared_ptr<const RollupFileReader>(std::move(reader).value()));
  view.sealed_before = kJan1 + 7000 * kH;
  ref.sealed_before = view.sealed_before;
  ref.file_rows = long_rows;
  ref.file_rows.insert(ref.file_rows.end(), packed_rows.begin(), packed_rows.begin() + 4096);
  for (Granularity g : {Granularity::kHour, Granularity::kDay, Granularity::kMonth}) {
    UsageRequest req;
    req.series = series;
    req.from = kJan1 + 3 * kH;
    req.to = kJan1 + 6400 * kH;
    req.granularity = g;
    std::vector<UsageBucket> out;
    UsageStats stats;
    ASSERT_TRUE(ScanUsage(view, req, &out, &stats).ok());
    EXPECT_EQ(stats.damaged.size(), 1u);
    EXPECT_EQ(Diff(out, Reference(ref, req)), "") << "g=" << static_cast<int>(g);
  }
}

// ---- the property test ----

void RunProperty(uint64_t seed, int64_t start, size_t hours, size_t nseries, int queries,
                 bool whole_blocks = false) {
  testing::TempDir dir;
  DataSet d = MakeDataSet(seed, dir.path(), start, hours, nseries, whole_blocks);
  ASSERT_GE(d.view.files.files.size(), whole_blocks ? 1u : 2u);
  std::mt19937_64 rng(seed * 31 + 1);
  // Coverage: the comparison must have met every kind of hour, not just empty results.
  uint64_t buckets = 0, provisional = 0, revised = 0, imported = 0, multi_hour = 0;
  for (int q = 0; q < queries; ++q) {
    UsageRequest req = RandomRequest(rng, d, start, hours);
    if (whole_blocks && q % 2 == 0) {  // the whole month by month: every clean block is whole
      req.from = start - (q % 4 == 0 ? kH : 0);
      req.to = start + static_cast<int64_t>(hours) * kH;
      req.granularity = Granularity::kMonth;
    }
    std::vector<UsageBucket> got;
    UsageStats stats;
    Status st = ScanUsage(d.view, req, &got, &stats);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(stats.damaged.empty());
    const std::vector<UsageBucket> want = Reference(d.ref, req);
    const std::string diff = Diff(got, want);
    ASSERT_EQ(diff, "") << "seed " << seed << " query " << q << " series " << req.series.size()
                        << " [" << req.from << ", " << req.to
                        << ") g=" << static_cast<int>(req.granularity);
    for (const UsageBucket& b : want) {
      ++buckets;
      provisional += b.provisional_hours;
      revised += b.revised_hours;
      imported += b.imported_hours;
      multi_hour += b.hours > 1;
    }
  }
  EXPECT_GT(buckets, 100u);
  EXPECT_GT(provisional, 0u);
  EXPECT_GT(revised, 0u);
  EXPECT_GT(imported, 0u);
  EXPECT_GT(multi_hour, 10u);
}

TEST(UsageScanPropertyTest, AcrossAMonthBoundary) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    RunProperty(seed, kFeb1 - 8 * 86400, 16 * 24, 24, 150);
  }
}

TEST(UsageScanPropertyTest, BeforeTheEpoch) {
  for (uint64_t seed = 11; seed <= 13; ++seed) {
    RunProperty(seed, -40 * 86400, 50 * 24, 12, 100);
  }
}

TEST(UsageScanPropertyTest, WholeMonthBlocksDecodedInAnyOrder) {
  // January as one month file, a row per series and hour with a constant sample count: month
  // scans take whole blocks, their varying columns permuted within runs of 32 rows; series
  // with a revision or an open row in the month, and partial ranges, take the ordinary path.
  for (uint64_t seed = 31; seed <= 34; ++seed) {
    RunProperty(seed, kJan1, 31 * 24, 20, 40, true);
  }
}

TEST(UsageScanPropertyTest, ManySeriesPackedBlocks) {
  // 150 series x up to 96 hours: packed files of more than one 4096-row block.
  RunProperty(21, kJan1 + 20 * 86400, 96, 150, 60);
}

}  // namespace usage_scan_test
}  // namespace meterd::query
