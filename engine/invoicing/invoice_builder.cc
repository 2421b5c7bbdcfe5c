// meterd — engine/invoicing/invoice_builder.cc
#include "engine/invoicing/invoice_builder.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <tuple>

#include "engine/pricebook/pricing.h"
#include "storage/base/calendar.h"

namespace meterd::engine::invoicing {
namespace {

using pricebook::RoundDiv;

constexpr std::array<std::string_view, 6> kLeadingGroups = {
    "Running VM", "Stopped VM", "Storage", "Network", "IP addresses", "Snapshots"};
constexpr std::string_view kSubscriptions = "Subscriptions";
constexpr std::string_view kAdjustments = "Adjustments";

std::string MonthText(int64_t month) {
  const base::CivilDate c = base::CivilFromDays(base::DayOf(month));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u", static_cast<long long>(c.year), c.month);
  return buf;
}

}  // namespace

std::string LineGroup(const RatedLine& r) {
  if (!r.group.empty()) return r.group;
  return r.kind == LineKind::kUsage ? "Other" : std::string(kSubscriptions);
}

int GroupRank(std::string_view group) {
  for (size_t i = 0; i < kLeadingGroups.size(); ++i) {
    if (group == kLeadingGroups[i]) return static_cast<int>(i);
  }
  if (group == kSubscriptions) return 1000;
  if (group == kAdjustments) return 1001;
  return 100;
}

DisplayCurrency SnapshotOf(const pricebook::Currency& c) {
  return DisplayCurrency{c.code, c.per_credit.units(), c.prefix, c.suffix, c.minor_digits};
}

pricebook::Currency CurrencyOf(const DisplayCurrency& c) {
  pricebook::Currency out;
  out.code = c.code;
  out.per_credit = pricebook::Decimal::FromUnits(c.per_credit_units);
  out.prefix = c.prefix;
  out.suffix = c.suffix;
  out.minor_digits = c.minor_digits;
  return out;
}

Result<Invoice> BuildInvoice(const BuildInput& in) {
  Invoice inv = in.header;
  inv.lines.clear();
  inv.groups.clear();
  inv.discounts.clear();
  inv.taxes.clear();
  inv.currency = SnapshotOf(in.currency);
  inv.rounding = pricebook::RoundingModeName(in.rounding);
  auto minor = [&](MicroCredits micro) {
    return pricebook::ToMinorUnits(micro, in.currency, in.rounding);
  };

  // Lines: rated lines summed per (group, product, kind).
  struct Sum {
    const RatedLine* first = nullptr;
    unsigned __int128 raw = 0;
    __int128 amount = 0;
    bool one_price = true;
  };
  std::map<std::tuple<int, std::string, std::string, LineKind>, Sum> sums;
  for (const RatedLine& r : in.rated) {
    if (r.kind == LineKind::kAdjustment) {
      return Status::InvalidArgument("a rated line cannot be an adjustment");
    }
    std::string group = LineGroup(r);
    Sum& s = sums[{GroupRank(group), group, r.product_id, r.kind}];
    if (s.first == nullptr) {
      s.first = &r;
    } else if (s.first->unit_price != r.unit_price || s.first->divisor != r.divisor) {
      s.one_price = false;
    }
    s.raw += r.raw_quantity;
    s.amount += r.amount;
  }
  for (const auto& [key, s] : sums) {
    const RatedLine& r = *s.first;
    if (s.amount == 0 && s.raw == 0) continue;
    InvoiceLine l;
    l.kind = r.kind;
    l.group = std::get<1>(key);
    l.product_id = r.product_id;
    l.description = r.product_name.empty() ? r.product_id : r.product_name;
    l.quantity = pricebook::FormatQuantity(s.raw, r.divisor);
    l.unit = r.unit;
    // One price: the rated one. Several (tiers reached by different resources, a price
    // change within the period): the average, amount / quantity, rounded half-even.
    l.unit_price = s.one_price || s.raw == 0
                       ? r.unit_price
                       : static_cast<MicroCredits>(RoundDiv(
                             s.amount * static_cast<__int128>(r.divisor),
                             static_cast<__int128>(s.raw), pricebook::RoundingMode::kHalfEven));
    if (s.amount > INT64_MAX || s.amount < INT64_MIN) {
      return Status::OutOfRange("invoice line " + l.product_id + " leaves int64");
    }
    l.amount.micro = static_cast<MicroCredits>(s.amount);
    METERD_ASSIGN_OR_RETURN(l.amount.minor, minor(l.amount.micro));
    inv.lines.push_back(std::move(l));
  }
  for (const auto& [month, amount] : in.revisions) {
    if (amount == 0) continue;
    InvoiceLine l;
    l.kind = LineKind::kAdjustment;
    l.group = std::string(kAdjustments);
    l.description = "Usage of " + MonthText(month) + " revised after it was invoiced";
    l.quantity = "1";
    l.unit_price = amount;
    l.amount.micro = amount;
    METERD_ASSIGN_OR_RETURN(l.amount.minor, minor(amount));
    inv.lines.push_back(std::move(l));
  }
  if (in.revisions_since_last != 0) {
    InvoiceLine l;
    l.kind = LineKind::kAdjustment;
    l.group = std::string(kAdjustments);
    l.description = "Usage revised after it was billed, booked since the previous invoice";
    l.quantity = "1";
    l.unit_price = in.revisions_since_last;
    l.amount.micro = in.revisions_since_last;
    METERD_ASSIGN_OR_RETURN(l.amount.minor, minor(in.revisions_since_last));
    inv.lines.push_back(std::move(l));
  }

  // Group subtotals and the subtotal.
  __int128 subtotal = 0;
  int64_t subtotal_minor = 0;
  for (const InvoiceLine& l : inv.lines) {
    if (inv.groups.empty() || inv.groups.back().group != l.group) {
      inv.groups.push_back(GroupSubtotal{l.group, {}});
    }
    inv.groups.back().amount.micro += l.amount.micro;
    inv.groups.back().amount.minor += l.amount.minor;
    subtotal += l.amount.micro;
    subtotal_minor += l.amount.minor;
  }
  inv.subtotal = {static_cast<MicroCredits>(subtotal), subtotal_minor};

  // Discounts, then taxes of the discounted base.
  if (in.discounts) {
    METERD_ASSIGN_OR_RETURN(inv.discounts, in.discounts(inv.lines));
  }
  for (DiscountLine& d : inv.discounts) {
    if (d.amount.micro < 0) return Status::Corruption("discount " + d.id + " is negative");
    METERD_ASSIGN_OR_RETURN(d.amount.minor, minor(d.amount.micro));
    inv.discount_total.micro += d.amount.micro;
    inv.discount_total.minor += d.amount.minor;
  }
  if (inv.subtotal.micro > 0 && inv.discount_total.micro > inv.subtotal.micro) {
    return Status::Corruption("discounts exceed the subtotal");
  }
  const MicroCredits base = inv.subtotal.micro - inv.discount_total.micro;
  if (in.taxes) {
    METERD_ASSIGN_OR_RETURN(inv.taxes, in.taxes(base, &inv.notes));
  }
  for (TaxLine& t : inv.taxes) {
    METERD_ASSIGN_OR_RETURN(t.amount.minor, minor(t.amount.micro));
    inv.tax_total.micro += t.amount.micro;
    inv.tax_total.minor += t.amount.minor;
  }
  inv.total.micro = base + inv.tax_total.micro;
  inv.total.minor = inv.subtotal.minor - inv.discount_total.minor + inv.tax_total.minor;

  // Promotional credit the period's clock entries drew is shown apart and is never due (at
  // most the total). What the balance pays of the rest: the balance after this invoice's
  // discounts and taxes are booked; what it does not cover is due (docs/invoices.md, "Amount
  // due").
  const MicroCredits promo =
      std::clamp<MicroCredits>(in.grants_used, 0, std::max<MicroCredits>(inv.total.micro, 0));
  const __int128 after =
      static_cast<__int128>(in.balance) + inv.discount_total.micro - inv.tax_total.micro;
  __int128 due =
      inv.total.micro <= 0 ? 0 : std::clamp<__int128>(-after, 0, inv.total.micro - promo);
  inv.promotional_applied.micro = promo;
  inv.amount_due.micro = static_cast<MicroCredits>(due);
  inv.prepaid_applied.micro = inv.total.micro - promo - inv.amount_due.micro;
  // Displayed: each part rounded once, and the three add up to the displayed total (the
  // prepaid part takes the difference).
  if (promo == 0) {
    inv.promotional_applied.minor = 0;
  } else if (promo == inv.total.micro) {
    inv.promotional_applied.minor = inv.total.minor;
  } else {
    METERD_ASSIGN_OR_RETURN(inv.promotional_applied.minor, minor(promo));
  }
  if (inv.amount_due.micro == inv.total.micro - promo) {
    inv.amount_due.minor = inv.total.minor - inv.promotional_applied.minor;
  } else if (inv.amount_due.micro == 0) {
    inv.amount_due.minor = 0;
  } else {
    METERD_ASSIGN_OR_RETURN(inv.amount_due.minor, minor(inv.amount_due.micro));
  }
  inv.prepaid_applied.minor =
      inv.total.minor - inv.promotional_applied.minor - inv.amount_due.minor;

  // The invariants of invoice.h.
  __int128 check = 0;
  for (const GroupSubtotal& g : inv.groups) check += g.amount.micro;
  if (check != inv.subtotal.micro ||
      inv.total.micro != inv.subtotal.micro - inv.discount_total.micro + inv.tax_total.micro ||
      inv.amount_due.micro + inv.prepaid_applied.micro + inv.promotional_applied.micro !=
          inv.total.micro ||
      inv.amount_due.micro < 0) {
    return Status::Corruption("invoice of " + inv.account + ": totals do not add up");
  }
  return inv;
}

}  // namespace meterd::engine::invoicing
