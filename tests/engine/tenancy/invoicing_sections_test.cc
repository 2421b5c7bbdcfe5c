// meterd — tests/engine/tenancy/invoicing_sections_test.cc: the catalog document's invoicing
// sections (tax_rates, tax_settings, invoice_issuers, discounts, coupons, coupon_redemptions):
// apply, read back after a reopen, inheritance by domain, and the errors of bad input.
#include "engine/tenancy/invoicing_sections.h"

#include <gtest/gtest.h>

#include "engine/tenancy/tenancy_store.h"
#include "tests/testing/temp_dir.h"

namespace meterd::engine::tenancy {
namespace invoicing_sections_test {

constexpr const char* kModel = R"(domains:
  - id: cloud.example
  - id: reseller.example
    parent: cloud.example
  - id: sub.reseller.example
    parent: reseller.example
accounts:
  - id: acme
    domain: sub.reseller.example
  - id: globex
    domain: cloud.example
)";

constexpr const char* kInvoicing = R"(tax_rates:
  - country: GB
    name: VAT
    rate: 17.5
    effective_from: 2010-01-01T00:00:00Z
  - country: GB
    name: VAT
    rate: "20"
    effective_from: 2011-01-04T00:00:00Z
  - country: CA
    name: GST
    rate: 5
    effective_from: 2008-01-01T00:00:00Z
  - country: CA
    region: QC
    name: QST
    rate: "9.975"
    effective_from: 2013-01-01T00:00:00Z
    compound: true
tax_settings:
  - domain: "*"
    country: GB
  - domain: reseller.example
    country: DE
    reverse_charge: false
    vat_on_prepaid: topup
invoice_issuers:
  - domain: "*"
    name: Example Cloud Ltd
    address: "1 Long Acre\nLondon WC2E 9LH"
    country: GB
    vat_number: GB123456789
    email: billing@cloud.example
  - domain: reseller.example
    name: Reseller GmbH
    country: DE
    number_prefix: R-
    credit_note_prefix: RC-
    payment_terms_days: 30
    sequence_width: 8
discounts:
  - id: spring
    description: Spring sale
    scope: group
    target: Running VM
    percent: "12.5"
    domain: reseller.example
    valid_from: 2026-03-01T00:00:00Z
    valid_until: 2026-06-01T00:00:00Z
  - id: flat
    scope: account
    amount: "5.50"
    accounts: [globex]
coupons:
  - id: WELCOME
    description: Welcome coupon
    percent: 10
    duration_cycles: 3
  - id: PARTNER
    amount: 2
    duration_cycles: 0
coupon_redemptions:
  - account: acme
    coupon: WELCOME
    redeemed_at: 2026-11-04T12:00:00Z
)";

class InvoicingSectionsTest : public ::testing::Test {
 protected:
  void Open() {
    store_.reset();
    db_.reset();
    auto db = BillingDb::Open(BillingDb::PathIn(dir_.path()));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto store = TenancyStore::Open(db_.get());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void SetUp() override {
    Open();
    auto r = store_->Apply(kModel, DocFormat::kYaml);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // The errors of a refused document, one per line.
  std::string Refused(const std::string& doc) {
    auto r = store_->Apply(doc, DocFormat::kYaml);
    EXPECT_FALSE(r.ok()) << doc;
    return r.ok() ? "" : std::string(r.status().message());
  }

  testing::TempDir dir_;
  std::unique_ptr<BillingDb> db_;
  std::unique_ptr<TenancyStore> store_;
};

void ExpectModel(const Tenancy& t) {
  const TaxTable& taxes = t.tax_table();
  ASSERT_EQ(taxes.rates.size(), 4u);
  // Sorted by (country, region, name, effective_from).
  EXPECT_EQ(taxes.rates[0].country, "CA");
  EXPECT_EQ(taxes.rates[0].rate_ppm, 50000u);
  EXPECT_EQ(taxes.rates[1].region, "QC");
  EXPECT_EQ(taxes.rates[1].rate_ppm, 99750u);
  EXPECT_TRUE(taxes.rates[1].compound);
  EXPECT_EQ(taxes.rates[2].rate_ppm, 175000u);
  EXPECT_EQ(taxes.rates[3].rate_ppm, 200000u);
  EXPECT_EQ(taxes.rates[3].effective_from, *ParseTime("2011-01-04T00:00:00Z"));

  // Settings inherit down the domain tree, then "*".
  const TaxSettings& sub = t.TaxSettingsFor("sub.reseller.example");
  EXPECT_EQ(sub.scope, "reseller.example");
  EXPECT_EQ(sub.country, "DE");
  EXPECT_FALSE(sub.reverse_charge);
  EXPECT_EQ(sub.vat_on_prepaid, VatOnPrepaid::kTopup);
  const TaxSettings& top = t.TaxSettingsFor("cloud.example");
  EXPECT_EQ(top.scope, "*");
  EXPECT_EQ(top.country, "GB");
  EXPECT_TRUE(top.reverse_charge);
  EXPECT_EQ(top.vat_on_prepaid, VatOnPrepaid::kUsage);

  const InvoiceIssuer* reseller = t.IssuerFor("sub.reseller.example");
  ASSERT_NE(reseller, nullptr);
  EXPECT_EQ(reseller->name, "Reseller GmbH");
  EXPECT_EQ(reseller->number_prefix, "R-");
  EXPECT_EQ(reseller->credit_note_prefix, "RC-");
  EXPECT_EQ(reseller->payment_terms_days, 30u);
  EXPECT_EQ(reseller->sequence_width, 8u);
  const InvoiceIssuer* root = t.IssuerFor("cloud.example");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->name, "Example Cloud Ltd");
  EXPECT_EQ(root->address, "1 Long Acre\nLondon WC2E 9LH");
  EXPECT_EQ(root->vat_number, "GB123456789");
  EXPECT_EQ(root->email, "billing@cloud.example");
  EXPECT_EQ(root->number_prefix, "INV-");  // defaults
  EXPECT_EQ(root->credit_note_prefix, "CN-");
  EXPECT_EQ(root->payment_terms_days, 14u);
  EXPECT_EQ(root->sequence_width, 6u);

  const DiscountCatalog& c = t.discount_catalog();
  ASSERT_EQ(c.discounts.size(), 2u);
  const Discount* spring = c.FindDiscount("spring");
  ASSERT_NE(spring, nullptr);
  EXPECT_EQ(spring->scope, DiscountScope::kGroup);
  EXPECT_EQ(spring->target, "Running VM");
  EXPECT_EQ(spring->percent_ppm, 125000u);
  EXPECT_EQ(spring->domain, "reseller.example");
  EXPECT_EQ(spring->applies_to, std::vector<std::string>{"acme"});  // via its subdomain
  EXPECT_TRUE(spring->AppliesTo("acme"));
  EXPECT_FALSE(spring->AppliesTo("globex"));
  EXPECT_EQ(spring->valid_until, *ParseTime("2026-06-01T00:00:00Z"));
  const Discount* flat = c.FindDiscount("flat");
  ASSERT_NE(flat, nullptr);
  EXPECT_EQ(flat->amount, 5'500'000);
  EXPECT_EQ(flat->description, "flat");
  EXPECT_EQ(flat->valid_until, kNoEndTime);
  EXPECT_TRUE(flat->AppliesTo("globex"));
  ASSERT_EQ(c.coupons.size(), 2u);
  EXPECT_EQ(c.FindCoupon("WELCOME")->duration_cycles, 3u);
  EXPECT_EQ(c.FindCoupon("WELCOME")->percent_ppm, 100000u);
  EXPECT_EQ(c.FindCoupon("PARTNER")->amount, 2'000'000);
  EXPECT_EQ(c.FindCoupon("PARTNER")->duration_cycles, 0u);
  ASSERT_EQ(c.RedemptionsOf("acme").size(), 1u);
  EXPECT_EQ(c.RedemptionsOf("acme")[0]->coupon, "WELCOME");
  EXPECT_TRUE(c.RedemptionsOf("globex").empty());
}

TEST_F(InvoicingSectionsTest, ApplyReadBackReopenAndIdempotent) {
  auto r = store_->Apply(kInvoicing, DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Count(ChangeKind::kCreated), 13u);  // 4 rates, 2 settings, 2 issuers, 2
                                                   // discounts, 2 coupons, 1 redemption
  EXPECT_EQ(r->changes[0].entity, "tax_rate");
  EXPECT_EQ(r->changes[0].id, "GB/VAT/2010-01-01T00:00:00Z");
  EXPECT_EQ(r->changes[3].id, "CA-QC/QST/2013-01-01T00:00:00Z");
  ExpectModel(*store_->Current());
  Open();
  ExpectModel(*store_->Current());
  auto again = store_->Apply(kInvoicing, DocFormat::kYaml);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
  EXPECT_EQ(again->Count(ChangeKind::kUnchanged), 13u);
}

TEST_F(InvoicingSectionsTest, UpdatesAreReportedByField) {
  ASSERT_TRUE(store_->Apply(kInvoicing, DocFormat::kYaml).ok());
  auto r = store_->Apply(R"(tax_rates:
  - country: GB
    name: VAT
    rate: "20"
    effective_from: 2011-01-04T00:00:00Z
    compound: true
invoice_issuers:
  - domain: "*"
    name: Example Cloud Ltd
    payment_terms_days: 7
coupons:
  - id: WELCOME
    description: Welcome coupon
    amount: "1"
    duration_cycles: 3
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->changes.size(), 3u);
  EXPECT_EQ(r->changes[0].detail, "compound");
  // Fields left out take their defaults (declarative, like billing_profiles).
  EXPECT_EQ(r->changes[1].detail, "address, country, vat_number, email, payment_terms_days");
  EXPECT_EQ(r->changes[2].detail, "percent, amount");
  Open();
  EXPECT_EQ(store_->Current()->IssuerFor("globex")->payment_terms_days, 7u);  // unknown: "*"
  EXPECT_EQ(store_->Current()->discount_catalog().FindCoupon("WELCOME")->amount, 1'000'000);
  // Other entries are kept.
  EXPECT_EQ(store_->Current()->tax_table().rates.size(), 4u);
}

TEST_F(InvoicingSectionsTest, JsonDocumentApplies) {
  auto r = store_->Apply(R"({"tax_rates": [{"country": "DE", "name": "VAT", "rate": 19,
    "effective_from": "2007-01-01T00:00:00Z"}],
  "coupons": [{"id": "C", "percent": 7.25, "duration_cycles": 1}]})",
                         DocFormat::kJson);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(store_->Current()->tax_table().rates[0].rate_ppm, 190000u);
  EXPECT_EQ(store_->Current()->discount_catalog().FindCoupon("C")->percent_ppm, 72500u);
}

TEST_F(InvoicingSectionsTest, BadInputNamesLineAndFieldAndChangesNothing) {
  const std::string rates = Refused(R"(tax_rates:
  - country: UK
    name: VAT
    rate: "20%"
    effective_from: 2011-01-04
  - country: GB
    region: british-columbia
    name: VAT
    rate: "100.5"
    effective_from: yesterday
  - country: DE
    rate: "7.12345"
    effective_from: 2007-01-01T00:00:00Z
    colour: red
)");
  EXPECT_NE(rates.find("line 2: tax_rates[0].country \"UK\" is not an ISO 3166-1 alpha-2 country "
                       "code (e.g. GB, DE, IN); the United Kingdom is GB"),
            std::string::npos)
      << rates;
  EXPECT_NE(rates.find("line 4: tax_rates[0].rate must be a percentage from 0 to 100 with at "
                       "most 4 decimals (\"20\", \"7.5\"), not \"20%\""),
            std::string::npos)
      << rates;
  EXPECT_NE(rates.find("line 7: tax_rates[1].region \"british-columbia\" is not a subdivision "
                       "code"),
            std::string::npos)
      << rates;
  EXPECT_NE(rates.find("line 9: tax_rates[1].rate"), std::string::npos) << rates;
  EXPECT_NE(rates.find("line 10: tax_rates[1].effective_from must be a time"), std::string::npos)
      << rates;
  EXPECT_NE(rates.find("line 11: tax_rates[2].name is required"), std::string::npos) << rates;
  EXPECT_NE(rates.find("line 12: tax_rates[2].rate"), std::string::npos) << rates;
  EXPECT_NE(rates.find("line 14: tax_rates[2].colour is not a known field"), std::string::npos)
      << rates;

  const std::string settings = Refused(R"(tax_settings:
  - domain: nowhere.example
    country: GB
    vat_on_prepaid: later
  - domain: "*"
invoice_issuers:
  - domain: "*"
    name: X
    email: not-an-address
    number_prefix: "INV "
    payment_terms_days: 400
  - domain: cloud.example
    name: Y
    number_prefix: A-
    credit_note_prefix: A-
)");
  EXPECT_NE(settings.find("line 2: tax_settings[0].domain \"nowhere.example\" is not a known "
                          "domain (or \"*\" for every domain)"),
            std::string::npos)
      << settings;
  EXPECT_NE(settings.find("line 4: tax_settings[0].vat_on_prepaid \"later\" is not usage or topup"),
            std::string::npos)
      << settings;
  EXPECT_NE(settings.find("line 5: tax_settings[1].country is required"), std::string::npos)
      << settings;
  EXPECT_NE(settings.find("line 9: invoice_issuers[0].email \"not-an-address\" is not an email "
                          "address"),
            std::string::npos)
      << settings;
  EXPECT_NE(settings.find("line 10: invoice_issuers[0].number_prefix \"INV \" is not a number "
                          "prefix"),
            std::string::npos)
      << settings;
  EXPECT_NE(settings.find("line 11: invoice_issuers[0].payment_terms_days must be between 0 and "
                          "365, not 400"),
            std::string::npos)
      << settings;
  EXPECT_NE(settings.find("line 15: invoice_issuers[1].credit_note_prefix must differ from "
                          "number_prefix"),
            std::string::npos)
      << settings;

  const std::string discounts = Refused(R"(discounts:
  - id: both
    scope: account
    percent: 10
    amount: 5
    accounts: [acme]
  - id: neither
    scope: product
    domain: cloud.example
  - id: strangers
    scope: account
    percent: 0
    accounts: [acme, nobody]
    domain: cloud.example
  - id: backwards
    scope: group
    target: Storage
    amount: "1.0000001"
    accounts: [acme]
    valid_from: 2026-06-01T00:00:00Z
    valid_until: 2026-03-01T00:00:00Z
coupons:
  - id: C
    percent: 150
coupon_redemptions:
  - account: acme
    coupon: NOPE
    redeemed_at: 2026-11-04T12:00:00Z
  - account: nobody
    coupon: C
    redeemed_at: 2026-11-04T12:00:00Z
)");
  EXPECT_NE(discounts.find("line 5: discounts[0].amount cannot be given with percent"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 7: discounts[1].target is required for a product discount (the "
                           "product id)"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("discounts[1].percent or amount is required"), std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 12: discounts[2].percent must be a percentage above 0"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 13: discounts[2].accounts[1] \"nobody\" is not a known account"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 14: discounts[2].domain cannot be given with accounts"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 18: discounts[3].amount must be credits above 0 with at most 6 "
                           "decimals"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 21: discounts[3].valid_until must be later than valid_from"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 24: coupons[0].percent must be a percentage above 0 and at most "
                           "100"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("coupons[0].duration_cycles is required"), std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 27: coupon_redemptions[0].coupon \"NOPE\" is not a known coupon"),
            std::string::npos)
      << discounts;
  EXPECT_NE(discounts.find("line 29: coupon_redemptions[1].account \"nobody\" is not a known "
                           "account"),
            std::string::npos)
      << discounts;

  // Nothing of it was stored.
  const auto t = store_->Current();
  EXPECT_TRUE(t->tax_table().rates.empty());
  EXPECT_TRUE(t->tax_settings().empty());
  EXPECT_EQ(t->IssuerFor("cloud.example"), nullptr);
  EXPECT_TRUE(t->discount_catalog().discounts.empty());
  EXPECT_EQ(t->TaxSettingsFor("cloud.example").scope, "");  // the defaults
}

TEST_F(InvoicingSectionsTest, DuplicatesAreRefused) {
  const std::string msg = Refused(R"(tax_rates:
  - {country: GB, name: VAT, rate: 20, effective_from: 2011-01-04T00:00:00Z}
  - {country: GB, name: VAT, rate: 21, effective_from: 2011-01-04T00:00:00Z}
coupons:
  - {id: A, percent: 5, duration_cycles: 1}
  - {id: A, percent: 6, duration_cycles: 1}
coupon_redemptions:
  - {account: acme, coupon: A, redeemed_at: 2026-01-01T00:00:00Z}
  - {account: acme, coupon: A, redeemed_at: 2026-02-01T00:00:00Z}
)");
  EXPECT_NE(msg.find("line 3: tax_rates[1].effective_from a VAT rate of GB from this instant "
                     "appears twice (first on line 2)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("line 6: coupons[1].id \"A\" appears twice in coupons (first on line 5)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("line 9: coupon_redemptions[1].coupon account acme redeems coupon A twice "
                     "(first on line 8)"),
            std::string::npos)
      << msg;
}

TEST_F(InvoicingSectionsTest, DomainDiscountsFollowAccountsCreatedLater) {
  ASSERT_TRUE(store_->Apply(kInvoicing, DocFormat::kYaml).ok());
  auto r = store_->Apply(R"(accounts:
  - id: initech
    domain: reseller.example
)",
                         DocFormat::kYaml);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Discount* spring = store_->Current()->discount_catalog().FindDiscount("spring");
  ASSERT_NE(spring, nullptr);
  EXPECT_EQ(spring->applies_to, (std::vector<std::string>{"acme", "initech"}));
}

TEST(InvoicingConfigTest, PercentsAndCreditsAreExactText) {
  EXPECT_EQ(ParsePercentPpm("20"), 200000u);
  EXPECT_EQ(ParsePercentPpm("7.5"), 75000u);
  EXPECT_EQ(ParsePercentPpm("9.975"), 99750u);
  EXPECT_EQ(ParsePercentPpm("0.0001"), 1u);
  EXPECT_EQ(ParsePercentPpm("0"), 0u);
  EXPECT_EQ(ParsePercentPpm("100"), 1000000u);
  EXPECT_EQ(ParsePercentPpm("100.0001"), std::nullopt);
  EXPECT_EQ(ParsePercentPpm("0.00001"), std::nullopt);
  EXPECT_EQ(ParsePercentPpm("-1"), std::nullopt);
  EXPECT_EQ(ParsePercentPpm("1e1"), std::nullopt);
  EXPECT_EQ(ParsePercentPpm(""), std::nullopt);
  EXPECT_EQ(ParsePercentPpm("."), std::nullopt);
  EXPECT_EQ(FormatPercentPpm(75000), "7.5");
  EXPECT_EQ(FormatPercentPpm(200000), "20");
  EXPECT_EQ(FormatPercentPpm(1), "0.0001");
  EXPECT_EQ(ParseCreditsMicro("5.50"), 5'500'000);
  EXPECT_EQ(ParseCreditsMicro("0.000001"), 1);
  EXPECT_EQ(ParseCreditsMicro("0.0000001"), std::nullopt);
  EXPECT_EQ(ParseCreditsMicro("99999999999999999999"), std::nullopt);
  EXPECT_EQ(FormatCreditsMicro(5'500'000), "5.5");
  EXPECT_EQ(FormatCreditsMicro(1), "0.000001");
}

}  // namespace invoicing_sections_test
}  // namespace meterd::engine::tenancy
