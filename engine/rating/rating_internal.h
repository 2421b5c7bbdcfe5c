// meterd — engine/rating/rating_internal.h
//
// Internals of the RatingEngine (engine/rating/rating_engine.h), shared by its five files:
//   rating_engine.cc  Create, Rate / ReRate orchestration, threads, text helpers;
//   rating_plan.cc    BuildPlan: series x resource versions x price versions -> meters,
//                     routes and slots (query/rating/rating_scan.h), lines and groups;
//   rating_price.cc   Price: slots -> pricebook::PriceMonth per (account, product, month),
//                     accrual of parts, fees, unrated usage, groups and totals;
//   rating_month.cc   MonthToDate and AccrueMonth, the pricing of RateMonthToDate;
//   rating_plan_cache.cc  the plan a month-to-date state keeps for its next window.
//
// Identifiers: tenancy indices (positions in the Tenancy's sorted vectors) for resources,
// projects and accounts; `product_key` a dense number per product id (stable across price
// book versions, which keep a product id's meaning); `month` an index into Work::months.
// Thread-safety: EngineData is immutable after Create; a Work, and the Buffers it borrows from
// the engine for the call, belong to one Rate call.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "engine/rating/month_to_date.h"
#include "engine/rating/rating_engine.h"
#include "query/rating/rating_scan.h"
#include "storage/base/calendar.h"

namespace meterd::engine::rating::internal {

// Rating works on whole UTC hours.
constexpr int64_t kH = base::kSecondsPerHour;
inline int64_t FloorHour(int64_t t) { return base::FloorDiv(t, kH) * kH; }
inline int64_t CeilHour(int64_t t) {
  const int64_t f = FloorHour(t);
  return f == t ? f : f + kH;
}

constexpr uint32_t kNone = UINT32_MAX;

// What planning reads of a series, packed (the strings stay in EngineData::series).
struct SeriesHot {
  uint64_t id;
  uint32_t metric;    // index into EngineData::metrics
  uint32_t resource;  // tenancy resource index, or kNone
  MetricKind kind;
  storage::ValueType type;
};

// The engine's immutable state, built once by Create.
struct EngineData {
  std::shared_ptr<const RatingCatalog> catalog;
  RatingOptions options;
  // Series ordered by (resource index, metric), the resources the tenancy does not know last:
  // a resource's series are contiguous, [res_begin[r], res_begin[r + 1]); the unknown ones
  // are [res_begin[resources], size).
  std::shared_ptr<const SeriesList> series;  // shared with results (their views)
  std::vector<SeriesHot> hot;                // parallel to *series
  std::vector<std::string> metrics;          // distinct metric names, sorted
  std::vector<uint32_t> res_begin;
  // The series in id order (indices into *series): finds a series by id (Extend refuses one
  // the engine has).
  std::vector<uint32_t> by_id;
  // The attribute class (the ClassKey a product match reads: plan, plan group, location, type,
  // tier) of every resource version: ver_class[ver_begin[r] + i] for version i of resource r.
  std::vector<uint32_t> ver_begin, ver_class;
  uint32_t classes = 0;
  // Per resource: 1 when its versions are in more than one account (planned once, at its
  // first account in scope).
  std::vector<uint8_t> multi_account;
  // Resources that have a version in each account (CSR over accounts; ascending).
  std::vector<uint32_t> acct_begin, acct_resources;
  // Subscriptions by account index (CSR; indices into catalog->subscriptions).
  std::vector<uint32_t> sub_begin, sub_index;
  // Every hour at which what a plan holds can change (a resource version's first or end hour,
  // a price book version's effective_from), sorted, unique: a plan of [f, t) is the plan of
  // [f + d, t + d), shifted, when none lies in (f, t + d] (PlanReusable).
  std::vector<int64_t> boundaries;

  const tenancy::Tenancy& tenancy() const { return *catalog->tenancy; }
  const pricebook::PriceBook& book() const { return *catalog->price_book; }
};

// What a slot accumulates for.
struct SlotInfo {
  uint32_t owner = kNone;  // priced: line id; unrated: unrated id
  uint32_t next = kNone;   // priced: the line's next slot (time order)
  uint32_t project = kNone;
  const pricebook::PriceBookVersion* version = nullptr;  // priced
  const pricebook::Product* product = nullptr;           // priced: as `version` defines it
  int64_t from = 0, to = 0;                              // the hours it covers
  bool priced = false;
};

// A priced line: (account, resource, product id, month).
struct LineInfo {
  uint32_t account = kNone, resource = kNone, product_key = kNone, month = 0;
  uint32_t series = kNone;  // the series that feeds it (its metric)
  uint32_t group = kNone;
  uint32_t next_line = kNone;  // next line of the group (creation order)
  uint32_t first_slot = kNone, last_slot = kNone;
};

// A pricing group: one account's month of one product id, priced by one PriceMonth.
struct GroupInfo {
  uint32_t account = kNone, product_key = kNone, month = 0;
  uint32_t first_line = kNone, last_line = kNone;
  uint32_t lines = 0;
};

// Usage that is not priced: one (series, reason, states, account, project).
struct UnratedInfo {
  uint32_t series = kNone;
  UnratedUsage::Reason reason = UnratedUsage::Reason::kNoProduct;
  uint8_t states = 0;  // state series: the state codes summed (bit c = code c)
  uint32_t account = kNone, project = kNone;
  uint32_t slot = kNone;
};
// The hours routed to an unrated entry (kept to split state masks per state afterwards).
struct UnratedRange {
  uint32_t unrated;
  int64_t from, to;
};

// A priced line's final figures (Price). Trivially destructible, so that clearing a kept
// array of them costs nothing (the explain pieces live elsewhere).
struct LineResult {
  MicroCredits unit_price = 0;
  unsigned __int128 free = 0, capped = 0;
  bool minimum_applied = false;
  uint32_t accrued = 0;  // offset of its amounts (one per interval of its group) in accrued
};
static_assert(std::is_trivially_destructible_v<LineResult>);

// A planned series' meters and routes in the plan (BuildPlan, before they are put in
// series-id order).
struct PlannedSeries {
  uint32_t series, meter_begin, meter_count, route_begin, route_count;
};

// The large arrays of one call that are not part of its result, kept by the engine between
// calls (RatingEngine keeps one spare set). A fleet-wide rating needs ~0.5 KB of them per
// series (~200 MB at 50,000 VMs): allocated afresh, arrays that large are mmapped and fault
// in page by page on every call (~25,000 page faults there), which a call of a fleet 5x
// smaller, whose arrays the allocator recycles, does not pay. Every array is cleared before
// use; capacity is what is kept.
struct Buffers {
  std::vector<query::rating::Meter> meters, meters_spare;
  std::vector<query::rating::Route> routes, routes_spare;
  std::vector<SlotInfo> slots;
  std::vector<LineInfo> lines;
  std::vector<query::rating::SlotTotals> totals;
  std::vector<PlannedSeries> planned;
  std::vector<uint32_t> order, at;  // plan: series-id order; price: output order
  std::vector<LineResult> results;  // price: per line
  std::vector<MicroCredits> accrued;
  std::vector<std::pair<uint64_t, uint32_t>> keys;
};

// What BuildPlan makes of a request (and a month-to-date state keeps for its next window,
// PlanCache).
struct PlanOutput {
  // Project changes inside an account (hours), for the accounts that have any: sorted by
  // account, each list sorted and unique (few accounts have any: no per-account array).
  std::vector<std::pair<uint32_t, std::vector<int64_t>>> account_cuts;
  std::vector<uint8_t> account_in_scope;  // per account index
  std::vector<uint32_t> scope_accounts;   // the accounts in scope, ascending

  query::rating::RatingPlan plan;
  std::vector<SlotInfo> slots;
  std::vector<LineInfo> lines;
  std::vector<GroupInfo> groups;
  std::vector<UnratedInfo> unrated;
  std::vector<UnratedRange> unrated_ranges;
  std::vector<std::string_view> product_ids;  // by product_key
  size_t series_in_plan = 0, skipped_series = 0;
};

// One Rate call's working state.
struct Work : PlanOutput {
  const EngineData* engine = nullptr;
  RatingRequest request;
  int64_t from = 0, to = 0;         // the window, whole hours
  int64_t scan_from = 0;            // MonthStart(from): earlier usage of the month counts
  uint32_t stride = 0;              // 3600 / 86400 for group_by hour / day, else 0
  std::vector<int64_t> months;      // month starts covering [scan_from, to)
  std::vector<int64_t> month_ends;  // the next month's start of each
  std::vector<pricebook::PriceSegment> segments;  // versions pricing [scan_from, to)
  const std::vector<int64_t>& CutsOf(uint32_t account) const;
  // Output filter for project / resource scopes (kNone: none).
  uint32_t filter_project = kNone, filter_resource = kNone;
  const pricebook::PriceBookVersion* display_version = nullptr;

  // The book subscription fees are priced with: the catalog's, or (request.price_version)
  // a one-version book holding that version only.
  std::shared_ptr<const pricebook::PriceBook> fee_book;

  std::vector<query::rating::SlotTotals> totals;  // after the scan, per slot
  // Unrated state usage of several codes, split per code by a second scan.
  struct SplitTotal {
    uint32_t unrated;
    uint8_t state;
    query::rating::SlotTotals totals;
  };
  std::vector<SplitTotal> unrated_split;  // sorted by (unrated, state)

  // Scratch arrays of the plan and the pricing (never null during a call; see Buffers).
  Buffers* scratch = nullptr;

  // RateMonthToDate: the state the window's usage is added to (scan_from == from; the
  // output is one usage line per account, its month-to-date change, plus its fees).
  MonthState* month_state = nullptr;
};

// MonthToDate's state (month_to_date.h: the invariants). A line's runs: `last` (the latest
// version's) plus, when its version changed within the month, the earlier ones as a list in
// MonthGroup::earlier (latest first), so that the common one-version line holds no vector.
struct MonthRun {
  const pricebook::PriceBookVersion* version = nullptr;
  const pricebook::Product* product = nullptr;
  unsigned __int128 quantity = 0;
};
struct MonthLine {
  uint32_t resource = kNone;
  uint32_t earlier = kNone;  // head of the earlier runs in MonthGroup::earlier, or kNone
  MicroCredits amount = 0;   // accrued at MonthState::through
  MonthRun last;
};
struct EarlierRun {
  MonthRun run;
  uint32_t prev = kNone;  // the run before it, or kNone
};
struct MonthGroup {
  uint32_t account = kNone;
  std::vector<MonthLine> lines;  // ascending resource index
  std::vector<EarlierRun> earlier;
};

// The plan of the month state's last window, kept for the next (RateMonthToDate rates one hour
// after another, and consecutive hours of a month nearly always have the same plan, shifted):
// what BuildPlan made (PlanOutput), for the window [from, to) of the engine whose series list is
// `series`, its slots numbered in scan order (OrderSlotsForScan) once `scan_ordered` (from its
// first reuse on: a plan used once does not pay for the renumbering). `state_group` and
// `state_line` map each plan group and line to its place in MonthState::groups once
// AccrueMonth has put them there (empty until then; the plan adds no state lines after that).
struct PlanCache {
  std::shared_ptr<const SeriesList> series;
  int64_t from = 0, to = 0;
  PlanOutput planned;
  bool scan_ordered = false;
  std::vector<uint32_t> state_group;  // per plan group: index into MonthState::groups
  std::vector<uint32_t> state_line;   // per plan line: index into its state group's lines
  // The accrual's walk, built from state_line by the first AccrueMonth that uses the places
  // (the plan's first reuse, after OrderSlotsForScan: slot ids no longer change): per plan
  // group in order, per line of the group, per slot of the line (time order) one entry {slot,
  // index of the line in its state group}; group g's entries are accrual[accrual_begin[g],
  // accrual_begin[g + 1]) and a line's entries are adjacent. Walking it reads no LineInfo and
  // follows no slot link, and the slots it reads next are known ahead (prefetched): the slots
  // are in scan order, not the groups'.
  struct AccrualEntry {
    uint32_t slot;
    uint32_t line;
  };
  std::vector<AccrualEntry> accrual;
  std::vector<uint32_t> accrual_begin;
  // Per plan group, filled with state_group: 1 when every run of its state group has a product
  // whose charge depends on its own line only (LinePricedAlone), so that an hour re-prices
  // only the lines it changed. Runs of other products cannot appear while the plan is kept:
  // its slots' versions are all in the state group once state_group is filled.
  std::vector<uint8_t> group_alone;
};

// What AccrueMonth did (cumulative, MonthState::accrual): groups priced whole (PriceMonth over
// all their lines), lines priced alone, and lines of a window left as they were (no usage
// added, no new run: their amount cannot change).
struct AccrualCounts {
  uint64_t groups_priced = 0;
  uint64_t lines_priced_alone = 0;
  uint64_t lines_unchanged = 0;
  void Add(const AccrualCounts& o) {
    groups_priced += o.groups_priced;
    lines_priced_alone += o.lines_priced_alone;
    lines_unchanged += o.lines_unchanged;
  }
};

struct MonthState {
  bool valid = false;
  int64_t month = 0, through = 0;
  // The catalog snapshot the pointers and indices below belong to (null while empty).
  std::shared_ptr<const tenancy::Tenancy> tenancy;
  std::shared_ptr<const pricebook::PriceBook> book;
  std::unordered_map<std::string_view, uint32_t> product_ord;  // product id -> ordinal
  std::unordered_map<uint64_t, uint32_t> group_of;  // account << 32 | ordinal -> groups index
  std::vector<MonthGroup> groups;
  size_t lines = 0;
  std::unique_ptr<PlanCache> plan;  // null: none kept
  AccrualCounts accrual;            // since Reset (not serialized)
  // CatalogFingerprint of tenancy and book, once computed (0: not yet).
  mutable uint64_t fingerprint = 0;
};

// A hash of what a month-to-date state's indices and pointers depend on: the tenancy's
// accounts, projects, plans, locations and resources with their versions, and the price book's
// versions and usage products (rating_month_io.cc). Equal catalogs hash equal across restarts.
uint64_t CatalogFingerprint(const tenancy::Tenancy& t, const pricebook::PriceBook& book);
// RatingEngine::RestoreMonthToDate (rating_month_io.cc).
Status RestoreMonthState(const EngineData& d, std::string_view bytes, MonthToDate* state);

// Builds the plan, slots, lines and groups of `work` (request, window and scope set).
Status BuildPlan(Work* work);

// Renumbers work's slots in the order the scan reaches them (meters by series id, each meter's
// routes in order), so that the scan's writes to the totals walk memory forwards instead of
// missing the cache on each of a fleet's rows. Worth its cost only for a plan used many times
// (PlanCache, from its first reuse): a pass over the slots, lines and unrated entries.
void OrderSlotsForScan(Work* work);

// Whether `cache` holds the plan of [from, to) for engine `d`, shifted: same series list and
// window length, from >= cache->from, and no boundary in (cache->from, to].
bool PlanReusable(const PlanCache& cache, const EngineData& d, int64_t from, int64_t to);
// Moves the cached plan into `work` (its window set to [from, to)), shifted by from - cache.from.
// REQUIRES: PlanReusable.
void TakePlan(PlanCache* cache, Work* work);
// Moves work's plan into `cache` (its state_group, state_line and accrual untouched: a new plan
// gets a new PlanCache).
void KeepPlan(Work* work, PlanCache* cache);

// Prices the scanned totals into *out (lines, fees, groups, totals, unrated usage).
Status Price(const Work& work, RatingResult* out);

// RateMonthToDate's pricing: adds each group's scanned totals to work.month_state's lines,
// re-prices the groups touched and adds their change per account to (*delta)[account index]
// (sized to the tenancy's accounts by the caller). With `places` (a PlanCache's state_group
// and state_line, empty or filled by an earlier call with the same plan) the lookups of the
// state groups and lines are done once per plan: filled when empty, used when not.
Status AccrueMonth(const Work& work, std::vector<__int128>* delta, PlanCache* places);

// Scans work->plan over `view` into work->totals with up to `threads` threads.
Status RunScan(const query::RollupView& view, int threads, Work* work, RatingStats* stats);

}  // namespace meterd::engine::rating::internal
