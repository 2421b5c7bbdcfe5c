// meterd — query/usage.h
//
// Usage scans: per series and per period (hour, day or month, UTC), the quantities a biller
// needs, read from hourly rollups (storage/rollup.h) with vectorised kernels over decoded
// column blocks (query/scan/). A series' hour is read from exactly one place, in this order:
//   1. an open (not yet sealed) bucket, kept in memory by the downsampler: provisional;
//   2. the latest revision of a sealed bucket (late data changed it after sealing);
//   3. the sealed bucket in a rollup file.
// Semantics of the columns per metric kind: docs/rollup.md.
//
// Thread-safety: ScanUsage is a pure function of its arguments; a RollupView is immutable and
// may be scanned by many threads at once.
// Invariants:
//   1. Every (series, hour) contributes to at most one output bucket, exactly once.
//   2. Quantities are summed exactly: integer integrals, increases and seconds in 128-bit or
//      64-bit integers; only float gauges' integrals and sums are doubles.
//   3. Output is sorted by (series_id, start); periods with no hourly row are not output.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/base/status.h"
#include "storage/rollup.h"
#include "storage/sample_batch.h"

namespace meterd::query {

// Same numbering as engine::MetricKind (query sits below engine and cannot include it).
enum class SeriesKind : uint8_t { kGauge = 1, kCounter = 2, kState = 3 };
enum class Granularity : uint8_t { kHour = 1, kDay = 2, kMonth = 3 };

// What a usage query reads, consistent at one moment (built by engine::Downsampler::View).
struct RollupView {
  storage::RollupSnapshot files;            // sealed hours < sealed_before
  std::vector<storage::RollupRow> revised;  // sorted by (series, hour); latest revision each
  std::vector<storage::RollupRow> open;     // sorted by (series, hour); hours >= sealed_before
  int64_t sealed_before = 0;
};

struct UsageSeries {
  uint64_t id = 0;
  SeriesKind kind = SeriesKind::kGauge;
  storage::ValueType type = storage::ValueType::kInt;
};

struct UsageRequest {
  std::vector<UsageSeries> series;  // sorted by id, unique
  int64_t from = 0;                 // hours in [from, to); need not be aligned
  int64_t to = 0;
  Granularity granularity = Granularity::kHour;
};

// One series' usage over one period. Which fields carry meaning depends on the kind:
//   gauge:   count, sum, min, max, last, held_seconds, integral (value x seconds)
//   counter: count, min, max, last, increase, resets
//   state:   count, held_seconds, state_seconds
struct UsageBucket {
  uint64_t series_id = 0;
  int64_t start = 0;   // period start (hour, UTC midnight, or the 1st of the month 00:00 UTC)
  uint32_t hours = 0;  // hourly rows that contributed
  uint32_t provisional_hours = 0;       // of which open (may still change)
  uint32_t revised_hours = 0;           // of which revised after sealing
  uint32_t imported_hours = 0;          // of which backfilled from another system
  uint64_t max_revision = 0;            // highest revision number among them (0: none revised)
  int64_t last_revised_at = 0;          // unix second of the newest revision among them
  uint64_t count = 0;                   // samples
  uint64_t held_seconds = 0;            // gauge/state: seconds covered by holds
  double sum = 0;                       // gauge: sum of sample values (avg = sum / count)
  uint64_t min = 0, max = 0, last = 0;  // bit patterns in the series' value type
  unsigned __int128 int_integral = 0;   // int gauge: value x seconds, exact
  double float_integral = 0;            // float gauge: value x seconds
  unsigned __int128 increase = 0;       // counter
  uint64_t resets = 0;                  // counter
  std::array<uint64_t, storage::kStateSlots> state_seconds{};  // state
};

struct UsageStats {
  uint64_t rows_scanned = 0;  // hourly rows read (files, revisions and open)
  uint64_t blocks_read = 0;
  std::vector<std::string> damaged;  // blocks that failed verification: not served
};

// Appends the buckets of `request` to *out (see the invariants). A damaged block is reported in
// stats->damaged and its rows are not served; the scan goes on and returns OK.
Status ScanUsage(const RollupView& view, const UsageRequest& request, std::vector<UsageBucket>* out,
                 UsageStats* stats = nullptr);

// The start of the period containing unix second `ts`.
int64_t PeriodStart(Granularity g, int64_t ts);

}  // namespace meterd::query
