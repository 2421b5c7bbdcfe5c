// meterd — query/vector/column_view.h
//
// A read-only view of one decoded uint64 column, with its layout (constant or flat) as a
// template parameter: ColumnView<true> is one value for every row (no array materialised),
// ColumnView<false> a __restrict array. WithColumn picks the layout once per block and column,
// so kernels are instantiated for both and their loops never test it per row (DuckDB's
// ConstantVector / FlatVector split).
//
// Thread-safety: value types. Lifetime: a flat view points into the RollupBlock it came from and
// is valid until that block's next ReadBlock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "storage/rollup.h"

namespace meterd::query {

template <bool kConstant>
struct ColumnView;

template <>
struct ColumnView<true> {
  static constexpr bool kIsConstant = true;
  uint64_t value;
  uint64_t operator[](size_t) const { return value; }
};

template <>
struct ColumnView<false> {
  static constexpr bool kIsConstant = false;
  const uint64_t* __restrict data;
  uint64_t operator[](size_t i) const { return data[i]; }
};

// Calls f(ColumnView<true>) or f(ColumnView<false>) for `c`.
template <typename F>
decltype(auto) WithColumn(const storage::ColumnVector& c, F&& f) {
  if (c.constant) return f(ColumnView<true>{c.value});
  return f(ColumnView<false>{c.data});
}

}  // namespace meterd::query
