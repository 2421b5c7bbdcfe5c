// meterd — query/scan/usage_bucket.cc: partial buckets and the per-kind kernel plan
// (query/scan/usage_bucket.h).
#include "query/scan/usage_bucket.h"

#include <algorithm>

namespace meterd::query::scan {

using storage::BitsToDouble;
using storage::ColumnBit;
using storage::ColumnMask;
using storage::ColumnVector;
using storage::RollupBlock;
using storage::RollupRow;
using storage::ValueType;
using namespace storage;  // the kCol* column names

ColumnMask KindMask(SeriesKind kind) {
  ColumnMask m = ColumnBit(kColCount) | ColumnBit(kColRevision) | ColumnBit(kColRevisedAt) |
                 ColumnBit(kColFlags);
  switch (kind) {
    case SeriesKind::kGauge:
      m |= ColumnBit(kColHeld) | ColumnBit(kColSum) | ColumnBit(kColMin) | ColumnBit(kColMax) |
           ColumnBit(kColLast) | ColumnBit(kColIntegralLo) | ColumnBit(kColIntegralHi);
      break;
    case SeriesKind::kCounter:
      m |= ColumnBit(kColMin) | ColumnBit(kColMax) | ColumnBit(kColLast) | ColumnBit(kColIncrease) |
           ColumnBit(kColResets);
      break;
    case SeriesKind::kState:
      m |= ColumnBit(kColHeld);
      for (size_t i = 0; i < kStateSlots; ++i) m |= 1u << (kColState0 + i);
      break;
  }
  return m;
}

void RowBucket(const UsageSeries& s, const RollupRow& row, RowSource source, UsageBucket* b,
               int64_t* last_hour) {
  const auto& c = row.col;
  b->hours = 1;
  b->provisional_hours = source == RowSource::kOpen ? 1 : 0;
  b->revised_hours = (source == RowSource::kRevised || c[kColRevision] != 0) ? 1 : 0;
  b->imported_hours = (c[kColFlags] & kRowImported) != 0 ? 1 : 0;
  b->max_revision = c[kColRevision];
  b->last_revised_at = std::max<int64_t>(0, static_cast<int64_t>(c[kColRevisedAt]));
  b->count = c[kColCount];
  *last_hour = kNoHour;
  const bool samples = c[kColCount] != 0;
  if (samples && s.kind != SeriesKind::kState) {
    b->min = c[kColMin];
    b->max = c[kColMax];
    b->last = c[kColLast];
    *last_hour = row.hour;
  }
  switch (s.kind) {
    case SeriesKind::kGauge:
      b->held_seconds = c[kColHeld];
      b->sum = BitsToDouble(c[kColSum]);
      if (s.type == ValueType::kFloat) {
        b->float_integral = BitsToDouble(c[kColIntegralLo]);
      } else {
        b->int_integral =
            (static_cast<unsigned __int128>(c[kColIntegralHi]) << 64) | c[kColIntegralLo];
      }
      break;
    case SeriesKind::kCounter:
      b->increase = c[kColIncrease];
      b->resets = c[kColResets];
      break;
    case SeriesKind::kState:
      b->held_seconds = c[kColHeld];
      for (size_t i = 0; i < kStateSlots; ++i) b->state_seconds[i] = c[kColState0 + i];
      break;
  }
}

void MergeBucket(const UsageSeries& s, const UsageBucket& src, int64_t src_last_hour,
                 UsageBucket* dst, int64_t* dst_last_hour) {
  if (src.count != 0 && s.kind != SeriesKind::kState) {
    if (dst->count == 0) {
      dst->min = src.min;
      dst->max = src.max;
    } else {
      if (OrderKey(s.type, src.min) < OrderKey(s.type, dst->min)) dst->min = src.min;
      if (OrderKey(s.type, src.max) > OrderKey(s.type, dst->max)) dst->max = src.max;
    }
  }
  if (src_last_hour > *dst_last_hour) {
    dst->last = src.last;
    *dst_last_hour = src_last_hour;
  }
  dst->hours += src.hours;
  dst->provisional_hours += src.provisional_hours;
  dst->revised_hours += src.revised_hours;
  dst->imported_hours += src.imported_hours;
  dst->max_revision = std::max(dst->max_revision, src.max_revision);
  dst->last_revised_at = std::max(dst->last_revised_at, src.last_revised_at);
  dst->count += src.count;
  dst->held_seconds += src.held_seconds;
  dst->sum += src.sum;
  dst->int_integral += src.int_integral;
  dst->float_integral += src.float_integral;
  dst->increase += src.increase;
  dst->resets += src.resets;
  for (size_t i = 0; i < kStateSlots; ++i) dst->state_seconds[i] += src.state_seconds[i];
}

namespace {

// One column's kernel, with the column's layout resolved; a constant 0 column adds nothing.
template <typename Kernel>
void Sum(const ColumnVector& col, Kernel&& kernel) {
  if (col.constant && col.value == 0) return;
  WithColumn(col, kernel);
}

template <typename Order, typename Rows>
void MinMaxLast(const RollupBlock& block, Rows rows, Groups groups, UsageBucket* dst,
                int64_t* last_hour) {
  const ColumnVector& count = block.col[kColCount];
  if (count.constant && count.value == 0) return;  // no row has samples
  WithColumn(count, [&](auto cnt) {
    WithColumn(block.col[kColMin], [&](auto v) {
      Extreme<Order, false>(cnt, v, rows, groups, [&](size_t g, uint64_t x) {
        if (dst[g].count != 0) dst[g].min = x;
      });
    });
    WithColumn(block.col[kColMax], [&](auto v) {
      Extreme<Order, true>(cnt, v, rows, groups, [&](size_t g, uint64_t x) {
        if (dst[g].count != 0) dst[g].max = x;
      });
    });
    const ColumnVector& last = block.col[kColLast];
    const ColumnVector& hour = block.hour;
    LastWithSamples(cnt, rows, groups, [&](size_t g, uint32_t r) {
      dst[g].last = last.at(r);
      last_hour[g] = static_cast<int64_t>(hour.at(r));
    });
  });
}

template <typename Rows>
void AggregateKind(const UsageSeries& s, const RollupBlock& block, Rows rows, Groups groups,
                   UsageBucket* dst, int64_t* last_hour) {
  const auto& col = block.col;
  for (size_t g = 0; g < groups.n; ++g) dst[g].hours = groups.seg[g + 1] - groups.seg[g];
  // Columns every kind has. Revision columns are constant 0 in nearly every block.
  Sum(col[kColCount],
      [&](auto v) { SumU64(v, rows, groups, [&](size_t g, uint64_t x) { dst[g].count = x; }); });
  Sum(col[kColRevision], [&](auto v) {
    CountAny(v, ~uint64_t{0}, rows, groups,
             [&](size_t g, uint32_t x) { dst[g].revised_hours = x; });
    MaxU64(v, rows, groups, [&](size_t g, uint64_t x) { dst[g].max_revision = x; });
  });
  Sum(col[kColRevisedAt], [&](auto v) {
    MaxI64(v, rows, groups,
           [&](size_t g, int64_t x) { dst[g].last_revised_at = std::max<int64_t>(0, x); });
  });
  Sum(col[kColFlags], [&](auto v) {
    CountAny(v, kRowImported, rows, groups,
             [&](size_t g, uint32_t x) { dst[g].imported_hours = x; });
  });
  switch (s.kind) {
    case SeriesKind::kGauge: {
      Sum(col[kColHeld], [&](auto v) {
        SumU64(v, rows, groups, [&](size_t g, uint64_t x) { dst[g].held_seconds = x; });
      });
      Sum(col[kColSum],
          [&](auto v) { SumF64(v, rows, groups, [&](size_t g, double x) { dst[g].sum = x; }); });
      if (s.type == ValueType::kFloat) {
        MinMaxLast<FloatOrder>(block, rows, groups, dst, last_hour);
        Sum(col[kColIntegralLo], [&](auto v) {
          SumF64(v, rows, groups, [&](size_t g, double x) { dst[g].float_integral = x; });
        });
      } else {
        MinMaxLast<IntOrder>(block, rows, groups, dst, last_hour);
        Sum(col[kColIntegralLo], [&](auto v) {
          SumU128(v, rows, groups, [&](size_t g, unsigned __int128 x) { dst[g].int_integral = x; });
        });
        Sum(col[kColIntegralHi], [&](auto v) {
          SumU64(v, rows, groups, [&](size_t g, uint64_t x) {
            dst[g].int_integral += static_cast<unsigned __int128>(x) << 64;
          });
        });
      }
      break;
    }
    case SeriesKind::kCounter:
      if (s.type == ValueType::kFloat) {
        MinMaxLast<FloatOrder>(block, rows, groups, dst, last_hour);
      } else {
        MinMaxLast<IntOrder>(block, rows, groups, dst, last_hour);
      }
      Sum(col[kColIncrease], [&](auto v) {
        SumU128(v, rows, groups, [&](size_t g, unsigned __int128 x) { dst[g].increase = x; });
      });
      Sum(col[kColResets], [&](auto v) {
        SumU64(v, rows, groups, [&](size_t g, uint64_t x) { dst[g].resets = x; });
      });
      break;
    case SeriesKind::kState:
      Sum(col[kColHeld], [&](auto v) {
        SumU64(v, rows, groups, [&](size_t g, uint64_t x) { dst[g].held_seconds = x; });
      });
      for (size_t i = 0; i < kStateSlots; ++i) {
        Sum(col[kColState0 + i], [&](auto v) {
          SumU64(v, rows, groups, [&](size_t g, uint64_t x) { dst[g].state_seconds[i] = x; });
        });
      }
      break;
  }
}

}  // namespace

void AggregateGroups(const UsageSeries& s, const RollupBlock& block, const RowSet& rows,
                     Groups groups, UsageBucket* dst, int64_t* last_hour) {
  WithRows(rows, [&](auto r) { AggregateKind(s, block, r, groups, dst, last_hour); });
}

}  // namespace meterd::query::scan
