// meterd — tests/engine/invoicing/invoice_builder_test.cc: lines, groups, totals, discounts,
// taxes and the amount due, by hand and as properties over random inputs.
#include "engine/invoicing/invoice_builder.h"

#include <gtest/gtest.h>

#include <random>

namespace meterd::engine::invoicing {
namespace invoice_builder_test {

constexpr MicroCredits kCredit = 1'000'000;

pricebook::Currency Gbp() { return {"GBP", pricebook::Decimal::FromInt(1), "GBP ", "", 2}; }

RatedLine Usage(std::string group, std::string product, uint64_t raw, uint64_t divisor,
                MicroCredits unit_price, MicroCredits amount) {
  RatedLine l;
  l.kind = LineKind::kUsage;
  l.group = std::move(group);
  l.product_id = product;
  l.product_name = "Product " + product;
  l.unit = "h";
  l.raw_quantity = raw;
  l.divisor = divisor;
  l.unit_price = unit_price;
  l.amount = amount;
  return l;
}

BuildInput Input() {
  BuildInput in;
  in.header.account = "acme";
  in.currency = Gbp();
  return in;
}

// The seed's Running VM group: two resources of the Copper plan and one of Silver, summed
// per product; each line rounded once to pence; the group adds its displayed lines.
TEST(InvoiceBuilder, LinesAreSummedPerProductAndGroupedInTheSeedsOrder) {
  BuildInput in = Input();
  in.rated = {Usage("Storage", "small-disk", 3359, 1, 2'100'000, 7'053'900'000),
              Usage("Running VM", "copper", 3600 * 700, 3600, 2'200'000, 1'540'000'000),
              Usage("Running VM", "silver", 3600 * 2312, 3600, 600'000, 1'387'200'000),
              Usage("Running VM", "copper", 3600 * 643, 3600, 2'200'000, 1'414'600'000)};
  RatedLine fee;
  fee.kind = LineKind::kMonthlyFee;
  fee.group = "";
  fee.product_id = "ddos";
  fee.product_name = "DDoS Service";
  fee.unit = "month";
  fee.raw_quantity = 1;
  fee.unit_price = fee.amount = 500 * kCredit;
  in.rated.push_back(fee);
  // The balance after the clock debited the period: it ran 11,795.7 credits below zero, so
  // 100 credits of the total were paid from prepaid credit and the rest is due.
  in.balance = -11'795'700'000;
  auto inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  ASSERT_EQ(inv->lines.size(), 4u);
  EXPECT_EQ(inv->lines[0].product_id, "copper");
  EXPECT_EQ(inv->lines[0].quantity, "1343");
  EXPECT_EQ(inv->lines[0].amount.micro, 2'954'600'000);
  EXPECT_EQ(inv->lines[0].amount.minor, 295460);
  EXPECT_EQ(inv->lines[1].product_id, "silver");
  EXPECT_EQ(inv->lines[2].group, "Storage");
  EXPECT_EQ(inv->lines[3].group, "Subscriptions");
  ASSERT_EQ(inv->groups.size(), 3u);
  EXPECT_EQ(inv->groups[0].group, "Running VM");
  EXPECT_EQ(inv->groups[0].amount.minor, 295460 + 138720);
  EXPECT_EQ(inv->subtotal.micro, 2'954'600'000 + 1'387'200'000 + 7'053'900'000 + 500 * kCredit);
  EXPECT_EQ(inv->total.micro, inv->subtotal.micro);
  // 100 credits of balance pay 100; the rest is due.
  EXPECT_EQ(inv->prepaid_applied.micro, 100 * kCredit);
  EXPECT_EQ(inv->amount_due.micro, inv->total.micro - 100 * kCredit);
  EXPECT_EQ(inv->amount_due.minor + inv->prepaid_applied.minor, inv->total.minor);
}

// Promotional credit the period used is shown apart: it is never due, and the balance pays
// what it can of the rest; the displayed parts still add up to the total.
TEST(InvoiceBuilder, PromotionalCreditIsShownApartFromPrepaidCredit) {
  BuildInput in = Input();
  in.rated = {Usage("Running VM", "copper", 3600 * 100, 3600, 2 * kCredit, 200 * kCredit)};
  in.balance = -50 * kCredit;  // owes 50 after the grant and the paid credit
  in.grants_used = 30 * kCredit + 4;
  auto inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  EXPECT_EQ(inv->amount_due.micro, 50 * kCredit);
  EXPECT_EQ(inv->promotional_applied.micro, 30 * kCredit + 4);
  EXPECT_EQ(inv->promotional_applied.minor, 3000);
  EXPECT_EQ(inv->prepaid_applied.micro, 120 * kCredit - 4);
  EXPECT_EQ(inv->prepaid_applied.minor, 12000);
  // A deficit larger than the invoice: what the grant paid is still not due.
  in.balance = -900 * kCredit;
  inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->amount_due.micro, 170 * kCredit - 4);
  EXPECT_EQ(inv->prepaid_applied.micro, 0);
  EXPECT_EQ(inv->amount_due.minor + inv->promotional_applied.minor, 20000);
  // Grants beyond the total: the total at most.
  in.grants_used = 500 * kCredit;
  inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->promotional_applied.micro, 200 * kCredit);
  EXPECT_EQ(inv->amount_due.micro, 0);
}

TEST(InvoiceBuilder, RevisionsOfInvoicedMonthsAreAdjustmentLines) {
  BuildInput in = Input();
  in.rated = {Usage("Running VM", "copper", 3600, 3600, 2 * kCredit, 2 * kCredit)};
  in.revisions = {{1'793'491'200, 3 * kCredit}, {1'790'812'800, -kCredit}};
  auto inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  ASSERT_EQ(inv->lines.size(), 3u);
  EXPECT_EQ(inv->lines[1].kind, LineKind::kAdjustment);
  EXPECT_EQ(inv->lines[1].description, "Usage of 2026-10 revised after it was invoiced");
  EXPECT_EQ(inv->lines[1].amount.micro, -kCredit);
  EXPECT_EQ(inv->lines[2].description, "Usage of 2026-11 revised after it was invoiced");
  EXPECT_EQ(inv->subtotal.micro, 4 * kCredit);
  EXPECT_EQ(inv->groups.back().group, "Adjustments");
}

TEST(InvoiceBuilder, DiscountsThenTaxesOfTheDiscountedBaseAndReverseCharge) {
  BuildInput in = Input();
  in.header.customer.vat_number = "DE999";
  in.rated = {Usage("Running VM", "copper", 3600, 3600, 100 * kCredit, 100 * kCredit)};
  in.discounts = [](const std::vector<InvoiceLine>& lines) -> Result<std::vector<DiscountLine>> {
    EXPECT_EQ(lines.size(), 1u);
    return std::vector<DiscountLine>{
        {"ten", "10 %", "account", "", 100000, 100 * kCredit, {10 * kCredit, 0}}};
  };
  MicroCredits taxed_base = 0;
  in.taxes = [&](MicroCredits base,
                 std::vector<std::string>* notes) -> Result<std::vector<TaxLine>> {
    taxed_base = base;
    notes->push_back("Reverse charge: VAT is to be accounted for by the customer (DE999).");
    return std::vector<TaxLine>{{"VAT", "GB", "", 200000, false, base, {base / 5, 0}},
                                {"VAT", "DE", "", 190000, true, base, {0, 0}}};
  };
  in.balance = -1000 * kCredit;  // owes: everything is due
  auto inv = BuildInvoice(in);
  ASSERT_TRUE(inv.ok()) << inv.status().ToString();
  EXPECT_EQ(taxed_base, 90 * kCredit);
  EXPECT_EQ(inv->discount_total.micro, 10 * kCredit);
  EXPECT_EQ(inv->tax_total.micro, 18 * kCredit);
  EXPECT_EQ(inv->total.micro, 108 * kCredit);
  EXPECT_EQ(inv->total.minor, 10800);
  EXPECT_EQ(inv->amount_due.micro, 108 * kCredit);
  ASSERT_EQ(inv->notes.size(), 1u);
  EXPECT_NE(inv->notes[0].find("Reverse charge"), std::string::npos);
  // A tax error (no rate for the country) is the invoice's error, never a zero tax.
  in.taxes = [](MicroCredits, std::vector<std::string>*) -> Result<std::vector<TaxLine>> {
    return Status::NotFound("no tax rate for country 'ZZ' (account acme)");
  };
  EXPECT_EQ(BuildInvoice(in).status().code(), Status::Code::kNotFound);
}

// Properties over random inputs: the invariants of invoice.h, and the subtotal is the rated
// lines' exact sum whatever the grouping.
TEST(InvoiceBuilder, PropertyTotalsAlwaysAddUp) {
  std::mt19937_64 rng(20261207);
  const char* groups[] = {"Running VM", "Stopped VM", "Storage", "Network", "Zeta", ""};
  for (int round = 0; round < 500; ++round) {
    BuildInput in = Input();
    __int128 rated = 0;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const MicroCredits amount = static_cast<MicroCredits>(rng() % (1000 * kCredit));
      const uint64_t divisor = 1 + rng() % 3600;
      in.rated.push_back(Usage(groups[rng() % 6], "p" + std::to_string(rng() % 7),
                               rng() % 10'000'000, divisor,
                               static_cast<MicroCredits>(rng() % kCredit), amount));
      rated += amount;
    }
    if (rng() % 3 == 0)
      in.revisions[1'793'491'200] = static_cast<MicroCredits>(rng() % kCredit) - kCredit / 2;
    for (const auto& [m, a] : in.revisions) rated += a;
    const uint32_t pct = static_cast<uint32_t>(rng() % 1'000'001);
    in.discounts =
        [pct](const std::vector<InvoiceLine>& lines) -> Result<std::vector<DiscountLine>> {
      __int128 base = 0;
      for (const auto& l : lines) base += l.amount.micro;
      if (base <= 0) return std::vector<DiscountLine>{};
      const auto d = static_cast<MicroCredits>(base * pct / 1'000'000);
      return std::vector<DiscountLine>{
          {"d", "d", "account", "", pct, static_cast<MicroCredits>(base), {d, 0}}};
    };
    in.taxes = [](MicroCredits base, std::vector<std::string>*) -> Result<std::vector<TaxLine>> {
      return std::vector<TaxLine>{{"VAT", "GB", "", 200000, false, base, {base / 5, 0}}};
    };
    in.balance = static_cast<MicroCredits>(rng() % (20000 * kCredit)) - 10000 * kCredit;
    in.grants_used = rng() % 2 ? static_cast<MicroCredits>(rng() % (10000 * kCredit)) : 0;
    auto inv = BuildInvoice(in);
    ASSERT_TRUE(inv.ok()) << inv.status().ToString();
    EXPECT_EQ(inv->subtotal.micro, static_cast<MicroCredits>(rated));
    __int128 lines = 0;
    int64_t minor = 0;
    for (const auto& l : inv->lines) {
      lines += l.amount.micro;
      minor += l.amount.minor;
    }
    EXPECT_EQ(lines, rated);
    EXPECT_EQ(inv->subtotal.minor, minor);
    EXPECT_EQ(inv->total.micro,
              inv->subtotal.micro - inv->discount_total.micro + inv->tax_total.micro);
    EXPECT_GE(inv->amount_due.micro, 0);
    EXPECT_LE(inv->amount_due.micro, std::max<MicroCredits>(inv->total.micro, 0));
    EXPECT_EQ(inv->amount_due.micro + inv->prepaid_applied.micro + inv->promotional_applied.micro,
              inv->total.micro);
    EXPECT_EQ(inv->amount_due.minor + inv->prepaid_applied.minor + inv->promotional_applied.minor,
              inv->total.minor);
    EXPECT_GE(inv->promotional_applied.micro, 0);
    EXPECT_LE(inv->promotional_applied.micro, in.grants_used);
    EXPECT_GE(inv->promotional_applied.minor, 0);
    EXPECT_GE(inv->prepaid_applied.micro, inv->total.micro > 0 ? 0 : inv->total.micro);
    // All the grants used, up to the total.
    EXPECT_EQ(inv->promotional_applied.micro,
              std::min<MicroCredits>(in.grants_used, std::max<MicroCredits>(inv->total.micro, 0)));
    // Each displayed line is its micro-credits rounded once (half-even, 1 credit = 1 GBP).
    for (const auto& l : inv->lines) {
      EXPECT_EQ(l.amount.minor,
                pricebook::ToMinorUnits(l.amount.micro, Gbp(), pricebook::RoundingMode::kHalfEven)
                    .value());
    }
  }
}

}  // namespace invoice_builder_test
}  // namespace meterd::engine::invoicing
