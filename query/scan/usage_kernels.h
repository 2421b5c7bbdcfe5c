// meterd — query/scan/usage_kernels.h
//
// The aggregation kernels of the usage scan: one tight loop per column, in DuckDB's executor
// style. A kernel reads one column (ColumnView<kConstant>) at the rows of a RowsOf<kSelected>,
// split into consecutive groups (group g = positions [seg[g], seg[g+1]), one output bucket
// each), and hands each group's result to an `out(g, value)` functor that the compiler inlines.
// The layout of the column and of the rows are template parameters picked once per block and
// column (WithColumn, WithRows), so the loops have no per-row branch, virtual call or lookup;
// a constant column costs O(1) per group (value x rows). Loops keep four independent
// accumulators, so they run at load throughput instead of one add's latency per row. The
// unsigned min / max and the 128-bit sum of a flat range use AVX2 when the CPU has it
// (simd_kernels.h).
//
// Thread-safety: pure functions over caller-owned memory.
// Invariants: every group is non-empty; positions are < the RowSet's count; sums of uint64
// values wrap mod 2^64 exactly as the row-at-a-time sum would; SumU128 is exact.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "query/scan/simd_kernels.h"
#include "query/vector/column_view.h"
#include "query/vector/selection_vector.h"
#include "storage/sample_batch.h"

namespace meterd::query::scan {

// Consecutive groups of positions: group g is [seg[g], seg[g + 1]), for g < n.
struct Groups {
  const uint32_t* seg;
  size_t n;
};

// ---- value orders ----
// Min and max compare keys: uint64 for integer series; for float series the IEEE 754
// totalOrder key of the double (-NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN), so the result
// does not depend on the order rows are combined in (ties of -0/+0 and NaNs included).
struct IntOrder {
  static uint64_t Key(uint64_t v) { return v; }
  static uint64_t Value(uint64_t k) { return k; }
};
struct FloatOrder {
  static uint64_t Key(uint64_t bits) { return (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63); }
  static uint64_t Value(uint64_t k) { return (k >> 63) ? k & ~(uint64_t{1} << 63) : ~k; }
};
inline uint64_t OrderKey(storage::ValueType t, uint64_t v) {
  return t == storage::ValueType::kFloat ? FloatOrder::Key(v) : v;
}

namespace detail {

// Sum of d[rows.row(k)] for k in [lo, hi), four accumulators.
template <bool kSel>
inline uint64_t SumFlat(const uint64_t* data, RowsOf<kSel> rows, size_t lo, size_t hi) {
  const uint64_t* __restrict d = rows.Rebase(data);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t k = lo;
  for (; k + 4 <= hi; k += 4) {
    a0 += d[rows.Index(k)];
    a1 += d[rows.Index(k + 1)];
    a2 += d[rows.Index(k + 2)];
    a3 += d[rows.Index(k + 3)];
  }
  for (; k < hi; ++k) a0 += d[rows.Index(k)];
  return (a0 + a1) + (a2 + a3);
}

// Exact 128-bit sum of uint64 values: two unsigned __int128 accumulators (an add and an
// add-with-carry a value), so two carry chains run in parallel.
template <bool kSel>
inline unsigned __int128 SumFlat128(const uint64_t* data, RowsOf<kSel> rows, size_t lo, size_t hi) {
  const uint64_t* __restrict d = rows.Rebase(data);
  if constexpr (!kSel) {
    if (hi - lo >= simd::kMinRows && simd::Available()) return simd::SumU128(d + lo, hi - lo);
  }
  unsigned __int128 a0 = 0, a1 = 0;
  size_t k = lo;
  for (; k + 2 <= hi; k += 2) {
    a0 += d[rows.Index(k)];
    a1 += d[rows.Index(k + 1)];
  }
  if (k < hi) a0 += d[rows.Index(k)];
  return a0 + a1;
}

template <bool kSel>
inline double SumFlatF64(const uint64_t* data, RowsOf<kSel> rows, size_t lo, size_t hi) {
  const uint64_t* __restrict d = rows.Rebase(data);
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t k = lo;
  for (; k + 4 <= hi; k += 4) {
    a0 += storage::BitsToDouble(d[rows.Index(k)]);
    a1 += storage::BitsToDouble(d[rows.Index(k + 1)]);
    a2 += storage::BitsToDouble(d[rows.Index(k + 2)]);
    a3 += storage::BitsToDouble(d[rows.Index(k + 3)]);
  }
  for (; k < hi; ++k) a0 += storage::BitsToDouble(d[rows.Index(k)]);
  return (a0 + a1) + (a2 + a3);
}

// Max (kMax) or min of Order::Key(d[row]) over [lo, hi); with kGated only rows whose count
// c[row] != 0 take part (the others contribute the identity, branch-free).
template <typename Order, bool kMax, bool kGated, bool kSel>
inline uint64_t ExtremeFlat(const uint64_t* count, const uint64_t* data, RowsOf<kSel> rows,
                            size_t lo, size_t hi) {
  constexpr uint64_t kIdentity = kMax ? 0 : ~uint64_t{0};
  const uint64_t* __restrict d = rows.Rebase(data);
  if constexpr (!kGated && !kSel && std::is_same_v<Order, IntOrder>) {
    if (hi - lo >= simd::kMinRows && simd::Available()) {
      return kMax ? simd::MaxU64(d + lo, hi - lo) : simd::MinU64(d + lo, hi - lo);
    }
  }
  const uint64_t* __restrict c = kGated ? rows.Rebase(count) : nullptr;
  auto key = [&](size_t k) {
    const size_t r = rows.Index(k);
    const uint64_t v = Order::Key(d[r]);
    if constexpr (kGated) {
      const uint64_t valid = uint64_t{0} - static_cast<uint64_t>(c[r] != 0);  // all ones or 0
      return kMax ? (v & valid) : (v | ~valid);
    } else {
      return v;
    }
  };
  auto pick = [](uint64_t a, uint64_t b) { return kMax ? std::max(a, b) : std::min(a, b); };
  uint64_t a0 = kIdentity, a1 = kIdentity, a2 = kIdentity, a3 = kIdentity;
  size_t k = lo;
  for (; k + 4 <= hi; k += 4) {
    a0 = pick(a0, key(k));
    a1 = pick(a1, key(k + 1));
    a2 = pick(a2, key(k + 2));
    a3 = pick(a3, key(k + 3));
  }
  for (; k < hi; ++k) a0 = pick(a0, key(k));
  return pick(pick(a0, a1), pick(a2, a3));
}

}  // namespace detail

// out(g, uint64 sum) for every group; a constant column costs value x rows.
template <typename Col, typename Rows, typename Out>
inline void SumU64(Col col, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, col.value * (hi - lo));
    } else {
      out(g, detail::SumFlat(col.data, rows, lo, hi));
    }
  }
}

// out(g, exact unsigned 128-bit sum).
template <typename Col, typename Rows, typename Out>
inline void SumU128(Col col, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, static_cast<unsigned __int128>(col.value) * (hi - lo));
    } else {
      out(g, detail::SumFlat128(col.data, rows, lo, hi));
    }
  }
}

// out(g, sum of the doubles whose bit patterns the column holds). The order of additions is
// not the rows' order (four partial sums; value x rows for a constant column).
template <typename Col, typename Rows, typename Out>
inline void SumF64(Col col, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, storage::BitsToDouble(col.value) * static_cast<double>(hi - lo));
    } else {
      out(g, detail::SumFlatF64(col.data, rows, lo, hi));
    }
  }
}

// out(g, max over the group of the column read as int64).
template <typename Col, typename Rows, typename Out>
inline void MaxI64(Col col, Rows rows, Groups groups, Out&& out) {
  struct SignedOrder {
    static uint64_t Key(uint64_t v) { return v ^ (uint64_t{1} << 63); }
  };
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, static_cast<int64_t>(col.value));
    } else {
      const uint64_t k =
          detail::ExtremeFlat<SignedOrder, true, false>(nullptr, col.data, rows, lo, hi);
      out(g, static_cast<int64_t>(k ^ (uint64_t{1} << 63)));
    }
  }
}

// out(g, max over the group, unsigned).
template <typename Col, typename Rows, typename Out>
inline void MaxU64(Col col, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, col.value);
    } else {
      out(g, detail::ExtremeFlat<IntOrder, true, false>(nullptr, col.data, rows, lo, hi));
    }
  }
}

// out(g, number of rows whose value has a bit of `bits` set).
template <typename Col, typename Rows, typename Out>
inline void CountAny(Col col, uint64_t bits, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, (col.value & bits) != 0 ? hi - lo : 0u);
    } else {
      const uint64_t* __restrict d = rows.Rebase(col.data);
      uint32_t n = 0;
      for (size_t k = lo; k < hi; ++k) n += (d[rows.Index(k)] & bits) != 0;
      out(g, n);
    }
  }
}

// out(g, min or max value) over the rows of each group with samples (count != 0), compared in
// Order. The caller skips groups without samples (their result is the identity) and calls
// this only when the count column is not constant 0; with a constant count every row counts.
template <typename Order, bool kMax, typename CountCol, typename Col, typename Rows, typename Out>
inline void Extreme(CountCol count, Col col, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, col.value);
    } else if constexpr (CountCol::kIsConstant) {
      out(g,
          Order::Value(detail::ExtremeFlat<Order, kMax, false>(nullptr, col.data, rows, lo, hi)));
    } else {
      out(g,
          Order::Value(detail::ExtremeFlat<Order, kMax, true>(count.data, col.data, rows, lo, hi)));
    }
  }
}

// out(g, row) for the group's newest row with samples (rows ascend by hour), if it has one.
template <typename CountCol, typename Rows, typename Out>
inline void LastWithSamples(CountCol count, Rows rows, Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (CountCol::kIsConstant) {
      if (count.value != 0) out(g, rows.row(hi - 1));
    } else {
      for (uint32_t k = hi; k > lo; --k) {
        const uint32_t r = rows.row(k - 1);
        if (count.data[r] != 0) {
          out(g, r);
          break;
        }
      }
    }
  }
}

}  // namespace meterd::query::scan
