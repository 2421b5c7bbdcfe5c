// meterd — query/scan/usage_bucket.h
//
// Combining partial usage buckets, and the per-kind choices of the scan: which rollup columns a
// kind needs (the ReadBlock mask), how one hourly row becomes a bucket, how two partial buckets
// of the same (series, period) merge, and the vectorised aggregation of a block's rows.
//
// A partial bucket travels with `last_hour`: the hour of its newest row with samples (count
// != 0), or kNoHour; merging keeps the `last` of the newer one, so `last` is the last in time
// order whichever source (file, revision, open bucket) each hour came from.
//
// Semantics (mirrored by the reference in tests/query/usage_scan_test.cc):
//   * hours, provisional/revised/imported hours: rows; a row is revised if it came from the
//     view's revisions or its revision column is nonzero; imported if flags & kRowImported;
//   * max_revision = max of the revision column; last_revised_at = max(0, revised_at column);
//   * count summed; min/max/last only over rows with count != 0 (a held-only row has none);
//     min/max compare uint64 for int series, IEEE totalOrder for float series;
//   * gauge: held, sum (double), integral (int: 128-bit lo/hi; float: double in lo);
//     counter: increase (128-bit), resets; state: held and the state slots. Fields a kind does
//     not use stay 0 (their columns are not even decoded).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <limits>

#include "query/scan/usage_kernels.h"
#include "query/usage.h"
#include "query/vector/selection_vector.h"
#include "storage/rollup.h"

namespace meterd::query::scan {

constexpr int64_t kNoHour = std::numeric_limits<int64_t>::min();

// Columns a series of `kind` needs from a rollup block.
storage::ColumnMask KindMask(SeriesKind kind);

enum class RowSource : uint8_t { kFile, kRevised, kOpen };

// The bucket of one hourly row (series_id and start set by the caller's period), and the row's
// hour as *last_hour when it has samples (else kNoHour).
void RowBucket(const UsageSeries& s, const storage::RollupRow& row, RowSource source,
               UsageBucket* b, int64_t* last_hour);

// Adds `src` (same series and start) into *dst.
void MergeBucket(const UsageSeries& s, const UsageBucket& src, int64_t src_last_hour,
                 UsageBucket* dst, int64_t* dst_last_hour);

// Aggregates the rows `rows` of one series of `block`, split into `groups`, into dst[g]
// (zeroed, keys set by the caller), and last_hour[g] (set to kNoHour by the caller).
void AggregateGroups(const UsageSeries& s, const storage::RollupBlock& block, const RowSet& rows,
                     Groups groups, UsageBucket* dst, int64_t* last_hour);

}  // namespace meterd::query::scan
