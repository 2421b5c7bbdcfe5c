// meterd — tests/testing/seed_invoice.cc
#include "tests/testing/seed_invoice.h"

#include <cstdio>
#include <string>
#include <vector>

#include "engine/pricebook/money.h"
#include "storage/base/calendar.h"
#include "storage/base/check.h"

namespace meterd::testing {
namespace {

using engine::invoicing::Amount;
using engine::invoicing::GroupSubtotal;
using engine::invoicing::Invoice;
using engine::invoicing::InvoiceLine;
using engine::invoicing::InvoiceState;
using engine::invoicing::LineKind;
using engine::invoicing::TaxLine;
namespace pb = engine::pricebook;

pb::Currency Gbp() {
  pb::Currency c;
  c.code = "GBP";
  c.per_credit = pb::Decimal::FromInt(1);
  c.prefix = "GBP ";
  c.minor_digits = 2;
  return c;
}

Amount FromMicro(__int128 micro) {
  Amount a;
  a.micro = static_cast<int64_t>(micro);
  auto minor = pb::ToMinorUnits(micro, Gbp(), pb::RoundingMode::kHalfEven);
  METERD_CHECK(minor.ok(), "seed amount out of range");
  a.minor = *minor;
  return a;
}

struct SeedLine {
  const char* group;
  LineKind kind;
  const char* product;
  const char* description;
  const char* quantity;  // exact
  const char* unit;
  int64_t unit_price;  // micro-credits (1 credit = 1 GBP)
};

// Quantities chosen so that round(quantity x price) is the seed's cost (seed_invoice.h).
const SeedLine kLines[] = {
    {"Running VM", LineKind::kUsage, "vm.copper", "Copper - 1CPU @ 2.4GHz - 512MB RAM", "1343.5955",
     "h", 2'200'000},
    {"Running VM", LineKind::kUsage, "vm.silver", "Silver - 1CPU @ 2.4Ghz - 4 GB RAM", "2311.6167",
     "h", 600'000},
    {"Running VM", LineKind::kUsage, "vm.bronze", "Bronze - 1CPU @ 2.4Ghz - 2 GB RAM", "1046.1633",
     "h", 490'000},
    {"Stopped VM", LineKind::kUsage, "vm.bronze.stopped", "Bronze - 1CPU @ 2.4Ghz - 2 GB RAM",
     "671.72", "h", 250'000},
    {"Stopped VM", LineKind::kUsage, "vm.silver.stopped", "Silver - 1CPU @ 2.4Ghz - 4 GB RAM",
     "374.85", "h", 200'000},
    // Storage: each charge just above its cost's lower rounding edge, so the exact sum rounds to
    // the seed's 9,041.60 (the printed lines add up to 9,041.62).
    {"Storage", LineKind::kUsage, "disk.small", "Small Disk SATA, 5 GB", "3358.988095", "GB·h",
     2'100'000},
    {"Storage", LineKind::kUsage, "disk.large", "Large Disk SATA, 100 GB", "238966.5001", "GB·h",
     6'900},
    {"Storage", LineKind::kUsage, "disk.root", "Root Volume", "14182.8947", "GB·h", 3'800},
    {"Storage", LineKind::kUsage, "disk.medium", "Medium Disk SATA, 20 GB", "79156.9446", "GB·h",
     3'600},
    // Network: likewise for 9.88 (printed lines: 9.90); 0.015 and 5.375 are ties that half-even
    // rounds to the even penny (0.02, 5.38).
    {"Network", LineKind::kUsage, "net.sent", "Bytes sent", "0.006818", "GB", 2'200'000},
    {"Network", LineKind::kUsage, "net.received", "Bytes received", "0.008335", "GB", 600'000},
    {"Network", LineKind::kUsage, "net.ip", "IP Address", "3737.501", "h", 1'200},
    {"Network", LineKind::kUsage, "net.isolated",
     "Default Isolated Network Offering With Source Nat Service", "5375", "h", 1'000},
    {"Network", LineKind::kUsage, "net.portforward", "Port Forwarding Rule", "370", "h", 0},
    {"Subscriptions", LineKind::kMonthlyFee, "sub.backup", "BU1-EndUser-DailyBackup", "1", "month",
     12'000'000},
    {"Subscriptions", LineKind::kMonthlyFee, "sub.ddos", "DDoS Service", "1", "month", 500'000'000},
};

int64_t Utc(int64_t y, unsigned m, unsigned d) { return base::DaysFromCivil(y, m, d) * 86400; }

}  // namespace

Invoice SeedInvoice(SeedSubtotals rule) {
  const bool seed_subtotals = rule == SeedSubtotals::kAsTheSeedPrints;
  Invoice inv;
  inv.id = 1575;
  inv.number = "1575";
  inv.sequence = 1575;
  inv.state = InvoiceState::kIssued;
  inv.account = "bu1user1";
  inv.account_name = "user 1 Business Unit 1";
  inv.domain = "bu1.corporate.com";
  inv.domain_name = "Business Unit 1";
  inv.issuer.name = "Corporate Cloud Ltd";
  inv.issuer.address = "1 Example Street\nLondon EC1A 1AA\nUnited Kingdom";
  inv.issuer.country = "GB";
  inv.issuer.vat_number = "GB123456789";
  inv.customer.name = "user 1 Business Unit 1";
  inv.customer.address = "24 Piccadilly Circus\nLondon W1J 9HP\nUnited Kingdom";
  inv.customer.country = "GB";
  inv.customer.vat_number = "";
  inv.period_start = Utc(2017, 2, 1);  // Europe/London is on GMT in February
  inv.period_end = Utc(2017, 3, 1);
  inv.time_zone = "Europe/London";
  inv.cycle = "monthly";
  inv.price_version = 1;
  inv.currency.code = "GBP";
  inv.currency.per_credit_units = pb::Decimal::kOne;
  inv.currency.prefix = "GBP ";
  inv.currency.minor_digits = 2;
  inv.rounding = "half_even";

  __int128 subtotal_micro = 0;
  int64_t subtotal_minor = 0;
  for (const SeedLine& s : kLines) {
    InvoiceLine l;
    l.kind = s.kind;
    l.group = s.group;
    l.product_id = s.product;
    l.description = s.description;
    l.quantity = s.quantity;
    l.unit = s.unit;
    l.unit_price = s.unit_price;
    auto q = pb::Decimal::Parse(s.quantity);
    METERD_CHECK(q.ok(), "seed quantity");
    l.amount = FromMicro(pb::RoundDiv(static_cast<__int128>(q->units()) * s.unit_price,
                                      pb::Decimal::kOne, pb::RoundingMode::kHalfEven));
    if (inv.groups.empty() || inv.groups.back().group != s.group) {
      inv.groups.push_back(GroupSubtotal{s.group, {}});
    }
    GroupSubtotal& g = inv.groups.back();
    g.amount.micro += l.amount.micro;
    if (!seed_subtotals) g.amount.minor += l.amount.minor;
    inv.lines.push_back(std::move(l));
  }
  for (GroupSubtotal& g : inv.groups) {
    if (seed_subtotals) g.amount.minor = FromMicro(g.amount.micro).minor;
    subtotal_micro += g.amount.micro;
    subtotal_minor += g.amount.minor;
  }
  inv.subtotal = Amount{static_cast<int64_t>(subtotal_micro), subtotal_minor};

  TaxLine vat;
  vat.name = "VAT";
  vat.country = "GB";
  vat.rate_ppm = 200'000;
  vat.base = inv.subtotal.micro;
  vat.amount = FromMicro(pb::RoundDiv(static_cast<__int128>(vat.base) * vat.rate_ppm, 1'000'000,
                                      pb::RoundingMode::kHalfEven));
  inv.taxes.push_back(vat);
  inv.tax_total = vat.amount;
  inv.total =
      Amount{inv.subtotal.micro + inv.tax_total.micro, inv.subtotal.minor + inv.tax_total.minor};
  inv.amount_due = inv.total;

  inv.created_at = Utc(2017, 3, 1) + 3600;
  inv.issued_at = Utc(2017, 3, 1) + 9 * 3600;
  inv.due_at = Utc(2017, 3, 31) + 9 * 3600;
  return inv;
}

Invoice ManyLineInvoice(int lines) {
  Invoice inv = SeedInvoice(SeedSubtotals::kSumsOfLines);
  std::vector<InvoiceLine> fees;
  for (const InvoiceLine& l : inv.lines) {
    if (l.kind != LineKind::kUsage) fees.push_back(l);
  }
  const std::vector<InvoiceLine> usage(inv.lines.begin(), inv.lines.end() - fees.size());
  struct Kind {
    const char* group;
    const char* prefix;  // of each resource's name
  };
  const Kind kGroups[] = {
      {"Running VM", "vm"}, {"Stopped VM", "vm"}, {"Storage", "vol"}, {"Network", "net"}};
  inv.lines.clear();
  inv.groups.clear();
  int number = 0;  // resources are numbered across groups, so every description is unique
  for (int index = 0; index < 4; ++index) {
    const char* group = kGroups[index].group;
    std::vector<const InvoiceLine*> kinds;
    for (const InvoiceLine& l : usage) {
      if (l.group == group) kinds.push_back(&l);
    }
    // A quarter of the lines per group (the remainder to the first groups).
    const int count = lines / 4 + (index < lines % 4 ? 1 : 0);
    GroupSubtotal g{group, {}};
    for (int i = 0; i < count; ++i) {
      InvoiceLine l = *kinds[i % kinds.size()];
      char prefix[32];
      std::snprintf(prefix, sizeof prefix, "%s-%06d ", kGroups[index].prefix, ++number);
      l.product_id += "." + std::to_string(number);
      l.description = prefix + l.description;
      g.amount.micro += l.amount.micro;
      g.amount.minor += l.amount.minor;
      inv.lines.push_back(std::move(l));
    }
    if (count > 0) inv.groups.push_back(g);
  }
  GroupSubtotal subs{"Subscriptions", {}};
  for (InvoiceLine& l : fees) {
    subs.amount.micro += l.amount.micro;
    subs.amount.minor += l.amount.minor;
    inv.lines.push_back(std::move(l));
  }
  inv.groups.push_back(subs);
  Amount subtotal;
  for (const GroupSubtotal& g : inv.groups) {
    subtotal.micro += g.amount.micro;
    subtotal.minor += g.amount.minor;
  }
  inv.subtotal = subtotal;
  TaxLine& vat = inv.taxes.at(0);
  vat.base = subtotal.micro;
  vat.amount = FromMicro(pb::RoundDiv(static_cast<__int128>(vat.base) * vat.rate_ppm, 1'000'000,
                                      pb::RoundingMode::kHalfEven));
  inv.tax_total = vat.amount;
  inv.total = Amount{subtotal.micro + vat.amount.micro, subtotal.minor + vat.amount.minor};
  inv.amount_due = inv.total;
  return inv;
}

}  // namespace meterd::testing
