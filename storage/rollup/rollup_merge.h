// meterd — storage/rollup/rollup_merge.h
//
// The merge step of RollupStore::MergeParts: streams the rows of several rollup files, each
// sorted by (series, hour), into one writer in (series, hour) order. It keeps one decoded block
// per input (at most 25 x 4096 x 8 bytes, usually far less since constant columns are not
// materialised), so memory is bounded by the number of inputs, not by the month's size.
//
// Thread-safety: a pure function of its inputs (readers are immutable).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "storage/rollup.h"

namespace meterd::storage::rollup {

// REQUIRES: no two inputs share a (series, hour) key. Inputs should be in ascending hour order
// (the month file first, then the parts): each series' rows then come out already sorted; they
// are sorted anyway if not. A block failing verification stops the merge with its Corruption.
// `overrides` (sorted by (series, hour), unique keys; may be empty) are rows that replace the
// inputs' row of the same key, or are added where the inputs have none: the revisions folded
// into a month (RollupStore::FoldRevisions).
Status MergeInto(const std::vector<std::shared_ptr<const RollupFileReader>>& inputs,
                 std::span<const RollupRow> overrides, RollupFileWriter* writer);

}  // namespace meterd::storage::rollup
