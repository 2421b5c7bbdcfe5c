// meterd — query/rating/rating_scan.cc: ScanRating (query/rating/rating_scan.h).
//
// Plan of one scan (mirrors query/scan/usage_scan.cc, which serves rows by the same rule):
//   1. The meters [begin, end) are grouped by series (`SeriesEntry`: its meters, the union of
//      their column masks and the hour span their routes cover).
//   2. Files: blocks and series are merge-joined (LowerBound, galloping); a block whose hours
//      miss [plan.from, min(plan.to, sealed_before)) is skipped; ReadBlock decodes the union
//      of the block's series' masks. Each series' run is cut to its hour span by binary
//      search; rows a revision or open bucket overrides are removed with a selection vector,
//      built only when one falls in the run.
//   3. Per meter of the run: its routes cut the run into groups (one per route, or per
//      stride period), each with a slot (positions between routes form groups with no slot);
//      then one kernel per column over all groups (query/scan/usage_kernels.h,
//      query/rating/rating_kernels.h) adds each group's sum into its slot.
//   4. Overlay: revisions and open rows of the planned series, row at a time, open rows
//      winning over revisions of the same hour.
#include "query/rating/rating_scan.h"

#include <algorithm>
#include <functional>

#include "query/rating/rating_kernels.h"
#include "query/scan/period.h"
#include "query/scan/usage_kernels.h"
#include "query/scan/visible_rows.h"
#include "query/vector/column_view.h"
#include "query/vector/selection_vector.h"
#include "storage/base/check.h"

namespace meterd::query::rating {

void SlotTotals::Merge(const SlotTotals& o) {
  quantity += o.quantity;
  hours += o.hours;
  provisional_hours += o.provisional_hours;
  revised_hours += o.revised_hours;
  max_revision = std::max(max_revision, o.max_revision);
  first_hour = std::min(first_hour, o.first_hour);
  last_hour = std::max(last_hour, o.last_hour);
}

namespace {

using scan::Groups;
using storage::ColumnBit;
using storage::ColumnMask;
using storage::ColumnVector;
using storage::RollupBlock;
using storage::RollupBlockInfo;
using storage::RollupFileReader;
using storage::RollupRow;
using namespace storage;  // kCol* names

constexpr uint32_t kNoSlot = UINT32_MAX;

using query::Gallop;
using query::RowLess;

ColumnMask MeterMask(const Meter& m) {
  ColumnMask mask = ColumnBit(kColRevision);
  switch (m.quantity) {
    case Quantity::kStateSeconds:
      for (size_t c = 0; c < kStateSlots; ++c) {
        if ((m.state_mask >> c) & 1) mask |= 1u << (kColState0 + c);
      }
      break;
    case Quantity::kGaugeIntegral:
      mask |= ColumnBit(kColIntegralLo);
      if (m.type != ValueType::kFloat) mask |= ColumnBit(kColIntegralHi);
      break;
    case Quantity::kCounterIncrease:
      mask |= ColumnBit(kColIncrease);
      break;
  }
  return mask;
}

// The raw quantity of one row for a meter, c(column) giving the row's value of a column (the
// overlay path and one-row runs; mirrors the kernels).
template <typename ColumnAt>
unsigned __int128 RowQuantity(const Meter& m, ColumnAt c) {
  switch (m.quantity) {
    case Quantity::kStateSeconds: {
      unsigned __int128 q = 0;
      for (size_t s = 0; s < kStateSlots; ++s) {
        if ((m.state_mask >> s) & 1) q += c(kColState0 + s);
      }
      return q;
    }
    case Quantity::kGaugeIntegral:
      if (m.type == ValueType::kFloat) return RoundedUnsigned(c(kColIntegralLo));
      return (static_cast<unsigned __int128>(c(kColIntegralHi)) << 64) | c(kColIntegralLo);
    case Quantity::kCounterIncrease:
      return c(kColIncrease);
  }
  return 0;
}

struct SeriesEntry {
  uint64_t id;
  uint32_t meter_begin, meter_end;  // into plan.meters
  ColumnMask mask;
  int64_t lo, hi;  // hours its routes cover, within [plan.from, plan.to)
};

// Buffers a scan reuses, kept per thread between calls.
struct RatingScratch {
  std::vector<SeriesEntry> series;
  std::vector<uint64_t> ids;
  std::vector<uint32_t> seg;   // group boundaries of the current meter
  std::vector<uint32_t> slot;  // per group
  RollupBlock block;
  SelectionVector sel;

  void Trim() {
    constexpr size_t kKeep = size_t{1} << 20;
    if (series.capacity() > kKeep) {
      std::vector<SeriesEntry>().swap(series);
      std::vector<uint64_t>().swap(ids);
    }
    if (seg.capacity() > kKeep) {
      std::vector<uint32_t>().swap(seg);
      std::vector<uint32_t>().swap(slot);
    }
  }
};

class RatingScanner {
 public:
  RatingScanner(const RollupView& view, const RatingPlan& plan, size_t meter_begin,
                size_t meter_end, SlotTotals* totals, RatingScanStats* stats,
                RatingScratch* scratch)
      : view_(view),
        plan_(plan),
        meter_begin_(meter_begin),
        meter_end_(meter_end),
        totals_(totals),
        stats_(stats),
        x_(*scratch) {}

  Status Run();

 private:
  Status ScanFile(const RollupFileReader& file);
  Status ScanBlock(const RollupFileReader& file, size_t index, size_t ser_begin, size_t ser_end);
  void ScanRun(size_t k, uint32_t begin, uint32_t end);
  // Prefetches the totals of series entry k's first meters' first slots.
  void PrefetchTotals(size_t k) const;
  template <typename HourAt>
  void AccumulateMeter(const Meter& m, const RowSet& rows, HourAt hour_at);
  // AccumulateMeter of one block row (the same totals, without the per-run grouping).
  void AccumulateRow(const Meter& m, uint32_t row, int64_t hour);
  template <typename HourAt>
  void BuildGroups(const Meter& m, uint32_t count, HourAt hour_at);
  void ScanOverlay();
  void AddOverlayRow(const Meter& m, const RollupRow& row, bool open);

  const RollupView& view_;
  const RatingPlan& plan_;
  const size_t meter_begin_, meter_end_;
  SlotTotals* totals_;
  RatingScanStats* stats_;
  RatingScratch& x_;
  int64_t file_hi_ = 0;             // file rows serve hours in [plan.from, file_hi_)
  query::OverrideCursors cursors_;  // into view_.revised and view_.open
};

Status RatingScanner::Run() {
  x_.series.clear();
  x_.ids.clear();
  const auto& meters = plan_.meters;
  for (size_t i = meter_begin_; i < meter_end_; ++i) {
    const Meter& m = meters[i];
    int64_t lo = plan_.to, hi = plan_.from;
    for (uint32_t r = m.first_route; r < m.first_route + m.route_count; ++r) {
      lo = std::min(lo, std::max(plan_.from, plan_.routes[r].from));
      hi = std::max(hi, std::min(plan_.to, plan_.routes[r].to));
    }
    if (!x_.series.empty() && x_.series.back().id == m.series_id) {
      SeriesEntry& e = x_.series.back();
      e.meter_end = static_cast<uint32_t>(i + 1);
      e.mask |= MeterMask(m);
      e.lo = std::min(e.lo, lo);
      e.hi = std::max(e.hi, hi);
    } else {
      x_.series.push_back(SeriesEntry{m.series_id, static_cast<uint32_t>(i),
                                      static_cast<uint32_t>(i + 1), MeterMask(m), lo, hi});
      x_.ids.push_back(m.series_id);
    }
  }
  if (x_.series.empty() || plan_.from >= plan_.to) return Status::OK();
  file_hi_ = std::min(plan_.to, view_.sealed_before);
  if (plan_.from < file_hi_) {
    for (const auto& file : view_.files.files) {
      if (file == nullptr) continue;
      METERD_RETURN_IF_ERROR(ScanFile(*file));
    }
  }
  ScanOverlay();
  return Status::OK();
}

Status RatingScanner::ScanFile(const RollupFileReader& file) {
  const std::vector<RollupBlockInfo>& blocks = file.blocks();
  const storage::RollupFileInfo& info = file.info();
  if (blocks.empty() || info.max_hour < plan_.from || info.min_hour >= file_hi_) {
    return Status::OK();
  }
  cursors_ = query::OverrideCursors{};
  const uint64_t* ids = x_.ids.data();
  const size_t n = x_.ids.size(), nb = blocks.size();
  size_t ri = 0;
  size_t bi = file.LowerBound(ids[0]);
  while (ri < n && bi < nb) {
    const RollupBlockInfo& b = blocks[bi];
    const uint64_t id = ids[ri];
    if (b.last_series < id) {
      bi = (bi + 1 < nb && blocks[bi + 1].last_series >= id) ? bi + 1 : file.LowerBound(id);
      continue;
    }
    if (id < b.first_series) {
      ri = static_cast<size_t>(Gallop(ids + ri, ids + n, b.first_series, std::less<uint64_t>()) -
                               ids);
      continue;
    }
    const uint64_t span = b.last_series - id;
    const size_t limit = span >= n - ri ? n : ri + static_cast<size_t>(span) + 1;
    const size_t rj =
        static_cast<size_t>(std::upper_bound(ids + ri, ids + limit, b.last_series) - ids);
    if (b.max_hour >= plan_.from && b.min_hour < file_hi_) {
      // Skip the block when none of its series' routes reach its hours (a month file's
      // block of a series whose routes cover another month).
      bool wanted = false;
      for (size_t k = ri; k < rj && !wanted; ++k) {
        const SeriesEntry& e = x_.series[k];
        wanted = e.lo < e.hi && b.max_hour >= e.lo && b.min_hour < std::min(e.hi, file_hi_);
      }
      if (wanted) METERD_RETURN_IF_ERROR(ScanBlock(file, bi, ri, rj));
    }
    ri = ids[rj - 1] == b.last_series ? rj - 1 : rj;
    ++bi;
  }
  return Status::OK();
}

Status RatingScanner::ScanBlock(const RollupFileReader& file, size_t index, size_t ser_begin,
                                size_t ser_end) {
  ColumnMask mask = 0;
  for (size_t k = ser_begin; k < ser_end; ++k) mask |= x_.series[k].mask;
  // The caller's slots are in its own order, not the series': the next series' totals are
  // likely cold. Prefetch them now, ReadBlock takes long enough to hide the miss.
  if (ser_end < x_.series.size()) PrefetchTotals(ser_end);
  Status st = file.ReadBlock(index, mask, &x_.block);
  if (!st.ok()) {
    if (!st.IsCorruption()) return st;
    if (stats_ != nullptr) stats_->damaged.push_back(st.ToString());
    return Status::OK();  // not served; the scan goes on
  }
  if (stats_ != nullptr) ++stats_->blocks_read;
  const uint32_t rows = static_cast<uint32_t>(x_.block.rows);
  const ColumnVector& series = x_.block.series;
  if (series.constant) {
    if (ser_end == ser_begin + 1 && x_.ids[ser_begin] == series.value) {
      ScanRun(ser_begin, 0, rows);
    }
    return Status::OK();
  }
  const uint64_t* s = series.data;
  uint32_t pos = 0;
  for (size_t k = ser_begin; k < ser_end && pos < rows; ++k) {
    const uint64_t id = x_.ids[k];
    const uint32_t b =
        static_cast<uint32_t>(Gallop(s + pos, s + rows, id, std::less<uint64_t>()) - s);
    const uint32_t e =
        id == UINT64_MAX
            ? rows
            : static_cast<uint32_t>(Gallop(s + b, s + rows, id + 1, std::less<uint64_t>()) - s);
    if (b < e) ScanRun(k, b, e);
    pos = e;
  }
  return Status::OK();
}

void RatingScanner::PrefetchTotals(size_t k) const {
  const SeriesEntry& e = x_.series[k];
  for (uint32_t m = e.meter_begin; m < std::min(e.meter_end, e.meter_begin + 4); ++m) {
    const Meter& meter = plan_.meters[m];
    if (meter.route_count != 0) {
      __builtin_prefetch(totals_ + plan_.routes[meter.first_route].slot, 1);
    }
  }
}

void RatingScanner::ScanRun(size_t k, uint32_t begin, uint32_t end) {
  if (stats_ != nullptr) stats_->rows_scanned += end - begin;
  const SeriesEntry& e = x_.series[k];
  const int64_t lo = e.lo, hi = std::min(e.hi, file_hi_);
  if (lo >= hi) return;
  const RollupBlock& block = x_.block;
  const HourColumn hours(block.hour);
  if (!CutRunToHours(hours, lo, hi, &begin, &end)) return;
  const int64_t* h = hours.data;
  const int64_t h0 = hours.first, step = hours.step;
  const uint64_t id = e.id;
  // Rows overridden by a revision or an open bucket of the same hour: usually none.
  RowSet rows;
  if (!query::VisibleRows(view_, id, begin, end, hours, &cursors_, &x_.sel, block.rows, &rows)) {
    return;
  }
  if (rows.count == 1) {  // one hour of the series (an hour part): no groups to build
    const uint32_t row = rows.row(0);
    for (uint32_t mi = e.meter_begin; mi < e.meter_end; ++mi) {
      AccumulateRow(plan_.meters[mi], row, hours(row));
    }
    return;
  }

  for (uint32_t mi = e.meter_begin; mi < e.meter_end; ++mi) {
    const Meter& m = plan_.meters[mi];
    if (hours.constant) {
      AccumulateMeter(m, rows, [h0](uint32_t) { return h0; });
    } else if (h == nullptr) {
      if (rows.selected()) {
        const uint32_t* sel = rows.sel;
        AccumulateMeter(m, rows,
                        [=](uint32_t k) { return h0 + static_cast<int64_t>(sel[k]) * step; });
      } else {
        AccumulateMeter(m, rows,
                        [=](uint32_t k) { return h0 + static_cast<int64_t>(begin + k) * step; });
      }
    } else if (rows.selected()) {
      const uint32_t* sel = rows.sel;
      AccumulateMeter(m, rows, [=](uint32_t k) { return h[sel[k]]; });
    } else {
      AccumulateMeter(m, rows, [=](uint32_t k) { return h[begin + k]; });
    }
  }
}

// Splits positions [0, count) into groups by the meter's routes: x_.seg gets the boundaries,
// x_.slot each group's slot (kNoSlot for positions no route holds).
template <typename HourAt>
void RatingScanner::BuildGroups(const Meter& m, uint32_t count, HourAt hour_at) {
  x_.seg.resize(1);
  x_.seg[0] = 0;
  x_.slot.clear();
  const Route* routes = plan_.routes.data() + m.first_route;
  const Route* routes_end = routes + m.route_count;
  const int64_t first = hour_at(0);
  // The first route that ends after the run's first hour.
  const Route* r = routes;
  if (m.route_count > 4) {
    r = std::upper_bound(routes, routes_end, first,
                         [](int64_t t, const Route& x) { return t < x.to; });
  } else {
    while (r != routes_end && r->to <= first) ++r;
  }
  uint32_t p = 0;
  auto push = [this](uint32_t end, uint32_t slot) {
    x_.seg.push_back(end);
    x_.slot.push_back(slot);
  };
  for (; r != routes_end && p < count; ++r) {
    if (hour_at(p) < r->from) {  // positions before the route: no slot
      const uint32_t q =
          hour_at(count - 1) < r->from ? count : NextPosition(p, count, r->from, hour_at);
      push(q, kNoSlot);
      p = q;
      if (p == count) break;
    }
    if (hour_at(p) >= r->to) continue;
    const uint32_t q = hour_at(count - 1) < r->to ? count : NextPosition(p, count, r->to, hour_at);
    if (r->stride == 0) {
      push(q, r->slot);
    } else {
      const int64_t stride = r->stride;
      const int64_t base = scan::FloorDiv(r->from, stride);
      while (p < q) {
        const int64_t period = scan::FloorDiv(hour_at(p), stride);
        const int64_t next = (period + 1) * stride;
        const uint32_t e = hour_at(q - 1) < next ? q : NextPosition(p, q, next, hour_at);
        push(e, r->slot + static_cast<uint32_t>(period - base));
        p = e;
      }
    }
    p = q;
  }
  if (p < count) push(count, kNoSlot);
}

template <typename HourAt>
void RatingScanner::AccumulateMeter(const Meter& m, const RowSet& rows, HourAt hour_at) {
  BuildGroups(m, rows.count, hour_at);
  const Groups groups{x_.seg.data(), x_.slot.size()};
  const uint32_t* slot = x_.slot.data();
  const uint32_t* seg = x_.seg.data();
  SlotTotals* t = totals_;
  bool any = false;
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t s = slot[g];
    if (s == kNoSlot) continue;
    any = true;
    SlotTotals& acc = t[s];
    acc.hours += seg[g + 1] - seg[g];
    acc.first_hour = std::min(acc.first_hour, hour_at(seg[g]));
    acc.last_hour = std::max(acc.last_hour, hour_at(seg[g + 1] - 1));
  }
  if (!any) return;
  auto add = [slot, t](size_t g, unsigned __int128 x) {
    if (slot[g] != kNoSlot) t[slot[g]].quantity += x;
  };
  const auto& col = x_.block.col;
  // Sums one column into the slots; a constant 0 column adds nothing.
  auto sum_column = [&](const ColumnVector& c, auto kernel) {
    if (c.constant && c.value == 0) return;
    WithColumn(c, [&](auto v) { WithRows(rows, [&](auto r) { kernel(v, r); }); });
  };
  switch (m.quantity) {
    case Quantity::kStateSeconds:
      for (size_t c = 0; c < kStateSlots; ++c) {
        if (((m.state_mask >> c) & 1) == 0) continue;
        sum_column(col[kColState0 + c], [&](auto v, auto r) { scan::SumU128(v, r, groups, add); });
      }
      break;
    case Quantity::kGaugeIntegral:
      if (m.type == ValueType::kFloat) {
        sum_column(col[kColIntegralLo], [&](auto v, auto r) { SumRoundedU128(v, r, groups, add); });
      } else {
        sum_column(col[kColIntegralLo], [&](auto v, auto r) { scan::SumU128(v, r, groups, add); });
        sum_column(col[kColIntegralHi], [&](auto v, auto r) {
          scan::SumU128(v, r, groups, [&](size_t g, unsigned __int128 x) { add(g, x << 64); });
        });
      }
      break;
    case Quantity::kCounterIncrease:
      sum_column(col[kColIncrease], [&](auto v, auto r) { scan::SumU128(v, r, groups, add); });
      break;
  }
  // Rows carrying a nonzero revision (constant 0 in nearly every block).
  sum_column(col[kColRevision], [&](auto v, auto r) {
    scan::CountAny(v, ~uint64_t{0}, r, groups, [&](size_t g, uint32_t x) {
      if (slot[g] != kNoSlot) t[slot[g]].revised_hours += x;
    });
    scan::MaxU64(v, r, groups, [&](size_t g, uint64_t x) {
      if (slot[g] != kNoSlot) t[slot[g]].max_revision = std::max(t[slot[g]].max_revision, x);
    });
  });
}

void RatingScanner::AddOverlayRow(const Meter& m, const RollupRow& row, bool open) {
  const Route* routes = plan_.routes.data() + m.first_route;
  const Route* end = routes + m.route_count;
  const Route* r =
      std::upper_bound(routes, end, row.hour, [](int64_t t, const Route& x) { return t < x.to; });
  if (r == end || row.hour < r->from) return;
  SlotTotals& acc = totals_[RouteSlot(*r, row.hour)];
  acc.quantity += RowQuantity(m, [&row](size_t c) { return row.col[c]; });
  acc.hours += 1;
  if (open) acc.provisional_hours += 1;
  if (!open || row.col[kColRevision] != 0) acc.revised_hours += 1;
  acc.max_revision = std::max(acc.max_revision, row.col[kColRevision]);
  acc.first_hour = std::min(acc.first_hour, row.hour);
  acc.last_hour = std::max(acc.last_hour, row.hour);
}

void RatingScanner::AccumulateRow(const Meter& m, uint32_t row, int64_t hour) {
  const Route* routes = plan_.routes.data() + m.first_route;
  const Route* end = routes + m.route_count;
  const Route* r = routes;
  if (m.route_count > 4) {
    r = std::upper_bound(routes, end, hour, [](int64_t t, const Route& x) { return t < x.to; });
  } else {
    while (r != end && r->to <= hour) ++r;
  }
  if (r == end || hour < r->from) return;
  SlotTotals& acc = totals_[RouteSlot(*r, hour)];
  const auto& col = x_.block.col;
  acc.quantity += RowQuantity(m, [&](size_t c) { return col[c].at(row); });
  acc.hours += 1;
  const uint64_t revision = col[kColRevision].at(row);
  if (revision != 0) {
    acc.revised_hours += 1;
    acc.max_revision = std::max(acc.max_revision, revision);
  }
  acc.first_hour = std::min(acc.first_hour, hour);
  acc.last_hour = std::max(acc.last_hour, hour);
}

void RatingScanner::ScanOverlay() {
  const auto& rev = view_.revised;
  const auto& open = view_.open;
  if (rev.empty() && open.empty()) return;
  size_t ri = 0, oi = 0;
  const uint64_t* ids = x_.ids.data();
  const size_t n = x_.ids.size();
  for (size_t k = 0; k < n; ++k) {
    if (ri == rev.size() && oi == open.size()) break;
    uint64_t next = UINT64_MAX;
    if (ri < rev.size()) next = rev[ri].series_id;
    if (oi < open.size()) next = std::min(next, open[oi].series_id);
    if (next > ids[k]) {
      k = static_cast<size_t>(Gallop(ids + k, ids + n, next, std::less<uint64_t>()) - ids);
      if (k == n) break;
    }
    const SeriesEntry& e = x_.series[k];
    const auto key_lo = std::make_pair(e.id, plan_.from);
    const auto key_hi = std::make_pair(e.id, plan_.to);
    ri = static_cast<size_t>(
        Gallop(rev.begin() + static_cast<ptrdiff_t>(ri), rev.end(), key_lo, RowLess) - rev.begin());
    oi = static_cast<size_t>(
        Gallop(open.begin() + static_cast<ptrdiff_t>(oi), open.end(), key_lo, RowLess) -
        open.begin());
    auto in_range = [&](const std::vector<RollupRow>& v, size_t i) {
      return i < v.size() && RowLess(v[i], key_hi);
    };
    while (in_range(rev, ri) || in_range(open, oi)) {
      const RollupRow* row;
      bool is_open;
      if (in_range(open, oi) && (!in_range(rev, ri) || open[oi].hour <= rev[ri].hour)) {
        if (in_range(rev, ri) && rev[ri].hour == open[oi].hour) ++ri;  // the open bucket wins
        row = &open[oi++];
        is_open = true;
      } else {
        row = &rev[ri++];
        is_open = false;
      }
      if (stats_ != nullptr) ++stats_->rows_scanned;
      for (uint32_t mi = e.meter_begin; mi < e.meter_end; ++mi) {
        AddOverlayRow(plan_.meters[mi], *row, is_open);
      }
    }
  }
}

}  // namespace

Status ValidatePlan(const RatingPlan& plan) {
  if (plan.from % kSecondsPerHour != 0 || plan.to % kSecondsPerHour != 0) {
    return Status::InvalidArgument("rating plan: from and to must be whole hours");
  }
  for (size_t i = 0; i < plan.meters.size(); ++i) {
    const Meter& m = plan.meters[i];
    if (i > 0 && m.series_id < plan.meters[i - 1].series_id) {
      return Status::InvalidArgument("rating plan: meters must be sorted by series id");
    }
    if (m.quantity != Quantity::kStateSeconds && m.quantity != Quantity::kGaugeIntegral &&
        m.quantity != Quantity::kCounterIncrease) {
      return Status::InvalidArgument("rating plan: unknown quantity");
    }
    if (static_cast<size_t>(m.first_route) + m.route_count > plan.routes.size()) {
      return Status::InvalidArgument("rating plan: a meter's routes are out of range");
    }
    for (uint32_t r = m.first_route; r < m.first_route + m.route_count; ++r) {
      const Route& x = plan.routes[r];
      if (x.from >= x.to || x.from % kSecondsPerHour != 0 || x.to % kSecondsPerHour != 0) {
        return Status::InvalidArgument("rating plan: a route must be a non-empty range of hours");
      }
      if (r > m.first_route && x.from < plan.routes[r - 1].to) {
        return Status::InvalidArgument("rating plan: a meter's routes must ascend, disjoint");
      }
      if (x.stride % kSecondsPerHour != 0) {
        return Status::InvalidArgument("rating plan: a stride must be a multiple of an hour");
      }
      if (static_cast<uint64_t>(x.slot) + RouteSlots(x) > plan.slots) {
        return Status::InvalidArgument("rating plan: slot out of range");
      }
    }
  }
  return Status::OK();
}

Status ScanRating(const RollupView& view, const RatingPlan& plan, size_t meter_begin,
                  size_t meter_end, SlotTotals* totals, RatingScanStats* stats) {
  METERD_DCHECK(ValidatePlan(plan).ok(), "ScanRating: invalid plan");
  METERD_CHECK(meter_begin <= meter_end && meter_end <= plan.meters.size(),
               "ScanRating: meter range out of bounds");
  thread_local RatingScratch scratch;
  Status st = RatingScanner(view, plan, meter_begin, meter_end, totals, stats, &scratch).Run();
  scratch.Trim();
  return st;
}

uint32_t RouteSlots(const Route& r) {
  if (r.stride == 0) return 1;
  return static_cast<uint32_t>(scan::FloorDiv(r.to - 1, r.stride) -
                               scan::FloorDiv(r.from, r.stride) + 1);
}

uint32_t RouteSlot(const Route& r, int64_t hour) {
  if (r.stride == 0) return r.slot;
  return r.slot +
         static_cast<uint32_t>(scan::FloorDiv(hour, r.stride) - scan::FloorDiv(r.from, r.stride));
}

std::vector<size_t> SplitMeters(const RatingPlan& plan, size_t parts) {
  const size_t n = plan.meters.size();
  if (parts == 0) parts = 1;
  std::vector<uint64_t> cum(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const Meter& m = plan.meters[i];
    uint64_t w = 1;
    for (uint32_t r = m.first_route; r < m.first_route + m.route_count; ++r) {
      const int64_t lo = std::max(plan.from, plan.routes[r].from);
      const int64_t hi = std::min(plan.to, plan.routes[r].to);
      if (hi > lo) w += static_cast<uint64_t>((hi - lo) / kSecondsPerHour);
    }
    cum[i + 1] = cum[i] + w;
  }
  std::vector<size_t> out{0};
  for (size_t p = 1; p < parts; ++p) {
    const uint64_t target = cum[n] * p / parts;
    size_t b = static_cast<size_t>(std::lower_bound(cum.begin(), cum.end(), target) - cum.begin());
    b = std::clamp(b, out.back(), n);
    while (b > out.back() && b < n && plan.meters[b].series_id == plan.meters[b - 1].series_id) {
      ++b;
    }
    out.push_back(b);
  }
  out.push_back(n);
  return out;
}

}  // namespace meterd::query::rating
