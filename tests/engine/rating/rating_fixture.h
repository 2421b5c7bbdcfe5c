// meterd — tests/engine/rating/rating_fixture.h
//
// Builders shared by the rating tests: tenancy and price book in code (no database), products
// of every price model with their raw-unit thresholds, hourly rollup rows of each kind, and a
// RollupView written through RollupFileWriter (month-style kPerSeries files and packed parts)
// plus revisions and open rows.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/pricebook/money.h"
#include "engine/pricebook/price_book.h"
#include "engine/pricebook/pricing.h"
#include "engine/rating/rating_engine.h"
#include "engine/registry/series_registry.h"
#include "engine/tenancy/tenancy.h"
#include "query/usage.h"
#include "storage/rollup.h"

namespace meterd::engine::rating::testing {

using pricebook::Currency;
using pricebook::Decimal;
using pricebook::MicroCredits;
using pricebook::PriceBookVersion;
using pricebook::PriceModel;
using pricebook::Product;
using pricebook::Tier;
using storage::RollupRow;
using namespace storage;  // kCol* names

constexpr int64_t kH = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kJan1 = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kFeb1 = kJan1 + 31 * kDay;
constexpr int64_t kMar1 = kFeb1 + 28 * kDay;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kGB = 1'000'000'000;
constexpr uint64_t kMicro = 1'000'000;  // micro-credits per credit

inline Decimal Dec(const std::string& text) {
  auto d = Decimal::Parse(text);
  EXPECT_TRUE(d.ok()) << text;
  return d.ok() ? *d : Decimal();
}

// billing units x divisor, exact.
inline unsigned __int128 Raw(const std::string& units, uint64_t divisor) {
  const auto v = Dec(units).TimesExact(divisor);
  EXPECT_TRUE(v.has_value()) << units << " x " << divisor;
  return v ? static_cast<unsigned __int128>(*v) : 0;
}

inline Product UsageProduct(const std::string& id, const std::string& metric, MetricKind kind,
                            const std::string& unit, uint64_t divisor) {
  Product p;
  p.id = id;
  p.name = id;
  p.metric = metric;
  p.kind = kind;
  p.unit = unit;
  p.divisor = divisor;
  return p;
}

inline Product PerUnit(const std::string& id, const std::string& metric, MetricKind kind,
                       const std::string& unit, uint64_t divisor, MicroCredits price) {
  Product p = UsageProduct(id, metric, kind, unit, divisor);
  p.model = PriceModel::kPerUnit;
  p.unit_price = price;
  return p;
}

// vm.state seconds in `states` (bit c = state code c), priced per hour.
inline Product StateHours(const std::string& id, uint8_t states, MicroCredits price) {
  Product p = PerUnit(id, "vm.state", MetricKind::kState, "h", 3600, price);
  p.state_mask = states;
  return p;
}

// Tiers: {up_to (billing units, "" = unbounded), price}.
inline std::vector<Tier> Tiers(const std::vector<std::pair<std::string, MicroCredits>>& spec,
                               uint64_t divisor) {
  std::vector<Tier> out;
  for (const auto& [up_to, price] : spec) {
    Tier t;
    t.unit_price = price;
    if (!up_to.empty()) {
      t.up_to = Dec(up_to);
      t.up_to_raw = Raw(up_to, divisor);
    }
    out.push_back(t);
  }
  return out;
}

inline void SetCap(Product* p, const std::string& cap) {
  p->cap = Dec(cap);
  p->cap_raw = Raw(cap, p->divisor);
}
inline void SetFree(Product* p, const std::string& free) {
  p->free = Dec(free);
  p->free_raw = Raw(free, p->divisor);
}
inline void SetPackage(Product* p, const std::string& size, MicroCredits price) {
  p->model = PriceModel::kPackage;
  p->package_size = Dec(size);
  p->package_size_raw = Raw(size, p->divisor);
  p->package_price = price;
}

inline Product Subscription(const std::string& id, MicroCredits one_time, MicroCredits monthly,
                            pricebook::Proration proration = pricebook::Proration::kNone) {
  Product p;
  p.id = id;
  p.name = id;
  p.group = "Subscriptions";
  p.model = PriceModel::kSubscription;
  p.unit = "month";
  p.one_time_fee = one_time;
  p.monthly_fee = monthly;
  p.proration = proration;
  return p;
}

inline Currency MakeCurrency(const std::string& code, const std::string& per_credit,
                             const std::string& prefix, uint8_t minor_digits = 2) {
  Currency c;
  c.code = code;
  c.per_credit = Dec(per_credit);
  c.prefix = prefix;
  c.minor_digits = minor_digits;
  return c;
}

inline PriceBookVersion Version(
    uint32_t number, int64_t effective_from, std::vector<Product> products,
    pricebook::RoundingMode rounding = pricebook::RoundingMode::kHalfEven) {
  PriceBookVersion v;
  v.version = number;
  v.effective_from = effective_from;
  v.rounding = rounding;
  v.default_currency = "CR";
  v.currencies = {MakeCurrency("CR", "1", "", 4), MakeCurrency("GBP", "1", "GBP "),
                  MakeCurrency("EUR", "1.1634", "€"), MakeCurrency("JPY", "180.5", "¥", 0)};
  v.products = std::move(products);
  return v;
}

inline std::shared_ptr<const pricebook::PriceBook> Book(std::vector<PriceBookVersion> versions) {
  auto b = pricebook::PriceBook::Build(std::move(versions));
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? *b : pricebook::PriceBook::Empty();
}

// A tenancy skeleton: domain d1, accounts a1/a2 (projects p1, p2 / p3), plans, locations.
inline tenancy::TenancyData BaseTenancy() {
  tenancy::TenancyData d;
  d.domains = {{"d1", "Domain one", ""}, {"d2", "Reseller", "d1"}};
  d.accounts = {{"a1", "d1", "Account one", "", false}, {"a2", "d2", "Account two", "EUR", false}};
  d.projects = {{"p1", "a1", "Project one"}, {"p2", "a1", "Project two"}, {"p3", "a2", "Three"}};
  d.locations = {{"lon", "London"}, {"ams", "Amsterdam"}};
  d.plan_groups = {{"std", "Standard"}, {"hpc", "Compute"}};
  tenancy::Plan copper;
  copper.id = "copper";
  copper.name = "Copper - 1CPU - 512MB";
  copper.group = "std";
  copper.vcpus = 1;
  copper.memory_bytes = 512ull << 20;
  tenancy::Plan silver = copper;
  silver.id = "silver";
  silver.name = "Silver - 2CPU - 2GB";
  silver.vcpus = 2;
  tenancy::Plan gold = copper;
  gold.id = "gold";
  gold.name = "Gold - 8CPU";
  gold.group = "hpc";
  gold.vcpus = 8;
  d.plans = {copper, silver, gold};
  return d;
}

inline tenancy::ResourceVersion V(int64_t from, const std::string& project, const std::string& plan,
                                  const std::string& location = "lon",
                                  const std::string& type = "vm", const std::string& tier = "") {
  tenancy::ResourceVersion v;
  v.effective_from = from;
  v.type = type;
  v.project = project;
  v.plan = plan;
  v.location = location;
  v.storage_tier = tier;
  return v;
}

inline std::shared_ptr<const tenancy::Tenancy> BuildTenancy(tenancy::TenancyData d) {
  auto t = tenancy::Tenancy::Build(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : tenancy::Tenancy::Empty();
}

// ---- usage ----

inline SeriesInfo Series(const std::string& resource, const std::string& metric, MetricKind kind,
                         ValueType type = ValueType::kInt) {
  SeriesInfo s;
  s.resource = resource;
  s.metric = metric;
  s.kind = kind;
  s.type = type;
  s.id = SeriesRegistry::IdOf(resource, metric);
  return s;
}

inline RollupRow StateRow(uint64_t id, int64_t hour, uint64_t running, uint64_t stopped = 0,
                          uint64_t allocated = 0) {
  RollupRow r;
  r.series_id = id;
  r.hour = hour;
  r.col[kColCount] = 3600;
  r.col[kColHeld] = running + stopped + allocated;
  r.col[kColState0 + 1] = running;
  r.col[kColState0 + 2] = stopped;
  r.col[kColState0 + 3] = allocated;
  return r;
}

// A gauge holding `value` for `seconds` of the hour: integral value x seconds.
inline RollupRow GaugeRow(uint64_t id, int64_t hour, uint64_t value, uint64_t seconds = 3600) {
  RollupRow r;
  r.series_id = id;
  r.hour = hour;
  r.col[kColCount] = seconds;
  r.col[kColHeld] = seconds;
  r.col[kColMin] = r.col[kColMax] = r.col[kColLast] = value;
  const unsigned __int128 integral = static_cast<unsigned __int128>(value) * seconds;
  r.col[kColIntegralLo] = static_cast<uint64_t>(integral);
  r.col[kColIntegralHi] = static_cast<uint64_t>(integral >> 64);
  return r;
}

inline RollupRow CounterRow(uint64_t id, int64_t hour, uint64_t increase) {
  RollupRow r;
  r.series_id = id;
  r.hour = hour;
  r.col[kColCount] = 3600;
  r.col[kColIncrease] = increase;
  return r;
}

inline void SortRows(std::vector<RollupRow>* rows) {
  std::sort(rows->begin(), rows->end(), [](const RollupRow& a, const RollupRow& b) {
    return a.series_id < b.series_id || (a.series_id == b.series_id && a.hour < b.hour);
  });
}

inline std::shared_ptr<const RollupFileReader> WriteRollupFile(const std::string& path,
                                                               uint64_t file_id,
                                                               RollupLayout layout,
                                                               std::vector<RollupRow> rows) {
  SortRows(&rows);
  auto w = RollupFileWriter::Create(path, file_id, layout);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return nullptr;
  EXPECT_TRUE((*w)->Add(rows.data(), rows.size()).ok());
  auto info = (*w)->Finish();
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  auto r = RollupFileReader::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::shared_ptr<const RollupFileReader>(std::move(r).value());
}

// A view of `rows` in one month-style file, every hour sealed.
inline query::RollupView ViewOf(const std::string& dir, std::vector<RollupRow> rows) {
  query::RollupView view;
  if (!rows.empty()) {
    view.files.files.push_back(
        WriteRollupFile(dir + "/m.mru", 1, RollupLayout::kPerSeries, std::move(rows)));
  }
  view.sealed_before = view.files.sealed_before = INT64_MAX / 2;
  return view;
}

inline std::unique_ptr<RatingEngine> Engine(std::shared_ptr<const tenancy::Tenancy> t,
                                            std::shared_ptr<const pricebook::PriceBook> book,
                                            std::vector<SeriesInfo> series,
                                            std::vector<pricebook::Subscription> subs = {},
                                            RatingOptions options = {}) {
  RatingCatalog c{std::move(t), std::move(book), std::move(subs)};
  auto e = RatingEngine::Create(std::move(c), std::move(series), options);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

inline RatingResult RateOk(const RatingEngine& e, const query::RollupView& view,
                           const RatingRequest& req) {
  auto r = e.Rate(view, req);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : RatingResult{};
}

inline RatingRequest Month(int64_t from = kJan1, int64_t to = kFeb1) {
  RatingRequest r;
  r.from = from;
  r.to = to;
  return r;
}

// The lines of a result with `product` (and `resource` when given).
inline std::vector<const ChargeLine*> LinesOf(const RatingResult& r, const std::string& product,
                                              const std::string& resource = "") {
  std::vector<const ChargeLine*> out;
  for (const ChargeLine& l : r.lines) {
    if (l.product_id == product && (resource.empty() || l.resource == resource)) {
      out.push_back(&l);
    }
  }
  return out;
}

inline MicroCredits AmountOf(const RatingResult& r, const std::string& product,
                             const std::string& resource = "") {
  MicroCredits sum = 0;
  for (const ChargeLine* l : LinesOf(r, product, resource)) sum += l->amount;
  return sum;
}

}  // namespace meterd::engine::rating::testing
