// meterd — query/scan/visible_rows.h
//
// What the usage scan and the rating scan share: a block's hour column read in any of its
// layouts (HourColumn), a series run cut to an hour range (CutRunToHours), the next position
// past a period boundary (NextPosition), and, to honour the precedence of query/usage.h (an
// open bucket, then the latest revision, then the sealed file row), a galloping lower bound for
// cursors that move forward and the selection of a series run's rows that no revised or open
// row overrides. Usually nothing overrides a run, and it stays a plain range.
//
// Thread-safety: pure functions; callers own the cursors and the selection buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "query/usage.h"
#include "query/vector/selection_vector.h"

namespace meterd::query {

// A block's hour column (storage::ColumnVector): constant (every row `first`), linear (row r
// is first + r * step; a month block has no array) or flat (`data`).
struct HourColumn {
  explicit HourColumn(const storage::ColumnVector& hv)
      : constant(hv.constant),
        data(reinterpret_cast<const int64_t*>(hv.data)),
        first(static_cast<int64_t>(hv.value)),
        step(static_cast<int64_t>(hv.step)) {}
  int64_t operator()(uint32_t r) const {
    if (constant) return first;
    return data != nullptr ? data[r] : first + static_cast<int64_t>(r) * step;
  }
  bool constant;
  const int64_t* data;  // flat only
  int64_t first, step;
};

// First position in [b, e) whose hour is >= t (e when none), by binary search over ascending
// hours hour_at(r).
template <typename HourAt>
inline uint32_t FirstHourAtOrAfter(HourAt&& hour_at, uint32_t b, uint32_t e, int64_t t) {
  while (b < e) {
    const uint32_t m = b + (e - b) / 2;
    if (hour_at(m) < t) {
      b = m + 1;
    } else {
      e = m;
    }
  }
  return b;
}

// Cuts the run [*begin, *end) of ascending hours to those in [lo, hi) by binary search.
// Returns false when none is left.
inline bool CutRunToHours(const HourColumn& hours, int64_t lo, int64_t hi, uint32_t* begin,
                          uint32_t* end) {
  if (hours.constant) return hours.first >= lo && hours.first < hi && *begin < *end;
  if (hours(*begin) < lo) *begin = FirstHourAtOrAfter(hours, *begin, *end, lo);
  if (*begin < *end && hours(*end - 1) >= hi) *end = FirstHourAtOrAfter(hours, *begin, *end, hi);
  return *begin < *end;
}

// First position in [p, count) whose hour is >= t, given hour_at(p) < t. Hours ascend by at
// least 3600, so the answer is at most p + ceil((t - hour_at(p)) / 3600): guessed first (exact
// when the hours are consecutive, as in a month block), else a bounded binary search.
template <typename HourAt>
inline uint32_t NextPosition(uint32_t p, uint32_t count, int64_t t, HourAt hour_at) {
  const int64_t ahead = (t - hour_at(p) + storage::kSecondsPerHour - 1) / storage::kSecondsPerHour;
  const uint32_t r = static_cast<uint32_t>(std::min<int64_t>(p + ahead, count));
  if (r < count && hour_at(r) >= t && hour_at(r - 1) < t) return r;
  if (r == count && hour_at(count - 1) < t) return count;
  return FirstHourAtOrAfter(hour_at, p + 1, r, t);
}

// First position in [first, last) whose element is not less than `key` (as std::lower_bound),
// found by galloping from `first`: O(log distance), so a cursor that moves forward in small
// steps costs little per step and a big jump costs a binary search.
template <typename It, typename Key, typename Less>
It Gallop(It first, It last, const Key& key, Less less) {
  size_t step = 1;
  It lo = first;
  while (true) {
    const size_t remaining = static_cast<size_t>(last - lo);
    if (remaining <= step) return std::lower_bound(lo, last, key, less);
    It probe = lo + step;
    if (!less(*(probe - 1), key)) return std::lower_bound(lo, probe, key, less);
    lo = probe;
    step *= 2;
  }
}

inline bool RowLess(const storage::RollupRow& r, const std::pair<uint64_t, int64_t>& key) {
  return r.series_id < key.first || (r.series_id == key.first && r.hour < key.second);
}

// Positions in view.revised and view.open; runs are visited in ascending (series, hour).
struct OverrideCursors {
  size_t revised = 0;
  size_t open = 0;
};

// The positions in view.revised and view.open of the first rows at or after (id, hour), found
// by galloping forward from `from`.
inline OverrideCursors SeekOverrides(const RollupView& view, uint64_t id, int64_t hour,
                                     const OverrideCursors& from) {
  const auto key = std::make_pair(id, hour);
  auto seek = [&key](const std::vector<storage::RollupRow>& v, size_t i) {
    return static_cast<size_t>(
        Gallop(v.begin() + static_cast<ptrdiff_t>(i), v.end(), key, RowLess) - v.begin());
  };
  return OverrideCursors{seek(view.revised, from.revised), seek(view.open, from.open)};
}

// Whether v[i] is a row of series `id` at or before `last_hour` (for i from SeekOverrides: a
// row that overrides an hour of the run).
inline bool OverridesRun(const std::vector<storage::RollupRow>& v, size_t i, uint64_t id,
                         int64_t last_hour) {
  return i < v.size() && v[i].series_id == id && v[i].hour <= last_hour;
}

// Whether a revised or open row of series `id` falls in hours [first_hour, last_hour]. The
// cursors do not move.
inline bool AnyOverride(const RollupView& view, uint64_t id, int64_t first_hour, int64_t last_hour,
                        const OverrideCursors& cursors) {
  const OverrideCursors at = SeekOverrides(view, id, first_hour, cursors);
  return OverridesRun(view.revised, at.revised, id, last_hour) ||
         OverridesRun(view.open, at.open, id, last_hour);
}

// The rows of [begin, end) (one series `id`, ascending hours hour_of(r)) whose hour no revised
// or open row claims, as *rows: the plain range, or a selection in `sel` (three-way merge of the
// run with both override lists). Returns false when every row is overridden.
template <typename HourOf>
bool VisibleRows(const RollupView& view, uint64_t id, uint32_t begin, uint32_t end,
                 HourOf&& hour_of, OverrideCursors* cursors, SelectionVector* sel_buf,
                 uint32_t capacity, RowSet* rows) {
  const int64_t first_hour = hour_of(begin), last_hour = hour_of(end - 1);
  const auto& rev = view.revised;
  const auto& open = view.open;
  *cursors = SeekOverrides(view, id, first_hour, *cursors);
  size_t r0 = cursors->revised, o0 = cursors->open;
  auto overrides = [&](const std::vector<storage::RollupRow>& v, size_t i) {
    return OverridesRun(v, i, id, last_hour);
  };
  *rows = RowSet{nullptr, begin, end - begin};
  if (!overrides(rev, r0) && !overrides(open, o0)) return true;
  sel_buf->Reserve(capacity);
  uint32_t* sel = sel_buf->data();
  uint32_t n = 0;
  for (uint32_t r = begin; r < end; ++r) {
    const int64_t hour = hour_of(r);
    while (overrides(rev, r0) && rev[r0].hour < hour) ++r0;
    while (overrides(open, o0) && open[o0].hour < hour) ++o0;
    const bool hidden = (overrides(rev, r0) && rev[r0].hour == hour) ||
                        (overrides(open, o0) && open[o0].hour == hour);
    sel[n] = r;
    n += hidden ? 0 : 1;
  }
  if (n == 0) return false;
  *rows = RowSet{sel, 0, n};
  return true;
}

}  // namespace meterd::query
