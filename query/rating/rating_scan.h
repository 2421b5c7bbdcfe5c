// meterd — query/rating/rating_scan.h
//
// The rating kernels: exact raw quantities of hourly rollups summed into a dense array of
// *slots*, following a RatingPlan that the engine (engine/rating) builds from the tenancy and
// the price book. This layer knows nothing of prices: a slot is an index, and what it stands
// for (a line's slice, a (line, hour) part, unattributed usage) is the caller's business.
//
//   plan.meters (sorted by series)           plan.routes                    totals[slot]
//   ┌──────────────────────────────┐        ┌───────────────────────┐      ┌──────────────┐
//   │ series 17, state, mask {1}   │──────▶ │ [Jan 1, Jan 10 14:00) │ ───▶ │ 0: 1,234,000 │
//   │                              │        │ [Jan 10 14:00, Feb 1) │ ───▶ │ 1:   567,800 │
//   │ series 17, state, mask {2,3} │──────▶ │ [Jan 1, Feb 1)        │ ───▶ │ 2:    36,000 │
//   │ series 42, counter increase  │──────▶ │ [Jan 1, Feb 1) /3600  │ ───▶ │ 3.. one/hour │
//   └──────────────────────────────┘        └───────────────────────┘      └──────────────┘
//
// Which row serves a (series, hour) is the usage scan's rule (query/usage.h): an open bucket
// of the view, else its latest revision, else the sealed file row (hours < sealed_before).
// Each served row adds its quantity to the slot of every meter of its series whose route holds
// the hour: exactly once per meter.
//
// Execution: files and meters are merge-joined by series; each block is decoded with only the
// columns the block's meters need (a counter: 1 value column; an int gauge: 2; a state meter:
// its states'), each series' run is cut to the hour range, a selection vector drops the rows a
// revision or open bucket overrides (only when one falls in the run), and per meter the run
// is split at its routes into groups: then the column kernels of query/scan/usage_kernels.h
// (constant column => value x rows, else a 4-accumulator loop over a __restrict array) add
// each group into its slot. Per block: one decode, per run: one route walk per meter, per
// row: only the kernels' adds. No per-row virtual call, hash lookup or branch on layout.
// Revisions and open rows (few by construction) are added row at a time afterwards.
//
// Quantities (raw units of docs/rollup.md):
//   kStateSeconds     Σ state_seconds[c] over the meter's state_mask (exact, 128-bit)
//   kGaugeIntegral    int gauge: Σ integral (lo, hi), exact 128-bit; float gauge: Σ of each
//                     row's double integral rounded half-even to an integer (negative, NaN ->
//                     0; above 2^64 -> 2^64 - 1), so the sum is exact and order-free
//   kCounterIncrease  Σ increase (exact, 128-bit)
//
// Thread-safety: ScanRating is a pure function of its arguments (it writes only *totals and
// *stats); threads may scan disjoint meter ranges of one plan into separate totals arrays.
// Invariants:
//   1. A (series, hour) is served from exactly one source, and adds to each of its meters'
//      routes at most once; hours outside [plan.from, plan.to) or outside every route of a
//      meter add nothing to that meter.
//   2. Sums are exact (unsigned 128-bit), whatever the block boundaries or thread split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "query/usage.h"
#include "storage/base/status.h"
#include "storage/rollup.h"

namespace meterd::query::rating {

enum class Quantity : uint8_t {
  kStateSeconds = 1,
  kGaugeIntegral = 2,
  kCounterIncrease = 3,
};

// Hours [from, to) of one meter go to `slot` (stride 0), or, with a stride, hour h to
// slot + P(h) - P(from) where P(t) = floor(t / stride) is t's period (stride 3600: one slot
// per hour; 86400: one per UTC day), so a route may start and end inside a period.
// REQUIRES: from < to, both multiples of 3600; stride 0 or a multiple of 3600.
struct Route {
  int64_t from = 0;
  int64_t to = 0;
  uint32_t slot = 0;
  uint32_t stride = 0;  // seconds per slot, 0 = one slot for the whole route
};

// One quantity of one series. REQUIRES: routes[first_route, first_route + route_count) are
// ascending and disjoint; kStateSeconds only for state series, kGaugeIntegral for gauges,
// kCounterIncrease for counters (the kind of the rows is not checked: it is the caller's).
struct Meter {
  uint64_t series_id = 0;
  Quantity quantity = Quantity::kCounterIncrease;
  uint8_t state_mask = 0;  // kStateSeconds: bit c = state code c (0..7)
  storage::ValueType type = storage::ValueType::kInt;
  uint32_t first_route = 0;
  uint32_t route_count = 0;
};

struct RatingPlan {
  std::vector<Meter> meters;  // sorted by series_id; a series may have several meters
  std::vector<Route> routes;
  uint32_t slots = 0;  // every route's slots are < this
  int64_t from = 0;    // hours scanned: [from, to)
  int64_t to = 0;
};

// What one slot accumulated: 64 bytes, aligned to a cache line, so that a slot the scan adds
// into touches one line, not two.
struct alignas(64) SlotTotals {
  unsigned __int128 quantity = 0;  // raw units, exact
  uint32_t hours = 0;              // rows that contributed (a row with quantity 0 counts)
  uint32_t provisional_hours = 0;  // of which open buckets
  uint32_t revised_hours = 0;      // of which revisions (or rows with a nonzero revision)
  uint32_t pad_ = 0;
  uint64_t max_revision = 0;
  int64_t first_hour = std::numeric_limits<int64_t>::max();  // of the contributing rows
  int64_t last_hour = std::numeric_limits<int64_t>::min();

  void Merge(const SlotTotals& o);  // adds another partial total of the same slot
};

struct RatingScanStats {
  uint64_t rows_scanned = 0;  // rows of planned series in blocks read, plus overlay rows
  uint64_t blocks_read = 0;
  std::vector<std::string> damaged;  // blocks that failed verification: not served
};

// Checks the plan's invariants (sorted meters, valid routes and slots, quantities).
Status ValidatePlan(const RatingPlan& plan);

// Adds the usage of meters [meter_begin, meter_end) of `plan` into totals[0..plan.slots)
// (which the caller zeroes or holds partial totals in). REQUIRES: ValidatePlan(plan).ok(),
// meter_begin <= meter_end <= plan.meters.size(), and meters of one series are not split
// between two calls that run on one totals array concurrently. A damaged block is reported
// in stats->damaged and not served; the scan goes on and returns OK.
Status ScanRating(const RollupView& view, const RatingPlan& plan, size_t meter_begin,
                  size_t meter_end, SlotTotals* totals, RatingScanStats* stats = nullptr);

// The number of slots route `r` uses: 1, or the periods it touches.
uint32_t RouteSlots(const Route& r);
// The slot of hour `hour` of route `r`. REQUIRES: r.from <= hour < r.to.
uint32_t RouteSlot(const Route& r, int64_t hour);

// Splits the meters into `parts` ranges of similar work (by routes' hours), never between
// two meters of one series: returns parts + 1 ascending boundaries, the first 0, the last
// plan.meters.size().
std::vector<size_t> SplitMeters(const RatingPlan& plan, size_t parts);

}  // namespace meterd::query::rating
