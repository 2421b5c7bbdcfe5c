// meterd — engine/invoicing/invoice_layout.cc
#include "engine/invoicing/invoice_layout.h"

#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include "engine/cycles/time_zone.h"
#include "engine/pricebook/money.h"
#include "storage/base/calendar.h"

namespace meterd::engine::invoicing {
namespace {

using pricebook::Currency;

Currency ToCurrency(const DisplayCurrency& c) {
  Currency out;
  out.code = c.code;
  out.per_credit = pricebook::Decimal::FromUnits(c.per_credit_units);
  out.prefix = c.prefix;
  out.suffix = c.suffix;
  out.minor_digits = c.minor_digits;
  return out;
}

// Days of the account's zone; UTC days outside the range the tz database gives exactly.
class Days {
 public:
  explicit Days(const std::string& zone_name) : zone_(cycles::TimeZone::Utc()) {
    if (zone_name.empty()) return;
    auto zone = cycles::TimeZone::Find(zone_name);
    if (zone.ok()) {
      zone_ = *zone;
    } else {
      unknown_ = zone_name;
    }
  }
  int64_t DayOf(int64_t t) const {
    if (t < cycles::kZonedFrom || t >= cycles::kZonedUntil) return base::DayOf(t);
    return zone_.LocalDayOf(t);
  }
  const std::string& name() const { return zone_.name(); }
  const std::string& unknown() const { return unknown_; }

 private:
  cycles::TimeZone zone_;
  std::string unknown_;
};

// Whether every line of the group is a subscription fee (printed with fee columns).
bool IsFeeGroup(const std::vector<const InvoiceLine*>& lines) {
  if (lines.empty()) return false;
  for (const InvoiceLine* l : lines) {
    if (l->kind != LineKind::kOneTimeFee && l->kind != LineKind::kMonthlyFee) return false;
  }
  return true;
}

std::string QuantityText(const InvoiceLine& l) {
  if (l.quantity.empty()) return "";
  std::string q = FormatQuantity(l.quantity);
  if (!l.unit.empty()) q += " " + l.unit;
  return q;
}

std::string Line(std::string_view label, std::string_view value) {
  std::string out(label);
  out += ": ";
  out += value;
  return out;
}

}  // namespace

std::string FormatQuantity(const std::string& exact) {
  // Split the decimal text: sign, integer digits, fraction digits. Anything else prints as is.
  std::string_view s = exact;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  const size_t dot = s.find('.');
  std::string ip(s.substr(0, dot));
  std::string fp(dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1));
  if (ip.empty()) ip = "0";
  for (char c : ip + fp) {
    if (c < '0' || c > '9') return exact;
  }
  // The whole part without leading zeros decides the display precision.
  size_t nz = ip.find_first_not_of('0');
  const bool at_least_100 = nz != std::string::npos && ip.size() - nz >= 3;
  const size_t digits = at_least_100 ? 0 : 2;
  std::string all = ip + fp;
  const size_t keep = ip.size() + digits;
  all.resize(std::max(all.size(), keep + 1), '0');
  const char next = all[keep];
  const bool beyond = all.find_first_not_of('0', keep + 1) != std::string::npos;
  std::string kept = all.substr(0, keep);
  const bool last_odd = !kept.empty() && ((kept.back() - '0') % 2 == 1);
  const bool up = next > '5' || (next == '5' && (beyond || last_odd));
  if (up) {
    int i = static_cast<int>(kept.size()) - 1;
    for (; i >= 0; --i) {
      if (kept[i] == '9') {
        kept[i] = '0';
      } else {
        ++kept[i];
        break;
      }
    }
    if (i < 0) kept.insert(kept.begin(), '1');
  }
  std::string whole = kept.substr(0, kept.size() - digits);
  std::string frac = kept.substr(kept.size() - digits);
  whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size() - 1));
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (whole == "0" && frac.empty()) {
    // Zero after rounding: a non-zero quantity prints exactly rather than as 0.
    const bool nonzero = (ip + fp).find_first_not_of('0') != std::string::npos;
    if (!nonzero) return "0";
    std::string f = fp;
    while (!f.empty() && f.back() == '0') f.pop_back();
    return std::string(neg ? "-" : "") + "0." + f;
  }
  std::string out = neg ? "-" : "";
  out += whole;
  if (!frac.empty()) out += "." + frac;
  return out;
}

std::string FormatPercentPpm(uint32_t ppm) {
  // ppm / 10^4 percent, up to 4 decimals.
  std::string out = std::to_string(ppm / 10000);
  uint32_t frac = ppm % 10000;
  if (frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04u", frac);
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + " %";
}

std::string FormatDay(int64_t day) {
  const base::CivilDate c = base::CivilFromDays(day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.year), c.month,
                c.day);
  return buf;
}

PrintedInvoice PrintInvoice(const Invoice& inv) {
  PrintedInvoice out;
  const Currency cur = ToCurrency(inv.currency);
  const pricebook::RoundingMode mode =
      pricebook::ParseRoundingMode(inv.rounding).value_or(pricebook::RoundingMode::kHalfEven);
  auto money = [&](const Amount& a) { return pricebook::FormatMinor(a.minor, cur); };
  auto negated = [&](const Amount& a) { return pricebook::FormatMinor(-a.minor, cur); };
  auto micro = [&](MicroCredits m) {
    auto minor = pricebook::ToMinorUnits(m, cur, mode);
    return minor.ok() ? pricebook::FormatMinor(*minor, cur) : pricebook::FormatCredits(m);
  };
  const Days days(inv.time_zone);
  auto day_of = [&](int64_t t) { return FormatDay(days.DayOf(t)); };

  const bool credit_note = inv.kind == InvoiceKind::kCreditNote;
  out.title = credit_note ? "Credit note" : "Invoice";
  if (inv.state == InvoiceState::kVoid) {
    out.watermark = "VOID";
  } else if (inv.provisional) {
    out.watermark = "PROVISIONAL";
  } else if (inv.state == InvoiceState::kDraft) {
    out.watermark = "DRAFT";
  }

  auto party = [](const Party& p, std::vector<std::string>& lines) {
    if (!p.name.empty()) lines.push_back(p.name);
    size_t start = 0;
    while (start < p.address.size()) {
      size_t nl = p.address.find('\n', start);
      if (nl == std::string::npos) nl = p.address.size();
      if (nl > start) lines.push_back(p.address.substr(start, nl - start));
      start = nl + 1;
    }
    if (!p.country.empty()) lines.push_back(p.country);
    if (!p.vat_number.empty()) lines.push_back(Line("VAT number", p.vat_number));
    if (!p.email.empty()) lines.push_back(p.email);
  };
  party(inv.issuer, out.issuer);
  party(inv.customer, out.customer);

  const std::string number_label = credit_note ? "Credit note number" : "Invoice number";
  const std::string number = inv.number.empty() ? "(draft)" : inv.number;
  if (!out.watermark.empty()) out.facts.emplace_back("Status", out.watermark);
  out.facts.emplace_back(number_label, number);
  out.facts.emplace_back("Issue date", inv.issued_at != 0 ? day_of(inv.issued_at) : "not issued");
  if (inv.due_at != 0) out.facts.emplace_back("Due date", day_of(inv.due_at));
  if (credit_note && !inv.credit_note_for.empty()) {
    out.facts.emplace_back("Credits invoice", inv.credit_note_for);
  }

  std::string period =
      "Invoice period: From " + day_of(inv.period_start) + " to " +
      day_of(inv.period_end > inv.period_start ? inv.period_end - 1 : inv.period_end);
  period += " Account: " + inv.account;
  if (!inv.domain.empty()) period += " Domain: " + inv.domain;
  period += " " + Line(number_label, number);
  out.period_line = std::move(period);

  // Lines by group, in the groups' print order; a line of a group the list lacks prints after
  // them, in order of first appearance, with its lines' sum as subtotal.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const InvoiceLine*>> by_group;
  std::map<std::string, const GroupSubtotal*> subtotal_of;
  for (const GroupSubtotal& g : inv.groups) {
    if (subtotal_of.emplace(g.group, &g).second) order.push_back(g.group);
  }
  for (const InvoiceLine& l : inv.lines) {
    auto [it, added] = by_group.try_emplace(l.group);
    if (added && !subtotal_of.count(l.group)) order.push_back(l.group);
    it->second.push_back(&l);
  }
  for (const std::string& group : order) {
    const auto& lines = by_group[group];
    PrintedTable t;
    Amount sum;
    for (const InvoiceLine* l : lines) sum.minor += l->amount.minor;
    const Amount subtotal = subtotal_of.count(group) ? subtotal_of[group]->amount : sum;
    if (IsFeeGroup(lines)) {
      t.header = {group, "One-time fee", "Monthly fee", "Cost"};
      for (const InvoiceLine* l : lines) {
        const bool once = l->kind == LineKind::kOneTimeFee;
        std::string fee = money(l->amount);
        std::string name = l->description.empty() ? l->product_id : l->description;
        // A fee charged more than once (quantity other than 1) shows it.
        if (!l->quantity.empty() && l->quantity != "1") name += " x " + QuantityText(*l);
        t.rows.push_back({name, once ? fee : "", once ? "" : fee, fee});
      }
    } else {
      t.header = {group, "Quantity", "Unit Price", "Cost"};
      for (const InvoiceLine* l : lines) {
        std::string name = l->description.empty() ? l->product_id : l->description;
        std::string price = l->kind == LineKind::kAdjustment && l->unit_price == 0
                                ? ""
                                : pricebook::FormatUnitPrice(l->unit_price, cur);
        t.rows.push_back({name, QuantityText(*l), price, money(l->amount)});
      }
    }
    t.footer = {"", "", "", money(subtotal)};
    out.tables.push_back(std::move(t));
  }

  if (!inv.discounts.empty()) {
    PrintedTable t;
    t.header = {"Discounts", "Base", "Rate", "Amount"};
    for (const DiscountLine& d : inv.discounts) {
      std::string name = d.description.empty() ? d.id : d.description;
      if (!d.target.empty()) name += " (" + d.target + ")";
      t.rows.push_back({name, micro(d.base), d.percent_ppm ? FormatPercentPpm(d.percent_ppm) : "",
                        negated(d.amount)});
    }
    t.footer = {"", "", "", negated(inv.discount_total)};
    out.tables.push_back(std::move(t));
  }

  bool reverse_charge = false;
  if (!inv.taxes.empty()) {
    PrintedTable t;
    t.header = {"Taxes", "Base", "Rate", "Amount"};
    for (const TaxLine& x : inv.taxes) {
      std::string name = x.name + " " + FormatPercentPpm(x.rate_ppm);
      std::string where = x.country;
      if (!x.region.empty()) where += where.empty() ? x.region : "-" + x.region;
      if (!where.empty()) name += " (" + where + ")";
      if (x.reverse_charge) {
        name += ", reverse charge";
        reverse_charge = true;
      }
      t.rows.push_back({name, micro(x.base), FormatPercentPpm(x.rate_ppm), money(x.amount)});
    }
    t.footer = {"", "", "", money(inv.tax_total)};
    out.tables.push_back(std::move(t));
  }

  out.totals = {
      {"Subtotal", money(inv.subtotal)},
      {"Discounts", negated(inv.discount_total)},
      {"Taxes", money(inv.tax_total)},
      {"Total", money(inv.total)},
      {"Promotional credit applied", negated(inv.promotional_applied)},
      {"Prepaid balance applied", negated(inv.prepaid_applied)},
      {credit_note ? "Amount credited" : "Amount due", money(inv.amount_due)},
  };

  bool noted = false;  // the builder may have written the notice into the notes itself
  for (const std::string& n : inv.notes) noted = noted || n.rfind("Reverse charge", 0) == 0;
  if (reverse_charge && !noted) {
    out.notes.push_back(
        "Reverse charge: VAT is not charged; the customer accounts for it (customer VAT number " +
        (inv.customer.vat_number.empty() ? std::string("not given") : inv.customer.vat_number) +
        ").");
  }
  if (!inv.reason.empty()) out.notes.push_back(Line("Reason", inv.reason));
  for (const std::string& n : inv.notes) out.notes.push_back(n);
  if (!days.unknown().empty()) {
    out.notes.push_back("Dates are UTC days: the time zone \"" + days.unknown() +
                        "\" is not in this system's tz database.");
  } else if (!inv.time_zone.empty()) {
    out.notes.push_back("Dates are days in " + days.name() + ".");
  }
  return out;
}

}  // namespace meterd::engine::invoicing
