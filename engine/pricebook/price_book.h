// meterd — engine/pricebook/price_book.h
//
// The price book: effective-dated, append-only versions, each a whole book (rounding mode,
// currencies, products). Version n is in force from its effective_from (a whole hour) until
// the next version's; each hour is priced by the version in force at that hour's start
// (docs/rating.md, "Price book versions"). Versions are numbered 1, 2, ... with strictly
// increasing effective_from; a stored version is never rewritten.
//
// A product prices one metric (for a state metric: some of its states) of the resources
// whose attributes it matches, in a billing unit (engine/pricebook/units.h), with one price
// model; or it is a subscription fee (no metric). Resolution picks, among the products of the
// metric and state whose match accepts the resource's attributes, the most specific one:
//
//   specificity = (number of match attributes set) x 32 + precedence bits
//                 plan 16 | plan_group 8 | location 4 | storage_tier 2 | resource_type 1
//
// so more constrained attributes win, and between equally many the one constraining the
// higher-precedence attribute wins (a plan beats a location). Two products of one metric
// whose states overlap and whose matches set the same attributes to the same values are
// refused when the book is applied, so resolution never meets a tie.
//
// Money: every price is integral micro-credits per billing unit; tier edges, allowances, caps
// and package sizes are exact decimals in billing units whose raw-unit value (x divisor) must be
// an integer. The amounts and how they combine are in engine/pricebook/pricing.h.
//
// Thread-safety: a PriceBook is immutable after Build; share it as shared_ptr<const PriceBook>.
// Pointers it returns live as long as it does.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/catalog.h"
#include "engine/pricebook/money.h"
#include "storage/base/result.h"

namespace meterd::engine::pricebook {

constexpr unsigned __int128 kUnbounded = ~static_cast<unsigned __int128>(0);
constexpr int64_t kNoEnd = INT64_MAX;

enum class PriceModel : uint8_t {
  kPerUnit = 1,       // quantity x price
  kGraduated = 2,     // each slice of the account's month priced by the tier it falls in
  kVolume = 3,        // the whole quantity priced by the tier the account's month total reaches
  kPackage = 4,       // ceil(quantity / size) x package price, per line
  kSubscription = 5,  // one-time and/or monthly fee of an account subscription; no metric
};
const char* PriceModelName(PriceModel model);  // "per_unit", "graduated", ...

enum class Proration : uint8_t {
  kNone = 0,    // the monthly fee is due in full for every month the subscription touches
  kHourly = 1,  // fee x active hours / hours in the month
};

// The attributes a product is matched against; empty = any.
struct Match {
  std::string plan, plan_group, location, storage_tier, resource_type;

  bool operator==(const Match&) const = default;
  uint32_t Specificity() const;
};

// A resource's attributes during one hour (from tenancy::Attributes).
struct MatchKey {
  std::string_view type, plan, plan_group, location, storage_tier;
};
bool Matches(const Match& match, const MatchKey& key);

struct Tier {
  Decimal up_to;  // in billing units; ignored when up_to_raw is kUnbounded
  unsigned __int128 up_to_raw = kUnbounded;  // up_to x divisor; the last tier is unbounded
  MicroCredits unit_price = 0;               // per billing unit

  bool operator==(const Tier&) const = default;
};

struct Product {
  std::string id;
  std::string name;         // the invoice line: "Copper - 1CPU @ 2.4GHz - 512MB RAM"
  std::string group;        // invoice group: "Running VM", "Stopped VM", "Storage", ...
  std::string description;  // free text

  std::string metric;  // empty for subscriptions
  MetricKind kind = MetricKind::kGauge;
  uint8_t state_mask = 0;  // state metrics: bit c set = state code c (1..7)
  Match match;
  std::string unit;      // canonical billing unit ("h", "GiB·h", "GB", "month")
  uint64_t divisor = 1;  // raw units per billing unit

  PriceModel model = PriceModel::kPerUnit;
  MicroCredits unit_price = 0;  // per_unit
  std::vector<Tier> tiers;      // graduated, volume: ascending, the last unbounded
  Decimal package_size;         // package: billing units per package
  unsigned __int128 package_size_raw = 0;
  MicroCredits package_price = 0;
  Decimal free;  // allowance per account per month (per_unit, graduated)
  unsigned __int128 free_raw = 0;
  Decimal cap;  // per resource per month (per_unit); 0 = no cap
  unsigned __int128 cap_raw = 0;
  MicroCredits minimum = 0;       // per line per month (usage models); 0 = none
  MicroCredits one_time_fee = 0;  // subscription
  MicroCredits monthly_fee = 0;   // subscription
  Proration proration = Proration::kNone;

  bool is_usage() const { return model != PriceModel::kSubscription; }
  bool has_cap() const { return cap_raw != 0; }
  // True when this product bills state `state` (state metrics only).
  bool BillsState(uint32_t state) const { return state < 8 && (state_mask >> state) & 1; }
  bool operator==(const Product&) const = default;
};

struct PriceBookVersion;
// Checks one version on its own (currencies, products, tiers, no two products with the same
// metric, states and match) and builds its metric index; PriceBook::Build calls it.
Status FinalizeVersion(PriceBookVersion* version);

struct PriceBookVersion {
  uint32_t version = 0;        // 1, 2, ...
  int64_t effective_from = 0;  // unix second, a multiple of 3600
  std::string description;
  RoundingMode rounding = RoundingMode::kHalfEven;
  std::string default_currency;      // a code in currencies
  std::vector<Currency> currencies;  // sorted by code
  std::vector<Product> products;     // sorted by id

  const Product* FindProduct(std::string_view id) const;
  const Currency* FindCurrency(std::string_view code) const;
  // REQUIRES: a version that went through PriceBook::Build (its default currency exists).
  const Currency& DefaultCurrency() const;
  // The display currency of an account whose preference is `code` (empty or not in this
  // version: the default).
  const Currency& DisplayCurrency(std::string_view code) const;

  // The most specific usage product of `metric` matching `key` (for a state metric, one that
  // bills `state`; `state` is ignored for other kinds); nullptr = no product: unpriced.
  const Product* Resolve(std::string_view metric, uint32_t state, const MatchKey& key) const;
  // Every usage product of `metric`, most specific first.
  std::vector<const Product*> ProductsOf(std::string_view metric) const;

  bool SameContent(const PriceBookVersion& o) const;  // everything but the derived index

 private:
  friend class PriceBook;
  friend Status FinalizeVersion(PriceBookVersion* version);
  // Per metric: indices into products, most specific first (built by PriceBook::Build).
  std::vector<std::pair<std::string, std::vector<uint32_t>>> by_metric_;
};

// One stretch of hours priced by one version: [from, to).
struct PriceSegment {
  const PriceBookVersion* version = nullptr;
  int64_t from = 0, to = 0;
};

class PriceBook {
 public:
  // Checks the versions (numbers 1..n in order with strictly increasing, hour-aligned
  // effective_from; each version's currencies, products and tiers consistent; a product id
  // keeps its metric, unit, divisor, model and package size across versions) and indexes them.
  static Result<std::shared_ptr<const PriceBook>> Build(std::vector<PriceBookVersion> versions);
  static std::shared_ptr<const PriceBook> Empty();

  const std::vector<PriceBookVersion>& versions() const { return versions_; }
  bool empty() const { return versions_.empty(); }
  const PriceBookVersion* Latest() const;
  const PriceBookVersion* FindVersion(uint32_t version) const;
  // The version in force at `t` (the latest with effective_from <= t); nullptr before the
  // first. For an hour, pass its start.
  const PriceBookVersion* VersionAt(int64_t t) const;
  // The versions pricing [from, to), in order, clipped to it; hours before the first version
  // are left out (unpriced).
  std::vector<PriceSegment> Segments(int64_t from, int64_t to) const;

 private:
  PriceBook() = default;
  std::vector<PriceBookVersion> versions_;
};

// An account's subscription to a subscription product: quantity units from `start` until
// `end` (exclusive; kNoEnd = open). Its hours are those overlapping [start, end).
struct Subscription {
  std::string id;
  std::string account;
  std::string product;
  uint32_t quantity = 1;
  int64_t start = 0;
  int64_t end = kNoEnd;
  std::string description;

  bool operator==(const Subscription&) const = default;
};

}  // namespace meterd::engine::pricebook
