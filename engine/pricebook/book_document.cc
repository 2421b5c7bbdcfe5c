// meterd — engine/pricebook/book_document.cc
#include "engine/pricebook/book_document.h"

#include "engine/pricebook/units.h"
#include "storage/base/calendar.h"

namespace meterd::engine::pricebook {
namespace {

using tenancy::DocErrors;
using tenancy::DocNode;
using tenancy::FieldReader;

std::string Indexed(const std::string& base, const char* key, size_t i) {
  return base + "." + key + "[" + std::to_string(i) + "]";
}

// A decimal field.
std::optional<Decimal> ReadDecimal(FieldReader& r, std::string_view key, bool required) {
  auto s = r.String(key, required);
  if (!s) return std::nullopt;
  Result<Decimal> d = Decimal::Parse(*s);
  if (!d.ok()) {
    r.Error(key, std::string(d.status().message()));
    return std::nullopt;
  }
  return d.value();
}

// A non-negative amount of credits, exact to the micro-credit.
std::optional<MicroCredits> ReadCredits(FieldReader& r, std::string_view key, bool required) {
  auto d = ReadDecimal(r, key, required);
  if (!d) return std::nullopt;
  if (d->is_negative()) {
    r.Error(key, "must not be negative");
    return std::nullopt;
  }
  auto micro = d->ScaledExact(6);
  if (!micro) {
    r.Error(key, "\"" + d->ToString() +
                     "\" has more than 6 decimal places: prices are whole micro-credits (per "
                     "billing unit; use a larger unit for a smaller price)");
    return std::nullopt;
  }
  return *micro;
}

// A non-negative quantity in billing units whose raw value (x divisor) is an integer.
bool ReadQuantity(FieldReader& r, std::string_view key, uint64_t divisor, bool positive,
                  Decimal* out, unsigned __int128* raw) {
  auto d = ReadDecimal(r, key, false);
  if (!d) return false;
  if (d->is_negative() || (positive && d->is_zero())) {
    r.Error(key, positive ? "must be greater than 0" : "must not be negative");
    return false;
  }
  auto x = d->TimesExact(divisor);
  if (!x) {
    r.Error(key, "\"" + d->ToString() + "\" is not a whole number of raw units (x " +
                     std::to_string(divisor) + " per unit)");
    return false;
  }
  *out = *d;
  *raw = static_cast<unsigned __int128>(*x);
  return true;
}

std::optional<uint32_t> StateCode(std::string_view metric, const std::string& text) {
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '7') return text[0] - '0';
  if (metric == "vm.state") {
    for (uint32_t c = 1; c < 8; ++c) {
      const char* name = VmStateName(c);
      if (name && text == name) return c;
    }
  }
  return std::nullopt;
}

std::optional<PriceModel> ParseModel(std::string_view s) {
  for (PriceModel m : {PriceModel::kPerUnit, PriceModel::kGraduated, PriceModel::kVolume,
                       PriceModel::kPackage, PriceModel::kSubscription}) {
    if (s == PriceModelName(m)) return m;
  }
  return std::nullopt;
}

// Decodes products[i]; nullopt after errors.
std::optional<Product> DecodeProduct(const DocNode& node, const std::string& path,
                                     const BookContext& ctx, DocErrors* errors) {
  const size_t before = errors->size();
  FieldReader r(node, path, errors);
  if (!r.is_map()) return std::nullopt;
  Product p;
  const bool stored = ctx.metrics == nullptr;
  auto id = r.Id("id", true);
  auto name = r.String("name", false);
  auto group = r.String("group", false);
  auto description = r.String("description", false);
  auto model_text = r.String("model", false);
  p.model = PriceModel::kPerUnit;
  if (model_text) {
    auto m = ParseModel(*model_text);
    if (!m) {
      r.Error("model", "\"" + *model_text +
                           "\" is not a price model (per_unit, graduated, volume, package, "
                           "subscription)");
      r.Finish();
      return std::nullopt;
    }
    p.model = *m;
  }
  if (id) p.id = *id;
  p.name = name.value_or(p.id);
  p.group = group.value_or("");
  p.description = description.value_or("");

  // Which fields the model takes; any other is refused.
  const bool usage = p.model != PriceModel::kSubscription;
  auto only = [&](std::string_view key, bool allowed, const char* models) {
    if (!allowed && node.Find(key) != nullptr) {
      r.Node(key);
      r.Error(key, "applies to " + std::string(models) + " products only, not " +
                       PriceModelName(p.model));
    }
  };
  only("metric", usage, "usage (not subscription)");
  only("states", usage, "usage");
  only("match", usage, "usage");
  only("price", p.model == PriceModel::kPerUnit, "per_unit");
  only("tiers", p.model == PriceModel::kGraduated || p.model == PriceModel::kVolume,
       "graduated and volume");
  only("package", p.model == PriceModel::kPackage, "package");
  only("free", p.model == PriceModel::kPerUnit || p.model == PriceModel::kGraduated,
       "per_unit and graduated");
  only("cap", p.model == PriceModel::kPerUnit, "per_unit");
  only("minimum", usage, "usage");
  only("one_time_fee", !usage, "subscription");
  only("monthly_fee", !usage, "subscription");
  only("proration", !usage, "subscription");

  if (!usage) {
    auto unit = r.String("unit", false);
    if (unit && *unit != "month") r.Error("unit", "a subscription is billed per month");
    p.unit = "month";
    p.divisor = 1;
    auto once = ReadCredits(r, "one_time_fee", false);
    auto monthly = ReadCredits(r, "monthly_fee", false);
    p.one_time_fee = once.value_or(0);
    p.monthly_fee = monthly.value_or(0);
    if (!r.Node("one_time_fee") && !r.Node("monthly_fee")) {
      r.Error("model", "a subscription product needs a one_time_fee or a monthly_fee");
    }
    auto proration = r.String("proration", false);
    if (proration) {
      if (*proration == "none") {
        p.proration = Proration::kNone;
      } else if (*proration == "hourly") {
        p.proration = Proration::kHourly;
      } else {
        r.Error("proration", "must be none or hourly");
      }
    }
    r.Finish();
    if (errors->size() != before) return std::nullopt;
    return p;
  }

  // The metric: its kind and unit fix the billing units.
  auto metric = r.String("metric", true);
  std::string metric_unit;
  if (stored) {
    auto kind = r.String("metric_kind", true);
    auto mu = r.String("metric_unit", true);
    if (kind) {
      auto k = ParseMetricKind(*kind);
      if (k)
        p.kind = *k;
      else
        r.Error("metric_kind", "is not a metric kind");
    }
    metric_unit = mu.value_or("");
  } else if (metric) {
    Result<MetricDef> def = ctx.metrics->Find(*metric);
    if (!def.ok()) {
      r.Error("metric", "\"" + *metric + "\" is not a known metric (docs/metrics.md)");
      metric.reset();
    } else {
      p.kind = def->kind;
      metric_unit = def->unit;
    }
  }
  if (metric) p.metric = *metric;

  const DocNode* states = r.Node("states");
  if (metric && p.kind == MetricKind::kState) {
    if (states == nullptr || !states->is_sequence() || states->items.empty()) {
      r.Error("states", "must list the states this product bills (running, stopped, ...)");
    } else {
      for (size_t i = 0; i < states->items.size(); ++i) {
        const DocNode& s = states->items[i];
        auto code = s.is_scalar() ? StateCode(p.metric, s.scalar) : std::nullopt;
        if (!code) {
          errors->Add(s.line, r.PathOf("states") + "[" + std::to_string(i) + "]",
                      "\"" + s.scalar + "\" is not a state of " + p.metric +
                          " (running, stopped, allocated, paused, suspended, deleted or 0-7)");
          continue;
        }
        if (p.state_mask & (1u << *code)) {
          errors->Add(s.line, r.PathOf("states") + "[" + std::to_string(i) + "]",
                      "lists a state twice");
        }
        p.state_mask = static_cast<uint8_t>(p.state_mask | (1u << *code));
      }
    }
  } else if (metric && states != nullptr) {
    r.Error("states",
            "applies to state metrics only; " + p.metric + " is a " + MetricKindName(p.kind));
  }

  if (const DocNode* m = r.Node("match"); m != nullptr && !m->is_null()) {
    FieldReader mr(*m, r.PathOf("match"), errors);
    auto check = [&](const char* key, std::string* out, bool exists_known, const char* what) {
      auto v = mr.Id(key, false);
      if (!v) return;
      *out = *v;
      if (!exists_known) mr.Error(key, "\"" + *v + "\" is not a known " + what);
    };
    if (mr.is_map()) {
      const tenancy::Tenancy* t = ctx.tenancy;
      auto plan = mr.Id("plan", false);
      if (plan) {
        p.match.plan = *plan;
        if (t && !t->FindPlan(*plan)) mr.Error("plan", "\"" + *plan + "\" is not a known plan");
      }
      auto pg = mr.Id("plan_group", false);
      if (pg) {
        p.match.plan_group = *pg;
        if (t && !t->FindPlanGroup(*pg)) {
          mr.Error("plan_group", "\"" + *pg + "\" is not a known plan group");
        }
      }
      auto loc = mr.Id("location", false);
      if (loc) {
        p.match.location = *loc;
        if (t && !t->FindLocation(*loc)) {
          mr.Error("location", "\"" + *loc + "\" is not a known location");
        }
      }
      check("storage_tier", &p.match.storage_tier, true, "");
      check("resource_type", &p.match.resource_type, true, "");
      mr.Finish();
    }
  }

  // Unit and divisor.
  auto unit = r.String("unit", true);
  auto divisor = r.Int("divisor", false, 1, INT64_MAX);
  if (unit) {
    if (divisor) {
      p.unit = CanonicalUnit(*unit);
      p.divisor = static_cast<uint64_t>(*divisor);
    } else if (metric) {
      Result<BillingUnit> u = ResolveUnit(p.kind, metric_unit, *unit);
      if (!u.ok()) {
        r.Error("unit", std::string(u.status().message()));
      } else {
        p.unit = u->name;
        p.divisor = u->divisor;
      }
    }
  }
  if (stored) {
    r.Node("metric_kind");
    r.Node("metric_unit");
  }
  const bool have_divisor = !p.unit.empty();

  switch (p.model) {
    case PriceModel::kPerUnit: {
      auto price = ReadCredits(r, "price", true);
      p.unit_price = price.value_or(0);
      break;
    }
    case PriceModel::kGraduated:
    case PriceModel::kVolume: {
      const DocNode* tiers = r.Sequence("tiers", true);
      if (tiers && tiers->items.empty()) r.Error("tiers", "must list at least one tier");
      for (size_t i = 0; tiers && i < tiers->items.size(); ++i) {
        const std::string tpath = r.PathOf("tiers") + "[" + std::to_string(i) + "]";
        FieldReader tr(tiers->items[i], tpath, errors);
        if (!tr.is_map()) continue;
        Tier tier;
        auto price = ReadCredits(tr, "price", true);
        tier.unit_price = price.value_or(0);
        const bool last = i + 1 == tiers->items.size();
        const DocNode* up = tr.Node("up_to");
        const bool unbounded = up == nullptr || up->is_null() ||
                               (up->is_scalar() && (up->scalar == "inf" || up->scalar == "rest"));
        if (last && !unbounded) {
          tr.Error("up_to", "must be left out in the last tier (it takes the rest)");
        } else if (!last && unbounded) {
          tr.Error("up_to", "is required in every tier but the last");
        } else if (!last && have_divisor) {
          if (ReadQuantity(tr, "up_to", p.divisor, true, &tier.up_to, &tier.up_to_raw) &&
              !p.tiers.empty() && p.tiers.back().up_to_raw != kUnbounded &&
              tier.up_to_raw <= p.tiers.back().up_to_raw) {
            tr.Error("up_to", "must be greater than tiers[" + std::to_string(i - 1) + "].up_to (" +
                                  p.tiers.back().up_to.ToString() + ")");
          }
        }
        if (unbounded) tier.up_to_raw = kUnbounded;
        tr.Finish();
        p.tiers.push_back(tier);
      }
      break;
    }
    case PriceModel::kPackage: {
      const DocNode* pkg = r.Node("package");
      if (pkg == nullptr || pkg->is_null()) {
        r.Error("package", "is required: {size, price}");
        break;
      }
      FieldReader pr(*pkg, r.PathOf("package"), errors);
      if (!pr.is_map()) break;
      if (!pr.Node("size")) pr.Error("size", "is required");
      if (have_divisor) {
        ReadQuantity(pr, "size", p.divisor, true, &p.package_size, &p.package_size_raw);
      }
      auto price = ReadCredits(pr, "price", true);
      p.package_price = price.value_or(0);
      pr.Finish();
      break;
    }
    case PriceModel::kSubscription:
      break;
  }
  if (have_divisor) {
    if (r.Node("free")) ReadQuantity(r, "free", p.divisor, false, &p.free, &p.free_raw);
    if (r.Node("cap")) ReadQuantity(r, "cap", p.divisor, true, &p.cap, &p.cap_raw);
  }
  if (p.free_raw != 0 && p.cap_raw != 0) {
    r.Error("free", "a product has a cap or a free allowance, not both");
  }
  auto minimum = ReadCredits(r, "minimum", false);
  p.minimum = minimum.value_or(0);
  r.Finish();

  // A product id keeps its meaning across versions.
  for (size_t j = ctx.earlier.size(); j-- > 0;) {
    const Product* q = ctx.earlier[j]->FindProduct(p.id);
    if (q == nullptr) continue;
    std::string what;
    if (q->metric != p.metric)
      what = "metric";
    else if (q->model != p.model)
      what = "model";
    else if (q->unit != p.unit || q->divisor != p.divisor)
      what = "unit";
    else if (q->package_size_raw != p.package_size_raw)
      what = "package size";
    if (!what.empty() && errors->size() == before) {
      r.Error("id", "product " + p.id + " changes its " + what + " from price book version " +
                        std::to_string(ctx.earlier[j]->version) +
                        " (a product keeps its metric, model and unit: give it a new id)");
    }
    break;
  }
  if (errors->size() != before) return std::nullopt;
  return p;
}

nlohmann::json EncodeProduct(const Product& p) {
  nlohmann::json j;
  j["id"] = p.id;
  j["name"] = p.name;
  j["group"] = p.group;
  j["description"] = p.description;
  j["model"] = PriceModelName(p.model);
  j["unit"] = p.unit;
  if (p.model == PriceModel::kSubscription) {
    j["one_time_fee"] = FormatCredits(p.one_time_fee);
    j["monthly_fee"] = FormatCredits(p.monthly_fee);
    j["proration"] = p.proration == Proration::kHourly ? "hourly" : "none";
    return j;
  }
  j["divisor"] = p.divisor;
  j["metric"] = p.metric;
  j["metric_kind"] = MetricKindName(p.kind);
  j["metric_unit"] = "";  // the divisor is stored, so the unit table is not consulted again
  if (p.kind == MetricKind::kState) {
    nlohmann::json states = nlohmann::json::array();
    for (uint32_t c = 0; c < 8; ++c) {
      if (p.BillsState(c)) states.push_back(std::to_string(c));
    }
    j["states"] = states;
  }
  nlohmann::json match = nlohmann::json::object();
  if (!p.match.plan.empty()) match["plan"] = p.match.plan;
  if (!p.match.plan_group.empty()) match["plan_group"] = p.match.plan_group;
  if (!p.match.location.empty()) match["location"] = p.match.location;
  if (!p.match.storage_tier.empty()) match["storage_tier"] = p.match.storage_tier;
  if (!p.match.resource_type.empty()) match["resource_type"] = p.match.resource_type;
  j["match"] = match;
  PutPriceFields(p, &j);
  return j;
}

}  // namespace

std::optional<PriceBookVersion> DecodeVersion(const DocNode& node, const std::string& path,
                                              const BookContext& ctx, DocErrors* errors) {
  const size_t before = errors->size();
  FieldReader r(node, path, errors);
  if (!r.is_map()) return std::nullopt;
  PriceBookVersion v;
  auto number = r.Int("version", true, 1, UINT32_MAX);
  auto from = r.Time("effective_from", true);
  auto description = r.String("description", false);
  auto rounding = r.String("rounding", false);
  auto default_currency = r.String("default_currency", true);
  if (number) v.version = static_cast<uint32_t>(*number);
  if (from) {
    v.effective_from = *from;
    if (*from % base::kSecondsPerHour != 0) {
      r.Error("effective_from", "must be a whole hour (prices change between hours)");
    }
  }
  v.description = description.value_or("");
  if (rounding) {
    auto m = ParseRoundingMode(*rounding);
    if (!m) {
      r.Error("rounding",
              "\"" + *rounding +
                  "\" is not a rounding mode (half_even, half_away_from_zero, up, down)");
    } else {
      v.rounding = *m;
    }
  }
  const DocNode* currencies = r.Sequence("currencies", true);
  for (size_t i = 0; currencies && i < currencies->items.size(); ++i) {
    FieldReader cr(currencies->items[i], Indexed(path, "currencies", i), errors);
    if (!cr.is_map()) continue;
    Currency c;
    auto code = cr.Id("code", true);
    auto per_credit = ReadDecimal(cr, "per_credit", true);
    auto prefix = cr.String("prefix", false);
    auto suffix = cr.String("suffix", false);
    auto minor = cr.Int("minor_digits", false, 0, 4);
    cr.Finish();
    if (!code) continue;
    c.code = *code;
    if (v.FindCurrency(c.code)) {
      cr.Error("code", "currency " + c.code + " is listed twice");
      continue;
    }
    if (per_credit && (per_credit->units() <= 0 || *per_credit > Decimal::FromInt(1000000))) {
      cr.Error("per_credit", "must be greater than 0 and at most 1000000");
    }
    c.per_credit = per_credit.value_or(Decimal::FromInt(1));
    c.prefix = prefix.value_or(c.code + " ");
    c.suffix = suffix.value_or("");
    c.minor_digits = static_cast<uint8_t>(minor.value_or(2));
    v.currencies.push_back(c);
  }
  if (currencies && currencies->items.empty()) r.Error("currencies", "must list a currency");
  if (default_currency) {
    v.default_currency = *default_currency;
    if (currencies && !v.FindCurrency(*default_currency)) {
      r.Error("default_currency", "\"" + *default_currency + "\" is not one of the currencies");
    }
  }
  const DocNode* products = r.Sequence("products", false);
  for (size_t i = 0; products && i < products->items.size(); ++i) {
    const std::string ppath = Indexed(path, "products", i);
    std::optional<Product> p = DecodeProduct(products->items[i], ppath, ctx, errors);
    if (!p) continue;
    bool clash = false;
    for (size_t k = 0; k < v.products.size(); ++k) {
      const Product& q = v.products[k];
      if (q.id == p->id) {
        errors->Add(products->items[i].line, ppath + ".id",
                    "product " + p->id + " is listed twice");
        clash = true;
        break;
      }
      if (q.is_usage() && p->is_usage() && q.metric == p->metric && q.match == p->match &&
          (p->kind != MetricKind::kState || (q.state_mask & p->state_mask) != 0)) {
        errors->Add(products->items[i].line, ppath + ".match",
                    "prices the same usage as product " + q.id +
                        " (same metric, states and match): resolution would be ambiguous");
        clash = true;
        break;
      }
    }
    if (!clash) v.products.push_back(std::move(*p));
  }
  r.Finish();
  if (errors->size() != before) return std::nullopt;
  Status s = FinalizeVersion(&v);
  if (!s.ok()) {
    errors->Add(node.line, path, std::string(s.message()));
    return std::nullopt;
  }
  return v;
}

nlohmann::json EncodeVersion(const PriceBookVersion& v) {
  nlohmann::json j;
  j["version"] = v.version;
  j["effective_from"] = tenancy::FormatTime(v.effective_from);
  j["description"] = v.description;
  j["rounding"] = RoundingModeName(v.rounding);
  j["default_currency"] = v.default_currency;
  nlohmann::json currencies = nlohmann::json::array();
  for (const Currency& c : v.currencies) {
    currencies.push_back({{"code", c.code},
                          {"per_credit", c.per_credit.ToString()},
                          {"prefix", c.prefix},
                          {"suffix", c.suffix},
                          {"minor_digits", c.minor_digits}});
  }
  j["currencies"] = currencies;
  nlohmann::json products = nlohmann::json::array();
  for (const Product& p : v.products) products.push_back(EncodeProduct(p));
  j["products"] = products;
  return j;
}

std::optional<Subscription> DecodeSubscription(const DocNode& node, const std::string& path,
                                               const tenancy::Tenancy& tenancy,
                                               const PriceBook& book, DocErrors* errors) {
  const size_t before = errors->size();
  FieldReader r(node, path, errors);
  if (!r.is_map()) return std::nullopt;
  Subscription s;
  auto id = r.Id("id", true);
  auto account = r.Id("account", true);
  auto product = r.Id("product", true);
  auto quantity = r.Int("quantity", false, 1, 1000000);
  auto start = r.Time("start", true);
  auto end = r.Time("end", false);
  auto description = r.String("description", false);
  r.Finish();
  if (account && !tenancy.FindAccount(*account)) {
    r.Error("account", "\"" + *account + "\" is not a known account");
  }
  if (start && end && *end <= *start) r.Error("end", "must be later than start");
  if (product && start) {
    const PriceBookVersion* v = book.VersionAt(*start);
    const Product* p = v ? v->FindProduct(*product) : nullptr;
    if (v == nullptr) {
      r.Error("start", "no price book version is in force at " + tenancy::FormatTime(*start));
    } else if (p == nullptr || p->model != PriceModel::kSubscription) {
      r.Error("product", "\"" + *product +
                             "\" is not a subscription product of price book version " +
                             std::to_string(v->version) + " (in force at start)");
    }
  }
  if (errors->size() != before) return std::nullopt;
  s.id = *id;
  s.account = *account;
  s.product = *product;
  s.quantity = static_cast<uint32_t>(quantity.value_or(1));
  s.start = *start;
  s.end = end.value_or(kNoEnd);
  s.description = description.value_or("");
  return s;
}

}  // namespace meterd::engine::pricebook
