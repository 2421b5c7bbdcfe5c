// meterd — engine/tenancy/invoicing_sections.cc
#include "engine/tenancy/invoicing_sections.h"

#include <array>
#include <map>
#include <tuple>

namespace meterd::engine::tenancy {
namespace {

constexpr std::array<std::string_view, 6> kKeys = {
    "tax_rates", "tax_settings", "invoice_issuers", "discounts", "coupons", "coupon_redemptions"};

constexpr size_t kMaxText = 256;

std::string Indexed(std::string_view key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

class Diff {
 public:
  template <typename T>
  void Field(const char* name, const T& a, const T& b) {
    if (a == b) return;
    if (!text_.empty()) text_ += ", ";
    text_ += name;
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Reports an entry created, updated (with the differing fields) or unchanged; returns whether
// it is to be written.
bool Outcome(ApplyReport* report, const char* entity, const std::string& id, bool existed,
             const Diff& diff) {
  if (!existed) {
    report->Add(entity, id, ChangeKind::kCreated);
    return true;
  }
  if (!diff.empty()) {
    report->Add(entity, id, ChangeKind::kUpdated, diff.text());
    return true;
  }
  report->Add(entity, id, ChangeKind::kUnchanged);
  return false;
}

using RateKey = std::tuple<std::string, std::string, std::string, int64_t>;
RateKey KeyOf(const TaxRate& r) { return {r.country, r.region, r.name, r.effective_from}; }

std::string RateId(const TaxRate& r) {
  return r.country + (r.region.empty() ? "" : "-" + r.region) + "/" + r.name + "/" +
         FormatTime(r.effective_from);
}

struct Decoder {
  const DocNode& root;
  const Tenancy& base;
  const InvoicingRefs& refs;
  DocErrors* errors;
  ApplyReport* report;
  TenancyData* upserts;

  std::map<RateKey, TaxRate> rates;
  std::map<std::string, TaxSettings, std::less<>> settings;
  std::map<std::string, InvoiceIssuer, std::less<>> issuers;
  std::map<std::string, Discount, std::less<>> discounts;
  std::map<std::string, Coupon, std::less<>> coupons;
  std::map<std::pair<std::string, std::string>, CouponRedemption> redemptions;

  template <typename F>
  void Each(std::string_view key, F&& each) {
    const DocNode* seq = root.Find(key);
    if (seq == nullptr || seq->is_null()) return;
    if (!seq->is_sequence()) {
      errors->Add(seq->line, std::string(key), "must be a list");
      return;
    }
    for (size_t i = 0; i < seq->items.size(); ++i) {
      FieldReader r(seq->items[i], Indexed(key, i), errors);
      if (!r.is_map()) continue;
      each(r, seq->items[i]);
      r.Finish();
    }
  }

  // Records the status' message as the error of `key`; true when OK.
  static bool Check(FieldReader& r, std::string_view key, const Status& s) {
    if (s.ok()) return true;
    r.Error(key, std::string(s.message()));
    return false;
  }

  // A scope: "*" or a known domain.
  std::optional<std::string> Scope(FieldReader& r) {
    auto s = r.String("domain", true);
    if (!s) return std::nullopt;
    if (*s != "*" && !refs.is_domain(*s)) {
      r.Error("domain", "\"" + *s + "\" is not a known domain (or \"*\" for every domain)");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> Text(FieldReader& r, std::string_view key, bool required) {
    auto s = r.String(key, required);
    if (!s) return std::nullopt;
    bool ok = s->size() <= kMaxText;
    for (unsigned char c : *s) ok = ok && c >= ' ' && c != 0x7f;
    if (!ok) {
      r.Error(key,
              "must be at most " + std::to_string(kMaxText) + " bytes without control characters");
      return std::nullopt;
    }
    return s;
  }

  // percent XOR amount, into (ppm, micro). False (with an error) when neither, both or bad.
  bool PercentOrAmount(FieldReader& r, uint32_t* ppm, int64_t* micro) {
    auto percent = r.String("percent", false);
    auto amount = r.String("amount", false);
    if (percent.has_value() == amount.has_value()) {
      r.Error(percent ? "amount" : "percent",
              percent ? "cannot be given with percent (a discount is one or the other)"
                      : "or amount is required (a percentage \"10\", or credits per cycle "
                        "\"5.00\")");
      return false;
    }
    if (percent) {
      std::optional<uint32_t> v = ParsePercentPpm(*percent);
      if (!v || *v == 0) {
        r.Error("percent",
                "must be a percentage above 0 and at most 100 with at most 4 "
                "decimals (\"10\", \"12.5\"), not \"" +
                    *percent + "\"");
        return false;
      }
      *ppm = *v;
      return true;
    }
    std::optional<int64_t> v = ParseCreditsMicro(*amount);
    if (!v || *v == 0) {
      r.Error("amount",
              "must be credits above 0 with at most 6 decimals (\"5\", \"12.50\"), "
              "not \"" +
                  *amount + "\"");
      return false;
    }
    *micro = *v;
    return true;
  }

  void TaxRates() {
    std::map<RateKey, int> seen;
    Each("tax_rates", [&](FieldReader& r, const DocNode& node) {
      TaxRate now;
      bool ok = true;
      auto country = r.String("country", true);
      auto region = r.String("region", false);
      auto name = r.String("name", true);
      auto rate = r.String("rate", true);
      auto from = r.Time("effective_from", true);
      auto compound = r.Bool("compound", false);
      ok = country && name && rate && from;
      if (country) {
        ok = Check(r, "country",
                   country->empty() ? Status::InvalidArgument("must not be empty")
                                    : ValidateCountry(*country)) &&
             ok;
        now.country = *country;
      }
      if (region) {
        ok = Check(r, "region", ValidateTaxRegion(*region)) && ok;
        now.region = *region;
      }
      if (name) {
        ok = Check(r, "name", ValidateTaxName(*name)) && ok;
        now.name = *name;
      }
      if (rate) {
        std::optional<uint32_t> ppm = ParsePercentPpm(*rate);
        if (!ppm) {
          r.Error("rate",
                  "must be a percentage from 0 to 100 with at most 4 decimals (\"20\", "
                  "\"7.5\"), not \"" +
                      *rate + "\"");
          ok = false;
        } else {
          now.rate_ppm = *ppm;
        }
      }
      if (from) now.effective_from = *from;
      now.compound = compound.value_or(false);
      if (!ok) return;
      auto [it, fresh] = seen.emplace(KeyOf(now), node.line);
      if (!fresh) {
        r.Error("effective_from", "a " + now.name + " rate of " + RateId(now).substr(0, 2) +
                                      (now.region.empty() ? "" : "-" + now.region) +
                                      " from this instant appears twice (first on line " +
                                      std::to_string(it->second) + ")");
        return;
      }
      auto old = rates.find(KeyOf(now));
      Diff d;
      if (old != rates.end()) {
        d.Field("rate", old->second.rate_ppm, now.rate_ppm);
        d.Field("compound", old->second.compound, now.compound);
      }
      if (Outcome(report, "tax_rate", RateId(now), old != rates.end(), d)) {
        upserts->tax_rates.push_back(now);
      }
      rates[KeyOf(now)] = now;
    });
  }

  void Settings() {
    std::map<std::string, int, std::less<>> seen;
    Each("tax_settings", [&](FieldReader& r, const DocNode& node) {
      auto scope = Scope(r);
      auto country = r.String("country", true);
      auto reverse = r.Bool("reverse_charge", false);
      auto prepaid = r.String("vat_on_prepaid", false);
      bool ok = scope && country;
      if (country) {
        ok = Check(r, "country",
                   country->empty() ? Status::InvalidArgument("must not be empty")
                                    : ValidateCountry(*country)) &&
             ok;
      }
      TaxSettings now;
      if (prepaid) {
        std::optional<VatOnPrepaid> v = ParseVatOnPrepaid(*prepaid);
        if (!v) {
          r.Error("vat_on_prepaid", "\"" + *prepaid + "\" is not usage or topup");
          ok = false;
        } else {
          now.vat_on_prepaid = *v;
        }
      }
      if (!ok) return;
      if (auto [it, fresh] = seen.emplace(*scope, node.line); !fresh) {
        r.Error("domain", "\"" + *scope + "\" has a second entry in tax_settings (first on line " +
                              std::to_string(it->second) + ")");
        return;
      }
      now.scope = *scope;
      now.country = *country;
      now.reverse_charge = reverse.value_or(true);
      auto old = settings.find(now.scope);
      Diff d;
      if (old != settings.end()) {
        d.Field("country", old->second.country, now.country);
        d.Field("reverse_charge", old->second.reverse_charge, now.reverse_charge);
        d.Field("vat_on_prepaid", old->second.vat_on_prepaid, now.vat_on_prepaid);
      }
      if (Outcome(report, "tax_settings", now.scope, old != settings.end(), d)) {
        upserts->tax_settings.push_back(now);
      }
      settings[now.scope] = now;
    });
  }

  void Issuers() {
    std::map<std::string, int, std::less<>> seen;
    Each("invoice_issuers", [&](FieldReader& r, const DocNode& node) {
      auto scope = Scope(r);
      auto name = Text(r, "name", true);
      auto address = r.String("address", false);
      auto country = r.String("country", false);
      auto vat = r.String("vat_number", false);
      auto email = r.String("email", false);
      auto prefix = r.String("number_prefix", false);
      auto cn_prefix = r.String("credit_note_prefix", false);
      auto terms = r.Int("payment_terms_days", false, 0, 365);
      auto width = r.Int("sequence_width", false, 1, 12);
      InvoiceIssuer now;
      bool ok = scope && name;
      if (name && name->empty()) {
        r.Error("name", "must not be empty (the issuer's legal name)");
        ok = false;
      }
      if (address) ok = Check(r, "address", ValidateAddress(*address)) && ok;
      if (country) ok = Check(r, "country", ValidateCountry(*country)) && ok;
      if (vat) ok = Check(r, "vat_number", ValidateVatNumber(*vat)) && ok;
      if (email) ok = Check(r, "email", ValidateEmail(*email)) && ok;
      if (prefix) ok = Check(r, "number_prefix", ValidateNumberPrefix(*prefix)) && ok;
      if (cn_prefix) ok = Check(r, "credit_note_prefix", ValidateNumberPrefix(*cn_prefix)) && ok;
      auto present = [&](std::string_view key) {
        const DocNode* n = node.Find(key);
        return n != nullptr && !n->is_null();
      };
      if ((present("payment_terms_days") && !terms) || (present("sequence_width") && !width)) {
        ok = false;  // Int has said why
      }
      if (!ok) return;
      now.scope = *scope;
      now.name = *name;
      now.address = address.value_or("");
      now.country = country.value_or("");
      now.vat_number = vat.value_or("");
      now.email = email.value_or("");
      now.number_prefix = prefix.value_or("INV-");
      now.credit_note_prefix = cn_prefix.value_or("CN-");
      now.payment_terms_days = static_cast<uint32_t>(terms.value_or(14));
      now.sequence_width = static_cast<uint32_t>(width.value_or(6));
      if (now.number_prefix == now.credit_note_prefix) {
        r.Error("credit_note_prefix", "must differ from number_prefix (\"" + now.number_prefix +
                                          "\"): invoices and credit notes are numbered separately");
        return;
      }
      if (auto [it, fresh] = seen.emplace(now.scope, node.line); !fresh) {
        r.Error("domain", "\"" + now.scope +
                              "\" has a second entry in invoice_issuers (first on line " +
                              std::to_string(it->second) + ")");
        return;
      }
      auto old = issuers.find(now.scope);
      Diff d;
      if (old != issuers.end()) {
        const InvoiceIssuer& o = old->second;
        d.Field("name", o.name, now.name);
        d.Field("address", o.address, now.address);
        d.Field("country", o.country, now.country);
        d.Field("vat_number", o.vat_number, now.vat_number);
        d.Field("email", o.email, now.email);
        d.Field("number_prefix", o.number_prefix, now.number_prefix);
        d.Field("credit_note_prefix", o.credit_note_prefix, now.credit_note_prefix);
        d.Field("payment_terms_days", o.payment_terms_days, now.payment_terms_days);
        d.Field("sequence_width", o.sequence_width, now.sequence_width);
      }
      if (Outcome(report, "invoice_issuer", now.scope, old != issuers.end(), d)) {
        upserts->invoice_issuers.push_back(now);
      }
      issuers[now.scope] = now;
    });
  }

  void Discounts() {
    std::map<std::string, int, std::less<>> seen;
    Each("discounts", [&](FieldReader& r, const DocNode& node) {
      auto id = r.Id("id", true);
      auto description = Text(r, "description", false);
      auto scope_text = r.String("scope", true);
      auto target = r.String("target", false);
      Discount now;
      bool ok = id && scope_text;
      if (scope_text) {
        std::optional<DiscountScope> s = ParseDiscountScope(*scope_text);
        if (!s) {
          r.Error("scope", "\"" + *scope_text + "\" is not account, product or group");
          ok = false;
        } else {
          now.scope = *s;
          if (*s == DiscountScope::kAccount && target && !target->empty()) {
            r.Error("target", "is only for product and group discounts");
            ok = false;
          } else if (*s != DiscountScope::kAccount && (!target || target->empty())) {
            r.Error("target",
                    std::string("is required for a ") + DiscountScopeName(*s) + " discount (the " +
                        (*s == DiscountScope::kProduct ? "product id" : "group name") + ")");
            ok = false;
          } else if (*s == DiscountScope::kProduct && !IsValidId(*target)) {
            r.Error("target", "\"" + *target + "\" is not a valid product id");
            ok = false;
          } else if (target && target->size() > kMaxText) {
            r.Error("target", "is longer than " + std::to_string(kMaxText) + " bytes");
            ok = false;
          }
        }
      }
      ok = PercentOrAmount(r, &now.percent_ppm, &now.amount) && ok;
      const DocNode* accounts = r.Sequence("accounts", false);
      auto domain = r.Id("domain", false);
      if ((accounts != nullptr) == domain.has_value()) {
        if (accounts || domain) {
          r.Error("domain", "cannot be given with accounts (a discount names one or the other)");
        } else if (r.is_map() && !node.Find("accounts") && !node.Find("domain")) {
          r.Error("accounts", "or domain is required (the accounts the discount applies to)");
        }
        ok = false;
      }
      if (domain && !refs.is_domain(*domain)) {
        r.Error("domain", "\"" + *domain + "\" is not a known domain");
        ok = false;
      }
      if (accounts) {
        if (accounts->items.empty()) {
          r.Error("accounts", "must list at least one account");
          ok = false;
        }
        for (size_t i = 0; i < accounts->items.size(); ++i) {
          const DocNode& a = accounts->items[i];
          const std::string path = r.PathOf(Indexed("accounts", i));
          if (!a.is_scalar()) {
            errors->Add(a.line, path, "must be an account id");
            ok = false;
          } else if (!refs.is_account(a.scalar)) {
            errors->Add(a.line, path, "\"" + a.scalar + "\" is not a known account");
            ok = false;
          } else {
            now.accounts.push_back(a.scalar);
          }
        }
      }
      auto from = r.Time("valid_from", false);
      auto until = r.Time("valid_until", false);
      if ((node.Find("valid_from") && !node.Find("valid_from")->is_null() && !from) ||
          (node.Find("valid_until") && !node.Find("valid_until")->is_null() && !until)) {
        ok = false;
      }
      now.valid_from = from.value_or(0);
      now.valid_until = until.value_or(kNoEndTime);
      if (from && until && *until <= *from) {
        r.Error("valid_until", "must be later than valid_from");
        ok = false;
      }
      if (!ok) return;
      if (auto [it, fresh] = seen.emplace(*id, node.line); !fresh) {
        r.Error("id", "\"" + *id + "\" appears twice in discounts (first on line " +
                          std::to_string(it->second) + ")");
        return;
      }
      now.id = *id;
      now.description = description.value_or(*id);
      now.target = target.value_or("");
      now.domain = domain.value_or("");
      auto old = discounts.find(now.id);
      Diff d;
      if (old != discounts.end()) {
        const Discount& o = old->second;
        d.Field("description", o.description, now.description);
        d.Field("scope", o.scope, now.scope);
        d.Field("target", o.target, now.target);
        d.Field("percent", o.percent_ppm, now.percent_ppm);
        d.Field("amount", o.amount, now.amount);
        d.Field("accounts", o.accounts, now.accounts);
        d.Field("domain", o.domain, now.domain);
        d.Field("valid_from", o.valid_from, now.valid_from);
        d.Field("valid_until", o.valid_until, now.valid_until);
      }
      if (Outcome(report, "discount", now.id, old != discounts.end(), d)) {
        upserts->discounts.push_back(now);
      }
      discounts[now.id] = now;
    });
  }

  void Coupons() {
    std::map<std::string, int, std::less<>> seen;
    Each("coupons", [&](FieldReader& r, const DocNode& node) {
      auto id = r.Id("id", true);
      auto description = Text(r, "description", false);
      Coupon now;
      bool ok = PercentOrAmount(r, &now.percent_ppm, &now.amount) && id;
      auto cycles = r.Int("duration_cycles", true, 0, 10'000);
      ok = ok && cycles;
      if (!ok) return;
      if (auto [it, fresh] = seen.emplace(*id, node.line); !fresh) {
        r.Error("id", "\"" + *id + "\" appears twice in coupons (first on line " +
                          std::to_string(it->second) + ")");
        return;
      }
      now.id = *id;
      now.description = description.value_or(*id);
      now.duration_cycles = static_cast<uint32_t>(*cycles);
      auto old = coupons.find(now.id);
      Diff d;
      if (old != coupons.end()) {
        const Coupon& o = old->second;
        d.Field("description", o.description, now.description);
        d.Field("percent", o.percent_ppm, now.percent_ppm);
        d.Field("amount", o.amount, now.amount);
        d.Field("duration_cycles", o.duration_cycles, now.duration_cycles);
      }
      if (Outcome(report, "coupon", now.id, old != coupons.end(), d)) {
        upserts->coupons.push_back(now);
      }
      coupons[now.id] = now;
    });
  }

  void Redemptions() {
    std::map<std::pair<std::string, std::string>, int> seen;
    Each("coupon_redemptions", [&](FieldReader& r, const DocNode& node) {
      auto account = r.Id("account", true);
      auto coupon = r.Id("coupon", true);
      auto at = r.Time("redeemed_at", true);
      bool ok = account && coupon && at;
      if (account && !refs.is_account(*account)) {
        r.Error("account", "\"" + *account + "\" is not a known account");
        ok = false;
      }
      if (coupon && !coupons.contains(*coupon)) {
        r.Error("coupon", "\"" + *coupon + "\" is not a known coupon");
        ok = false;
      }
      if (!ok) return;
      const std::pair<std::string, std::string> key{*account, *coupon};
      if (auto [it, fresh] = seen.emplace(key, node.line); !fresh) {
        r.Error("coupon", "account " + *account + " redeems coupon " + *coupon +
                              " twice (first on line " + std::to_string(it->second) + ")");
        return;
      }
      CouponRedemption now{*account, *coupon, *at};
      auto old = redemptions.find(key);
      Diff d;
      if (old != redemptions.end()) d.Field("redeemed_at", old->second.redeemed_at, *at);
      if (Outcome(report, "coupon_redemption", *account + "/" + *coupon, old != redemptions.end(),
                  d)) {
        upserts->coupon_redemptions.push_back(now);
      }
      redemptions[key] = now;
    });
  }
};

template <typename M>
auto ValuesOf(const M& m) {
  std::vector<typename M::mapped_type> out;
  out.reserve(m.size());
  for (const auto& [k, v] : m) out.push_back(v);
  return out;
}

}  // namespace

const std::string_view kInvoicingSchema = R"sql(
CREATE TABLE IF NOT EXISTS tax_rates (
  country TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  effective_from INTEGER NOT NULL, rate_ppm INTEGER NOT NULL, compound INTEGER NOT NULL,
  PRIMARY KEY (country, region, name, effective_from)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tax_settings (
  scope TEXT PRIMARY KEY, country TEXT NOT NULL, reverse_charge INTEGER NOT NULL,
  vat_on_prepaid TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invoice_issuers (
  scope TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL, country TEXT NOT NULL,
  vat_number TEXT NOT NULL, email TEXT NOT NULL, number_prefix TEXT NOT NULL,
  credit_note_prefix TEXT NOT NULL, payment_terms_days INTEGER NOT NULL,
  sequence_width INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS discounts (
  id TEXT PRIMARY KEY, description TEXT NOT NULL, scope TEXT NOT NULL, target TEXT NOT NULL,
  percent_ppm INTEGER NOT NULL, amount INTEGER NOT NULL, accounts TEXT NOT NULL,
  domain TEXT NOT NULL, valid_from INTEGER NOT NULL, valid_until INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coupons (
  id TEXT PRIMARY KEY, description TEXT NOT NULL, percent_ppm INTEGER NOT NULL,
  amount INTEGER NOT NULL, duration_cycles INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS coupon_redemptions (
  account TEXT NOT NULL REFERENCES accounts(id) DEFERRABLE INITIALLY DEFERRED,
  coupon TEXT NOT NULL REFERENCES coupons(id) DEFERRABLE INITIALLY DEFERRED,
  redeemed_at INTEGER NOT NULL,
  PRIMARY KEY (account, coupon)) WITHOUT ROWID;
)sql";

std::span<const std::string_view> InvoicingSectionKeys() { return kKeys; }

void CopyInvoicing(const Tenancy& base, TenancyData* out) {
  out->tax_rates = base.tax_table().rates;
  out->tax_settings = base.tax_settings();
  out->invoice_issuers = base.invoice_issuers();
  out->discounts = base.discount_catalog().discounts;
  for (Discount& d : out->discounts) d.applies_to.clear();
  out->coupons = base.discount_catalog().coupons;
  out->coupon_redemptions = base.discount_catalog().redemptions;
}

void DecodeInvoicingSections(const DocNode& root, const Tenancy& base, const InvoicingRefs& refs,
                             DocErrors* errors, ApplyReport* report, TenancyData* next,
                             TenancyData* upserts) {
  Decoder d{root, base, refs, errors, report, upserts, {}, {}, {}, {}, {}, {}};
  for (const TaxRate& r : next->tax_rates) d.rates[KeyOf(r)] = r;
  for (const TaxSettings& s : next->tax_settings) d.settings[s.scope] = s;
  for (const InvoiceIssuer& s : next->invoice_issuers) d.issuers[s.scope] = s;
  for (const Discount& x : next->discounts) d.discounts[x.id] = x;
  for (const Coupon& x : next->coupons) d.coupons[x.id] = x;
  for (const CouponRedemption& x : next->coupon_redemptions) {
    d.redemptions[{x.account, x.coupon}] = x;
  }
  d.TaxRates();
  d.Settings();
  d.Issuers();
  d.Discounts();
  d.Coupons();
  d.Redemptions();
  next->tax_rates = ValuesOf(d.rates);
  next->tax_settings = ValuesOf(d.settings);
  next->invoice_issuers = ValuesOf(d.issuers);
  next->discounts = ValuesOf(d.discounts);
  next->coupons = ValuesOf(d.coupons);
  next->coupon_redemptions = ValuesOf(d.redemptions);
}

namespace {

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& s : ids) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

std::vector<std::string> SplitIds(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

Status UpsertInvoicing(Transaction& txn, const TenancyData& u) {
  if (!u.tax_rates.empty()) {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO tax_rates(country, region, name, effective_from, rate_ppm, "
                    "compound) VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(country, region, name, "
                    "effective_from) DO UPDATE SET rate_ppm = excluded.rate_ppm, compound = "
                    "excluded.compound"));
    for (const TaxRate& r : u.tax_rates) {
      st.Bind(1, r.country).Bind(2, r.region).Bind(3, r.name).Bind(4, r.effective_from);
      st.Bind(5, int64_t{r.rate_ppm}).Bind(6, int64_t{r.compound ? 1 : 0});
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  if (!u.tax_settings.empty()) {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO tax_settings(scope, country, reverse_charge, vat_on_prepaid) "
                    "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(scope) DO UPDATE SET country = "
                    "excluded.country, reverse_charge = excluded.reverse_charge, vat_on_prepaid = "
                    "excluded.vat_on_prepaid"));
    for (const TaxSettings& s : u.tax_settings) {
      st.Bind(1, s.scope).Bind(2, s.country).Bind(3, int64_t{s.reverse_charge ? 1 : 0});
      st.Bind(4, std::string_view(VatOnPrepaidName(s.vat_on_prepaid)));
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  if (!u.invoice_issuers.empty()) {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO invoice_issuers(scope, name, address, country, vat_number, "
                    "email, number_prefix, credit_note_prefix, payment_terms_days, "
                    "sequence_width) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON "
                    "CONFLICT(scope) DO UPDATE SET name = excluded.name, address = "
                    "excluded.address, country = excluded.country, vat_number = "
                    "excluded.vat_number, email = excluded.email, number_prefix = "
                    "excluded.number_prefix, credit_note_prefix = excluded.credit_note_prefix, "
                    "payment_terms_days = excluded.payment_terms_days, sequence_width = "
                    "excluded.sequence_width"));
    for (const InvoiceIssuer& s : u.invoice_issuers) {
      st.Bind(1, s.scope).Bind(2, s.name).Bind(3, s.address).Bind(4, s.country);
      st.Bind(5, s.vat_number).Bind(6, s.email).Bind(7, s.number_prefix);
      st.Bind(8, s.credit_note_prefix).Bind(9, int64_t{s.payment_terms_days});
      st.Bind(10, int64_t{s.sequence_width});
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  if (!u.discounts.empty()) {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO discounts(id, description, scope, target, percent_ppm, amount, "
                    "accounts, domain, valid_from, valid_until) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
                    "?7, ?8, ?9, ?10) ON CONFLICT(id) DO UPDATE SET description = "
                    "excluded.description, scope = excluded.scope, target = excluded.target, "
                    "percent_ppm = excluded.percent_ppm, amount = excluded.amount, accounts = "
                    "excluded.accounts, domain = excluded.domain, valid_from = "
                    "excluded.valid_from, valid_until = excluded.valid_until"));
    for (const Discount& x : u.discounts) {
      st.Bind(1, x.id).Bind(2, x.description);
      st.Bind(3, std::string_view(DiscountScopeName(x.scope))).Bind(4, x.target);
      st.Bind(5, int64_t{x.percent_ppm}).Bind(6, x.amount).Bind(7, JoinIds(x.accounts));
      st.Bind(8, x.domain).Bind(9, x.valid_from);
      if (x.valid_until == kNoEndTime) {
        st.BindNull(10);
      } else {
        st.Bind(10, x.valid_until);
      }
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  if (!u.coupons.empty()) {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO coupons(id, description, percent_ppm, amount, duration_cycles) "
                    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET description = "
                    "excluded.description, percent_ppm = excluded.percent_ppm, amount = "
                    "excluded.amount, duration_cycles = excluded.duration_cycles"));
    for (const Coupon& x : u.coupons) {
      st.Bind(1, x.id).Bind(2, x.description).Bind(3, int64_t{x.percent_ppm}).Bind(4, x.amount);
      st.Bind(5, int64_t{x.duration_cycles});
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  if (!u.coupon_redemptions.empty()) {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("INSERT INTO coupon_redemptions(account, coupon, redeemed_at) VALUES(?1, ?2, "
                    "?3) ON CONFLICT(account, coupon) DO UPDATE SET redeemed_at = "
                    "excluded.redeemed_at"));
    for (const CouponRedemption& x : u.coupon_redemptions) {
      st.Bind(1, x.account).Bind(2, x.coupon).Bind(3, x.redeemed_at);
      METERD_RETURN_IF_ERROR(st.Run());
      METERD_RETURN_IF_ERROR(st.Reset());
    }
  }
  return Status::OK();
}

Status ReadInvoicing(Transaction& txn, TenancyData* d) {
  {
    METERD_ASSIGN_OR_RETURN(Statement st,
                            txn.Prepare("SELECT country, region, name, effective_from, rate_ppm, "
                                        "compound FROM tax_rates"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d->tax_rates.push_back(TaxRate{st.Text(0), st.Text(1), st.Text(2),
                                     static_cast<uint32_t>(st.Int(4)), st.Int(3), st.Int(5) != 0});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT scope, country, reverse_charge, "
                                                      "vat_on_prepaid FROM tax_settings"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      TaxSettings s;
      s.scope = st.Text(0);
      s.country = st.Text(1);
      s.reverse_charge = st.Int(2) != 0;
      const std::optional<VatOnPrepaid> v = ParseVatOnPrepaid(st.Text(3));
      if (!v) {
        return Status::Corruption("billing.db: tax settings of " + s.scope +
                                  " have an unknown vat_on_prepaid \"" + st.Text(3) + "\"");
      }
      s.vat_on_prepaid = *v;
      d->tax_settings.push_back(std::move(s));
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("SELECT scope, name, address, country, vat_number, email, number_prefix, "
                    "credit_note_prefix, payment_terms_days, sequence_width FROM invoice_issuers"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      InvoiceIssuer s;
      s.scope = st.Text(0);
      s.name = st.Text(1);
      s.address = st.Text(2);
      s.country = st.Text(3);
      s.vat_number = st.Text(4);
      s.email = st.Text(5);
      s.number_prefix = st.Text(6);
      s.credit_note_prefix = st.Text(7);
      s.payment_terms_days = static_cast<uint32_t>(st.Int(8));
      s.sequence_width = static_cast<uint32_t>(st.Int(9));
      d->invoice_issuers.push_back(std::move(s));
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st,
        txn.Prepare("SELECT id, description, scope, target, percent_ppm, amount, accounts, "
                    "domain, valid_from, valid_until FROM discounts"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Discount x;
      x.id = st.Text(0);
      x.description = st.Text(1);
      const std::optional<DiscountScope> scope = ParseDiscountScope(st.Text(2));
      if (!scope) {
        return Status::Corruption("billing.db: discount " + x.id + " has an unknown scope \"" +
                                  st.Text(2) + "\"");
      }
      x.scope = *scope;
      x.target = st.Text(3);
      x.percent_ppm = static_cast<uint32_t>(st.Int(4));
      x.amount = st.Int(5);
      x.accounts = SplitIds(st.Text(6));
      x.domain = st.Text(7);
      x.valid_from = st.Int(8);
      x.valid_until = st.IsNull(9) ? kNoEndTime : st.Int(9);
      d->discounts.push_back(std::move(x));
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(Statement st, txn.Prepare("SELECT id, description, percent_ppm, "
                                                      "amount, duration_cycles FROM coupons"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d->coupons.push_back(Coupon{st.Text(0), st.Text(1), static_cast<uint32_t>(st.Int(2)),
                                  st.Int(3), static_cast<uint32_t>(st.Int(4))});
    }
  }
  {
    METERD_ASSIGN_OR_RETURN(
        Statement st, txn.Prepare("SELECT account, coupon, redeemed_at FROM coupon_redemptions"));
    for (;;) {
      METERD_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      d->coupon_redemptions.push_back(CouponRedemption{st.Text(0), st.Text(1), st.Int(2)});
    }
  }
  return Status::OK();
}

}  // namespace meterd::engine::tenancy
