// meterd — query/rating/rating_kernels.h
//
// The per-group column kernels of the rating scan that query/scan/usage_kernels.h does not
// already have, in its style: a column view (constant / flat) and a row set (range /
// selection) as template parameters chosen once per block, consecutive groups of positions,
// and an inlined out(g, value) functor.
//
//   SumRoundedU128   Σ of each row's double rounded half-even to an unsigned integer
//                    (negative, -0 and NaN -> 0; >= 2^64 -> 2^64 - 1): exact and independent
//                    of the order rows are added in, unlike a double sum. Float gauges'
//                    integrals are rated this way (docs/rating.md, "Units").
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "query/scan/usage_kernels.h"
#include "storage/sample_batch.h"

namespace meterd::query::rating {

// The unsigned integer nearest the double with bits `bits` (ties to even), clamped to
// [0, 2^64 - 1]; 0 for NaN.
inline uint64_t RoundedUnsigned(uint64_t bits) {
  const double x = storage::BitsToDouble(bits);
  if (!(x > 0.5)) return 0;  // NaN, negatives, zeros and (0, 0.5] round to 0
  if (x >= 18446744073709551616.0) return ~uint64_t{0};  // 2^64
  return static_cast<uint64_t>(std::nearbyint(x));       // default rounding mode: to nearest even
}

template <typename Col, typename Rows, typename Out>
inline void SumRoundedU128(Col col, Rows rows, scan::Groups groups, Out&& out) {
  for (size_t g = 0; g < groups.n; ++g) {
    const uint32_t lo = groups.seg[g], hi = groups.seg[g + 1];
    if constexpr (Col::kIsConstant) {
      out(g, static_cast<unsigned __int128>(RoundedUnsigned(col.value)) * (hi - lo));
    } else {
      const uint64_t* __restrict d = rows.Rebase(col.data);
      unsigned __int128 a0 = 0, a1 = 0;
      size_t k = lo;
      for (; k + 2 <= hi; k += 2) {
        a0 += RoundedUnsigned(d[rows.Index(k)]);
        a1 += RoundedUnsigned(d[rows.Index(k + 1)]);
      }
      for (; k < hi; ++k) a0 += RoundedUnsigned(d[rows.Index(k)]);
      out(g, a0 + a1);
    }
  }
}

}  // namespace meterd::query::rating
