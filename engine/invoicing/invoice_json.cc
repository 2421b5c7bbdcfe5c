// meterd — engine/invoicing/invoice_json.cc
#include "engine/invoicing/invoice_json.h"

#include "engine/pricebook/money.h"

namespace meterd::engine::invoicing {
namespace {

using Json = nlohmann::ordered_json;

Json AmountJson(const Amount& a) {
  return Json{
      {"credits", pricebook::FormatCredits(a.micro)}, {"micro", a.micro}, {"minor", a.minor}};
}

Json PartyJson(const Party& p) {
  return Json{{"name", p.name},
              {"address", p.address},
              {"country", p.country},
              {"vat_number", p.vat_number},
              {"email", p.email}};
}

// Reading: every key is required (a stored document is written by ToJson); a missing or
// mistyped key is Corruption naming it.
class Reader {
 public:
  explicit Reader(const Json& j, std::string path) : j_(j), path_(std::move(path)) {}
  template <typename T>
  Status Get(const char* key, T* out) const {
    auto it = j_.find(key);
    if (it == j_.end()) return Status::Corruption("invoice document: " + path_ + key + " missing");
    try {
      *out = it->template get<T>();
    } catch (const std::exception& e) {
      return Status::Corruption("invoice document: " + path_ + key + ": " + e.what());
    }
    return Status::OK();
  }
  Result<const Json*> Child(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) return Status::Corruption("invoice document: " + path_ + key + " missing");
    return &*it;
  }
  const std::string& path() const { return path_; }

 private:
  const Json& j_;
  std::string path_;
};

Status ReadAmount(const Reader& r, const char* key, Amount* out) {
  METERD_ASSIGN_OR_RETURN(const Json* j, r.Child(key));
  Reader a(*j, r.path() + key + ".");
  METERD_RETURN_IF_ERROR(a.Get("micro", &out->micro));
  return a.Get("minor", &out->minor);
}

Status ReadParty(const Reader& r, const char* key, Party* out) {
  METERD_ASSIGN_OR_RETURN(const Json* j, r.Child(key));
  Reader p(*j, r.path() + key + ".");
  METERD_RETURN_IF_ERROR(p.Get("name", &out->name));
  METERD_RETURN_IF_ERROR(p.Get("address", &out->address));
  METERD_RETURN_IF_ERROR(p.Get("country", &out->country));
  METERD_RETURN_IF_ERROR(p.Get("vat_number", &out->vat_number));
  return p.Get("email", &out->email);
}

template <typename E>
Status ReadEnum(const Reader& r, const char* key, std::optional<E> (*parse)(std::string_view),
                E* out) {
  std::string text;
  METERD_RETURN_IF_ERROR(r.Get(key, &text));
  auto v = parse(text);
  if (!v) return Status::Corruption("invoice document: " + r.path() + key + ": '" + text + "'");
  *out = *v;
  return Status::OK();
}

}  // namespace

Json ToJson(const Invoice& inv) {
  Json doc;
  doc["format"] = "meterd-invoice/1";
  doc["id"] = inv.id;
  doc["number"] = inv.number;
  doc["sequence"] = inv.sequence;
  doc["kind"] = InvoiceKindName(inv.kind);
  doc["state"] = InvoiceStateName(inv.state);
  doc["provisional"] = inv.provisional;
  doc["account"] = inv.account;
  doc["account_name"] = inv.account_name;
  doc["domain"] = inv.domain;
  doc["domain_name"] = inv.domain_name;
  doc["issuer"] = PartyJson(inv.issuer);
  doc["customer"] = PartyJson(inv.customer);
  doc["period_start"] = inv.period_start;
  doc["period_end"] = inv.period_end;
  doc["time_zone"] = inv.time_zone;
  doc["cycle"] = inv.cycle;
  doc["price_version"] = inv.price_version;
  doc["currency"] = Json{{"code", inv.currency.code},
                         {"per_credit_units", inv.currency.per_credit_units},
                         {"prefix", inv.currency.prefix},
                         {"suffix", inv.currency.suffix},
                         {"minor_digits", inv.currency.minor_digits}};
  doc["rounding"] = inv.rounding;
  Json lines = Json::array();
  for (const InvoiceLine& l : inv.lines) {
    lines.push_back(Json{{"kind", LineKindName(l.kind)},
                         {"group", l.group},
                         {"product_id", l.product_id},
                         {"description", l.description},
                         {"quantity", l.quantity},
                         {"unit", l.unit},
                         {"unit_price_micro", l.unit_price},
                         {"amount", AmountJson(l.amount)}});
  }
  doc["lines"] = std::move(lines);
  Json groups = Json::array();
  for (const GroupSubtotal& g : inv.groups) {
    groups.push_back(Json{{"group", g.group}, {"amount", AmountJson(g.amount)}});
  }
  doc["groups"] = std::move(groups);
  Json discounts = Json::array();
  for (const DiscountLine& d : inv.discounts) {
    discounts.push_back(Json{{"id", d.id},
                             {"description", d.description},
                             {"scope", d.scope},
                             {"target", d.target},
                             {"percent_ppm", d.percent_ppm},
                             {"base_micro", d.base},
                             {"amount", AmountJson(d.amount)}});
  }
  doc["discounts"] = std::move(discounts);
  Json taxes = Json::array();
  for (const TaxLine& t : inv.taxes) {
    taxes.push_back(Json{{"name", t.name},
                         {"country", t.country},
                         {"region", t.region},
                         {"rate_ppm", t.rate_ppm},
                         {"reverse_charge", t.reverse_charge},
                         {"base_micro", t.base},
                         {"amount", AmountJson(t.amount)}});
  }
  doc["taxes"] = std::move(taxes);
  doc["subtotal"] = AmountJson(inv.subtotal);
  doc["discount_total"] = AmountJson(inv.discount_total);
  doc["tax_total"] = AmountJson(inv.tax_total);
  doc["total"] = AmountJson(inv.total);
  doc["promotional_applied"] = AmountJson(inv.promotional_applied);
  doc["prepaid_applied"] = AmountJson(inv.prepaid_applied);
  doc["amount_due"] = AmountJson(inv.amount_due);
  doc["created_at"] = inv.created_at;
  doc["issued_at"] = inv.issued_at;
  doc["due_at"] = inv.due_at;
  doc["credit_note_for"] = inv.credit_note_for;
  doc["reason"] = inv.reason;
  doc["notes"] = inv.notes;
  return doc;
}

Result<Invoice> FromJson(const Json& doc) {
  if (!doc.is_object()) return Status::Corruption("invoice document: not a JSON object");
  Reader r(doc, "");
  std::string format;
  METERD_RETURN_IF_ERROR(r.Get("format", &format));
  if (format != "meterd-invoice/1") {
    return Status::Corruption("invoice document: format '" + format + "' is not meterd-invoice/1");
  }
  Invoice inv;
  METERD_RETURN_IF_ERROR(r.Get("id", &inv.id));
  METERD_RETURN_IF_ERROR(r.Get("number", &inv.number));
  METERD_RETURN_IF_ERROR(r.Get("sequence", &inv.sequence));
  METERD_RETURN_IF_ERROR(ReadEnum(r, "kind", &ParseInvoiceKind, &inv.kind));
  METERD_RETURN_IF_ERROR(ReadEnum(r, "state", &ParseInvoiceState, &inv.state));
  METERD_RETURN_IF_ERROR(r.Get("provisional", &inv.provisional));
  METERD_RETURN_IF_ERROR(r.Get("account", &inv.account));
  METERD_RETURN_IF_ERROR(r.Get("account_name", &inv.account_name));
  METERD_RETURN_IF_ERROR(r.Get("domain", &inv.domain));
  METERD_RETURN_IF_ERROR(r.Get("domain_name", &inv.domain_name));
  METERD_RETURN_IF_ERROR(ReadParty(r, "issuer", &inv.issuer));
  METERD_RETURN_IF_ERROR(ReadParty(r, "customer", &inv.customer));
  METERD_RETURN_IF_ERROR(r.Get("period_start", &inv.period_start));
  METERD_RETURN_IF_ERROR(r.Get("period_end", &inv.period_end));
  METERD_RETURN_IF_ERROR(r.Get("time_zone", &inv.time_zone));
  METERD_RETURN_IF_ERROR(r.Get("cycle", &inv.cycle));
  METERD_RETURN_IF_ERROR(r.Get("price_version", &inv.price_version));
  {
    METERD_ASSIGN_OR_RETURN(const Json* c, r.Child("currency"));
    Reader cr(*c, "currency.");
    METERD_RETURN_IF_ERROR(cr.Get("code", &inv.currency.code));
    METERD_RETURN_IF_ERROR(cr.Get("per_credit_units", &inv.currency.per_credit_units));
    METERD_RETURN_IF_ERROR(cr.Get("prefix", &inv.currency.prefix));
    METERD_RETURN_IF_ERROR(cr.Get("suffix", &inv.currency.suffix));
    METERD_RETURN_IF_ERROR(cr.Get("minor_digits", &inv.currency.minor_digits));
  }
  METERD_RETURN_IF_ERROR(r.Get("rounding", &inv.rounding));
  auto array = [&](const char* key) -> Result<const Json*> {
    METERD_ASSIGN_OR_RETURN(const Json* a, r.Child(key));
    if (!a->is_array()) return Status::Corruption(std::string("invoice document: ") + key);
    return a;
  };
  METERD_ASSIGN_OR_RETURN(const Json* lines, array("lines"));
  for (size_t i = 0; i < lines->size(); ++i) {
    Reader lr((*lines)[i], "lines[" + std::to_string(i) + "].");
    InvoiceLine l;
    METERD_RETURN_IF_ERROR(ReadEnum(lr, "kind", &ParseLineKind, &l.kind));
    METERD_RETURN_IF_ERROR(lr.Get("group", &l.group));
    METERD_RETURN_IF_ERROR(lr.Get("product_id", &l.product_id));
    METERD_RETURN_IF_ERROR(lr.Get("description", &l.description));
    METERD_RETURN_IF_ERROR(lr.Get("quantity", &l.quantity));
    METERD_RETURN_IF_ERROR(lr.Get("unit", &l.unit));
    METERD_RETURN_IF_ERROR(lr.Get("unit_price_micro", &l.unit_price));
    METERD_RETURN_IF_ERROR(ReadAmount(lr, "amount", &l.amount));
    inv.lines.push_back(std::move(l));
  }
  METERD_ASSIGN_OR_RETURN(const Json* groups, array("groups"));
  for (size_t i = 0; i < groups->size(); ++i) {
    Reader gr((*groups)[i], "groups[" + std::to_string(i) + "].");
    GroupSubtotal g;
    METERD_RETURN_IF_ERROR(gr.Get("group", &g.group));
    METERD_RETURN_IF_ERROR(ReadAmount(gr, "amount", &g.amount));
    inv.groups.push_back(std::move(g));
  }
  METERD_ASSIGN_OR_RETURN(const Json* discounts, array("discounts"));
  for (size_t i = 0; i < discounts->size(); ++i) {
    Reader dr((*discounts)[i], "discounts[" + std::to_string(i) + "].");
    DiscountLine d;
    METERD_RETURN_IF_ERROR(dr.Get("id", &d.id));
    METERD_RETURN_IF_ERROR(dr.Get("description", &d.description));
    METERD_RETURN_IF_ERROR(dr.Get("scope", &d.scope));
    METERD_RETURN_IF_ERROR(dr.Get("target", &d.target));
    METERD_RETURN_IF_ERROR(dr.Get("percent_ppm", &d.percent_ppm));
    METERD_RETURN_IF_ERROR(dr.Get("base_micro", &d.base));
    METERD_RETURN_IF_ERROR(ReadAmount(dr, "amount", &d.amount));
    inv.discounts.push_back(std::move(d));
  }
  METERD_ASSIGN_OR_RETURN(const Json* taxes, array("taxes"));
  for (size_t i = 0; i < taxes->size(); ++i) {
    Reader tr((*taxes)[i], "taxes[" + std::to_string(i) + "].");
    TaxLine t;
    METERD_RETURN_IF_ERROR(tr.Get("name", &t.name));
    METERD_RETURN_IF_ERROR(tr.Get("country", &t.country));
    METERD_RETURN_IF_ERROR(tr.Get("region", &t.region));
    METERD_RETURN_IF_ERROR(tr.Get("rate_ppm", &t.rate_ppm));
    METERD_RETURN_IF_ERROR(tr.Get("reverse_charge", &t.reverse_charge));
    METERD_RETURN_IF_ERROR(tr.Get("base_micro", &t.base));
    METERD_RETURN_IF_ERROR(ReadAmount(tr, "amount", &t.amount));
    inv.taxes.push_back(std::move(t));
  }
  METERD_RETURN_IF_ERROR(ReadAmount(r, "subtotal", &inv.subtotal));
  METERD_RETURN_IF_ERROR(ReadAmount(r, "discount_total", &inv.discount_total));
  METERD_RETURN_IF_ERROR(ReadAmount(r, "tax_total", &inv.tax_total));
  METERD_RETURN_IF_ERROR(ReadAmount(r, "total", &inv.total));
  METERD_RETURN_IF_ERROR(ReadAmount(r, "promotional_applied", &inv.promotional_applied));
  METERD_RETURN_IF_ERROR(ReadAmount(r, "prepaid_applied", &inv.prepaid_applied));
  METERD_RETURN_IF_ERROR(ReadAmount(r, "amount_due", &inv.amount_due));
  METERD_RETURN_IF_ERROR(r.Get("created_at", &inv.created_at));
  METERD_RETURN_IF_ERROR(r.Get("issued_at", &inv.issued_at));
  METERD_RETURN_IF_ERROR(r.Get("due_at", &inv.due_at));
  METERD_RETURN_IF_ERROR(r.Get("credit_note_for", &inv.credit_note_for));
  METERD_RETURN_IF_ERROR(r.Get("reason", &inv.reason));
  METERD_RETURN_IF_ERROR(r.Get("notes", &inv.notes));
  return inv;
}

Result<Invoice> FromJsonText(std::string_view text) {
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::Corruption("invoice document: not JSON");
  return FromJson(doc);
}

}  // namespace meterd::engine::invoicing
