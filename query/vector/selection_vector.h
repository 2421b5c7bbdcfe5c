// meterd — query/vector/selection_vector.h
//
// Which rows of a decoded block a kernel reads (DuckDB's SelectionVector): either every row of
// a contiguous range [begin, begin + count), or the `count` row indices sel[0..count), ascending.
// A filter builds a selection instead of copying rows; kernels take the choice as a template
// parameter (RowsOf<kSelected>), chosen once per block, so their inner loops carry no branch.
//
// Thread-safety: value types; a SelectionVector is owned by one scan and reused across blocks.
// Invariants: sel indices are strictly ascending and < the block's rows; count <= capacity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace meterd::query {

// The backing store of a selection: grown once to the largest block seen, then reused.
class SelectionVector {
 public:
  // REQUIRES: rows <= UINT32_MAX. Keeps the contents when the capacity suffices.
  void Reserve(size_t rows) {
    if (index_.size() < rows) index_.resize(rows);
  }
  uint32_t* data() { return index_.data(); }
  const uint32_t* data() const { return index_.data(); }
  size_t capacity() const { return index_.size(); }

 private:
  std::vector<uint32_t> index_;
};

// A set of rows as kernels see it. sel == nullptr: the range [begin, begin + count).
struct RowSet {
  const uint32_t* sel = nullptr;
  uint32_t begin = 0;
  uint32_t count = 0;

  bool selected() const { return sel != nullptr; }
  // The block row of position k (0 <= k < count).
  uint32_t row(size_t k) const { return sel ? sel[k] : begin + static_cast<uint32_t>(k); }
};

// The same, with the layout fixed at compile time: row(k) has no branch. Tight loops rebase
// a column once (Rebase(data)) and then index it with Index(k): a range costs no addition per
// row, a selection one indexed load.
template <bool kSelected>
struct RowsOf {
  static constexpr bool kIsSelected = kSelected;
  const uint32_t* __restrict sel;
  uint32_t begin;
  uint32_t row(size_t k) const {
    if constexpr (kSelected) {
      return sel[k];
    } else {
      return begin + static_cast<uint32_t>(k);
    }
  }
  const uint64_t* Rebase(const uint64_t* data) const {
    if constexpr (kSelected) {
      return data;
    } else {
      return data + begin;
    }
  }
  size_t Index(size_t k) const {
    if constexpr (kSelected) {
      return sel[k];
    } else {
      return k;
    }
  }
};

// Calls f(RowsOf<true>) or f(RowsOf<false>) for `rows`: the one branch per block.
template <typename F>
decltype(auto) WithRows(const RowSet& rows, F&& f) {
  if (rows.selected()) return f(RowsOf<true>{rows.sel, 0});
  return f(RowsOf<false>{nullptr, rows.begin});
}

}  // namespace meterd::query
