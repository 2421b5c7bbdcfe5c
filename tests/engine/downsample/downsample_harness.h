// meterd — tests/engine/downsample/downsample_harness.h
//
// What the downsampler tests share:
//   * Harness: a real Store + SeriesRegistry + Downsampler in a temporary directory, on an
//     injected clock, fed exactly as IngestPipeline::Ingest feeds them (late samples marked
//     before the append, Apply after it), ticked as RollupClock::RunOnce ticks, and reopened
//     on the same directory to test restarts.
//   * Rows: what a usage query reads for each (series, hour), with the precedence of
//     query/usage.h (open bucket, else latest revision, else the sealed row in a file).
//   * ReferenceBuckets: the hourly quantities computed straight from raw samples and the
//     semantics of DESIGN.md section 4, written independently of engine/downsample/bucket.cc.
//
// Thread-safety: one test thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/downsample/downsampler.h"
#include "engine/registry/series_registry.h"
#include "query/usage.h"
#include "storage/rollup.h"
#include "storage/store.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::testing_ds {

using storage::HourOf;
using storage::kSecondsPerHour;
using storage::RollupRow;

constexpr int64_t kDay = 1767225600;       // 2026-01-01T00:00:00Z
using Key = std::pair<uint64_t, int64_t>;  // (series, hour)
using RowMap = std::map<Key, RollupRow>;
using RawSeries = std::map<int64_t, uint64_t>;  // second -> value (one per second)

// ---------------------------------------------------------------------------------------------
// Harness

class Harness {
 public:
  // `now`: the clock at the start; the tests' data starts in its hour.
  explicit Harness(int64_t now) : now_(now), origin_(now) {
    ds_options_.staleness_seconds = 60;
    ds_options_.grace_seconds = 600;
    ds_options_.now = [this] { return now_; };
  }
  ~Harness() { Close(); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  const std::string& dir() const { return dir_.path(); }
  DownsampleOptions& ds_options() { return ds_options_; }
  // false: Close() does not flush the head, so the next Open replays the WAL as after a crash.
  void set_flush_on_close(bool flush) { flush_on_close_ = flush; }
  int64_t now() const { return now_; }
  void set_now(int64_t now) { now_ = now; }

  storage::Store* store() { return store_.get(); }
  SeriesRegistry* registry() { return registry_.get(); }
  Downsampler* ds() { return ds_.get(); }
  const std::vector<std::string>& open_report() const { return open_report_; }

  ::testing::AssertionResult Open() {
    storage::StoreOptions o;
    o.dir = dir_.path() + "/store";
    o.background_flush = false;
    o.flush_on_close = flush_on_close_;
    o.wal_file_size = 4 << 20;
    o.now = [this] { return now_; };
    auto store = storage::Store::Open(o);
    if (!store.ok()) return ::testing::AssertionFailure() << store.status().ToString();
    store_ = std::move(store).value();
    auto reg = SeriesRegistry::Open(dir_.path(), &catalog_);
    if (!reg.ok()) return ::testing::AssertionFailure() << reg.status().ToString();
    registry_ = std::move(reg).value();
    open_report_.clear();
    // A fresh rollup directory (nothing sealed yet) starts rolling up at
    // HourOf(now - initial_lookback): the hour the test started in, also when it reopens before
    // the first seal (an empty rollup directory does not remember where the first run started).
    ds_options_.initial_lookback_seconds = now_ - origin_;
    auto ds =
        Downsampler::Open(dir_.path(), ds_options_, store_.get(), registry_.get(), &open_report_);
    if (!ds.ok()) return ::testing::AssertionFailure() << ds.status().ToString();
    ds_ = std::move(ds).value();
    return ::testing::AssertionSuccess();
  }

  // Closes everything without ticking: unresolved late batches stay pending in the revision
  // log, as after a crash.
  void Close() {
    ds_.reset();
    if (store_) {
      Status s = store_->Close();
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    store_.reset();
    registry_.reset();
  }

  ::testing::AssertionResult Reopen() {
    Close();
    return Open();
  }

  uint64_t Define(const std::string& resource, const std::string& metric) {
    const uint64_t id = SeriesRegistry::IdOf(resource, metric);
    std::vector<SeriesDefinition> d = {{id, resource, metric}};
    auto out = registry_->Define(d, "", true);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return id;
  }

  // Feeds a batch the way IngestPipeline::Ingest does once its checks passed: samples for
  // closed hours are recorded as late (durably) before the append, and the downsampler rolls
  // up what the store accepted. Returns the store's outcome.
  storage::AppendResult Ingest(const storage::SampleBatch& batch) {
    std::vector<SeriesSlot> slots(batch.size());
    registry_->LookupMany(batch.series(), slots.data());
    const int64_t closing = ds_->closing_before();
    std::vector<LateSample> late;
    for (size_t j = 0; j < batch.size(); ++j) {
      EXPECT_NE(slots[j].index, UINT32_MAX) << "undefined series in a test batch";
      if (batch.timestamps()[j] < closing) {
        late.push_back(LateSample{batch.series()[j], batch.timestamps()[j]});
      }
    }
    uint64_t late_id = 0;
    if (!late.empty()) {
      auto id = ds_->MarkLate(late);
      EXPECT_TRUE(id.ok()) << id.status().ToString();
      if (id.ok()) late_id = *id;
    }
    auto appended = store_->Append(batch);
    EXPECT_TRUE(appended.ok()) << appended.status().ToString();
    if (!appended.ok()) return {};
    if (appended->accepted > 0 || late_id != 0) {
      Status s = ds_->Apply(batch, slots, appended->rejected > 0, late_id, appended->lsn);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return *appended;
  }

  // One pass of the rollup clock (RollupClock::RunOnce): close, resolve, seal, resolve.
  void Tick(bool merge = false) {
    ds_->CloseDue();
    Status s = ds_->ProcessLate();
    EXPECT_TRUE(s.ok()) << s.ToString();
    auto sealed = ds_->SealDue();
    EXPECT_TRUE(sealed.ok()) << sealed.status().ToString();
    s = ds_->ProcessLate();
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (merge) {
      s = ds_->MergeParts();
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
  }

  // Moves the clock to `now` and ticks.
  void AdvanceAndTick(int64_t now, bool merge = false) {
    now_ = now;
    Tick(merge);
  }

  // The store's raw samples of every series (one value per second).
  std::map<uint64_t, RawSeries> ScanRaw() {
    std::map<uint64_t, RawSeries> out;
    Status s = store_->Scan(storage::ScanRequest{},
                            [&](uint64_t id, storage::ValueType, std::span<const int64_t> ts,
                                std::span<const uint64_t> v) {
                              RawSeries& series = out[id];
                              for (size_t i = 0; i < ts.size(); ++i) series[ts[i]] = v[i];
                            });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // What a usage query over hours [from, to) reads, by (series, hour).
  RowMap Rows(int64_t from = INT64_MIN, int64_t to = INT64_MAX) const {
    return RowsOf(ds_->View({}, from, to), from, to);
  }

  static RowMap RowsOf(const query::RollupView& view, int64_t from, int64_t to) {
    RowMap rows;
    storage::RollupBlock block;
    for (const auto& file : view.files.files) {
      for (size_t b = 0; b < file->blocks().size(); ++b) {
        Status s = file->ReadBlock(b, storage::kAllColumns, &block);
        EXPECT_TRUE(s.ok()) << s.ToString();
        if (!s.ok()) continue;
        for (size_t i = 0; i < block.rows; ++i) {
          RollupRow row;
          row.series_id = block.series.at(i);
          row.hour = static_cast<int64_t>(block.hour.at(i));
          for (size_t c = 0; c < storage::kRollupColumns; ++c) row.col[c] = block.col[c].at(i);
          if (row.hour < from || row.hour >= to) continue;
          EXPECT_LT(row.hour, view.sealed_before) << "a file row of an unsealed hour";
          const bool inserted = rows.emplace(Key{row.series_id, row.hour}, row).second;
          EXPECT_TRUE(inserted) << "files overlap at series " << row.series_id << " hour "
                                << row.hour;
        }
      }
    }
    for (const RollupRow& r : view.revised) {
      EXPECT_LT(r.hour, view.sealed_before) << "a revision of an unsealed hour";
      EXPECT_GE(r.col[storage::kColRevision], 1u);
      rows[Key{r.series_id, r.hour}] = r;
    }
    for (const RollupRow& r : view.open) {
      EXPECT_GE(r.hour, view.sealed_before) << "an open row of a sealed hour";
      const bool inserted = rows.emplace(Key{r.series_id, r.hour}, r).second;
      EXPECT_TRUE(inserted) << "open row also sealed: series " << r.series_id << " hour " << r.hour;
    }
    // A revision may empty an hour; such a row bills nothing and counts as absent.
    std::erase_if(rows, [](const auto& kv) { return RowIsEmpty(kv.second); });
    return rows;
  }

 private:
  int64_t now_;
  const int64_t origin_;
  ::meterd::testing::TempDir dir_;
  MetricCatalog catalog_;
  DownsampleOptions ds_options_;
  bool flush_on_close_ = true;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<SeriesRegistry> registry_;
  std::unique_ptr<Downsampler> ds_;
  std::vector<std::string> open_report_;
};

// ---------------------------------------------------------------------------------------------
// Reference: DESIGN.md section 4 applied straight to raw samples.

// One hour of one series, in plain types.
struct RefBucket {
  uint64_t count = 0;
  uint64_t held = 0;
  uint64_t first_offset = 0, last_offset = 0;
  double sum = 0;                       // gauge
  uint64_t min = 0, max = 0, last = 0;  // bit patterns
  unsigned __int128 int_integral = 0;   // int gauge
  double float_integral = 0;            // float gauge
  unsigned __int128 increase = 0;       // counter
  uint64_t resets = 0;
  std::array<uint64_t, storage::kStateSlots> state{};
};

inline double Dbl(uint64_t bits) { return storage::BitsToDouble(bits); }

// `samples` ascending, one per second (a RawSeries). A gauge or state sample holds its value
// from its second until the next sample, for at most `staleness` seconds. The newest sample has
// no successor yet: the downsampler credits its hold only through the sealed watermark, so the
// reference does too — the hold of the newest sample at ts ends at
//   min(ts + staleness, max(ts, sealed_before)).
// Once every hour up to ts + staleness is sealed that is simply the full staleness.
inline std::map<int64_t, RefBucket> ReferenceBuckets(const SeriesShape& shape,
                                                     const RawSeries& samples, int64_t staleness,
                                                     int64_t sealed_before) {
  std::map<int64_t, RefBucket> out;
  const bool is_float = shape.type == storage::ValueType::kFloat;
  auto less = [&](uint64_t a, uint64_t b) { return is_float ? Dbl(a) < Dbl(b) : a < b; };
  bool have_prev = false;
  uint64_t prev_value = 0;
  for (auto it = samples.begin(); it != samples.end(); ++it) {
    const auto [ts, v] = *it;
    const int64_t hour = HourOf(ts);
    RefBucket& b = out[hour];
    // The sample's own statistics.
    if (b.count == 0) {
      b.first_offset = static_cast<uint64_t>(ts - hour);
      b.min = b.max = v;
    }
    if (less(v, b.min)) b.min = v;
    if (less(b.max, v)) b.max = v;
    ++b.count;
    b.last_offset = static_cast<uint64_t>(ts - hour);
    b.last = v;
    if (shape.kind == MetricKind::kCounter) {
      // The delta from the previous sample belongs to this (the later) sample's hour; a
      // decrease is a reset and the new value is the increase since.
      if (have_prev) {
        if (v < prev_value) {
          b.increase += v;
          ++b.resets;
        } else {
          b.increase += v - prev_value;
        }
      }
      have_prev = true;
      prev_value = v;
      continue;
    }
    if (shape.kind == MetricKind::kGauge) b.sum += is_float ? Dbl(v) : static_cast<double>(v);
    auto next = std::next(it);
    const int64_t hold_end = next != samples.end()
                                 ? std::min(next->first, ts + staleness)
                                 : std::min(ts + staleness, std::max(ts, sealed_before));
    // Credit second by second's hour: split [ts, hold_end) at hour boundaries.
    for (int64_t from = ts; from < hold_end;) {
      const int64_t h = HourOf(from);
      const int64_t to = std::min(hold_end, h + kSecondsPerHour);
      const uint64_t secs = static_cast<uint64_t>(to - from);
      RefBucket& hb = out[h];
      hb.held += secs;
      if (shape.kind == MetricKind::kState) {
        if (v < storage::kStateSlots) hb.state[v] += secs;
      } else if (is_float) {
        hb.float_integral += Dbl(v) * static_cast<double>(secs);
      } else {
        hb.int_integral += static_cast<unsigned __int128>(v) * secs;
      }
      from = to;
    }
  }
  return out;
}

inline std::string U128(unsigned __int128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

inline unsigned __int128 RowIntegral(const RollupRow& r) {
  return (static_cast<unsigned __int128>(r.col[storage::kColIntegralHi]) << 64) |
         r.col[storage::kColIntegralLo];
}

// Compares a stored bucket with the reference; returns a description of every difference
// (empty when equal). Float sums and integrals are compared within `float_tolerance`
// (relative); 0 requires bit-for-bit equality.
inline std::string DiffBucket(const SeriesShape& shape, const RollupRow& row, const RefBucket& ref,
                              double float_tolerance = 0) {
  using namespace storage;
  std::string out;
  auto check = [&](const char* what, uint64_t got, uint64_t want) {
    if (got != want) {
      out += std::string(" ") + what + ": got " + std::to_string(got) + " want " +
             std::to_string(want) + ";";
    }
  };
  auto check_double = [&](const char* what, double got, double want) {
    const double tol = float_tolerance * std::max(1.0, std::abs(want));
    if (float_tolerance == 0 ? got != want : std::abs(got - want) > tol) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), " %s: got %.17g want %.17g;", what, got, want);
      out += buf;
    }
  };
  check("count", row.col[kColCount], ref.count);
  if (ref.count > 0) {
    check("first_offset", row.col[kColFirstOffset], ref.first_offset);
    check("last_offset", row.col[kColLastOffset], ref.last_offset);
    check("min", row.col[kColMin], ref.min);
    check("max", row.col[kColMax], ref.max);
    check("last", row.col[kColLast], ref.last);
  }
  switch (shape.kind) {
    case MetricKind::kCounter: {
      // An hour's increase saturates at 2^64 - 1, flagged (docs/rollup.md, "Counters").
      const bool over = ref.increase > ~uint64_t{0};
      if (static_cast<unsigned __int128>(row.col[kColIncrease]) !=
              (over ? ~uint64_t{0} : ref.increase) ||
          ((row.col[kColFlags] & kRowIncreaseSaturated) != 0) != over) {
        out += " increase: got " + std::to_string(row.col[kColIncrease]) + " flags " +
               std::to_string(row.col[kColFlags]) + " want " + U128(ref.increase) + ";";
      }
      check("resets", row.col[kColResets], ref.resets);
      check("held", row.col[kColHeld], 0);
      break;
    }
    case MetricKind::kGauge:
      check("held", row.col[kColHeld], ref.held);
      check_double("sum", Dbl(row.col[kColSum]), ref.sum);
      if (shape.type == ValueType::kFloat) {
        check_double("integral", Dbl(row.col[kColIntegralLo]), ref.float_integral);
      } else if (RowIntegral(row) != ref.int_integral) {
        out += " integral: got " + U128(RowIntegral(row)) + " want " + U128(ref.int_integral) + ";";
      }
      break;
    case MetricKind::kState:
      check("held", row.col[kColHeld], ref.held);
      for (size_t c = 0; c < kStateSlots; ++c) {
        const std::string what = "state" + std::to_string(c);
        check(what.c_str(), row.col[kColState0 + c], ref.state[c]);
      }
      break;
  }
  return out;
}

// The whole-range quantities of one series computed straight from its raw samples, without
// any hourly split: what the sum over its hourly buckets must equal (the DESIGN.md invariant).
// The newest sample's hold ends at min(ts + staleness, max(ts, sealed_before)), as above.
struct RefTotals {
  uint64_t count = 0;
  uint64_t held = 0;
  double sum = 0;
  uint64_t min = 0, max = 0, last = 0;
  unsigned __int128 int_integral = 0;
  double float_integral = 0;
  unsigned __int128 increase = 0;
  uint64_t resets = 0;
  std::array<uint64_t, storage::kStateSlots> state{};
};

inline RefTotals ReferenceTotals(const SeriesShape& shape, const RawSeries& samples,
                                 int64_t staleness, int64_t sealed_before) {
  RefTotals t;
  const bool is_float = shape.type == storage::ValueType::kFloat;
  auto less = [&](uint64_t a, uint64_t b) { return is_float ? Dbl(a) < Dbl(b) : a < b; };
  for (auto it = samples.begin(); it != samples.end(); ++it) {
    const auto [ts, v] = *it;
    if (t.count == 0) t.min = t.max = v;
    if (less(v, t.min)) t.min = v;
    if (less(t.max, v)) t.max = v;
    ++t.count;
    t.last = v;
    if (shape.kind == MetricKind::kCounter) {
      if (it != samples.begin()) {
        const uint64_t prev = std::prev(it)->second;
        t.increase += v < prev ? v : v - prev;
        t.resets += v < prev ? 1 : 0;
      }
      continue;
    }
    auto next = std::next(it);
    const int64_t end = next != samples.end()
                            ? std::min(next->first, ts + staleness)
                            : std::min(ts + staleness, std::max(ts, sealed_before));
    const uint64_t secs = static_cast<uint64_t>(end - ts);
    t.held += secs;
    if (shape.kind == MetricKind::kState) {
      if (v < storage::kStateSlots) t.state[v] += secs;
      continue;
    }
    t.sum += is_float ? Dbl(v) : static_cast<double>(v);
    if (is_float) {
      t.float_integral += Dbl(v) * static_cast<double>(secs);
    } else {
      t.int_integral += static_cast<unsigned __int128>(v) * secs;
    }
  }
  return t;
}

// Sums hourly rows of one series (ascending by hour) as a biller would: the quantity columns
// add, min/max combine, last is the last hour's.
inline RefTotals SumRows(const SeriesShape& shape, const RowMap& rows, uint64_t series) {
  using namespace storage;
  RefTotals t;
  const bool is_float = shape.type == ValueType::kFloat;
  auto less = [&](uint64_t a, uint64_t b) { return is_float ? Dbl(a) < Dbl(b) : a < b; };
  for (auto it = rows.lower_bound(Key{series, INT64_MIN});
       it != rows.end() && it->first.first == series; ++it) {
    const RollupRow& r = it->second;
    if (r.col[kColCount] > 0) {
      if (t.count == 0) t.min = t.max = r.col[kColMin];
      if (less(r.col[kColMin], t.min)) t.min = r.col[kColMin];
      if (less(t.max, r.col[kColMax])) t.max = r.col[kColMax];
      t.last = r.col[kColLast];
    }
    t.count += r.col[kColCount];
    t.held += r.col[kColHeld];
    t.sum += Dbl(r.col[kColSum]);
    if (is_float) {
      t.float_integral += Dbl(r.col[kColIntegralLo]);
    } else {
      t.int_integral += RowIntegral(r);
    }
    t.increase += r.col[kColIncrease];
    t.resets += r.col[kColResets];
    for (size_t c = 0; c < kStateSlots; ++c) t.state[c] += r.col[kColState0 + c];
  }
  return t;
}

// `extremes`: compare min, max and last (a usage bucket carries them for gauges and counters
// only, query/usage.h).
inline std::string DiffTotals(const SeriesShape& shape, const RefTotals& got, const RefTotals& want,
                              double float_tolerance = 0, bool extremes = true) {
  std::string out;
  auto check = [&](const char* what, unsigned __int128 g, unsigned __int128 w) {
    if (g != w) out += std::string(" ") + what + ": got " + U128(g) + " want " + U128(w) + ";";
  };
  auto check_double = [&](const char* what, double g, double w) {
    const double tol = float_tolerance * std::max(1.0, std::abs(w));
    if (float_tolerance == 0 ? g != w : std::abs(g - w) > tol) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), " %s: got %.17g want %.17g;", what, g, w);
      out += buf;
    }
  };
  check("count", got.count, want.count);
  if (want.count > 0 && extremes) {
    check("min", got.min, want.min);
    check("max", got.max, want.max);
    check("last", got.last, want.last);
  }
  switch (shape.kind) {
    case MetricKind::kCounter:
      check("increase", got.increase, want.increase);
      check("resets", got.resets, want.resets);
      break;
    case MetricKind::kGauge:
      check("held", got.held, want.held);
      check_double("sum", got.sum, want.sum);
      if (shape.type == storage::ValueType::kFloat) {
        check_double("integral", got.float_integral, want.float_integral);
      } else {
        check("integral", got.int_integral, want.int_integral);
      }
      break;
    case MetricKind::kState:
      check("held", got.held, want.held);
      for (size_t c = 0; c < storage::kStateSlots; ++c) {
        const std::string what = "state" + std::to_string(c);
        check(what.c_str(), got.state[c], want.state[c]);
      }
      break;
  }
  return out;
}

// A usage bucket (query/usage.h) as totals, for DiffTotals.
inline RefTotals FromUsage(const query::UsageBucket& b) {
  RefTotals t;
  t.count = b.count;
  t.held = b.held_seconds;
  t.sum = b.sum;
  t.min = b.min;
  t.max = b.max;
  t.last = b.last;
  t.int_integral = b.int_integral;
  t.float_integral = b.float_integral;
  t.increase = b.increase;
  t.resets = b.resets;
  t.state = b.state_seconds;
  return t;
}

using Shapes = std::map<uint64_t, SeriesShape>;

// query::ScanUsage over the downsampler's view for every series in `shapes`.
inline std::vector<query::UsageBucket> ScanUsageOf(const Downsampler& ds, const Shapes& shapes,
                                                   int64_t from, int64_t to, query::Granularity g) {
  query::UsageRequest req;
  for (const auto& [id, shape] : shapes) {
    req.series.push_back(
        query::UsageSeries{id, static_cast<query::SeriesKind>(shape.kind), shape.type});
  }
  req.from = from;
  req.to = to;
  req.granularity = g;
  std::vector<uint64_t> ids;
  for (const auto& [id, shape] : shapes) ids.push_back(id);
  const query::RollupView view = ds.View(ids, from, to);
  std::vector<query::UsageBucket> out;
  query::UsageStats stats;
  Status s = query::ScanUsage(view, req, &out, &stats);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(stats.damaged.empty());
  return out;
}

// Compares every stored hourly bucket of `shapes`' series with the reference computed from
// `raw`, and each series' sum over its buckets (from the rows, and from ScanUsage by month) with
// the direct totals. Reports at most `max_report` differences; returns how many there were.
inline int ExpectMatchesReference(const Downsampler& ds, const Shapes& shapes,
                                  const std::map<uint64_t, RawSeries>& raw, int64_t from,
                                  int64_t to, const std::map<uint64_t, double>& tolerance = {},
                                  int max_report = 12) {
  const int64_t staleness = ds.options().staleness_seconds;
  const int64_t sealed_before = ds.sealed_before();
  const RowMap rows = Harness::RowsOf(ds.View({}, from, to), from, to);
  int diffs = 0;
  auto report = [&](const std::string& what) {
    if (++diffs <= max_report) ADD_FAILURE() << what;
  };
  static const RawSeries kNone;
  for (const auto& [id, shape] : shapes) {
    const auto raw_it = raw.find(id);
    const RawSeries& samples = raw_it == raw.end() ? kNone : raw_it->second;
    const double tol = tolerance.count(id) ? tolerance.at(id) : 0;
    auto ref = ReferenceBuckets(shape, samples, staleness, sealed_before);
    std::erase_if(ref, [&](const auto& kv) { return kv.first < from || kv.first >= to; });
    for (const auto& [hour, want] : ref) {
      auto it = rows.find(Key{id, hour});
      if (it == rows.end()) {
        report("series " + std::to_string(id) + " (kind " +
               std::to_string(static_cast<int>(shape.kind)) + ") hour " + std::to_string(hour) +
               ": no bucket; want count " + std::to_string(want.count) + " held " +
               std::to_string(want.held));
        continue;
      }
      const std::string d = DiffBucket(shape, it->second, want, tol);
      if (!d.empty()) {
        report("series " + std::to_string(id) + " (kind " +
               std::to_string(static_cast<int>(shape.kind)) + ") hour " + std::to_string(hour) +
               " (" + std::to_string((hour - kDay) / 3600) + "h) revision " +
               std::to_string(it->second.col[storage::kColRevision]) + ":" + d);
      }
    }
    for (auto it = rows.lower_bound(Key{id, INT64_MIN}); it != rows.end() && it->first.first == id;
         ++it) {
      if (!ref.count(it->first.second)) {
        report("series " + std::to_string(id) + " hour " + std::to_string(it->first.second) +
               ": a bucket the raw samples do not produce (count " +
               std::to_string(it->second.col[storage::kColCount]) + " held " +
               std::to_string(it->second.col[storage::kColHeld]) + ")");
      }
    }
    // The invariant proper: the sum over the hourly buckets equals the direct quantity.
    if (from == INT64_MIN && to == INT64_MAX) {
      const RefTotals want = ReferenceTotals(shape, samples, staleness, sealed_before);
      const std::string d = DiffTotals(shape, SumRows(shape, rows, id), want, tol);
      if (!d.empty()) report("series " + std::to_string(id) + " sum over hourly rows:" + d);
    }
  }
  return diffs;
}

// The same invariant read through query::ScanUsage (query/usage.h) by month: each series'
// month buckets, added up, equal the direct totals. Returns the number of differences.
inline int ExpectUsageMatchesReference(const Downsampler& ds, const Shapes& shapes,
                                       const std::map<uint64_t, RawSeries>& raw,
                                       const std::map<uint64_t, double>& tolerance = {}) {
  const int64_t staleness = ds.options().staleness_seconds;
  const int64_t sealed_before = ds.sealed_before();
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto& [id, series] : raw) {
    if (series.empty()) continue;
    lo = std::min(lo, series.begin()->first);
    hi = std::max(hi, series.rbegin()->first);
  }
  if (lo > hi) return 0;
  // Hours from the first sample's to the one the newest hold can reach.
  const auto usage = ScanUsageOf(ds, shapes, HourOf(lo), HourOf(hi) + 2 * kSecondsPerHour,
                                 query::Granularity::kMonth);
  std::map<uint64_t, RefTotals> got;
  for (const query::UsageBucket& b : usage) {
    RefTotals& t = got[b.series_id];
    const RefTotals add = FromUsage(b);
    const bool is_float = shapes.at(b.series_id).type == storage::ValueType::kFloat;
    auto less = [&](uint64_t x, uint64_t y) { return is_float ? Dbl(x) < Dbl(y) : x < y; };
    if (add.count > 0) {
      if (t.count == 0) t.min = t.max = add.min;
      if (less(add.min, t.min)) t.min = add.min;
      if (less(t.max, add.max)) t.max = add.max;
      t.last = add.last;
    }
    t.count += add.count;
    t.held += add.held;
    t.sum += add.sum;
    t.int_integral += add.int_integral;
    t.float_integral += add.float_integral;
    t.increase += add.increase;
    t.resets += add.resets;
    for (size_t c = 0; c < storage::kStateSlots; ++c) t.state[c] += add.state[c];
  }
  int diffs = 0;
  static const RawSeries kNone;
  for (const auto& [id, shape] : shapes) {
    const auto raw_it = raw.find(id);
    const RefTotals want = ReferenceTotals(shape, raw_it == raw.end() ? kNone : raw_it->second,
                                           staleness, sealed_before);
    const double tol = tolerance.count(id) ? tolerance.at(id) : 0;
    const std::string d =
        DiffTotals(shape, got[id], want, tol, /*extremes=*/shape.kind != MetricKind::kState);
    if (!d.empty()) {
      ++diffs;
      ADD_FAILURE() << "series " << id << " ScanUsage by month:" << d;
    }
  }
  return diffs;
}

}  // namespace meterd::engine::testing_ds
