// meterd — engine/downsample/bucket.h
//
// The arithmetic of an hourly bucket (DESIGN.md section 4, docs/rollup.md), shared by the
// incremental downsampler and by the recomputation from raw samples, so both produce the same
// bits for the same samples:
//   * every sample adds its own statistics (count, first/last second, sum, min, max, last) to
//     the bucket of its hour;
//   * a gauge or state sample holds its value from its second until the next sample, for at
//     most `staleness` seconds; the held seconds are split at hour boundaries and credited to
//     each hour (gauge: integral += value x seconds; state: seconds of that state);
//   * a counter's delta between consecutive samples (any decrease is a reset: the new value is
//     the increase since the reset) belongs to the hour of the later sample; an hour's increase
//     saturates at 2^64 - 1 and flags the row kRowIncreaseSaturated, never wrapping.
// A hold is credited piecewise, one piece per hour, in ascending time, in both paths, so float
// sums and integrals add in the same order and compare bit for bit.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/catalog.h"
#include "storage/rollup.h"
#include "storage/sample_batch.h"

namespace meterd::engine {

// Bits 32..63 of an imported row's flags (the rollup `flags` column, docs/format-rollup.md):
// the id of the import that wrote it (`meterctl backfill`, import_journal.h), so a rollback
// restores only buckets that still hold that import's row. 0: no id (imported before ids
// existed). Usage and rating read only bits 0..2; SameBucket ignores these bits (the same
// usage imported again under another id is unchanged), and a bucket recomputed from raw
// samples drops them with the imported bit.
inline constexpr int kRowImportIdShift = 32;
inline constexpr uint64_t kRowImportIdMask = ~uint64_t{0} << kRowImportIdShift;
constexpr uint64_t RowImportId(uint64_t flags) { return flags >> kRowImportIdShift; }
constexpr uint64_t RowImportIdFlags(uint64_t import_id) {
  return (import_id << kRowImportIdShift) & kRowImportIdMask;
}

struct SeriesShape {
  MetricKind kind = MetricKind::kGauge;
  storage::ValueType type = storage::ValueType::kInt;
};

struct RawSample {
  int64_t ts;
  uint64_t value;
  bool operator==(const RawSample&) const = default;
};

// Adds one sample's own statistics to `row`, the bucket of HourOf(ts).
void AddSampleStats(const SeriesShape& shape, int64_t ts, uint64_t value, storage::RollupRow* row);

// Credits `value` held for `seconds` (inside row->hour's hour) to `row`.
void CreditHold(const SeriesShape& shape, uint64_t value, int64_t seconds, storage::RollupRow* row);

// A counter's increase from `prev` to `cur`; any decrease is a reset (the increase is `cur`).
// With 64-bit values a wrap past 2^64 cannot be told from a reset, so it is one.
inline uint64_t CounterDelta(uint64_t prev, uint64_t cur, bool* reset) {
  *reset = cur < prev;
  return *reset ? cur : cur - prev;
}
// Adds the delta to row's increase (saturating at 2^64 - 1 with kRowIncreaseSaturated set in
// its flags) and counts a reset.
void AddCounterDelta(uint64_t prev, uint64_t cur, storage::RollupRow* row);

// True when the row carries nothing (no sample, no held second): such rows are never stored.
bool RowIsEmpty(const storage::RollupRow& row);
// Equal buckets, ignoring the revision columns and the kRowRebuilt flag (which says only who
// computed the bucket: a rebuild equal to a late-data revision changes nothing).
bool SameBucket(const storage::RollupRow& a, const storage::RollupRow& b);

// The buckets of hours [from_hour, to_hour] of one series recomputed from its raw samples.
//   samples: ascending, one per second; they must include every sample in
//            [from_hour - staleness, to_hour + 3600 + staleness) and, for a counter, the last
//            sample before from_hour (at any distance) if there is one.
//   series_last_ts: the series' newest sample time in the store. A sample with a successor
//            (in `samples`, or because it is older than series_last_ts) holds until
//            min(successor, ts + staleness); the newest sample of all has no successor yet, and
//            its hold is credited only through `sealed_before` (the downsampler credits the
//            rest when the next sample arrives or when the hour is sealed).
// Returns the non-empty buckets, ascending by hour, with series_id set.
std::vector<storage::RollupRow> ComputeBuckets(uint64_t series_id, const SeriesShape& shape,
                                               std::span<const RawSample> samples,
                                               int64_t staleness, int64_t sealed_before,
                                               int64_t series_last_ts, int64_t from_hour,
                                               int64_t to_hour);

}  // namespace meterd::engine
