// meterd — tests/engine/invoicing/taxes_test.cc: tax lines, hand-computed and property-tested.
#include "engine/invoicing/taxes.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/tenancy/document.h"

namespace meterd::engine::invoicing {
namespace taxes_test {

using pricebook::RoundingMode;
using tenancy::TaxRate;

int64_t T(const char* rfc3339) { return *tenancy::ParseTime(rfc3339); }

TaxRate Rate(std::string country, std::string region, std::string name, uint32_t ppm,
             const char* from, bool compound = false) {
  return TaxRate{std::move(country), std::move(region), std::move(name), ppm, T(from), compound};
}

// The table as Tenancy::Build keeps it: sorted by (country, region, name, effective_from).
TaxTable Table(std::vector<TaxRate> rates) {
  std::sort(rates.begin(), rates.end(), [](const TaxRate& a, const TaxRate& b) {
    return std::tie(a.country, a.region, a.name, a.effective_from) <
           std::tie(b.country, b.region, b.name, b.effective_from);
  });
  return TaxTable{std::move(rates)};
}

TaxTable World() {
  return Table({
      Rate("GB", "", "VAT", 150000, "2008-12-01T00:00:00Z"),
      Rate("GB", "", "VAT", 175000, "2010-01-01T00:00:00Z"),
      Rate("GB", "", "VAT", 200000, "2011-01-04T00:00:00Z"),
      Rate("DE", "", "VAT", 190000, "2007-01-01T00:00:00Z"),
      Rate("CA", "", "GST", 50000, "2008-01-01T00:00:00Z"),
      Rate("CA", "BC", "PST", 70000, "2013-04-01T00:00:00Z"),
      Rate("CA", "QC", "QST", 99750, "2013-01-01T00:00:00Z", /*compound=*/true),
      Rate("HK", "", "VAT", 0, "2000-01-01T00:00:00Z"),
  });
}

TaxSettings Issuer(std::string country) {
  TaxSettings s;
  s.country = std::move(country);
  return s;
}

TaxContext Customer(std::string country, std::string region = "", std::string vat = "") {
  TaxContext c;
  c.account = "acme";
  c.customer_country = std::move(country);
  c.customer_region = std::move(region);
  c.customer_vat = std::move(vat);
  c.at = T("2026-11-30T23:59:59Z");
  return c;
}

TEST(TaxesTest, UnitedKingdomTwentyPercentRoundedOnce) {
  // 123.456789 credits x 20 % = 24.6913578 credits: 24691357.8 micro-credits -> 24691358.
  auto lines =
      ComputeTaxes(World(), Issuer("GB"), Customer("GB"), 123'456'789, RoundingMode::kHalfEven);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 1u);
  const TaxLine& l = (*lines)[0];
  EXPECT_EQ(l.name, "VAT");
  EXPECT_EQ(l.country, "GB");
  EXPECT_EQ(l.rate_ppm, 200000u);
  EXPECT_FALSE(l.reverse_charge);
  EXPECT_EQ(l.base, 123'456'789);
  EXPECT_EQ(l.amount.micro, 24'691'358);
  // Down truncates the .8.
  auto down = ComputeTaxes(World(), Issuer("GB"), Customer("GB"), 123'456'789, RoundingMode::kDown);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ((*down)[0].amount.micro, 24'691'357);
}

TEST(TaxesTest, GermanyNineteenPercent) {
  // 1000.000001 x 19 % = 190.00000019 credits -> 190000000 micro-credits.
  auto lines = ComputeTaxes(World(), Issuer("DE"), Customer("DE", "", "DE123456789"), 1'000'000'001,
                            RoundingMode::kHalfEven);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 1u);  // same country: a business pays VAT too
  EXPECT_EQ((*lines)[0].amount.micro, 190'000'000);
  EXPECT_EQ((*lines)[0].rate_ppm, 190000u);
}

TEST(TaxesTest, ReverseChargeForCrossBorderBusiness) {
  const TaxContext de_business = Customer("DE", "", "DE123456789");
  auto lines =
      ComputeTaxes(World(), Issuer("GB"), de_business, 50'000'000, RoundingMode::kHalfEven);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 1u);
  const TaxLine& l = (*lines)[0];
  EXPECT_TRUE(l.reverse_charge);
  EXPECT_EQ(l.name, "VAT");
  EXPECT_EQ(l.country, "DE");
  EXPECT_EQ(l.rate_ppm, 0u);
  EXPECT_EQ(l.base, 50'000'000);
  EXPECT_EQ(l.amount.micro, 0);
  const std::vector<std::string> notes = TaxNotes(Issuer("GB"), de_business, *lines);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("Reverse charge"), std::string::npos);
  EXPECT_NE(notes[0].find("DE123456789"), std::string::npos);

  // A private customer abroad pays the rate of their country (no reverse charge).
  auto consumer =
      ComputeTaxes(World(), Issuer("GB"), Customer("DE"), 50'000'000, RoundingMode::kHalfEven);
  ASSERT_TRUE(consumer.ok());
  EXPECT_FALSE((*consumer)[0].reverse_charge);
  EXPECT_EQ((*consumer)[0].amount.micro, 9'500'000);

  // Reverse charge switched off: the business pays its country's VAT.
  TaxSettings off = Issuer("GB");
  off.reverse_charge = false;
  auto charged = ComputeTaxes(World(), off, de_business, 50'000'000, RoundingMode::kHalfEven);
  ASSERT_TRUE(charged.ok());
  EXPECT_FALSE((*charged)[0].reverse_charge);
  EXPECT_EQ((*charged)[0].amount.micro, 9'500'000);
  EXPECT_TRUE(TaxNotes(off, de_business, *charged).empty());
}

TEST(TaxesTest, CanadaGstAndPst) {
  // British Columbia: GST 5 % and PST 7 % on the same base.
  auto bc = ComputeTaxes(World(), Issuer("CA"), Customer("CA", "BC"), 100'000'000,
                         RoundingMode::kHalfEven);
  ASSERT_TRUE(bc.ok()) << bc.status().ToString();
  ASSERT_EQ(bc->size(), 2u);
  EXPECT_EQ((*bc)[0].name, "GST");
  EXPECT_EQ((*bc)[0].region, "");
  EXPECT_EQ((*bc)[0].amount.micro, 5'000'000);
  EXPECT_EQ((*bc)[1].name, "PST");
  EXPECT_EQ((*bc)[1].region, "BC");
  EXPECT_EQ((*bc)[1].base, 100'000'000);
  EXPECT_EQ((*bc)[1].amount.micro, 7'000'000);
  // Ontario has no regional rate here: GST alone.
  auto on = ComputeTaxes(World(), Issuer("CA"), Customer("CA", "ON"), 100'000'000,
                         RoundingMode::kHalfEven);
  ASSERT_TRUE(on.ok());
  ASSERT_EQ(on->size(), 1u);
  EXPECT_EQ((*on)[0].name, "GST");
}

TEST(TaxesTest, CompoundTaxAppliesToBasePlusEarlierTaxes) {
  // Quebec (as before 2013 it was): QST 9.975 % compound on GST 5 %.
  // GST = 5.000000; QST = 105 x 9.975 % = 10.47375 credits.
  auto qc = ComputeTaxes(World(), Issuer("CA"), Customer("CA", "QC"), 100'000'000,
                         RoundingMode::kHalfEven);
  ASSERT_TRUE(qc.ok()) << qc.status().ToString();
  ASSERT_EQ(qc->size(), 2u);
  EXPECT_EQ((*qc)[0].name, "GST");
  EXPECT_EQ((*qc)[0].amount.micro, 5'000'000);
  EXPECT_EQ((*qc)[1].name, "QST");
  EXPECT_EQ((*qc)[1].base, 105'000'000);
  EXPECT_EQ((*qc)[1].amount.micro, 10'473'750);
  // A compound tax listed before a simple one by name still comes after it.
  TaxTable t = Table({Rate("XX", "", "A", 100000, "2000-01-01T00:00:00Z", true),
                      Rate("XX", "", "B", 200000, "2000-01-01T00:00:00Z")});
  auto xx = ComputeTaxes(t, Issuer("XX"), Customer("XX"), 10'000'000, RoundingMode::kHalfEven);
  ASSERT_TRUE(xx.ok());
  ASSERT_EQ(xx->size(), 2u);
  EXPECT_EQ((*xx)[0].name, "B");
  EXPECT_EQ((*xx)[0].amount.micro, 2'000'000);
  EXPECT_EQ((*xx)[1].name, "A");
  EXPECT_EQ((*xx)[1].base, 12'000'000);
  EXPECT_EQ((*xx)[1].amount.micro, 1'200'000);
}

TEST(TaxesTest, EffectiveDatesPickTheRateInForce) {
  TaxContext c = Customer("GB");
  auto at = [&](const char* when) {
    c.at = T(when);
    auto lines = ComputeTaxes(World(), Issuer("GB"), c, 100'000'000, RoundingMode::kHalfEven);
    EXPECT_TRUE(lines.ok()) << lines.status().ToString();
    return lines.ok() ? (*lines)[0].rate_ppm : 0u;
  };
  EXPECT_EQ(at("2009-06-30T23:59:59Z"), 150000u);
  EXPECT_EQ(at("2010-06-30T23:59:59Z"), 175000u);  // the change of 2010-01-01, mid-table
  EXPECT_EQ(at("2011-01-03T23:59:59Z"), 175000u);
  EXPECT_EQ(at("2011-01-04T00:00:00Z"), 200000u);
  EXPECT_EQ(at("2026-11-30T23:59:59Z"), 200000u);
  // Before the first rate: NotFound, and it says the rates start later.
  c.at = T("2008-11-30T23:59:59Z");
  auto before = ComputeTaxes(World(), Issuer("GB"), c, 1, RoundingMode::kHalfEven);
  ASSERT_FALSE(before.ok());
  EXPECT_TRUE(before.status().IsNotFound());
  EXPECT_NE(before.status().message().find("start later"), std::string::npos);
}

TEST(TaxesTest, MissingRateIsAnErrorNamingAccountAndCountryNotAZeroTax) {
  auto us = ComputeTaxes(World(), Issuer("GB"), Customer("US"), 100, RoundingMode::kHalfEven);
  ASSERT_FALSE(us.ok());
  EXPECT_TRUE(us.status().IsNotFound());
  const std::string msg(us.status().message());
  EXPECT_NE(msg.find("acme"), std::string::npos) << msg;
  EXPECT_NE(msg.find("US"), std::string::npos) << msg;
  // A country with regional rates only, for a customer in another region.
  TaxTable us_states = Table({Rate("US", "NY", "Sales tax", 40000, "2000-01-01T00:00:00Z")});
  auto tx =
      ComputeTaxes(us_states, Issuer("US"), Customer("US", "TX"), 100, RoundingMode::kHalfEven);
  ASSERT_FALSE(tx.ok());
  EXPECT_EQ(tx.status().message(),
            "no tax rate for country US (region TX) of account acme is in force at "
            "2026-11-30T23:59:59Z (it has rates for other regions only): add it to tax_rates "
            "(rate \"0\" where no tax is due)");
  // An explicit 0 % rate is a rate: one line of 0.
  auto hk = ComputeTaxes(World(), Issuer("GB"), Customer("HK"), 100, RoundingMode::kHalfEven);
  ASSERT_TRUE(hk.ok()) << hk.status().ToString();
  ASSERT_EQ(hk->size(), 1u);
  EXPECT_EQ((*hk)[0].rate_ppm, 0u);
  EXPECT_EQ((*hk)[0].amount.micro, 0);
}

TEST(TaxesTest, CustomerWithoutCountryOrIssuerWithoutSettingsIsAnError) {
  auto none = ComputeTaxes(World(), Issuer("GB"), Customer(""), 100, RoundingMode::kHalfEven);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsInvalidArgument());
  EXPECT_NE(none.status().message().find("acme"), std::string::npos);
  auto no_issuer =
      ComputeTaxes(World(), TaxSettings{}, Customer("GB"), 100, RoundingMode::kHalfEven);
  ASSERT_FALSE(no_issuer.ok());
  EXPECT_NE(no_issuer.status().message().find("tax_settings"), std::string::npos);
}

TEST(TaxesTest, VatOnTopupLeavesPrepaidUsageInvoicesUntaxedWithANote) {
  TaxSettings s = Issuer("GB");
  s.vat_on_prepaid = tenancy::VatOnPrepaid::kTopup;
  TaxContext prepaid = Customer("GB");
  prepaid.prepaid = true;
  auto lines = ComputeTaxes(World(), s, prepaid, 100'000'000, RoundingMode::kHalfEven);
  ASSERT_TRUE(lines.ok());
  EXPECT_TRUE(lines->empty());
  const std::vector<std::string> notes = TaxNotes(s, prepaid, *lines);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("prepaid credit was bought"), std::string::npos);
  // A postpaid account under the same settings is taxed on its invoice.
  auto postpaid = ComputeTaxes(World(), s, Customer("GB"), 100'000'000, RoundingMode::kHalfEven);
  ASSERT_TRUE(postpaid.ok());
  ASSERT_EQ(postpaid->size(), 1u);
  EXPECT_EQ((*postpaid)[0].amount.micro, 20'000'000);
}

TEST(TaxesTest, RoundingModesOnATieAndNegativeBases) {
  TaxTable t = Table({Rate("XX", "", "T", 100000, "2000-01-01T00:00:00Z")});  // 10 %
  auto amount = [&](MicroCredits base, RoundingMode m) {
    auto lines = ComputeTaxes(t, Issuer("XX"), Customer("XX"), base, m);
    EXPECT_TRUE(lines.ok());
    return (*lines)[0].amount.micro;
  };
  // 5 micro-credits x 10 % = 0.5; 15 x 10 % = 1.5.
  EXPECT_EQ(amount(5, RoundingMode::kHalfEven), 0);
  EXPECT_EQ(amount(15, RoundingMode::kHalfEven), 2);
  EXPECT_EQ(amount(5, RoundingMode::kHalfAwayFromZero), 1);
  EXPECT_EQ(amount(5, RoundingMode::kUp), 1);
  EXPECT_EQ(amount(5, RoundingMode::kDown), 0);
  // A credit: -123.456789 x 10 % = -12.3456789 -> -12345679 (half even), -12345678 (down).
  EXPECT_EQ(amount(-123'456'789, RoundingMode::kHalfEven), -12'345'679);
  EXPECT_EQ(amount(-123'456'789, RoundingMode::kDown), -12'345'678);
}

// Random tables, bases and modes: every line within 1 micro-credit of its exact value, compound
// bases are the base plus the lines before, signs follow the base, order simple-then-compound.
TEST(TaxesTest, PropertyAmountsWithinOneMicroCreditOfExact) {
  std::mt19937_64 rng(20261207);
  const RoundingMode modes[] = {RoundingMode::kHalfEven, RoundingMode::kHalfAwayFromZero,
                                RoundingMode::kUp, RoundingMode::kDown};
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<TaxRate> rates;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      TaxRate r;
      r.country = "XX";
      r.region = (rng() % 3 == 0) ? "R" : "";
      r.name = "T" + std::to_string(i);
      r.rate_ppm = static_cast<uint32_t>(rng() % 1'000'001);
      r.effective_from = 0;
      r.compound = rng() % 3 == 0;
      rates.push_back(r);
    }
    const TaxTable table = Table(rates);
    const int64_t base = static_cast<int64_t>(rng() % 2'000'000'000'001ULL) - 1'000'000'000'000;
    const RoundingMode mode = modes[rng() % 4];
    auto lines = ComputeTaxes(table, Issuer("XX"), Customer("XX", "R"), base, mode);
    ASSERT_TRUE(lines.ok()) << lines.status().ToString();
    ASSERT_EQ(lines->size(), rates.size());
    __int128 so_far = 0;
    bool seen_compound = false;
    for (const TaxLine& l : *lines) {
      const TaxRate* r = nullptr;
      for (const TaxRate& x : rates) {
        if (x.name == l.name) r = &x;
      }
      ASSERT_NE(r, nullptr);
      if (r->compound) {
        seen_compound = true;
        EXPECT_EQ(l.base, base + so_far);
      } else {
        EXPECT_FALSE(seen_compound) << "a simple tax after a compound one";
        EXPECT_EQ(l.base, base);
      }
      const __int128 exact_num = __int128{l.base} * l.rate_ppm;  // amount x 10^6, exactly
      const __int128 diff = __int128{l.amount.micro} * 1'000'000 - exact_num;
      EXPECT_LT(diff < 0 ? -diff : diff, 1'000'000) << "rate " << l.rate_ppm << " base " << l.base;
      if (l.base > 0) {
        EXPECT_GE(l.amount.micro, 0);
      }
      if (l.base < 0) {
        EXPECT_LE(l.amount.micro, 0);
      }
      so_far += l.amount.micro;
    }
  }
}

}  // namespace taxes_test
}  // namespace meterd::engine::invoicing
