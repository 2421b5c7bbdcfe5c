// meterd — bench/meter_bench/catalog_document.cc
#include "bench/meter_bench/catalog_document.h"

#include <nlohmann/json.hpp>

#include "engine/pricebook/billing_store.h"
#include "engine/pricebook/money.h"
#include "engine/tenancy/document.h"

namespace meterd::bench {
namespace {

namespace pb = engine::pricebook;
namespace tn = engine::tenancy;
using nlohmann::json;

// Sets `key` only when the text is not empty (an absent optional field).
void PutText(json* j, const char* key, const std::string& value) {
  if (!value.empty()) (*j)[key] = value;
}

Result<json> EncodeProduct(const pb::Product& p) {
  json j;
  j["id"] = p.id;
  j["name"] = p.name;
  PutText(&j, "group", p.group);
  PutText(&j, "description", p.description);
  j["model"] = pb::PriceModelName(p.model);
  if (p.model == pb::PriceModel::kSubscription) {
    if (p.one_time_fee != 0) j["one_time_fee"] = pb::FormatCredits(p.one_time_fee);
    if (p.monthly_fee != 0) j["monthly_fee"] = pb::FormatCredits(p.monthly_fee);
    j["proration"] = p.proration == pb::Proration::kHourly ? "hourly" : "none";
    return j;
  }
  j["metric"] = p.metric;
  if (p.kind == engine::MetricKind::kState) {
    json states = json::array();
    for (uint32_t c = 0; c < 8; ++c) {
      if (p.BillsState(c)) states.push_back(std::to_string(c));  // codes: always unambiguous
    }
    j["states"] = states;
  }
  json match = json::object();
  PutText(&match, "plan", p.match.plan);
  PutText(&match, "plan_group", p.match.plan_group);
  PutText(&match, "location", p.match.location);
  PutText(&match, "storage_tier", p.match.storage_tier);
  PutText(&match, "resource_type", p.match.resource_type);
  if (!match.empty()) j["match"] = match;
  // The unit alone: the server resolves its divisor from the metric's unit, as for any
  // document, and the check of the applied book compares the divisors.
  j["unit"] = p.unit;
  switch (p.model) {
    case pb::PriceModel::kPerUnit:
      j["price"] = pb::FormatCredits(p.unit_price);
      break;
    case pb::PriceModel::kGraduated:
    case pb::PriceModel::kVolume: {
      json tiers = json::array();
      for (const pb::Tier& t : p.tiers) {
        json tj;
        if (t.up_to_raw != pb::kUnbounded) tj["up_to"] = t.up_to.ToString();
        tj["price"] = pb::FormatCredits(t.unit_price);
        tiers.push_back(std::move(tj));
      }
      j["tiers"] = tiers;
      break;
    }
    case pb::PriceModel::kPackage:
      j["package"] = {{"size", p.package_size.ToString()},
                      {"price", pb::FormatCredits(p.package_price)}};
      break;
    case pb::PriceModel::kSubscription:
      break;
  }
  if (p.free_raw != 0) j["free"] = p.free.ToString();
  if (p.cap_raw != 0) j["cap"] = p.cap.ToString();
  if (p.minimum != 0) j["minimum"] = pb::FormatCredits(p.minimum);
  return j;
}

Result<json> EncodeVersion(const pb::PriceBookVersion& v) {
  json j;
  j["version"] = v.version;
  j["effective_from"] = tn::FormatTime(v.effective_from);
  PutText(&j, "description", v.description);
  j["rounding"] = pb::RoundingModeName(v.rounding);
  j["default_currency"] = v.default_currency;
  json currencies = json::array();
  for (const pb::Currency& c : v.currencies) {
    // prefix and suffix always: an absent prefix means "CODE ".
    json cj = {{"code", c.code},
               {"per_credit", c.per_credit.ToString()},
               {"prefix", c.prefix},
               {"suffix", c.suffix},
               {"minor_digits", c.minor_digits}};
    currencies.push_back(std::move(cj));
  }
  j["currencies"] = currencies;
  json products = json::array();
  for (const pb::Product& p : v.products) {
    METERD_ASSIGN_OR_RETURN(json pj, EncodeProduct(p));
    products.push_back(std::move(pj));
  }
  j["products"] = products;
  return j;
}

// One resource; a version lists the attributes that differ from the version before (omitted
// fields inherit), so the first lists every attribute it has.
Result<json> EncodeResource(const tn::Resource& r) {
  json j;
  j["id"] = r.id;
  PutText(&j, "name", r.name);
  json versions = json::array();
  const tn::ResourceVersion* prev = nullptr;
  for (const tn::ResourceVersion& v : r.versions) {
    json vj;
    vj["effective_from"] = tn::FormatTime(v.effective_from);
    auto put = [&](const char* key, const std::string& value, const std::string* before) {
      if (before != nullptr && *before == value) return Status::OK();
      if (value.empty()) {
        return Status::InvalidArgument("resource " + r.id + ": a version clears " + key +
                                       ", which a catalog document cannot say");
      }
      vj[key] = value;
      return Status::OK();
    };
    METERD_RETURN_IF_ERROR(put("type", v.type, prev ? &prev->type : nullptr));
    METERD_RETURN_IF_ERROR(put("project", v.project, prev ? &prev->project : nullptr));
    if (prev != nullptr || !v.location.empty()) {
      METERD_RETURN_IF_ERROR(put("location", v.location, prev ? &prev->location : nullptr));
    }
    if (prev != nullptr || !v.plan.empty()) {
      METERD_RETURN_IF_ERROR(put("plan", v.plan, prev ? &prev->plan : nullptr));
    }
    if (prev != nullptr || !v.storage_tier.empty()) {
      METERD_RETURN_IF_ERROR(
          put("storage_tier", v.storage_tier, prev ? &prev->storage_tier : nullptr));
    }
    versions.push_back(std::move(vj));
    prev = &v;
  }
  j["versions"] = versions;
  return j;
}

}  // namespace

Result<std::vector<std::string>> CatalogDocuments(const tn::Tenancy& tenancy,
                                                  const pb::PriceBook& book,
                                                  size_t resources_per_document) {
  if (resources_per_document == 0) {
    return Status::InvalidArgument("CatalogDocuments: resources_per_document must be positive");
  }
  std::vector<std::string> docs;
  json head;
  head["schema"] = std::string(tn::kDocumentSchema);
  json& locations = head["locations"] = json::array();
  for (const tn::Location& l : tenancy.locations()) {
    json lj = {{"id", l.id}};
    PutText(&lj, "name", l.name);
    locations.push_back(std::move(lj));
  }
  json& groups = head["plan_groups"] = json::array();
  for (const tn::PlanGroup& g : tenancy.plan_groups()) {
    json gj = {{"id", g.id}};
    PutText(&gj, "name", g.name);
    groups.push_back(std::move(gj));
  }
  json& plans = head["plans"] = json::array();
  for (const tn::Plan& p : tenancy.plans()) {
    json pj = {{"id", p.id}};
    PutText(&pj, "name", p.name);
    PutText(&pj, "group", p.group);
    if (p.vcpus != 0) pj["vcpus"] = p.vcpus;
    if (p.memory_bytes != 0) pj["memory_bytes"] = p.memory_bytes;
    if (p.disk_bytes != 0) pj["disk_bytes"] = p.disk_bytes;
    PutText(&pj, "description", p.description);
    plans.push_back(std::move(pj));
  }
  // A domain's parent may come later in the document (references point anywhere in it).
  json& domains = head["domains"] = json::array();
  for (const tn::Domain& d : tenancy.domains()) {
    json dj = {{"id", d.id}};
    PutText(&dj, "name", d.name);
    PutText(&dj, "parent", d.parent);
    domains.push_back(std::move(dj));
  }
  json& accounts = head["accounts"] = json::array();
  for (const tn::Account& a : tenancy.accounts()) {
    json aj = {{"id", a.id}, {"domain", a.domain}};
    PutText(&aj, "name", a.name);
    PutText(&aj, "currency", a.currency);
    aj["allow_negative_balance"] = a.allow_negative_balance;
    accounts.push_back(std::move(aj));
  }
  json& projects = head["projects"] = json::array();
  for (const tn::Project& p : tenancy.projects()) {
    json pj = {{"id", p.id}, {"account", p.account}};
    PutText(&pj, "name", p.name);
    projects.push_back(std::move(pj));
  }
  json& books = head["price_books"] = json::array();
  for (const pb::PriceBookVersion& v : book.versions()) {
    METERD_ASSIGN_OR_RETURN(json vj, EncodeVersion(v));
    books.push_back(std::move(vj));
  }
  docs.push_back(head.dump());

  const auto& resources = tenancy.resources();
  for (size_t first = 0; first < resources.size(); first += resources_per_document) {
    json doc;
    doc["schema"] = std::string(tn::kDocumentSchema);
    json& list = doc["resources"] = json::array();
    const size_t end = std::min(resources.size(), first + resources_per_document);
    for (size_t i = first; i < end; ++i) {
      METERD_ASSIGN_OR_RETURN(json rj, EncodeResource(resources[i]));
      list.push_back(std::move(rj));
    }
    docs.push_back(doc.dump());
  }
  return docs;
}

bool SameCatalog(const pb::BillingSnapshot& snap, const tn::Tenancy& t, const pb::PriceBook& book,
                 std::string* detail) {
  auto fail = [&](std::string what) {
    *detail = std::move(what);
    return false;
  };
  const tn::Tenancy& s = *snap.tenancy;
  if (s.domains().size() != t.domains().size() || s.accounts().size() != t.accounts().size() ||
      s.projects().size() != t.projects().size() || s.locations().size() != t.locations().size() ||
      s.plan_groups().size() != t.plan_groups().size() || s.plans().size() != t.plans().size() ||
      s.resources().size() != t.resources().size()) {
    return fail("the applied tenancy has other entity counts");
  }
  for (size_t i = 0; i < t.domains().size(); ++i) {
    const auto &x = s.domains()[i], &y = t.domains()[i];
    if (x.id != y.id || x.name != y.name || x.parent != y.parent) return fail("domain " + y.id);
  }
  for (size_t i = 0; i < t.accounts().size(); ++i) {
    const auto &x = s.accounts()[i], &y = t.accounts()[i];
    if (x.id != y.id || x.domain != y.domain || x.name != y.name || x.currency != y.currency ||
        x.allow_negative_balance != y.allow_negative_balance) {
      return fail("account " + y.id);
    }
  }
  for (size_t i = 0; i < t.projects().size(); ++i) {
    const auto &x = s.projects()[i], &y = t.projects()[i];
    if (x.id != y.id || x.account != y.account || x.name != y.name) return fail("project " + y.id);
  }
  for (size_t i = 0; i < t.locations().size(); ++i) {
    if (s.locations()[i].id != t.locations()[i].id ||
        s.locations()[i].name != t.locations()[i].name) {
      return fail("location " + t.locations()[i].id);
    }
  }
  for (size_t i = 0; i < t.plan_groups().size(); ++i) {
    if (s.plan_groups()[i].id != t.plan_groups()[i].id ||
        s.plan_groups()[i].name != t.plan_groups()[i].name) {
      return fail("plan group " + t.plan_groups()[i].id);
    }
  }
  for (size_t i = 0; i < t.plans().size(); ++i) {
    const auto &x = s.plans()[i], &y = t.plans()[i];
    if (x.id != y.id || x.name != y.name || x.group != y.group || x.vcpus != y.vcpus ||
        x.memory_bytes != y.memory_bytes || x.disk_bytes != y.disk_bytes ||
        x.description != y.description) {
      return fail("plan " + y.id);
    }
  }
  for (size_t i = 0; i < t.resources().size(); ++i) {
    const auto &x = s.resources()[i], &y = t.resources()[i];
    bool same = x.id == y.id && x.name == y.name && x.versions.size() == y.versions.size();
    for (size_t v = 0; same && v < y.versions.size(); ++v) {
      same = x.versions[v].SameAttributes(y.versions[v]);
    }
    if (!same) return fail("resource " + y.id);
  }
  const pb::PriceBook& b = *snap.price_book;
  if (b.versions().size() != book.versions().size()) {
    return fail("the applied price book has " + std::to_string(b.versions().size()) +
                " versions, the in-code one " + std::to_string(book.versions().size()));
  }
  for (size_t i = 0; i < book.versions().size(); ++i) {
    const pb::PriceBookVersion &x = b.versions()[i], &y = book.versions()[i];
    const std::string v = "price book version " + std::to_string(y.version);
    if (x.version != y.version || x.effective_from != y.effective_from ||
        x.description != y.description || x.rounding != y.rounding ||
        x.default_currency != y.default_currency) {
      return fail(v + ": another number, start, description, rounding or default currency");
    }
    if (x.currencies.size() != y.currencies.size()) return fail(v + ": another currency count");
    for (size_t c = 0; c < y.currencies.size(); ++c) {
      const pb::Currency &cx = x.currencies[c], &cy = y.currencies[c];
      if (cx == cy) continue;
      return fail(v + ": currency " + cy.code + " differs: applied {" + cx.code + ", " +
                  cx.per_credit.ToString() + ", \"" + cx.prefix + "\", \"" + cx.suffix + "\", " +
                  std::to_string(cx.minor_digits) + "}, in code {" + cy.code + ", " +
                  cy.per_credit.ToString() + ", \"" + cy.prefix + "\", \"" + cy.suffix + "\", " +
                  std::to_string(cy.minor_digits) + "}");
    }
    if (x.products.size() != y.products.size()) return fail(v + ": another product count");
    for (size_t p = 0; p < y.products.size(); ++p) {
      const pb::Product &px = x.products[p], &py = y.products[p];
      if (px == py) continue;
      std::string field = px.id != py.id                   ? "id"
                          : px.unit != py.unit             ? "unit"
                          : px.divisor != py.divisor       ? "divisor"
                          : px.kind != py.kind             ? "kind"
                          : px.state_mask != py.state_mask ? "states"
                          : px.match != py.match           ? "match"
                          : px.model != py.model           ? "model"
                          : px.unit_price != py.unit_price ? "price"
                          : px.tiers != py.tiers           ? "tiers"
                          : px.cap_raw != py.cap_raw       ? "cap"
                                                           : "another field";
      return fail(v + ": product " + py.id + " differs in " + field);
    }
  }
  return true;
}

}  // namespace meterd::bench
