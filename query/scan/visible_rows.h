// meterd — query/scan/visible_rows.h
//
// What the usage scan and the rating scan share to honour the precedence of query/usage.h (an
// open bucket, then the latest revision, then the sealed file row): a galloping lower bound for
// cursors that move forward, and the selection of a series run's rows that no revised or open
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

// The rows of [begin, end) (one series `id`, ascending hours hour_of(r)) whose hour no revised
// or open row claims, as *rows: the plain range, or a selection in `sel` (three-way merge of the
// run with both override lists). Returns false when every row is overridden.
template <typename HourOf>
bool VisibleRows(const RollupView& view, uint64_t id, uint32_t begin, uint32_t end,
                 HourOf&& hour_of, OverrideCursors* cursors, SelectionVector* sel_buf,
                 uint32_t capacity, RowSet* rows) {
  const int64_t first_hour = hour_of(begin), last_hour = hour_of(end - 1);
  const auto key_lo = std::make_pair(id, first_hour);
  const auto& rev = view.revised;
  const auto& open = view.open;
  size_t r0 = static_cast<size_t>(
      Gallop(rev.begin() + static_cast<ptrdiff_t>(cursors->revised), rev.end(), key_lo, RowLess) -
      rev.begin());
  size_t o0 = static_cast<size_t>(
      Gallop(open.begin() + static_cast<ptrdiff_t>(cursors->open), open.end(), key_lo, RowLess) -
      open.begin());
  cursors->revised = r0;
  cursors->open = o0;
  auto overrides = [&](const std::vector<storage::RollupRow>& v, size_t i) {
    return i < v.size() && v[i].series_id == id && v[i].hour <= last_hour;
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
