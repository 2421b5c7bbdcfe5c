// meterd — tests/engine/invoicing/topup_taxes_test.cc: VAT on top-ups (vat_on_prepaid: topup),
// hand-computed: who is taxed at top-up, at which rate, reverse charge, and the refusals.
#include "engine/invoicing/topup_taxes.h"

#include <gtest/gtest.h>

#include "engine/tenancy/document.h"

namespace meterd::engine::invoicing {
namespace topup_taxes_test {

constexpr int64_t kCredit = 1'000'000;

int64_t T(const char* rfc3339) { return *tenancy::ParseTime(rfc3339); }

// Issuer in GB. acme: a private customer in GB; bolt: a business in DE (reverse charge);
// cash: no country; dave (domain "usage"): its domain taxes prepaid credit on usage.
std::shared_ptr<const tenancy::Tenancy> Model(bool with_taxes = true) {
  tenancy::TenancyData d;
  d.domains = {{"root", "Root", ""}, {"usage", "Usage", "root"}};
  d.accounts = {{"acme", "root", "Acme", "", false},
                {"bolt", "root", "Bolt", "", false},
                {"cash", "root", "Cash", "", false},
                {"dave", "usage", "Dave", "", false}};
  tenancy::BillingProfile acme, bolt, dave;
  acme.account = "acme";
  acme.country = "GB";
  bolt.account = "bolt";
  bolt.country = "DE";
  bolt.vat_number = "DE123456789";
  dave.account = "dave";
  dave.country = "GB";
  d.billing_profiles = {acme, bolt, dave};
  if (with_taxes) {
    d.tax_rates = {{"DE", "", "VAT", 190000, T("2007-01-01T00:00:00Z"), false},
                   {"GB", "", "VAT", 175000, T("2010-01-01T00:00:00Z"), false},
                   {"GB", "", "VAT", 200000, T("2011-01-04T00:00:00Z"), false}};
    tenancy::TaxSettings star;
    star.country = "GB";
    star.vat_on_prepaid = tenancy::VatOnPrepaid::kTopup;
    tenancy::TaxSettings usage;
    usage.scope = "usage";
    usage.country = "GB";
    d.tax_settings = {star, usage};
  }
  auto t = tenancy::Tenancy::Build(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

const pricebook::RoundingMode kEven = pricebook::RoundingMode::kHalfEven;

TEST(TopUpTaxes, APrepaidTopUpIsTaxedAtTheRateInForceWhenBought) {
  auto t = Model();
  // 100 credits bought in 2026: 20 % = 20 credits; in 2010: 17.5 % = 17.5 credits.
  auto now = TopUpTaxes(*t, "acme", true, 100 * kCredit, T("2026-11-20T10:00:00Z"), kEven);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  ASSERT_EQ(now->size(), 1u);
  EXPECT_EQ((*now)[0],
            (ledger::EntryTax{"VAT", "GB", "", 200000, false, 100 * kCredit, 20 * kCredit}));
  auto then = TopUpTaxes(*t, "acme", true, 100 * kCredit, T("2010-06-01T00:00:00Z"), kEven);
  ASSERT_TRUE(then.ok());
  EXPECT_EQ(TaxTotal(*then), 17'500'000);
  // 0.000003 credits at 20 % = 0.0000006, half-even to the micro-credit: 1.
  auto tiny = TopUpTaxes(*t, "acme", true, 3, T("2026-11-20T10:00:00Z"), kEven);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(TaxTotal(*tiny), 1);
}

TEST(TopUpTaxes, NothingWhenPostpaidOnUsageOrWithoutTaxes) {
  auto t = Model();
  const int64_t at = T("2026-11-20T10:00:00Z");
  EXPECT_TRUE(TopUpTaxes(*t, "acme", /*prepaid=*/false, 100 * kCredit, at, kEven)->empty());
  EXPECT_TRUE(TopUpTaxes(*t, "dave", true, 100 * kCredit, at, kEven)->empty());  // usage
  EXPECT_TRUE(TopUpTaxes(*Model(false), "cash", true, 100 * kCredit, at, kEven)->empty());
}

TEST(TopUpTaxes, ReverseChargeAndRefusalsNameTheAccount) {
  auto t = Model();
  const int64_t at = T("2026-11-20T10:00:00Z");
  auto b2b = TopUpTaxes(*t, "bolt", true, 100 * kCredit, at, kEven);
  ASSERT_TRUE(b2b.ok()) << b2b.status().ToString();
  ASSERT_EQ(b2b->size(), 1u);
  EXPECT_TRUE((*b2b)[0].reverse_charge);
  EXPECT_EQ((*b2b)[0].country, "DE");
  EXPECT_EQ((*b2b)[0].amount, 0);
  auto no_country = TopUpTaxes(*t, "cash", true, 100 * kCredit, at, kEven);
  ASSERT_FALSE(no_country.ok());
  EXPECT_NE(no_country.status().message().find("cash"), std::string::npos);
  // No GB rate in force in 2005: refused, never taxed at zero.
  auto no_rate = TopUpTaxes(*t, "acme", true, 100 * kCredit, T("2005-01-01T00:00:00Z"), kEven);
  ASSERT_FALSE(no_rate.ok());
  EXPECT_NE(no_rate.status().message().find("acme"), std::string::npos);
  EXPECT_EQ(TopUpTaxes(*t, "nobody", true, kCredit, at, kEven).status().code(),
            Status::Code::kNotFound);
}

}  // namespace topup_taxes_test
}  // namespace meterd::engine::invoicing
