// meterd — engine/pricebook/pricing.h
//
// The arithmetic of charges, shared by the rating engine (query/rating), its row-at-a-time
// reference and the estimate, so all of them agree to the micro-credit. Specified with worked
// examples in docs/rating.md; in short, for one account, one usage product id and one month:
//
//  * A *line* is (resource, product id, month). Its usage arrives as *slices*: the raw
//    quantity of a run of hours priced by one price book version (a line has several slices
//    when a version takes effect mid-month). Lines are ordered by resource id; a line's slices
//    by time. Concatenated in that order, the slices tile the account's month quantity:
//    slice k covers the account positions [A_k, A_k + q_k) and its line's positions
//    [R_k, R_k + q_k) (raw units, both starting at 0 each month).
//  * Every threshold is a raw-unit position (billing units x divisor, exact) read from the
//    slice's own version: tier edges and the free allowance on the account scale, the cap and
//    package boundaries on the line scale. A slice is cut at the thresholds it crosses and each
//    piece priced at its own rate:
//      per_unit    pieces below the allowance (account) or above the cap (line) are free,
//                  the rest x unit_price;
//      graduated   each piece x the price of the tier containing it (positions below `free`
//                  are free);
//      volume      the whole slice x the price of the tier the account's month total T
//                  falls in (the first tier with T <= up_to);
//      package     ceil((R+q)/size) - ceil(R/size) packages start in the slice, each
//                  package_price (so a line pays ceil(Q/size) packages in all).
//  * The line's exact amount is N / divisor with N = sum of piece quantity x price (x divisor
//    for packages), in 128 bits; a minimum (of the line's first slice's version) raises N to
//    minimum x divisor when some of the line is billed and N is below it. The amount is rounded
//    once to whole micro-credits with the rounding mode of the version of the line's first
//    slice.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/pricebook/money.h"
#include "engine/pricebook/price_book.h"
#include "engine/tenancy/tenancy.h"
#include "storage/base/result.h"

namespace meterd::engine::pricebook {

// The raw quantity of a run of hours of one line, priced by one version.
struct UsageSlice {
  uint32_t line = 0;                          // caller's line id; a line's slices are adjacent
  const PriceBookVersion* version = nullptr;  // the version in force for these hours
  const Product* product = nullptr;           // the line's product as `version` defines it
  unsigned __int128 quantity = 0;             // raw units
};

struct LineCharge {
  uint32_t line = 0;
  unsigned __int128 quantity = 0;  // raw units used
  unsigned __int128 billed = 0;    // raw units charged for (after allowance and cap)
  unsigned __int128 free = 0;      // raw units inside the allowance
  unsigned __int128 capped = 0;    // raw units above the cap
  uint64_t divisor = 1;
  __int128 exact = 0;       // sum of pieces, micro-credits x divisor (before minimum)
  MicroCredits amount = 0;  // the line's charge: rounded once
  bool minimum_applied = false;
};

// One priced piece of a slice, for explanations ("first 1 TB at 0.05", "cap reached").
struct ChargePiece {
  static constexpr uint32_t kFree = 0xFFFFFFFEu;    // inside the free allowance
  static constexpr uint32_t kCapped = 0xFFFFFFFDu;  // above the monthly cap
  static constexpr uint32_t kNoTier = 0xFFFFFFFFu;  // per_unit / package
  uint32_t line = 0;
  uint32_t tier = kNoTier;         // tier index, or kFree / kCapped
  unsigned __int128 quantity = 0;  // raw units (package: packages started)
  MicroCredits unit_price = 0;     // per billing unit (package: per package)
  __int128 exact = 0;              // micro-credits x divisor
};

// Prices one account's month of one usage product id.
// REQUIRES: slices ordered as above (lines in resource-id order, adjacent, each in time
// order); every slice's product has the same id, a usage model, and is `version`'s.
// Appends one LineCharge per line (in order) to *lines, and the pieces to *pieces when given.
// OutOfRange if an exact sum overflows 128 bits (not reachable with 64-bit prices and
// quantities below 2^64).
Status PriceMonth(std::span<const UsageSlice> slices, std::vector<LineCharge>* lines,
                  std::vector<ChargePiece>* pieces = nullptr);

// Convenience: one line, one version (the estimate, tests).
Result<LineCharge> PriceLine(const PriceBookVersion& version, const Product& product,
                             unsigned __int128 quantity,
                             std::vector<ChargePiece>* pieces = nullptr);

// A raw quantity in billing units: exact when it has at most 6 decimals ("672", "0.01",
// "3359.5"), else rounded half-even to 6 and prefixed "~" ("~0.333333").
std::string FormatQuantity(unsigned __int128 raw, uint64_t divisor);
// One line explained piece by piece, in credits: "672 h x 2.2 = 1478.4; 58 h above the cap
// (672 h) not charged; = 1478.400000 credits". `pieces` are the line's own.
std::string ExplainLine(const Product& product, const LineCharge& line,
                        std::span<const ChargePiece> pieces);

// ---- Subscriptions ----

// The start of the UTC calendar month containing `t`, and of the next month.
int64_t MonthStart(int64_t t);
int64_t NextMonthStart(int64_t month_start);

struct FeeCharge {
  enum class Kind : uint8_t { kOneTime = 1, kMonthly = 2 };
  Kind kind = Kind::kMonthly;
  const PriceBookVersion* version = nullptr;  // the version whose fee applies (first segment)
  const Product* product = nullptr;
  uint32_t quantity = 1;
  int64_t active_hours = 0;  // hours of the month the subscription touches
  int64_t month_hours = 0;
  __int128 exact = 0;       // micro-credits x denominator
  int64_t denominator = 1;  // 1, or month_hours when prorated
  MicroCredits amount = 0;  // rounded once
  bool unpriced = false;    // the product is missing from the version in force (amount 0)
};

// The fees of `sub` for the month starting at `month_start` (a MonthStart value):
//  * one-time fee: in the month containing `start`, at the version in force at start's hour;
//  * monthly fee: for every month whose hours overlap [start, end); without proration the
//    whole fee (quantity x monthly_fee) of the version in force at the month's first active
//    hour; with hourly proration the sum over version segments of
//    quantity x fee_v x active_hours_v, over month_hours, rounded once.
// Rounding: the mode of that first version. Appends 0, 1 or 2 charges.
Status PriceSubscriptionMonth(const PriceBook& book, const Subscription& sub, int64_t month_start,
                              std::vector<FeeCharge>* out);

// ---- Estimate: the price of a plan before a VM is created ----

struct EstimateRequest {
  std::string plan;
  std::string location;
  std::string storage_tier;  // of the root disk; empty = products that do not ask for one
  int64_t hours = 730;       // the period estimated (730 h: an average month)
  int64_t at = 0;            // price book version in force at this second; 0 = the latest
};

struct EstimateLine {
  const Product* product = nullptr;
  std::string metric;
  unsigned __int128 hourly_raw = 0;  // raw quantity per hour (3600 s; vcpus x 3600; ...)
  unsigned __int128 period_raw = 0;  // hourly_raw x hours
  MicroCredits hourly = 0;           // one hour at the list rate: no allowance, no minimum
  MicroCredits period = 0;  // `hours` hours as a lone line of a fresh month: cap, allowance,
                            // tiers and minimum applied
  std::string explanation;  // "730 h x 2.2 = 1606.000000 credits, capped at 672 h: 1478.4"
};

struct Estimate {
  const PriceBookVersion* version = nullptr;
  const tenancy::Plan* plan = nullptr;
  int64_t hours = 0;
  std::vector<EstimateLine> lines;  // running hours, vCPU, memory, root disk (when priced)
  MicroCredits hourly_total = 0;
  MicroCredits period_total = 0;
  std::vector<std::string> notes;  // metrics with no matching product, and the like
};

// The products that would bill a VM of `plan` in `location`: vm.state running hours and the
// vm.vcpus, vm.memory_bytes gauges at the plan's size (match: type "vm", the plan and its
// group, the location, the storage tier), and its root disk (disk.size_bytes at
// plan.disk_bytes, matched as type "volume" without a plan). NotFound for an unknown plan or
// location or an empty price book; InvalidArgument for hours outside 1..8784.
Result<Estimate> EstimatePlan(const PriceBook& book, const tenancy::Tenancy& tenancy,
                              const EstimateRequest& request);

}  // namespace meterd::engine::pricebook
