// meterd — engine/pricebook/catalog_export.cc
#include "engine/pricebook/catalog_export.h"

#include <charconv>

#include "engine/pricebook/book_document.h"
#include "engine/pricebook/units.h"

namespace meterd::engine::pricebook {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kSections[] = {
    "locations", "plan_groups",        "plans",           "domains",
    "accounts",  "projects",           "resources",       "billing_profiles",
    "tax_rates", "tax_settings",       "invoice_issuers", "discounts",
    "coupons",   "coupon_redemptions", "price_books",     "subscriptions"};

// Sections a whole export leaves out when they are empty, so that a catalog without them exports
// exactly as it did before they existed.
bool OptionalSection(std::string_view s) {
  return s == "billing_profiles" || s == "tax_rates" || s == "tax_settings" ||
         s == "invoice_issuers" || s == "discounts" || s == "coupons" || s == "coupon_redemptions";
}

std::string SectionList() {
  std::string out;
  for (std::string_view s : kSections) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

void SetIfNotEmpty(Json& j, const char* key, const std::string& value) {
  if (!value.empty()) j[key] = value;
}

// ---- tenancy ----

Json LocationJson(const tenancy::Location& l) { return Json{{"id", l.id}, {"name", l.name}}; }

Json PlanGroupJson(const tenancy::PlanGroup& g) { return Json{{"id", g.id}, {"name", g.name}}; }

Json PlanJson(const tenancy::Plan& p) {
  Json j{{"id", p.id}, {"name", p.name}};
  SetIfNotEmpty(j, "group", p.group);
  j["vcpus"] = p.vcpus;
  j["memory_bytes"] = p.memory_bytes;
  j["disk_bytes"] = p.disk_bytes;
  SetIfNotEmpty(j, "description", p.description);
  return j;
}

Json DomainJson(const tenancy::Domain& d) {
  Json j{{"id", d.id}, {"name", d.name}};
  SetIfNotEmpty(j, "parent", d.parent);
  return j;
}

Json AccountJson(const tenancy::Account& a) {
  Json j{{"id", a.id}, {"domain", a.domain}, {"name", a.name}};
  SetIfNotEmpty(j, "currency", a.currency);
  j["allow_negative_balance"] = a.allow_negative_balance;
  return j;
}

Json ProjectJson(const tenancy::Project& p) {
  return Json{{"id", p.id}, {"account", p.account}, {"name", p.name}};
}

// Every attribute of every version, "" for none: a version read alone means what it says
// (apply would otherwise inherit a left-out field from the version before).
Json ResourceJson(const tenancy::Resource& r) {
  Json versions = Json::array();
  for (const tenancy::ResourceVersion& v : r.versions) {
    if (v.deleted) {  // a deletion carries no attributes (it inherits them)
      versions.push_back(
          Json{{"effective_from", tenancy::FormatTime(v.effective_from)}, {"deleted", true}});
      continue;
    }
    versions.push_back(Json{{"effective_from", tenancy::FormatTime(v.effective_from)},
                            {"type", v.type},
                            {"project", v.project},
                            {"location", v.location},
                            {"plan", v.plan},
                            {"storage_tier", v.storage_tier}});
  }
  Json j{{"id", r.id}, {"name", r.name}};
  SetIfNotEmpty(j, "agent_id", r.agent_id);
  j["versions"] = std::move(versions);
  return j;
}

// Fields at their default are left out, but the zone and the cycle are always written.
Json BillingProfileJson(const tenancy::BillingProfile& p) {
  Json j{{"account", p.account}};
  SetIfNotEmpty(j, "address", p.address);
  SetIfNotEmpty(j, "country", p.country);
  SetIfNotEmpty(j, "region", p.region);
  SetIfNotEmpty(j, "vat_number", p.vat_number);
  j["time_zone"] = p.time_zone;
  SetIfNotEmpty(j, "currency", p.currency);
  j["cycle"] = std::string(cycles::CycleKindName(p.cycle.kind));
  if (p.cycle.kind == cycles::CycleKind::kMonthlyAnchored) j["anchor_day"] = p.cycle.anchor_day;
  if (p.cycle.kind == cycles::CycleKind::kWeekly) {
    j["week_start"] = std::string(cycles::WeekdayName(p.cycle.week_start));
  }
  return j;
}

// ---- invoicing (docs/taxes-and-discounts.md) ----

Json TaxRateJson(const tenancy::TaxRate& r) {
  Json j{{"country", r.country}};
  SetIfNotEmpty(j, "region", r.region);
  j["name"] = r.name;
  j["rate"] = tenancy::FormatPercentPpm(r.rate_ppm);
  j["effective_from"] = tenancy::FormatTime(r.effective_from);
  if (r.compound) j["compound"] = true;
  return j;
}

Json TaxSettingsJson(const tenancy::TaxSettings& s) {
  return Json{{"domain", s.scope},
              {"country", s.country},
              {"reverse_charge", s.reverse_charge},
              {"vat_on_prepaid", tenancy::VatOnPrepaidName(s.vat_on_prepaid)}};
}

Json IssuerJson(const tenancy::InvoiceIssuer& s) {
  Json j{{"domain", s.scope}, {"name", s.name}};
  SetIfNotEmpty(j, "address", s.address);
  SetIfNotEmpty(j, "country", s.country);
  SetIfNotEmpty(j, "vat_number", s.vat_number);
  SetIfNotEmpty(j, "email", s.email);
  j["number_prefix"] = s.number_prefix;
  j["credit_note_prefix"] = s.credit_note_prefix;
  j["payment_terms_days"] = s.payment_terms_days;
  j["sequence_width"] = s.sequence_width;
  return j;
}

// percent or amount, as exact decimal text.
void PercentOrAmount(Json& j, uint32_t percent_ppm, int64_t amount) {
  if (percent_ppm != 0) {
    j["percent"] = tenancy::FormatPercentPpm(percent_ppm);
  } else {
    j["amount"] = tenancy::FormatCreditsMicro(amount);
  }
}

Json DiscountJson(const tenancy::Discount& d) {
  Json j{{"id", d.id}};
  if (d.description != d.id) j["description"] = d.description;
  j["scope"] = tenancy::DiscountScopeName(d.scope);
  SetIfNotEmpty(j, "target", d.target);
  PercentOrAmount(j, d.percent_ppm, d.amount);
  if (d.domain.empty()) {
    j["accounts"] = d.accounts;
  } else {
    j["domain"] = d.domain;
  }
  if (d.valid_from != 0) j["valid_from"] = tenancy::FormatTime(d.valid_from);
  if (d.valid_until != tenancy::kNoEndTime) j["valid_until"] = tenancy::FormatTime(d.valid_until);
  return j;
}

Json CouponJson(const tenancy::Coupon& c) {
  Json j{{"id", c.id}};
  if (c.description != c.id) j["description"] = c.description;
  PercentOrAmount(j, c.percent_ppm, c.amount);
  j["duration_cycles"] = c.duration_cycles;
  return j;
}

Json RedemptionJson(const tenancy::CouponRedemption& r) {
  return Json{{"account", r.account},
              {"coupon", r.coupon},
              {"redeemed_at", tenancy::FormatTime(r.redeemed_at)}};
}

// The entries of a section keyed by something other than an id (a country, a domain, an
// account): all of them, or those whose key is `id` (NotFound when none).
template <typename T, typename Key, typename Encode>
Result<Json> Matching(const std::vector<T>& items, const std::string& id, Key key, Encode encode,
                      const std::string& none) {
  Json out = Json::array();
  for (const T& item : items) {
    if (id.empty() || key(item) == id) out.push_back(encode(item));
  }
  if (!id.empty() && out.empty()) return Status::NotFound(none);
  return out;
}

// ---- price book ----

// The document form of a product (book_document.cc's DecodeProduct reads it back to an equal
// Product). Unlike the stored form (EncodeVersion) it names states and leaves out the
// metric's kind and unit, which apply takes from the metric catalog.
Json ProductJson(const Product& p, const MetricCatalog* metrics) {
  Json j{{"id", p.id}, {"name", p.name}};
  SetIfNotEmpty(j, "group", p.group);
  SetIfNotEmpty(j, "description", p.description);
  j["model"] = PriceModelName(p.model);
  if (p.model == PriceModel::kSubscription) {
    if (p.one_time_fee != 0) j["one_time_fee"] = FormatCredits(p.one_time_fee);
    // A subscription product has at least one of the two fees.
    if (p.monthly_fee != 0 || p.one_time_fee == 0) j["monthly_fee"] = FormatCredits(p.monthly_fee);
    if (p.proration == Proration::kHourly) j["proration"] = "hourly";
    return j;
  }
  j["metric"] = p.metric;
  if (p.kind == MetricKind::kState) {
    Json states = Json::array();
    for (uint32_t c = 0; c < 8; ++c) {
      if (!p.BillsState(c)) continue;
      // vm.state codes 1-6 have names; any other code is written as its digit.
      if (p.metric == "vm.state" && c >= 1 && c <= 6) {
        states.push_back(VmStateName(c));
      } else {
        states.push_back(std::to_string(c));
      }
    }
    j["states"] = std::move(states);
  }
  Json match = Json::object();
  SetIfNotEmpty(match, "plan", p.match.plan);
  SetIfNotEmpty(match, "plan_group", p.match.plan_group);
  SetIfNotEmpty(match, "location", p.match.location);
  SetIfNotEmpty(match, "storage_tier", p.match.storage_tier);
  SetIfNotEmpty(match, "resource_type", p.match.resource_type);
  if (!match.empty()) j["match"] = std::move(match);
  j["unit"] = p.unit;
  // The divisor only when the unit's name does not imply it (a unit of one's own).
  bool implied = false;
  if (metrics != nullptr) {
    Result<MetricDef> def = metrics->Find(p.metric);
    if (def.ok() && def->kind == p.kind) {
      Result<BillingUnit> u = ResolveUnit(def->kind, def->unit, p.unit);
      implied = u.ok() && u->name == p.unit && u->divisor == p.divisor;
    }
  }
  if (!implied) j["divisor"] = p.divisor;
  PutPriceFields(p, &j);
  return j;
}

Json VersionJson(const PriceBookVersion& v, const MetricCatalog* metrics) {
  Json j{{"version", v.version}, {"effective_from", tenancy::FormatTime(v.effective_from)}};
  SetIfNotEmpty(j, "description", v.description);
  j["rounding"] = RoundingModeName(v.rounding);
  j["default_currency"] = v.default_currency;
  Json currencies = Json::array();
  for (const Currency& c : v.currencies) {
    currencies.push_back(Json{{"code", c.code},
                              {"per_credit", c.per_credit.ToString()},
                              {"prefix", c.prefix},
                              {"suffix", c.suffix},
                              {"minor_digits", c.minor_digits}});
  }
  j["currencies"] = std::move(currencies);
  Json products = Json::array();
  for (const Product& p : v.products) products.push_back(ProductJson(p, metrics));
  j["products"] = std::move(products);
  return j;
}

Json SubscriptionJson(const Subscription& s) {
  Json j{{"id", s.id},
         {"account", s.account},
         {"product", s.product},
         {"quantity", s.quantity},
         {"start", tenancy::FormatTime(s.start)}};
  if (s.end != kNoEnd) j["end"] = tenancy::FormatTime(s.end);
  SetIfNotEmpty(j, "description", s.description);
  return j;
}

// ---- sections ----

Status NotInCatalog(const char* entity, const std::string& id) {
  return Status::NotFound(std::string(entity) + " \"" + id + "\" is not in the catalog");
}

// All of `items` (id empty), or the one whose id is `id`.
template <typename T, typename Encode>
Result<Json> Entities(const std::vector<T>& items, const T* one, const std::string& id,
                      const char* entity, Encode encode) {
  Json out = Json::array();
  if (!id.empty()) {
    if (one == nullptr) return NotInCatalog(entity, id);
    out.push_back(encode(*one));
    return out;
  }
  for (const T& item : items) out.push_back(encode(item));
  return out;
}

Result<Json> PriceBooks(const PriceBook& book, const std::string& id,
                        const MetricCatalog* metrics) {
  Json out = Json::array();
  if (id.empty()) {
    for (const PriceBookVersion& v : book.versions()) out.push_back(VersionJson(v, metrics));
    return out;
  }
  uint32_t number = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), number);
  const PriceBookVersion* v =
      ec == std::errc() && end == id.data() + id.size() ? book.FindVersion(number) : nullptr;
  if (v == nullptr) {
    return Status::NotFound("price book version \"" + id + "\" is not in the catalog (" +
                            (book.empty()
                                 ? std::string("it has no version")
                                 : "versions 1 to " + std::to_string(book.versions().size())) +
                            ")");
  }
  out.push_back(VersionJson(*v, metrics));
  return out;
}

Result<Json> Section(const BillingSnapshot& snap, std::string_view section, const std::string& id,
                     const MetricCatalog* metrics) {
  const tenancy::Tenancy& t = *snap.tenancy;
  if (section == "locations") {
    return Entities(t.locations(), t.FindLocation(id), id, "location", LocationJson);
  }
  if (section == "plan_groups") {
    return Entities(t.plan_groups(), t.FindPlanGroup(id), id, "plan group", PlanGroupJson);
  }
  if (section == "plans") return Entities(t.plans(), t.FindPlan(id), id, "plan", PlanJson);
  if (section == "domains") {
    return Entities(t.domains(), t.FindDomain(id), id, "domain", DomainJson);
  }
  if (section == "accounts") {
    return Entities(t.accounts(), t.FindAccount(id), id, "account", AccountJson);
  }
  if (section == "projects") {
    return Entities(t.projects(), t.FindProject(id), id, "project", ProjectJson);
  }
  if (section == "resources") {
    return Entities(t.resources(), t.FindResource(id), id, "resource", ResourceJson);
  }
  if (section == "billing_profiles") {
    Json out = Json::array();
    if (!id.empty()) {
      const tenancy::BillingProfile* p = t.FindBillingProfile(id);
      if (p == nullptr) {
        return Status::NotFound(
            "account \"" + id + "\" has no billing profile" +
            (t.FindAccount(id) == nullptr ? std::string(" (it is not an account)") : ""));
      }
      out.push_back(BillingProfileJson(*p));
      return out;
    }
    for (const tenancy::BillingProfile& p : t.billing_profiles()) {
      out.push_back(BillingProfileJson(p));
    }
    return out;
  }
  if (section == "tax_rates") {
    return Matching(
        t.tax_table().rates, id, [](const tenancy::TaxRate& r) { return r.country; }, TaxRateJson,
        "country \"" + id + "\" has no tax rate");
  }
  if (section == "tax_settings") {
    return Matching(
        t.tax_settings(), id, [](const tenancy::TaxSettings& s) { return s.scope; },
        TaxSettingsJson, "domain \"" + id + "\" has no tax settings of its own");
  }
  if (section == "invoice_issuers") {
    return Matching(
        t.invoice_issuers(), id, [](const tenancy::InvoiceIssuer& s) { return s.scope; },
        IssuerJson, "domain \"" + id + "\" has no invoice issuer of its own");
  }
  if (section == "discounts") {
    const tenancy::DiscountCatalog& c = t.discount_catalog();
    return Entities(c.discounts, c.FindDiscount(id), id, "discount", DiscountJson);
  }
  if (section == "coupons") {
    const tenancy::DiscountCatalog& c = t.discount_catalog();
    return Entities(c.coupons, c.FindCoupon(id), id, "coupon", CouponJson);
  }
  if (section == "coupon_redemptions") {
    return Matching(
        t.discount_catalog().redemptions, id,
        [](const tenancy::CouponRedemption& r) { return r.account; }, RedemptionJson,
        "account \"" + id + "\" has redeemed no coupon");
  }
  if (section == "price_books") return PriceBooks(*snap.price_book, id, metrics);
  if (section == "subscriptions") {
    const SubscriptionSet& subs = *snap.subscriptions;
    return Entities(subs.subscriptions, subs.Find(id), id, "subscription", SubscriptionJson);
  }
  return Status::InvalidArgument("\"" + std::string(section) +
                                 "\" is not a section of the catalog (" + SectionList() +
                                 ", or all)");
}

}  // namespace

std::span<const std::string_view> CatalogSections() { return kSections; }

Result<nlohmann::ordered_json> ExportCatalog(const BillingSnapshot& snapshot,
                                             const ExportFilter& filter,
                                             const MetricCatalog* metrics) {
  const bool all = filter.section.empty() || filter.section == "all";
  if (all && !filter.id.empty()) {
    return Status::InvalidArgument("an id (\"" + filter.id + "\") needs a section (" +
                                   SectionList() + ")");
  }
  Json doc = Json::object();
  doc["schema"] = tenancy::kDocumentSchema;
  if (!all) {
    METERD_ASSIGN_OR_RETURN(Json items, Section(snapshot, filter.section, filter.id, metrics));
    doc[filter.section] = std::move(items);
    return doc;
  }
  for (std::string_view s : kSections) {
    METERD_ASSIGN_OR_RETURN(Json items, Section(snapshot, s, std::string(), metrics));
    // A catalog without billing profiles, taxes or discounts exports as it did before they
    // existed.
    if (OptionalSection(s) && items.empty()) continue;
    doc[std::string(s)] = std::move(items);
  }
  return doc;
}

}  // namespace meterd::engine::pricebook
