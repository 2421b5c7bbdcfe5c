// meterd — engine/rating/rating_engine.h
//
// RatingEngine: usage -> charges. For a period [from, to) and a scope it turns the hourly
// rollups of a RollupView (files, revisions, open hours) into priced lines, exactly as
// engine/pricebook/pricing.h specifies (docs/rating.md), with the vectorised kernels of
// query/rating/rating_scan.h doing the per-row work:
//
//   1. Plan. Each series (SeriesInfo: resource, metric, kind) is joined to its tenancy resource;
//      its hours are cut into stretches of constant (resource version x price book version);
//      each stretch resolves its product once (PriceBookVersion::Resolve; for a state metric
//      once per state code) and is routed to a dense *slot*: one per (line, version slice,
//      part). Hours of an unknown resource or before its first version go to *unattributed*
//      slots; hours with no matching product to *unpriced* slots. Nothing is dropped.
//   2. Scan. query::rating::ScanRating sums exact raw quantities (128-bit) per slot, with per
//      slot hours / provisional / revised counts, on up to `threads` threads.
//   3. Price. Per (account, product id, month) the slots become pricebook::UsageSlice lists and
//      go through pricebook::PriceMonth (tiers, caps, allowances, minimums, rounding);
//      subscription fees through pricebook::PriceSubscriptionMonth.
//
// Lines. A priced line is (account, resource, product id, calendar month UTC): the unit that
// caps, package counts and minimums apply to (docs/rating.md §4, pricing.h). A resource that
// moves to another account starts a new line in that account. An output ChargeLine is one
// *part* of a priced line: the line cut at the request's window start, for group_by hour /
// day at every hour / day, and where a resource of the account changes project (every line of
// that account's month is cut there, so that accruals see all lines at the same instant). A
// part's amount is the line's *accrued* amount at the part's end minus that at its start,
// where the accrued amount at t is the line's (rounded) PriceMonth amount over the account's
// usage of the month before t: a cap reached on the 20th makes later parts 0, a minimum falls
// in the first part that bills. Hence the parts of a line add up exactly to the line's amount,
// a window starting mid-month is priced with the month's earlier usage counted towards tiers,
// caps and allowances (that usage is scanned, not shown), and consecutive windows add up to
// the month. A part is output when its quantity or its amount is not zero.
//
// Fees. A subscription fee is due at one hour: a one-time fee at the subscription's start, a
// monthly fee at the month's first active hour. It is in a window when that hour is.
//
// Money. Amounts are int64 micro-credits, sums in __int128 (OutOfRange if a total leaves
// int64). Currencies come from the *display version*: request.price_version when set, else
// the version in force at the window's last hour (the exchange rates at billing time).
// A line's display amount is ToMinorUnits of its amount in its display currency (the
// request's, else its account's, else the default), rounded once with the display version's
// rounding mode; totals are in the request's currency (else the default), each line converted
// and rounded once and then summed, so a printed invoice adds up.
//
// Month to date. RateMonthToDate rates a window from a MonthToDate state (month_to_date.h)
// that holds the month's earlier usage per line, scanning the window's rows only: the billing
// clock's hour costs its own rows, whatever the day of the month (docs/rating.md §4).
//
// Thread-safety: a RatingEngine is immutable after Create; Rate, ReRate and RateMonthToDate
// (each on its own state) are const and may run concurrently (each call uses up to
// options.threads threads of its own). The engine keeps the catalog snapshot (shared_ptrs) and
// its own copy of the series list, and, behind a mutex, one spare set of a finished call's
// scratch arrays (about 0.5 KB per series of the largest rating: plan, accumulators, pricing),
// which the next call reuses instead of faulting in fresh memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/pricebook/money.h"
#include "engine/pricebook/price_book.h"
#include "engine/pricebook/pricing.h"
#include "engine/rating/month_to_date.h"
#include "engine/registry/series_registry.h"
#include "engine/tenancy/tenancy.h"
#include "query/usage.h"
#include "storage/base/result.h"

namespace meterd::engine::rating {

using pricebook::MicroCredits;

// What is rated: the catalog of one moment (BillingStore::Current(): tenancy, price_book,
// subscriptions->subscriptions).
struct RatingCatalog {
  std::shared_ptr<const tenancy::Tenancy> tenancy;
  std::shared_ptr<const pricebook::PriceBook> price_book;
  std::vector<pricebook::Subscription> subscriptions;  // any order
};

struct RatingOptions {
  // Scan threads per call (the caller's thread is one of them). 2 on the 2-core target box;
  // small requests (one account) always run on the caller's thread alone.
  int threads = 2;
  // Refuse requests needing more kernel slots than this (group_by hour over a whole fleet):
  // 16 M slots = ~1 GB of accumulators.
  size_t max_slots = size_t{16} << 20;
  // A month-to-date rating prices its pricing groups on `threads` threads once each has at
  // least this many (fewer: a thread costs more than it saves). Tests lower it.
  size_t min_groups_per_thread = 4096;
};

enum class ScopeKind : uint8_t { kAll, kDomain, kAccount, kProject, kResource };

enum class GroupBy : uint8_t { kProduct, kResource, kProject, kAccount, kHour, kDay, kMonth };
const char* GroupByName(GroupBy g);  // "product", ...
std::optional<GroupBy> ParseGroupBy(std::string_view name);

struct RatingRequest {
  int64_t from = 0;  // unix seconds; hours h with from <= h < to are rated (rounded out to
  int64_t to = 0;    //   whole hours: from down, to up)
  ScopeKind scope = ScopeKind::kAll;
  std::string scope_id;  // domain / account / project / resource id (ignored for kAll)
  GroupBy group_by = GroupBy::kProduct;
  // Display currency code for every line and total; empty = each line in its account's
  // display currency, totals in the price book's default currency.
  std::string currency;
  // Rate every hour under this price book version instead of the version(s) in force
  // (what ReRate does); 0 = the versions in force.
  uint32_t price_version = 0;
  bool include_subscriptions = true;
  bool explain = false;  // fill ChargeLine::pieces
  // Scan series whose metric no product of the versions used prices at all (informational
  // metrics such as vm.cpu_utilisation) and report them as unpriced. false: skip them (they
  // are counted in stats.skipped_series instead).
  bool report_unpriced_metrics = true;
};

// One part of a priced line (see "Lines" above). Text fields are views into the catalog
// snapshot, which the RatingResult holding the line keeps alive; the derived texts (quantity,
// display amount, unit price) are made on demand by QuantityText / DisplayText /
// UnitPriceText, so that rating 80,000 lines formats nothing it is not asked for.
struct ChargeLine {
  std::string_view domain, account, project, resource, resource_name;
  std::string_view product_id, product_name, group, unit, metric;
  int64_t period_start = 0;  // the part's hours [period_start, period_end)
  int64_t period_end = 0;
  int64_t month_start = 0;    // the priced line's month
  bool subscription = false;  // a fee line (quantity = subscribed units)
  bool one_time_fee = false;  // a subscription's one-time fee (unit "one-time", else "month")
  std::string_view subscription_id;

  // Quantity: raw units (state seconds, gauge value x seconds, counter increase) / divisor.
  unsigned __int128 raw_quantity = 0;
  uint64_t divisor = 1;
  MicroCredits unit_price = 0;  // per unit: the price of the line's last billed piece (per_unit
                                // price, highest tier reached, the volume tier, the package
                                // price, the fee); the product's first price when none billed
  MicroCredits amount = 0;      // micro-credits (see "Lines")
  uint32_t price_version = 0;   // the version of the part's first slice
  uint32_t price_versions = 1;  // distinct versions pricing the part's hours

  uint32_t hours = 0;              // hourly rows that contributed
  uint32_t provisional_hours = 0;  // of which open (not yet sealed)
  uint32_t revised_hours = 0;      // of which revised after sealing
  uint64_t max_revision = 0;
  bool provisional = false;      // provisional_hours > 0: the amount may still change
  bool revised = false;          // revised_hours > 0
  bool minimum_applied = false;  // (the whole priced line)
  // The whole priced line: raw units inside the allowance and above the cap.
  unsigned __int128 line_free_raw = 0, line_capped_raw = 0;

  const pricebook::Currency* currency = nullptr;  // display currency (never null in a result)
  int64_t display_minor = 0;  // amount in the currency's minor unit (rounded once)

  std::vector<pricebook::ChargePiece> pieces;  // explain only: the priced line's pieces
};
// raw_quantity / divisor in billing units (pricebook::FormatQuantity: exact up to 6 decimals,
// else rounded half-even to 6 and marked "~").
std::string QuantityText(const ChargeLine& line);
// FormatMinor(display_minor): "GBP 2,955.91".
std::string DisplayText(const ChargeLine& line);
// FormatUnitPrice(unit_price) in the display currency: "GBP 2.2000".
std::string UnitPriceText(const ChargeLine& line);

struct GroupTotal {
  std::string key;    // product id / resource / project / account id, or the period start
  std::string label;  // product name / resource name / ... or "2026-01-10T14:00Z"
  MicroCredits amount = 0;
  size_t lines = 0;
  bool provisional = false;
  // Same-unit groups (group_by product) also total the quantity.
  unsigned __int128 raw_quantity = 0;
  std::string quantity, unit;
  int64_t display_minor = 0;  // in RatingResult::currency: sum of the lines', each rounded
  std::string display;
};

// Usage that could not be priced, with its raw quantity (never dropped). One entry per
// (series, reason, state, account, project) with a nonzero quantity in the window.
struct UnratedUsage {
  enum class Reason : uint8_t {
    kUnknownResource = 1,     // the series' resource is not in the tenancy
    kBeforeFirstVersion = 2,  // hours before the resource's first version
    kNoProduct = 3,           // attributed, but no product of the metric matches
    kNoPriceBook = 4,         // hours before the first price book version
    kKindMismatch = 5,        // the resolved product's kind is not the series' kind
    kAfterDeletion = 6,       // hours of a version that deletes the resource (tenancy.h)
  };
  Reason reason = Reason::kNoProduct;
  std::string_view resource, metric;  // views into RatingResult::series
  uint64_t series_id = 0;
  MetricKind kind = MetricKind::kGauge;
  uint32_t state = 0;                 // state metrics: the state code (0..7); else 0
  std::string_view account, project;  // empty when unattributed
  unsigned __int128 raw_quantity = 0;
  uint32_t hours = 0, provisional_hours = 0;
  int64_t first_hour = 0, last_hour = 0;  // hours seen in [from, to)
};
const char* ReasonName(UnratedUsage::Reason r);

struct RatingStats {
  uint64_t rows_scanned = 0;  // hourly rows read (files, revisions, open)
  uint64_t blocks_read = 0;
  size_t series = 0;          // series in the plan
  size_t skipped_series = 0;  // metrics no product prices (report_unpriced_metrics = false)
  size_t meters = 0;          // (series, quantity) pairs
  size_t slots = 0;
  size_t priced_lines = 0;
  int threads = 1;
  double plan_ms = 0, scan_ms = 0, price_ms = 0;
  // CPU time of each phase (every scan thread's; thread CPU clocks), ms.
  double plan_cpu_ms = 0, scan_cpu_ms = 0, price_cpu_ms = 0;
  // Month-to-date: the plan was the state's last window's, shifted (no planning).
  bool plan_reused = false;
  std::vector<std::string> damaged;  // rollup blocks that failed verification (not served)
};

// The series an engine rates, in its order: pointers into blocks of SeriesInfo that an engine
// shares with the engines it was extended from (Extend copies pointers, never the strings).
// Immutable once built.
struct SeriesList {
  std::vector<std::shared_ptr<const std::vector<SeriesInfo>>> blocks;
  std::vector<const SeriesInfo*> at;  // into blocks
  const SeriesInfo& operator[](size_t i) const { return *at[i]; }
  size_t size() const { return at.size(); }
};

struct RatingResult {
  // Keep the views of lines and unrated usage alive (the catalog snapshot, the series list),
  // however long the result outlives the engine.
  std::shared_ptr<const RatingCatalog> catalog;
  std::shared_ptr<const SeriesList> series;
  int64_t from = 0, to = 0;        // after rounding to hours
  std::vector<ChargeLine> lines;   // by (account, resource, product, period_start); fees last
                                   // per account
  std::vector<GroupTotal> groups;  // by key
  MicroCredits total = 0;          // sum of line amounts
  bool provisional = false;
  const pricebook::Currency* currency = nullptr;  // of the totals (null: empty price book)
  int64_t total_minor = 0;  // sum of the lines' amounts in `currency`, each rounded once
  std::string total_display;
  std::vector<UnratedUsage> unattributed;  // kUnknownResource, kBeforeFirstVersion, kAfterDeletion
  std::vector<UnratedUsage> unpriced;      // the other reasons
  RatingStats stats;
};

// A re-rate: the same request rated under the versions in force and under one version.
struct ReRateLine {
  std::string_view account, project, resource, product_id, product_name, subscription_id;
  std::string_view group, unit;  // as ChargeLine (of whichever side has the line)
  uint64_t divisor = 1;          // raw units per unit (QuantityText)
  bool one_time_fee = false;
  int64_t period_start = 0, period_end = 0;
  unsigned __int128 raw_quantity = 0;  // under the in-force versions (the same usage)
  MicroCredits actual = 0;             // under the versions in force
  MicroCredits rerated = 0;            // under `version`
  MicroCredits difference = 0;         // rerated - actual
};
// raw_quantity / divisor in billing units, as QuantityText of a ChargeLine.
std::string QuantityText(const ReRateLine& line);
struct ReRateResult {
  uint32_t version = 0;
  std::vector<ReRateLine> lines;  // every line either side has (0 on the side without it)
  MicroCredits actual_total = 0, rerated_total = 0, difference = 0;
  RatingResult actual, rerated;
};

class RatingEngine {
 public:
  // `series`: the series to rate (typically SeriesRegistry::Matching("", "")); any order,
  // duplicates refused. InvalidArgument when the catalog lacks a tenancy or price book.
  static Result<std::unique_ptr<RatingEngine>> Create(RatingCatalog catalog,
                                                      std::vector<SeriesInfo> series,
                                                      RatingOptions options = {});
  ~RatingEngine();

  // This engine with `added` series too (new series defined since it was built; same catalog):
  // exactly what Create would build from all of them, in time linear in the series with no
  // catalog work (the resources' version classes, accounts and boundaries are shared). So a
  // fleet that gains VMs does not wait for a full rebuild. InvalidArgument for an id already
  // known or listed twice. Thread-safe: this engine is only read.
  Result<std::unique_ptr<RatingEngine>> Extend(std::vector<SeriesInfo> added) const;

  // Rates `request` over `view`. InvalidArgument for an empty or inverted period, an unknown
  // scope id, currency or price version; Busy when the plan would need more than
  // options.max_slots slots (narrow the scope or the group-by). Damaged rollup blocks are reported
  // in stats.damaged (their rows are not served) and the call still succeeds.
  Result<RatingResult> Rate(const query::RollupView& view, const RatingRequest& request) const;

  // The view a Rate call scans, asked for once its plan is known: `series` holds the sorted,
  // unique ids of the series the plan reads (empty when `all` is set or the scope has none);
  // `all` is true for a fleet-wide scope (ScopeKind::kAll), whose plan reads every series.
  // The view must hold at least those series' hours of [MonthStart(from), to) and stay valid
  // until the call returns. A server uses it to copy only a one-account request's open and
  // revised rows (engine::Downsampler::View with the ids) instead of the whole fleet's.
  using ViewSource =
      std::function<const query::RollupView&(const std::vector<uint64_t>& series, bool all)>;
  Result<RatingResult> Rate(const ViewSource& source, const RatingRequest& request) const;

  // Month-to-date rating (the billing clock's): rates the whole hours [from, to) of every
  // account, which must lie in one calendar month, scanning only those hours: their usage is
  // added to `state` (month_to_date.h), which must hold exactly the hours before `from` of
  // that month (through() == from; a state Reset to the month start when from is the month's
  // start), and holds [month, to) after. The result's lines are one usage line per account
  // whose month-to-date usage amount changed (resource and product empty; amount = the
  // change, which is what Rate of [from, to) with group_by account gives for its usage lines)
  // and the fee lines due in the window; total is their sum; groups are left empty.
  // InvalidArgument when the window or the state does not fit, or the state belongs to
  // another catalog snapshot (rebuild it from an empty state); on any error the state is
  // Clear()ed. Not reentrant for one state.
  Result<RatingResult> RateMonthToDate(const ViewSource& source, int64_t from, int64_t to,
                                       MonthToDate* state) const;
  Result<RatingResult> RateMonthToDate(const query::RollupView& view, int64_t from, int64_t to,
                                       MonthToDate* state) const;
  // Sets `state` to MonthToDate::Serialize's `bytes`, bound to this engine's catalog, so that
  // RateMonthToDate goes on from it. InvalidArgument (the state Clear()ed) when the bytes do not
  // parse or belong to another catalog: its fingerprint (tenancy and price book) differs, or an
  // account, resource, price book version or product it names is unknown.
  Status RestoreMonthToDate(std::string_view bytes, MonthToDate* state) const;

  // Rates `request` twice: under the versions in force and under `version` for every hour,
  // and reports the difference per line (matched by account, project, resource, product id
  // and period). The ViewSource overload asks `source` once per rating (both plans read the
  // same series unless request.report_unpriced_metrics is false).
  Result<ReRateResult> ReRate(const query::RollupView& view, const RatingRequest& request,
                              uint32_t version) const;
  Result<ReRateResult> ReRate(const ViewSource& source, const RatingRequest& request,
                              uint32_t version) const;

  const RatingCatalog& catalog() const;
  size_t series() const;  // series known to the engine

 private:
  struct Impl;
  Result<RatingResult> RateImpl(const ViewSource& source, const RatingRequest& request,
                                internal::MonthState* state) const;
  explicit RatingEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A RollupView of the sealed rollups of a data directory (<data_dir>/rollup): its files, no
// revisions or open hours. The returned view keeps the files open. (RollupStore::Open, so it
// also removes rollup files no manifest lists, as the server does at start.)
Result<query::RollupView> OpenRollupView(const std::string& data_dir,
                                         std::vector<std::string>* damage = nullptr);

}  // namespace meterd::engine::rating
